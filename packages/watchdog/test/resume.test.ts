import t from 'tap';
import { respawnLine, sandbox, sleep } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 2;

// The cooldown as in the harness's SHORT: above the worst-case start of a respawned fixture.
const SETTINGS = (s: { stateDir: string }): string =>
  [
    'interval_s = 0.2',
    'tier_cooldown_s = 3',
    'term_grace_s = 0.5',
    'verify_window_s = 1',
    'startup_grace_s = 1',
    'stale_after_s.bridge = 1',
    respawnLine(s, 'bridge'),
  ].join('\n');

t.test('watchdog SIGKILLed between T2 and T3 resumes at T3, not T1, and not twice', async (t) => {
  const sb = sandbox(SETTINGS);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge', 'ignore-term');
  const wd1 = sb.watchdog();
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  process.kill(target.pid!, 'SIGUSR1'); // wedged, and it ignores SIGTERM
  await until('T2 sent', () => sb.events(['heal_action']).some((e) => e['tier'] === 2), 20_000);
  wd1.kill('SIGKILL');
  await new Promise((r) => wd1.once('exit', r));
  t.equal(target.exitCode, null, 'target still there when the watchdog died');
  await sleep(300);
  const wd2 = sb.watchdog();
  await until('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 20_000);
  const acts = sb.healActions().filter((a) => !a.action.startsWith('verify'));
  t.same(
    acts.map((a) => a.action),
    ['restart-marker', 'sigterm', 'sigkill-respawn'],
    'one action per tier across both watchdogs',
  );
  t.same(
    sb.events(['heal_action']).map((e) => e['tier']),
    [1, 2, 3],
  );
  t.equal(target.signalCode ?? (await new Promise((r) => target.once('exit', (_c, s) => r(s)))), 'SIGKILL');
  wd2.kill('SIGTERM');
});

t.test('watchdog SIGKILLed right after writing a T1 marker does not write another', async (t) => {
  const sb = sandbox(SETTINGS);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  const wd1 = sb.watchdog();
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  process.kill(target.pid!, 'SIGUSR1');
  await until('T1 sent', () => sb.events(['heal_action']).some((e) => e['tier'] === 1), 20_000);
  wd1.kill('SIGKILL');
  await new Promise((r) => wd1.once('exit', r));
  const wd2 = sb.watchdog();
  await until('T2 sent', () => sb.events(['heal_action']).some((e) => e['tier'] === 2), 20_000);
  t.same(
    sb.events(['heal_action']).map((e) => e['tier']),
    [1, 2],
    'T1 once, then T2 after the cooldown',
  );
  wd2.kill('SIGKILL');
});
