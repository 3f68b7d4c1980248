// Readers against brute force over real multi-day files: lastEvents (backwards, chunked,
// pre-filtered), eventsSince (binary search by time, cursor pagination), and damaged files
// (torn tails, glued lines, NUL runs, oversized lines) skipped and counted, never thrown.
import { appendFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type { EventKind, EventRecord } from '../src/events/index.js';
import { EventWriter, endCursor, eventsSince, lastEvents } from '../src/events/index.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const START = Date.parse('2026-06-01T20:00:00.000Z');

/** All events of all files in file order, parsed the slow way; garbage lines counted. */
function bruteForce(dir: string): { events: EventRecord[]; garbage: number } {
  const events: EventRecord[] = [];
  let garbage = 0;
  for (const f of readdirSync(dir).sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    const lines = text.split('\n');
    const tail = lines.pop();
    if (tail) garbage++;
    for (const l of lines) {
      if (!l) continue;
      try {
        const v = JSON.parse(l) as EventRecord;
        if (typeof v.kind === 'string' && typeof v.ts === 'string') events.push(v);
        else garbage++;
      } catch {
        garbage++;
      }
    }
  }
  return { events, garbage };
}

/**
 * Writes ~n events over ~3 UTC days, mixed kinds, a monotonic clock with optional backwards
 * jitter (cross-process skew), and some garbage lines.
 */
function generate(dir: string, n: number, seed: number, jitterMs = 0): void {
  const r = rng(seed);
  let ms = START;
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => ms - Math.floor(r() * jitterMs) });
  for (let i = 0; i < n; i++) {
    ms += Math.floor(r() * 60_000);
    const round = Math.floor(i / 10);
    const x = r();
    if (x < 0.6) w.emit('round_start', { phase: 'p', prompt_bytes: i, log_file: 'x'.repeat(Math.floor(r() * 300)) }, { round });
    else if (x < 0.9) w.emit('round_grace_kill', { grace_s: i, signal: 'SIGKILL' }, { round });
    else if (x < 0.99) w.emit('vcs_committed', { sha: String(i), message: 'm'.repeat(Math.floor(r() * 200)) }, { round });
    else w.emit('crash_loop', { consecutive: 5, threshold: 5, last_exit_code: 1, tail: '"kind":"vcs_committed"' });
    if (r() < 0.005) {
      const day = new Date(ms).toISOString().slice(0, 10);
      appendFileSync(join(dir, `events-${day}.jsonl`), r() < 0.5 ? '{"v":1,"ts":"garbage\n' : 'not json at all\n');
    }
  }
  w.close();
}

/** Deep equality of event lists by their JSON text (tap's t.same is slow on thousands). */
function sameEvents(t: Test, got: readonly EventRecord[], want: readonly EventRecord[], msg: string): void {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g === w) t.pass(msg);
  else t.fail(msg, { found: `${got.length} events`, wanted: `${want.length} events` });
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

t.test('lastEvents equals brute force for random queries and chunk sizes', (t) => {
  const dir = t.testdir();
  generate(dir, 6000, 1);
  const { events: all, garbage } = bruteForce(dir);
  t.ok(readdirSync(dir).length >= 3, 'several daily files');
  t.ok(garbage > 5, `garbage lines present (${garbage})`);
  const r = rng(2);
  const kindSets: (EventKind[] | undefined)[] = [
    undefined,
    ['round_start'],
    ['vcs_committed'],
    ['crash_loop'],
    ['vcs_committed', 'crash_loop'],
    ['round_grace_kill', 'round_start', 'crash_loop'],
    ['max_rounds_reached'],
  ];
  for (let q = 0; q < 60; q++) {
    const kinds = pick(r, kindSets);
    const n = pick(r, [1, 3, 50, 500, 5000, 100000]);
    const round = r() < 0.2 ? Math.floor(r() * 600) : undefined;
    const chunkBytes = pick(r, [97, 1000, 4096, 65536]);
    const order = r() < 0.5 ? ('newest-first' as const) : undefined;
    const want = all.filter((e) => (!kinds || kinds.includes(e.kind as EventKind)) && (round === undefined || e.round === round));
    const wantLast = want.slice(Math.max(0, want.length - n));
    if (order === 'newest-first') wantLast.reverse();
    const got = lastEvents(dir, {
      n,
      chunkBytes,
      ...(kinds ? { kinds } : {}),
      ...(round === undefined ? {} : { round }),
      ...(order ? { order } : {}),
    });
    sameEvents(t, got.events, wantLast, `n=${n} kinds=${kinds?.join(',')} round=${round} chunk=${chunkBytes} ${order ?? ''}`);
  }
  const everything = lastEvents(dir, { n: 1e9, chunkBytes: 333 });
  t.equal(everything.events.length, all.length);
  t.equal(everything.malformed, garbage, 'every garbage line counted once');
  t.same(lastEvents(join(dir, 'missing'), { n: 5 }).events, [], 'missing directory: no events');
  t.end();
});

