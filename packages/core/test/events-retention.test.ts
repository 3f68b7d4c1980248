// Retention deletes whole daily files: by age, then oldest-first by total size; never today's.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EventWriter, lastEvents, pruneEvents } from '../src/events/index.js';

const NOW = Date.parse('2026-08-10T09:00:00.000Z');

/** Ten daily files, 2026-08-01 .. 2026-08-10, of 1000 bytes each, plus an unrelated file. */
function tenDays(dir: string): void {
  for (let d = 1; d <= 10; d++) {
    writeFileSync(join(dir, `events-2026-08-${String(d).padStart(2, '0')}.jsonl`), `${'x'.repeat(999)}\n`);
  }
  writeFileSync(join(dir, 'notes.txt'), 'not an event file');
}

t.test('by age: files more than maxAgeDays before today go, today and newer stay', (t) => {
  const dir = t.testdir();
  tenDays(dir);
  writeFileSync(join(dir, 'events-2026-08-11.jsonl'), 'clock skew: a file from tomorrow\n');
  const r = pruneEvents(dir, { maxAgeDays: 3, now: () => NOW });
  t.same(
    r.deleted.map((d) => [d.file, d.reason, d.bytes]),
    ['01', '02', '03', '04', '05', '06'].map((d) => [`events-2026-08-${d}.jsonl`, 'age', 1000]),
  );
  t.same(readdirSync(dir).sort(), [
    'events-2026-08-07.jsonl',
    'events-2026-08-08.jsonl',
    'events-2026-08-09.jsonl',
    'events-2026-08-10.jsonl',
    'events-2026-08-11.jsonl',
    'notes.txt',
  ]);
  t.equal(r.keptBytes, 4000 + 33);
  t.same(pruneEvents(dir, { maxAgeDays: 3, now: () => NOW }).deleted, [], 'idempotent');
  t.equal(pruneEvents(dir, { maxAgeDays: 0, now: () => NOW }).deleted.length, 3, 'maxAgeDays 0 keeps only today on');
  t.end();
});

t.test('by size: oldest first until under budget, never today', (t) => {
  const dir = t.testdir();
  tenDays(dir);
  const r = pruneEvents(dir, { maxTotalBytes: 3500, now: () => NOW });
  t.same(
    r.deleted.map((d) => d.file),
    ['01', '02', '03', '04', '05', '06', '07'].map((d) => `events-2026-08-${d}.jsonl`),
  );
  t.ok(r.deleted.every((d) => d.reason === 'size'));
  t.equal(r.keptBytes, 3000);
  const all = pruneEvents(dir, { maxTotalBytes: 0, now: () => NOW });
  t.same(readdirSync(dir).sort(), ['events-2026-08-10.jsonl', 'notes.txt'], "today's file survives a zero budget");
  t.equal(all.keptBytes, 1000, 'budget may stay exceeded by today');
  t.end();
});

t.test('age then size, on files a writer produced; readers still work after', (t) => {
  const dir = t.testdir();
  let ms = Date.parse('2026-08-01T00:00:00.000Z');
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => ms });
  for (let d = 0; d < 10; d++) {
    for (let i = 0; i < 100 * (d + 1); i++) {
      w.emit('vcs_committed', { sha: `${d}-${i}` });
      ms += 1000;
    }
    ms = Date.parse('2026-08-01T00:00:00.000Z') + (d + 1) * 86_400_000;
  }
  w.close();
  const sizes = readdirSync(dir).sort();
  t.equal(sizes.length, 10);
  const r = pruneEvents(dir, { maxAgeDays: 5, maxTotalBytes: 200_000, now: () => NOW });
  t.same(
    r.deleted.filter((d) => d.reason === 'age').map((d) => d.file),
    ['01', '02', '03', '04'].map((d) => `events-2026-08-${d}.jsonl`),
  );
  t.ok(
    r.deleted.some((d) => d.reason === 'size'),
    'then by size',
  );
  t.ok(r.keptBytes <= 200_000);
  const last = lastEvents(dir, { n: 1 }).events[0];
  t.equal(last?.sha, '9-999', 'the newest event is still there');
  t.end();
});
