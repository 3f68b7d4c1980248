/**
 * The one redaction policy of agent-runner, applied where text leaves a process or persists:
 * the event writer, the ledger's text and JSON columns, notifications, the journal, the
 * monitor's page, transcript views and `config check`. Two defences: the exact values of every
 * secret this process knows ({@link rememberSecret}: env files, `*_env` / `*_file` secrets,
 * secret-named environment variables), and the published shapes of vendor tokens for secrets
 * it was never told about (an agent printing a key it found). The first defence of all is that
 * config only names where a secret lives.
 */

/** Placeholder written instead of a secret. */
export const REDACTED = '[redacted]';

// `auth` but not `author`/`authority`: GIT_AUTHOR_NAME is a name, and remembering it as a
// secret would redact it wherever it appears.
const SECRET_KEY = /(key|token|secret|passw(or)?d|credential|auth(?!or)|cookie|session|hmac)/i;

/**
 * Vendor token shapes, from each vendor's published format. Each replaces the whole match,
 * except the scheme of an Authorization header value.
 */
const SECRET_SHAPES: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, // PEM private keys
  /\bsk-[A-Za-z0-9_-]{8,}/g, // Anthropic / OpenAI API keys (sk-ant-api03-..., sk-proj-...)
  /\bAIza[0-9A-Za-z_-]{30,}/g, // Google API keys
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g, // GitHub classic tokens
  /\bgithub_pat_[A-Za-z0-9_]{22,}/g, // GitHub fine-grained tokens
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bxox[abeprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bxapp-\d-[A-Za-z0-9-]{10,}/g, // Slack app-level tokens
  /\bnpm_[A-Za-z0-9]{36}\b/g, // npm access tokens
  /\bhf_[A-Za-z0-9]{30,}/g, // Hugging Face tokens
  /(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}/g, // Telegram bot tokens, also as `bot<id>:<secret>` in a Bot API URL
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{12,}/gi, // Authorization header values
  /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g,
  /https:\/\/(?:discord(?:app)?\.com)\/api\/webhooks\/[0-9]+\/[A-Za-z0-9_-]+/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs
];

/**
 * `NAME=value` / `"name": "value"` for names that look secret (`GITHUB_TOKEN=`,
 * `aws_secret_access_key =`, `"api_key": "…"`); the name is kept. A plural (`input_tokens`) and
 * an all-digit value (a count) are not secrets.
 */
const SECRET_ASSIGNMENT =
  /\b([A-Za-z0-9_.-]*(?:api[_-]?key|x-api-key|token(?!s)|secret|passw(?:or)?d|authorization|credential(?!s))[A-Za-z0-9_-]*["']?\s*[:=]\s*["']?)(?=[^"'\s,}&]*[^0-9"'\s,}&])[^"'\s,}&]{4,}/gi;

/** URL userinfo (`https://user:password@host`): the password goes. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+):[^@\s/]+@/gi;

/** Secret query parameters (`?access_token=…&sig=…`); the name is kept. */
const SECRET_QUERY = /([?&](?:[a-z0-9_-]*token|key|api[_-]?key|secret|sig|signature|password|auth)=)[^&\s#"']+/gi;

/** URLs, to look at their path segments. */
const URL_RE = /\bhttps?:\/\/[^\s"'<>`]+/g;

/**
 * A path segment that is a token (a webhook's secret path, a topic used as a password): long,
 * letters and digits mixed. Hex (a git SHA, a nonce) is an identifier, not a secret.
 */
function isPathToken(segment: string): boolean {
  return (
    segment.length >= 24 &&
    /^[A-Za-z0-9_-]+$/.test(segment) &&
    /[0-9]/.test(segment) &&
    /[A-Za-z]/.test(segment) &&
    !/^[0-9a-f]+$/i.test(segment)
  );
}

/** Secret values below this length are too likely to be ordinary words to be replaced. */
const MIN_KNOWN_SECRET = 6;
const known = new Set<string>();
/** {@link known}, longest first, so a secret containing another is replaced whole. */
let knownSorted: string[] = [];

/**
 * Remembers the exact value of a secret this process has read (a token, a password, an env
 * file's value) so that {@link redactText} replaces it wherever it appears from now on,
 * whatever its shape. Values shorter than 6 characters (after trimming) are ignored.
 */
export function rememberSecret(value: string | undefined): void {
  const v = value?.trim();
  if (!v || v.length < MIN_KNOWN_SECRET || known.has(v)) return;
  known.add(v);
  knownSorted = [...known].sort((a, b) => b.length - a.length);
}

/**
 * Remembers the values of an environment whose names look secret (`ANTHROPIC_API_KEY`,
 * `DB_PASSWORD`), or of every entry when `all` (an env file, which exists to hold secrets).
 */
export function rememberSecretsIn(env: Readonly<Record<string, string | undefined>>, all = false): void {
  for (const [name, value] of Object.entries(env)) if (all || isSecretKey(name)) rememberSecret(value);
}

/** True when a key name suggests its value is a secret (`ANTHROPIC_API_KEY`, `password`). */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

/** Replaces known secret values and secret-looking substrings of free text (log lines, error messages, transcripts). */
export function redactText(text: string): string {
  let out = text;
  for (const s of knownSorted) if (out.includes(s)) out = out.split(s).join(REDACTED);
  for (const re of SECRET_SHAPES)
    out = out.replace(re, (_m, scheme?: string) => (/^(Bearer|Basic)$/i.test(scheme ?? '') ? `${scheme} ${REDACTED}` : REDACTED));
  out = out
    .replace(URL_USERINFO, (_m, head: string) => `${head}:${REDACTED}@`)
    .replace(SECRET_QUERY, (_m, name: string) => `${name}${REDACTED}`)
    .replace(URL_RE, (url) => url.replace(/\/([^/?#]+)/g, (seg, s: string) => (isPathToken(s) ? `/${REDACTED}` : seg)));
  return out.replace(SECRET_ASSIGNMENT, (_m, name: string) => `${name}${REDACTED}`);
}

/**
 * Deep-copies a JSON-like value with {@link redactText} applied to every string (keys kept):
 * for records whose keys are a schema's (events, ledger JSON columns), not secret hints.
 */
export function redactStrings<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redactText(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object' && !(v instanceof Date))
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * Deep-copies a JSON-like value, replacing string values under secret-looking keys and
 * secret-looking substrings of all strings (numbers are counts, never secrets: `max_tokens`).
 * Keys ending in `_env` or `_file` name where a secret lives, not the secret, and are kept.
 */
export function redactValue<T>(value: T): T {
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (key !== undefined && isSecretKey(key) && !/_(env|file)$/.test(key) && typeof v === 'string') return REDACTED;
    if (typeof v === 'string') return redactText(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, undefined));
    if (v && typeof v === 'object' && !(v instanceof Date)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  return walk(value, undefined) as T;
}
