import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { requestRestart } from '@agent-runner/core/markers';
import { projectPaths } from '@agent-runner/core/paths';
import { runCli } from '@agent-runner/testkit/project';
import { sandbox, sleep } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

const exitOf = (c: import('node:child_process').ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

t.test('own lifecycle: enrollment, READY after the heartbeat, systemd pings, restart marker, single instance', async (t) => {
  const sb = sandbox('interval_s = 0.2\nstale_after_s.bridge = 5');
  t.teardown(() => sb.cleanup());
  await sb.target('bridge');
  // A stand-in systemd-notify records what the watchdog (started after this) asks it to send.
  const bin = join(sb.dir, 'bin');
  mkdirSync(bin);
  const log = join(sb.dir, 'notify.log');
  writeFileSync(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$*" >> ${log}\n`);
  chmodSync(join(bin, 'systemd-notify'), 0o755);
  sb.env['PATH'] = `${bin}:${sb.env['PATH']}`;
  sb.env['NOTIFY_SOCKET'] = join(sb.dir, 'notify.sock');
  sb.env['WATCHDOG_USEC'] = '400000';
  const wd = sb.watchdog();
  const e = await until('enrolled', () => sb.enrollment('watchdog'), 20_000);
  t.equal(e.pid, wd.pid, 'the watchdog enrolls as unit watchdog');
  t.same(e.argv?.slice(-3), ['watchdog', '--config', sb.config], 'with its command line');
  await until('heartbeat', () => existsSync(join(sb.stateDir, 'run', 'heartbeat-watchdog.json')), 20_000);
  await until(
    'pings',
    () =>
      existsSync(log) &&
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l === 'WATCHDOG=1').length >= 3,
    20_000,
  );
  t.match(
    readFileSync(log, 'utf8').split('\n')[0],
    /^READY=1 STATUS=watching bridge$/,
    'READY first (sent after the first heartbeat), with its status',
  );

  const second = sb.watchdog();
  t.equal(await exitOf(second), 75, 'a second watchdog exits 75');

  const r = await runCli(['heal', 'status', '--json', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(r.code, 0, r.stderr);
  const st = JSON.parse(r.stdout) as {
    watchdog: { verdict: string };
    targets: Array<{ target: string; verdict: string; next_action: string; expected: boolean }>;
  };
  t.equal(st.watchdog.verdict, 'healthy');
  const bridge = st.targets.find((x) => x.target === 'bridge')!;
  t.same([bridge.verdict, bridge.next_action], ['healthy', 'none (healthy)']);
  const runner = st.targets.find((x) => x.target === 'runner')!;
  t.same([runner.verdict, runner.expected], ['unknown', false], 'a unit not in targets is unknown');
  const human = await runCli(['heal', 'status', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.match(human.stdout, /bridge: HEALTHY/);

  requestRestart(projectPaths('wdt', sb.stateDir, join(sb.stateDir, 'logs')), 'watchdog', {
    by: 'runner',
    reason: 'test',
    nowMs: Date.now(),
  });
  t.equal(await exitOf(wd), 75, 'exits 75 for its restart marker');
  t.ok(sb.events(['restart_marker_consumed']).some((x) => x['unit'] === 'watchdog' && x['requested_by'] === 'runner'));
  t.equal(sb.enrollment('watchdog'), undefined, 'enrollment removed');
  t.same([sb.exitRecord('watchdog')?.exit_code, sb.exitRecord('watchdog')?.reason], [75, 'restart_marker'], 'exit record');
  t.match(readFileSync(log, 'utf8'), /^STOPPING=1/m, 'STOPPING told');
  await sleep(10);
});

t.test('SIGTERM while a restart of the watchdog is pending exits 75, else 0', async (t) => {
  const sb = sandbox('interval_s = 5');
  t.teardown(() => sb.cleanup());
  const paths = projectPaths('wdt', sb.stateDir, join(sb.stateDir, 'logs'));
  const a = sb.watchdog();
  await until('enrolled', () => sb.enrollment('watchdog'), 20_000);
  a.kill('SIGTERM');
  t.equal(await exitOf(a), 0, 'an operator stop');
  t.equal(sb.exitRecord('watchdog')?.reason, 'signal');
  const b = sb.watchdog();
  const e = await until('enrolled again', () => sb.enrollment('watchdog')?.pid === b.pid && sb.enrollment('watchdog'), 20_000);
  // The marker lands just before the signal: the loop has not consumed it yet.
  requestRestart(paths, 'watchdog', { by: 'runner', reason: 'test', nowMs: Math.max(Date.now(), e.started_at_ms) });
  b.kill('SIGTERM');
  t.equal(await exitOf(b), 75, 'a restart, so systemd starts it again');
  t.equal(sb.exitRecord('watchdog')?.reason, 'restart_marker');
});

t.test('heal reset refuses an unknown unit and an empty reason', async (t) => {
  const sb = sandbox('interval_s = 1');
  t.teardown(() => sb.cleanup());
  const a = await runCli(['heal', 'reset', 'nope', '--reason', 'x', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(a.code, 64);
  const b = await runCli(['heal', 'reset', 'bridge', '--reason', ' ', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(b.code, 64);
});
