/**
 * Remote monitoring through a real OpenSSH server on 127.0.0.1 (see ./sshd.ts): the runner
 * runs here, reached as `testhost` over SSH. Polling with a cursor, host key refusal, the
 * failure tolerance window when sshd dies, a remote auto-stop of a real serve, no auto-stop
 * of a remote runner that holds rounds (its alarms travel in peek), and a host whose older
 * peek has neither `service.pause` nor `alarms`.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { raiseAlarm } from '@agent-runner/core/alarms';
import { lastEvents } from '@agent-runner/core/events';
import { openLedger } from '@agent-runner/core/ledger';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { RemoteSource } from '../src/remote-source.js';
import { until } from '@agent-runner/testkit/until';
import { readOutbox, scenario, type ScenarioProject } from '../test/fixtures/scenario.js';
import { testSshd, type TestSshd } from './sshd.js';

const sshd: TestSshd = await testSshd();
t.teardown(() => sshd.cleanup());
await sshd.start();
sshd.trust();

const remoteCommand = (p: ScenarioProject): string => `${process.execPath} ${CLI_BIN} --config ${join(p.dir, 'agent-runner.toml')}`;
const sshOpts = (accept = false) => ({
  configFile: sshd.sshConfig,
  env: { home: sshd.home, user: 'nobody' },
  acceptNewHostKey: accept,
  readyTimeoutMs: 10_000,
});

/** A directory with the monitor's own config (short poll and tolerance window, extra `[monitor]` keys). */
function monitorDir(p: ScenarioProject, tolerance = 4, extra = '', command = remoteCommand(p)): string {
  const dir = join(sshd.dir, `mon-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'P.md'), 'x\n');
  writeFileSync(
    join(dir, 'agent-runner.toml'),
    `project = "mon"
[agent]
command = ["true"]
[prompt]
file = "P.md"
[runtime]
work_dir = "."
state_dir = "state"
[monitor]
poll_interval_s = 1
remote_failure_tolerance_s = ${tolerance}
remote_command = "${command}"
${extra}`,
  );
  return dir;
}

function runMonitor(
  dir: string,
  args: string[],
): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_BIN, 'monitor', '--host', 'testhost', '--ssh-config', sshd.sshConfig, ...args], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: sshd.home, LANG: 'C.UTF-8' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (c) => r(c))) };
}

t.test('remote polling over sshd: snapshot, then only the new events (cursor)', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '2'])).code, 0);
  const src = new RemoteSource({ alias: 'testhost', ssh: sshOpts(), remoteCommand: remoteCommand(p), timeoutMs: 20_000 });
  t.teardown(() => src.close());
  const first = await src.poll();
  t.match(first.snapshot, { schema_version: 1, project: 'proj', rounds: [{ round: 2 }, { round: 1 }] });
  t.ok(
    first.events.some((e) => e.kind === 'round_end'),
    'bootstrap: the newest events',
  );
  const again = await src.poll();
  t.same(again.events, [], 'nothing new: no events re-sent');
  t.ok(again.bytes > 0 && again.bytes < first.bytes, `steady poll ${again.bytes} B < first ${first.bytes} B`);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const third = await src.poll();
  t.same(
    third.events.map((e) => e.kind).filter((k) => k.startsWith('round')),
    ['round_start', 'round_end'],
    'exactly the new round',
  );
  t.equal(third.events.filter((e) => e.kind === 'serve_started').length, 1);
});

t.test('host keys: a changed key is refused; an unknown one only with --accept-new-host-key', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.teardown(() => sshd.trust());
  sshd.trust(sshd.otherKey());
  const src = new RemoteSource({ alias: 'testhost', ssh: sshOpts(true), remoteCommand: remoteCommand(p), timeoutMs: 20_000 });
  await t.rejects(
    src.poll(),
    { code: 'ERR_AR_SSH_HOST_KEY', message: /REMOTE HOST KEY CHANGED for testhost \(\[127\.0\.0\.1\]:\d+\).*SHA256:/ },
    'mismatch refused even with accept-new',
  );
  src.close();
  // The CLI: exit 77 with the clear error, and no poll of the remote happened.
  const dir = monitorDir(p);
  const m = runMonitor(dir, ['--json']);
  t.equal(await m.exited, 77, 'every host refused: exit 77 (EX_NOPERM)');
  t.match(m.out(), /host_key_refused.*REMOTE HOST KEY CHANGED/);
  // Unknown host: refused, then accepted with the flag (and recorded, hashed).
  writeFileSync(sshd.knownHosts, '');
  const u = new RemoteSource({ alias: 'testhost', ssh: sshOpts(false), remoteCommand: remoteCommand(p), timeoutMs: 20_000 });
  await t.rejects(u.poll(), { code: 'ERR_AR_SSH_HOST_KEY', message: /is not in known_hosts/ });
  u.close();
  const a = new RemoteSource({ alias: 'testhost', ssh: sshOpts(true), remoteCommand: remoteCommand(p), timeoutMs: 20_000 });
  t.match((await a.poll()).snapshot, { project: 'proj' });
  a.close();
  t.match(
    readFileSync(sshd.knownHosts, 'utf8'),
    new RegExp(`^\\|1\\|[^ ]+ ssh-ed25519 ${sshd.hostKeyB64.replace(/[+/]/g, '\\$&')}\\n$`),
    'recorded as a hashed line',
  );
});

t.test('sshd dies mid-run: blips, then a give-up after the window; exit 75', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const dir = monitorDir(p, 4);
  const m = runMonitor(dir, ['--json', '--port', '0']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until(
    () => `the monitor to serve (stderr: ${m.err()})`,
    () => /127\.0\.0\.1:(\d+)/.test(m.err()),
    20_000,
  );
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(m.err())?.[1]);
  let polls = 0;
  await until(
    'agent_runner_up 1 for testhost',
    () => {
      void fetch(`http://127.0.0.1:${port}/metrics`).then(
        async (r) => {
          const text = await r.text();
          if (/agent_runner_up\{host="testhost",project="proj"\} 1/.test(text)) polls++;
        },
        () => {},
      );
      return polls > 0;
    },
    30_000,
  );
  t.pass('remote poll succeeded (agent_runner_up 1 for testhost)');
  const killedAt = Date.now();
  sshd.stop();
  const code = await m.exited;
  const gaveUpAfter = (Date.now() - killedAt) / 1000;
  t.equal(code, 75, 'no host left: exit 75 (systemd restarts it later)');
  const lines = m
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const blips = lines.filter((l) => l['type'] === 'remote_blip');
  t.ok(blips.length >= 2, `${blips.length} blips`);
  t.match(blips[0], { host: 'testhost', consecutive: 1, exit_code: 255 });
  t.match(lines.at(-1), { type: 'remote_giveup', host: 'testhost' });
  t.ok(gaveUpAfter >= 3 && gaveUpAfter < 30, `gave up ${gaveUpAfter.toFixed(1)} s after sshd died (window 4 s)`);
  const evDir = join(dir, 'state', 'logs', 'events');
  t.ok(lastEvents(evDir, { n: 10, kinds: ['monitor_remote_blip'] }).events.length >= 2);
  t.match(lastEvents(evDir, { n: 1, kinds: ['monitor_remote_giveup'] }).events[0], { host: 'testhost', unit: 'monitor' });
  await sshd.start();
});

