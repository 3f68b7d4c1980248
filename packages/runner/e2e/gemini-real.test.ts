// The REAL Gemini CLI (@google/gemini-cli 0.61.0, installed by scripts/ci/agents.sh) against
// the local Gemini API stub, offline, through the runner's own round path (spawnAgent +
// superviseRound + the gemini adapter's classifier). stdout and stderr are one stream, as in
// the runner: Gemini CLI reports its retries on stderr only.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { geminiAdapter } from '../src/adapters/gemini.js';
import type { SuperviseLimits } from '../src/supervise.js';
import {
  closedPort,
  errorInfo,
  geminiSettings,
  quotaFailure,
  retryInfo,
  startGeminiStub,
  type GeminiReply,
  type GeminiStub,
} from '@agent-runner/testkit/gemini-stub';
import { agentCliBin, groupAlive, killMarked, OFFLINE_PROXY_ENV, runPool, runRealRound, type RealRound } from './real-cli-harness.js';

const { bin, why } = agentCliBin('gemini');
const CONCURRENCY = Number(process.env['GEMINI_REAL_CONCURRENCY'] ?? 3);
/**
 * Cases where the CLI retries by itself for minutes are ended by the round timeout. Gemini
 * CLI 0.61.0 needs ~9 s (idle 2-core machine) before its first output line — it re-executes
 * itself with a larger heap and loads a ~20 MB bundle — so limits here are generous.
 */
const RETRY_ROUND_MS = Number(process.env['GEMINI_REAL_RETRY_ROUND_MS'] ?? 40_000);
const BASE_LIMITS: Partial<SuperviseLimits> = { roundTimeoutMs: 120_000, inactivityTimeoutMs: 90_000 };

interface Case {
  script?: GeminiReply[];
  refused?: boolean;
  limits?: Partial<SuperviseLimits>;
  marker?: string;
}

interface Outcome {
  round: RealRound;
  stub: GeminiStub | undefined;
  wt: string;
  leftovers: number;
}

