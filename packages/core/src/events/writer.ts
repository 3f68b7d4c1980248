import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../atomic.js';
import { isNoSpace } from '../disk.js';
import { AgentRunnerError, isErrno } from '../errors.js';
import { redactStrings } from '../redact.js';
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
  /**
   * Told once when events start being dropped for a full file system and once when they are
   * written again (with how many were dropped). Default: silent (the count is in {@link
   * EventWriter.dropped}).
   */
  log?: (priority: 'warning' | 'notice', line: string) => void;
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
 *
 * A full file system (ENOSPC, EDQUOT) never throws: the event is dropped and counted, the
 * first drop of an episode and the first write after it are told through `log`, and a line
 * cut off by the full disk is ended before the next one so that only it is lost. A unit must
 * not die because its narrative cannot be written; the ledger holds the truth.
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
  private readonly log: EventWriterOptions['log'];
  private droppedTotal = 0;
  /** Kinds dropped in the current full-disk episode, with counts; undefined when none. */
  private episode: Map<string, number> | undefined;
  /** The last write was cut short: the file ends in a fragment that needs its own line end. */
  private torn = false;

  /** @throws AgentRunnerError ERR_AR_CONFIG_INVALID when `project` is not a valid project name. */
  constructor(options: EventWriterOptions) {
    this.dir = options.dir;
    this.project = assertProjectName(options.project);
    this.unit = options.unit;
    this.now = options.now ?? Date.now;
    this.log = options.log;
  }

  /** Events dropped because the file system was full, since this writer was created. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /**
   * Validates and appends one event; the payload is flattened after the envelope:
   * `{"v","ts","kind","unit","project","round"?, ...payload}`.
   *
   * @returns the record as written (or as it would have been, when a full disk dropped it).
   * @throws AgentRunnerError ERR_AR_EVENT_INVALID when the event does not match its catalogue
   *   entry (unknown kind or field, missing required field, wrong type, too long), `round` is not
   *   a non-negative integer, or the line would exceed {@link MAX_EVENT_LINE_BYTES}.
   * @throws AgentRunnerError ERR_AR_IO when the file cannot be opened or written for another
   *   reason than a full file system (permissions, I/O error).
   */
  emit<K extends EventKind>(kind: K, payload: EventPayload<K>, meta: EmitMeta = {}): EventRecord {
    // Redacted before validation: what is checked (lengths) is what is written.
    const p = redactStrings(payload as Readonly<Record<string, unknown>>);
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
    try {
      this.append(ts.slice(0, 10), ms, line);
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      this.drop(kind);
      return record;
    }
    if (this.episode) this.endEpisode();
    return record;
  }

  private drop(kind: string): void {
    this.droppedTotal += 1;
    if (!this.episode) {
      this.episode = new Map();
      this.log?.(
        'warning',
        `events not written to ${this.dir}: the file system is full; dropping them until space is free (first: ${kind})`,
      );
    }
    this.episode.set(kind, (this.episode.get(kind) ?? 0) + 1);
  }

  private endEpisode(): void {
    const counts = [...(this.episode ?? [])];
    this.episode = undefined;
    const n = counts.reduce((sum, [, c]) => sum + c, 0);
    const kinds = counts.map(([k, c]) => `${k} x${c}`).join(', ');
    this.log?.('notice', `events written again to ${this.dir}; ${n} dropped while the file system was full (${kinds})`);
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
    // After a cut-off line, a leading newline ends the fragment (readers skip it as one bad
    // line) so this event does not merge into it; still one write(2).
    const out = this.torn ? Buffer.concat([Buffer.from('\n'), line]) : line;
    let written = 0;
    try {
      written = writeSync(fd, out, 0, out.length);
      // A short write only happens at a hard limit (disk full, file size limit). Finish the
      // line so the lines after it stay parseable; this tail is no longer atomic.
      while (written < out.length) written += writeSync(fd, out, written, out.length - written);
      this.torn = false;
    } catch (e) {
      if (written > 0) this.torn = true;
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
        this.torn = false;
        this.day = day;
        this.checkedAt = ms;
        return;
      } catch (e) {
        // The directory may have been removed since we created it: recreate once.
        if (isErrno(e, 'ENOENT') && attempt === 0) {
          this.dirReady = false;
          continue;
        }
        throw new AgentRunnerError('ERR_AR_IO', `cannot open the event file ${path}`, { cause: e });
      }
    }
  }
}
