import t from 'tap';
import { sandbox, SHORT, steps } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

t.test('a target ignoring SIGTERM goes to T3', async (t) => {
  const sb = sandbox(SHORT);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge', 'ignore-term');
  sb.watchdog();
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  process.kill(target.pid!, 'SIGUSR1'); // wedged: alive, no heartbeat, markers unread
  await until('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 25_000);
  t.same(steps(sb), ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 failed', 'T3 sigkill_respawn', 'T3 succeeded']);
  t.equal(target.signalCode, 'SIGKILL', 'it survived SIGTERM and died of SIGKILL');
  t.match(String(sb.events(['heal_action']).find((e) => e['tier'] === 3)?.['reason']), /heartbeat_stale/);
});
