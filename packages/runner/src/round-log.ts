/**
 * Per-round output logs: `<roundsDir>/R<N>-<YYYYMMDDTHHMMSSZ>.log` holding the agent's
 * output bytes exactly as it wrote them, a `round-current.log` symlink that always points at
 * the live one (`tail -F` follows it across rounds), retention by count and total size, and
 * a tail reader that costs O(lines asked), not O(file).
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '@agent-runner/core/atomic';
import { AgentRunnerError, isErrno } from '@agent-runner/core/errors';

const NAME_RE = /^R(\d+)-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.log$/;

/** `R<N>-<UTC YYYYMMDDTHHMMSSZ>.log` for a round that started at `startedAtMs` (ms since epoch). */
export function roundLogName(round: number, startedAtMs: number): string {
  const iso = new Date(startedAtMs).toISOString(); // 2026-01-02T03:04:05.678Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `R${round}-${stamp}.log`;
}

/** Parses a round log file name; undefined for anything else. */
export function parseRoundLogName(name: string): { round: number; startedAtMs: number } | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const [, r, y, mo, d, h, mi, s] = m;
  return { round: Number(r), startedAtMs: Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) };
}

/**
 * Points `link` at `target` atomically: a symlink under a temp name, renamed over `link`.
 * Readers see the old target or the new one, never a missing link.
 */
export function repointSymlink(link: string, target: string): void {
  const tmp = join(dirname(link), `.${basename(link)}.tmp-${randomBytes(6).toString('hex')}`);
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, link);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // ENOENT: already gone; anything else must not hide the rename's error, thrown below
    }
    throw e;
  }
}

/** Options of {@link openRoundLog}. */
export interface OpenRoundLogOptions {
  /** Directory of the per-round logs (created 0700 if missing). */
  roundsDir: string;
  /** Path of the `round-current.log` symlink; its target is written relative to its directory. */
  currentLink: string;
  /** Round number (positive integer). */
  round: number;
  /** Round start, ms since epoch; gives the UTC stamp in the name. */
  startedAtMs: number;
}

/** An open round log. */
export interface RoundLog {
  /** Absolute or as-given path of the log file. */
  readonly path: string;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Bytes not in the log: every chunk given after the file could not be created or a write failed. */
  readonly droppedBytes: number;
  /**
   * The first failure, as the file system reported it (`code` ENOSPC, EDQUOT, EIO, EACCES, ...):
   * the file could not be created, `round-current.log` could not be repointed (the log itself
   * is still written), or a write failed (later writes are counted in droppedBytes, not tried).
   */
  readonly error: NodeJS.ErrnoException | undefined;
  /**
   * Appends one chunk (strings as UTF-8). Never throws: a failing disk must not take the
   * round supervisor down with it; check {@link error}.
   */
  write(chunk: Buffer | string): void;
  /** Closes the file; the symlink keeps pointing at it until the next round. Idempotent. */
  close(): void;
}

/**
 * Creates (or appends to) the round's log file (mode 0600) and repoints `currentLink` at it.
 * Never throws: a full disk or an unwritable directory must not stop the round, so a log that
 * cannot be created drops (and counts) its output and says why in {@link RoundLog.error}.
 */
export function openRoundLog(opts: OpenRoundLogOptions): RoundLog {
  const path = join(opts.roundsDir, roundLogName(opts.round, opts.startedAtMs));
  let fd: number | undefined;
  let error: NodeJS.ErrnoException | undefined;
  try {
    ensurePrivateDir(opts.roundsDir);
    ensurePrivateDir(dirname(opts.currentLink));
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, PRIVATE_FILE_MODE);
    repointSymlink(opts.currentLink, relative(dirname(opts.currentLink), path));
  } catch (e) {
    error = e as NodeJS.ErrnoException;
  }
  let bytes = 0;
  let dropped = 0;
  let writable = fd !== undefined;
  return {
    path,
    get bytes() {
      return bytes;
    },
    get droppedBytes() {
      return dropped;
    },
    get error() {
      return error;
    },
    write(chunk: Buffer | string): void {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      if (!writable) {
        dropped += buf.length;
        return;
      }
      try {
        let off = 0;
        while (off < buf.length) off += writeSync(fd as number, buf, off, buf.length - off);
        bytes += buf.length;
      } catch (e) {
        error ??= e as NodeJS.ErrnoException;
        writable = false;
        dropped += buf.length;
      }
    },
    close(): void {
      if (fd === undefined) return;
      const f = fd;
      fd = undefined;
      writable = false;
      closeSync(f);
    },
  };
}

/** Options of {@link pruneRoundLogs}. */
export interface PruneOptions {
  /** Keep at most this many round logs (protected ones count). */
  keep: number;
  /** Keep at most this many bytes of round logs in total (protected ones count); omit for no cap. */
  maxTotalBytes?: number;
  /** Paths never removed (the live round's log). */
  protect?: string[];
}

