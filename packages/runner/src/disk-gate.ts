import { isDiskFull, isNoSpace, tightestDisk, type DiskUsage } from '@agent-runner/core/disk';
import type { EventWriter } from '@agent-runner/core/events';
import type { Ledger } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { sleep } from '@agent-runner/core/sleep';
import type { LogPriority } from '@agent-runner/core/unit';
import type { ShowActivity } from './activity.js';
import type { Episodes } from './episodes.js';

/** How often a disk pause re-checks the free space or retries its write, ms. */
export const DISK_RECHECK_MS = 2000;

/** What {@link DiskGuard} needs from the serve loop. */
export interface DiskGuardContext {
  paths: ProjectPaths;
  /** `runtime.disk_min_free_mb` in bytes (0: no gate before rounds). */
  minFreeBytes: number;
  events: EventWriter;
  episodes: Episodes;
  now: () => number;
  /** Ends every wait at once (SIGTERM). */
  stopSignal: AbortSignal;
  log: (priority: LogPriority, line: string) => void;
  show: ShowActivity;
}

const mib = (bytes: number | undefined): string => (bytes === undefined ? '?' : `${Math.round(bytes / 1048576)} MiB`);

/**
 * Keeps serve alive and its record whole on a full file system (issue 12 #5). Before a round,
 * {@link hold} waits while the fuller of the state and log file systems has less than the
 * minimum free; a ledger write of the loop goes through {@link write}, which waits for space and
 * retries when it fails with ENOSPC or SQLITE_FULL. Either wait is one disk pause: a
 * `disk_paused` event, heartbeat `paused`/`disk`, the `disk_full` alarm (raised as soon as the
 * ledger takes it: on a disk full to the last block, when space is back), a re-check every
 * {@link DISK_RECHECK_MS}, and `disk_resumed` when space is back. The alarm is cleared when
 * rounds resume (see `holdBeforeRound`), not when this pause ends, since another hold may follow.
 */
export class DiskGuard {
  private pausedAtMs: number | undefined;
  /** The fullest reading of this pause (a late alarm says how full it got). */
  private lowest: DiskUsage | undefined;

  constructor(private readonly c: DiskGuardContext) {}

  /** The fuller of the state and log file systems; undefined when statfs fails on both. */
  measure(): DiskUsage | undefined {
    return tightestDisk([this.c.paths.stateDir, this.c.paths.logDir]);
  }

  /**
   * The gate before a round: waits while free space is below the minimum.
   * @returns true when it waited (the loop re-checks its stop triggers), false at once when
   *   space suffices.
   */
  async hold(): Promise<boolean> {
    let u = this.measure();
    if (!isDiskFull(u, this.c.minFreeBytes)) {
      if (this.pausedAtMs !== undefined) this.leave(u); // a round start that failed for space (see stall)
      return false;
    }
    this.enter('low_space', u);
    do {
      this.alarm(u);
      if (!(await sleep(DISK_RECHECK_MS, this.c.stopSignal))) return true;
      u = this.measure();
    } while (isDiskFull(u, this.c.minFreeBytes));
    this.leave(u);
    return true;
  }

  /**
   * Runs a ledger write; while it fails for a full file system, pauses for the disk and retries
   * every {@link DISK_RECHECK_MS}.
   * @param what names the write in the event and the journal (`finish round`, ...).
   * @returns `{ value }` of `fn`, or undefined when SIGTERM ended the wait (not written).
   * @throws whatever `fn` throws for another reason than a full file system.
   */
  async write<T>(what: string, fn: () => T): Promise<{ value: T } | undefined> {
    for (;;) {
      try {
        const value = fn();
        if (this.pausedAtMs !== undefined) this.leave(this.measure());
        return { value };
      } catch (e) {
        if (!isNoSpace(e)) throw e;
        if (!(await this.stall(what))) return undefined;
      }
    }
  }

  /**
   * After `what` failed for a full file system: pauses for the disk (once per pause), tries to
   * raise the alarm, and waits {@link DISK_RECHECK_MS} before the caller tries again.
   * @returns false when SIGTERM ended the wait.
   */
  async stall(what: string): Promise<boolean> {
    const u = this.measure();
    if (this.pausedAtMs === undefined) this.enter(what, u);
    this.alarm(u);
    return sleep(DISK_RECHECK_MS, this.c.stopSignal);
  }

  private enter(cause: string, u: DiskUsage | undefined): void {
    this.pausedAtMs = this.c.now();
    const path = u?.path ?? this.c.paths.stateDir;
    this.c.events.emit('disk_paused', { path, free_bytes: u?.free_bytes ?? null, min_free_bytes: this.c.minFreeBytes, cause });
    const why =
      cause === 'low_space'
        ? `${mib(u?.free_bytes)} free, below runtime.disk_min_free_mb (${mib(this.c.minFreeBytes)})`
        : `${cause} failed: the file system is full (${mib(u?.free_bytes)} free)`;
    this.c.log('err', `disk: ${path}: ${why}; no round starts until space is free (re-checked every ${DISK_RECHECK_MS / 1000} s)`);
    this.c.show('paused', { pause: 'disk' });
  }

  private leave(u: DiskUsage | undefined): void {
    const pausedS = Math.round((this.c.now() - (this.pausedAtMs ?? this.c.now())) / 1000);
    this.pausedAtMs = undefined;
    // A ledger full to the last block took no alarm during the pause: told now, late, so the
    // human still hears of the outage (its recovery follows when rounds resume).
    if (!this.c.episodes.get('disk_full')) this.alarm(this.lowest ?? u);
    this.lowest = undefined;
    this.c.events.emit('disk_resumed', { paused_s: pausedS, free_bytes: u?.free_bytes ?? null });
    this.c.log('notice', `disk: space is free again (${mib(u?.free_bytes)}) after ${pausedS} s`);
  }

  /** Raises `disk_full` unless it is open; a ledger too full to take it is tried again at the next check. */
  private alarm(u: DiskUsage | undefined): void {
    if (u !== undefined && (this.lowest === undefined || u.free_bytes < this.lowest.free_bytes)) this.lowest = u;
    if (this.c.episodes.get('disk_full')) return;
    try {
      this.c.episodes.raise('disk_full', {
        path: u?.path ?? this.c.paths.stateDir,
        free_bytes: u?.free_bytes ?? null,
        used_pct: u?.used_pct ?? null,
        min_free_bytes: this.c.minFreeBytes,
      });
    } catch (e) {
      if (!isNoSpace(e)) throw e;
    }
  }
}

/** A ledger write of a round kept for later because the file system was full. */
export interface DeferredWrite {
  what: string;
  run: () => unknown;
}

/**
 * The ledger a round writes through: its writes after the agent was spawned (the process group
 * record, the finished row) that fail for a full file system are kept in `deferred`, in order,
 * instead of throwing out of the round while its agent may still run, and serve replays them
 * through {@link DiskGuard.write} once the round returned. So a round whose end fell into a full
 * period is still recorded as it ended. Everything else is the ledger itself.
 */
export function roundLedger(ledger: Ledger, deferred: DeferredWrite[]): Ledger {
  const later = (what: string, run: () => boolean): boolean => {
    if (deferred.length > 0) {
      deferred.push({ what, run });
      return true;
    }
    try {
      return run();
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      deferred.push({ what, run });
      return true;
    }
  };
  return {
    ...ledger,
    runner: {
      ...ledger.runner,
      recordAgent: (round, pgid, ticks) => later('record agent process group', () => ledger.runner.recordAgent(round, pgid, ticks)),
      finishRound: (round, input) => later('finish round', () => ledger.runner.finishRound(round, input)),
    },
  };
}
