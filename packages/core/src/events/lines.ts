/**
 * Line-level reading of event files: backwards and forwards in fixed-size chunks, never the
 * whole file, tolerant of torn and oversized lines.
 */
import { fstatSync, readSync } from 'node:fs';
import type { EventRecord } from './types.js';
import { MAX_EVENT_LINE_BYTES } from './files.js';

/** Default read size. 64 KiB keeps syscalls few and memory flat. */
export const CHUNK_BYTES = 64 * 1024;

/**
 * Lines longer than this are dropped (and counted) instead of buffered: a valid line is at most
 * {@link MAX_EVENT_LINE_BYTES}, so anything far longer is damage, e.g. the NUL-filled run a
 * power cut can leave in a file.
 */
export const MAX_SCAN_LINE_BYTES = 16 * MAX_EVENT_LINE_BYTES;

const NL = 0x0a;

/** Counters of what readers skipped. */
export interface ScanStats {
  /** Lines skipped as unparseable: torn, truncated, NUL-filled, oversized or not an event. */
  malformed: number;
}

/**
 * Parses one line into an event, or undefined when it is not one (bad JSON, not an object, or
 * an envelope field of the wrong type). Payloads are not validated: old and new versions pass.
 */
export function parseEventLine(text: string): EventRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined; // SyntaxError: a torn or corrupt line, counted as malformed
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const r = value as Record<string, unknown>;
  if (
    typeof r.kind !== 'string' ||
    typeof r.ts !== 'string' ||
    typeof r.v !== 'number' ||
    typeof r.unit !== 'string' ||
    typeof r.project !== 'string' ||
    (r.round !== undefined && typeof r.round !== 'number')
  ) {
    return undefined;
  }
  return r as EventRecord;
}

/** Reads exactly `buf.length` bytes at `position` unless EOF comes first; returns bytes read. */
export function readAt(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Receives one complete line: the bytes `buf[start, end)` without the `\n`. `buf` is a reused
 * read buffer, valid only during the call. Return `false` to stop the scan.
 */
export type LineVisitor = (buf: Buffer, start: number, end: number) => boolean | void;

/**
 * Calls `visit` for the complete lines of the first `size` bytes of a file, newest first.
 * Reads `chunkBytes` at a time from the end into one reused buffer, so stopping early costs
 * only what was read and memory stays flat.
 *
 * With `needles`, only lines containing one of them are visited, found by searching the chunk
 * (cheap: most lines are never looked at). A needle is a pre-filter; callers re-check parsed
 * events. A final fragment without `\n` (a line being written, or torn by a crash) and lines
 * over {@link MAX_SCAN_LINE_BYTES} are skipped and counted in `stats.malformed`.
 */
export function scanBackward(
  fd: number,
  size: number,
  stats: ScanStats,
  visit: LineVisitor,
  needles?: readonly Buffer[],
  chunkBytes: number = CHUNK_BYTES,
): void {
  const filter = needles && needles.length > 0 ? needles : undefined;
  const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(size, 1)));
  let pos = size;
  // The end of a line that starts in older data (copied out of the reused chunk), as pieces
  // newest first; joined once the line's start is found, so a long line costs one copy.
  const carry: Buffer[] = [];
  let carryLen = 0;
  // While dropping, bytes are discarded back to the previous `\n`: first the unterminated
  // tail of the file, later the rest of an oversized line.
  let dropping = true;
  let dropped = 0;
  const visitJoined = (head: Buffer): boolean => {
    carry.reverse();
    const line = Buffer.concat([head, ...carry]); // ends with the carried `\n`
    carry.length = 0;
    carryLen = 0;
    return line.length <= 1 || !matches(line, filter) || visit(line, 0, line.length - 1) !== false;
  };
  while (pos > 0) {
    const len = Math.min(chunk.length, pos);
    pos -= len;
    const got = readAt(fd, chunk.subarray(0, len), pos);
    // A file truncated under us reads short: the missing bytes count as absent.
    if (got === 0) continue;
    let end = got;
    if (dropping) {
      const last = chunk.lastIndexOf(NL, end - 1);
      if (last === -1) {
        dropped += end;
        continue;
      }
      dropped += end - last - 1;
      if (dropped > 0) stats.malformed++;
      dropped = 0;
      dropping = false;
      end = last + 1;
    }
    const first = chunk.indexOf(NL);
    if (first === -1 || first >= end) {
      if (pos === 0) {
        // The file's first line, part here and part carried.
        visitJoined(chunk.subarray(0, end));
        break;
      }
      carry.push(Buffer.from(chunk.subarray(0, end)));
      carryLen += end;
      if (carryLen > MAX_SCAN_LINE_BYTES) {
        // Counted once, when the drop ends at the line's start.
        dropped = carryLen;
        carry.length = 0;
        carryLen = 0;
        dropping = true;
      }
      continue;
    }
    const last = chunk.lastIndexOf(NL, end - 1);
    // 1. The line straddling into newer data: this chunk's bytes after its last `\n` + carry.
    if (carry.length > 0 && !visitJoined(chunk.subarray(last + 1, end))) return;
    // 2. Lines wholly inside the chunk, in place.
    const start = pos === 0 ? 0 : first + 1;
    if (last >= start) {
      if (filter) {
        if (!matchingBackward(chunk, start, last + 1, filter, visit)) return;
      } else {
        let e = last; // index of the `\n` ending the current line
        while (e >= start) {
          const s = chunk.lastIndexOf(NL, e - 1) + 1;
          const from = s < start ? start : s;
          if (e > from && visit(chunk, from, e) === false) return;
          e = from - 1;
        }
      }
    }
    // 3. Bytes up to the first `\n` end a line that starts in older data.
    if (pos > 0) {
      carry.push(Buffer.from(chunk.subarray(0, first + 1)));
      carryLen = first + 1;
    }
  }
  if (dropping && dropped > 0) stats.malformed++;
}

