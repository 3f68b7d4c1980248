// The start-up grace without systemd: a unit not enrolled yet is starting, not missing, for
// startup_grace_s from the watchdog's own start and from each respawn.
import t from 'tap';
import { INSTALLED, sandbox, sleep, steps, TARGET } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 2;

const settings = (extra: string[]) =>
  ['interval_s = 0.2', 'tier_cooldown_s = 1', 'verify_window_s = 1', 'startup_grace_s = 3', 'stale_after_s.bridge = 2', ...extra].join(
    '\n',
  );

t.test('a unit that enrolls within the grace of the watchdog start is left alone', async (t) => {
  const sb = sandbox((s) =>
    settings([`respawn_command.bridge = ${JSON.stringify([process.execPath, TARGET, s.stateDir, 'bridge', INSTALLED, 'normal'])}`]),
  );
  t.teardown(() => sb.cleanup());
  sb.watchdog();
  await until('watchdog enrolled', () => sb.enrollment('watchdog'), 20_000);
  await sleep(1500);
  await sb.target('bridge');
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  await sleep(2000);
  t.same(sb.events(['heal_action']), [], 'no action');
});

t.test('missing past the grace: respawned; a slow start after the respawn is waited for', async (t) => {
  // The respawned unit takes 2 s to enrol: longer than the cooldown, within the grace.
  const sb = sandbox((s) =>
    settings([
      `respawn_command.bridge = ${JSON.stringify(['sh', '-c', `sleep 2; exec "${process.execPath}" "${TARGET}" "${s.stateDir}" bridge ${INSTALLED} normal`])}`,
    ]),
  );
  t.teardown(() => sb.cleanup());
  sb.watchdog();
  const wd = await until('watchdog enrolled', () => sb.enrollment('watchdog'), 20_000);
  const act = await until('respawn', () => sb.events(['heal_action'])[0], 15_000);
  const afterS = (Date.parse(String(act['ts'])) - wd.started_at_ms) / 1000;
  t.ok(afterS >= 3, `not before the grace ran out (${afterS.toFixed(1)} s after the watchdog started)`);
  await until('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 15_000);
  t.same(steps(sb), ['T3 sigkill_respawn', 'T3 succeeded'], 'one respawn, verified once it enrolled');
  t.ok(
    sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'unknown' && /start-up grace/.test(String(e['reason']))),
    'starting, said so',
  );
});
