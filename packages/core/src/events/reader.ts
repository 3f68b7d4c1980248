/**
 * Queries over the daily event files that cost O(what is asked), not O(the stream): the last
 * N events read files backwards from the newest, and "since T" binary-searches the first
 * relevant file. Malformed lines are skipped and counted, never thrown.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { AgentRunnerError, isErrno } from '../errors.js';
import type { EventCursor } from './files.js';
import { dayOfFile, listEventFiles, utcDay } from './files.js';
import type { ForwardState, ScanStats } from './lines.js';
import { CHUNK_BYTES, parseEventLine, readAt, scanBackward, scanForward } from './lines.js';
import type { EventRecord } from './types.js';

/** Options of {@link lastEvents}. */
export interface LastEventsOptions {
  /** How many events to return at most. */
  n: number;
  /** Only events of these kinds (any kind when omitted or empty). */
  kinds?: readonly string[];
  /** Only events of this round. */
  round?: number;
  /**
   * Order of the result: `oldest-first` (default; chronological, like `tail`) or
   * `newest-first`. Either way the result holds the N newest matching events.
   */
  order?: 'oldest-first' | 'newest-first';
  /** Read size in bytes (default 64 KiB). */
  chunkBytes?: number;
  /** Daily files looked at, newest first (default: all): bounds the cost of asking for kinds that may be rare. */
  maxFiles?: number;
}

/** Result of {@link lastEvents}. */
export interface LastEventsResult {
  events: EventRecord[];
  /** Lines skipped as malformed (torn, truncated, not JSON) among those examined. */
  malformed: number;
  /** Daily files opened to answer. */
  filesRead: number;
}

/** Opens a file read-only, or undefined when it vanished (pruned) in the meantime. */
export function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw new AgentRunnerError('ERR_AR_IO', `cannot open the event file ${path}`, { cause: e });
  }
}

function kindNeedles(kinds: readonly string[] | undefined): Buffer[] | undefined {
  // The writer emits compact JSON, so the envelope holds exactly `"kind":"<name>"`. The same
  // text can only otherwise appear as a key inside a nested object; parsed events are re-checked.
  if (!kinds || kinds.length === 0) return undefined;
  return kinds.map((k) => Buffer.from(`"kind":${JSON.stringify(k)}`));
}

/**
 * The last `n` events (optionally of some kinds and/or one round), reading the daily files
 * backwards in chunks from the newest and stepping to older files only as needed. Lines are
 * pre-filtered by a substring test on `"kind":"<name>"` (or `"round":<n>`) before JSON.parse.
 * "Last" is file order (the order lines were appended), which equals `ts` order up to the
 * small cross-process skew described on {@link EventWriter}.
 *
 * @param dir events directory; a missing directory yields no events.
 * @throws AgentRunnerError ERR_AR_IO when a file exists but cannot be read.
 */
export function lastEvents(dir: string, options: LastEventsOptions): LastEventsResult {
  const { n, kinds, round } = options;
  const stats: ScanStats = { malformed: 0 };
  const events: EventRecord[] = [];
  let filesRead = 0;
  if (n <= 0) return { events, malformed: 0, filesRead };
  const kindSet = kinds && kinds.length > 0 ? new Set(kinds) : undefined;
  const needles = kindNeedles(kinds) ?? (round === undefined ? undefined : [Buffer.from(`"round":${round}`)]);
  const files = listEventFiles(dir);
  const oldest = options.maxFiles === undefined ? 0 : Math.max(0, files.length - options.maxFiles);
  for (let i = files.length - 1; i >= oldest && events.length < n; i--) {
    const fd = openIfExists(join(dir, files[i] as string));
    if (fd === undefined) continue;
    filesRead++;
    try {
      const size = fstatSync(fd).size;
      scanBackward(
        fd,
        size,
        stats,
        (buf, start, end) => {
          const ev = parseEventLine(buf.toString('utf8', start, end));
          if (!ev) {
            stats.malformed++;
            return true;
          }
          if (kindSet && !kindSet.has(ev.kind)) return true;
          if (round !== undefined && ev.round !== round) return true;
          events.push(ev);
          return events.length < n;
        },
        needles,
        options.chunkBytes,
      );
    } catch (e) {
      throw new AgentRunnerError('ERR_AR_IO', `cannot read the event file ${join(dir, files[i] as string)}`, {
        cause: e,
      });
    } finally {
      closeSync(fd);
    }
  }
  if ((options.order ?? 'oldest-first') === 'oldest-first') events.reverse();
  return { events, malformed: stats.malformed, filesRead };
}