function matches(line: Buffer, needles: readonly Buffer[] | undefined): boolean {
  return !needles || needles.some((n) => line.includes(n));
}

/**
 * Line starts in buf[start, end) (`end` just after a `\n`) of the lines containing a needle,
 * ascending and unique. Searches the region, not line by line.
 */
function matchingStarts(buf: Buffer, start: number, end: number, needles: readonly Buffer[]): number[] {
  const starts: number[] = [];
  for (const needle of needles) {
    let at = buf.indexOf(needle, start);
    while (at !== -1 && at < end) {
      starts.push(Math.max(start, buf.lastIndexOf(NL, at) + 1));
      const e = buf.indexOf(NL, at);
      if (e === -1 || e >= end) break;
      at = buf.indexOf(needle, e + 1);
    }
  }
  if (needles.length > 1) {
    starts.sort((a, b) => a - b);
    return starts.filter((s, i) => i === 0 || s !== starts[i - 1]);
  }
  return starts;
}

function matchingBackward(buf: Buffer, start: number, end: number, needles: readonly Buffer[], visit: LineVisitor): boolean {
  const starts = matchingStarts(buf, start, end, needles);
  for (let i = starts.length - 1; i >= 0; i--) {
    const s = starts[i] as number;
    const e = buf.indexOf(NL, s);
    if (e > s && visit(buf, s, e) === false) return false;
  }
  return true;
}

/** Position of a forward scan; `offset` is always just after the last line handed out. */
export interface ForwardState extends ScanStats {
  /** Byte offset after the last complete line consumed (visited or skipped). */
  offset: number;
  /** Bytes after `offset` at EOF without a terminating `\n` when the scan ended. */
  pending: number;
}

/**
 * Calls `visit` for the complete lines of a file from `state.offset` to EOF, in order,
 * advancing `state.offset` past each line before its visit, so a visitor that stops the scan
 * (returns false) can resume exactly after that line. Reads into one reused buffer. With
 * `needles`, only lines containing one are visited (the offset still moves past the others).
 * A final fragment without `\n` is left unconsumed (`state.pending` bytes). Lines over
 * {@link MAX_SCAN_LINE_BYTES} are consumed, skipped and counted. A file now shorter than
 * `state.offset` was truncated or deleted and recreated: it is read from its start.
 */
export function scanForward(
  fd: number,
  state: ForwardState,
  visit: LineVisitor,
  needles?: readonly Buffer[],
  chunkBytes: number = CHUNK_BYTES,
): void {
  const filter = needles && needles.length > 0 ? needles : undefined;
  if (state.offset > fstatSync(fd).size) state.offset = 0;
  const chunk = Buffer.allocUnsafe(chunkBytes);
  // Bytes of an unfinished line (copied out of the reused chunk); joined once its `\n` arrives.
  const carry: Buffer[] = [];
  let carryLen = 0;
  let readPos = state.offset;
  let dropping = false;
  state.pending = 0;
  for (;;) {
    const got = readAt(fd, chunk, readPos);
    if (got === 0) return;
    readPos += got;
    let s = 0;
    if (dropping) {
      const nl = chunk.indexOf(NL);
      if (nl === -1 || nl >= got) {
        state.pending += got;
        if (got < chunkBytes) return;
        continue;
      }
      state.offset += state.pending + nl + 1;
      state.pending = 0;
      dropping = false;
      s = nl + 1;
    }
    if (carry.length > 0) {
      const nl = chunk.indexOf(NL, s);
      if (nl === -1 || nl >= got) {
        carry.push(Buffer.from(chunk.subarray(s, got)));
        carryLen += got - s;
        s = got;
      } else {
        carry.push(chunk.subarray(s, nl));
        const line = Buffer.concat(carry);
        carry.length = 0;
        carryLen = 0;
        state.offset += line.length + 1;
        s = nl + 1;
        if (line.length > 0 && matches(line, filter) && visit(line, 0, line.length) === false) return;
      }
    }
    const last = s < got ? chunk.lastIndexOf(NL, got - 1) : -1;
    if (last >= s) {
      if (filter) {
        const base = state.offset - s;
        for (const ls of matchingStarts(chunk, s, last + 1, filter)) {
          const e = chunk.indexOf(NL, ls);
          state.offset = base + e + 1;
          if (visit(chunk, ls, e) === false) return;
        }
        state.offset = base + last + 1;
      } else {
        for (;;) {
          const e = chunk.indexOf(NL, s);
          if (e === -1 || e > last) break;
          state.offset += e + 1 - s;
          if (e > s && visit(chunk, s, e) === false) return;
          s = e + 1;
        }
      }
      s = last + 1;
    }
    if (s < got) {
      carry.push(Buffer.from(chunk.subarray(s, got)));
      carryLen += got - s;
    }
    state.pending = carryLen;
    if (carryLen > MAX_SCAN_LINE_BYTES) {
      state.malformed++;
      dropping = true;
      carry.length = 0;
      carryLen = 0;
    }
    if (got < chunkBytes) return;
  }
}
