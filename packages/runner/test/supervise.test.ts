import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Classifier, LiveSignal, ProcessOutcome, Verdict } from '../src/adapters/types.js';
import { spawnAgent } from '../src/agent-process.js';
import { openRoundLog } from '../src/round-log.js';
import { superviseRound, type SuperviseEventKind, type SuperviseLimits } from '../src/supervise.js';
import { fixture, psGroup, reap, kill } from './fixtures/util.js';

/** `{"type":"result"}` → final_result; a line containing FATAL-AUTH → fatal auth. */
class TestClassifier implements Classifier {
  seen: { text: string; lineNo: number; at: number }[] = [];
  finished?: ProcessOutcome;
  line(text: string, lineNo: number): LiveSignal | undefined {
    this.seen.push({ text, lineNo, at: performance.now() });
    if (text === '{"type":"result"}') return { kind: 'final_result' };
    if (text.includes('FATAL-AUTH')) return { kind: 'fatal', class: 'auth', evidence: { source: 'stream', line: lineNo, status: 401 } };
    return undefined;
  }
  finish(outcome: ProcessOutcome): Verdict {
    this.finished = outcome;
    const cls =
      outcome.killedBy === 'fatal'
        ? 'auth'
        : outcome.killedBy === 'timeout'
          ? 'timeout'
          : outcome.killedBy === 'inactivity'
            ? 'hang'
            : outcome.exitCode === 0
              ? 'ok'
              : 'crash';
    return { class: cls, evidence: [], summary: cls };
  }
}

const base = mkdtempSync(join(tmpdir(), 'ar-supervise-'));
const LIMITS: SuperviseLimits = {
  roundTimeoutMs: 20_000,
  inactivityTimeoutMs: 20_000,
  graceAfterResultMs: 300,
  killGraceMs: 1000,
  ignorePatterns: [],
};
let round = 0;

