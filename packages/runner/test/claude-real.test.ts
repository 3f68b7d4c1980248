// The REAL Claude Code CLI (pinned devDependency, node_modules/.bin/claude) against the local
// Messages API stub, offline: spawned in its own process group with pipes, its stdout fed
// line by line to the claude adapter's classifier, the group killed on a fatal signal or
// after a grace period following its result, as the round supervisor does.
import t from 'tap';
import { groupStates, killMarked, killTree } from '@agent-runner/testkit/procs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claudeAdapter } from '../src/adapters/claude.js';
import type { LiveSignal, ProcessOutcome, Verdict } from '../src/adapters/types.js';
import {
  closedPort,
  startAnthropicStub,
  unifiedRateLimitHeaders,
  type AnthropicStub,
  type StubReply,
} from '@agent-runner/testkit/anthropic-stub';
import { claudeBin, runClaude, type ClaudeRun } from '@agent-runner/testkit/claude-cli';

const bin = claudeBin();
const CONCURRENCY = Number(process.env['CLAUDE_REAL_CONCURRENCY'] ?? 3);

interface Case {
  /** Replies, or a function of the work tree path (for tools that write into it). */
  script?: StubReply[] | ((wt: string) => StubReply[]);
  refused?: boolean;
  auth?: 'api-key' | 'oauth';
  maxRetries?: number;
  /** Kill the group this long after the first final_result (the supervisor's grace). */
  graceMs?: number;
  /** Marker in a background command, to clean up what escapes the process group. */
  marker?: string;
}

interface Outcome {
  run: ClaudeRun;
  verdict: Verdict;
  signals: { line: number; atMs: number; signal: LiveSignal }[];
  stub: AnthropicStub | undefined;
  wt: string;
  groupGoneAtMs: number;
}

/** True while the group has a member that is not a zombie. */
function groupAlive(pgid: number): boolean {
  return groupStates(pgid).some((s) => s !== 'Z');
}

/**
 * Polls until no process of the group runs any more. Killed children of the CLI are
 * reparented to PID 1, which may reap them late; a zombie does no work, so "gone" here is
 * "no member left that is not a zombie". Returns when, in ms.
 */
async function waitGroupGone(pgid: number, limitMs = 5000): Promise<number> {
  const start = Date.now();
  while (groupStates(pgid).some((s) => s !== 'Z') && Date.now() - start < limitMs) await new Promise((r) => setTimeout(r, 2));
  return Date.now();
}