t.test('auto-stop over SSH: disk_critical on a remote runner that runs rounds runs `agent-runner stop` there', async (t) => {
  // Its own disk gate off: with it on, the runner holds rounds and tells the disk by itself.
  const p = scenario('sleep 1\necho RESULT ok', 'disk_min_free_mb = 0');
  t.teardown(p.cleanup);
  const ev = join(p.stateDir, 'logs', 'events');
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('round_end', () => lastEvents(ev, { n: 1, kinds: ['round_end'] }).events.length > 0, 20_000);
  // Threshold below any real reading: the remote disk is "critical" at once.
  const dir = monitorDir(p, 60, 'disk_critical_pct = 0');
  const m = runMonitor(dir, ['--json']);
  t.teardown(() => m.child.kill('SIGKILL'));
  const code = await Promise.race([s.exited, new Promise((r) => setTimeout(() => r('still running'), 40_000))]);
  t.equal(code, 0, 'the remote serve was stopped cleanly');
  await until('auto_stop', () => m.out().includes('auto_stop'));
  const lines = m
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(
    lines.find((l) => l['detector'] === 'disk_critical'),
    { type: 'alert', state: 'raised', host: 'testhost', severity: 'critical', policy: 'auto-stop' },
  );
  t.match(
    lines.find((l) => l['type'] === 'auto_stop'),
    { host: 'testhost', detector: 'disk_critical', result: 'stopped' },
  );
  t.match(lastEvents(ev, { n: 1, kinds: ['serve_stopped'] }).events[0], { exit_code: 0 });
  const outbox = readOutbox(join(dir, 'state', 'ledger.sqlite3'));
  t.match(
    outbox.find((o) => o.kind === 'disk_critical'),
    { severity: 'critical', title: /^proj@testhost: disk [\d.]+% used at /, payload: { phase: 'alarm', host: 'testhost' } },
  );
  t.match(
    outbox.find((o) => o.kind === 'monitor_auto_stop'),
    { title: 'proj@testhost: runner stopped by the monitor (disk_critical)' },
  );
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
});

