/**
 * Local-time windows of the bridge: quiet hours (`HH:MM-HH:MM`) and the daily digest time
 * (`HH:MM`). Local time is the wall clock shifted by `offsetMin(ms)` (default: the process's
 * time zone, `-Date#getTimezoneOffset()`), injected so tests cross midnight without sleeping.
 */

/** Minutes east of UTC at instant `ms` (e.g. 120 for CEST). */
export type OffsetFn = (ms: number) => number;

export const localOffset: OffsetFn = (ms) => -new Date(ms).getTimezoneOffset();

const DAY_MS = 86_400_000;

function parseHm(hm: string): number {
  const [h, m] = hm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** ms since the local midnight of `nowMs`, and that midnight as an epoch instant. */
function localDay(nowMs: number, offsetMin: OffsetFn): { sinceMidnightMs: number; midnightMs: number } {
  const shifted = nowMs + offsetMin(nowMs) * 60_000;
  const sinceMidnightMs = ((shifted % DAY_MS) + DAY_MS) % DAY_MS;
  return { sinceMidnightMs, midnightMs: nowMs - sinceMidnightMs };
}

/**
 * When `nowMs` falls inside the quiet-hours window `spec` (`HH:MM-HH:MM`, local; may wrap past
 * midnight, e.g. `22:00-07:00`; start == end means no window), the instant it ends.
 * @returns the end of the window (epoch ms), or undefined outside it.
 */
export function quietUntil(spec: string | undefined, nowMs: number, offsetMin: OffsetFn = localOffset): number | undefined {
  if (!spec) return undefined;
  const [a, b] = spec.split('-');
  const start = parseHm(a ?? '') * 60_000;
  const end = parseHm(b ?? '') * 60_000;
  if (start === end) return undefined;
  const { sinceMidnightMs: t, midnightMs } = localDay(nowMs, offsetMin);
  const inside = start < end ? t >= start && t < end : t >= start || t < end;
  if (!inside) return undefined;
  return t < end ? midnightMs + end : midnightMs + DAY_MS + end;
}

/**
 * The first digest instant strictly after `afterMs` for digest time `hm` (`HH:MM`, local).
 */
export function nextDigestAt(hm: string, afterMs: number, offsetMin: OffsetFn = localOffset): number {
  const at = parseHm(hm) * 60_000;
  const { sinceMidnightMs, midnightMs } = localDay(afterMs, offsetMin);
  return sinceMidnightMs < at ? midnightMs + at : midnightMs + DAY_MS + at;
}

/** `YYYY-MM-DD` of `ms` in local time (the digest's idempotency key). */
export function localDate(ms: number, offsetMin: OffsetFn = localOffset): string {
  return new Date(ms + offsetMin(ms) * 60_000).toISOString().slice(0, 10);
}
