// The REAL Codex CLI (@openai/codex 0.169.0, installed by scripts/ci/agents.sh) against the
// local Responses API stub, offline, through the runner's own round path (spawnAgent +
// superviseRound + the codex adapter's classifier, stdout and stderr as one stream).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyCodexMessage, codexAdapter } from '../src/adapters/codex.js';
import type { SuperviseLimits } from '../src/supervise.js';
import {
  closedPort,
  codexProviderArgs,
  openaiRateLimitHeaders,
  startResponsesStub,
  type ResponsesReply,
  type ResponsesStub,
} from '@agent-runner/testkit/openai-responses-stub';
import { agentCliBin, groupAlive, killMarked, OFFLINE_PROXY_ENV, runPool, runRealRound, type RealRound } from './real-cli-harness.js';

const { bin, why } = agentCliBin('codex');
const CONCURRENCY = Number(process.env['CODEX_REAL_CONCURRENCY'] ?? 3);

interface Case {
  script?: ResponsesReply[] | ((wt: string) => ResponsesReply[]);
  refused?: boolean;
  limits?: Partial<SuperviseLimits>;
  marker?: string;
}

interface Outcome {
  round: RealRound;
  stub: ResponsesStub | undefined;
  wt: string;
  /** Processes of the marked background command still alive once the round ended. */
  leftovers: number;
}