async function play(c: Case): Promise<Outcome> {
  const root = mkdtempSync(join(tmpdir(), 'gemini-real-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const wt = join(root, 'wt');
  const home = join(root, 'home');
  mkdirSync(join(home, '.gemini'), { recursive: true });
  writeFileSync(join(home, '.gemini', 'settings.json'), JSON.stringify(geminiSettings()));
  execFileSync('git', ['init', '-q', wt]);
  const stub = c.refused ? undefined : await startGeminiStub({ script: c.script ?? [] });
  const baseUrl = stub ? stub.url : `http://127.0.0.1:${await closedPort()}`;
  const [, ...presetArgs] = geminiAdapter.preset.command;
  const round = await runRealRound({
    adapter: geminiAdapter,
    argv: [bin ?? 'gemini', ...presetArgs],
    cwd: wt,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      GEMINI_API_KEY: 'stub-gemini-key',
      GOOGLE_GEMINI_BASE_URL: baseUrl,
      ...OFFLINE_PROXY_ENV,
    },
    prompt: 'Do the task.',
    limits: { ...BASE_LIMITS, ...c.limits },
  });
  const leftovers = c.marker ? killMarked(c.marker) : 0;
  await stub?.close();
  return { round, stub, wt, leftovers };
}

const fatalOf = (r: RealRound) => r.signals.find((s) => s.signal.kind === 'fatal');

if (!bin) {
  if (process.env['CI'] === 'true') t.fail(`the real Gemini CLI is required in CI: ${why}`);
  else t.test('real Gemini CLI cases', { skip: `real Gemini CLI not installed: ${why}` }, async () => undefined);
} else {
  const marker = `ar-gemini-bg-${process.pid}-${Date.now()}`;
  const retrying = { limits: { roundTimeoutMs: RETRY_ROUND_MS } };
  const cases: Record<string, Case> = {
    success: {
      script: [
        {
          kind: 'function_call',
          name: 'run_shell_command',
          args: { command: 'printf "hello from the stub\\n" > hello.txt', description: 'write hello' },
          usage: { promptTokenCount: 1200, candidatesTokenCount: 80, cachedContentTokenCount: 200 },
        },
        {
          kind: 'text',
          text: 'Wrote hello.txt.',
          usage: { promptTokenCount: 1400, candidatesTokenCount: 20, cachedContentTokenCount: 1000 },
        },
      ],
    },
    auth401: { script: [{ kind: 'error', code: 401 }] },
    authKeyInvalid: { script: [{ kind: 'error', code: 400, details: [errorInfo('API_KEY_INVALID')] }] },
    rateLimitNoReset: { ...retrying, script: [{ kind: 'error', code: 429 }] },
    rateLimitReset: { script: [{ kind: 'error', code: 429, message: 'You exceeded your current quota.', details: [retryInfo('3600s')] }] },
    rateLimitDaily: {
      script: [
        {
          kind: 'error',
          code: 429,
          message: 'You exceeded your current quota.',
          details: [quotaFailure('GenerateRequestsPerDayPerProjectPerModel-FreeTier'), retryInfo('3600s')],
        },
      ],
    },
    overloaded: { ...retrying, script: [{ kind: 'error', code: 503 }] },
    serverError: { ...retrying, script: [{ kind: 'error', code: 500 }] },
    refused: { ...retrying, refused: true },
    toolSays401: {
      script: [
        {
          kind: 'function_call',
          name: 'run_shell_command',
          args: {
            command: 'printf "HTTP 401 Unauthorized\\nrate limit exceeded (429)\\n" > notes.txt; cat notes.txt',
            description: 'notes',
          },
        },
        { kind: 'text', text: 'The notes say 401 Unauthorized and rate limit exceeded.' },
      ],
    },
    aliveAfterResult: {
      marker,
      // Longer than the few seconds Gemini CLI can take to exit after its result on a loaded
      // machine, so a kill at the grace proves it waits for the background command.
      limits: { graceAfterResultMs: 6000 },
      script: [
        {
          kind: 'function_call',
          name: 'run_shell_command',
          args: { command: `sleep 30 & # ${marker}`, description: 'wait', is_background: true },
        },
        { kind: 'text', text: 'Started it.' },
      ],
    },
  };
  const results = runPool(cases, CONCURRENCY, (c) => play(c));
  const get = (name: string): Promise<Outcome> => results.get(name) ?? Promise.reject(new Error(name));

  t.test('success: a real run_shell_command edits the work tree; ok with usage', async (t) => {
    const o = await get('success');
    const r = o.round.result;
    t.equal(r.outcome.exitCode, 0);
    t.equal(readFileSync(join(o.wt, 'hello.txt'), 'utf8'), 'hello from the stub\n', 'the CLI ran the tool');
    t.match(
      JSON.stringify(o.stub?.requests.filter((q) => q.kind === 'turn')[1]?.body),
      /functionResponse/,
      'the follow-up request carried the tool output',
    );
    t.equal(r.verdict.class, 'ok');
    // result.stats totals every call of the round, the model router's (stub default usage
    // 120 in / 20 cached / 15 out) included: 1000+400+100 net, 200+1000+20 cached, 80+20+15 out.
    t.same(
      r.verdict.usage,
      { input_tokens: 1500, cache_read_tokens: 1220, output_tokens: 115 },
      'net input, cached, output from result.stats',
    );
    t.equal(r.verdict.cost_usd, undefined);
    t.comment('cost: Gemini CLI stream-json reports tokens only (result.stats), never a price, so no cost_usd');
  });

  for (const [name, label] of [
    ['auth401', '401 UNAUTHENTICATED'],
    ['authKeyInvalid', '400 API_KEY_INVALID'],
  ] as const) {
    t.test(`${label}: fatal auth on the first failure line; group gone within 2 s`, async (t) => {
      const o = await get(name);
      const fatal = fatalOf(o.round);
      t.equal(fatal?.signal.kind === 'fatal' && fatal.signal.class, 'auth');
      const first = o.round.lines.find((l) => /UNAUTHENTICATED|API_KEY_INVALID|"status":"error"/.test(l.text));
      t.equal(fatal?.line, first?.lineNo, 'on the first failure line');
      const toGone = o.round.endedAtMs - (fatal?.atMs ?? 0);
      const firstErr = o.stub?.apiCalls().find((r) => typeof r.answered === 'number' && r.answered >= 400);
      t.comment(
        `first error answered -> fatal: ${(fatal?.atMs ?? 0) - (firstErr?.answeredAtMs ?? 0)} ms; fatal -> group gone: ${toGone} ms`,
      );
      t.ok(toGone >= 0 && toGone < 2000, `group gone ${toGone} ms after the fatal line`);
      t.equal(o.round.result.verdict.class, 'auth');
      t.notOk(groupAlive(o.round.pgid));
    });
  }

  t.test('429 RESOURCE_EXHAUSTED without RetryInfo: rate_limit, no reset time', async (t) => {
    const o = await get('rateLimitNoReset');
    t.equal(o.round.result.verdict.class, 'rate_limit');
    t.equal(o.round.result.verdict.reset_at_ms, undefined);
    t.notOk(fatalOf(o.round));
    t.ok(
      o.round.lines.some((l) => /^Attempt \d+ failed with status 429/.test(l.text)),
      'the retries were read from stderr',
    );
  });

  t.test('429 with RetryInfo 3600s: rate_limit with the reset time, no retry by the CLI', async (t) => {
    const o = await get('rateLimitReset');
    const v = o.round.result.verdict;
    t.equal(v.class, 'rate_limit');
    t.notOk(fatalOf(o.round));
    const result = JSON.parse(o.round.lines.find((l) => l.text.startsWith('{"type":"result"'))?.text ?? '{}') as { timestamp?: string };
    t.equal(v.reset_at_ms, Date.parse(result.timestamp ?? '') + 3600_000, 'reset = result timestamp + "Suggested retry after 3600s"');
    t.equal(o.stub?.apiCalls().filter((r) => r.answered === 429).length, 1, 'a delay over 300 s is terminal for the CLI: no retry');
  });

  t.test('429 QuotaFailure per day: rate_limit, no reset time (the CLI prints none)', async (t) => {
    const o = await get('rateLimitDaily');
    t.equal(o.round.result.verdict.class, 'rate_limit');
    t.equal(o.round.result.verdict.reset_at_ms, undefined);
    t.match(o.round.result.verdict.summary, /daily quota/);
    t.comment(
      'Gemini CLI 0.61.0 replaces a per-day QuotaFailure by "You have exhausted your daily quota on this model." and drops RetryInfo: no reset time reaches the stream',
    );
  });

  t.test('503 overloaded and 500 server error: transient, never fatal', async (t) => {
    const ov = await get('overloaded');
    t.equal(ov.round.result.verdict.class, 'overloaded');
    t.notOk(fatalOf(ov.round));
    const se = await get('serverError');
    t.equal(se.round.result.verdict.class, 'server_error');
    t.notOk(fatalOf(se.round));
  });

  t.test('connection refused: network', async (t) => {
    const o = await get('refused');
    t.equal(o.round.result.verdict.class, 'network');
    t.ok(
      o.round.lines.some((l) => /^Attempt \d+ failed\. Retrying/.test(l.text)),
      'fetch-failed retries on stderr',
    );
  });

  t.test('a tool output saying "401" and "rate limit" in a successful round: ok', async (t) => {
    const o = await get('toolSays401');
    t.ok(
      o.round.lines.some((l) => l.text.includes('"tool_result"') && l.text.includes('401 Unauthorized')),
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
    const resultAt = o.round.signals.find((s) => s.signal.kind === 'final_result')?.atMs ?? o.round.startedAtMs;
    const exitAfterResult = o.round.startedAtMs + r.outcome.durationMs - resultAt;
    // The verdict must match what the process did: outlived the grace -> hang, exited -> ok.
    if (r.killedBy === 'grace') {
      t.equal(r.verdict.class, 'hang');
      t.match(r.verdict.summary, /grace/);
      t.comment(`Gemini CLI was still alive ${exitAfterResult} ms after its result: killed at the grace, hang`);
    } else {
      t.equal(r.verdict.class, 'ok');
      t.comment(
        `Gemini CLI 0.61.0 exited by itself ${exitAfterResult} ms after its result (exit ${r.outcome.exitCode}) and ended the background shell command (leftovers ${o.leftovers}): it does not wait for background work, so "alive after its result" happens only when its shutdown outlasts the grace (seen with a 1.5-2 s grace on a loaded machine)`,
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
