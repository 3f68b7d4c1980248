// Identity contract against real processes and real /proc (plus fake proc trees for parsing
// and fail-closed cases). Children that need the library run dist/ (build first).
import t from 'tap';
import { until } from '@agent-runner/testkit/until';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { projectPaths } from '../src/paths.js';
import {
  createEnrollment,
  enrollmentPath,
  type EnrollmentRecord,
  inspectEnrollment,
  isSameProcess,
  parseProcStat,
  readBootId,
  readEnrollment,
  readExe,
  readProcStat,
  removeEnrollment,
  signalGroupIfSame,
  signalIfSame,
  verifyIdentity,
  writeEnrollment,
} from '../src/identity.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/identity-enroll.mjs', import.meta.url));
const OPTS = { version: '0.0.0-test', project: 'p', nowMs: Date.parse('2025-01-01T00:00:00Z') };
const realKill = (pid: number, sig: NodeJS.Signals): void => {
  process.kill(pid, sig);
};

/** The part of a tap test the helpers need. */
interface Teardown {
  teardown(fn: () => void): void;
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Spawns a command and kills it (or its group) at the end of the test. */
function spawnTracked(t: Teardown, cmd: string, args: string[], detached = false): ChildProcess & { pid: number } {
  const child = spawn(cmd, args, { stdio: 'ignore', detached });
  if (child.pid === undefined) throw new Error(`cannot spawn ${cmd}`);
  t.teardown(() => {
    try {
      process.kill(detached ? -(child.pid as number) : (child.pid as number), 'SIGKILL');
    } catch {
      /* already gone */
    }
  });
  return child as ChildProcess & { pid: number };
}

/** All processes whose stat matches `pred` (scans /proc; /proc/PID/task/TID/children is not always built in). */
function findProcs(pred: (s: NonNullable<ReturnType<typeof readProcStat>>) => boolean): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = readProcStat(Number(name));
      if (st && pred(st)) out.push(st.pid);
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

async function liveSleep(t: Teardown): Promise<{ child: ChildProcess & { pid: number }; rec: EnrollmentRecord }> {
  const child = spawnTracked(t, 'sleep', ['30']);
  await until('sleep to exec', () => readProcStat(child.pid)?.comm === 'sleep');
  return { child, rec: createEnrollment('runner', child.pid, OPTS) };
}

function isAlive(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

/** A stat line with 52 fields, as Linux writes it, for a fake proc tree. */
function statLine(pid: number, comm: string, state: string, starttime: number): string {
  const f = [
    state,
    '1',
    String(pid),
    String(pid),
    '0',
    '-1',
    '4194560',
    '100',
    '0',
    '0',
    '0',
    '0',
    '0',
    '0',
    '0',
    '20',
    '0',
    '1',
    '0',
    String(starttime),
  ];
  while (f.length < 50) f.push('0');
  return `${pid} (${comm}) ${f.join(' ')}\n`;
}

const FAKE_BOOT = '11111111-2222-3333-4444-555555555555';

function fakeProc(root: string, procs: Array<{ pid: number; stat: string }>): string {
  mkdirSync(join(root, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(root, 'sys/kernel/random/boot_id'), `${FAKE_BOOT}\n`);
  mkdirSync(join(root, 'self'), { recursive: true });
  for (const p of procs) {
    mkdirSync(join(root, String(p.pid)), { recursive: true });
    writeFileSync(join(root, String(p.pid), 'stat'), p.stat);
  }
  return root;
}

function fakeRecord(pid: number, comm: string, starttime: number): EnrollmentRecord {
  return {
    unit: 'runner',
    pid,
    boot_id: FAKE_BOOT,
    starttime_ticks: starttime,
    comm,
    exe: null,
    version: '0',
    started_at: '2025-01-01T00:00:00.000Z',
    started_at_ms: 0,
    nonce: 'n',
    project: 'p',
  };
}

t.test('readBootId and readProcStat read the running system', async (t) => {
  const boot = readBootId();
  t.match(boot, /^[0-9a-f-]{36}$/);
  t.equal(boot, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  const { child } = await liveSleep(t);
  const st = readProcStat(child.pid);
  t.ok(st);
  t.equal(st?.pid, child.pid);
  t.equal(st?.comm, 'sleep');
  t.equal(st?.ppid, process.pid);
  t.ok((st?.starttimeTicks ?? 0) > 0);
  t.equal(readExe(child.pid), '/usr/bin/sleep');
  t.equal(readExe(1 << 30), undefined, 'readExe of a pid that cannot exist is undefined');
  t.equal(readProcStat(4194304 + 1), undefined, 'above pid_max: no such process');
  t.throws(() => readProcStat(0), { code: 'ERR_AR_USAGE' });
  t.throws(() => readProcStat(-5), { code: 'ERR_AR_USAGE' });
});

t.test('stat parsing: comm between the first ( and the LAST )', async (t) => {
  const st = parseProcStat(statLine(4242, 'a) b (c', 'S', 123456));
  t.same(
    { comm: st.comm, state: st.state, ppid: st.ppid, pgid: st.pgid, sid: st.sid, start: st.starttimeTicks },
    { comm: 'a) b (c', state: 'S', ppid: 1, pgid: 4242, sid: 4242, start: 123456 },
  );
  // A comm crafted to fool a parser that stops at the first ')': it would read state Z.
  const tricky = parseProcStat(statLine(77, 'x) Z 1 1 1 (y', 'S', 999));
  t.equal(tricky.comm, 'x) Z 1 1 1 (y');
  t.equal(tricky.state, 'S');
  t.equal(tricky.starttimeTicks, 999);
  t.equal(parseProcStat(statLine(5, '', 'R', 1)).comm, '', 'empty comm');
  t.equal(parseProcStat(statLine(5, ')))', 'R', 7)).starttimeTicks, 7);
  for (const bad of [
    '',
    '12 sleep S 1',
    '12 (sleep) S 1 2 3',
    '12 (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x',
    'x (sleep) ' + 'S 1'.padEnd(60, ' 0'),
  ]) {
    t.throws(() => parseProcStat(bad), { code: 'ERR_AR_IO' }, `rejects ${JSON.stringify(bad.slice(0, 30))}`);
  }

  const root = fakeProc(t.testdir(), [
    { pid: 4242, stat: statLine(4242, 'a) b (c', 'S', 123456) },
    { pid: 77, stat: statLine(77, 'x) Z 1 1 1 (y', 'S', 999) },
  ]);
  t.equal(readProcStat(4242, root)?.comm, 'a) b (c');
  t.equal(verifyIdentity(fakeRecord(4242, 'a) b (c', 123456), { procRoot: root }).verdict, 'same');
  t.equal(verifyIdentity(fakeRecord(77, 'x) Z 1 1 1 (y', 999), { procRoot: root }).verdict, 'same', 'not mistaken for a zombie');
  t.equal(verifyIdentity(fakeRecord(4242, 'a) b (c', 123457), { procRoot: root }).verdict, 'recycled');
  t.equal(verifyIdentity(fakeRecord(4243, 'a) b (c', 123456), { procRoot: root }).verdict, 'gone');
});

t.test('stat parsing of a real process whose comm has spaces and parentheses', async (t) => {
  const dir = t.testdir();
  const link = join(dir, 'a) b (c');
  symlinkSync('/usr/bin/sleep', link); // comm is the base name of the path given to execve
  const child = spawnTracked(t, link, ['30']);
  // Right after exec the state may still be R; once asleep it must read S, which proves the
  // fields after the comm were found.
  await until('exec and sleep', () => {
    const st = readProcStat(child.pid);
    return (st?.state === 'S' && st.comm === 'a) b (c') || undefined;
  });
  const st = readProcStat(child.pid);
  t.equal(st?.comm, 'a) b (c');
  t.equal(st?.state, 'S');
  t.equal(st?.ppid, process.pid);
  const rec = createEnrollment('runner', child.pid, OPTS);
  t.equal(rec.comm, 'a) b (c');
  t.same(verifyIdentity(rec).verdict, 'same');
});

t.test('verdicts for a real live process', async (t) => {
  const { rec } = await liveSleep(t);
  t.equal(rec.exe, '/usr/bin/sleep');
  t.equal(rec.boot_id, readBootId());
  const same = verifyIdentity(rec);
  t.equal(same.verdict, 'same', same.reason);
  t.ok(isSameProcess(rec));

  const recycled = verifyIdentity({ ...rec, starttime_ticks: rec.starttime_ticks + 1 });
  t.equal(recycled.verdict, 'recycled');
  t.match(recycled.reason, /tick/);
  t.notOk(isSameProcess({ ...rec, starttime_ticks: rec.starttime_ticks - 1 }));

  t.equal(verifyIdentity({ ...rec, boot_id: 'another-boot' }).verdict, 'other-boot');
  t.equal(verifyIdentity(rec, { bootId: 'another-boot' }).verdict, 'other-boot');
  const comm = verifyIdentity({ ...rec, comm: 'node' });
  t.equal(comm.verdict, 'recycled');
  t.match(comm.reason, /"sleep"/);
  t.equal(verifyIdentity({ ...rec, exe: '/usr/bin/true' }).verdict, 'recycled', 'exe compared when both readable');
  t.equal(verifyIdentity({ ...rec, exe: null }).verdict, 'same', 'exe skipped when the record has none');
  t.equal(verifyIdentity({ ...rec, exe: '/usr/bin/sleep (deleted)' }).verdict, 'same', 'a replaced binary is still the process');

  // Gate order: boot first, then existence/zombie, then starttime, then comm.
  t.equal(verifyIdentity({ ...rec, boot_id: 'x', starttime_ticks: 1, comm: 'x' }).verdict, 'other-boot');
  t.match(verifyIdentity({ ...rec, starttime_ticks: 1, comm: 'x' }).reason, /tick/);

  t.equal(verifyIdentity({ ...rec, pid: 1 }).verdict, 'unknown', 'never pid 1');
  t.equal(verifyIdentity({ ...rec, pid: 0 }).verdict, 'unknown');
  t.equal(verifyIdentity({ ...rec, starttime_ticks: 'x' } as unknown as EnrollmentRecord).verdict, 'unknown');
});

t.test('a gone process is gone', async (t) => {
  const { child, rec } = await liveSleep(t);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited; // node has reaped it
  const v = verifyIdentity(rec);
  t.equal(v.verdict, 'gone', v.reason);
});

t.test('a zombie is not the unit', async (t) => {
  // The outer sh forks `sleep 1` and execs `sleep 30`, which never reaps: the inner sleep
  // becomes a zombie of the outer process when it exits.
  const outer = spawnTracked(t, 'sh', ['-c', 'sleep 1 & exec sleep 30']);
  const inner = await until('inner sleep', () => findProcs((s) => s.ppid === outer.pid && s.comm === 'sleep')[0]);
  const rec = createEnrollment('runner', inner, OPTS);
  t.not(readProcStat(inner)?.state, 'Z', 'enrolled while alive');
  await until('zombie state', () => readProcStat(inner)?.state === 'Z', 5000);
  t.equal(readProcStat(inner)?.state, 'Z', '/proc says Z');
  const v = verifyIdentity(rec);
  t.equal(v.verdict, 'zombie', v.reason);
  t.equal(verifyIdentity({ ...rec, starttime_ticks: 1 }).verdict, 'zombie', 'zombie gate comes before starttime');
  const calls: number[] = [];
  const r = signalIfSame(rec, 'SIGKILL', (pid) => calls.push(pid));
  t.same({ sent: r.sent, calls }, { sent: false, calls: [] });
});

t.test('unreadable or fake /proc fails closed: unknown', async (t) => {
  const { rec } = await liveSleep(t);
  const empty = t.testdir();
  t.equal(verifyIdentity(rec, { procRoot: empty }).verdict, 'unknown', 'empty procRoot: no boot_id');
  t.equal(verifyIdentity(rec, { procRoot: empty, bootId: rec.boot_id }).verdict, 'unknown', 'empty procRoot, boot known: not "gone"');
  t.equal(verifyIdentity(rec, { procRoot: join(empty, 'nope') }).verdict, 'unknown', 'missing procRoot');

  const bad = t.testdir();
  fakeProc(bad, [{ pid: rec.pid, stat: 'garbage without parentheses\n' }]);
  const v = verifyIdentity({ ...rec, boot_id: FAKE_BOOT }, { procRoot: bad });
  t.equal(v.verdict, 'unknown', v.reason);
  t.match(v.reason, /malformed/);

  const truncated = t.testdir();
  fakeProc(truncated, [{ pid: rec.pid, stat: `${rec.pid} (sleep) S 1 2 3\n` }]);
  t.equal(verifyIdentity({ ...rec, boot_id: FAKE_BOOT }, { procRoot: truncated }).verdict, 'unknown', 'truncated stat');

  const wrongPid = t.testdir();
  fakeProc(wrongPid, [{ pid: rec.pid, stat: statLine(rec.pid + 1, 'sleep', 'S', rec.starttime_ticks) }]);
  t.equal(verifyIdentity({ ...rec, boot_id: FAKE_BOOT }, { procRoot: wrongPid }).verdict, 'unknown', 'stat of another pid');

  const dirStat = t.testdir();
  fakeProc(dirStat, []);
  mkdirSync(join(dirStat, String(rec.pid), 'stat'), { recursive: true }); // EISDIR on read
  t.equal(verifyIdentity({ ...rec, boot_id: FAKE_BOOT }, { procRoot: dirStat }).verdict, 'unknown', 'unreadable stat');
  t.notOk(isSameProcess(rec, { procRoot: empty }));
});

t.test('signalIfSame never signals a process whose identity does not match', async (t) => {
  const { child, rec } = await liveSleep(t);
  const calls: Array<[number, string]> = [];
  const kill = (pid: number, sig: NodeJS.Signals): void => {
    calls.push([pid, sig]);
    process.kill(pid, sig);
  };
  for (const wrong of [
    { ...rec, starttime_ticks: rec.starttime_ticks + 100 },
    { ...rec, comm: 'other' },
    { ...rec, boot_id: 'other' },
  ]) {
    const r = signalIfSame(wrong, 'SIGKILL', kill);
    t.equal(r.sent, false);
    t.not(r.verdict, 'same');
  }
  t.equal(signalIfSame(rec, 'SIGKILL', kill, { procRoot: t.testdir() }).verdict, 'unknown');
  t.equal(signalGroupIfSame({ ...rec, starttime_ticks: 1 }, 'SIGKILL', kill).sent, false);
  t.same(calls, [], 'kill never called');
  await sleepMs(200);
  t.ok(isAlive(child.pid), 'the sleep is still alive');
  t.equal(child.exitCode, null);
  t.equal(child.signalCode, null);

  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
  const ok = signalIfSame(rec, 'SIGTERM', kill);
  t.same({ verdict: ok.verdict, sent: ok.sent }, { verdict: 'same', sent: true });
  t.equal(await exited, 'SIGTERM', 'the right process got the signal');
  t.same(calls, [[rec.pid, 'SIGTERM']]);
  const after = signalIfSame(rec, 'SIGTERM', kill);
  t.same({ verdict: after.verdict, sent: after.sent }, { verdict: 'gone', sent: false });

  // A process that vanishes between the check and kill(2) reads as gone, not as an error.
  const { rec: rec2, child: c2 } = await liveSleep(t);
  const vanished = signalIfSame(rec2, 'SIGTERM', (pid) => {
    process.kill(pid, 'SIGKILL');
    const e = new Error('kill ESRCH') as NodeJS.ErrnoException;
    e.code = 'ESRCH';
    throw e;
  });
  t.same({ verdict: vanished.verdict, sent: vanished.sent }, { verdict: 'gone', sent: false });
  await new Promise((r) => (c2.exitCode !== null || c2.signalCode !== null ? r(null) : c2.once('exit', r)));
});

t.test('signalGroupIfSame signals the whole group only for its verified leader', async (t) => {
  const leader = spawnTracked(t, 'sh', ['-c', 'sleep 30 & sleep 30 & wait'], true);
  const members = await until('two sleeps in the group', () => {
    const m = findProcs((s) => s.pgid === leader.pid && s.comm === 'sleep');
    return m.length === 2 ? m : undefined;
  });
  const rec = createEnrollment('runner', leader.pid, OPTS);
  t.equal(readProcStat(leader.pid)?.pgid, leader.pid, 'detached child leads its group');

  const wrong = signalGroupIfSame({ ...rec, starttime_ticks: rec.starttime_ticks + 1 }, 'SIGKILL', realKill);
  t.same({ verdict: wrong.verdict, sent: wrong.sent }, { verdict: 'recycled', sent: false });
  const memberRec = createEnrollment('runner', members[0] as number, OPTS);
  const notLeader = signalGroupIfSame(memberRec, 'SIGKILL', realKill);
  t.same({ verdict: notLeader.verdict, sent: notLeader.sent }, { verdict: 'same', sent: false }, notLeader.reason);
  await sleepMs(100);
  t.ok([leader.pid, ...members].every(isAlive), 'nobody signalled');

  const ok = signalGroupIfSame(rec, 'SIGKILL', realKill);
  t.same({ verdict: ok.verdict, sent: ok.sent }, { verdict: 'same', sent: true });
  await until('group gone', () => ![leader.pid, ...members].some(isAlive));
  t.pass('leader and both members are gone');
});

t.test('enrollment records: self-enrollment by a real unit, atomic 0600 file, clean removal', async (t) => {
  const stateDir = t.testdir();
  const paths = projectPaths('fixture', stateDir, join(stateDir, 'logs'));
  const child = spawn(process.execPath, [FIXTURE, stateDir, 'bridge'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((r) => lines.once('line', () => r()));

  const rec = readEnrollment(paths, 'bridge');
  t.ok(rec, 'record written');
  if (!rec) return;
  t.equal(rec.pid, child.pid);
  t.equal(rec.unit, 'bridge');
  t.equal(rec.comm, 'node');
  t.equal(rec.exe, process.execPath);
  t.equal(rec.version, '0.0.0-test');
  t.equal(rec.nonce.length, 32);
  t.equal(rec.argv0, FIXTURE);
  t.equal(statSync(enrollmentPath(paths, 'bridge')).mode & 0o777, 0o600);
  t.equal(statSync(paths.runDir).mode & 0o777, 0o700);
  t.same(readdirSync(paths.runDir), ['enroll-bridge.json'], 'no temp files left');
  t.equal(verifyIdentity(rec).verdict, 'same');

  const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.equal(signalIfSame(rec, 'SIGTERM', realKill).sent, true);
  t.equal(await exit, 0, 'the unit removed its own record');
  t.equal(readEnrollment(paths, 'bridge'), undefined);
  t.equal(inspectEnrollment(paths, 'bridge').problem, 'missing');
});

t.test('enrollment records: malformed, foreign and not-ours records', async (t) => {
  const stateDir = t.testdir();
  const paths = projectPaths('p', stateDir, join(stateDir, 'logs'));
  const { rec } = await liveSleep(t);
  writeEnrollment(paths, rec);
  t.same(readEnrollment(paths, 'runner'), rec);

  t.equal(removeEnrollment(paths, 'runner', 'not-our-nonce'), false, 'a successor record is not ours');
  t.same(readEnrollment(paths, 'runner'), rec, 'and stays in place');
  t.same(readdirSync(paths.runDir), ['enroll-runner.json'], 'no claim file left behind');
  t.equal(removeEnrollment(paths, 'runner', rec.nonce), true);
  t.equal(removeEnrollment(paths, 'runner', rec.nonce), false, 'second removal: nothing there');

  const path = enrollmentPath(paths, 'runner');
  for (const [content, why] of [
    ['{"unit":"runner"', 'truncated JSON'],
    ['[]', 'an array'],
    [JSON.stringify({ ...rec, pid: 'x' }), 'a string pid'],
    [JSON.stringify({ ...rec, unit: 'bridge' }), 'another unit'],
    [JSON.stringify({ ...rec, unit: '../x' }), 'invalid unit'],
    ['', 'empty'],
  ] as const) {
    writeFileSync(path, content);
    const r = inspectEnrollment(paths, 'runner');
    t.equal(r.value, undefined, why);
    t.equal(r.problem, 'malformed', `${why}: ${r.detail}`);
    t.equal(readEnrollment(paths, 'runner'), undefined);
  }
  writeFileSync(path, 'garbage');
  t.equal(removeEnrollment(paths, 'runner', rec.nonce), false, 'a malformed record is not provably ours');
  t.equal(readFileSync(path, 'utf8'), 'garbage', 'so it is left in place');

  t.throws(() => writeEnrollment(paths, { ...rec, pid: -1 }), { code: 'ERR_AR_USAGE' });
  t.throws(() => writeEnrollment(paths, { ...rec, unit: '../../etc' }), { code: 'ERR_AR_USAGE' });
  t.throws(() => createEnrollment('Runner', rec.pid, OPTS), { code: 'ERR_AR_USAGE' });
  t.throws(() => readEnrollment(paths, '../x'), { code: 'ERR_AR_USAGE' });
  t.throws(() => createEnrollment('runner', 4194305, OPTS), { code: 'ERR_AR_IO' });
  t.throws(() => createEnrollment('runner', rec.pid, { ...OPTS, procRoot: t.testdir() }), { code: 'ERR_AR_IO' });
});
