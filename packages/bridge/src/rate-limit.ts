/**
 * Per-transport send budget: at most `maxPerMinute` sends in any sliding 60 s window, and
 * nothing before `blockedUntilMs` (set from a platform's 429 `Retry-After`).
 */
export class RateLimiter {
  private readonly sent: number[] = [];
  private blockedUntilMs = 0;

  constructor(private readonly maxPerMinute: number) {}

  /** ms to wait before the next send may go out at `nowMs` (0: now). */
  delayMs(nowMs: number): number {
    while (this.sent.length > 0 && (this.sent[0] as number) <= nowMs - 60_000) this.sent.shift();
    const windowWait = this.sent.length >= this.maxPerMinute ? (this.sent[0] as number) + 60_000 - nowMs : 0;
    return Math.max(0, windowWait, this.blockedUntilMs - nowMs);
  }

  /** Counts one send (one HTTP message; chunks count each). */
  record(nowMs: number, n = 1): void {
    for (let i = 0; i < n; i++) this.sent.push(nowMs);
  }

  /** The platform asked for a pause: no send before `untilMs`. */
  block(untilMs: number): void {
    this.blockedUntilMs = Math.max(this.blockedUntilMs, untilMs);
  }
}
