/**
 * Detectors of the serve process itself: killed mid-round (supervisor_stale) and frozen so it
 * cannot enforce its timeout (hung) — each quiet once the condition is gone.
 */
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastEvents } from '@agent-runner/core/events';
import { until } from '@agent-runner/testkit/until';
import { scenario, watch } from './fixtures/scenario.js';

const eventsOf = (stateDir: string, kind: string): number =>
  lastEvents(join(stateDir, 'logs', 'events'), { n: 5, kinds: [kind] }).events.length;

t.test('supervisor_stale: serve SIGKILLed mid-round (no serve_stopped) goes stale; a clean stop does not', async (t) => {
  const p = scenario('echo working\n[ -f "$HOME/slow" ] && sleep 30\necho RESULT done');
  t.teardown(p.cleanup);
  writeFileSync(join(p.home, 'slow'), '');
  const s = p.start();
  await until('round_start', () => eventsOf(p.stateDir, 'round_start') > 0, 20_000);
  s.child.kill('SIGKILL');
  await s.exited;
  const w = watch(p, { supervisor_stale_threshold_s: 30 });
  t.teardown(w.close);
  t.notOk((await w.poll(Date.now())).includes('supervisor_stale'), 'silent for less than the threshold: not stale');
  const fired = await w.poll(Date.now() + 31_000);
  t.ok(fired.includes('supervisor_stale'), `fired: ${fired.join(',')}`);
  t.match(
    w.poller.findings.find((f) => f.detector === 'supervisor_stale'),
    { severity: 'critical', evidence: { service_state: 'stopped' } },
  );
  // A new serve starts and stops cleanly: the condition is gone.
  rmSync(join(p.home, 'slow'));
  const r = await p.serve(['--max-rounds', '0', '--once'], 60_000);
  t.ok(r.code === 0, r.stderr);
  t.notOk((await w.poll(Date.now() + 31_000)).includes('supervisor_stale'), 'quiet after a clean stop, however long ago');
});

t.test('hung: a frozen serve cannot enforce round_timeout_s', async (t) => {
  const p = scenario('echo working\nsleep 30', 'round_timeout_s = 2');
  t.teardown(p.cleanup);
  const s = p.start();
  t.teardown(() => {
    s.child.kill('SIGCONT');
    s.child.kill('SIGKILL');
  });
  await until('round_start', () => eventsOf(p.stateDir, 'round_start') > 0, 20_000);
  s.child.kill('SIGSTOP');
  const w = watch(p, { hung_grace_s: 60 });
  t.teardown(w.close);
  t.notOk((await w.poll(Date.now())).includes('hung'), 'within its timeout and the grace: not hung');
  const fired = await w.poll(Date.now() + 63_000);
  t.ok(fired.includes('hung'), `fired: ${fired.join(',')}`);
  t.match(
    w.poller.findings.find((f) => f.detector === 'hung'),
    { severity: 'critical', policy: 'notify', evidence: { round: 1, round_timeout_s: 2 } },
  );
  s.child.kill('SIGCONT');
  await until('round_end', () => eventsOf(p.stateDir, 'round_end') > 0, 15_000);
  t.notOk((await w.poll(Date.now() + 63_000)).includes('hung'), 'the runner resumed and killed the round: cleared');
  s.child.kill('SIGTERM');
  await s.exited;
});