async function play(c: Case): Promise<Outcome> {
  const root = mkdtempSync(join(tmpdir(), 'codex-real-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const wt = join(root, 'wt');
  const home = join(root, 'home');
  mkdirSync(home);
  execFileSync('git', ['init', '-q', wt]);
  const script = typeof c.script === 'function' ? c.script(wt) : (c.script ?? []);
  const stub = c.refused ? undefined : await startResponsesStub({ script });
  const baseUrl = stub ? stub.url : `http://127.0.0.1:${await closedPort()}/v1`;
  const [, ...presetArgs] = codexAdapter.preset.command;
  const round = await runRealRound({
    adapter: codexAdapter,
    argv: [bin ?? 'codex', ...presetArgs, '--skip-git-repo-check', ...codexProviderArgs(baseUrl), '-m', 'gpt-5'],
    cwd: wt,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, CODEX_HOME: home, STUB_KEY: 'sk-stub-key', ...OFFLINE_PROXY_ENV },
    prompt: 'Do the task.',
    ...(c.limits ? { limits: c.limits } : {}),
  });
  const leftovers = c.marker ? killMarked(c.marker) : 0;
  await stub?.close();
  return { round, stub, wt, leftovers };
}

const fatalOf = (r: RealRound) => r.signals.find((s) => s.signal.kind === 'fatal');

// The messages Codex 0.169.0 printed in these runs (adapter fix: 503 was classified crash).
t.test('codex messages seen against the stub classify as expected', async (t) => {
  t.same(classifyCodexMessage('Selected model is at capacity. Please try a different model.'), { class: 'overloaded' });
  t.same(classifyCodexMessage('We’re currently experiencing high demand, which may cause temporary errors.'), { class: 'server_error' });
  t.same(classifyCodexMessage('Reconnecting... 1/1 (exceeded retry limit, last status: 429 Too Many Requests, request id: req_1)'), {
    class: 'rate_limit',
    status: 429,
  });
});

if (!bin) {
  if (process.env['CI'] === 'true') t.fail(`the real Codex CLI is required in CI: ${why}`);
  else t.test('real Codex CLI cases', { skip: `real Codex CLI not installed: ${why}` }, async () => undefined);
} else {
  const inAnHour = Math.floor(Date.now() / 1000) + 3600;
  const marker = `ar-codex-bg-${process.pid}-${Date.now()}`;
  const cases: Record<string, Case> = {
    success: {
      script: [
        {
          kind: 'function_call',
          name: 'exec_command',
          arguments: { cmd: 'printf "hello from the stub\\n" > hello.txt' },
          usage: { input_tokens: 1200, cached_tokens: 200, output_tokens: 80 },
        },
        { kind: 'text', text: 'Wrote hello.txt.', usage: { input_tokens: 1400, cached_tokens: 1000, output_tokens: 20 } },
      ],
    },
    auth: { script: [{ kind: 'error', status: 401 }] },
    rateLimitNoReset: {
      script: [
        {
          kind: 'error',
          status: 429,
          headers: openaiRateLimitHeaders({ retryAfterS: 1, limitRequests: 500, remainingRequests: 0, resetRequests: '1s' }),
        },
      ],
    },
    rateLimitReset: {
      script: [
        {
          kind: 'error',
          status: 429,
          type: 'usage_limit_reached',
          code: null,
          message: 'The usage limit has been reached',
          extra: { plan_type: 'plus', resets_at: inAnHour, resets_in_seconds: 3600 },
        },
      ],
    },
    serverError: { script: [{ kind: 'error', status: 500 }] },
    overloaded: { script: [{ kind: 'error', status: 503 }] },
    refused: { refused: true, limits: { roundTimeoutMs: 12_000 } },
    toolSays401: {
      script: [
        {
          kind: 'function_call',
          name: 'exec_command',
          arguments: { cmd: 'printf "HTTP 401 Unauthorized\\nrate limit exceeded (429)\\n" > notes.txt; cat notes.txt' },
        },
        { kind: 'text', text: 'The notes say 401 Unauthorized and rate limit exceeded.' },
      ],
    },
    aliveAfterResult: {
      marker,
      limits: { graceAfterResultMs: 1500 },
      script: [
        { kind: 'function_call', name: 'exec_command', arguments: { cmd: `sleep 30 # ${marker}`, yield_time_ms: 250 } },
        { kind: 'text', text: 'Started it.' },
      ],
    },
  };
  const results = runPool(cases, CONCURRENCY, (c) => play(c));
  const get = (name: string): Promise<Outcome> => results.get(name) ?? Promise.reject(new Error(name));

  t.test('success: a real exec_command edits the work tree; ok with usage', async (t) => {
    const o = await get('success');
    const r = o.round.result;
    t.equal(r.outcome.exitCode, 0);
    t.equal(readFileSync(join(o.wt, 'hello.txt'), 'utf8'), 'hello from the stub\n', 'the CLI ran the tool');
    t.match(JSON.stringify(o.stub?.responses()[1]?.body), /function_call_output/, 'the follow-up request carried the tool output');
    t.equal(r.verdict.class, 'ok');
    // OpenAI counts cached tokens inside input_tokens; the adapter stores uncached input.
    t.same(r.verdict.usage, { input_tokens: 1400, cache_read_tokens: 1200, cache_creation_tokens: 0, output_tokens: 100 });
    t.equal(r.verdict.cost_usd, undefined);
    t.comment('cost: Codex `exec --json` reports tokens only (turn.completed.usage), never a price, so no cost_usd');
  });

  t.test('401: fatal auth on the first failure line; group gone within 2 s', async (t) => {
    const o = await get('auth');
    const fatal = fatalOf(o.round);
    t.equal(fatal?.signal.kind === 'fatal' && fatal.signal.class, 'auth');
    // Top-level `error` events only: `item.completed` items of type error are warnings.
    const first = o.round.lines.find((l) => /^\{"type":"(error|turn\.failed)"/.test(l.text));
    t.equal(fatal?.line, first?.lineNo, 'on the first failure line');
    const toGone = o.round.endedAtMs - (fatal?.atMs ?? 0);
    const first401 = o.stub?.responses().find((r) => r.answered === 401);
    t.comment(`first 401 answered -> fatal: ${(fatal?.atMs ?? 0) - (first401?.answeredAtMs ?? 0)} ms; fatal -> group gone: ${toGone} ms`);
    t.ok(toGone >= 0 && toGone < 2000, `group gone ${toGone} ms after the fatal line`);
    t.equal(o.round.result.killedBy, 'fatal');
    t.equal(o.round.result.verdict.class, 'auth');
    t.notOk(groupAlive(o.round.pgid));
  });

  t.test('rate limit without a reset time (429 rate_limit_exceeded, retry-after, x-ratelimit-*)', async (t) => {
    const o = await get('rateLimitNoReset');
    t.equal(o.round.result.verdict.class, 'rate_limit');
    t.equal(o.round.result.verdict.reset_at_ms, undefined);
    t.notOk(fatalOf(o.round));
  });

  t.test('rate limit with a reset time (429 usage_limit_reached with resets_at)', async (t) => {
    const o = await get('rateLimitReset');
    t.equal(o.round.result.verdict.class, 'rate_limit');
    t.match(o.round.result.verdict.summary, /usage limit/);
    t.equal(o.round.result.verdict.reset_at_ms, undefined);
    t.comment(
      'Codex 0.169.0 turns resets_at into "try again at <h:mm AM/PM>" (local wall-clock time, no date, no zone) and prints nothing else about it, so no reset time can be derived reliably: the runner backs off exponentially',
    );
  });

  t.test('500 server_error and 503 overloaded, never fatal', async (t) => {
    for (const [name, cls] of [
      ['serverError', 'server_error'],
      ['overloaded', 'overloaded'],
    ] as const) {
      const o = await get(name);
      t.equal(o.round.result.verdict.class, cls, name);
      t.notOk(fatalOf(o.round), `${name}: not fatal`);
    }
    t.comment('Codex prints no status for these: 500 is "We’re currently experiencing high demand", 503 "Selected model is at capacity"');
  });

  t.test('connection refused: network', async (t) => {
    const o = await get('refused');
    t.equal(o.round.result.verdict.class, 'network');
    t.ok(
      o.round.lines.some((l) => /waiting for network/.test(l.text)),
      'Codex waits for the network',
    );
    t.comment(
      `Codex never gives up on a refused connection; ${o.round.lines.filter((l) => /waiting for network/.test(l.text)).length} "waiting for network" lines in 12 s; ended by ${o.round.result.killedBy ?? 'itself'} (the adapter ends it as network after 5 such lines)`,
    );
  });

  t.test('a tool output saying "401" and "rate limit" in a successful round: ok', async (t) => {
    const o = await get('toolSays401');
    t.ok(
      o.round.lines.some((l) => l.text.includes('command_execution') && l.text.includes('401 Unauthorized')),
      'the tool output reached the stream',
    );
    t.equal(o.round.result.verdict.class, 'ok');
    t.notOk(fatalOf(o.round));
  });

  t.test('a CLI still alive after its result', async (t) => {
    const o = await get('aliveAfterResult');
    const r = o.round.result;
    t.ok(
      o.round.signals.some((s) => s.signal.kind === 'final_result'),
      'final result seen',
    );
    if (r.killedBy === 'grace') {
      t.equal(r.verdict.class, 'hang');
    } else {
      t.equal(r.verdict.class, 'ok');
      t.comment(
        `Codex 0.169.0 exits by itself after turn.completed (exit ${r.outcome.exitCode}, ${o.round.result.outcome.durationMs} ms) and ends the still-running exec_command session (sleep 30) itself, so a CLI alive after its result cannot be produced with it; the grace path is proven with claude-real`,
      );
    }
    t.equal(o.leftovers, 0, 'nothing of the background command outlived the round');
  });

  t.test('no process group left behind', async (t) => {
    for (const name of Object.keys(cases)) {
      const o = await get(name);
      t.notOk(groupAlive(o.round.pgid), `${name}: group ${o.round.pgid} gone`);
    }
  });
}
