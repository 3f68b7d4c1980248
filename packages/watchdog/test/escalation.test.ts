import t from 'tap';
import { sandbox, SHORT, steps } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 2;

t.test('hung but alive: T1 unread, then T2 SIGTERM with the marker pending: exit 75, respawned at once', async (t) => {
  const sb = sandbox(SHORT);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  const exited = new Promise<number | null>((r) => target.once('exit', (c) => r(c)));
  const wd = sb.watchdog();
  await until('healthy verdict', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  process.kill(target.pid!, 'SIGUSR1'); // wedged: no heartbeat, no marker read, event loop running
  await until(
    'respawned and healthy',
    () => steps(sb).includes('T0 respawn') && sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'healthy',
    25_000,
  );
  t.same(steps(sb), ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 succeeded', 'T0 respawn'], 'SIGTERM ends the ladder: no T3');
  t.equal(await exited, 75, 'the unit exited 75 for the SIGTERM (a restart, never an operator stop)');
  t.equal(sb.exitRecord('bridge')?.reason, 'restart_marker');
  t.equal(sb.events(['heal_action']).find((e) => e['tier'] === 2)?.['pid'], target.pid, 'SIGTERM went to the enrolled pid');
  t.ok(sb.enrollment('bridge')!.pid !== target.pid, 'a new incarnation enrolled');
  t.same(sb.outbox(), [], 'tier actions are benign self-heals: no notification');
  wd.kill('SIGTERM');
  t.equal(await new Promise((r) => wd.once('exit', (c) => r(c))), 0, 'watchdog exits 0 on SIGTERM');
  t.equal(sb.enrollment('watchdog'), undefined, 'watchdog removed its enrollment');
  t.equal(sb.exitRecord('watchdog')?.reason, 'signal', 'and left its exit record');
});

t.test('frozen target (SIGSTOP): straight to T3, healed', async (t) => {
  const sb = sandbox(SHORT);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  sb.watchdog();
  await until('healthy verdict', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  const frozenAt = Date.now();
  process.kill(target.pid!, 'SIGSTOP');
  const healthy = await until(
    'healthy again',
    () => {
      const e = sb.enrollment('bridge');
      return e !== undefined && e.pid !== target.pid && Date.now();
    },
    25_000,
  );
  await until('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 25_000);
  t.same(steps(sb), ['T3 sigkill_respawn', 'T3 succeeded'], 'a stopped process can consume neither a marker nor SIGTERM');
  t.match(String(sb.events(['heal_action'])[0]?.['reason']), /process_stopped/);
  t.equal(
    target.signalCode ?? (await new Promise((r) => target.once('exit', (_c, s) => r(s)))),
    'SIGKILL',
    'the frozen process died of SIGKILL',
  );
  const verdicts = sb.events(['heal_verdict_changed']).map((e) => e['to']);
  t.same(
    [verdicts.slice(0, 2), verdicts.at(-1)],
    [['healthy', 'unhealthy'], 'healthy'],
    'unhealthy, then (starting: unknown) healthy again',
  );
  t.comment(`frozen -> new incarnation enrolled in ${healthy - frozenAt} ms with 1 s stale, 0.2 s interval`);
});
