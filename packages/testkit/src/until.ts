/** What a probe returns when the awaited thing is not there yet. */
type NotYet = false | null | undefined;

/**
 * Polls `probe` until it returns something other than `false`, `null` or `undefined`, and
 * returns that.
 *
 * It throws instead of returning false so that a test waiting on something that never comes
 * fails at the wait, saying what it waited for, rather than at a later assertion about
 * something else. An error thrown by `probe` propagates at once: a probe that can meet a
 * transient failure (a file half written) catches it and returns undefined.
 *
 * @param what what is awaited, for the failure message (`the first round_end event`); a
 *   function is called only at the time-out, so the message can show the state seen then
 * @param probe sync or async; `false`, `null` or `undefined` mean "not yet" (a `0` or `''` is
 *   an answer: an exit code, an empty file)
 * @param timeoutMs how long to keep polling, in ms (default 10 000)
 * @param everyMs pause between two probes, in ms (default 50)
 * @returns the first answer `probe` gave
 * @throws Error `timed out after <timeoutMs> ms waiting for <what>` when the time is up
 */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | Promise<T>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<Exclude<T, NotYet>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== false && v !== null && v !== undefined) return v as Exclude<T, NotYet>;
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
