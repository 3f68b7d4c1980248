import t from 'tap';
import { projectPaths } from '../src/paths.js';
import { enrolUnit } from '../src/unit.js';

t.test('the lifecycle collects garbage once per idle stretch, on its heartbeat', async (t) => {
  const dir = t.testdir();
  const r = enrolUnit({
    paths: projectPaths('p', dir, dir),
    unit: 'bridge',
    project: 'p',
    version: '0',
    pid: process.pid,
    now: Date.now,
    env: {},
    log: () => undefined,
  });
  if (!r.unit) throw new Error('not enrolled');
  let collections = 0;
  r.unit.start({ heartbeatMs: 500, state: 'idle', collectGarbage: () => void (collections += 1) });
  t.teardown(() => r.unit.close(0, 'signal'));
  // Beats every 500 ms; on a loaded machine an "idle" interval may read busy now and then and
  // earn one more collection, so the counts are bounds: collected, and not once per beat.
  await new Promise((res) => setTimeout(res, 2600));
  const idle = collections;
  t.ok(idle >= 1 && idle <= 3, `idle: ${idle} collection(s) in 5 beats, not one per beat`);
  const end = Date.now() + 600; // a busy stretch: the next idle interval collects again
  while (Date.now() < end) Math.sqrt(Math.random());
  await new Promise((res) => setTimeout(res, 1600));
  t.ok(collections > idle, `busy, then idle again: ${collections - idle} more`);
});
