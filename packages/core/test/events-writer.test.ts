// EventWriter: validation against the catalogue, envelope layout, file modes, daily rotation
// on an injected clock, and reopening a file unlinked under it.
import { readFileSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isAgentRunnerError } from '../src/errors.js';
import { EventWriter, MAX_EVENT_LINE_BYTES, eventsSince, lastEvents } from '../src/events/index.js';

const T0 = Date.parse('2026-04-30T23:59:58.000Z');

function clock(start: number): { now: () => number; set: (ms: number) => void; advance: (ms: number) => void } {
  let ms = start;
  return { now: () => ms, set: (v) => (ms = v), advance: (d) => (ms += d) };
}

function readLines(dir: string, file: string): string[] {
  return readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

t.test('envelope: field order, ts format, flattened payload, file and dir modes', (t) => {
  const dir = join(t.testdir(), 'events');
  const c = clock(Date.parse('2026-05-01T12:34:56.789Z'));
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: c.now });
  const rec = w.emit(
    'round_end',
    {
      phase: 'default',
      exit_code: 0,
      signal: null,
      duration_s: 12.5,
      classification: 'ok',
      output_bytes: 2048,
      usage: { input_tokens: 10, output_tokens: 20 },
      cost_usd: 0.0123,
      evidence: [],
    },
    { round: 7 },
  );
  w.emit('max_rounds_reached', { max_rounds: 3, rounds_run: 3 });
  w.close();
  const lines = readLines(dir, 'events-2026-05-01.jsonl');
  t.equal(lines.length, 2);
  t.equal(
    lines[0],
    '{"v":1,"ts":"2026-05-01T12:34:56.789Z","kind":"round_end","unit":"runner","project":"demo","round":7,' +
      '"phase":"default","exit_code":0,"signal":null,"duration_s":12.5,"classification":"ok","output_bytes":2048,' +
      '"usage":{"input_tokens":10,"output_tokens":20},"cost_usd":0.0123,"evidence":[]}',
    'compact JSON, envelope first, payload flattened',
  );
  t.same(JSON.parse(lines[0] as string), rec, 'emit returns the record as written');
  t.notOk('round' in (JSON.parse(lines[1] as string) as object), 'round omitted when not given');
  t.equal(statSync(dir).mode & 0o777, 0o700, 'directory 0700');
  t.equal(statSync(join(dir, 'events-2026-05-01.jsonl')).mode & 0o777, 0o600, 'file 0600');
  t.end();
});

t.test('invalid events are rejected with ERR_AR_EVENT_INVALID and nothing is written', (t) => {
  const dir = t.testdir();
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: () => T0 });
  const ok = { phase: 'p', prompt_bytes: 1, log_file: '/l' };
  const cases: [string, () => unknown][] = [
    ['unknown kind', () => w.emit('no_such_kind' as 'round_start', ok)],
    ['unknown field', () => w.emit('round_start', { ...ok, bogus: 1 } as typeof ok)],
    ['envelope name as field', () => w.emit('round_start', { ...ok, kind: 'x' } as typeof ok)],
    ['missing required field', () => w.emit('round_start', { phase: 'p', prompt_bytes: 1 } as typeof ok)],
    ['string for integer', () => w.emit('round_start', { ...ok, prompt_bytes: '1' as unknown as number })],
    ['fraction for integer', () => w.emit('round_start', { ...ok, prompt_bytes: 1.5 })],
    ['null for non-nullable', () => w.emit('round_start', { ...ok, phase: null as unknown as string })],
    ['NaN for number', () => w.emit('round_grace_kill', { grace_s: Number.NaN, signal: 'SIGKILL' })],
    ['Infinity for number', () => w.emit('round_grace_kill', { grace_s: Infinity, signal: 'SIGKILL' })],
    ['array for object', () => w.emit('round_end', { ...roundEnd(), usage: [] as unknown as null })],
    ['object for array', () => w.emit('command_received', { ...command(), args: {} as unknown as [] })],
    ['over maxLength', () => w.emit('agent_self_terminated', { reason: 'x'.repeat(201) })],
    ['string for array', () => w.emit('round_end', { ...roundEnd(), evidence: 'boom' as unknown as [] })],
    ['kind of another unit', () => w.emit('heal_action', healAction())],
    ['negative round', () => w.emit('round_start', ok, { round: -1 })],
    ['fractional round', () => w.emit('round_start', ok, { round: 1.5 })],
    ['payload not an object', () => w.emit('round_start', null as unknown as typeof ok)],
    ['unserialisable nested value', () => w.emit('round_end', { ...roundEnd(), usage: { n: 1n } })],
    ['line too long', () => w.emit('round_end', { ...roundEnd(), usage: { blob: 'x'.repeat(MAX_EVENT_LINE_BYTES) } })],
  ];
  for (const [name, fn] of cases) {
    try {
      fn();
      t.fail(`${name}: accepted`);
    } catch (e) {
      t.ok(isAgentRunnerError(e) && e.code === 'ERR_AR_EVENT_INVALID', `${name}: ${(e as Error).message}`);
    }
  }
  t.same(readdirSync(dir), [], 'nothing written');
  // The limits are inclusive, undefined optional fields are absent, nullable fields take null.
  w.emit('agent_self_terminated', { reason: 'x'.repeat(200) });
  w.emit('round_start', { ...ok, agent: undefined });
  w.emit('round_end', { ...roundEnd(), exit_code: null, signal: 'SIGKILL' });
  t.equal(readLines(dir, 'events-2026-04-30.jsonl').length, 3, 'valid edge cases accepted');
  const bad = new EventWriter({ dir, project: 'demo', unit: 'watchdog', now: () => T0 });
  bad.emit('heal_action', healAction());
  t.throws(() => new EventWriter({ dir, project: '../x', unit: 'runner' }), { code: 'ERR_AR_CONFIG_INVALID' });
  t.end();
});

