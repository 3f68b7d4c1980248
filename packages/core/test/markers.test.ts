// Marker files with real files and real concurrent processes. Children run dist/ (build first).
// Stress sizes: AR_TEST_ATOMIC_ITERATIONS (default 400), AR_TEST_RACE_ROUNDS (default 200), each
// loop also stopping after AR_TEST_BUDGET_MS (default 5000) on a loaded machine, once it has
// done a tenth of its size.
import t from 'tap';
import { until } from '@agent-runner/testkit/until';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { projectPaths, type ProjectPaths } from '../src/paths.js';
import {
  assertUnitName,
  clearStopRequest,
  markerPath,
  peekRestartRequest,
  readHeartbeat,
  readStopRequest,
  removeHeartbeat,
  requestRestart,
  requestStop,
  type RestartDiscard,
  takeRestartRequest,
  writeHeartbeat,
} from '../src/markers.js';
import { readEnrollment } from '../src/identity.js';

const READER = fileURLToPath(new URL('./fixtures/markers-reader.mjs', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./fixtures/markers-consumer.mjs', import.meta.url));
const ITERATIONS = Number(process.env.AR_TEST_ATOMIC_ITERATIONS ?? 400);
const ROUNDS = Number(process.env.AR_TEST_RACE_ROUNDS ?? 200);
const BUDGET_MS = Number(process.env.AR_TEST_BUDGET_MS ?? 5000);
const T0 = Date.parse('2025-03-01T12:00:00Z');

function tempPaths(dir: string): ProjectPaths {
  return projectPaths('p', dir, join(dir, 'logs'));
}

/** Spawns a fixture; resolves once it printed "ready"; `result` is its last stdout line. */
async function startFixture(
  t: { teardown(fn: () => void): void },
  script: string,
  args: string[],
): Promise<{ child: ChildProcess; result: Promise<string> }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! });
  const all: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  lines.on('line', (l) => {
    if (l === 'ready') ready();
    else all.push(l);
  });
  const result = new Promise<string>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(all.at(-1) ?? '') : reject(new Error(`${script} exited ${code}`)))),
  );
  await isReady;
  return { child, result };
}

t.test('unit and target names are validated (no path traversal)', async (t) => {
  const dir = t.testdir();
  const paths = tempPaths(dir);
  const bad = ['', '../x', 'a/b', 'Runner', '1runner', '-x', 'a'.repeat(33), 'runner.json', 'run ner', '.', '..', 'ü'];
  for (const name of bad) {
    t.throws(() => assertUnitName(name), { code: 'ERR_AR_USAGE' }, JSON.stringify(name));
    t.throws(() => requestRestart(paths, name, { by: 't', reason: '', nowMs: T0 }), { code: 'ERR_AR_USAGE' });
    t.throws(() => takeRestartRequest(paths, name, { startedAtMs: 0 }), { code: 'ERR_AR_USAGE' });
    t.throws(() => peekRestartRequest(paths, name), { code: 'ERR_AR_USAGE' });
    t.throws(() => writeHeartbeat(paths, name, { nowMs: T0, pid: 2, nonce: 'n' }), { code: 'ERR_AR_USAGE' });
    t.throws(() => readHeartbeat(paths, name, { nowMs: T0 }), { code: 'ERR_AR_USAGE' });
    t.throws(() => readEnrollment(paths, name), { code: 'ERR_AR_USAGE' });
  }
  t.same(readdirSync(dir), [], 'nothing was written anywhere');
  for (const good of ['runner', 'bridge', 'watchdog', 'monitor-2', 'a', `a${'b'.repeat(31)}`]) {
    t.equal(assertUnitName(good), good);
  }
  t.equal(markerPath(paths, 'restart', 'bridge'), join(paths.runDir, 'restart-bridge.json'));
});

