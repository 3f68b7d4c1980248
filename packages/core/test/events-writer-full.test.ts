// EventWriter on a full file system: it never throws, counts what it dropped, tells it once per
// episode, and a line the full disk cut off does not swallow the next one. Real ENOSPC: writes
// to /dev/full, and a small tmpfs in a mount namespace of its own (util-linux unshare).
import { execFileSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventWriter } from '../src/events/index.js';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');

t.test('ENOSPC drops the event without throwing; told once when it starts and once when it ends', (t) => {
  const dir = t.testdir();
  symlinkSync('/dev/full', join(dir, 'events-2026-05-01.jsonl'));
  let ms = T0;
  const logs: string[] = [];
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => ms, log: (p, line) => logs.push(`${p}: ${line}`) });
  const rec = w.emit('runner_resumed', { paused_s: 1 });
  t.match(rec, { kind: 'runner_resumed', paused_s: 1 }, 'the record is returned all the same');
  w.emit('runner_resumed', { paused_s: 2 });
  w.emit('max_rounds_reached', { max_rounds: 1, rounds_run: 1 });
  t.equal(w.dropped, 3);
  t.same(logs, [
    `warning: events not written to ${dir}: the file system is full; dropping them until space is free (first: runner_resumed)`,
  ]);
  ms += 86_400_000; // the next day's file is a regular one
  w.emit('runner_resumed', { paused_s: 3 });
  w.close();
  t.equal(logs.length, 2);
  t.equal(
    logs[1],
    `notice: events written again to ${dir}; 3 dropped while the file system was full (runner_resumed x2, max_rounds_reached x1)`,
  );
  t.match(JSON.parse(readFileSync(join(dir, 'events-2026-05-02.jsonl'), 'utf8')), { kind: 'runner_resumed', paused_s: 3 });
  t.throws(() => w.emit('runner_resumed', { paused_s: 'x' } as never), { code: 'ERR_AR_EVENT_INVALID' }, 'invalid events still throw');
  t.end();
});

t.test('a line cut off by a full tmpfs gets its own line end; the next event after space is back parses', (t) => {
  const dir = t.testdir();
  const script = join(dir, 'fill.mjs');
  const writer = fileURLToPath(new URL('../dist/events/index.js', import.meta.url));
  writeFileSync(
    script,
    `import { EventWriter } from ${JSON.stringify(writer)};
import { openSync, writeSync, closeSync, rmSync, readFileSync } from 'node:fs';
const dir = process.argv[2];
const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => ${T0} });
w.emit('runner_resumed', { paused_s: 1 });
// Fill every free block; the events file keeps the rest of its last page.
const fd = openSync(dir + '/filler', 'w');
try { for (;;) writeSync(fd, Buffer.alloc(4096)); } catch (e) { if (e.code !== 'ENOSPC') throw e; }
closeSync(fd);
// Longer than the rest of the page: part of it lands, then ENOSPC.
w.emit('config_broken', { check: 'x', detail: 'y'.repeat(1900) });
w.emit('config_broken', { check: 'x', detail: 'z'.repeat(1900) });
w.emit('config_broken', { check: 'x', detail: 'w'.repeat(1900) });
rmSync(dir + '/filler');
w.emit('runner_resumed', { paused_s: 2 });
w.close();
process.stdout.write(JSON.stringify({ dropped: w.dropped, text: readFileSync(dir + '/events-2026-05-01.jsonl', 'utf8') }));
`,
  );
  const mnt = join(dir, 'mnt');
  const root = process.getuid?.() === 0;
  const out = execFileSync(
    'unshare',
    [
      ...(root ? [] : ['--user', '--map-root-user']),
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mkdir -p "$1" && mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" "$3" "$1"',
      'sh',
      mnt,
      process.execPath,
      script,
    ],
    { encoding: 'utf8' },
  );
  const { dropped, text } = JSON.parse(out) as { dropped: number; text: string };
  const lines = text.split('\n').filter(Boolean);
  t.ok(dropped >= 1, `${dropped} event(s) dropped`);
  t.match(JSON.parse(lines[0] as string), { kind: 'runner_resumed', paused_s: 1 });
  t.match(
    JSON.parse(lines.at(-1) as string),
    { kind: 'runner_resumed', paused_s: 2 },
    'the event after the full period is a line of its own',
  );
  const cut = lines.slice(1, -1);
  t.ok(cut.length <= 3, 'at most the cut-off fragments in between');
  t.ok(
    cut.some((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    }),
    'the cut-off line is there, on its own',
  );
  t.end();
});
