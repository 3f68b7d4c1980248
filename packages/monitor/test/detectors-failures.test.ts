/**
 * Failure-history detectors on scenarios produced by the real runner (generic preset):
 * repeated network failures and identical crashes — the notification format, and one cause
 * giving one alarm when the runner raised its own.
 */
import t from 'tap';
import { hostname } from 'node:os';
import { clearAlarm } from '@agent-runner/core/alarms';
import { ROUND_DETECTORS, scenario, watch } from './fixtures/scenario.js';

t.test('network_fail: network failures round after round', async (t) => {
  const p = scenario('echo "NETWORK DOWN: connect ECONNREFUSED"\nexit 1');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '3']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('network_fail'), `fired: ${fired.join(',')}`);
  const alert = w.ledger.monitor.activeAlerts().find((a) => a.detector === 'network_fail');
  t.match(alert, { severity: 'warning', host: hostname(), project: 'proj', raisedBy: 'monitor' }, 'the row names the real host');
  const json = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(
    json.find((j) => j['detector'] === 'network_fail'),
    { type: 'alert', state: 'raised', severity: 'warning', policy: 'notify', host: 'local' },
  );
  // A second poll refreshes, it does not raise again nor notify twice.
  const before = w.lines.length;
  await w.poll();
  t.equal(w.lines.length, before, 'no new line while the condition persists');
  const rows = w.outbox();
  t.equal(rows.length, 1, 'one notification for the alert');
  const id = alert?.id as number;
  t.match(rows[0], {
    idempotency_key: `alarm:${id}:raised`,
    kind: 'network_fail',
    severity: 'warning',
    title: `proj@${hostname()}: 3/3 recent rounds failed on the network`,
    body: /^Runner now: stopped\.\n\nFix: Check the host's network/,
    payload: { phase: 'alarm', detector: 'network_fail', host: hostname(), project: 'proj', alert_id: id },
  });
  t.notMatch(rows[0]?.title, /\[|local/, 'no severity tag, the real host name');
  // Cleared: the recovery at the alarm's severity, as a reply to it.
  w.settings.network_fail_min = 4;
  await w.poll();
  t.match(w.outbox()[1], {
    idempotency_key: `alarm:${id}:cleared`,
    kind: 'network_fail',
    severity: 'warning',
    title: new RegExp(`^proj@${hostname()}: resolved: network_fail \\(active \\d+ s\\)$`),
    payload: { phase: 'recovery', reply_to: `alarm:${id}:raised` },
  });
  t.equal(w.ledger.monitor.activeAlerts().length, 0);
});

t.test('anomaly_repetitive: identical crashes (crash-loop breaker set higher)', async (t) => {
  const p = scenario('echo "fatal: cannot parse plan.md"\nexit 3', '', '[runtime.crash_loop]\nthreshold = 20\n');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '5']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.same(
    fired.filter((d) => ROUND_DETECTORS.includes(d)),
    ['anomaly_repetitive'],
  );
  t.match(w.poller.findings[0], { message: /5 rounds in a row ended the same way: crash \(exit 3\)/ });
});

t.test("one cause, one alarm: anomaly_repetitive is recorded but not notified while the runner's crash_loop alarm is active", async (t) => {
  const p = scenario(
    'echo "fatal: cannot open database app.db"\nexit 3',
    '',
    '[runtime.crash_loop]\nthreshold = 5\nshort_round_s = 60\ncooldown_s = 0\n',
  );
  t.teardown(p.cleanup);
  const r = await p.serve([]);
  t.equal(r.code, 69, 'the crash-loop breaker stopped serve');
  const w = watch(p);
  t.teardown(w.close);
  // serve raised its crash_loop alarm when it stopped.
  const scope = { project: 'proj' };
  t.ok((await w.poll()).includes('anomaly_repetitive'), 'the detector sees the loop');
  t.match(
    w.ledger.monitor.activeAlerts({ raisedBy: 'monitor' }),
    [{ detector: 'anomaly_repetitive', host: hostname(), evidence: { notified: false } }],
    'recorded (page, /metrics, peek)',
  );
  await w.poll();
  t.same(
    w.outbox().map((o) => o.kind),
    ['crash_loop'],
    "the runner's alarm is the only notification",
  );
  t.match(JSON.parse(w.lines[0] as string), { type: 'alert', state: 'raised', detector: 'anomaly_repetitive', notified: false });
  // The runner's alarm clears but the rounds still fail the same way: now the monitor tells.
  clearAlarm(w.ledger, 'crash_loop', { round: 0 }, scope);
  await w.poll();
  await w.poll();
  t.same(
    w.outbox().map((o) => `${o.kind}:${String(o.payload['phase'])}`),
    ['crash_loop:alarm', 'crash_loop:recovery', 'anomaly_repetitive:alarm'],
    'one late alarm, once',
  );
  t.match(w.ledger.monitor.activeAlerts({ raisedBy: 'monitor' }), [{ detector: 'anomaly_repetitive', evidence: { notified: true } }]);
});
