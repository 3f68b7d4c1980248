import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { AgentRunnerError, errnoCode } from '../errors.js';
import { clampLine } from './show.js';

/**
 * Largest config file read, in bytes. Real configs are a few KiB; the cap keeps `-c` on a
 * log, an image or a growing file from costing memory and time before the parser says no.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** What a non-regular file is, in words, or undefined for a regular file. */
function kindOf(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** What a stat of a would-be input file found. */
type Inspection = { ok: true; size: number } | { ok: false; tooBig: boolean; reason: string; size?: number };

/** Stats `path` (follows symlinks, never opens: a FIFO would block the open, a device stream forever). */
function inspect(path: string, maxBytes: number): Inspection {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    return { ok: false, tooBig: false, reason: describeStatError(e) };
  }
  const kind = kindOf(st);
  if (kind) return { ok: false, tooBig: false, reason: `is ${kind}, not a regular file` };
  if (st.size > maxBytes)
    return { ok: false, tooBig: true, size: st.size, reason: `is ${sizeText(st.size)}, more than the ${sizeText(maxBytes)} allowed` };
  return { ok: true, size: st.size };
}

/**
 * Why `path` cannot be read as a regular file of at most `maxBytes`, or undefined when it
 * can. Only stats, never opens; for files the config names (env file, prompt, secrets).
 */
export function irregularFileReason(path: string, maxBytes: number): string | undefined {
  const r = inspect(path, maxBytes);
  return r.ok ? undefined : r.reason;
}

function describeStatError(e: unknown): string {
  const code = errnoCode(e);
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'ELOOP') return 'is a symlink loop (too many levels of symbolic links)';
  if (code === 'ENOTDIR') return 'does not exist (a component of the path is not a directory)';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read: permission denied';
  return `cannot be read: ${(e as Error).message}`;
}

/** `2.0 MiB`, `512 KiB`, `300 bytes`. */
function sizeText(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} bytes`;
}

const HINT_NOT_FILE = 'Pass --config (or AGENT_RUNNER_CONFIG) the path of a regular agent-runner.toml file.';
const HINT_TOO_BIG = `Is this the right file? An agent-runner.toml is a few KiB (at most ${sizeText(MAX_CONFIG_BYTES)}): keep prompts and environments in the files the config names.`;

/**
 * Reads a config file as UTF-8 text, refusing what is not a regular file of at most
 * {@link MAX_CONFIG_BYTES} bytes.
 *
 * The type is checked with stat before anything is opened (a FIFO is never opened, so it
 * cannot block), then again on the open descriptor (O_NONBLOCK, so a file swapped for a FIFO in
 * between cannot block either), and at most one byte past the cap is read (a file that grows,
 * or a /proc file that reports size 0, stays bounded).
 * @throws AgentRunnerError (exit 78): ERR_AR_CONFIG_NOT_FOUND when the path is missing,
 *   unreadable or not a regular file; ERR_AR_CONFIG_INVALID when it is larger than the cap;
 *   ERR_AR_CONFIG_SYNTAX (with the line) when it is not UTF-8.
 */
export function readConfigSource(path: string): string {
  const shown = clampLine(path, 200);
  const notFile = (why: string, cause?: unknown): AgentRunnerError =>
    new AgentRunnerError('ERR_AR_CONFIG_NOT_FOUND', `config file ${shown} ${why}`, {
      location: { file: path },
      hint: HINT_NOT_FILE,
      ...(cause ? { cause } : {}),
    });
  const tooBig = (size: string): AgentRunnerError =>
    new AgentRunnerError(
      'ERR_AR_CONFIG_INVALID',
      `config file ${shown} is ${size}, more than the ${sizeText(MAX_CONFIG_BYTES)} a config file may have`,
      { location: { file: path }, expected: `at most ${sizeText(MAX_CONFIG_BYTES)}`, found: size, hint: HINT_TOO_BIG },
    );

  const before = inspect(path, MAX_CONFIG_BYTES);
  if (!before.ok) throw before.tooBig ? tooBig(sizeText(before.size ?? 0)) : notFile(before.reason);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw notFile(describeStatError(e), e);
  }
  try {
    const kind = kindOf(fstatSync(fd));
    if (kind) throw notFile(`is ${kind}, not a regular file`);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_CONFIG_BYTES) throw tooBig(`more than ${sizeText(MAX_CONFIG_BYTES)}`);
    const bytes = buf.subarray(0, n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      // TypeError: not UTF-8.
      // A lenient decode would turn the bad bytes into U+FFFD inside a key or a value unseen.
      throw new AgentRunnerError('ERR_AR_CONFIG_SYNTAX', `config file ${shown} is not valid UTF-8 (TOML must be)`, {
        location: { file: path, line: invalidUtf8Line(bytes) },
        expected: 'UTF-8 text',
        found: 'bytes that are not UTF-8',
        hint: 'Re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).',
      });
    }
  } catch (e) {
    if (e instanceof AgentRunnerError) throw e;
    throw notFile(describeStatError(e), e);
  } finally {
    closeSync(fd);
  }
}

/** The 1-based line holding the first byte sequence that is not UTF-8. */
function invalidUtf8Line(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let line = 1, start = 0; ; line++) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return line; // TypeError: this line holds the bad bytes
    }
    if (nl === -1) return line;
    start = nl + 1;
  }
}

/** True when `path` is a symlink (also a dangling or looping one). */
export function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    // ENOENT, ENOTDIR; EACCES too: the caller then reports "not found", not an internal error.
    return false;
  }
}