t.test('restart markers: one per target, consumed by its target only', async (t) => {
  const paths = tempPaths(t.testdir());
  const req = requestRestart(paths, 'bridge', { by: 'watchdog', reason: 'heartbeat stale', nowMs: T0 });
  t.same(Object.keys(req).sort(), ['nonce', 'reason', 'requested_at', 'requested_at_ms', 'requested_by', 'target']);
  t.equal(req.requested_at, '2025-03-01T12:00:00.000Z');
  t.equal(req.requested_at_ms, T0);
  t.equal(req.requested_by, 'watchdog');
  t.match(req.nonce, /^[0-9a-f]{32}$/);
  const file = join(paths.runDir, 'restart-bridge.json');
  t.same(JSON.parse(readFileSync(file, 'utf8')), req, 'JSON content');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(paths.runDir).mode & 0o777, 0o700);

  t.equal(takeRestartRequest(paths, 'runner', { startedAtMs: 0 }), undefined, 'the runner does not see the bridge marker');
  t.same(peekRestartRequest(paths, 'bridge'), req, 'peek does not consume');
  t.same(takeRestartRequest(paths, 'bridge', { startedAtMs: T0 - 1000 }), req);
  t.notOk(existsSync(file), 'consumed');
  t.equal(takeRestartRequest(paths, 'bridge', { startedAtMs: 0 }), undefined, 'only once');
  t.same(readdirSync(paths.runDir), [], 'no claim or temp files left');

  // Two targets at once: each gets its own.
  const a = requestRestart(paths, 'runner', { by: 'op', reason: 'a', nowMs: T0 });
  const b = requestRestart(paths, 'bridge', { by: 'op', reason: 'b', nowMs: T0 });
  t.equal(takeRestartRequest(paths, 'bridge', { startedAtMs: 0 })?.nonce, b.nonce);
  t.equal(takeRestartRequest(paths, 'runner', { startedAtMs: 0 })?.nonce, a.nonce);
});

t.test('restart markers older than the target start are ignored and deleted', async (t) => {
  const paths = tempPaths(t.testdir());
  const discarded: Array<[RestartDiscard, string]> = [];
  const onDiscard = (why: RestartDiscard, detail: string): void => void discarded.push([why, detail]);
  const file = join(paths.runDir, 'restart-runner.json');

  requestRestart(paths, 'runner', { by: 'watchdog', reason: 'old', nowMs: T0 - 1 });
  t.equal(takeRestartRequest(paths, 'runner', { startedAtMs: T0, onDiscard }), undefined, 'stale: requested 1 ms before start');
  t.notOk(existsSync(file), 'stale marker deleted');
  t.equal(discarded[0]?.[0], 'stale');
  t.match(discarded[0]?.[1], /before this incarnation started/);

  const fresh = requestRestart(paths, 'runner', { by: 'watchdog', reason: 'new', nowMs: T0 });
  t.same(takeRestartRequest(paths, 'runner', { startedAtMs: T0, onDiscard }), fresh, 'requested at the start instant counts');

  writeFileSync(file, '{"target":"runner", "nonce": ');
  t.equal(takeRestartRequest(paths, 'runner', { startedAtMs: 0, onDiscard }), undefined);
  t.equal(discarded[1]?.[0], 'malformed');
  writeFileSync(file, JSON.stringify({ ...fresh, target: 'bridge' }));
  t.equal(takeRestartRequest(paths, 'runner', { startedAtMs: 0, onDiscard }), undefined);
  t.equal(discarded[2]?.[0], 'wrong-target');
  t.same(readdirSync(paths.runDir), [], 'everything consumed was deleted');
});

t.test('a restart marker is consumed exactly once by two racing incarnations', async (t) => {
  const dir = t.testdir();
  const paths = tempPaths(dir);
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const stopFlag = join(dir, 'stop');
  const consumers = await Promise.all([
    startFixture(t, CONSUMER, [dir, 'runner', stopFlag]),
    startFixture(t, CONSUMER, [dir, 'runner', stopFlag]),
  ]);
  const file = join(paths.runDir, 'restart-runner.json');
  const written: string[] = [];
  const deadline = Date.now() + BUDGET_MS;
  for (let k = 0; k < ROUNDS && (k < ROUNDS / 10 || Date.now() < deadline); k++) {
    written.push(requestRestart(paths, 'runner', { by: 'test', reason: `round ${k}`, nowMs: Date.now() }).nonce);
    // Polled every ms: many rounds fit in the time, and the CPU is still left to the racing children.
    await until(`marker ${k} to be consumed`, () => !existsSync(file), 5000, 1);
  }
  writeFileSync(stopFlag, '');
  const results = (await Promise.all(consumers.map((c) => c.result))).map((l) => JSON.parse(l) as { taken: string[]; polls: number });
  const taken = results.flatMap((r) => r.taken);
  t.equal(taken.length, written.length, `${written.length} markers, ${taken.length} consumptions`);
  t.equal(new Set(taken).size, taken.length, 'no marker consumed twice');
  t.same([...taken].sort(), [...written].sort(), 'every marker consumed');
  t.comment(`split ${results.map((r) => r.taken.length).join('/')}, polls ${results.map((r) => r.polls).join('/')}`);
  t.same(readdirSync(paths.runDir), [], 'no claim files left');
});

