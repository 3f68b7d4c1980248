import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { redactText } from './redact.js';

/**
 * The last `n` lines of a file, reading at most its last `maxBytes` (a round log can be
 * hundreds of MB; this stays O(maxBytes)), redacted (core/redact): they are read to be shown.
 * Missing or unreadable: no lines; never throws.
 * @param maxBytes bytes read from the end at most (default 64 KiB).
 */
export function tailLines(path: string, n: number, maxBytes = 64 * 1024): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return []; // ENOENT, EACCES: no lines, as documented (never throws)
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (len < size) lines.shift();
    return lines.slice(-n).map(redactText);
  } catch {
    return []; // EIO and the like mid-read: no lines, as documented
  } finally {
    closeSync(fd);
  }
}