t.test('eventsSince equals brute force; binary search tolerates cross-process skew', (t) => {
  const dir = t.testdir();
  generate(dir, 6000, 3, 5000);
  const { events: all } = bruteForce(dir);
  const first = Date.parse(all[0]?.ts as string);
  const lastMs = Date.parse(all.at(-1)?.ts as string);
  const r = rng(4);
  for (let q = 0; q < 40; q++) {
    const sinceMs = Math.floor(first - 3_600_000 + r() * (lastMs - first + 7_200_000));
    const kinds = r() < 0.3 ? (['vcs_committed'] as EventKind[]) : undefined;
    const want = all.filter((e) => Date.parse(e.ts) >= sinceMs && (!kinds || kinds.includes(e.kind as EventKind)));
    const got = eventsSince(dir, { sinceMs, ...(kinds ? { kinds } : {}) });
    sameEvents(t, got.events, want, `since ${new Date(sinceMs).toISOString()} ${kinds ?? ''}`);
    t.ok(got.done);
    t.same(got.cursor, endCursor(dir), 'cursor at the end of the stream');
  }
  t.end();
});

t.test('binary search backs up by skewMs: out-of-order lines near the target are not missed', (t) => {
  const dir = t.testdir();
  // 50 ms apart with up to 3 s of backwards jitter: lines are far out of ts order locally.
  const r = rng(9);
  let ms = Date.parse('2026-06-02T01:00:00.000Z');
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => ms - Math.floor(r() * 3000) });
  for (let i = 0; i < 8000; i++) {
    ms += 50;
    w.emit('round_start', { phase: 'p', prompt_bytes: i, log_file: 'x'.repeat(Math.floor(r() * 400)) }, { round: i });
  }
  w.close();
  const { events: all } = bruteForce(dir);
  let missedWithoutSkew = 0;
  for (let q = 0; q < 40; q++) {
    const sinceMs = Date.parse('2026-06-02T01:00:00.000Z') + Math.floor(r() * 400_000);
    const want = all.filter((e) => Date.parse(e.ts) >= sinceMs);
    sameEvents(t, eventsSince(dir, { sinceMs }).events, want, `since ${new Date(sinceMs).toISOString()}`);
    if (eventsSince(dir, { sinceMs, skewMs: 0 }).events.length < want.length) missedWithoutSkew++;
  }
  t.ok(missedWithoutSkew > 0, `the scenario needs the skew allowance (${missedWithoutSkew}/40 missed without it)`);
  t.end();
});

