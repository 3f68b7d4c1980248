/**
 * `agent-runner monitor` as a real process (built CLI): events mode across a day rotation,
 * anomaly mode's enrollment, heartbeat and restart marker (exit 75), http mode's endpoints
 * and its refusal of a port in use.
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { configPaths } from '@agent-runner/core/config';
import { EventWriter, lastEvents } from '@agent-runner/core/events';
import { readEnrollment } from '@agent-runner/core/identity';
import { readHeartbeat, requestRestart } from '@agent-runner/core/markers';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { scenario, type ScenarioProject } from './fixtures/scenario.js';

interface Mon {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function monitor(p: ScenarioProject, args: string[]): Mon {
  const child = spawn(process.execPath, [CLI_BIN, 'monitor', ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

t.test('--mode events: every new event as a JSON line, across the daily rotation; enrolled while running', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0, 'history before the monitor starts');
  const paths = configPaths(p.config());
  const m = monitor(p, ['--mode', 'events']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until(
    'the monitor to enrol and beat',
    () => readEnrollment(paths, 'monitor') !== undefined && readHeartbeat(paths, 'monitor', { nowMs: Date.now() }) !== undefined,
  );
  t.equal(readEnrollment(paths, 'monitor')?.pid, m.child.pid, 'enrolled as unit monitor');
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  // An event of tomorrow lands in the next daily file (the rotation the follower must cross).
  const tomorrow = new EventWriter({ dir: paths.eventsDir, project: 'proj', unit: 'runner', now: () => Date.now() + 86_400_000 });
  tomorrow.emit('stop_file_detected', { path: '/x', requested_at: null });
  tomorrow.close();
  await until('stop_file_detected', () => m.out().includes('stop_file_detected'));
  const lines = m
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const kinds = lines.map((l) => l['kind']);
  t.equal(kinds.filter((k) => k === 'serve_started').length, 1, 'history is not replayed, only new events');
  t.ok(kinds.includes('round_end') && kinds.includes('serve_stopped'));
  t.equal(kinds.at(-1), 'stop_file_detected', 'followed into the next day file');
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
  t.notOk(existsSync(join(paths.runDir, 'enroll-monitor.json')), 'enrollment removed on a clean exit');
});

t.test('anomaly mode: --json alerts, heartbeat, its own restart marker exits 75', async (t) => {
  const p = scenario('echo "fatal: same failure"\nexit 3', '', '[runtime.crash_loop]\nthreshold = 20\n');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '5'])).code, 0);
  const paths = configPaths(p.config());
  const m = monitor(p, ['--json']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until('anomaly_repetitive', () => m.out().includes('anomaly_repetitive'), 15_000);
  const alert = JSON.parse(m.out().trim().split('\n')[0] as string) as Record<string, unknown>;
  t.match(alert, { type: 'alert', state: 'raised', host: 'local', project: 'proj', detector: 'anomaly_repetitive', severity: 'warning' });
  t.ok(readHeartbeat(paths, 'monitor', { nowMs: Date.now() }), 'heartbeat written');
  requestRestart(paths, 'monitor', { by: 'watchdog', reason: 'test', nowMs: Date.now() });
  t.equal(await m.exited, 75, 'restart marker consumed: exit 75');
  t.match(lastEvents(paths.eventsDir, { n: 1, kinds: ['restart_marker_consumed'] }).events[0], {
    unit: 'monitor',
    requested_by: 'watchdog',
  });
  t.match(lastEvents(paths.eventsDir, { n: 1, kinds: ['monitor_alert_raised'] }).events[0], {
    detector: 'anomaly_repetitive',
    host: 'local',
  });
  // A second monitor adopts the active alert instead of raising it again.
  const again = monitor(p, ['--json', '--once']);
  t.equal(await again.exited, 1, '--once exits 1 while an alert is active');
  const status = again
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(status.length, 1, 'no duplicate alert line, only the status');
  t.match(status[0], {
    type: 'status',
    host: 'local',
    project: 'proj',
    state: 'alerts',
    alerts: [{ detector: 'anomaly_repetitive', severity: 'warning' }],
    error: null,
  });
});

t.test('--once against a host that does not answer: a DOWN status line with the reason, exit 69', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  // A port nobody listens on: bound, then closed.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const a = srv.address() as AddressInfo;
      srv.close(() => resolve(a.port));
    });
  });
  const sshConfig = join(p.dir, 'ssh_config');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(p.dir, 'id_test')]);
  writeFileSync(sshConfig, `Host down\n  HostName 127.0.0.1\n  Port ${port}\n  IdentityFile ${join(p.dir, 'id_test')}\n`);
  const m = monitor(p, ['--once', '--host', 'down', '--ssh-config', sshConfig]);
  t.equal(await m.exited, 69, 'EX_UNAVAILABLE');
  t.match(m.out(), /\[DOWN\] status host=down: unreachable: .*ECONNREFUSED/);
  const j = monitor(p, ['--once', '--json', '--host', 'down', '--ssh-config', sshConfig]);
  t.equal(await j.exited, 69);
  t.match(JSON.parse(j.out().trim().split('\n').at(-1) as string), {
    type: 'status',
    host: 'down',
    state: 'unreachable',
    alerts: [],
    error: /ECONNREFUSED/,
  });
});
