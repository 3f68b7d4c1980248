/**
 * Git hygiene after a round, through the `git` CLI (execFile, no shell); only the stash list
 * is read from git's files directly when the repository's layout allows (see orphanStashes).
 *
 * A dirty work tree is stashed, committed, or left alone. The runner's own state and log
 * directories, when they sit inside the work tree, are excluded with literal pathspecs
 * (`:(exclude,literal)<path>`) from every status, stash and add, so they are never swept in.
 * A stash is recorded by its commit SHA, never by `stash@{N}` (indices shift as stashes are
 * pushed and dropped), and both actions are idempotent across a crash: the round number is
 * in the stash message / commit trailer, and a re-run finds what the first run did.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { AgentRunnerError } from '@agent-runner/core/errors';

/** Prefix of every stash message agent-runner writes; `orphanStashes` keys on it. */
export const STASH_PREFIX = 'agent-runner round ';
/** Trailer naming the round in auto-commit messages. */
export const ROUND_TRAILER = 'Agent-Runner-Round';

/** Common options: environment for git (default: inherited) and a per-command timeout. */
export interface GitOptions {
  env?: Record<string, string | undefined>;
  /** Per git command, ms (default 120000): a signing prompt or hook must not hang the runner. */
  timeoutMs?: number;
}

interface GitResult {
  stdout: string;
  stderr: string;
  code: number;
}

function git(dir: string, args: string[], opts: GitOptions = {}): Promise<GitResult> {
  return new Promise((res, rej) => {
    execFile(
      'git',
      args,
      {
        cwd: dir,
        maxBuffer: 256 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 120_000,
        ...(opts.env ? { env: opts.env } : {}),
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            rej(new AgentRunnerError('ERR_AR_CONFIG_SEMANTIC', 'git not found on PATH', { cause: err }));
          } else {
            rej(new AgentRunnerError('ERR_AR_VCS', `git ${args.join(' ')} failed in ${dir}: ${err.message}`, { cause: err }));
          }
          return;
        }
        const e = err as (Error & { code?: number; killed?: boolean; signal?: string }) | null;
        if (e?.killed) {
          rej(new AgentRunnerError('ERR_AR_VCS', `git ${args.join(' ')} timed out in ${dir}`, { cause: err }));
          return;
        }
        res({ stdout, stderr, code: e ? (typeof e.code === 'number' ? e.code : 1) : 0 });
      },
    );
  });
}

/** The `fatal:`/`error:` lines of git's stderr (they say why), else its last lines. */
function gitWhy(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const key = lines.filter((l) => /^(fatal|error):/.test(l));
  return (key.length > 0 ? key : lines.slice(-3)).join(' | ');
}

async function gitOk(dir: string, args: string[], opts: GitOptions): Promise<string> {
  const r = await git(dir, args, opts);
  if (r.code !== 0) {
    throw new AgentRunnerError('ERR_AR_VCS', `git ${args.join(' ')} failed in ${dir} (exit ${r.code}): ${gitWhy(r.stderr)}`);
  }
  return r.stdout;
}

/**
 * The absolute path git uses for `name` in the git directory of the work tree at `dir`
 * (`git rev-parse --git-path`: right for linked worktrees and `$GIT_DIR` too).
 * @returns undefined when `dir` is not in a git repository.
 */
export async function gitPath(dir: string, name: string, opts: GitOptions = {}): Promise<string | undefined> {
  const r = await git(dir, ['rev-parse', '--git-path', name], opts);
  return r.code === 0 ? resolve(dir, r.stdout.trim()) : undefined;
}

/**
 * True when `dir` exists and is inside a git work tree (not a bare repository).
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC when git is not installed.
 */
export async function isWorkTree(dir: string, opts: GitOptions = {}): Promise<boolean> {
  try {
    if (!statSync(dir).isDirectory()) return false;
  } catch {
    return false; // ENOENT, EACCES: no work tree here, and the startup check says so
  }
  const r = await git(dir, ['rev-parse', '--is-inside-work-tree'], opts);
  return r.code === 0 && r.stdout.trim() === 'true';
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p); // ENOENT and the like: compare the path as written
  }
}

/**
 * The excludes git does not already ignore. An exclude pathspec naming an ignored path (the
 * usual `/.state/` in .gitignore) makes `git stash push` fail half-way — the stash is made but
 * the work tree is not cleaned — so ignored paths are left to .gitignore.
 */
async function notIgnored(dir: string, exclude: string[], opts: GitOptions): Promise<string[]> {
  const inside = exclude
    .map((ex) => ({ ex, rel: relative(real(dir), real(isAbsolute(ex) ? ex : resolve(dir, ex))) }))
    .filter(({ rel }) => !(rel.startsWith('..') || isAbsolute(rel) || rel === ''));
  if (inside.length === 0) return [];
  // One `git check-ignore` for all of them: it prints the ignored ones (exit 1: none is).
  const r = await git(dir, ['check-ignore', '--', ...inside.map((x) => x.rel)], opts);
  const ignored = new Set(r.stdout.split('\n').filter(Boolean));
  return inside.filter((x) => !ignored.has(x.rel)).map((x) => x.ex);
}