function roundEnd() {
  return {
    phase: 'p',
    exit_code: 1 as number | null,
    signal: null as string | null,
    duration_s: 1,
    classification: 'crash',
    output_bytes: 0,
    usage: null as Record<string, unknown> | null,
    cost_usd: null,
    evidence: [{ source: 'exit', status: 1, detail: 'boom' }],
  };
}
function command() {
  return { command: 'status', args: [], platform: 'telegram', sender: '42', message_id: '7' };
}
function healAction() {
  return { target: 'bridge', tier: 1, action: 'restart_marker', reason: 'heartbeat_stale', pid: null };
}

t.test('rotation across a UTC day boundary loses nothing; readers answer across files', (t) => {
  const dir = t.testdir();
  const c = clock(T0);
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: c.now });
  const N = 4000; // 1 ms apart from 23:59:58.000: 2000 events on each side of midnight
  for (let i = 0; i < N; i++) {
    w.emit('round_start', { phase: 'p', prompt_bytes: i, log_file: '/l' }, { round: i });
    if (i % 500 === 499) w.emit('vcs_committed', { sha: `sha${i}` }, { round: i });
    c.advance(1);
  }
  w.close();
  t.same(readdirSync(dir).sort(), ['events-2026-04-30.jsonl', 'events-2026-05-01.jsonl']);
  const before = readLines(dir, 'events-2026-04-30.jsonl').map((l) => JSON.parse(l) as { ts: string });
  const after = readLines(dir, 'events-2026-05-01.jsonl').map((l) => JSON.parse(l) as { ts: string });
  t.ok(
    before.every((e) => e.ts.startsWith('2026-04-30')),
    'old day file holds only its day',
  );
  t.ok(
    after.every((e) => e.ts.startsWith('2026-05-01')),
    'new day file holds only its day',
  );
  const rounds = [...before, ...after]
    .filter((e) => (e as { kind?: string }).kind === 'round_start')
    .map((e) => (e as { round?: number }).round);
  t.same(
    rounds,
    Array.from({ length: N }, (_, i) => i),
    'every event once, in order',
  );

  const last = lastEvents(dir, { n: 2100, kinds: ['round_start'] });
  t.equal(last.events.length, 2100);
  t.equal(last.events[0]?.round, N - 2100, 'oldest-first by default; spans both files');
  t.equal(last.events.at(-1)?.round, N - 1);
  t.equal(last.filesRead, 2);
  const commits = lastEvents(dir, { n: 100, kinds: ['vcs_committed'], order: 'newest-first' });
  t.same(
    commits.events.map((e) => e.sha),
    ['sha3999', 'sha3499', 'sha2999', 'sha2499', 'sha1999', 'sha1499', 'sha999', 'sha499'],
    'rare kind newest-first across files',
  );
  t.same(
    lastEvents(dir, { n: 5, round: 1999 }).events.map((e) => e.kind),
    ['round_start', 'vcs_committed'],
    'round filter (round 1999 is the last of the old day)',
  );
  const since = eventsSince(dir, { sinceMs: Date.parse('2026-04-30T23:59:59.500Z'), kinds: ['round_start'] });
  t.equal(since.events.length, N - 1500, 'since spans the boundary');
  t.equal(since.events[0]?.round, 1500);
  t.same(since.cursor?.file, 'events-2026-05-01.jsonl');
  t.same(eventsSince(dir, { cursor: since.cursor }).events, [], 'nothing after the returned cursor');
  t.end();
});

t.test('a file unlinked under the writer is recreated', (t) => {
  const dir = t.testdir();
  const c = clock(Date.parse('2026-05-01T10:00:00.000Z'));
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner', now: c.now });
  w.emit('stop_file_detected', { path: '/a' });
  unlinkSync(join(dir, 'events-2026-05-01.jsonl'));
  c.advance(1500);
  w.emit('stop_file_detected', { path: '/b' });
  t.same(
    readLines(dir, 'events-2026-05-01.jsonl').map((l) => (JSON.parse(l) as { path: string }).path),
    ['/b'],
  );
  rmSync(dir, { recursive: true });
  c.advance(1500);
  w.emit('stop_file_detected', { path: '/c' });
  t.equal(readLines(dir, 'events-2026-05-01.jsonl').length, 1, 'directory removed: recreated too');
  w.close();
  t.end();
});
