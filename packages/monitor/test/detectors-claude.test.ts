/**
 * Detectors on Claude-style stream-json from a fake `claude` run by the real runner:
 * authentication failures judged by the runner's own auth state (issue 19 #4: a runner that
 * paused and recovered by itself is never stopped) and reported cost.
 */
import t from 'tap';
import { join } from 'node:path';
import { lastEvents } from '@agent-runner/core/events';
import { ROUND_DETECTORS, scenario, watch } from './fixtures/scenario.js';

/** A fake `claude -p --output-format stream-json`: init, then the lines given. */
const claude = (...lines: string[]): string =>
  [`echo '{"type":"system","subtype":"init","session_id":"s1","model":"claude-test"}'`, ...lines.map((l) => `echo '${l}'`)].join('\n');

const AUTH_401 =
  claude(
    '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":600,"error_status":401,"error":"authentication_failed"}',
  ) + '\nsleep 20';
const RESULT =
  'sleep 1\n' +
  claude('{"type":"result","subtype":"success","is_error":false,"result":"done","usage":{"input_tokens":10,"output_tokens":5}}');

t.test(
  "oauth_fail: 401s the runner paused on and recovered from never stop it (19 #4); the runner's alarm is the one notification",
  async (t) => {
    // Rounds 1, 2 and 4 are refused; 3 and the rest succeed. Round 2 is the probe after the pause.
    const agent = `n=$(cat "$HOME/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$HOME/n"\ncase $n in\n1|2|4)\n${AUTH_401}\n;;\n*)\n${RESULT}\n;;\nesac`;
    const p = scenario(agent, '', '[runtime.auth]\nprobe_interval_s = 2\n', 'claude');
    t.teardown(p.cleanup);
    const ev = join(p.stateDir, 'logs', 'events');
    const count = (kind: string): number => lastEvents(ev, { n: 10, kinds: [kind] }).events.length;
    const s = p.start();
    t.teardown(() => s.child.kill('SIGKILL'));
    const w = watch(p);
    t.teardown(w.close);
    const fired = new Set<string>();
    // The monitor polls throughout; serve raises its auth_paused alarm when it pauses and clears
    // it when it recovers.
    for (let i = 0; i < 240 && count('auth_recovered') < 2; i++) {
      await new Promise((r) => setTimeout(r, 250));
      for (const d of await w.poll()) fired.add(d);
      if (fired.has('oauth_fail') && w.poller.findings.find((f) => f.detector === 'oauth_fail')) {
        t.match(
          w.poller.findings.find((f) => f.detector === 'oauth_fail'),
          { evidence: { runner_paused: true } },
          'two 401s in a row while paused',
        );
      }
    }
    t.equal(count('auth_recovered'), 2, 'paused and recovered twice by itself');
    t.ok(fired.has('oauth_fail'), 'two refusals with no success between: recorded');
    t.notOk(
      w.poller.findings.some((f) => f.detector === 'oauth_fail'),
      'cleared by the successful probe; the isolated fourth 401 adds nothing',
    );
    t.equal(s.child.exitCode, null, 'serve still runs: never auto-stopped');
    const lines = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    t.notOk(
      lines.some((l) => l['type'] === 'auto_stop'),
      'no auto-stop',
    );
    t.match(
      lines.filter((l) => l['type'] === 'auto_stop_skipped'),
      [{ detector: 'oauth_fail', pause: 'auth' }],
    );
    t.same(
      w
        .outbox()
        .filter((o) => o.kind !== 'auth_paused')
        .map((o) => o.kind),
      [],
      'covered by auth_paused: the monitor queued nothing (no alarm, no recovery, no auto-stop)',
    );
    t.equal(w.outbox().filter((o) => o.payload['phase'] === 'alarm').length, 2, "one alarm per pause, the runner's");
    s.child.kill('SIGTERM');
    t.equal(await s.exited, 0);
  },
);

t.test('cost_budget: Claude results report total_cost_usd past the budget; a free run stays quiet', async (t) => {
  const paid = scenario(
    claude(
      '{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.6,"usage":{"input_tokens":10,"output_tokens":5}}',
    ),
    '',
    '',
    'claude',
  );
  t.teardown(paid.cleanup);
  const r = await paid.serve(['--max-rounds', '2']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(paid, { cost_budget_usd: 1 });
  t.teardown(w.close);
  const fired = await w.poll();
  t.same(
    fired.filter((d) => ROUND_DETECTORS.includes(d)),
    ['cost_budget'],
  );
  t.match(
    w.poller.findings.find((f) => f.detector === 'cost_budget'),
    { message: /\$1\.20 reached the \$1\.00 budget/ },
  );
  w.settings.cost_budget_usd = 5;
  t.notOk((await w.poll()).includes('cost_budget'), 'under a higher budget: cleared');
  t.match(JSON.parse(w.lines.at(-1) as string), { type: 'alert', state: 'cleared', detector: 'cost_budget' });
  t.equal(w.ledger.monitor.activeAlerts().length, 0);
});