/**
 * The pathspec: everything under `dir`, minus each of `exclude` that lies inside it.
 * Paths are compared after realpath, so a symlinked state dir is still recognised.
 */
export function hygienePathspec(dir: string, exclude: string[]): string[] {
  const base = real(dir);
  const specs = ['.'];
  for (const ex of exclude) {
    const rel = relative(base, real(isAbsolute(ex) ? ex : resolve(dir, ex)));
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    specs.push(`:(exclude,literal)${rel === '' ? '.' : rel}`);
  }
  return specs;
}

/** One dirty path, from `git status --porcelain=v1 -z`. */
export interface DirtyFile {
  /** Two-letter XY status (`??` untracked, ` M` modified, `A ` added, `R ` renamed, ...). */
  status: string;
  /** Path relative to the repository root; an untracked directory ends in `/`. */
  path: string;
  /** Source path of a rename or copy. */
  origPath?: string;
}

/** Options of {@link dirtyState}. */
export interface DirtyStateOptions extends GitOptions {
  /** Paths (absolute, or relative to `dir`) never reported: the state and log dirs. */
  exclude?: string[];
}

/** The work tree's uncommitted changes. */
export interface DirtyState {
  dirty: boolean;
  files: DirtyFile[];
}

/** Parses `git status --porcelain=v1 -z` output (git-status(1), "Porcelain Format Version 1"). */
export function parsePorcelainZ(out: string): DirtyFile[] {
  const parts = out.split('\0');
  const files: DirtyFile[] = [];
  for (let i = 0; i < parts.length; i++) {
    const e = parts[i] as string;
    if (e.length < 4) continue;
    const status = e.slice(0, 2);
    const f: DirtyFile = { status, path: e.slice(3) };
    // Renames and copies carry the source path as the next NUL-separated field.
    if (status.includes('R') || status.includes('C')) {
      f.origPath = parts[i + 1] ?? '';
      i++;
    }
    files.push(f);
  }
  return files;
}

/**
 * Lists uncommitted changes under `dir`, untracked files included (directories collapsed),
 * ignored files not, excluded paths not. Uses `--no-optional-locks` so it never takes
 * `index.lock` away from an agent still working.
 * @throws AgentRunnerError ERR_AR_VCS when git fails (not a work tree, corrupt index).
 */
export async function dirtyState(dir: string, opts: DirtyStateOptions = {}): Promise<DirtyState> {
  const out = await gitOk(
    dir,
    [
      '--no-optional-locks',
      'status',
      '--porcelain=v1',
      '-z',
      '--untracked-files=normal',
      '--',
      ...hygienePathspec(dir, opts.exclude ?? []),
    ],
    opts,
  );
  const files = parsePorcelainZ(out);
  return { dirty: files.length > 0, files };
}

/** An agent-runner stash, by SHA. */
export interface RunnerStash {
  sha: string;
  round: number;
  /** The stash message (after `On <branch>: `). */
  message: string;
  /** Stash creation time, ms since epoch. */
  createdAtMs: number;
}

const STASH_SUBJECT = /^(?:On|WIP on) [^:]*: (.*)$/;
const ROUND_MESSAGE = /^agent-runner round (\d+)(?::|$)/;

/** One entry of the stash list: the stash commit, when it was made (s since epoch), its subject. */
interface StashEntry {
  sha: string;
  epochS: number;
  subject: string;
}

/**
 * The stash list read from the reflog git keeps for `refs/stash` in the files ref backend
 * (gitrepository-layout(5): `<common dir>/logs/refs/stash`, one line per stash, oldest first:
 * `<old sha> <new sha> <name> <<email>> <epoch s> <tz>\t<subject>`), newest first like `git
 * stash list`; a process spawn less for every `peek`. Undefined when git should be asked
 * instead: `GIT_DIR` / `GIT_COMMON_DIR` in `env`, no `.git` above `dir`, an unreadable layout,
 * or the reftable backend.
 */
