// Verdicts of supervised rounds of real processes with the real Claude classifier, and what
// the between-rounds policy makes of them: a CLI that reported success and then lingered
// until the grace kill did its work (ok, no back-off); one that never reported a result and
// was killed for silence or by the wall clock is a hang.
import t, { type Test } from 'tap';
import { claudeAdapter } from '../src/adapters/claude.js';
import { spawnAgent } from '../src/agent-process.js';
import { decide, initialPolicyState, type PolicySettings } from '../src/policy.js';
import { superviseRound, type SuperviseEventKind, type SuperviseLimits } from '../src/supervise.js';
import { fixture, kill, psGroup, reap } from './fixtures/util.js';

const capture = (name: string): string => fixture(`claude/claude-2.1.330-${name}.jsonl`);
const LIMITS: SuperviseLimits = {
  roundTimeoutMs: 20_000,
  inactivityTimeoutMs: 20_000,
  graceAfterResultMs: 300,
  killGraceMs: 1000,
  ignorePatterns: [],
};
const SETTINGS: PolicySettings = {
  restart_delay_s: 2,
  transient_error_action: 'back_off',
  backoff: { base_s: 30, max_s: 600, factor: 2, jitter_s: 0 },
  crash_loop: { threshold: 5, short_round_s: 60, cooldown_s: 1800, cooldown_max_s: 14400 },
  auth: { probe_interval_s: 300 },
};

async function round(t: Test, script: string, env: Record<string, string>, limits: Partial<SuperviseLimits>) {
  const h = await spawnAgent({
    argv: [fixture(script)],
    cwd: '/',
    env: { ...process.env, ...env },
    delivery: { mode: 'stdin' },
    prompt: '',
    terminal: 'pipe',
  });
  t.teardown(() => reap(h.pgid));
  const events: { kind: SuperviseEventKind; payload: Record<string, unknown> }[] = [];
  const res = await superviseRound({
    kill,
    handle: h,
    classifier: claudeAdapter.createClassifier(),
    limits: { ...LIMITS, ...limits },
    onEvent: (kind, payload) => events.push({ kind, payload }),
  });
  t.same(psGroup(h.pgid), [], 'nothing of the group is left');
  return { res, kinds: events.map((e) => e.kind) };
}

t.test('a successful result, then lingering until the grace kill: ok, the kill recorded, no back-off', async (t) => {
  const { res, kinds } = await round(t, 'replay-linger.sh', { REPLAY: capture('success-write-tool') }, {});
  t.equal(res.killedBy, 'grace');
  t.equal(res.outcome.signal, 'SIGTERM');
  t.same(kinds, ['round_grace_kill', 'round_kill_result']);
  t.equal(res.verdict.class, 'ok');
  t.match(res.verdict.evidence, [{ source: 'stream', event_type: 'result' }]);
  t.match(res.verdict.evidence.at(-1), { source: 'supervisor', detail: 'killed (grace): still running after its successful final result' });
  t.match(res.verdict.summary, /^ok: .*; killed \(grace\)/);
  t.equal(res.verdict.cost_usd, 0.0159, "the result's cost is kept");

  const state = { ...initialPolicyState(), transient: 2, failures: 2 };
  const d = decide(SETTINGS, state, res.verdict, res.outcome.durationMs, Date.now(), () => 0);
  t.same(d, { action: 'continue', delayMs: 2000, reason: 'ok' }, 'the restart delay, not a back-off');
  t.same(state, initialPolicyState(), 'the failure counters are reset');
});

t.test('no result and silence: killed for inactivity, hang, backs off', async (t) => {
  const { res } = await round(
    t,
    'replay-linger.sh',
    { REPLAY: capture('success-write-tool'), REPLAY_LINES: '1' },
    { inactivityTimeoutMs: 400 },
  );
  t.equal(res.killedBy, 'inactivity');
  t.equal(res.verdict.class, 'hang');
  t.match(res.verdict.summary, /inactivity/);
  const d = decide(SETTINGS, initialPolicyState(), res.verdict, res.outcome.durationMs, Date.now(), () => 0);
  t.match(d, { action: 'continue', reason: 'transient', delayMs: 30_000 });
});

t.test('no result while output flows: killed by the wall clock, hang', async (t) => {
  const { res } = await round(t, 'chatty.sh', {}, { roundTimeoutMs: 600, inactivityTimeoutMs: 300 });
  t.equal(res.killedBy, 'timeout');
  t.equal(res.verdict.class, 'hang');
  t.match(res.verdict.summary, /wall-clock/);
});
