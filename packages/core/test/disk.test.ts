import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskUsage, tightestDisk } from '../src/disk.js';

t.test('one file system is measured once, at the first path on it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-disk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const logs = join(state, 'logs');
  mkdirSync(logs, { recursive: true });
  t.equal(tightestDisk([state, logs])?.path, state);
  t.equal(tightestDisk([logs, state])?.path, logs);
  t.equal(tightestDisk([join(dir, 'not', 'yet')])?.path, dir, 'a path not created yet: its nearest ancestor');
  t.equal(tightestDisk([]), undefined);
});

t.test(
  'of two file systems, the one with fewer free bytes',
  { skip: statSync('/dev/shm', { throwIfNoEntry: false })?.dev === statSync(tmpdir()).dev && 'no second file system here' },
  async (t) => {
    const a = diskUsage(tmpdir());
    const b = diskUsage('/dev/shm');
    if (!a || !b) return t.fail('statfs failed');
    const fuller = a.free_bytes <= b.free_bytes ? a.path : b.path;
    t.equal(tightestDisk([tmpdir(), '/dev/shm'])?.path, fuller);
    t.equal(tightestDisk(['/dev/shm', tmpdir()])?.path, fuller);
  },
);
