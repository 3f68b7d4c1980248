import {
  chownSync,
  closeSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  constants,
} from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isErrno } from './errors.js';

/** File mode for anything holding state or secrets. */
export const PRIVATE_FILE_MODE = 0o600;
/** Directory mode for state directories. */
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Creates `dir` and its parents with mode 0700 (existing directories are left as they are).
 * @throws NodeJS.ErrnoException from mkdir (EACCES, ENOTDIR, ...).
 */
export function ensurePrivateDir(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return;
  // Directories root creates under a service user's state belong to that user (see giveToDirOwner).
  const owner = statSync(dirname(first));
  for (let d = dir; d.length >= first.length; d = dirname(d)) {
    const st = statSync(d);
    if (st.uid === owner.uid && st.gid === owner.gid) continue;
    try {
      chownSync(d, owner.uid, owner.gid);
    } catch (e) {
      if (!isErrno(e, 'EPERM')) throw e;
    }
  }
}

/** fsyncs a directory so a rename inside it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Hands the open file to the owner of `dir` when they differ. Only root may; anyone else
 * creates files it owns in a directory it may write, and keeps them.
 */
export function giveToDirOwner(fd: number, dir: string): void {
  const owner = statSync(dir);
  const st = fstatSync(fd);
  if (st.uid === owner.uid && st.gid === owner.gid) return;
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } catch (e) {
    if (!isErrno(e, 'EPERM')) throw e;
  }
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename over
 * the target, fsync of the directory. Readers see the old content or the new, never a mix,
 * and a crash leaves at most a stray `.tmp-*` file, never a torn target.
 *
 * The file belongs to the directory's owner: root writing a marker into a service user's state
 * directory (`sudo agent-runner --system heal reset`, `stop`, `/pause` by an operator) hands it
 * over, or the service user could not read the 0600 file it is meant to act on.
 *
 * @param mode file mode of the new file (default 0600).
 * @throws NodeJS.ErrnoException when the directory is missing or not writable.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode: number = PRIVATE_FILE_MODE): void {
  const dir = dirname(path);
  const tmp = join(dir, `.tmp-${basename(path)}-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    giveToDirOwner(fd, dir);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  fsyncDir(dir);
}
