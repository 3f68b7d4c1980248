import { join } from 'node:path';
import t from 'tap';
import { projectPaths } from '../../core/src/paths.js';
import { runCli } from '../../testkit/src/project.js';
import { respawnLine, sandbox, sleep } from './fixtures/harness.js';

t.test('a runner that exited on purpose (stop requested) is not respawned', async (t) => {
  const sb = sandbox((s) => ['interval_s = 0.2', 'tier_cooldown_s = 4', 'verify_window_s = 0.5', 'stale_after_s.runner = 3', respawnLine(s, 'bridge').replace('.bridge', '.runner').replace('"bridge"', '"runner"')].join('\n'), ['runner']);
  t.teardown(() => sb.cleanup());
  const paths = projectPaths('wdt', sb.stateDir, join(sb.stateDir, 'logs'));
  const { requestStop, clearStopRequest } = await import('../../core/src/markers.js');
  requestStop(paths, { by: 'operator', reason: 'test', nowMs: Date.now() });
  sb.watchdog();
  await sb.waitFor('enrolled', () => sb.enrollment('watchdog'));
  await sleep(1500);
  t.same(sb.events(['heal_action']), [], 'no action while the stop request stands');
  t.same(sb.events(['heal_verdict_changed']), [], 'never judged unhealthy');
  const r = await runCli(['heal', 'status', '--json', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  const runner = (JSON.parse(r.stdout) as { targets: Array<{ target: string; verdict: string; evidence: string[] }> }).targets.find((x) => x.target === 'runner')!;
  t.equal(runner.verdict, 'unknown');
  t.match(runner.evidence.join(' '), /stop requested/, 'heal status says why');
  clearStopRequest(paths);
  await sb.waitFor('respawned and verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3 && e['result'] === 'succeeded'));
  t.same(sb.events(['heal_action']).map((e) => [e['tier'], e['reason']]), [[3, 'enrollment_missing']], 'then an expected, missing runner is respawned');
});