t.test('cursor pagination returns every event exactly once', (t) => {
  const dir = t.testdir();
  generate(dir, 3000, 5);
  const { events: all } = bruteForce(dir);
  const seen: EventRecord[] = [];
  let cursor = null as ReturnType<typeof endCursor>;
  let pages = 0;
  for (;;) {
    const page = eventsSince(dir, { cursor, limit: 137 });
    seen.push(...page.events);
    cursor = page.cursor;
    pages++;
    if (page.done) break;
    t.equal(page.events.length, 137);
  }
  sameEvents(t, seen, all, `all events in order over ${pages} pages`);
  // A cursor whose file was pruned continues with the next newer file.
  const files = readdirSync(dir).sort();
  rmSync(join(dir, files[0] as string));
  const after = eventsSince(dir, { cursor: { file: files[0] as string, offset: 10 } });
  sameEvents(t, after.events, bruteForce(dir).events, 'pruned cursor file: next file from its start');
  // A cursor beyond the end of its file (deleted and recreated since): read from the start.
  const newest = files.at(-1) as string;
  const end = endCursor(dir);
  rmSync(join(dir, newest));
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => Date.parse(`${newest.slice(7, 17)}T12:00:00Z`) });
  w.emit('vcs_committed', { sha: 'recreated' });
  w.close();
  t.same(
    eventsSince(dir, { cursor: end }).events.map((e) => e.sha),
    ['recreated'],
    'recreated file read from its start',
  );
  t.end();
});

t.test('torn, glued, NUL-filled and oversized lines are skipped and counted', (t) => {
  const dir = t.testdir();
  const file = join(dir, 'events-2026-06-01.jsonl');
  let ms = START;
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => (ms += 1000) });
  const emit = (i: number): void => {
    w.emit('vcs_committed', { sha: String(i) }, { round: i });
  };
  for (let i = 0; i < 5; i++) emit(i);

  // A torn tail: a line still being written (or cut by a crash).
  const whole = `{"v":1,"ts":"2026-06-01T20:00:06.000Z","kind":"vcs_committed","unit":"runner","project":"demo","round":5,"sha":"5"}`;
  appendFileSync(file, whole.slice(0, 40));
  let last = lastEvents(dir, { n: 10, kinds: ['vcs_committed'] });
  t.same(
    last.events.map((e) => e.round),
    [0, 1, 2, 3, 4],
    'torn tail skipped',
  );
  t.equal(last.malformed, 1, 'torn tail counted');
  const page = eventsSince(dir, {});
  t.equal(page.events.length, 5);
  t.equal(page.malformed, 0, 'the newest file tail is pending, not malformed');
  appendFileSync(file, `${whole.slice(40)}\n`);
  const resumed = eventsSince(dir, { cursor: page.cursor });
  t.same(
    resumed.events.map((e) => e.round),
    [5],
    'the completed line is read after the cursor',
  );

  // A crash leaves a fragment and the next writer glues its line onto it.
  appendFileSync(file, '{"v":1,"ts":"2026-06-01T2');
  emit(6);
  emit(7);
  // A power cut can leave a run of NULs; make it longer than any line a reader buffers.
  appendFileSync(file, Buffer.alloc(3 * 1024 * 1024));
  appendFileSync(file, '\n');
  emit(8);
  // An oversized line (from some other tool) in the middle.
  appendFileSync(file, `${'{"x":"'.padEnd(2 * 1024 * 1024, 'y')}"}\n`);
  emit(9);
  w.close();

  for (const chunkBytes of [64, 4096, 65536]) {
    last = lastEvents(dir, { n: 100, chunkBytes });
    t.same(
      last.events.map((e) => e.round),
      [0, 1, 2, 3, 4, 5, 7, 8, 9],
      `backwards, chunk ${chunkBytes}`,
    );
    t.equal(last.malformed, 3, 'glued line, NUL run and oversized line counted');
  }
  const all = eventsSince(dir, {});
  t.same(
    all.events.map((e) => e.round),
    [0, 1, 2, 3, 4, 5, 7, 8, 9],
    'forwards',
  );
  t.equal(all.malformed, 3);
  t.end();
});

t.test('a file with only a fragment, and an empty directory', (t) => {
  const dir = t.testdir();
  t.same(eventsSince(dir, {}), { events: [], cursor: null, malformed: 0, done: true });
  t.equal(endCursor(dir), null);
  writeFileSync(join(dir, 'events-2026-06-01.jsonl'), '{"v":1,"ts":');
  t.same(lastEvents(dir, { n: 3 }), { events: [], malformed: 1, filesRead: 1 });
  t.same(endCursor(dir), { file: 'events-2026-06-01.jsonl', offset: 0 });
  t.end();
});