t.test('atomic writes: a concurrent reader never sees a partial marker', async (t) => {
  const dir = t.testdir();
  const paths = tempPaths(dir);
  const done = join(dir, 'done');
  const big = (i: number): string => `${i}:`.padEnd(32 * 1024, String.fromCharCode(97 + (i % 26)));
  const write = (i: number): void => {
    requestRestart(paths, 'runner', { by: 'test', reason: big(i), nowMs: T0 + i });
    writeHeartbeat(paths, 'runner', { nowMs: T0 + i, pid: 2, nonce: 'n', detail: { blob: big(i) } });
    writeHeartbeat(paths, 'bridge', { nowMs: T0 + i, pid: 2, nonce: 'n', detail: { blob: big(i) }, durable: true });
  };
  write(0);
  const files = [
    markerPath(paths, 'restart', 'runner'),
    markerPath(paths, 'heartbeat', 'runner'),
    markerPath(paths, 'heartbeat', 'bridge'),
  ];
  const reader = await startFixture(t, READER, [done, ...files]);
  const t0 = Date.now();
  let n = 0;
  while (n < ITERATIONS && (n < ITERATIONS / 10 || Date.now() - t0 < BUDGET_MS)) write(++n);
  const ms = Date.now() - t0;
  writeFileSync(done, '');
  const stats = JSON.parse(await reader.result) as Record<string, { reads: number; torn: number; missing: number }>;
  for (const f of files) {
    const s = stats[f];
    t.ok(s && s.reads > 0, `${f}: read ${s?.reads} times during ${n} rewrites`);
    t.equal(s?.torn, 0, 'never torn');
    t.equal(s?.missing, 0, 'never missing');
  }
  t.comment(`${n} x 3 writes of 32 KiB in ${ms} ms`);
  t.same(
    readdirSync(paths.runDir).filter((n) => n.startsWith('.')),
    [],
    'no temp files left',
  );

  // Control: the same reader does catch torn files when the writer is not atomic, so the
  // zero above means something.
  const control = join(dir, 'control.json');
  const done2 = join(dir, 'done2');
  writeFileSync(control, JSON.stringify({ blob: big(0) }));
  const reader2 = await startFixture(t, READER, [done2, control]);
  const end = Date.now() + 10_000;
  for (let i = 0; !existsSync(`${done2}.torn`) && Date.now() < end; i++) {
    writeFileSync(control, JSON.stringify({ blob: big(i).repeat(4) }));
  }
  writeFileSync(done2, '');
  const s2 = (JSON.parse(await reader2.result) as Record<string, { reads: number; torn: number }>)[control];
  t.ok((s2?.torn ?? 0) > 0, `plain writeFileSync is caught torn (${s2?.torn} of ${s2?.reads} reads)`);
});

t.test('stop request: JSON from requestStop, or any file at all (touch)', async (t) => {
  const paths = tempPaths(t.testdir());
  t.equal(readStopRequest(paths), undefined);
  t.equal(clearStopRequest(paths), false);

  mkdirSync(paths.runDir, { recursive: true });
  execFileSync('touch', [paths.stopFile]);
  utimesSync(paths.stopFile, new Date(T0), new Date(T0));
  const touched = readStopRequest(paths);
  t.same(touched, {
    nonce: null,
    requested_at: '2025-03-01T12:00:00.000Z',
    requested_at_ms: T0,
    requested_by: 'unknown',
    reason: '',
    source: 'presence',
  });
  t.equal(clearStopRequest(paths), true);
  t.equal(readStopRequest(paths), undefined);

  writeFileSync(paths.stopFile, 'please stop\n');
  t.equal(readStopRequest(paths)?.source, 'presence', 'free text counts too');

  const req = requestStop(paths, { by: 'chat:alice', reason: '/stop', nowMs: T0 + 5 });
  t.equal(req.source, 'json');
  t.same(readStopRequest(paths), req);
  t.equal(statSync(paths.stopFile).mode & 0o777, 0o600);
  t.equal(clearStopRequest(paths), true);
  t.equal(readStopRequest(paths), undefined);

  const custom = projectPaths('p', t.testdir(), '/nonexistent-logs', 'elsewhere/STOP');
  requestStop(custom, { by: 'op', reason: '', nowMs: T0 });
  t.equal(readStopRequest(custom)?.requested_by, 'op', 'an overridden stop file path works');
});

