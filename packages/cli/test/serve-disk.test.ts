// The disk gate and full-disk survival (issue 12 #5) on a real, small tmpfs holding the state
// and log directories: serve pauses before a round when space is low, never dies of ENOSPC or
// SQLITE_FULL (a round whose end fell into the full period is recorded once space is back),
// and resumes by itself.
import t from 'tap';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, agentProject, readEvents, readRounds, runFile, smallDisk, startServe, type Query } from './serve-helpers.js';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 3;

const kinds = (evs: Array<Record<string, unknown>>): string[] => evs.map((e) => String(e['kind']));
const freeBytes = (path: string): number => {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
};

/** Fills the file system of `dir` with `file` until at most `leaveBytes` are free (0: to the last block). */
function fill(dir: string, file: string, leaveBytes: number): void {
  const fd = openSync(join(dir, file), 'w');
  try {
    for (const chunk of [1 << 20, 1 << 16, 1 << 12, 1 << 9, 1]) {
      const buf = Buffer.alloc(chunk, 0x61);
      try {
        while (freeBytes(dir) - chunk >= leaveBytes) writeSync(fd, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

const integrity = (stateDir: string, query: Query): unknown =>
  query(join(stateDir, 'ledger.sqlite3'), 'PRAGMA integrity_check')[0]?.['integrity_check'];

t.test('low space: no round starts, one alarm; rounds resume by themselves when space is back, one recovery', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT', 'disk_min_free_mb = 8');
  t.teardown(p.cleanup);
  mkdirSync(p.stateDir);
  const disk = await smallDisk(p.stateDir, 24);
  t.teardown(disk.close);
  const st = disk.view(p.stateDir);
  const s = startServe(p, [], disk.command(p.dir));
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('rounds on the small disk', () => readRounds(st, disk.query).length >= 2, 20_000);
  fill(st, 'filler', 4 << 20);
  await until('disk_paused', () => kinds(readEvents(st)).includes('disk_paused'), 20_000);
  t.match(
    readEvents(st).find((e) => e['kind'] === 'disk_paused'),
    { cause: 'low_space', min_free_bytes: 8 << 20, path: p.stateDir },
  );
  await until('paused heartbeat', () => runFile(st, 'heartbeat-runner.json')?.['state'] === 'paused', 5000);
  t.match(runFile(st, 'heartbeat-runner.json'), { state: 'paused', detail: { pause: 'disk' } });
  await until('the alarm', () => alarmsOf(st, 'disk_full', disk.query).alarms.length === 1, 5000);
  const { alarms } = alarmsOf(st, 'disk_full', disk.query);
  t.match(
    alarms[0],
    {
      severity: 'critical',
      title: /: disk full, rounds paused$/,
      body: new RegExp(`Rounds are paused: ${p.stateDir} has [0-7] MiB free .* rounds resume by themselves once 8 MiB are free`),
    },
    'the reading it paused on: below the 8 MiB floor (the filler may still be writing)',
  );
  const held = readRounds(st, disk.query).length;
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(readRounds(st, disk.query).length, held, 'no round while space is low');
  t.equal(s.child.exitCode, null, 'serve is alive');

  rmSync(join(st, 'filler'));
  await until(
    'rounds resume',
    () => kinds(readEvents(st)).includes('disk_resumed') && readRounds(st, disk.query).length >= held + 2,
    20_000,
  );
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0, s.stderr());
  const after = alarmsOf(st, 'disk_full', disk.query);
  t.equal(after.alarms.length, 1, 'one alarm');
  t.equal(after.recoveries.length, 1, 'one recovery');
  t.match(after.recoveries[0], { severity: 'critical', title: /resolved: disk space is free again \(\d+ MiB\); rounds resumed$/ });
  t.equal(integrity(st, disk.query), 'ok');
});

t.test('a disk full to the last block when a round ends: serve waits, records the round as it ended, resumes', async (t) => {
  const p = agentProject(
    'cat > /dev/null\ntouch "$HOME/started-$AGENT_RUNNER_ROUND"\nwhile [ ! -f "$HOME/go" ]; do sleep 0.1; done\necho RESULT done',
    'disk_min_free_mb = 1',
  );
  t.teardown(p.cleanup);
  mkdirSync(p.stateDir);
  const disk = await smallDisk(p.stateDir, 16);
  t.teardown(disk.close);
  const st = disk.view(p.stateDir);
  const s = startServe(p, [], disk.command(p.dir));
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('round 1 runs', () => readRounds(st, disk.query).length === 1, 20_000);
  fill(st, 'filler', 0);
  writeFileSync(join(p.home, 'go'), '');
  await until('the failed finish', () => /finish round failed: the file system is full/.test(s.stderr()), 20_000);
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(s.child.exitCode, null, 'serve is alive on a full disk');
  t.match(readRounds(st, disk.query), [{ round: 1, status: 'running' }], 'not recorded yet');

  rmSync(join(st, 'filler'));
  await until('rounds resume', () => readRounds(st, disk.query).length >= 3, 20_000);
  t.match(readRounds(st, disk.query)[0], { round: 1, status: 'finished', classification: 'ok', exit_code: 0 }, 'the round as it ended');
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0, s.stderr());
  const err = s.stderr();
  // Whether an event line still fit into the last page of the events file is up to tmpfs.
  const dropped = err.match(/events not written/g)?.length ?? 0;
  t.ok(dropped <= 1, `dropped events told at most once (${dropped})`);
  t.equal(err.match(/events written again/g)?.length ?? 0, dropped, 'and their end as often');
  t.match(err, /runner: heartbeat not written \(the state file system is full\)/);
  t.equal(err.match(/heartbeat not written/g)?.length, 1, 'a failing heartbeat told once');
  t.match(err, /heartbeat written again/);
  t.match(
    readEvents(st).filter((e) => e['kind'] === 'disk_resumed'),
    [{ free_bytes: Number }],
  );
  const { alarms, recoveries } = alarmsOf(st, 'disk_full', disk.query);
  t.equal(alarms.length, 1, 'one alarm: during the pause if the full ledger took it, else late, once space was back');
  t.equal(recoveries.length, 1, 'and its recovery');
  t.equal(integrity(st, disk.query), 'ok');
  t.match(runFile(st, 'exit-runner.json'), { exit_code: 0, reason: 'signal' });
});

t.test('disk_min_free_mb = 0 (no gate): a round that cannot start for a full disk waits and starts once space is back', async (t) => {
  const p = agentProject(
    'cat > /dev/null\nif [ -f "$HOME/crashed" ]; then echo RESULT; exit 0; fi\ntouch "$HOME/crashed"\necho "fatal: boom"\nexit 3',
    'disk_min_free_mb = 0',
  );
  t.teardown(p.cleanup);
  p.write(
    'agent-runner.toml',
    readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8').replace('base_s = 30', 'base_s = 3').replace('max_s = 60', 'max_s = 3'),
  );
  p.git('commit', '-qam', 'short back-off');
  mkdirSync(p.stateDir);
  const disk = await smallDisk(p.stateDir, 16);
  t.teardown(disk.close);
  const st = disk.view(p.stateDir);
  const s = startServe(p, [], disk.command(p.dir));
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('the back-off after round 1', () => kinds(readEvents(st)).includes('backoff_started'), 20_000);
  fill(st, 'filler', 0);
  await until('the failed start', () => /round 2 could not start: the file system is full/.test(s.stderr()), 20_000);
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(s.child.exitCode, null, 'serve is alive');
  rmSync(join(st, 'filler'));
  await until('the round runs', () => readRounds(st, disk.query).some((r) => r['classification'] === 'ok'), 20_000);
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0, s.stderr());
  const rounds = readRounds(st, disk.query);
  t.same(
    rounds.filter((r) => r['status'] === 'running'),
    [],
    'no row left running',
  );
  t.match(rounds.at(-1), { status: 'finished', classification: 'ok' });
  t.equal(integrity(st, disk.query), 'ok');
});