function readStashReflog(dir: string, env: Record<string, string | undefined> | undefined): StashEntry[] | undefined {
  if (env?.['GIT_DIR'] || env?.['GIT_COMMON_DIR']) return undefined;
  try {
    let top = resolve(dir);
    while (!existsSync(join(top, '.git'))) {
      if (dirname(top) === top) return undefined;
      top = dirname(top);
    }
    let gitDir = join(top, '.git');
    if (statSync(gitDir).isFile()) {
      // A linked worktree or submodule: `.git` names the real git dir.
      const link = /^gitdir: (.+)$/m.exec(readFileSync(gitDir, 'utf8'))?.[1];
      if (!link) return undefined;
      gitDir = resolve(top, link.trim());
    }
    const common = existsSync(join(gitDir, 'commondir')) ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim()) : gitDir;
    if (existsSync(join(common, 'reftable'))) return undefined;
    const log = join(common, 'logs', 'refs', 'stash');
    if (!existsSync(log)) return [];
    const out: StashEntry[] = [];
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      const m = /^[0-9a-f]+ ([0-9a-f]+) [^\t]*> (\d+) [+-]\d{4}\t(.*)$/.exec(line);
      if (m) out.push({ sha: m[1] as string, epochS: Number(m[2]), subject: m[3] as string });
    }
    return out.reverse();
  } catch {
    return undefined; // an unreadable layout, as documented: git is asked instead
  }
}

async function gitStashList(dir: string, opts: GitOptions): Promise<StashEntry[]> {
  const r = await git(dir, ['stash', 'list', '--format=%H%x00%ct%x00%gs'], opts);
  if (r.code !== 0) {
    if (/does not have any commits|bad revision|unknown revision/.test(r.stderr)) return [];
    throw new AgentRunnerError('ERR_AR_VCS', `git stash list failed in ${dir}: ${gitWhy(r.stderr)}`);
  }
  return r.stdout
    .split('\n')
    .map((line) => line.split('\0'))
    .filter(([sha, , subject]) => sha && subject)
    .map(([sha, ct, subject]) => ({ sha: sha as string, epochS: Number(ct), subject: subject as string }));
}

/**
 * Stashes created by agent-runner (message starting with {@link STASH_PREFIX}), newest first,
 * with their SHAs: what `peek` reports as orphan stashes to salvage with
 * `git stash show -p <sha>` / `git stash apply <sha>`. Read from the stash reflog when the
 * repository uses the usual layout, else from `git stash list`.
 * @throws AgentRunnerError ERR_AR_VCS when git must be asked and fails.
 */
export async function orphanStashes(dir: string, opts: GitOptions = {}): Promise<RunnerStash[]> {
  const out: RunnerStash[] = [];
  for (const { sha, epochS, subject } of readStashReflog(dir, opts.env) ?? (await gitStashList(dir, opts))) {
    const message = STASH_SUBJECT.exec(subject)?.[1] ?? subject;
    const m = ROUND_MESSAGE.exec(message);
    if (m) out.push({ sha, round: Number(m[1]), message, createdAtMs: epochS * 1000 });
  }
  return out;
}

/** Options of {@link applyDirtyAction}. */
export interface DirtyActionOptions extends GitOptions {
  action: 'stash' | 'commit' | 'ignore';
  /** Paths never stashed or committed: the state and log dirs. */
  exclude?: string[];
  /** The round that left the tree dirty. */
  round: number;
  /**
   * Extra text: the stash message becomes `agent-runner round N: <message>`; the commit
   * subject becomes `<message>` (default `agent-runner: work of round N`).
   */
  message?: string;
  /** Commit with --no-verify (skip pre-commit/commit-msg hooks). Default false. */
  noVerify?: boolean;
}

/** What {@link applyDirtyAction} did. */
export interface DirtyActionResult {
  /** `none`: the tree was clean and no earlier run had acted for this round. */
  action: 'stash' | 'commit' | 'ignore' | 'none';
  /** Stash or commit SHA. */
  sha?: string;
  /** Dirty paths found (for `ignore`: left in place). */
  files: DirtyFile[];
  /** The stash or commit had been made by an earlier, interrupted run for this round. */
  recovered?: boolean;
}

async function findRoundStash(dir: string, round: number, opts: GitOptions): Promise<RunnerStash | undefined> {
  return (await orphanStashes(dir, opts)).find((s) => s.round === round);
}

async function hasHead(dir: string, opts: GitOptions): Promise<boolean> {
  return (await git(dir, ['rev-parse', '--verify', '-q', 'HEAD'], opts)).code === 0;
}

/** `-c user.name=… -c user.email=…` for whichever identity part git cannot determine. */
async function identityFallback(dir: string, opts: GitOptions): Promise<string[]> {
  const author = await git(dir, ['var', 'GIT_AUTHOR_IDENT'], opts);
  const committer = await git(dir, ['var', 'GIT_COMMITTER_IDENT'], opts);
  if (author.code === 0 && committer.code === 0) return [];
  const args: string[] = [];
  if ((await git(dir, ['config', '--get', 'user.name'], opts)).code !== 0) args.push('-c', 'user.name=agent-runner');
  if ((await git(dir, ['config', '--get', 'user.email'], opts)).code !== 0) {
    args.push('-c', 'user.email=agent-runner@localhost');
  }
  return args;
}

