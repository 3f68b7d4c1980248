import t from 'tap';
import { respawnLine, sandbox } from './fixtures/harness.js';

// The cooldown must exceed the worst-case startup of a respawned node process: a few seconds
// on a loaded 2-core CI machine.
const SHORT = (sb: { stateDir: string }): string => [
  'interval_s = 0.2', 'tier_cooldown_s = 3', 'term_grace_s = 0.5', 'verify_window_s = 1',
  'stale_after_s.bridge = 1', 'breaker_after_failed_t3 = 2', respawnLine(sb, 'bridge'),
].join('\n');

const steps = (sb: ReturnType<typeof sandbox>): string[] =>
  sb.events(['heal_action', 'heal_verified']).map((e) => (e['kind'] === 'heal_action' ? `T${e['tier']} ${e['action']}` : `T${e['tier']} ${e['result']}`));

t.test('a target ignoring SIGTERM goes to T3', async (t) => {
  const sb = sandbox(SHORT);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge', 'ignore-term');
  sb.watchdog();
  await sb.waitFor('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'));
  process.kill(target.pid!, 'SIGUSR1'); // wedged: alive, no heartbeat, markers unread
  await sb.waitFor('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 25_000);
  t.same(steps(sb), ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 failed', 'T3 sigkill_respawn', 'T3 succeeded']);
  t.equal(target.signalCode, 'SIGKILL', 'it survived SIGTERM and died of SIGKILL');
});

