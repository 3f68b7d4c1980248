import t from 'tap';
import { INSTALLED, sandbox } from './fixtures/harness.js';

t.test('a unit enrolled with an older version than installed is restarted through T1', async (t) => {
  const sb = sandbox('interval_s = 0.2\ntier_cooldown_s = 8\nstale_after_s.bridge = 5');
  t.teardown(() => sb.cleanup());
  const old = await sb.target('bridge', 'normal', '0.0.1');
  // Play systemd's Restart=: when the unit exits for its marker, start the installed version.
  const restarted = new Promise<number | null>((resolve) => old.once('exit', (code) => {
    void sb.target('bridge');
    resolve(code);
  }));
  sb.watchdog();
  t.equal(await restarted, 75, 'the old unit consumed its restart marker');
  await sb.waitFor('T1 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 1));
  const v = sb.events(['heal_verified'])[0]!;
  t.equal(v['result'], 'succeeded');
  const unhealthy = sb.events(['heal_verdict_changed']).find((e) => e['to'] === 'unhealthy');
  t.match(String(unhealthy?.['reason']), new RegExp(`runs v0\\.0\\.1, v${INSTALLED.replace(/\./g, '\\.')} is installed`));
  t.same(sb.events(['heal_action']).map((e) => [e['tier'], e['reason']]), [[1, 'version_outdated']], 'one T1, nothing more');
  await sb.waitFor('healthy again', () => sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'healthy');
  t.equal(sb.enrollment('bridge')?.version, INSTALLED);
});
