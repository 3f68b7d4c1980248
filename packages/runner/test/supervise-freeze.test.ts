// A frozen supervisor (serve SIGSTOPped, or its event loop blocked) must read the output the
// agent wrote meanwhile before it judges the round: after the freeze, node runs expired
// timers before it polls the pipe, so an inactivity or wall-clock verdict taken at once sees
// stale output and kills a round that worked, or finished, during the freeze.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import type { Classifier, LiveSignal, ProcessOutcome, Verdict } from '../src/adapters/types.js';
import { spawnAgent } from '../src/agent-process.js';
import { superviseRound, type SuperviseEventKind, type SuperviseLimits } from '../src/supervise.js';
import { fixture, kill, psGroup, reap, sleep } from './fixtures/util.js';

class ResultClassifier implements Classifier {
  lines = 0;
  line(text: string): LiveSignal | undefined {
    this.lines += 1;
    return text === '{"type":"result"}' ? { kind: 'final_result' } : undefined;
  }
  finish(o: ProcessOutcome): Verdict {
    const cls = o.killedBy ? 'hang' : o.exitCode === 0 ? 'ok' : 'crash';
    return { class: cls, evidence: [], summary: cls };
  }
}

const LIMITS: SuperviseLimits = {
  roundTimeoutMs: 30_000,
  inactivityTimeoutMs: 500,
  graceAfterResultMs: 2000,
  killGraceMs: 1000,
  ignorePatterns: [],
};

/**
 * The freezes (a blocked loop or a SIGSTOP, 100 ms into the round) and the agents they meet
 * (writer.sh: a line every 50 ms, then its result): a freeze well past the inactivity limit,
 * with an agent that is done well within it (FINISH_TICKS, about 0.2 s) or still writes well
 * after it (KEEP_TICKS: 1.5 s of sleeps at the least).
 */
const FREEZE_MS = 1200;
const FINISH_TICKS = 3;
const KEEP_FREEZE_MS = 1000;
const KEEP_TICKS = 30;

/**
 * Blocks this process's event loop for `ms` from `atMs` on, as a long synchronous stretch of
 * serve would. The block runs in the check phase (setImmediate), so the next loop turn starts
 * with the timers, before the pipe is polled — as after a SIGSTOP.
 */
function blockLoop(atMs: number, ms: number): void {
  setTimeout(
    () =>
      setImmediate(() => {
        const end = performance.now() + ms;
        while (performance.now() < end);
      }),
    atMs,
  );
}

async function supervise(t: Test, ticks: number, terminal: 'pipe' | 'pty', limits: Partial<SuperviseLimits>, freeze: () => void) {
  const h = await spawnAgent({
    argv: [fixture('writer.sh')],
    cwd: '/',
    env: { ...process.env, TICKS: String(ticks) },
    delivery: { mode: 'stdin' },
    prompt: '',
    terminal,
  });
  t.teardown(() => reap(h.pgid));
  const classifier = new ResultClassifier();
  const kinds: SuperviseEventKind[] = [];
  freeze();
  const res = await superviseRound({ kill, handle: h, classifier, limits: { ...LIMITS, ...limits }, onEvent: (k) => kinds.push(k) });
  return { res, kinds, lines: classifier.lines, left: psGroup(h.pgid) };
}