t.test('heartbeats: written atomically, read back with their age', async (t) => {
  const paths = tempPaths(t.testdir());
  t.equal(readHeartbeat(paths, 'runner', { nowMs: T0 }), undefined);
  const hb = writeHeartbeat(paths, 'runner', { nowMs: T0, pid: 1234, nonce: 'abc', state: 'round', detail: { round: 7 } });
  t.same(hb, {
    unit: 'runner',
    pid: 1234,
    nonce: 'abc',
    written_at: '2025-03-01T12:00:00.000Z',
    written_at_ms: T0,
    state: 'round',
    detail: { round: 7 },
  });
  t.same(readHeartbeat(paths, 'runner', { nowMs: T0 + 4500 }), { ...hb, age_ms: 4500 });
  t.equal(readHeartbeat(paths, 'runner', { nowMs: T0 - 10 })?.age_ms, -10, 'clock stepped back: negative age');
  const file = markerPath(paths, 'heartbeat', 'runner');
  t.equal(statSync(file).mode & 0o777, 0o600);

  const bare = writeHeartbeat(paths, 'bridge', { nowMs: T0, pid: 5, nonce: 'x', durable: true });
  t.same(Object.keys(bare).sort(), ['nonce', 'pid', 'unit', 'written_at', 'written_at_ms'], 'no empty optional fields');
  t.equal(readHeartbeat(paths, 'bridge', { nowMs: T0 })?.age_ms, 0);

  writeFileSync(file, '{"unit":"runner"');
  t.equal(readHeartbeat(paths, 'runner', { nowMs: T0 }), undefined, 'malformed');
  writeFileSync(file, JSON.stringify({ ...hb, unit: 'bridge' }));
  t.equal(readHeartbeat(paths, 'runner', { nowMs: T0 }), undefined, 'another unit');

  writeHeartbeat(paths, 'runner', { nowMs: T0, pid: 1234, nonce: 'successor' });
  t.equal(removeHeartbeat(paths, 'runner', 'abc'), false, 'a successor heartbeat is not ours');
  t.equal(readHeartbeat(paths, 'runner', { nowMs: T0 })?.nonce, 'successor', 'and stays');
  t.equal(removeHeartbeat(paths, 'runner', 'successor'), true);
  t.equal(readHeartbeat(paths, 'runner', { nowMs: T0 }), undefined);
  t.same(readdirSync(paths.runDir), ['heartbeat-bridge.json']);
});

t.test(
  "a marker root writes into a service user's state directory belongs to that user (it must read it)",
  { skip: process.getuid?.() !== 0 && 'needs root' },
  async (t) => {
    const dir = t.testdir();
    const paths = tempPaths(dir);
    execFileSync('chown', ['-R', '65534:65534', dir]);
    requestRestart(paths, 'runner', { by: 'cli', reason: 'heal reset', nowMs: Date.now() });
    requestStop(paths, { by: 'cli', reason: 'stop', nowMs: Date.now() });
    for (const f of [markerPath(paths, 'restart', 'runner'), paths.stopFile]) {
      const st = statSync(f);
      t.same([st.uid, st.gid, st.mode & 0o777], [65534, 65534, 0o600], `${f}: the directory owner's, still 0600`);
    }
    t.equal(statSync(paths.runDir).uid, 65534, 'so is the run directory root created');
    // As that user (setpriv), the marker is readable.
    const r = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', markerPath(paths, 'restart', 'runner')], {
      encoding: 'utf8',
    });
    t.match(r, /"reason":"heal reset"/);
  },
);
