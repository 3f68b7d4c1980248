// The follower against a writer in another process crossing a UTC day boundary (injected
// clock), with fs.watch and with polling only; resuming from a cursor; late lines appended to
// the previous day's file after the switch.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { EventCursor, FollowedEvent, FollowOptions } from '../src/events/index.js';
import { EventWriter, followEvents } from '../src/events/index.js';

const WORKER = fileURLToPath(new URL('./fixtures/events-writer.mjs', import.meta.url));
const COUNT = Number(process.env.EVENTS_FOLLOW_COUNT ?? '3000');
const MIDNIGHT = Date.parse('2026-07-01T00:00:00.000Z');

function writeInChild(dir: string, env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [WORKER], {
    env: { ...process.env, EV_DIR: dir, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
  });
}

/** Collects followed events until `stop` says so or `timeoutMs` passes. */
async function collect(
  dir: string,
  options: FollowOptions,
  stop: (got: FollowedEvent[]) => boolean,
  timeoutMs = 20_000,
  got: FollowedEvent[] = [],
): Promise<FollowedEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for await (const item of followEvents(dir, { ...options, signal: ac.signal })) {
      got.push(item);
      if (stop(got)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

function sequenceProblems(got: FollowedEvent[], count: number): string[] {
  const seqs = got.map((g) => g.event.prompt_bytes as number);
  const problems: string[] = [];
  if (seqs.length !== count) problems.push(`${seqs.length} events, want ${count}`);
  seqs.forEach((s, i) => {
    if (s !== i && problems.length < 5) problems.push(`position ${i} holds ${s}`);
  });
  return problems;
}

for (const watch of [true, false]) {
  t.test(`follower sees every event once across a day boundary (${watch ? 'fs.watch' : 'poll only'})`, async (t) => {
    const dir = t.testdir();
    let firstAt = Infinity;
    const following = collect(dir, { from: 'now', watch, pollMs: watch ? 1000 : 20 }, (g) => {
      if (g.length === 1) firstAt = Date.now();
      return g.length >= COUNT;
    });
    let exitAt = 0;
    const writing = writeInChild(dir, {
      EV_COUNT: String(COUNT),
      EV_START_MS: String(MIDNIGHT - COUNT / 2), // half before midnight, half after
      EV_STEP_MS: '1',
      EV_PAUSE_EVERY: '50',
      EV_PAUSE_MS: '3',
      EV_PAD_MAX: '300',
    }).then(() => {
      exitAt = Date.now();
    });
    const [got] = await Promise.all([following, writing]);
    t.same(readdirSync(dir).sort(), ['events-2026-06-30.jsonl', 'events-2026-07-01.jsonl'], 'the writer rotated');
    t.same(sequenceProblems(got, COUNT), [], `all ${COUNT} events exactly once, in order`);
    const days = new Set(got.map((g) => g.cursor.file));
    t.equal(days.size, 2, 'cursors moved to the new day file');
    t.ok(firstAt < exitAt, `followed live: first event ${exitAt - firstAt} ms before the writer exited`);
  });
}

t.test('resume from a cursor: nothing lost, nothing repeated', async (t) => {
  const dir = t.testdir();
  await writeInChild(dir, { EV_COUNT: '1000', EV_START_MS: String(MIDNIGHT - 500), EV_STEP_MS: '1' });
  const firstPart = await collect(dir, { from: 'start' }, (g) => g.length >= 600);
  const cursor = firstPart.at(-1)?.cursor as EventCursor;
  t.equal(cursor.file, 'events-2026-07-01.jsonl', 'stopped in the second file');
  const following = collect(dir, { from: cursor }, (g) => g.length >= 900);
  await writeInChild(dir, { EV_COUNT: '500', EV_START_MS: String(MIDNIGHT + 500), EV_STEP_MS: '1' });
  const rest = await following;
  const seqs = [...firstPart, ...rest].map((g) => `${g.event.ts}/${g.event.prompt_bytes as number}`);
  t.equal(new Set(seqs).size, 1500, 'no duplicates');
  t.same(
    rest.slice(0, 400).map((g) => g.event.prompt_bytes),
    Array.from({ length: 400 }, (_, i) => 600 + i),
    'continues right after the cursor',
  );
  t.same(
    rest.slice(400).map((g) => g.event.prompt_bytes),
    Array.from({ length: 500 }, (_, i) => i),
    'then the new writer',
  );
});

t.test('late lines in the previous day file are still followed for lateWindowMs', async (t) => {
  const dir = t.testdir();
  // Two processes' clocks either side of midnight: B starts the new file, A is still stamping
  // 23:59:59.999 (took its time before the write).
  const a = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => MIDNIGHT - 1 });
  const b = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => MIDNIGHT + 5 });
  let clock = 0;
  a.emit('vcs_committed', { sha: 'a1' });
  const got: string[] = [];
  const ac = new AbortController();
  const seen = (sha: string): Promise<void> =>
    new Promise((resolve) => {
      const check = setInterval(() => {
        if (got.includes(sha)) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
  const loop = (async () => {
    for await (const { event } of followEvents(dir, {
      from: 'start',
      pollMs: 10,
      lateWindowMs: 1000,
      now: () => clock,
      signal: ac.signal,
    })) {
      got.push(event.sha as string);
    }
  })();
  await seen('a1');
  b.emit('vcs_committed', { sha: 'b1' });
  await seen('b1');
  a.emit('vcs_committed', { sha: 'a2-late' });
  await seen('a2-late');
  clock = 2000; // the late window is over: the old file is dropped
  b.emit('vcs_committed', { sha: 'b2' });
  await seen('b2');
  await new Promise((r) => setTimeout(r, 50));
  a.emit('vcs_committed', { sha: 'a3-too-late' });
  b.emit('vcs_committed', { sha: 'b3' });
  await seen('b3');
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  await loop;
  a.close();
  b.close();
  t.same(got, ['a1', 'b1', 'a2-late', 'b2', 'b3'], 'late line followed within the window only');
});

t.test('abort ends a waiting iteration promptly', async (t) => {
  const dir = t.testdir();
  const ac = new AbortController();
  const it = followEvents(dir, { signal: ac.signal, pollMs: 60_000 });
  const pending = it.next();
  const started = Date.now();
  setTimeout(() => ac.abort(), 50);
  const r = await pending;
  t.equal(r.done, true);
  t.ok(Date.now() - started < 5000, 'did not wait for the poll interval');
});

t.test('kinds filter, malformed lines counted, a pruned file skipped', async (t) => {
  const dir = t.testdir();
  let ms = MIDNIGHT - 86_400_000;
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => ms });
  w.emit('vcs_committed', { sha: 'old' });
  const stats = { malformed: 0 };
  const got: string[] = [];
  const ac = new AbortController();
  const loop = (async () => {
    for await (const { event, cursor } of followEvents(dir, {
      from: { file: 'events-2026-06-30.jsonl', offset: 0 },
      kinds: ['vcs_committed'],
      pollMs: 10,
      stats,
      signal: ac.signal,
    })) {
      got.push(`${event.sha as string}@${cursor.file}`);
      if (event.sha === 'last') ac.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  ms = MIDNIGHT + 1000;
  w.emit('round_grace_kill', { grace_s: 1, signal: 'SIGKILL' });
  w.emit('vcs_committed', { sha: 'a' });
  const { appendFileSync } = await import('node:fs');
  // Lines without the kind's text are never parsed (pre-filter); this one has it but is torn.
  appendFileSync(`${dir}/events-2026-07-01.jsonl`, '{"v":1,"kind":"vcs_committed","ts":"20\n');
  w.emit('vcs_committed', { sha: 'last' });
  w.close();
  await loop;
  t.same(got, ['old@events-2026-06-30.jsonl', 'a@events-2026-07-01.jsonl', 'last@events-2026-07-01.jsonl']);
  t.equal(stats.malformed, 1, 'the garbage line was counted');
  t.equal(
    await (async () => {
      // A cursor in a file that no longer exists continues with the next newer one.
      const out: string[] = [];
      for await (const { event } of followEvents(dir, { from: { file: 'events-2026-06-01.jsonl', offset: 99 } })) {
        out.push(event.kind);
        if (out.length === 4) break;
      }
      return out.join(',');
    })(),
    'vcs_committed,round_grace_kill,vcs_committed,vcs_committed',
  );
});
