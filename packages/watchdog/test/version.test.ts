import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { INSTALLED, sandbox, sleep, steps } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

const SETTINGS = 'interval_s = 0.2\ntier_cooldown_s = 2\nterm_grace_s = 0.5\nstartup_grace_s = 1\nstale_after_s.bridge = 5';

t.test('an outdated unit gets one T1, waits for it while busy, and comes back with the installed code', async (t) => {
  const sb = sandbox(SETTINGS);
  t.teardown(() => sb.cleanup());
  const code = join(sb.dir, 'installed-version');
  writeFileSync(code, '0.0.1');
  const old = await sb.target('bridge', 'normal', `@${code}`);
  process.kill(old.pid!, 'SIGWINCH'); // busy: a long round, the marker waits for its end
  writeFileSync(code, INSTALLED); // the upgrade landed under the running unit
  const exited = new Promise<number | null>((r) => old.once('exit', (c) => r(c)));
  sb.watchdog();
  await until('T1 sent', () => sb.events(['heal_action']).some((e) => e['tier'] === 1), 20_000);
  await sleep(5000); // two and a half cooldowns
  t.same(steps(sb), ['T1 restart_marker'], 'one T1 and waiting: never T2/T3 for a version alone');
  t.equal(old.exitCode, null, 'still running its round');
  const unhealthy = sb.events(['heal_verdict_changed']).find((e) => e['to'] === 'unhealthy');
  t.match(String(unhealthy?.['reason']), new RegExp(`runs v0\\.0\\.1, v${INSTALLED.replace(/\./g, '\\.')} is installed`));
  process.kill(old.pid!, 'SIGWINCH'); // the round ended: its safe point
  t.equal(await exited, 75, 'the old unit consumed its restart marker');
  await until('T1 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 1), 20_000);
  t.same(steps(sb), ['T1 restart_marker', 'T0 respawn', 'T1 succeeded'], 'respawned at once (exit 75), which is what T1 asked');
  await until('healthy again', () => sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'healthy', 20_000);
  t.equal(sb.enrollment('bridge')?.version, INSTALLED, 'the new incarnation runs the installed version');
});
