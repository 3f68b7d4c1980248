/**
 * A failed delivery or poll, classified for the dispatcher's retry policy. The message never
 * holds a secret (tokens live in URLs and headers, which are never put in messages).
 */
export class SendError extends Error {
  /** True when trying again later may succeed (5xx, 429, timeouts, network, missing secret). */
  readonly retryable: boolean;
  /** The platform's wait before retrying (`Retry-After`, Telegram `parameters.retry_after`), ms. */
  readonly retryAfterMs: number | undefined;
  /** HTTP status when the platform answered. */
  readonly status: number | undefined;

  constructor(message: string, opts: { retryable: boolean; retryAfterMs?: number | undefined; status?: number | undefined }) {
    super(message);
    this.name = 'SendError';
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
  }
}

/**
 * Parses an HTTP `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date).
 * @returns ms to wait, or undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * Whether an HTTP status is worth retrying: 408, 425, 429 and every 5xx. Other 4xx mean the
 * request itself is wrong (bad token, unknown chat) and will fail the same way again.
 */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}
