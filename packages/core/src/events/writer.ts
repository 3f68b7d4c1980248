import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../atomic.js';
import { AgentRunnerError } from '../errors.js';
import { assertProjectName } from '../paths.js';
import type { EventKind, EventPayload } from './catalogue.js';
import { eventFileName, MAX_EVENT_LINE_BYTES } from './files.js';
import type { EventRecord, EventUnit } from './types.js';
import { validateEvent } from './validate.js';


/** Options of {@link EventWriter}. */
export interface EventWriterOptions {
  /** Directory of the daily files (`ProjectPaths.eventsDir`); created 0700 when missing. */
  dir: string;
  /** Project name written in every envelope. */
  project: string;
  /** The emitting unit; only kinds listing it in the catalogue may be emitted. */
  unit: EventUnit;
  /** Clock in epoch milliseconds (default `Date.now`); decides `ts` and the daily file. */
  now?: () => number;
}

/** Envelope values that are not part of the payload. */
export interface EmitMeta {
  /** The round the event belongs to (a non-negative integer). */
  round?: number;
}

/** How often (clock ms) the writer checks that its open file was not unlinked under it. */
const RECHECK_MS = 1000;

/**
 * Appends events to the daily JSONL files `events-YYYY-MM-DD.jsonl` (UTC day of each event's
 * `ts`) in one directory, from any number of processes at once.
 *
 * Concurrency: each file is opened with `O_APPEND` and each line (JSON + `\n`) goes out in ONE
 * write(2). On Linux an `O_APPEND` write to a regular file positions at EOF and copies its data
 * under the inode lock, so concurrent appends from several processes never interleave: every
 * line lands whole, one after the other (the order between processes is the order of their
 * writes, so `ts` may be out of order by the few milliseconds between taking the time and
 * writing). Readers may briefly see the tail of a line still being copied; they treat a final
 * fragment without `\n` as not yet written.
 *
 * Durability: no fsync per event. Events are the narrative — cheap to append, easy to tail;
 * the SQLite ledger is the durable truth. A power cut may lose the last events (or leave a torn
 * or NUL-padded tail, which readers skip and count) but never the ledger's record.
 *
 * The file is reopened when the UTC day of `now()` changes, and when it was unlinked under the
 * writer (checked about once a second), so a deleted file does not swallow events. Files are
 * created 0600, the directory 0700.
 *
 * Synchronous by design: one small write per event costs a few microseconds and keeps event
 * order equal to program order.
 */
export class EventWriter {
  readonly dir: string;
  readonly project: string;
  readonly unit: EventUnit;
  private readonly now: () => number;
  private fd: number | undefined;
  private day = '';
  private checkedAt = 0;
  private dirReady = false;

  /** @throws AgentRunnerError ERR_AR_CONFIG_INVALID when `project` is not a valid project name. */
  constructor(options: EventWriterOptions) {
    this.dir = options.dir;
    this.project = assertProjectName(options.project);
    this.unit = options.unit;
    this.now = options.now ?? Date.now;
  }

  /**
   * Validates and appends one event; the payload is flattened after the envelope:
   * `{"v","ts","kind","unit","project","round"?, ...payload}`.
   *
   * @returns the record as written.
   * @throws AgentRunnerError ERR_AR_EVENT_INVALID when the event does not match its catalogue
   *   entry (unknown kind or field, missing required field, wrong type, too long), `round` is not
   *   a non-negative integer, or the line would exceed {@link MAX_EVENT_LINE_BYTES}.
   * @throws AgentRunnerError ERR_AR_IO when the file cannot be opened or written (disk full, ...).
   */
  emit<K extends EventKind>(kind: K, payload: EventPayload<K>, meta: EmitMeta = {}): EventRecord {
    const p = payload as Readonly<Record<string, unknown>>;
    const spec = validateEvent(kind, this.unit, p);
    const { round } = meta;
    if (round !== undefined && !(Number.isSafeInteger(round) && round >= 0)) {
      throw new AgentRunnerError('ERR_AR_EVENT_INVALID', `event ${kind}: round must be a non-negative integer`, {
        key: `${kind}.round`,
        expected: 'integer >= 0',
        found: String(round),
      });
    }
    const ms = this.now();
    const ts = new Date(ms).toISOString();
    const record: EventRecord = {
      v: spec.version,
      ts,
      kind,
      unit: this.unit,
      project: this.project,
      ...(round === undefined ? {} : { round }),
      ...p,
    };
    let json: string;
    try {
      json = JSON.stringify(record);
    } catch (e) {
      throw new AgentRunnerError('ERR_AR_EVENT_INVALID', `event ${kind}: payload is not serialisable as JSON`, {
        cause: e,
      });
    }
    const line = Buffer.from(`${json}\n`, 'utf8');
    if (line.length > MAX_EVENT_LINE_BYTES) {
      throw new AgentRunnerError('ERR_AR_EVENT_INVALID', `event ${kind}: line of ${line.length} bytes is too long`, {
        expected: `at most ${MAX_EVENT_LINE_BYTES} bytes`,
        found: `${line.length} bytes`,
      });
    }
    this.append(ts.slice(0, 10), ms, line);
    return record;
  }

  /** Closes the open file, if any. The writer reopens on the next emit. */
  close(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      this.day = '';
      closeSync(fd);
    }
  }

  private append(day: string, ms: number, line: Buffer): void {
    if (this.fd !== undefined && (day !== this.day || ms - this.checkedAt >= RECHECK_MS || ms < this.checkedAt)) {
      // Reopen on a new day, or when retention or an operator unlinked the file we hold.
      if (day !== this.day || fstatSync(this.fd).nlink === 0) this.close();
      else this.checkedAt = ms;
    }
    if (this.fd === undefined) this.open(day, ms);
    const fd = this.fd as number;
    try {
      let written = writeSync(fd, line, 0, line.length);
      // A short write only happens at a hard limit (disk full, file size limit). Finish the
      // line so the lines after it stay parseable; this tail is no longer atomic.
      while (written < line.length) written += writeSync(fd, line, written, line.length - written);
    } catch (e) {
      throw new AgentRunnerError('ERR_AR_IO', `cannot append to ${join(this.dir, eventFileName(day))}`, { cause: e });
    }
  }

  private open(day: string, ms: number): void {
    const path = join(this.dir, eventFileName(day));
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;
    for (let attempt = 0; ; attempt++) {
      try {
        if (!this.dirReady) {
          ensurePrivateDir(this.dir);
          this.dirReady = true;
        }
        this.fd = openSync(path, flags, PRIVATE_FILE_MODE);
        this.day = day;
        this.checkedAt = ms;
        return;
      } catch (e) {
        // The directory may have been removed since we created it: recreate once.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt === 0) {
          this.dirReady = false;
          continue;
        }
        throw new AgentRunnerError('ERR_AR_IO', `cannot open the event file ${path}`, { cause: e });
      }
    }
  }
}