t.test('a remote runner paused on its auth is not stopped, and its own alarm (in peek) is the one notification', async (t) => {
  const auth = [
    `echo '{"type":"system","subtype":"init","session_id":"s","model":"m"}'`,
    `echo '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":500,"error_status":401,"error":"authentication_failed"}'`,
    'sleep 20',
  ].join('\n');
  const p = scenario(auth, '', '[runtime.auth]\nprobe_interval_s = 10\n', 'claude');
  t.teardown(p.cleanup);
  const ev = join(p.stateDir, 'logs', 'events');
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('auth_paused', () => lastEvents(ev, { n: 1, kinds: ['auth_paused'] }).events.length > 0, 20_000);
  // What serve raises when it pauses on auth, through the same core API, in the host's ledger.
  const ledger = openLedger(join(p.stateDir, 'ledger.sqlite3'));
  raiseAlarm(ledger, 'auth_paused', { agent: 'claude', evidence: '401', hint: 'claude /login', probe_interval_s: 10 }, { project: 'proj' });
  ledger.close();
  await until('a second round_end', () => lastEvents(ev, { n: 2, kinds: ['round_end'] }).events.length > 1, 30_000);
  const dir = monitorDir(p, 60);
  const m = runMonitor(dir, ['--json', '--port', '0']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until('auto_stop_skipped', () => m.out().includes('auto_stop_skipped'), 20_000);
  await new Promise((r) => setTimeout(r, 3000));
  const lines = m
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(
    lines.find((l) => l['detector'] === 'oauth_fail'),
    { type: 'alert', state: 'raised', host: 'testhost', notified: false },
  );
  t.match(
    lines.find((l) => l['type'] === 'auto_stop_skipped'),
    { detector: 'oauth_fail', pause: 'auth' },
  );
  t.notOk(
    lines.some((l) => l['type'] === 'auto_stop'),
    'no auto-stop',
  );
  t.equal(s.child.exitCode, null, 'the remote serve still runs (it resumes by itself after a login)');
  t.same(readOutbox(join(dir, 'state', 'ledger.sqlite3')), [], "the monitor notified nothing: the runner's alarm covers it");
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(m.err())?.[1]);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(
    metrics,
    /agent_runner_alarm_active\{host="testhost",project="proj",cause="auth_paused",severity="critical",raised_by="runner"\} 1/,
    "the host's alarm on /metrics",
  );
  t.match(
    metrics,
    /agent_runner_alert_active\{host="testhost",project="proj",detector="oauth_fail",severity="critical"\} 1/,
    "and the monitor's own alert",
  );
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
});

t.test('a host with an older peek (no service.pause, no alarms) is still polled', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const old = join(sshd.dir, 'old-agent-runner.sh');
  const strip = `let s='';process.stdin.on('data',(d)=>(s+=d)).on('end',()=>{const j=JSON.parse(s);delete j.alarms;delete j.service.pause;process.stdout.write(JSON.stringify(j))})`;
  writeFileSync(
    old,
    `#!/bin/sh\nif [ "$1" = peek ]; then ${remoteCommand(p)} "$@" | ${process.execPath} -e "${strip}"; else exec ${remoteCommand(p)} "$@"; fi\n`,
  );
  chmodSync(old, 0o755);
  const src = new RemoteSource({ alias: 'testhost', ssh: sshOpts(), remoteCommand: old, timeoutMs: 20_000 });
  t.teardown(() => src.close());
  const r = await src.poll();
  t.match(r.snapshot, { schema_version: 1, project: 'proj', rounds: [{ round: 1 }] });
  t.notOk('alarms' in r.snapshot || 'pause' in r.snapshot.service, 'the older shape');
  const m = runMonitor(monitorDir(p, 60, '', old), ['--json', '--once']);
  t.equal(await m.exited, 0, 'polled and judged healthy');
  t.match(
    JSON.parse(m.out()),
    { type: 'status', host: 'testhost', project: 'proj', state: 'healthy', alerts: [] },
    'nothing raised, the status only',
  );
});