async function runRound(
  script: string,
  limits: Partial<SuperviseLimits>,
  opts: { terminal?: 'pipe' | 'pty'; env?: Record<string, string>; signal?: AbortSignal } = {},
) {
  const startedAtMs = Date.now();
  const logs = join(base, 'logs');
  const log = openRoundLog({ roundsDir: join(logs, 'rounds'), currentLink: join(logs, 'round-current.log'), round: ++round, startedAtMs });
  const h = await spawnAgent({
    argv: [fixture(script)],
    cwd: base,
    env: { ...process.env, ...opts.env },
    delivery: { mode: 'stdin' },
    prompt: '',
    terminal: opts.terminal ?? 'pipe',
  });
  t.teardown(() => reap(h.pgid));
  const classifier = new TestClassifier();
  const events: { kind: SuperviseEventKind; payload: Record<string, unknown>; at: number }[] = [];
  const t0 = performance.now();
  const res = await superviseRound({
    kill,
    handle: h,
    classifier,
    log,
    limits: { ...LIMITS, ...limits },
    onEvent: (kind, payload) => events.push({ kind, payload, at: performance.now() }),
    startedAtMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const wall = performance.now() - t0;
  const end = performance.now();
  log.close();
  const left = psGroup(h.pgid);
  return { h, res, events, kinds: events.map((e) => e.kind), classifier, wall, end, left, logText: readFileSync(log.path, 'utf8') };
}

t.test('a normal round: exit 0, log and classifier see every line', async (t) => {
  const r = await runRound('order.sh', {}, { env: { ORDER_LINES: '5' } });
  t.same(r.res.outcome.exitCode, 0);
  t.equal(r.res.killedBy, undefined);
  t.equal(r.res.verdict.class, 'ok');
  t.equal(r.res.lines, 10);
  t.same(
    r.classifier.seen.map((s) => s.lineNo),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  t.equal(r.res.outcome.outputBytes, Buffer.byteLength(r.logText));
  t.match(r.logText, /^out 1\nerr 1\n/);
  t.same(r.kinds, []);
  t.same(r.left, []);
  t.ok(r.wall < 1000, `supervised in ${r.wall.toFixed(0)} ms`);
});

t.test('hard timeout kills the group even while output flows', async (t) => {
  const r = await runRound('chatty.sh', { roundTimeoutMs: 600, inactivityTimeoutMs: 300 });
  t.equal(r.res.killedBy, 'timeout');
  t.equal(r.res.outcome.killedBy, 'timeout');
  t.equal(r.res.outcome.signal, 'SIGTERM');
  t.same(r.kinds, ['round_timeout_kill', 'round_kill_result']);
  t.same(r.left, []);
  t.ok(r.res.outcome.durationMs >= 600 && r.res.outcome.durationMs < 2500, `${r.res.outcome.durationMs} ms`);
  t.equal(r.classifier.finished?.killedBy, 'timeout');
});

t.test('a group that ignores SIGTERM is SIGKILLed after killGraceMs', async (t) => {
  const r = await runRound('stubborn.sh', { roundTimeoutMs: 400, killGraceMs: 300 });
  t.equal(r.res.killedBy, 'timeout');
  t.equal(r.res.outcome.signal, 'SIGKILL');
  t.equal(r.res.kill?.killSent, true);
  t.same(r.res.survivors, []);
  const kr = r.events.find((e) => e.kind === 'round_kill_result')!.payload;
  t.equal(kr.kill_sent, true);
  t.ok((kr.duration_ms as number) >= 300, `kill took ${String(kr.duration_ms)} ms`);
  t.same(r.left, []);
});

t.test('inactivity: no output for the limit kills the group', async (t) => {
  const r = await runRound('silent.sh', { inactivityTimeoutMs: 400 });
  t.equal(r.res.killedBy, 'inactivity');
  t.same(r.kinds, ['round_inactivity_kill', 'round_kill_result']);
  const idle = r.events[0]!.payload.idle_ms as number;
  t.ok(idle >= 400 && idle < 1500, `idle ${idle} ms`);
  t.same(r.left, []);
});

t.test('grace after the result with an idle group: grace kill', async (t) => {
  const r = await runRound('result-hang.sh', { graceAfterResultMs: 300, inactivityTimeoutMs: 200 });
  t.equal(r.res.killedBy, 'grace');
  t.same(r.kinds, ['round_grace_kill', 'round_kill_result'], 'inactivity is off after the result');
  t.same(r.events[0]!.payload.ignored_children, []);
  t.equal(r.events[0]!.payload.after_exit, false);
  t.same(r.left, []);
});

t.test('grace with a live background worker: extended, then the round ends by itself', async (t) => {
  const r = await runRound('result-bg.sh', { graceAfterResultMs: 300 }, { env: { BG_SLEEP: '1.2' } });
  t.same(r.kinds, ['round_grace_extended']);
  const live = r.events[0]!.payload.live_children as { cmdline: string }[];
  t.same(
    live.map((c) => c.cmdline),
    ['sleep 1.2'],
  );
  t.equal(r.res.killedBy, undefined);
  t.equal(r.res.outcome.exitCode, 0);
  t.match(r.logText, 'worker finished');
  t.same(r.left, []);
});

t.test('an ignore pattern makes an idle helper not count: grace kill', async (t) => {
  const r = await runRound('result-helper.sh', { graceAfterResultMs: 300, ignorePatterns: [/shell-snapshot-helper/] });
  t.equal(r.res.killedBy, 'grace');
  t.same(r.kinds, ['round_grace_kill', 'round_kill_result']);
  const ignored = r.events[0]!.payload.ignored_children as { cmdline: string }[];
  t.equal(ignored.length, 1);
  t.match(ignored[0]!.cmdline, 'shell-snapshot-helper');
  t.same(r.left, [], 'helper killed with the group');
  t.ok(r.wall < 2500, `${r.wall.toFixed(0)} ms`);
});

t.test('without the pattern the same helper defers the kill to the hard timeout', async (t) => {
  const r = await runRound('result-helper.sh', { graceAfterResultMs: 300, roundTimeoutMs: 1500 });
  t.same(r.kinds, ['round_grace_extended', 'round_timeout_kill', 'round_kill_result']);
  t.same(r.events[0]!.payload.ignored_children, []);
  t.equal(r.res.killedBy, 'timeout');
  t.same(r.left, []);
});

for (const terminal of ['pipe', 'pty'] as const) {
  t.test(`${terminal}: a fatal line ends the group at once`, async (t) => {
    const r = await runRound('fatal.sh', { killGraceMs: 5000 }, { terminal });
    t.equal(r.res.killedBy, 'fatal');
    t.equal(r.res.verdict.class, 'auth');
    t.same(r.kinds, ['round_fatal_kill', 'round_kill_result']);
    t.same(r.events[0]!.payload, { class: 'auth', evidence: { source: 'stream', line: 2, status: 401 } });
    const fatalAt = r.classifier.seen.find((s) => s.text.includes('FATAL-AUTH'))!.at;
    const gone = r.end - fatalAt;
    t.ok(gone < 2000, `group gone ${gone.toFixed(0)} ms after the fatal line`);
    t.comment(`${terminal}: fatal line → group gone and round closed in ${gone.toFixed(0)} ms`);
    t.same(r.left, []);
  });
}

t.test('operator abort ends the group', async (t) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort('agent-runner kill'), 300);
  const r = await runRound('chatty.sh', {}, { signal: ac.signal });
  t.equal(r.res.killedBy, 'operator');
  t.same(r.events[0]!.payload, { reason: 'agent-runner kill' });
  t.same(r.left, []);
});

t.test('leader exit does not end the round while its group still works; late output is kept', async (t) => {
  const r = await runRound('late-output.sh', { graceAfterResultMs: 200 }, { env: { LATE_SLEEP: '0.7' } });
  t.equal(r.res.outcome.exitCode, 0);
  t.equal(r.res.killedBy, undefined);
  t.same(r.kinds, ['round_grace_extended']);
  t.equal(r.events[0]!.payload.after_exit, true);
  t.match(r.logText, 'leader done\nlate line\n');
  t.equal(r.classifier.seen.at(-1)?.text, 'late line');
  t.ok(r.wall >= 650, `waited for the member (${r.wall.toFixed(0)} ms)`);
  t.same(r.left, []);
});

t.test('an idle helper left behind after the leader exits is cleaned up, exit status kept', async (t) => {
  const r = await runRound('exit-helper.sh', { graceAfterResultMs: 200, ignorePatterns: [/shell-snapshot-helper/] });
  t.equal(r.res.outcome.exitCode, 0);
  t.equal(r.res.killedBy, undefined, 'the agent ended by itself');
  t.same(r.kinds, ['round_grace_kill', 'round_kill_result']);
  t.equal(r.events[0]!.payload.after_exit, true);
  t.ok(r.res.kill?.termSent);
  t.same(r.left, []);
});

t.test('a classifier that throws does not stop supervision', async (t) => {
  const startedAtMs = Date.now();
  const h = await spawnAgent({
    argv: [fixture('order.sh')],
    cwd: base,
    env: { ...process.env, ORDER_LINES: '3' },
    delivery: { mode: 'stdin' },
    prompt: '',
    terminal: 'pipe',
  });
  const kinds: string[] = [];
  const res = await superviseRound({
    kill,
    handle: h,
    classifier: {
      line: (text) => {
        if (text === 'err 2') throw new Error('boom');
        return undefined;
      },
      finish: () => ({ class: 'ok', evidence: [], summary: 'ok' }),
    },
    limits: LIMITS,
    onEvent: (k) => kinds.push(k),
    startedAtMs,
  });
  t.same(kinds, ['classifier_error']);
  t.equal(res.lines, 6);
  t.equal(res.outcome.exitCode, 0);
});

t.test('no timer outlives the round (a CLI can exit right after it)', async (t) => {
  // Runs the compiled supervisor in a child: a pending drain timer would hold it for 5 s.
  const dist = new URL('../dist/', import.meta.url).href;
  const script = `
    const { spawnAgent } = await import('${dist}agent-process.js');
    const { superviseRound } = await import('${dist}supervise.js');
    const h = await spawnAgent({ argv: ['true'], cwd: '/', env: { PATH: process.env.PATH }, delivery: { mode: 'stdin' }, prompt: '', terminal: 'pipe' });
    await superviseRound({ kill: (p, s) => process.kill(p, s), handle: h, classifier: { line: () => undefined, finish: () => ({ class: 'ok', evidence: [], summary: '' }) },
      limits: { roundTimeoutMs: 60000, inactivityTimeoutMs: 60000, graceAfterResultMs: 60000, killGraceMs: 5000, drainMs: 5000, ignorePatterns: [] } });
  `;
  const t0 = performance.now();
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit', timeout: 20_000 });
  const ms = performance.now() - t0;
  t.ok(ms < 3000, `child exited ${ms.toFixed(0)} ms after start`);
});