async function stash(dir: string, o: DirtyActionOptions, files: DirtyFile[]): Promise<DirtyActionResult> {
  const existing = await findRoundStash(dir, o.round, o);
  if (existing) return { action: 'stash', sha: existing.sha, files, recovered: true };
  if (files.length === 0) return { action: 'none', files };
  if (!(await hasHead(dir, o))) {
    throw new AgentRunnerError('ERR_AR_VCS', `cannot stash in ${dir}: the repository has no commit yet`, {
      hint: 'Make an initial commit, or set [vcs] dirty_action = "commit".',
    });
  }
  const message = `${STASH_PREFIX}${o.round}${o.message ? `: ${o.message}` : ''}`;
  await gitOk(dir, ['stash', 'push', '--include-untracked', '-m', message, '--', ...hygienePathspec(dir, o.exclude ?? [])], o);
  // stash@{0} is only trusted after checking it carries this round's message.
  const top = await git(dir, ['rev-parse', '-q', '--verify', 'stash@{0}'], o);
  const sha = top.stdout.trim();
  if (top.code === 0 && sha) {
    const subject = (await gitOk(dir, ['show', '-s', '--format=%s', sha], o)).trim();
    if (STASH_SUBJECT.exec(subject)?.[1] === message) return { action: 'stash', sha, files };
  }
  const found = await findRoundStash(dir, o.round, o);
  if (found) return { action: 'stash', sha: found.sha, files };
  throw new AgentRunnerError('ERR_AR_VCS', `git stash push reported success in ${dir} but no stash "${message}" exists`);
}

async function commit(dir: string, o: DirtyActionOptions, files: DirtyFile[]): Promise<DirtyActionResult> {
  const head = await hasHead(dir, o);
  if (files.length === 0) {
    if (head) {
      const body = await gitOk(dir, ['log', '-1', '--format=%H%x00%B', 'HEAD'], o);
      const [sha, msg] = body.split('\0');
      if (sha && msg && new RegExp(`^${ROUND_TRAILER}: ${o.round}$`, 'm').test(msg)) {
        return { action: 'commit', sha, files, recovered: true };
      }
    }
    return { action: 'none', files };
  }
  const spec = hygienePathspec(dir, o.exclude ?? []);
  await gitOk(dir, ['add', '-A', '--', ...spec], o);
  // The agent may have staged excluded paths itself; put them back to HEAD's state.
  const excluded = spec.slice(1).map((s) => s.replace(':(exclude,literal)', ':(literal)'));
  if (excluded.length > 0) {
    if (head) await gitOk(dir, ['reset', '-q', 'HEAD', '--', ...excluded], o);
    else await gitOk(dir, ['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', ...excluded], o);
  }
  const subject = o.message ?? `agent-runner: work of round ${o.round}`;
  const msg = `${subject}\n\n${ROUND_TRAILER}: ${o.round}\n`;
  const args = [...(await identityFallback(dir, o)), 'commit', '-q', '-m', msg];
  if (o.noVerify) args.push('--no-verify');
  await gitOk(dir, args, o);
  const sha = (await gitOk(dir, ['rev-parse', 'HEAD'], o)).trim();
  return { action: 'commit', sha, files };
}

/**
 * Applies the `[vcs] dirty_action` after round `round`.
 *
 * - `ignore`: reports the dirty files, changes nothing.
 * - `stash`: `git stash push --include-untracked -m "agent-runner round N" -- . <excludes>`,
 *   recorded by SHA. If a stash for this round already exists (a crash after the stash),
 *   its SHA is returned with `recovered` and nothing is stashed again.
 * - `commit`: `git add -A -- . <excludes>`, then `git commit` with the trailer
 *   `Agent-Runner-Round: N`; an author identity is supplied (`agent-runner
 *   <agent-runner@localhost>`) only for the parts git has none for. A clean tree whose HEAD
 *   carries this round's trailer is reported as `recovered`.
 *
 * @throws AgentRunnerError ERR_AR_VCS when a git command fails (the message names it),
 *   ERR_AR_CONFIG_SEMANTIC when git is not installed.
 */
export async function applyDirtyAction(dir: string, given: DirtyActionOptions): Promise<DirtyActionResult> {
  const { files } = await dirtyState(dir, given);
  // Excludes are only narrowed (one more git call) when something will be stashed or committed.
  const opts = files.length && given.action !== 'ignore' ? { ...given, exclude: await notIgnored(dir, given.exclude ?? [], given) } : given;
  switch (opts.action) {
    case 'ignore':
      return { action: files.length > 0 ? 'ignore' : 'none', files };
    case 'stash':
      return stash(dir, opts, files);
    case 'commit':
      return commit(dir, opts, files);
  }
}
