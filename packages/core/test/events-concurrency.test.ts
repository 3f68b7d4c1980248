// Several processes appending at once: every line must land whole (one write(2) per line on
// an O_APPEND fd), none lost, none interleaved. Workers run compiled code: build first.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const WORKER = fileURLToPath(new URL('./fixtures/events-writer.mjs', import.meta.url));
const WRITERS = Number(process.env.EVENTS_STRESS_WRITERS ?? '4');
const PER_WRITER = Number(process.env.EVENTS_STRESS_PER_WRITER ?? '25000');

function runWriters(dir: string, startMs: number, stepMs: number): Promise<void[]> {
  const children = Array.from({ length: WRITERS }, (_, w) =>
    spawn(process.execPath, [WORKER], {
      env: {
        ...process.env,
        EV_DIR: dir,
        EV_COUNT: String(PER_WRITER),
        EV_WRITER: String(w),
        EV_START_MS: String(startMs),
        EV_STEP_MS: String(stepMs),
        EV_PAD_MAX: '700',
        EV_WAIT_STDIN: '1',
      },
      stdio: ['pipe', 'inherit', 'inherit'],
    }),
  );
  const done = children.map(
    (c) =>
      new Promise<void>((resolve, reject) => {
        c.on('error', reject);
        c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
      }),
  );
  // Release all writers at once so their appends overlap.
  for (const c of children) c.stdin.end('go\n');
  return Promise.all(done);
}

t.test(`${WRITERS} processes x ${PER_WRITER} events: every line whole, none lost`, async (t) => {
  const dir = t.testdir();
  await runWriters(dir, Date.parse('2026-03-01T12:00:00.000Z'), 1);
  const files = readdirSync(dir);
  t.same(files, ['events-2026-03-01.jsonl'], 'one daily file');
  const text = readFileSync(join(dir, files[0] as string), 'utf8');
  t.ok(text.endsWith('\n'), 'file ends with a complete line');
  const lines = text.slice(0, -1).split('\n');
  t.equal(lines.length, WRITERS * PER_WRITER, 'exactly one line per event');
  const next = new Array<number>(WRITERS).fill(0);
  let bad = 0;
  let outOfOrder = 0;
  let interleavedWriters = 0;
  let prevWriter = -1;
  for (const line of lines) {
    let ev: { phase?: unknown; prompt_bytes?: unknown; round?: unknown };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      bad++;
      continue;
    }
    const w = Number(String(ev.phase).replace('writer-', ''));
    if (!(w >= 0 && w < WRITERS) || ev.round !== ev.prompt_bytes) {
      bad++;
      continue;
    }
    if (ev.prompt_bytes !== next[w]) outOfOrder++;
    next[w] = (ev.prompt_bytes as number) + 1;
    if (w !== prevWriter) interleavedWriters++;
    prevWriter = w;
  }
  t.equal(bad, 0, 'every line parses and is a well-formed event');
  t.equal(outOfOrder, 0, 'per-writer sequence numbers increase by one');
  t.same(next, new Array<number>(WRITERS).fill(PER_WRITER), 'every writer sequence is complete');
  // Guard against a test that passes without concurrency: the writers' lines must mix.
  t.ok(interleavedWriters > WRITERS * 10, `writers actually ran concurrently (${interleavedWriters} switches)`);
});
