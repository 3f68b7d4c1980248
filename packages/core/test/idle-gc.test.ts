import t from 'tap';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { idleCollector } from '../src/idle-gc.js';

/** A cumulative event loop clock driven by the test: `run(idleMs, activeMs)` advances it. */
function fakeLoop() {
  let idle = 0;
  let active = 0;
  const elu = (a?: EventLoopUtilization, b?: EventLoopUtilization): EventLoopUtilization => {
    if (a && b) {
      const i = a.idle - b.idle;
      const ac = a.active - b.active;
      return { idle: i, active: ac, utilization: ac / (i + ac) };
    }
    return { idle, active, utilization: active / (idle + active) };
  };
  return { elu, run: (idleMs: number, activeMs: number) => ((idle += idleMs), (active += activeMs)) };
}

t.test('collects once per idle stretch, never while busy', async (t) => {
  const loop = fakeLoop();
  let collections = 0;
  const tick = idleCollector(() => (collections += 1), loop.elu);
  loop.run(7_000, 3_000); // a busy interval (30 %)
  t.equal(tick(), false, 'busy: no collection');
  loop.run(9_950, 50); // idle (0.5 %)
  t.equal(tick(), true, 'first idle interval: collect');
  loop.run(9_990, 10);
  t.equal(tick(), false, 'still idle: once is enough');
  loop.run(9_800, 200); // busy again (2 %)
  t.equal(tick(), false);
  loop.run(10_000, 0);
  t.equal(tick(), true, 'idle after busy: collect again');
  t.equal(collections, 2);
});

t.test('with the real event loop: a busy interval does not collect, an idle one does', async (t) => {
  let collections = 0;
  const tick = idleCollector(() => (collections += 1));
  const until = Date.now() + 200;
  while (Date.now() < until); // the loop busy for 200 ms
  t.equal(tick(), false);
  // An idle second collects. On a loaded machine a stray callback (this test's own output)
  // can push one second past 1 %, so it gets a few.
  let collected = false;
  for (let i = 0; i < 5 && !collected; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    collected = tick();
  }
  t.ok(collected, 'an idle interval collected');
  t.equal(collections, 1);
});
