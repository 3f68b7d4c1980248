/**
 * Failure-history detectors on scenarios produced by the real runner (generic preset):
 * repeated network failures and identical crashes.
 */
import t from 'tap';
import { scenario, watch } from './scenario.js';

const ROUND_DETECTORS = ['timeout_rate', 'hung', 'orphan_chain', 'network_fail', 'rate_limit_active', 'anomaly_repetitive', 'supervisor_stale', 'oauth_fail', 'silence', 'cost_budget', 'heal_circuit_broken'];

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
  t.match(alert, { severity: 'warning', host: 'local', project: 'proj' });
  const json = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(json.find((j) => j['detector'] === 'network_fail'), { type: 'alert', state: 'raised', severity: 'warning', policy: 'notify', host: 'local' });
  // A second poll refreshes, it does not raise again nor notify twice.
  const before = w.lines.length;
  await w.poll();
  t.equal(w.lines.length, before, 'no new line while the condition persists');
  const outbox = w.ledger.outbox.countByStatus();
  t.equal(outbox.pending, 1, 'one notification for the alert');
});

t.test('anomaly_repetitive: identical crashes (crash-loop breaker set higher)', async (t) => {
  const p = scenario('echo "fatal: cannot parse plan.md"\nexit 3', '', '[runtime.crash_loop]\nthreshold = 20\n');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '5']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.same(fired.filter((d) => ROUND_DETECTORS.includes(d)), ['anomaly_repetitive']);
  t.match(w.poller.findings[0], { message: /5 rounds in a row ended the same way: crash \(exit 3\)/ });
});
