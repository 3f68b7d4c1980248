import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectPaths } from '@agent-runner/core/paths';
import { runCli } from '@agent-runner/testkit/project';
import { respawnLine, sandbox, sleep, steps, TARGET, targetPids } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 3;

const FAST = [
  'interval_s = 0.2',
  'tier_cooldown_s = 4',
  'verify_window_s = 0.5',
  'startup_grace_s = 1',
  'stale_after_s.runner = 3',
  'stale_after_s.bridge = 3',
  'stale_after_s.monitor = 3',
];
const respawnRunner = (s: { stateDir: string }): string =>
  respawnLine(s, 'bridge').replace('.bridge', '.runner').replace('"bridge"', '"runner"');

interface Status {
  targets: Array<{ target: string; verdict: string; stance: string; evidence: string[] }>;
}
const status = async (sb: ReturnType<typeof sandbox>): Promise<Status> =>
  JSON.parse((await runCli(['heal', 'status', '--json', '--config', sb.config], { cwd: sb.dir, env: sb.env })).stdout) as Status;

t.test('a runner that exited on purpose (stop requested, no exit record) is not respawned', async (t) => {
  const sb = sandbox((s) => [...FAST, respawnRunner(s)].join('\n'), ['runner']);
  t.teardown(() => sb.cleanup());
  const paths = projectPaths('wdt', sb.stateDir, join(sb.stateDir, 'logs'));
  const { requestStop, clearStopRequest } = await import('../../core/src/markers.js');
  requestStop(paths, { by: 'operator', reason: 'test', nowMs: Date.now() });
  sb.watchdog();
  await until('enrolled', () => sb.enrollment('watchdog'), 20_000);
  await sleep(1500);
  t.same(sb.events(['heal_action']), [], 'no action while the stop request stands');
  t.same(sb.events(['heal_verdict_changed']), [], 'never judged unhealthy');
  const runner = (await status(sb)).targets.find((x) => x.target === 'runner')!;
  t.same([runner.verdict, runner.stance], ['unknown', 'stopped']);
  t.match(runner.evidence.join(' '), /stop requested/, 'heal status says why');
  clearStopRequest(paths);
  await until(
    'respawned and verified',
    () => sb.events(['heal_verified']).find((e) => e['tier'] === 3 && e['result'] === 'succeeded'),
    20_000,
  );
  t.same(
    sb.events(['heal_action']).map((e) => [e['tier'], e['reason']]),
    [[3, 'enrollment_missing']],
    'then an expected, missing runner is respawned',
  );
});

t.test('exit 0 (max_rounds), 69 (crash loop) and 78 (config broken) stay stopped with the watchdog running', async (t) => {
  // The start-up grace covers the targets starting after the watchdog.
  const GRACE_S = 10;
  const sb = sandbox(FAST.join('\n').replace('startup_grace_s = 1', `startup_grace_s = ${GRACE_S}`), ['runner', 'bridge', 'monitor']);
  t.teardown(() => sb.cleanup());
  const exits = { runner: 'exit:0:max_rounds', bridge: 'exit:69:crash_loop', monitor: 'exit:78:config_broken' } as const;
  const wd = sb.watchdog();
  const enrolled = await until('watchdog enrolled', () => sb.enrollment('watchdog'), 20_000);
  const children = await Promise.all(Object.entries(exits).map(([u, mode]) => sb.target(u, `${mode}:3000`)));
  await until(
    'all three healthy first',
    () =>
      ['runner', 'bridge', 'monitor'].every((u) =>
        sb.events(['heal_verdict_changed']).some((e) => e['target'] === u && e['to'] === 'healthy'),
      ),
    20_000,
  );
  const codes = await Promise.all(
    children.map((c) => (c.exitCode !== null ? c.exitCode : new Promise((r) => c.once('exit', (code) => r(code))))),
  );
  t.same(codes, [0, 69, 78], 'each exited as told');
  // Until the grace has run out: within it an exited unit without an enrollment is 'starting'
  // whatever its exit record says, so only the probes after it show that the record is heeded
  // (one that ignored it would respawn at the first of them). The grace counts from the engine's
  // start, a moment after the enrollment; the margin is 15 probes of 0.2 s (after the exits too,
  // when they came late).
  await sleep(Math.max(enrolled.started_at_ms + GRACE_S * 1000 + 3000 - Date.now(), 3000));
  t.equal(wd.exitCode, null, 'the watchdog still runs');
  t.same(sb.events(['heal_action']), [], 'no heal action, probing every 0.2 s past the start-up grace');
  for (const u of ['runner', 'bridge', 'monitor']) t.same(targetPids(sb, u), [], `${u}: nothing respawned`);
  const st = await status(sb);
  for (const [u, mode] of Object.entries(exits)) {
    const x = st.targets.find((y) => y.target === u)!;
    t.same([x.verdict, x.stance], ['unknown', 'stopped'], `${u} is stopped on purpose`);
    t.match(
      x.evidence.at(-1),
      new RegExp(`exited ${mode.split(':')[1]} \\(${mode.split(':')[2]}\\).*stopped on purpose`),
      `${u}: the exit record is the evidence`,
    );
  }
});

t.test('a SIGKILLed unit, and one that crashed with an error record, come back with their original argv and cwd', async (t) => {
  const sb = sandbox(FAST.join('\n'), ['runner', 'bridge']);
  t.teardown(() => sb.cleanup());
  const runner = await sb.target('runner', 'normal', undefined, ['serve', '--max-rounds', '2']);
  const bridge = await sb.target('bridge', 'exit:70:error:2500', undefined, ['bridge', '--verbose']);
  const original = { runner: sb.enrollment('runner')!, bridge: sb.enrollment('bridge')! };
  t.same(
    original.runner.argv,
    [process.execPath, TARGET, sb.stateDir, 'runner', original.runner.version, 'normal', 'serve', '--max-rounds', '2'],
    'the unit enrolled its whole command line',
  );
  sb.watchdog();
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['target'] === 'runner' && e['to'] === 'healthy'), 20_000);
  process.kill(runner.pid!, 'SIGKILL');
  for (const [u, old] of [
    ['runner', runner.pid],
    ['bridge', bridge.pid],
  ] as const) {
    const now = await until(
      `${u} respawned`,
      () => {
        const e = sb.enrollment(u);
        return e !== undefined && e.pid !== old && e;
      },
      20_000,
    );
    t.same(now.argv, original[u].argv, `${u}: same argv`);
    t.equal(now.cwd, sb.dir, `${u}: same cwd`);
    t.same(readFileSync(`/proc/${now.pid}/cmdline`, 'utf8').split('\0').slice(0, -1), original[u].argv, `${u}: the process runs it`);
  }
  const firstT3 = (u: string): unknown => sb.events(['heal_action']).find((e) => e['tier'] === 3 && e['target'] === u)?.['reason'];
  t.same([firstT3('runner'), firstT3('bridge')], ['identity_gone', 'enrollment_missing'], 'both were T3 heals (counted)');
  t.notOk(steps(sb).includes('T0 respawn'), 'a crash is no restart request');
});