/** What {@link pruneRoundLogs} did. */
export interface PruneResult {
  removed: string[];
  keptCount: number;
  keptBytes: number;
}

/**
 * Removes the oldest round logs until at most `keep` remain and their total size is at most
 * `maxTotalBytes`. Age is the round number parsed from the name (then the stamp), never
 * mtime: a touched or copied file must not jump the queue. Files not named like round logs
 * are left alone. A file that vanishes meanwhile is skipped.
 */
export function pruneRoundLogs(roundsDir: string, opts: PruneOptions): PruneResult {
  let names: string[];
  try {
    names = readdirSync(roundsDir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return { removed: [], keptCount: 0, keptBytes: 0 };
    throw new AgentRunnerError('ERR_AR_IO', `cannot list ${roundsDir}: ${(e as Error).message}`, { cause: e });
  }
  const protect = new Set((opts.protect ?? []).map((p) => basename(p)));
  const logs: { name: string; round: number; startedAtMs: number; size: number }[] = [];
  for (const name of names) {
    const parsed = parseRoundLogName(name);
    if (!parsed) continue;
    try {
      logs.push({ name, ...parsed, size: statSync(join(roundsDir, name)).size });
    } catch (e) {
      if (!isErrno(e, 'ENOENT'))
        throw new AgentRunnerError('ERR_AR_IO', `cannot stat ${join(roundsDir, name)}: ${(e as Error).message}`, { cause: e });
      // removed meanwhile
    }
  }
  logs.sort((a, b) => a.round - b.round || a.startedAtMs - b.startedAtMs);
  let count = logs.length;
  let total = logs.reduce((s, l) => s + l.size, 0);
  const maxBytes = opts.maxTotalBytes ?? Infinity;
  const removed: string[] = [];
  for (const l of logs) {
    if (count <= opts.keep && total <= maxBytes) break;
    if (protect.has(l.name)) continue;
    const p = join(roundsDir, l.name);
    try {
      unlinkSync(p);
      removed.push(p);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) {
        throw new AgentRunnerError('ERR_AR_IO', `cannot remove ${p}: ${(e as Error).message}`, { cause: e });
      }
    }
    count -= 1;
    total -= l.size;
  }
  return { removed, keptCount: count, keptBytes: total };
}

/** Options of {@link readTail}. */
export interface ReadTailOptions {
  /** Read size per step backwards from the end, bytes (default 64 KiB). */
  chunkBytes?: number;
  /** Never read more than this many bytes from the end (default 8 MiB). */
  maxBytes?: number;
}

/** The last lines of a file and what it took to get them. */
export interface TailResult {
  /** Up to n lines, oldest first, without line ends (`\r\n` ends count as one). */
  lines: string[];
  /** Bytes actually read from the file. */
  bytesRead: number;
  /** The maxBytes cap was hit before n lines were found; the first line returned is whole. */
  capped: boolean;
}

/**
 * Reads the last `n` lines of `path` backwards in chunks, so the cost is O(size of those
 * lines), whatever the file size. Bytes are decoded as UTF-8.
 * @throws AgentRunnerError ERR_AR_IO when the file cannot be opened.
 */
export function readTail(path: string, n: number, opts: ReadTailOptions = {}): TailResult {
  if (n <= 0) return { lines: [], bytesRead: 0, capped: false };
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new AgentRunnerError('ERR_AR_IO', `cannot read ${path}: ${(e as Error).message}`, {
      location: { file: path },
      cause: e,
    });
  }
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    let bytesRead = 0;
    let lastByte = -1;
    // A file ending in \n has one more \n than complete lines we want: the n-th line is
    // delimited by the (n+1)-th newline from the end.
    while (pos > 0 && bytesRead < maxBytes) {
      const len = Math.min(chunkBytes, pos, maxBytes - bytesRead);
      pos -= len;
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const r = readSync(fd, buf, got, len - got, pos + got);
        if (r === 0) break;
        got += r;
      }
      bytesRead += got;
      const b = buf.subarray(0, got);
      if (lastByte < 0 && b.length > 0) lastByte = b[b.length - 1] as number;
      chunks.unshift(b);
      for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) newlines++;
      if (newlines > n || (newlines === n && lastByte !== 0x0a)) break;
    }
    let text = Buffer.concat(chunks).toString('utf8');
    if (text.endsWith('\n')) text = text.slice(0, -1);
    let lines = text.split('\n');
    const atStart = pos === 0;
    // Unless we reached the start of the file, the first piece begins mid-line.
    if (!atStart) lines = lines.slice(1);
    const capped = !atStart && lines.length < n;
    lines = lines.slice(-n).map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    if (size === 0) lines = [];
    return { lines, bytesRead, capped };
  } finally {
    closeSync(fd);
  }
}

/** The last `n` lines of `path` (see {@link readTail}). */
export function tailLines(path: string, n: number): string[] {
  return readTail(path, n).lines;
}
