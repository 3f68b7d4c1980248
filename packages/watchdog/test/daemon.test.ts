import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { requestRestart } from '../../core/src/markers.js';
import { projectPaths } from '../../core/src/paths.js';
import { runCli } from '../../testkit/src/project.js';
import { sandbox, sleep } from './fixtures/harness.js';

const exitOf = (c: import('node:child_process').ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

t.test('own liveness: enrollment, heartbeat, systemd pings, restart marker, single instance', async (t) => {
  const sb = sandbox('interval_s = 0.2\nstale_after_s.bridge = 5');
  t.teardown(() => sb.cleanup());
  // A stand-in systemd-notify records what it was asked to send.
  const bin = join(sb.dir, 'bin');
  mkdirSync(bin);
  const log = join(sb.dir, 'notify.log');
  writeFileSync(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$*" >> ${log}\n`);
  chmodSync(join(bin, 'systemd-notify'), 0o755);
  sb.env['PATH'] = `${bin}:${sb.env['PATH']}`;
  sb.env['NOTIFY_SOCKET'] = join(sb.dir, 'notify.sock');
  sb.env['WATCHDOG_USEC'] = '400000';
  await sb.target('bridge');
  const wd = sb.watchdog();
  const e = await sb.waitFor('enrolled', () => sb.enrollment('watchdog'));
  t.equal(e.pid, wd.pid, 'the watchdog enrolls as unit watchdog');
  await sb.waitFor('heartbeat', () => existsSync(join(sb.stateDir, 'run', 'heartbeat-watchdog.json')));
  await sb.waitFor('pings', () => existsSync(log) && readFileSync(log, 'utf8').split('\n').filter((l) => l === 'WATCHDOG=1').length >= 3);
  t.match(readFileSync(log, 'utf8'), /^--ready/m, 'READY sent');

  const second = sb.watchdog();
  t.equal(await exitOf(second), 75, 'a second watchdog exits 75');

  const r = await runCli(['heal', 'status', '--json', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(r.code, 0, r.stderr);
  const st = JSON.parse(r.stdout) as { watchdog: { verdict: string }; targets: Array<{ target: string; verdict: string; next_action: string; expected: boolean }> };
  t.equal(st.watchdog.verdict, 'healthy');
  const bridge = st.targets.find((x) => x.target === 'bridge')!;
  t.same([bridge.verdict, bridge.next_action], ['healthy', 'none (healthy)']);
  const runner = st.targets.find((x) => x.target === 'runner')!;
  t.same([runner.verdict, runner.expected], ['unknown', false], 'a unit not in targets and not enrolled is unknown');
  const human = await runCli(['heal', 'status', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.match(human.stdout, /bridge: HEALTHY/);

  requestRestart(projectPaths('wdt', sb.stateDir, join(sb.stateDir, 'logs')), 'watchdog', { by: 'runner', reason: 'test', nowMs: Date.now() });
  t.equal(await exitOf(wd), 75, 'exits 75 for its restart marker');
  t.ok(sb.events(['restart_marker_consumed']).some((x) => x['unit'] === 'watchdog' && x['requested_by'] === 'runner'));
  t.equal(sb.enrollment('watchdog'), undefined, 'enrollment removed');
  await sleep(10);
});

t.test('heal reset refuses an unknown unit and an empty reason', async (t) => {
  const sb = sandbox('interval_s = 1');
  t.teardown(() => sb.cleanup());
  const a = await runCli(['heal', 'reset', 'nope', '--reason', 'x', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(a.code, 64);
  const b = await runCli(['heal', 'reset', 'bridge', '--reason', ' ', '--config', sb.config], { cwd: sb.dir, env: sb.env });
  t.equal(b.code, 64);
});

