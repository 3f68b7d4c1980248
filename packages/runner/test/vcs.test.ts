import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyDirtyAction, dirtyState, hygienePathspec, isWorkTree, orphanStashes, parsePorcelainZ } from '../src/vcs.js';

const base = mkdtempSync(join(tmpdir(), 'ar-vcs-'));
// Isolated git: no global/system config, so identity behaviour is ours to set.
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: join(base, 'home'),
  GIT_CONFIG_NOSYSTEM: '1',
  LC_ALL: 'C',
};
mkdirSync(env.HOME!);

let n = 0;
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, env, encoding: 'utf8' });
}

/** A repo with one commit, an identity, and the runner's state dir inside the work tree. */
function repo(opts: { identity?: boolean; commit?: boolean } = {}): { dir: string; state: string; logs: string } {
  const dir = join(base, `repo-${++n}`);
  mkdirSync(dir);
  git(dir, 'init', '-q', '-b', 'main');
  if (opts.identity !== false) {
    git(dir, 'config', 'user.name', 'Repo Owner');
    git(dir, 'config', 'user.email', 'owner@example.com');
  }
  writeFileSync(join(dir, 'README.md'), 'hello\n');
  writeFileSync(join(dir, 'src.txt'), 'v1\n');
  if (opts.commit !== false) {
    git(dir, 'add', '-A');
    git(dir, '-c', 'user.name=Setup', '-c', 'user.email=setup@example.com', 'commit', '-q', '-m', 'initial');
  }
  const state = join(dir, '.agent-runner');
  const logs = join(state, 'logs');
  mkdirSync(logs, { recursive: true });
  writeFileSync(join(state, 'ledger.sqlite'), 'db');
  writeFileSync(join(logs, 'R1-20260101T000000Z.log'), 'round output');
  return { dir, state, logs };
}

function dirtyUp(dir: string): void {
  writeFileSync(join(dir, 'src.txt'), 'v2 by the agent\n');
  mkdirSync(join(dir, 'new'), { recursive: true });
  writeFileSync(join(dir, 'new', 'file.txt'), 'untracked work\n');
}

t.test('isWorkTree', async (t) => {
  const { dir } = repo();
  t.equal(await isWorkTree(dir, { env }), true);
  t.equal(await isWorkTree(join(dir, 'new-missing'), { env }), false);
  const plain = join(base, 'plain');
  mkdirSync(plain);
  t.equal(await isWorkTree(plain, { env: { ...env, GIT_CEILING_DIRECTORIES: base } }), false);
});

t.test('dirtyState lists changes, untracked included, state dirs excluded', async (t) => {
  const { dir, state, logs } = repo();
  t.same(await dirtyState(dir, { env, exclude: [state, logs] }), { dirty: false, files: [] }, 'state dir alone is not dirt');
  const all = await dirtyState(dir, { env });
  t.ok(
    all.files.some((f) => f.path === '.agent-runner/'),
    'without exclude it would show',
  );
  dirtyUp(dir);
  const d = await dirtyState(dir, { env, exclude: [state, logs, '/elsewhere/outside'] });
  t.same(d.files, [
    { status: ' M', path: 'src.txt' },
    { status: '??', path: 'new/' },
  ]);
  t.same(hygienePathspec(dir, [state, '/elsewhere']), ['.', ':(exclude,literal).agent-runner']);
});

t.test('parsePorcelainZ handles renames', async (t) => {
  t.same(parsePorcelainZ('R  new name.txt\0old name.txt\0?? a b\0'), [
    { status: 'R ', path: 'new name.txt', origPath: 'old name.txt' },
    { status: '??', path: 'a b' },
  ]);
});

