/**
 * Detectors on Claude-style stream-json from a fake `claude` run by the real runner:
 * authentication failures (with a real auto-stop of a running serve) and reported cost.
 */
import t from 'tap';
import { join } from 'node:path';
import { lastEvents } from '@agent-runner/core/events';
import { scenario, until, watch } from './scenario.js';

const ROUND_DETECTORS = ['timeout_rate', 'hung', 'orphan_chain', 'network_fail', 'rate_limit_active', 'anomaly_repetitive', 'supervisor_stale', 'oauth_fail', 'silence', 'cost_budget', 'heal_circuit_broken'];

/** A fake `claude -p --output-format stream-json`: init, then the lines given. */
const claude = (...lines: string[]): string =>
  [`echo '{"type":"system","subtype":"init","session_id":"s1","model":"claude-test"}'`, ...lines.map((l) => `echo '${l}'`)].join('\n');

const AUTH_401 = claude(
  '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":600,"error_status":401,"error":"authentication_failed"}',
) + '\nsleep 20';

t.test('oauth_fail: 401s from Claude stream-json; auto-stop really stops a running serve', async (t) => {
  const p = scenario(AUTH_401, '', '[runtime.auth]\nprobe_interval_s = 30\n', 'claude');
  t.teardown(p.cleanup);
  // One auth failure (serve then waits to probe; SIGTERM ends the wait), then a long-running
  // serve that fails again.
  const first = p.start();
  await until(() => lastEvents(join(p.stateDir, 'logs', 'events'), { n: 1, kinds: ['round_end'] }).events.length > 0);
  first.child.kill('SIGTERM');
  t.equal(await first.exited, 0);
  const w = watch(p);
  t.teardown(w.close);
  t.notOk((await w.poll()).includes('oauth_fail'), 'one 401 is not yet a pattern');
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  let fired: string[] = [];
  for (let i = 0; i < 100 && !fired.includes('oauth_fail'); i++) {
    await new Promise((r) => setTimeout(r, 200));
    fired = await w.poll();
  }
  t.ok(fired.includes('oauth_fail'), `fired: ${fired.join(',')}`);
  const code = await Promise.race([s.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
  t.equal(code, 0, 'serve stopped cleanly by the auto-stop');
  const lines = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(lines.find((l) => l['type'] === 'auto_stop'), { detector: 'oauth_fail', result: 'stopped', host: 'local' });
  t.match(lines.find((l) => l['detector'] === 'oauth_fail'), { severity: 'critical', policy: 'auto-stop' });
  const stopped = lastEvents(join(p.stateDir, 'logs', 'events'), { n: 1, kinds: ['serve_stopped'] }).events[0];
  t.match(stopped, { reason: /stop_requested|signal/, exit_code: 0 }, 'a clean stop: systemd Restart=on-failure leaves it down');
  const crit = w.ledger.outbox.countByStatus();
  t.ok(crit.pending >= 2, 'alert and auto-stop notifications queued');
});

t.test('cost_budget: Claude results report total_cost_usd past the budget; a free run stays quiet', async (t) => {
  const paid = scenario(claude('{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.6,"usage":{"input_tokens":10,"output_tokens":5}}'), '', '', 'claude');
  t.teardown(paid.cleanup);
  const r = await paid.serve(['--max-rounds', '2']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(paid, { cost_budget_usd: 1 });
  t.teardown(w.close);
  const fired = await w.poll();
  t.same(fired.filter((d) => ROUND_DETECTORS.includes(d)), ['cost_budget']);
  t.match(w.poller.findings.find((f) => f.detector === 'cost_budget'), { message: /\$1\.20 reached the \$1\.00 budget/ });
  w.settings.cost_budget_usd = 5;
  t.notOk((await w.poll()).includes('cost_budget'), 'under a higher budget: cleared');
  t.match(JSON.parse(w.lines.at(-1) as string), { type: 'alert', state: 'cleared', detector: 'cost_budget' });
  t.equal(w.ledger.monitor.activeAlerts().length, 0);
});