t.test('a remote agent-runner not on PATH (127) and a broken remote config (78) are named, not network blips', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  const missing = runMonitor(monitorDir(p, 60, '', 'agent-runner-not-installed'), ['--once']);
  t.equal(await missing.exited, 69, 'unreachable: EX_UNAVAILABLE');
  t.match(
    missing.out(),
    /\[DOWN\] status host=testhost: unreachable: ssh testhost: `agent-runner-not-installed` not found on testhost \(PATH of a non-interactive shell: [^)]*\/bin[^)]*\); set its full path as `remote_command` in \[monitor\.hosts\.testhost\]/,
  );
  const broken = join(sshd.dir, 'broken.toml');
  writeFileSync(broken, 'project = "x"\n[agent]\ncommand = ["true"]\n[prompt]\nfile = "P.md"\n[runtime]\nrestart_dely_s = 1\n');
  const bad = runMonitor(monitorDir(p, 60, '', `${process.execPath} ${CLI_BIN} --config ${broken}`), ['--once', '--json']);
  t.equal(await bad.exited, 69);
  const status = JSON.parse(bad.out().trim().split('\n').at(-1) as string) as { error: string };
  t.match(status, {
    type: 'status',
    state: 'unreachable',
    error: /remote config broken: unknown key `runtime\.restart_dely_s` \(\S+broken\.toml:7\); did you mean `runtime\.restart_delay_s`\?/,
  });
  t.notMatch(status.error, /has no --config|"ok":false/, 'the reason as words, and no hint about finding a config the command names');
  const none = runMonitor(monitorDir(p, 60, '', `${process.execPath} ${CLI_BIN}`), ['--once']);
  t.equal(await none.exited, 69);
  t.match(
    none.out(),
    /remote config broken: no agent-runner\.toml in \S+ or any parent directory; the remote command has no --config, so agent-runner looked from the ssh session's directory \(the home directory\): set `config` in \[monitor\.hosts\.testhost\]/,
  );
});

t.test("a laptop's own monitor config: `[monitor.hosts.NAME]` alone finds the host and its project, with no flags", async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const xdg = join(sshd.dir, `xdg-${Date.now()}`);
  mkdirSync(join(xdg, 'agent-runner'), { recursive: true });
  const write = (text: string): void => writeFileSync(join(xdg, 'agent-runner', 'monitor.toml'), text);
  // What an operator writes: the name they use, the ssh alias, the project's config path there
  // and the full path of the command (a non-interactive shell's PATH does not have it).
  write(
    `[monitor]\npoll_interval_s = 1\n[monitor.hosts.pi]\nssh = "testhost"\nconfig = "${join(p.dir, 'agent-runner.toml')}"\nremote_command = "${process.execPath} ${CLI_BIN}"\n`,
  );
  const run = (args: string[]): { out: () => string; exited: Promise<number | null> } => {
    const child = spawn(process.execPath, [CLI_BIN, 'monitor', '--ssh-config', sshd.sshConfig, ...args], {
      cwd: sshd.dir,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: sshd.home, XDG_CONFIG_HOME: xdg, LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
    return { out: () => out, exited: new Promise((r) => child.on('close', (c) => r(c))) };
  };
  const all = run(['--once', '--json']);
  t.equal(await all.exited, 0, 'every host of the table polled, healthy');
  t.match(
    JSON.parse(all.out().trim().split('\n').at(-1) as string),
    { type: 'status', host: 'pi', project: 'proj', state: 'healthy' },
    'named as the table names it',
  );
  const one = run(['--once', '--host', 'pi']);
  t.equal(await one.exited, 0, '--host NAME takes the table of that name');
  t.match(one.out(), /\[OK\] status host=pi: healthy \(project proj\)/);

  write('[monitor]\n[monitor.hosts.pi]\nsssh = "testhost"\n');
  const typo = run(['--once']);
  t.equal(await typo.exited, 78, 'EX_CONFIG');
  t.match(typo.out(), /monitor\.toml:3:1: unknown key `monitor\.hosts\.pi\.sssh`.*did you mean `monitor\.hosts\.pi\.ssh`/s);
  write('[monitor]\n[runtime]\nmax_rounds = 1\n');
  const project = run(['--once']);
  t.equal(await project.exited, 78, "a project's table in a monitor's config is named");
  t.match(project.out(), /`runtime` in a monitor's config/);
  write('[monitor]\npoll_interval_s = 1\n');
  const none = run(['--once']);
  t.equal(await none.exited, 64, 'EX_USAGE: nothing to monitor');
  t.match(none.out(), /names no host.*\[monitor\.hosts\.NAME\]/s);
});
