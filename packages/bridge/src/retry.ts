import type { OutboxRecord } from '@agent-runner/core/ledger';

/**
 * Delivery failures are counted apart from claims: `attempts` in the ledger grows at every
 * claim, including deferrals (quiet hours, rate limits, shutdown) that are not failures. The
 * bridge therefore writes `lastError` as `[f=F a=A] text`: F failures so far, A the claim
 * count when it was written. Claims after A that left no mark were a bridge dying mid-send,
 * and count as failures too (so a message that crashes the bridge is dead-lettered in time).
 */
export function failuresBefore(row: Pick<OutboxRecord, 'attempts' | 'lastError'>): number {
  const m = /^\[f=(\d+) a=(\d+)\]/.exec(row.lastError ?? '');
  const f = m ? Number(m[1]) : 0;
  const a = m ? Number(m[2]) : 0;
  return f + Math.max(0, row.attempts - 1 - a);
}

/** `lastError` text carrying the failure count (see {@link failuresBefore}). */
export function tagError(failures: number, attempts: number, text: string): string {
  return `[f=${failures} a=${attempts}] ${text}`;
}

/** First retry delay, ms. */
export const RETRY_BASE_MS = 2_000;
/** Longest retry delay, ms. */
export const RETRY_MAX_MS = 15 * 60_000;

/**
 * Delay before retry number `failures` (1 = after the first failure): exponential from 2 s,
 * doubled each time, capped at 15 min, with ±20% jitter; never shorter than the platform's
 * `Retry-After`.
 */
export function retryDelayMs(failures: number, retryAfterMs: number | undefined, random: () => number): number {
  const exp = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, failures - 1));
  const jittered = exp * (0.8 + 0.4 * random());
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}
