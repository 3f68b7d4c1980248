// serve under the unit lifecycle (core/unit), seen through the built CLI: readiness and the
// watchdog pings through systemd-notify, the clean-exit records, exit 75 on the watchdog's T2,
// the transient-stop alarm, and the round limit's usage errors.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, agentProject, readEvents, runFile, startServe } from './serve-helpers.js';

const kinds = (evs: Array<Record<string, unknown>>): string[] => evs.map((e) => String(e['kind']));

t.test(
  'lifecycle: READY=1 only after the enrollment and the first heartbeat; exit records; SIGTERM after a restart request exits 75',
  async (t) => {
    const p = agentProject('cat > /dev/null\necho "RATE LIMITED try later"\nexit 1');
    t.teardown(p.cleanup);
    // systemd-notify as the unit lifecycle runs it: a stand-in on PATH records each call and
    // what the state dir held at that moment.
    const calls = join(p.home, 'notify.log');
    // (Outside the work tree, which git hygiene stashes after each round.)
    mkdirSync(join(p.home, 'bin'));
    writeFileSync(
      join(p.home, 'bin', 'systemd-notify'),
      `#!/bin/sh\nrun="${p.stateDir}/run"\nhb=no; en=no\n[ -f "$run/heartbeat-runner.json" ] && hb=yes\n[ -f "$run/enroll-runner.json" ] && en=yes\necho "$* enrolled=$en heartbeat=$hb" >> "${calls}"\n`,
      { mode: 0o755 },
    );
    const env = { ...p.env, PATH: `${join(p.home, 'bin')}:${p.env.PATH}`, NOTIFY_SOCKET: '/run/fake-notify', WATCHDOG_USEC: '2000000' };
    const s = startServe({ ...p, env });
    await until('backoff_started', () => kinds(readEvents(p.stateDir)).includes('backoff_started'), 20_000);
    const ready = readFileSync(calls, 'utf8').split('\n')[0];
    t.match(ready, /^READY=1 STATUS=serving proj enrolled=yes heartbeat=yes$/, 'READY=1 came after the enrollment and the first heartbeat');
    await until('WATCHDOG=1 from the loop while it waits (WatchdogSec=2)', () => /^WATCHDOG=1 /m.test(readFileSync(calls, 'utf8')), 5000);
    t.match(
      runFile(p.stateDir, 'heartbeat-runner.json'),
      { state: 'paused', detail: { pause: 'throttle', until: /^\d{4}-/ } },
      'a rate-limit back-off is a throttle pause',
    );
    t.match(
      runFile(p.stateDir, 'enroll-runner.json'),
      { argv: [process.execPath, /bin\.js$/, 'serve'], cwd: p.dir },
      'enrolled with its command line',
    );
    s.child.kill('SIGTERM');
    t.equal((await s.exited).code, 0, s.stderr());
    t.match(
      runFile(p.stateDir, 'exit-runner.json'),
      { exit_code: 0, reason: 'signal', argv: [process.execPath, /bin\.js$/, 'serve'] },
      'an operator stop',
    );
    await until(
      'STOPPING=1 (sent as the process exits)',
      () => /STOPPING=1 STATUS=exiting 0: signal/.test(readFileSync(calls, 'utf8')),
      5000,
    );

    // The watchdog's T2: its restart marker first, then SIGTERM. Exit 75 so systemd restarts it.
    const { requestRestart } = await import('@agent-runner/core/markers');
    const { projectPaths } = await import('@agent-runner/core/paths');
    const s2 = startServe({ ...p, env });
    await until(
      'second serve paused',
      () =>
        readEvents(p.stateDir).filter((e) => e['kind'] === 'serve_started').length === 2 &&
        runFile(p.stateDir, 'heartbeat-runner.json')?.['state'] === 'paused',
      20_000,
    );
    requestRestart(projectPaths('proj', p.stateDir, join(p.stateDir, 'logs')), 'runner', {
      by: 'watchdog',
      reason: 'T1 did not help',
      nowMs: Date.now(),
    });
    s2.child.kill('SIGTERM');
    const ex = await s2.exited;
    t.equal(ex.code, 75, s2.stderr());
    t.match(runFile(p.stateDir, 'exit-runner.json'), { exit_code: 75, reason: 'restart_marker' });
    t.match(readEvents(p.stateDir).at(-1), { kind: 'serve_stopped', reason: 'restart_marker', exit_code: 75, signal: 'SIGTERM' });
  },
);

t.test('transient_error_action = "stop": exit 0 with one transient_stop alarm, cleared when serve starts again', async (t) => {
  const p = agentProject(
    'cat > /dev/null\nif [ ! -f "$HOME/ok" ]; then echo "RATE LIMITED try later"; exit 1; fi\necho RESULT',
    'transient_error_action = "stop"',
  );
  t.teardown(p.cleanup);
  const r = await runCli(['serve'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(runFile(p.stateDir, 'exit-runner.json'), { exit_code: 0, reason: 'transient_error' });
  const stop = alarmsOf(p.stateDir, 'transient_stop');
  t.match(stop.alarms, [
    {
      severity: 'error',
      title: /: stopped on a transient error \(rate_limit\)$/,
      body: /RATE LIMITED try later[\s\S]*When the provider is back: agent-runner start$/,
    },
  ]);
  writeFileSync(join(p.home, 'ok'), '');
  const r2 = await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r2.code, 0, r2.stderr);
  const after = alarmsOf(p.stateDir, 'transient_stop');
  t.equal(after.alarms.length, 1);
  t.match(after.recoveries, [{ severity: 'error', title: /resolved: the runner started again$/ }]);
});

t.test('--max-rounds takes a whole number: -1, abc, 1.5 and an empty value are usage errors (64)', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  for (const bad of ['-1', 'abc', '1.5', '']) {
    const r = await runCli(['serve', `--max-rounds=${bad}`], { cwd: p.dir, env: p.env, timeoutMs: 10_000 });
    t.equal(r.code, 64, `--max-rounds=${bad}: ${r.stderr}`);
    t.match(r.stderr, bad === '' ? '--max-rounds needs a value' : `--max-rounds ${JSON.stringify(bad)} is `);
    t.match(r.stderr, 'expected a whole number from 0 to 1,000,000,000 (0 = no limit)');
  }
  t.notOk(existsSync(join(p.stateDir, 'ledger.sqlite3')), 'refused before anything ran');
});
