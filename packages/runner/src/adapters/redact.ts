/**
 * Redaction of evidence details before they leave the classifier. Evidence is built from
 * known fields, but error messages can quote request headers or keys, so anything shaped
 * like a credential is masked and the text is clipped.
 */

const SECRET_PATTERNS: RegExp[] = [
  // Anthropic / OpenAI style keys (sk-ant-api03-..., sk-proj-..., sk-...).
  /\bsk-[A-Za-z0-9_-]{8,}/g,
  // Google API keys.
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  // Bearer / Basic tokens in quoted headers.
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  // key=value / "key": "value" for names that look secret.
  /\b((?:api[_-]?key|x-api-key|token|secret|password|authorization)["']?\s*[:=]\s*["']?)[^"'\s,}]{4,}/gi,
];

/**
 * Masks credential-shaped substrings and clips to `max` characters.
 * @param max maximum length of the result in characters (default 200).
 */
export function redactDetail(text: string, max = 200): string {
  let out = text;
  for (const re of SECRET_PATTERNS) {
    out = out.replace(re, (_m: string, prefix: unknown) =>
      typeof prefix === 'string' && /[:=]/.test(prefix) ? `${prefix}[REDACTED]` : '[REDACTED]',
    );
  }
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
