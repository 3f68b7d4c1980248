// Heal latency with the default settings, without systemd (the watchdog and its targets in the
// foreground): a frozen unit is healthy again well within 90 s through the frozen check, and a
// hung one whose event loop still runs gets its T1 within 60 s.
import t from 'tap';
import { sandbox, steps } from '../test/fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

t.test('defaults: frozen -> healthy again < 90 s; hung but alive -> T1 < 60 s', async (t) => {
  const sb = sandbox('', ['runner', 'bridge']);
  t.teardown(() => sb.cleanup());
  const bridge = await sb.target('bridge');
  const runner = await sb.target('runner');
  sb.watchdog();
  await until(
    'both healthy',
    () => ['runner', 'bridge'].every((u) => sb.events(['heal_verdict_changed']).some((e) => e['target'] === u && e['to'] === 'healthy')),
    20_000,
  );
  const at = Date.now();
  process.kill(bridge.pid!, 'SIGSTOP');
  process.kill(runner.pid!, 'SIGUSR1'); // wedged: no heartbeat, event loop running
  const t1 = await until('runner T1', () => sb.events(['heal_action']).find((e) => e['target'] === 'runner'), 80_000);
  const t1S = (Date.parse(String(t1['ts'])) - at) / 1000;
  t.equal(t1['tier'], 1, 'the hung runner gets a restart marker first');
  t.ok(t1S < 60, `hung -> T1 in ${t1S.toFixed(1)} s`);
  const healedS = await until(
    'bridge healthy again',
    () => {
      const e = sb.enrollment('bridge');
      return e !== undefined && e.pid !== bridge.pid && (Date.now() - at) / 1000;
    },
    90_000,
  );
  t.ok(healedS < 90, `frozen -> new incarnation enrolled in ${healedS.toFixed(1)} s`);
  t.same(
    steps(sb)
      .filter((s) => s.startsWith('T3'))
      .slice(0, 1),
    ['T3 sigkill_respawn'],
    'the frozen one straight to T3',
  );
});
