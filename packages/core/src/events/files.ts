import { readdirSync } from 'node:fs';
import { AgentRunnerError, isErrno } from '../errors.js';

/**
 * Longest line (JSON + `\n`, in bytes) the writer accepts. Keeps every event one modest
 * write(2) and bounds what readers must buffer for a single line.
 */
export const MAX_EVENT_LINE_BYTES = 64 * 1024;

/** Daily event file name: `events-YYYY-MM-DD.jsonl`, the UTC day of the events it holds. */
export const EVENT_FILE_RE = /^events-(\d{4}-\d{2}-\d{2})\.jsonl$/;

/** A position in the stream: just after the last byte consumed of one daily file. */
export interface EventCursor {
  /** Base name of the daily file, e.g. `events-2026-05-01.jsonl`. */
  readonly file: string;
  /** Byte offset in that file; always at a line start (just after a `\n`) or 0. */
  readonly offset: number;
}

/** `YYYY-MM-DD` of the UTC day containing `ms` (epoch milliseconds). */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Epoch milliseconds of 00:00:00.000 UTC of day `YYYY-MM-DD`. */
export function dayStartMs(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

/** The daily file name for UTC day `day` (`YYYY-MM-DD`). */
export function eventFileName(day: string): string {
  return `events-${day}.jsonl`;
}

/** The UTC day of a daily file name, or undefined when `name` is not one. */
export function dayOfFile(name: string): string | undefined {
  return EVENT_FILE_RE.exec(name)?.[1];
}

/**
 * Daily event files of `dir`, oldest first (names sort by day). A missing directory has no
 * files (nothing was ever written).
 * @throws AgentRunnerError ERR_AR_IO when the directory exists but cannot be listed.
 */
export function listEventFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw new AgentRunnerError('ERR_AR_IO', `cannot list the events directory ${dir}`, { cause: e });
  }
  return names.filter((n) => EVENT_FILE_RE.test(n)).sort();
}