t.test('stash: recorded by SHA, state dir untouched, idempotent', async (t) => {
  const { dir, state, logs } = repo();
  dirtyUp(dir);
  const r = await applyDirtyAction(dir, { env, action: 'stash', exclude: [state, logs], round: 5 });
  t.equal(r.action, 'stash');
  t.match(r.sha, /^[0-9a-f]{40}$/);
  t.equal(r.sha, git(dir, 'rev-parse', 'stash@{0}').trim());
  t.equal(r.files.length, 2);
  t.equal(
    git(dir, 'status', '--porcelain', '-uall').trim(),
    '?? .agent-runner/ledger.sqlite\n?? .agent-runner/logs/R1-20260101T000000Z.log',
    'only the state dir remains',
  );
  t.equal(readFileSync(join(state, 'ledger.sqlite'), 'utf8'), 'db', 'state files untouched');
  t.ok(existsSync(join(logs, 'R1-20260101T000000Z.log')));
  t.notMatch(git(dir, 'stash', 'show', '--include-untracked', '--name-only', r.sha!), '.agent-runner', 'not in the stash');
  t.match(git(dir, 'stash', 'show', '--include-untracked', '--name-only', r.sha!), 'new/file.txt');

  // A crash after the stash: the re-run finds it instead of stashing again.
  const again = await applyDirtyAction(dir, { env, action: 'stash', exclude: [state, logs], round: 5 });
  t.same(again, { action: 'stash', sha: r.sha, files: [], recovered: true });
  t.equal(git(dir, 'stash', 'list').trim().split('\n').length, 1, 'still one stash');

  // Other stashes pushed on top shift indices; the SHA stays valid.
  writeFileSync(join(dir, 'README.md'), 'human edit\n');
  git(dir, 'stash', 'push', '-q', '-m', 'a human stash');
  dirtyUp(dir);
  const r6 = await applyDirtyAction(dir, { env, action: 'stash', exclude: [state, logs], round: 6, message: 'tests failing' });
  const orphans = await orphanStashes(dir, { env });
  t.same(
    orphans.map((o) => [o.round, o.sha, o.message]),
    [
      [6, r6.sha, 'agent-runner round 6: tests failing'],
      [5, r.sha, 'agent-runner round 5'],
    ],
    'only agent-runner stashes, newest first, by SHA',
  );
  t.ok(orphans.every((o) => Math.abs(o.createdAtMs - Date.now()) < 120_000));
  t.equal(git(dir, 'rev-parse', 'stash@{2}').trim(), r.sha, 'index moved, SHA did not');
});

t.test('stash of a tree dirty only in the state dir does nothing', async (t) => {
  const { dir, state, logs } = repo();
  writeFileSync(join(logs, 'R2-20260101T000000Z.log'), 'more');
  const r = await applyDirtyAction(dir, { env, action: 'stash', exclude: [state, logs], round: 2 });
  t.same(r, { action: 'none', files: [] });
  t.equal(git(dir, 'stash', 'list'), '');
});

t.test('stash without any commit is a clear error', async (t) => {
  const { dir, state } = repo({ commit: false });
  await t.rejects(applyDirtyAction(dir, { env, action: 'stash', exclude: [state], round: 1 }), {
    code: 'ERR_AR_VCS',
    message: /no commit yet/,
  });
});

t.test('commit: work committed with a round trailer, state dir never swept in', async (t) => {
  const { dir, state, logs } = repo();
  dirtyUp(dir);
  // The agent even staged the state dir itself.
  git(dir, 'add', '-f', '.agent-runner');
  const r = await applyDirtyAction(dir, { env, action: 'commit', exclude: [state, logs], round: 9 });
  t.equal(r.action, 'commit');
  t.equal(r.sha, git(dir, 'rev-parse', 'HEAD').trim());
  const files = git(dir, 'show', '--name-only', '--format=', 'HEAD').trim().split('\n').sort();
  t.same(files, ['new/file.txt', 'src.txt']);
  t.equal(git(dir, 'log', '-1', '--format=%an <%ae>').trim(), 'Repo Owner <owner@example.com>', 'configured identity used');
  t.match(git(dir, 'log', '-1', '--format=%B'), /^agent-runner: work of round 9\n\nAgent-Runner-Round: 9\n/);
  t.equal(git(dir, 'diff', '--cached', '--name-only'), '', 'state dir unstaged again');
  const again = await applyDirtyAction(dir, { env, action: 'commit', exclude: [state, logs], round: 9 });
  t.same(again, { action: 'commit', sha: r.sha, files: [], recovered: true });
  t.same(await applyDirtyAction(dir, { env, action: 'commit', exclude: [state, logs], round: 10 }), { action: 'none', files: [] });
});

