/**
 * Incremental readers of JSON Lines files another process appends to: a project's daily
 * event files (`<log_dir>/events/events-YYYY-MM-DD.jsonl`) and the fake CLI's journal. Each
 * `poll()` reads only what was appended since the last one and keeps a line that is still
 * being written for the next poll.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** One event of the stream, with its `ts` parsed. */
export interface SoakEvent {
  kind: string;
  ts: string;
  unit: string;
  round?: number;
  /** `ts` as ms since epoch. */
  atMs: number;
  [field: string]: unknown;
}

/** Appends what `file` gained since `offset` (whole lines only) to `out`; returns the new offset. */
function readNew(file: string, offset: number, out: string[]): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    // not written yet (ENOENT) or unreadable this instant: read again on the next pass
    return offset;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return offset;
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return offset;
    for (const l of text.slice(0, end).split('\n')) if (l) out.push(l);
    return offset + Buffer.byteLength(text.slice(0, end + 1));
  } finally {
    closeSync(fd);
  }
}

/** The event stream of one project, as far as it has been read. */
export class EventFeed {
  readonly events: SoakEvent[] = [];
  private readonly offsets = new Map<string, number>();

  constructor(private readonly dir: string) {}

  /** Reads what was appended; returns the new events. */
  poll(): SoakEvent[] {
    if (!existsSync(this.dir)) return [];
    const fresh: SoakEvent[] = [];
    for (const f of readdirSync(this.dir)
      .filter((n) => /^events-\d{4}-\d{2}-\d{2}\.jsonl$/.test(n))
      .sort()) {
      const lines: string[] = [];
      const file = join(this.dir, f);
      this.offsets.set(file, readNew(file, this.offsets.get(file) ?? 0, lines));
      for (const l of lines) {
        try {
          const e = JSON.parse(l) as SoakEvent;
          e.atMs = Date.parse(e.ts);
          fresh.push(e);
        } catch {
          // Torn lines are judged once, at the end, on the whole files.
        }
      }
    }
    fresh.sort((a, b) => a.atMs - b.atMs);
    this.events.push(...fresh);
    return fresh;
  }

  /** Events of `kind` (optionally only those at or after `sinceMs`). */
  of(kind: string, sinceMs = -Infinity): SoakEvent[] {
    return this.events.filter((e) => e.kind === kind && e.atMs >= sinceMs);
  }

  /** The latest event of `kind`. */
  last(kind: string): SoakEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]?.kind === kind) return this.events[i];
    return undefined;
  }
}

/** A JSON Lines file read incrementally. */
export class LinesFeed<T> {
  readonly items: T[] = [];
  private offset = 0;

  constructor(private readonly file: string) {}

  poll(): T[] {
    const lines: string[] = [];
    this.offset = readNew(this.file, this.offset, lines);
    const fresh = lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as T];
      } catch {
        // a torn or partial line: the final assessment reads the whole files
        return [];
      }
    });
    this.items.push(...fresh);
    return fresh;
  }
}
