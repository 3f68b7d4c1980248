/**
 * Secret redaction for anything agent-runner prints, logs or records: config output, round-log
 * tails in events, evidence of classifications. Redaction is best effort over known shapes;
 * the first defence is that secrets are only referenced by env var or file name in config.
 */

/** Placeholder written instead of a secret. */
export const REDACTED = '[redacted]';

const SECRET_KEY = /(key|token|secret|passw(or)?d|credential|auth|cookie|session)/i;

const SECRET_SHAPES: RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{8,}/g, // Anthropic / OpenAI style API keys (sk-ant-api03-..., sk-proj-...)
  /\bAIza[0-9A-Za-z_-]{30,}/g, // Google API keys
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g, // GitHub tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\b\d{6,12}:[A-Za-z0-9_-]{30,}/g, // Telegram bot tokens
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{12,}/gi, // Authorization header values
  /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g,
  /https:\/\/(?:discord(?:app)?\.com)\/api\/webhooks\/[0-9]+\/[A-Za-z0-9_-]+/g,
  /\b(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})/g, // JWTs
];

/** `key=value` / `"key": "value"` for names that look secret; the name is kept. */
const SECRET_ASSIGNMENT = /\b((?:api[_-]?key|x-api-key|token|secret|password|authorization)["']?\s*[:=]\s*["']?)[^"'\s,}]{4,}/gi;

/** True when a key name suggests its value is a secret (`ANTHROPIC_API_KEY`, `password`). */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

/** Replaces secret-looking substrings of free text (log lines, error messages). */
export function redactText(text: string): string {
  let out = text;
  for (const re of SECRET_SHAPES) out = out.replace(re, (_m, scheme?: string) => (/^(Bearer|Basic)$/i.test(scheme ?? '') ? `${scheme} ${REDACTED}` : REDACTED));
  return out.replace(SECRET_ASSIGNMENT, (_m, name: string) => `${name}${REDACTED}`);
}

/**
 * Deep-copies a JSON-like value, replacing values under secret-looking keys and secret-looking
 * substrings of strings. Keys ending in `_env` or `_file` name where a secret lives, not the
 * secret, and are kept.
 */
export function redactValue<T>(value: T): T {
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (key !== undefined && isSecretKey(key) && !/_(env|file)$/.test(key) && (typeof v === 'string' || typeof v === 'number')) return REDACTED;
    if (typeof v === 'string') return redactText(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, undefined));
    if (v && typeof v === 'object' && !(v instanceof Date)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  return walk(value, undefined) as T;
}
