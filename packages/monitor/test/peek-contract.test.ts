/**
 * The peek contract's fields for "is the runner safe" (`service.pause`, `alarms`): the real
 * `agent-runner peek --json` and the monitor's local source give the same values, from the
 * runner's heartbeat and the ledger's active alerts.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { raiseAlarm } from '@agent-runner/core/alarms';
import { configPaths } from '@agent-runner/core/config';
import { createEnrollment, writeEnrollment } from '@agent-runner/core/identity';
import { writeHeartbeat } from '@agent-runner/core/markers';
import { runCli } from '@agent-runner/testkit/project';
import { scenario, watch } from './fixtures/scenario.js';

t.test('peek --json and the local source: service.pause from the heartbeat, alarms from the ledger', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const paths = configPaths(p.config());
  const peek = async (): Promise<{ service: { state: string; pause: string | null }; alarms: unknown[] }> =>
    JSON.parse((await runCli(['peek', '--json'], { cwd: p.dir, env: p.env })).stdout) as never;
  t.match(await peek(), { service: { state: 'stopped', pause: null }, alarms: [] }, 'nothing while stopped and quiet');

  // A live process enrolled as the runner, holding rounds for its budget (what serve writes).
  const runner = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => runner.kill('SIGKILL'));
  const rec = createEnrollment('runner', runner.pid as number, { version: '0.0.0', project: 'proj', nowMs: Date.now() });
  writeEnrollment(paths, rec);
  writeHeartbeat(paths, 'runner', {
    nowMs: Date.now(),
    pid: rec.pid,
    nonce: rec.nonce,
    state: 'paused',
    detail: { pause: 'budget', until: '2026-12-03T00:00:00.000Z' },
  });
  const w = watch(p);
  t.teardown(w.close);
  raiseAlarm(
    w.ledger,
    'budget_exhausted',
    { spent_usd: 25.3, budget_usd: 25, resumes_at: '2026-12-03T00:00:00.000Z' },
    { project: 'proj' },
  );
  raiseAlarm(w.ledger, 'breaker_open', { target: 'bridge', reason: '3 failed T3' }, { project: 'proj', subject: 'bridge' });

  const doc = await peek();
  t.match(doc.service, { state: 'running', pause: 'budget' });
  t.match(doc.alarms, [
    { cause: 'budget_exhausted', subject: null, severity: 'warning', raised_by: 'runner', raised_at: /^\d{4}-\d\d-\d\dT/ },
    { cause: 'breaker_open', subject: 'bridge', severity: 'critical', raised_by: 'watchdog' },
  ]);
  await w.poll();
  t.equal(w.poller.snapshot?.service.pause, doc.service.pause, 'the local source agrees on the pause');
  t.same(w.poller.snapshot?.alarms, doc.alarms, 'and on the alarms');
  // A heartbeat reason outside the vocabulary is no pause.
  writeHeartbeat(paths, 'runner', { nowMs: Date.now(), pid: rec.pid, nonce: rec.nonce, state: 'round', detail: { pause: 'coffee' } });
  t.equal((await peek()).service.pause, null);
});
