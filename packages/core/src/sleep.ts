/**
 * Resolves after `ms` (milliseconds; capped at 2^31-1, setTimeout's limit), or at once when
 * `signal` aborts — every wait of every daemon uses it, which is what makes SIGTERM end a
 * back-off or a poll interval immediately.
 * @returns true when it slept fully, false when `signal` ended it.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (full: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(full);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), Math.min(ms, 2 ** 31 - 1));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
