/**
 * A stale `index.lock` in the work tree's git directory. Git creates it for every command that
 * writes the index and removes it when done; a git killed meanwhile (a round's agent ended by a
 * limit, serve killed with its cgroup, an OOM kill, a power cut) leaves it behind, and from then
 * on every git command in the tree — the agent's and the runner's own hygiene — fails with
 * "Unable to create '…/index.lock': File exists": every round crashes until a human removes it.
 * Between rounds no process of the runner's runs git, so a lock no live process can be using is
 * removed.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { isErrno } from '@agent-runner/core/errors';

/** A lock younger than this may belong to a git that is starting right now, ms. */
export const INDEX_LOCK_MIN_AGE_MS = 2000;

/** What {@link clearStaleIndexLock} found. */
export type IndexLockCheck =
  | { state: 'none' }
  | { state: 'removed'; ageMs: number }
  /** Too young to judge: left for the next check. */
  | { state: 'young'; ageMs: number }
  /** A live git has its working directory in the work tree (a long `git add` through a clean filter, say): left alone. */
  | { state: 'held'; pid: number; comm: string };

/** Options of {@link clearStaleIndexLock}. */
export interface IndexLockOptions {
  /** Wall clock, epoch ms (the lock's age is measured against its mtime). */
  nowMs: number;
  /** This process, never counted as a holder. */
  selfPid: number;
  procRoot?: string;
}

/**
 * Removes `lockPath` when it is stale: at least {@link INDEX_LOCK_MIN_AGE_MS} old and no live
 * git process (of this user: others cannot be inspected, and the work tree is the service
 * user's) has its working directory inside `workDir`.
 * @throws the error of `rmSync` other than ENOENT (the lock cannot be removed: a read-only
 * git directory, say).
 */
export function clearStaleIndexLock(lockPath: string, workDir: string, o: IndexLockOptions): IndexLockCheck {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(lockPath).mtimeMs;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return { state: 'none' };
    throw e;
  }
  const ageMs = Math.max(0, o.nowMs - mtimeMs);
  if (ageMs < INDEX_LOCK_MIN_AGE_MS) return { state: 'young', ageMs };
  const holder = gitIn(workDir, o.selfPid, o.procRoot ?? '/proc');
  if (holder) return { state: 'held', ...holder };
  rmSync(lockPath, { force: true });
  return { state: 'removed', ageMs };
}

/**
 * A live git process whose working directory is `dir` or below it, if any: only git holds the
 * lock (a `git add` for as long as its clean filters run, say), and the other daemons of the
 * project may well run in the work tree.
 */
function gitIn(dir: string, selfPid: number, procRoot: string): { pid: number; comm: string } | undefined {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    root = dir; // ENOENT, gone: no process can be in it, and the comparison below finds none
  }
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry) || Number(entry) === selfPid) continue;
    let comm: string;
    let cwd: string;
    try {
      comm = readFileSync(`${procRoot}/${entry}/comm`, 'utf8').trim();
      if (!/^git(-|$)/.test(comm)) continue;
      cwd = readlinkSync(`${procRoot}/${entry}/cwd`);
    } catch {
      continue; // exited meanwhile, or another user's (EACCES): the work tree is the service user's
    }
    if (cwd === root || cwd.startsWith(`${root}/`)) return { pid: Number(entry), comm };
  }
  return undefined;
}