/** Options of {@link eventsSince}. */
export interface EventsSinceOptions {
  /** Only events with `ts` at or after this time (epoch ms). Without a cursor, also where to start. */
  sinceMs?: number;
  /**
   * Continue exactly after the last byte a previous call consumed. `null` (or omitting both
   * `cursor` and `sinceMs`) starts at the beginning of the oldest file. When the cursor's file
   * was pruned, reading continues with the next newer file.
   */
  cursor?: EventCursor | null;
  /** Only events of these kinds (the cursor still advances over the others). */
  kinds?: readonly string[];
  /** Most events to return (default 100 000); `done` is false when the limit stopped the read. */
  limit?: number;
  /**
   * How far before `sinceMs` the binary search starts scanning, in ms (default 60 000). Lines of
   * one file are in `ts` order only up to the skew between processes (the time between taking
   * `ts` and the write, plus clock steps), so the scan backs up by this much and filters exactly.
   */
  skewMs?: number;
}

/** Result of {@link eventsSince}. */
export interface EventsSinceResult {
  events: EventRecord[];
  /**
   * Where to continue: after the last line consumed. Null only when there is no file at all
   * (and no cursor was given). Pass it back as `cursor` to get only newer events.
   */
  cursor: EventCursor | null;
  /** Lines skipped as malformed, including the unterminated tails of older (finished) files. */
  malformed: number;
  /** True when everything up to the current end of the stream was read (no `limit` cut). */
  done: boolean;
}

/** Default {@link EventsSinceOptions.skewMs}. */
export const DEFAULT_SKEW_MS = 60_000;

const TS_AT_START = /^\{"v":\d+,"ts":"([^"]{1,40})"/;
const SEEK_LINEAR_BYTES = 16 * 1024;

/** Epoch ms of the line starting at `start`, and where the next line starts. */
function tsAt(fd: number, start: number, size: number): { ms: number | undefined; next: number } {
  const head = Buffer.allocUnsafe(Math.min(512, size - start));
  const got = readAt(fd, head, start);
  const text = head.toString('latin1', 0, got);
  const m = TS_AT_START.exec(text);
  const nl = text.indexOf('\n');
  if (m) {
    const ms = Date.parse(m[1] as string);
    const next = nl !== -1 ? start + nl + 1 : nextLineStart(fd, start, size);
    if (!Number.isNaN(ms)) return { ms, next };
  }
  // Not the writer's compact layout (or a long line): parse the whole line.
  const end = nextLineStart(fd, start, size);
  if (end > size || end - start > 4 * CHUNK_BYTES) return { ms: undefined, next: end };
  const line = Buffer.allocUnsafe(end - start);
  readAt(fd, line, start);
  const ev = parseEventLine(line.toString('utf8'));
  const ms = ev ? Date.parse(ev.ts) : Number.NaN;
  return { ms: Number.isNaN(ms) ? undefined : ms, next: end };
}

/** Offset just after the first `\n` at or after `from`, or `size + 1` when there is none. */
function nextLineStart(fd: number, from: number, size: number): number {
  const buf = Buffer.allocUnsafe(4096);
  for (let pos = from; pos < size; pos += buf.length) {
    const got = readAt(fd, buf, pos);
    const nl = buf.subarray(0, got).indexOf(0x0a);
    if (nl !== -1) return pos + nl + 1;
    if (got < buf.length) break;
  }
  return size + 1;
}

/**
 * A line start in a time-ordered file such that every line before it has `ts` < `targetMs`:
 * binary search on line boundaries, reading a few KiB per probe.
 */
export function seekTime(fd: number, size: number, targetMs: number): number {
  let lo = 0;
  let hi = size;
  while (hi - lo > SEEK_LINEAR_BYTES) {
    const mid = lo + Math.floor((hi - lo) / 2);
    let s = nextLineStart(fd, mid - 1, size);
    let ms: number | undefined;
    for (let tries = 0; s < hi && tries < 8; tries++) {
      const r = tsAt(fd, s, size);
      if (r.ms !== undefined) {
        ms = r.ms;
        break;
      }
      s = r.next;
    }
    if (ms === undefined || s >= hi) hi = mid;
    else if (ms < targetMs) lo = s;
    else hi = mid;
  }
  return lo;
}

/**
 * Events after a cursor or since a time, oldest first, with the cursor to continue from.
 *
 * By time: files of UTC days before the day of `sinceMs` are skipped; in the first relevant
 * file a binary search on line boundaries finds where `ts` reaches `sinceMs - skewMs`, and
 * lines from there are filtered exactly. By cursor: reading resumes at the cursor's byte.
 * Either way the cursor returned points just after the last complete line consumed; a final
 * fragment without `\n` in the newest file is left for the next call (it may be mid-write).
 *
 * Lines appended to an older day's file after the cursor moved on to a newer file (a process
 * writing an event stamped 23:59:59.999 just after another started the new day) are not seen
 * by cursor reads; {@link followEvents} covers that window.
 *
 * @throws AgentRunnerError ERR_AR_IO when a file exists but cannot be read.
 */
