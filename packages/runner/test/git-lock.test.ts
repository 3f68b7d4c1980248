import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearStaleIndexLock, INDEX_LOCK_MIN_AGE_MS } from '../src/git-lock.js';
import { gitPath } from '../src/vcs.js';
import { killTree } from '@agent-runner/testkit/procs';

const git = (dir: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir, encoding: 'utf8' });

t.test('a lock a killed git left is removed; one a live git holds, or a young one, is left', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-git-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  git(dir, 'init', '-q');
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'init');
  const lock = await gitPath(dir, 'index.lock');
  t.equal(lock, join(dir, '.git', 'index.lock'));
  const o = { selfPid: process.pid };
  t.same(clearStaleIndexLock(lock!, dir, { ...o, nowMs: Date.now() }), { state: 'none' });

  // A real git holding the lock: `git add` runs a slow clean filter with the index locked.
  writeFileSync(join(dir, '.gitattributes'), 'slow.txt filter=slow\n');
  writeFileSync(join(dir, 'slow.txt'), 'x\n');
  const adder = spawn('git', ['-c', 'filter.slow.clean=sleep 60; cat', 'add', 'slow.txt'], { cwd: dir, stdio: 'ignore', detached: true });
  // exitCode is null until node reaps the child, which may be after its group is gone.
  t.teardown(() => void (adder.exitCode === null && killTree(adder.pid!)));
  for (let i = 0; i < 200 && !existsSync(lock!); i++) await new Promise((r) => setTimeout(r, 25));
  t.ok(existsSync(lock!), 'git took the lock');
  t.match(clearStaleIndexLock(lock!, dir, { ...o, nowMs: Date.now() }), { state: 'young' }, 'a lock just taken is never judged');
  const later = Date.now() + INDEX_LOCK_MIN_AGE_MS + 1000;
  t.match(clearStaleIndexLock(lock!, dir, { ...o, nowMs: later }), { state: 'held', pid: adder.pid, comm: 'git' });
  t.ok(existsSync(lock!), 'left to the live git');

  // Killed mid-command (a round's group ended, an OOM kill): the lock stays, and git refuses.
  process.kill(-adder.pid!, 'SIGKILL');
  await new Promise((r) => adder.once('exit', r));
  t.ok(existsSync(lock!), 'the killed git left its lock');
  t.throws(() => git(dir, 'add', '.gitattributes'), /index\.lock/, 'every git command fails on it');
  t.match(clearStaleIndexLock(lock!, dir, { ...o, nowMs: Date.now() + INDEX_LOCK_MIN_AGE_MS + 1000 }), { state: 'removed' });
  t.notOk(existsSync(lock!));
  git(dir, 'add', '.gitattributes');
  t.pass('git works again');
});

t.test('a git working in another tree does not hold this one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-git-lock-'));
  const other = mkdtempSync(join(tmpdir(), 'ar-git-other-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  });
  for (const d of [dir, other]) git(d, 'init', '-q');
  writeFileSync(join(other, '.gitattributes'), 'slow.txt filter=slow\n');
  writeFileSync(join(other, 'slow.txt'), 'x\n');
  const adder = spawn('git', ['-c', 'filter.slow.clean=sleep 60; cat', 'add', 'slow.txt'], { cwd: other, stdio: 'ignore', detached: true });
  t.teardown(() => void (adder.exitCode === null && killTree(adder.pid!)));
  for (let i = 0; i < 200 && !existsSync(join(other, '.git', 'index.lock')); i++) await new Promise((r) => setTimeout(r, 25));
  const lock = join(dir, '.git', 'index.lock');
  writeFileSync(lock, '');
  t.match(clearStaleIndexLock(lock, dir, { selfPid: process.pid, nowMs: Date.now() + INDEX_LOCK_MIN_AGE_MS + 1000 }), { state: 'removed' });
});
