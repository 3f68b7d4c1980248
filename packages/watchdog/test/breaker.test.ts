import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli } from '@agent-runner/testkit/project';
import { sandbox, SHORT, sleep, steps } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 3;

/** A bridge whose every restart dies before enrolling (the fixture's die-bridge switch), SIGKILLed. */
async function brokenBridge(t: Test) {
  const sb = sandbox(SHORT);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  sb.watchdog();
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  const die = join(sb.stateDir, 'die-bridge');
  writeFileSync(die, '');
  process.kill(target.pid!, 'SIGKILL'); // enrollment left behind, identity gone: straight to T3
  await until('breaker open', () => sb.events(['heal_action']).find((e) => e['tier'] === 4), 25_000);
  return { sb, die };
}

const alarms = (sb: ReturnType<typeof sandbox>) => sb.outbox().filter((o) => o.kind === 'breaker_open');

t.test('failed respawns: T4, one alarm, nothing more; heal reset closes it with a recovery', async (t) => {
  const { sb, die } = await brokenBridge(t);
  t.same(
    steps(sb),
    ['T3 sigkill_respawn', 'T3 failed', 'T3 sigkill_respawn', 'T3 failed', 'T4 circuit_break'],
    'two failed T3s, then the breaker',
  );
  const before = sb.healActions().length;
  await sleep(2500);
  t.equal(sb.healActions().length, before, 'no further action while the breaker is open');
  t.same(
    sb.outbox().map((o) => [o.kind, o.severity]),
    [['breaker_open', 'critical']],
    'the only notification: one alarm, no tier action, no repeat',
  );
  t.match(alarms(sb)[0]?.title, /wdt@.*: watchdog stopped healing bridge/);
  t.ok(
    sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'circuit_broken'),
    'verdict circuit_broken',
  );

  rmSync(die);
  const r = await runCli(['heal', 'reset', 'bridge', '--reason', 'fixed the respawn', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(r.code, 0, r.stderr);
  const reset = await until('reset recorded', () => sb.healActions().find((a) => a.action === 'breaker-reset'), 20_000);
  t.equal(reset.actor, 'cli:tester', 'who');
  t.equal(reset.reason, 'fixed the respawn', 'why');
  t.ok(
    sb.events(['heal_breaker_reset']).some((e) => e['by'] === 'cli:tester' && e['was_open'] === true),
    'event',
  );
  const keys = alarms(sb).map((o) => o.idempotency_key);
  t.match(keys, [/^alarm:\d+:raised$/, /^alarm:\d+:cleared$/], 'the recovery replies to the alarm');
  await until(
    'healed after the reset',
    () => sb.events(['heal_verified']).some((e) => e['tier'] === 3 && e['result'] === 'succeeded'),
    20_000,
  );
  t.equal(alarms(sb).length, 2, 'nothing more');
});

t.test('an open breaker closes by itself once the unit is healthy again, with the recovery', async (t) => {
  const { sb, die } = await brokenBridge(t);
  rmSync(die);
  await sb.target('bridge'); // the operator started it by hand
  await until('breaker closed', () => sb.healActions().find((a) => a.action === 'breaker-close'), 15_000);
  t.match(sb.healActions().find((a) => a.action === 'breaker-close')?.reason, /^healthy for \d+ s$/);
  t.same(
    alarms(sb).map((o) => o.idempotency_key.split(':')[2]),
    ['raised', 'cleared'],
    'one alarm, one recovery',
  );
  t.equal(sb.events(['heal_verdict_changed']).at(-1)?.['to'], 'healthy');
});

t.test('the same failure coming back after heals that worked: counted per episode, not per tier', async (t) => {
  // One recurrence allowed: the first wedge climbs T1 -> T2 (one episode, not two heals), the
  // next wedge of the healed unit is the failure coming back.
  const sb = sandbox((s) => `${SHORT(s)}\nbreaker_after_same_signature = 1`);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  sb.watchdog();
  const healthy = (): boolean => sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'healthy';
  await until('healthy', healthy, 20_000);
  process.kill(target.pid!, 'SIGUSR1');
  await until('healed', () => steps(sb).includes('T0 respawn') && healthy(), 25_000);
  t.same(
    steps(sb),
    ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 succeeded', 'T0 respawn'],
    'the whole ladder of one episode, no breaker',
  );
  t.same(
    sb
      .events(['heal_action'])
      .filter((e) => e['tier'] !== 0)
      .map((e) => e['attempt']),
    [1, 1],
    'both tiers are episode 1',
  );
  const again = sb.enrollment('bridge')!.pid;
  t.not(again, target.pid, 'a new incarnation');
  process.kill(again, 'SIGUSR1');
  const t4 = await until('breaker open', () => sb.events(['heal_action']).find((e) => e['tier'] === 4), 25_000);
  t.match(t4['reason'], /the same failure \(heartbeat_stale\) came back after 1 heal\(s\) that worked/);
  t.same(steps(sb).slice(5), ['T4 circuit_break'], 'no tier tried on the recurrence');
  t.same(
    alarms(sb).map((o) => o.severity),
    ['critical'],
    'one alarm',
  );
});
