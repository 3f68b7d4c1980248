import t from 'tap';
import { respawnLine, sandbox, SHORT, sleep, steps } from './fixtures/harness.js';

t.test('respawn dying at once: T4, one alert, nothing more until reset; reset recorded', async (t) => {
  const sb = sandbox((s) => SHORT(s).replace(/respawn_command.*$/m, respawnLine(s, 'bridge', 'die')));
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  sb.watchdog();
  await sb.waitFor('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'));
  process.kill(target.pid!, 'SIGKILL'); // enrollment left behind, identity gone: straight to T3
  await sb.waitFor('breaker open', () => sb.events(['heal_action']).find((e) => e['tier'] === 4), 25_000);
  t.same(steps(sb), ['T3 sigkill_respawn', 'T3 failed', 'T3 sigkill_respawn', 'T3 failed', 'T4 circuit_break'], 'two failed T3s, then the breaker');
  const before = sb.healActions().length;
  await sleep(2500);
  t.equal(sb.healActions().length, before, 'no further action while the breaker is open');
  const alerts = sb.outbox().filter((o) => o.idempotency_key.startsWith('heal:bridge:T4:'));
  t.equal(alerts.length, 1, 'one alert');
  t.equal(alerts[0]?.severity, 'critical');
  t.ok(sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'circuit_broken'), 'verdict circuit_broken');

  const { runCli } = await import('../../testkit/src/project.js');
  const r = await runCli(['heal', 'reset', 'bridge', '--reason', 'fixed the respawn', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(r.code, 0, r.stderr);
  const reset = await sb.waitFor('reset recorded', () => sb.healActions().find((a) => a.action === 'breaker-reset'));
  t.equal(reset.actor, 'cli:tester', 'who');
  t.equal(reset.reason, 'fixed the respawn', 'why');
  t.ok(sb.events(['heal_breaker_reset']).some((e) => e['by'] === 'cli:tester' && e['was_open'] === true), 'event');
  await sb.waitFor('acts again after the reset', () => sb.healActions().filter((a) => a.action === 'sigkill-respawn').length >= 3);
});
