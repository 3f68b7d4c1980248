/**
 * Round-history detectors on scenarios produced by the real runner (`serve` on fake agents):
 * each fires on its scenario, and a healthy run raises nothing.
 */
import t from 'tap';
import { scenario, watch } from './scenario.js';

const ROUND_DETECTORS = ['timeout_rate', 'hung', 'orphan_chain', 'network_fail', 'rate_limit_active', 'anomaly_repetitive', 'supervisor_stale', 'oauth_fail', 'silence', 'cost_budget', 'heal_circuit_broken'];

t.test('healthy run: an agent that reports a result and commits raises nothing', async (t) => {
  const p = scenario('echo "x$AGENT_RUNNER_ROUND" >> work.txt\ngit add work.txt && git commit -q -m "round $AGENT_RUNNER_ROUND"\necho RESULT done');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '4']);
  t.equal(r.code, 0, r.stderr);
  // Tight thresholds everywhere the healthy run could trip them.
  const w = watch(p, { silence_h: 0.000001, cost_budget_usd: 0.01, supervisor_stale_threshold_s: 1 });
  t.teardown(w.close);
  await new Promise((res) => setTimeout(res, 1100));
  const fired = await w.poll();
  t.same(fired.filter((d) => ROUND_DETECTORS.includes(d)), [], 'no round detector fires');
  const snap = w.poller.snapshot;
  t.equal(snap?.rounds.length, 4);
  t.ok(snap?.system.disk && snap.system.memory, 'disk and memory read through systeminformation');
  const expectDisk = (snap?.system.disk?.used_pct ?? 0) >= 90;
  t.equal(fired.includes('disk_warning') || fired.includes('disk_critical'), expectDisk, 'disk detectors follow the real disk');
  t.same(w.ledger.monitor.activeAlerts().filter((a) => ROUND_DETECTORS.includes(a.detector)), []);
  t.equal(w.poller.window.rounds.length, 4);
  t.ok(w.poller.window.rounds.every((x) => x.productive));
});

t.test('timeout_rate: rounds killed at round_timeout_s', async (t) => {
  const p = scenario('echo started\nsleep 30', 'round_timeout_s = 1');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '3']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('timeout_rate'), `fired: ${fired.join(',')}`);
  t.match(w.poller.findings.find((f) => f.detector === 'timeout_rate'), { severity: 'warning', policy: 'notify', message: /3\/3 recent rounds timed out or hung/ });
  t.notOk(fired.includes('hung'), 'the runner enforced its ceiling: not hung');
});

t.test('silence: rounds exit 0 but produce no result and no commit', async (t) => {
  const p = scenario('echo thinking...\nexit 0');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '3']);
  t.equal(r.code, 0, r.stderr);
  const start = Date.now();
  const w = watch(p, { silence_h: 1 }, { now: () => start });
  t.teardown(w.close);
  t.notOk((await w.poll(start)).includes('silence'), 'quiet within the window');
  const fired = await w.poll(start + 3_600_000 + 1000);
  t.ok(fired.includes('silence'), `fired: ${fired.join(',')}`);
  t.match(w.poller.findings.find((f) => f.detector === 'silence'), { evidence: { rounds_since: 3 } });
});

t.test('orphan_chain: every round leaves work that the runner stashes', async (t) => {
  const p = scenario('echo "draft $AGENT_RUNNER_ROUND" >> notes.txt\necho RESULT drafted');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '3']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('orphan_chain'), `fired: ${fired.join(',')}`);
  const f = w.poller.findings.find((x) => x.detector === 'orphan_chain');
  t.equal((f?.evidence['stashes'] as string[]).length, 3, 'the three stash SHAs are the evidence');
});