t.test('commit: identity fallback only when git has none', async (t) => {
  const { dir, state } = repo({ identity: false });
  dirtyUp(dir);
  const r = await applyDirtyAction(dir, { env, action: 'commit', exclude: [state], round: 1, message: 'round 1 work' });
  t.equal(
    git(dir, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%s', r.sha!).trim(),
    'agent-runner <agent-runner@localhost>|agent-runner <agent-runner@localhost>|round 1 work',
  );
  t.throws(() => git(dir, 'config', '--get-regexp', '^user\\.'), 'no identity written to the config');
});

t.test('commit: the first commit of an empty repository', async (t) => {
  const { dir, state } = repo({ commit: false });
  git(dir, 'add', '-f', '.agent-runner');
  const r = await applyDirtyAction(dir, { env, action: 'commit', exclude: [state], round: 1 });
  t.same(git(dir, 'show', '--name-only', '--format=', 'HEAD').trim().split('\n').sort(), ['README.md', 'src.txt']);
  t.ok(r.sha);
});

t.test('ignore: reports and changes nothing', async (t) => {
  const { dir, state } = repo();
  dirtyUp(dir);
  const before = git(dir, 'status', '--porcelain');
  const r = await applyDirtyAction(dir, { env, action: 'ignore', exclude: [state], round: 3 });
  t.equal(r.action, 'ignore');
  t.equal(r.files.length, 2);
  t.equal(git(dir, 'status', '--porcelain'), before);
  t.equal(git(dir, 'stash', 'list'), '');
  t.same(await orphanStashes(dir, { env }), []);
});

t.test('orphanStashes reads the stash reflog as git stash list does (dropped stashes, subdirectories, worktrees)', async (t) => {
  const { dir, state, logs } = repo();
  for (const round of [1, 2, 3]) {
    dirtyUp(dir);
    await applyDirtyAction(dir, {
      env,
      action: 'stash',
      exclude: [state, logs],
      round,
      ...(round === 2 ? { message: 'it said "done" (twice)' } : {}),
    });
  }
  writeFileSync(join(dir, 'README.md'), 'human edit\n');
  git(dir, 'stash', 'push', '-q', '-m', 'a human stash');
  git(dir, 'stash', 'drop', '-q', 'stash@{2}'); // round 2's: the reflog is rewritten
  const viaGit = await orphanStashes(dir, { env: { ...env, GIT_DIR: join(dir, '.git') } }); // GIT_DIR: only git can tell
  t.same(
    viaGit.map((s) => s.round),
    [3, 1],
  );
  const strip = (list: Awaited<ReturnType<typeof orphanStashes>>) => list.map(({ sha, round, message }) => ({ sha, round, message }));
  const direct = await orphanStashes(dir, { env });
  t.same(strip(direct), strip(viaGit), 'the same stashes, newest first');
  t.same(strip(await orphanStashes(dir, { env: { ...env, PATH: '/nonexistent' } })), strip(viaGit), 'read without running git');
  t.ok(
    direct.every((s, i) => Math.abs(s.createdAtMs - viaGit[i]!.createdAtMs) <= 2000),
    'the same times (reflog vs commit time)',
  );
  mkdirSync(join(dir, 'sub'));
  t.same(strip(await orphanStashes(join(dir, 'sub'), { env })), strip(viaGit), 'from a subdirectory');
  const wt = join(base, `wt-${++n}`);
  git(dir, 'worktree', 'add', '-q', wt);
  t.same(strip(await orphanStashes(wt, { env })), strip(viaGit), 'from a linked worktree (the stash is shared)');
  git(dir, 'stash', 'clear');
  t.same(await orphanStashes(dir, { env }), []);
});

t.test('a failing git command names itself', async (t) => {
  const { dir, state } = repo();
  dirtyUp(dir);
  writeFileSync(join(dir, '.git', 'index.lock'), '');
  await t.rejects(applyDirtyAction(dir, { env, action: 'commit', exclude: [state], round: 1 }), {
    code: 'ERR_AR_VCS',
    message: /git add -A .*index\.lock/s,
  });
});
