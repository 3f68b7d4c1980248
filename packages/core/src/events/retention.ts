import { statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AgentRunnerError, isErrno } from '../errors.js';
import { dayOfFile, dayStartMs, listEventFiles, utcDay } from './files.js';

/** Options of {@link pruneEvents}. */
export interface PruneOptions {
  /**
   * Delete files of UTC days more than this many days before today (7 keeps today and the 7
   * days before it). Omit for no age limit.
   */
  maxAgeDays?: number;
  /** Then delete the oldest files until all files together take at most this many bytes. */
  maxTotalBytes?: number;
  /** Clock in epoch ms (default `Date.now`); decides "today". */
  now?: () => number;
}

/** One deleted daily file. */
export interface PrunedFile {
  file: string;
  bytes: number;
  reason: 'age' | 'size';
}

/** Result of {@link pruneEvents}. */
export interface PruneResult {
  deleted: PrunedFile[];
  /** Bytes of the daily files left. */
  keptBytes: number;
}

/**
 * Applies event retention by deleting whole daily files: first those older than `maxAgeDays`,
 * then the oldest until the total is under `maxTotalBytes`. Today's file (UTC day of `now`)
 * and any later one are never deleted, so the byte budget may stay exceeded by them. Safe
 * against concurrent pruners (a file already gone is skipped) and against writers (a writer
 * holding a deleted file reopens it, see {@link EventWriter}).
 *
 * @throws AgentRunnerError ERR_AR_IO when a file cannot be deleted (other than already gone).
 */
export function pruneEvents(dir: string, options: PruneOptions): PruneResult {
  const today = utcDay((options.now ?? Date.now)());
  const files: { file: string; day: string; bytes: number }[] = [];
  for (const file of listEventFiles(dir)) {
    try {
      files.push({ file, day: dayOfFile(file) as string, bytes: statSync(join(dir, file)).size });
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw ioError(dir, file, e);
    }
  }
  const deleted: PrunedFile[] = [];
  const remove = (f: { file: string; bytes: number }, reason: PrunedFile['reason']): void => {
    try {
      unlinkSync(join(dir, f.file));
      deleted.push({ file: f.file, bytes: f.bytes, reason });
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw ioError(dir, f.file, e);
    }
  };
  let kept = files;
  if (options.maxAgeDays !== undefined) {
    const cutoff = utcDay(dayStartMs(today) - Math.max(0, Math.floor(options.maxAgeDays)) * 86_400_000);
    kept = [];
    for (const f of files) {
      if (f.day < cutoff && f.day < today) remove(f, 'age');
      else kept.push(f);
    }
  }
  let total = kept.reduce((sum, f) => sum + f.bytes, 0);
  if (options.maxTotalBytes !== undefined) {
    const budget = options.maxTotalBytes;
    for (const f of kept) {
      if (total <= budget) break;
      if (f.day >= today) continue;
      remove(f, 'size');
      total -= f.bytes;
    }
  }
  return { deleted, keptBytes: total };
}

function ioError(dir: string, file: string, cause: unknown): AgentRunnerError {
  return new AgentRunnerError('ERR_AR_IO', `cannot prune the event file ${join(dir, file)}`, { cause });
}
