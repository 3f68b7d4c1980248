import t from 'tap';
import { sandbox, SHORT, steps } from './fixtures/harness.js';

t.test('frozen target: T1 ignored, T2 ignored, T3 respawns it healthy', async (t) => {
  const sb = sandbox(SHORT);
  t.teardown(() => sb.cleanup());
  const target = await sb.target('bridge');
  const wd = sb.watchdog();
  await sb.waitFor('healthy verdict', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'));
  const frozenAt = Date.now();
  process.kill(target.pid!, 'SIGSTOP');
  await sb.waitFor('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 25_000);
  const healedMs = Date.now() - frozenAt;
  t.same(steps(sb), ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 failed', 'T3 sigkill_respawn', 'T3 succeeded'], 'each tier once, in order');
  const t2 = sb.events(['heal_action']).find((e) => e['tier'] === 2);
  t.equal(t2?.['pid'], target.pid, 'SIGTERM went to the enrolled pid');
  t.equal(target.signalCode ?? (await new Promise((r) => target.once('exit', (_c, s) => r(s)))), 'SIGKILL', 'the frozen process died of SIGKILL');
  const now = sb.enrollment('bridge');
  t.ok(now && now.pid !== target.pid, 'a new incarnation enrolled');
  const verdicts = sb.events(['heal_verdict_changed']).map((e) => e['to']);
  t.same(verdicts, ['healthy', 'unhealthy', 'healthy'], 'verdict changes are events');
  const ob = sb.outbox().map((o) => o.idempotency_key.split(':').slice(0, 4).join(':'));
  t.ok(ob.includes('heal:bridge:T1:restart_marker') && ob.includes('heal:bridge:T2:sigterm') && ob.includes('heal:bridge:T3:sigkill_respawn'), 'every action is an outbox notification');
  t.comment(`frozen -> healthy in ${healedMs} ms with 1 s stale, 3 s cooldown, 1 s verify`);
  wd.kill('SIGTERM');
  t.equal(await new Promise((r) => wd.once('exit', (c) => r(c))), 0, 'watchdog exits 0 on SIGTERM');
  t.equal(sb.enrollment('watchdog'), undefined, 'watchdog removed its enrollment');
});

