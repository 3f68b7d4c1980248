import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * Share of an interval the event loop may be busy for the interval to count as idle: 1 %
 * (100 ms of a 10 s heartbeat). A round whose agent streams output keeps serve above it, a
 * bridge sending a burst keeps itself above it.
 */
export const IDLE_UTILIZATION = 0.01;

/**
 * Decides, once per heartbeat tick, whether to run a full garbage collection: when the
 * interval since the previous tick was idle (event loop utilization below
 * {@link IDLE_UTILIZATION}) and none has run since serve was last busy. V8 grows its heap
 * during busy stretches and only shrinks it after a collection made while allocation is low;
 * without one an idle daemon stays at its high-water mark for as long as it idles. Run by
 * every unit's lifecycle (core/unit) on its heartbeat.
 * @param collect the collection (node's `gc()` under `--expose-gc`).
 * @param elu event loop utilization, cumulative (default `performance.eventLoopUtilization`).
 * @returns the tick function; it reports whether it collected.
 */
export function idleCollector(
  collect: () => void,
  elu: (a?: EventLoopUtilization, b?: EventLoopUtilization) => EventLoopUtilization = (a, b) => performance.eventLoopUtilization(a, b),
): () => boolean {
  let last = elu();
  let collected = false;
  return () => {
    const now = elu();
    const busy = elu(now, last).utilization >= IDLE_UTILIZATION;
    last = now;
    if (busy) collected = false;
    if (busy || collected) return false;
    collect();
    collected = true;
    return true;
  };
}