export function eventsSince(dir: string, options: EventsSinceOptions = {}): EventsSinceResult {
  const limit = options.limit ?? 100_000;
  const { sinceMs } = options;
  const sinceIso = sinceMs === undefined ? undefined : new Date(sinceMs).toISOString();
  const kindSet = options.kinds && options.kinds.length > 0 ? new Set(options.kinds) : undefined;
  const needles = kindNeedles(options.kinds);
  const files = listEventFiles(dir);
  const events: EventRecord[] = [];
  const stats: ScanStats = { malformed: 0 };
  let cursor: EventCursor | null = options.cursor ?? null;

  let startIndex = 0;
  let startOffset = 0;
  let seekMs: number | undefined;
  if (options.cursor) {
    const c = options.cursor;
    startIndex = files.findIndex((f) => f >= c.file);
    if (startIndex === -1) return { events, cursor: c, malformed: 0, done: true };
    if (files[startIndex] === c.file) startOffset = c.offset;
  } else if (sinceMs !== undefined) {
    const day = utcDay(sinceMs);
    startIndex = files.findIndex((f) => (dayOfFile(f) as string) >= day);
    if (startIndex === -1) {
      const last = files[files.length - 1];
      return { events, cursor: last ? endCursorOf(dir, last) : null, malformed: 0, done: true };
    }
    if (dayOfFile(files[startIndex] as string) === day) seekMs = sinceMs - (options.skewMs ?? DEFAULT_SKEW_MS);
  }

  for (let i = startIndex; i < files.length; i++) {
    const name = files[i] as string;
    const path = join(dir, name);
    const fd = openIfExists(path);
    if (fd === undefined) continue;
    try {
      const state: ForwardState = { offset: i === startIndex ? startOffset : 0, pending: 0, malformed: 0 };
      if (i === startIndex && seekMs !== undefined) state.offset = seekTime(fd, fstatSync(fd).size, seekMs);
      let full = false;
      scanForward(
        fd,
        state,
        (buf, start, end) => {
          const ev = parseEventLine(buf.toString('utf8', start, end));
          if (!ev) {
            state.malformed++;
            return true;
          }
          if (kindSet && !kindSet.has(ev.kind)) return true;
          if (sinceIso !== undefined && !atOrAfter(ev.ts, sinceIso, sinceMs as number)) return true;
          events.push(ev);
          full = events.length >= limit;
          return !full;
        },
        needles,
      );
      stats.malformed += state.malformed;
      cursor = { file: name, offset: state.offset };
      if (full) return { events, cursor, malformed: stats.malformed, done: false };
      // The unterminated tail of a file that is no longer the newest will never be completed.
      if (state.pending > 0 && i < files.length - 1) stats.malformed++;
    } catch (e) {
      throw new AgentRunnerError('ERR_AR_IO', `cannot read the event file ${path}`, { cause: e });
    } finally {
      closeSync(fd);
    }
  }
  return { events, cursor, malformed: stats.malformed, done: true };
}

/** `ts >= since`; canonical `toISOString()` stamps compare as strings, others are parsed. */
function atOrAfter(ts: string, sinceIso: string, sinceMs: number): boolean {
  if (ts.length === 24 && ts.charCodeAt(23) === 90 /* Z */ && sinceIso.length === 24) return ts >= sinceIso;
  return Date.parse(ts) >= sinceMs;
}

function endCursorOf(dir: string, name: string): EventCursor {
  const fd = openIfExists(join(dir, name));
  if (fd === undefined) return { file: name, offset: 0 };
  try {
    const size = fstatSync(fd).size;
    // The end is after the last `\n`: a trailing fragment may still be being written.
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - buf.length);
      const got = readAt(fd, buf.subarray(0, end - start), start);
      const nl = buf.subarray(0, got).lastIndexOf(0x0a);
      if (nl !== -1) return { file: name, offset: start + nl + 1 };
      end = start;
    }
    return { file: name, offset: 0 };
  } finally {
    closeSync(fd);
  }
}

/**
 * The cursor at the current end of the stream ("from now"): after the last complete line of
 * the newest file, or null when no file exists yet (every future event is then new).
 */
export function endCursor(dir: string): EventCursor | null {
  const files = listEventFiles(dir);
  const last = files[files.length - 1];
  return last ? endCursorOf(dir, last) : null;
}