for (const terminal of ['pipe', 'pty'] as const) {
  t.test(`${terminal}: the loop blocked longer than the inactivity limit while the agent finished: ok`, async (t) => {
    // The agent writes, reports and exits inside the block.
    const r = await supervise(t, FINISH_TICKS, terminal, {}, () => blockLoop(100, FREEZE_MS));
    t.same(r.kinds, [], 'no kill');
    t.equal(r.res.killedBy, undefined);
    t.equal(r.res.outcome.exitCode, 0);
    t.equal(r.res.verdict.class, 'ok');
    t.equal(r.lines, FINISH_TICKS + 1, 'every line reached the classifier');
    t.same(r.left, []);
  });

  t.test(`${terminal}: the loop blocked longer than the inactivity limit while the agent kept writing: not killed`, async (t) => {
    const r = await supervise(t, KEEP_TICKS, terminal, {}, () => blockLoop(100, KEEP_FREEZE_MS));
    t.same(r.kinds, []);
    t.equal(r.res.killedBy, undefined);
    t.equal(r.res.outcome.exitCode, 0);
    t.equal(r.lines, KEEP_TICKS + 1);
  });

  t.test(`${terminal}: the loop blocked past the wall clock while the agent finished: ok, not timeout`, async (t) => {
    // The wall clock runs out inside the block, after the agent finished.
    const r = await supervise(t, FINISH_TICKS, terminal, { roundTimeoutMs: 800, inactivityTimeoutMs: 0 }, () => blockLoop(100, FREEZE_MS));
    t.same(r.kinds, []);
    t.equal(r.res.killedBy, undefined);
    t.equal(r.res.verdict.class, 'ok');
  });
}

t.test('a silent agent is still killed for inactivity after a block of the loop', async (t) => {
  const h = await spawnAgent({
    argv: [fixture('silent.sh')],
    cwd: '/',
    env: { ...process.env },
    delivery: { mode: 'stdin' },
    prompt: '',
    terminal: 'pipe',
  });
  t.teardown(() => reap(h.pgid));
  const kinds: SuperviseEventKind[] = [];
  blockLoop(100, 800);
  const res = await superviseRound({
    kill,
    handle: h,
    classifier: new ResultClassifier(),
    limits: { ...LIMITS, inactivityTimeoutMs: 400 },
    onEvent: (k) => kinds.push(k),
  });
  t.equal(res.killedBy, 'inactivity');
  t.same(kinds, ['round_inactivity_kill', 'round_kill_result']);
});

/** Runs the compiled supervisor in a child process, SIGSTOPs it `atMs` after it started supervising, SIGCONTs it `forMs` later. */
async function frozenChild(t: Test, ticks: number, terminal: 'pipe' | 'pty', atMs: number, forMs: number) {
  const child = spawn(process.execPath, [fixture('supervise-child.mjs'), fixture('writer.sh'), terminal, JSON.stringify(LIMITS)], {
    env: { ...process.env, TICKS: String(ticks) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const started = new Promise<number>((res) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /supervising (\d+)/.exec(err);
      if (m) res(Number(m[1]));
    });
  });
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const pgid = await Promise.race([started, exited.then(() => 0)]);
  t.teardown(() => reap(pgid));
  await sleep(atMs);
  child.kill('SIGSTOP');
  await sleep(forMs);
  child.kill('SIGCONT');
  const code = await exited;
  t.equal(code, 0, `supervisor child exited 0 (stderr: ${err})`);
  return JSON.parse(out) as { outcome: ProcessOutcome; verdict: string; events: string[]; lines: number };
}

for (const terminal of ['pipe', 'pty'] as const) {
  t.test(`${terminal}: serve-like supervisor SIGSTOPped while the agent finished, then SIGCONT: ok`, async (t) => {
    const r = await frozenChild(t, FINISH_TICKS, terminal, 100, FREEZE_MS);
    t.same(r.events, [], 'no kill');
    t.equal(r.outcome.killedBy, undefined);
    t.equal(r.outcome.exitCode, 0);
    t.equal(r.verdict, 'ok');
    t.equal(r.lines, FINISH_TICKS + 1);
  });

  t.test(`${terminal}: serve-like supervisor SIGSTOPped while the agent kept writing, then SIGCONT: not killed`, async (t) => {
    const r = await frozenChild(t, KEEP_TICKS, terminal, 100, KEEP_FREEZE_MS);
    t.same(r.events, []);
    t.equal(r.outcome.exitCode, 0);
    t.equal(r.lines, KEEP_TICKS + 1);
  });
}
