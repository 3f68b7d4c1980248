/**
 * How full the file systems holding a project's state and logs are, from statfs(2) of the
 * directories themselves. One source for `peek`, `doctor`, the runner's disk gate, the
 * watchdog and the monitor's detectors and `/metrics`, so they never disagree about one file
 * system (systeminformation's `fsSize()` lists only `/dev/*` mounts, and would report `/` for a
 * state directory on tmpfs, NFS or ZFS).
 */
import { existsSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Usage of the file system a path lives on. Bytes are what an unprivileged writer can use. */
export interface DiskUsage {
  /** The directory measured (the nearest existing ancestor of the path asked about). */
  path: string;
  /** Bytes an unprivileged process may still write (`f_bavail * f_bsize`). */
  free_bytes: number;
  /** Size of the file system, bytes (`f_blocks * f_bsize`). */
  total_bytes: number;
  /**
   * Used share as `df` shows it, percent with one decimal: used / (used + available), so the
   * blocks reserved for root count as neither (a disk df calls 100 % is 100 % here).
   */
  used_pct: number;
}

/**
 * Measures the file system of `path` (or of its nearest existing ancestor).
 * @returns undefined when statfs fails (a vanished mount, EACCES on every ancestor).
 */
export function diskUsage(path: string): DiskUsage | undefined {
  let probe = path;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  try {
    const s = statfsSync(probe);
    const used = (s.blocks - s.bfree) * s.bsize;
    const free = s.bavail * s.bsize;
    const pct = used + free > 0 ? Math.round((1000 * used) / (used + free)) / 10 : 0;
    return { path: probe, free_bytes: free, total_bytes: s.blocks * s.bsize, used_pct: pct };
  } catch {
    return undefined; // a vanished mount, EACCES, as documented: tightestDisk measures the others
  }
}

/**
 * The fuller of the file systems of `paths` (state and log directories may be on different
 * ones): the one with the fewest free bytes. Each file system is measured once, at the first
 * of `paths` on it (by `st_dev`): two readings of one file system moments apart differ while
 * something writes, and must not make a log directory next to the state look fuller.
 * @returns undefined when none could be measured.
 */
export function tightestDisk(paths: readonly string[]): DiskUsage | undefined {
  let worst: DiskUsage | undefined;
  const seen = new Set<number>();
  for (const p of new Set(paths)) {
    const u = diskUsage(p);
    if (u === undefined) continue;
    const dev = deviceOf(u.path);
    if (dev !== undefined) {
      if (seen.has(dev)) continue;
      seen.add(dev);
    }
    if (worst === undefined || u.free_bytes < worst.free_bytes) worst = u;
  }
  return worst;
}

/** `st_dev` of a path; undefined when it cannot be read (it vanished since it was measured). */
function deviceOf(path: string): number | undefined {
  try {
    return statSync(path).dev;
  } catch {
    return undefined; // ENOENT: vanished since it was measured
  }
}

/**
 * Free space below which a unit treats its state file system as full: a round (log, ledger
 * rows, git objects) or a heartbeat would fail with ENOSPC or SQLITE_FULL. 64 MiB holds a few
 * round logs and a WAL checkpoint.
 */
export const DISK_FULL_FREE_BYTES = 64 * 1024 * 1024;

/** True when `u` has less than {@link DISK_FULL_FREE_BYTES} (or `minFreeBytes`) free. */
export function isDiskFull(u: DiskUsage | undefined, minFreeBytes: number = DISK_FULL_FREE_BYTES): boolean {
  return u !== undefined && u.free_bytes < minFreeBytes;
}

/** True for the errno codes of a full file system or quota (ENOSPC, EDQUOT) and SQLite's SQLITE_FULL. */
export function isNoSpace(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur !== undefined && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
    if (cur instanceof Error && /\b(ENOSPC|SQLITE_FULL|database or disk is full|no space left on device)\b/i.test(cur.message)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