async function play(c: Case): Promise<Outcome> {
  const root = mkdtempSync(join(tmpdir(), 'claude-real-'));
  const wt = join(root, 'wt');
  execFileSync('git', ['init', '-q', wt]);
  const script = typeof c.script === 'function' ? c.script(wt) : (c.script ?? []);
  const stub = c.refused ? undefined : await startAnthropicStub({ script });
  const baseUrl = stub ? stub.url : `http://127.0.0.1:${await closedPort()}`;
  const classifier = claudeAdapter.createClassifier();
  const signals: Outcome['signals'] = [];
  let pgid = -1;
  let killedBy: ProcessOutcome['killedBy'];
  let graceTimer: NodeJS.Timeout | undefined;
  const run = await runClaude({
    bin: bin ?? 'claude',
    baseUrl,
    cwd: wt,
    home: join(root, 'home'),
    prompt: 'Do the task.',
    auth: c.auth ?? 'api-key',
    maxRetries: c.maxRetries ?? 1,
    timeoutMs: 40_000,
    onSpawn: (pid) => {
      pgid = pid;
    },
    onLine: (text, lineNo, atMs) => {
      const s = classifier.line(text, lineNo);
      if (!s) return;
      signals.push({ line: lineNo, atMs, signal: s });
      if (s.kind === 'fatal') {
        killedBy = 'fatal';
        return 'kill';
      }
      if (c.graceMs !== undefined && !graceTimer) {
        graceTimer = setTimeout(() => {
          killedBy = 'grace';
          // Like the runner: the CLI's group and its descendants in sessions of their own.
          killTree(pgid);
        }, c.graceMs);
      }
    },
  });
  if (graceTimer) clearTimeout(graceTimer);
  const groupGoneAtMs = await waitGroupGone(run.pid);
  if (c.marker) killMarked(c.marker);
  await stub?.close();
  const verdict = classifier.finish({
    exitCode: run.exitCode,
    signal: run.signal,
    durationMs: run.endedAtMs - run.startedAtMs,
    outputBytes: run.lines.reduce((a, l) => a + l.length + 1, 0),
    ...(killedBy ? { killedBy } : run.killedBy === 'timeout' ? { killedBy: 'timeout' as const } : {}),
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return { run, verdict, signals, stub, wt, groupGoneAtMs };
}

if (!bin) {
  t.plan(0, 'node_modules/.bin/claude is not installed (root devDependency @anthropic-ai/claude-code)');
} else {
  const inAnHour = Math.floor(Date.now() / 1000) + 3600;
  const marker = `ar-bg-${process.pid}-${Date.now()}`;
  const cases: Record<string, Case> = {
    success: {
      script: (wt) => [
        {
          kind: 'tool_use',
          name: 'Write',
          text: 'Creating the file.',
          input: { file_path: join(wt, 'hello.txt'), content: 'hello from the stub\n' },
          usage: { input_tokens: 1200, output_tokens: 80, cache_read_input_tokens: 3000, cache_creation_input_tokens: 500 },
        },
        { kind: 'text', text: 'Wrote hello.txt.', usage: { input_tokens: 1300, output_tokens: 20, cache_read_input_tokens: 4000 } },
      ],
    },
    auth: { script: [{ kind: 'error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }], maxRetries: 10 },
    rateLimitNoReset: { script: [{ kind: 'error', status: 429, type: 'rate_limit_error', headers: { 'retry-after': '1' } }] },
    rateLimitReset: {
      auth: 'oauth',
      script: [
        {
          kind: 'error',
          status: 429,
          type: 'rate_limit_error',
          headers: unifiedRateLimitHeaders({ status: 'rejected', resetEpochS: inAnHour, claim: 'five_hour', fiveHourUtilization: 1 }),
        },
      ],
    },
    overloaded: { script: [{ kind: 'error', status: 529, type: 'overloaded_error' }] },
    serverError: { script: [{ kind: 'error', status: 500, type: 'api_error' }] },
    refused: { refused: true },
    toolSays401: {
      script: [
        {
          kind: 'tool_use',
          name: 'Bash',
          input: {
            command: 'printf "HTTP 401 Unauthorized\\nrate limit exceeded (429)\\n" > notes.txt; cat notes.txt',
            description: 'notes',
          },
        },
        { kind: 'text', text: 'The notes say 401 Unauthorized and rate limit exceeded.' },
      ],
    },
    aliveAfterResult: {
      graceMs: 1500,
      marker,
      script: [
        { kind: 'tool_use', name: 'Bash', input: { command: `sleep 30 # ${marker}`, description: 'wait', run_in_background: true } },
        { kind: 'text', text: 'Started it.' },
      ],
    },
  };

  // Cases run concurrently (CLAUDE_REAL_CONCURRENCY at a time); each test awaits its own.
  const results = new Map<string, Promise<Outcome>>();
  const queue = Object.entries(cases);
  let running = 0;
  const waiters: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    if (running < CONCURRENCY) {
      running++;
      return;
    }
    await new Promise<void>((r) => waiters.push(r));
    running++;
  };
  const release = (): void => {
    running--;
    waiters.shift()?.();
  };
  for (const [name, c] of queue) {
    results.set(
      name,
      (async () => {
        await slot();
        try {
          return await play(c);
        } finally {
          release();
        }
      })(),
    );
  }
  const get = (name: string): Promise<Outcome> => {
    const p = results.get(name);
    if (!p) throw new Error(name);
    return p;
  };

  t.test('success: a real Write tool edits the work tree; ok with usage and cost from result', async (t) => {
    const o = await get('success');
    t.equal(o.run.exitCode, 0);
    t.equal(readFileSync(join(o.wt, 'hello.txt'), 'utf8'), 'hello from the stub\n', 'the CLI wrote the file');
    const second = o.stub?.messages()[1]?.body as { messages?: { content?: unknown }[] } | undefined;
    t.match(JSON.stringify(second?.messages?.at(-1)?.content), /tool_result/, 'the follow-up request carried the tool_result');
    t.equal(o.verdict.class, 'ok');
    t.same(o.verdict.usage, { input_tokens: 2500, output_tokens: 100, cache_read_tokens: 7000, cache_creation_tokens: 500 });
    const result = JSON.parse(o.run.lines.find((l) => l.includes('"type":"result"')) ?? '{}') as { total_cost_usd?: number };
    t.ok((o.verdict.cost_usd ?? 0) > 0);
    t.equal(o.verdict.cost_usd, result.total_cost_usd);
    t.equal(o.signals.filter((s) => s.signal.kind === 'final_result').length, 1);
  });

  t.test('401: fatal auth on the first failure line; group killed before the CLI retries', async (t) => {
    const o = await get('auth');
    const fatal = o.signals.find((s) => s.signal.kind === 'fatal');
    t.ok(fatal, 'fatal signal');
    t.equal(fatal?.signal.kind === 'fatal' && fatal.signal.class, 'auth');
    const firstFailureLine = o.run.lines.findIndex((l) => l.includes('"api_retry"') || l.includes('"error":"authentication_failed"')) + 1;
    t.equal(fatal?.line, firstFailureLine, 'on the first failure line');
    const first401 = o.stub?.messages().find((r) => r.answered === 401);
    const latency = (fatal?.atMs ?? 0) - (first401?.answeredAtMs ?? 0);
    const toGone = o.groupGoneAtMs - (fatal?.atMs ?? 0);
    t.comment(`first 401 answered -> fatal signal: ${latency} ms; signal -> process group gone: ${toGone} ms; CLI would retry 10 times`);
    t.ok(latency >= 0 && latency < 2000, `signal within 2 s of the first 401 (${latency} ms)`);
    t.equal(o.stub?.messages().length, 1, 'no retry reached the API');
    t.equal(o.verdict.class, 'auth');
    t.equal(o.run.killedBy, 'onLine');
    t.notOk(groupAlive(o.run.pid), 'process group gone');
  });

  t.test('rate limit without a reset time', async (t) => {
    const o = await get('rateLimitNoReset');
    t.equal(o.verdict.class, 'rate_limit');
    t.equal(o.verdict.reset_at_ms, undefined);
    t.notOk(o.signals.some((s) => s.signal.kind === 'fatal'));
  });

  t.test('rate limit with a reset time (OAuth login, unified rate-limit headers)', async (t) => {
    const o = await get('rateLimitReset');
    t.equal(o.verdict.class, 'rate_limit');
    t.equal(o.verdict.reset_at_ms, inAnHour * 1000, 'reset = anthropic-ratelimit-unified-reset (epoch s) in ms');
    t.equal(o.verdict.rate_limit?.find((w) => w.type === 'five_hour')?.status, 'rejected');
  });

  t.test('529 overloaded and 500 server error', async (t) => {
    t.equal((await get('overloaded')).verdict.class, 'overloaded');
    t.equal((await get('serverError')).verdict.class, 'server_error');
  });

  t.test('connection refused: network', async (t) => {
    const o = await get('refused');
    t.equal(o.verdict.class, 'network');
    t.match(o.verdict.summary, /ECONNREFUSED/);
  });

  t.test('a tool result saying "401" and "rate limit" in a successful round: ok', async (t) => {
    const o = await get('toolSays401');
    t.ok(
      o.run.lines.some((l) => l.includes('"tool_result"') && l.includes('401 Unauthorized')),
      'the tool output reached the stream',
    );
    t.equal(o.verdict.class, 'ok');
    t.notOk(o.signals.some((s) => s.signal.kind === 'fatal'));
  });

  t.test('a CLI still alive after its successful result (background task): ok after the grace kill', async (t) => {
    const o = await get('aliveAfterResult');
    t.equal(o.signals[0]?.signal.kind, 'final_result');
    t.equal(o.run.signal, 'SIGKILL', 'it did not exit by itself');
    t.equal(o.verdict.class, 'ok');
    t.match(o.verdict.summary, /grace/);
    t.equal(killMarked(marker), 0, 'the background command (own session) and its children were cleaned up');
  });

  t.test('no process group left behind', async (t) => {
    for (const name of Object.keys(cases)) {
      const o = await get(name);
      t.notOk(groupAlive(o.run.pid), `${name}: group ${o.run.pid} gone`);
    }
  });
}
