/**
 * The monitor on core's one unit lifecycle: READY=1 only after the enrollment and the first
 * heartbeat, WATCHDOG=1 pings, the clean-exit record with the command line, exit 0 on an
 * operator's SIGTERM and 75 on one that follows a restart request (the watchdog's T2), and
 * the guests (a second monitor next to an enrolled one, a `--once` poll) that never enrol.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { configPaths } from '@agent-runner/core/config';
import { readEnrollment } from '@agent-runner/core/identity';
import { readHeartbeat, requestRestart } from '@agent-runner/core/markers';
import { readExitRecord } from '@agent-runner/core/unit';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { start } from '../src/index.js';
import { until } from '@agent-runner/testkit/until';
import { scenario, type ScenarioProject } from './fixtures/scenario.js';

function monitor(
  p: ScenarioProject,
  args: string[],
): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_BIN, 'monitor', ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (c) => r(c))) };
}

t.test('start(): READY after the first heartbeat, WATCHDOG pings, exit record with argv and cwd', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const cfg = p.config();
  const paths = configPaths(cfg);
  const sent: string[][] = [];
  let heartbeatAtReady: boolean | undefined;
  const stop = new AbortController();
  const argv = [process.execPath, CLI_BIN, 'monitor', '--config', cfg.source];
  const run = start(
    { cfg, paths, mode: 'anomaly', hosts: [], json: true, acceptNewHostKey: false, once: false, settings: { poll_interval_s: 0.2 } },
    {
      pid: process.pid,
      env: { NOTIFY_SOCKET: '/run/test-notify', WATCHDOG_USEC: '400000' },
      stop: stop.signal,
      log: () => {},
      now: Date.now,
      kill: process.kill.bind(process) as never,
      out: () => {},
      argv,
      cwd: p.dir,
      notify: (a) => {
        if (a.includes('READY=1')) heartbeatAtReady = readHeartbeat(paths, 'monitor', { nowMs: Date.now() }) !== undefined;
        sent.push(a);
      },
    },
  );
  await until('three WATCHDOG=1', () => sent.filter((a) => a.includes('WATCHDOG=1')).length >= 3);
  t.equal(heartbeatAtReady, true, 'the heartbeat was written before READY=1');
  t.match(sent[0], ['READY=1', /^STATUS=anomaly: local$/], 'READY first');
  t.match(readEnrollment(paths, 'monitor'), { pid: process.pid, argv, cwd: p.dir }, 'enrolled with its command line');
  t.match(readHeartbeat(paths, 'monitor', { nowMs: Date.now() }), { detail: { mode: 'anomaly', hosts: 0 } });
  stop.abort();
  t.equal(await run, 0, 'an operator stop exits 0');
  t.match(sent.at(-1), ['STOPPING=1', /^STATUS=exiting 0: signal/]);
  t.match(readExitRecord(paths, 'monitor'), { unit: 'monitor', pid: process.pid, exit_code: 0, reason: 'signal', argv, cwd: p.dir });
  t.equal(readEnrollment(paths, 'monitor'), undefined, 'enrollment removed');
  t.equal(readHeartbeat(paths, 'monitor', { nowMs: Date.now() }), undefined, 'heartbeat removed');
});

t.test('a SIGTERM after a restart request (T2 of a frozen monitor) exits 75; a plain one exits 0', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  const paths = configPaths(p.config());
  const m = monitor(p, ['--mode', 'events']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until(
    'the monitor to enrol and beat',
    () => readEnrollment(paths, 'monitor')?.pid === m.child.pid && readHeartbeat(paths, 'monitor', { nowMs: Date.now() }) !== undefined,
    20_000,
  );
  // Frozen, it cannot take its marker; the SIGTERM that follows is then a heal, not a stop.
  m.child.kill('SIGSTOP');
  requestRestart(paths, 'monitor', { by: 'watchdog', reason: 'heartbeat stale', nowMs: Date.now() });
  m.child.kill('SIGTERM');
  m.child.kill('SIGCONT');
  t.equal(await m.exited, 75, 'systemd (Restart=on-failure) restarts it');
  t.match(
    readExitRecord(paths, 'monitor'),
    { pid: m.child.pid, exit_code: 75, reason: 'restart_marker' },
    'the watchdog reads a restart, not a stop',
  );

  const again = monitor(p, ['--mode', 'events']);
  t.teardown(() => again.child.kill('SIGKILL'));
  await until('the second monitor to enrol', () => readEnrollment(paths, 'monitor')?.pid === again.child.pid, 20_000);
  again.child.kill('SIGTERM');
  t.equal(await again.exited, 0);
  t.match(readExitRecord(paths, 'monitor'), { pid: again.child.pid, exit_code: 0, reason: 'signal' }, 'an operator stop');
});

t.test('guests: a second monitor next to the enrolled one, and --once, run unenrolled', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const paths = configPaths(p.config());
  const once = monitor(p, ['--once']);
  t.equal(await once.exited, 0, 'a healthy project: exit 0');
  t.match(once.out(), /\[OK\] status host=local: healthy \(project \w+\)/, 'and says so');
  t.equal(readEnrollment(paths, 'monitor'), undefined, '--once never enrolled');
  t.equal(readExitRecord(paths, 'monitor'), undefined, "and left no exit record to be read as the unit's");

  const service = monitor(p, []);
  t.teardown(() => service.child.kill('SIGKILL'));
  await until('the service monitor to enrol', () => readEnrollment(paths, 'monitor')?.pid === service.child.pid, 20_000);
  const page = monitor(p, ['--mode', 'http', '--port', '0']);
  t.teardown(() => page.child.kill('SIGKILL'));
  await until('the page monitor to serve', () => /serving http/.test(page.err()), 15_000);
  t.match(page.err(), new RegExp(`another monitor \\(pid ${service.child.pid}\\) is enrolled; running unenrolled`));
  page.child.kill('SIGTERM');
  t.equal(await page.exited, 0);
  t.equal(readEnrollment(paths, 'monitor')?.pid, service.child.pid, 'the service keeps its enrollment');
  t.notOk(existsSync(`${paths.runDir}/exit-monitor.json`), 'the guest wrote no exit record');
  service.child.kill('SIGTERM');
  t.equal(await service.exited, 0);
});
