// Codex and Gemini CLI classifiers over real output captured from @openai/codex 0.169.0 and
// @google/gemini-cli 0.61.0 run offline against local API stubs (see fixtures/README.md),
// plus the upstream Gemini fixture in ../shared/fixtures/cli-real-output/.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { CODEX_NETWORK_WAIT_LIMIT, codexAdapter } from '../src/adapters/codex.js';
import { geminiAdapter } from '../src/adapters/gemini.js';
import type { AgentAdapter, LiveSignal, ProcessOutcome, Verdict } from '../src/adapters/types.js';

const fixtures = new URL('./fixtures/', import.meta.url);

function read(rel: string): string[] {
  return readFileSync(new URL(rel, fixtures), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

function feed(
  adapter: AgentAdapter,
  input: string[],
  outcome: Partial<ProcessOutcome>,
): { signals: { line: number; signal: LiveSignal }[]; verdict: Verdict } {
  const c = adapter.createClassifier();
  const signals: { line: number; signal: LiveSignal }[] = [];
  let killed = false;
  for (let i = 0; i < input.length; i++) {
    const s = c.line(input[i] ?? '', i + 1);
    if (s) signals.push({ line: i + 1, signal: s });
    if (s?.kind === 'fatal') {
      killed = true;
      break;
    }
  }
  const verdict = c.finish({
    exitCode: 0,
    signal: null,
    durationMs: 1000,
    outputBytes: 1,
    ...outcome,
    ...(killed ? { exitCode: null, signal: 'SIGKILL', killedBy: 'fatal' as const } : {}),
  });
  return { signals, verdict };
}

t.test('codex: success with a real command whose output says 401 / rate limit', async (t) => {
  const all = read('codex/codex-0.169.0-tool.jsonl');
  t.ok(
    all.some((l) => l.includes('command_execution') && l.includes('401 Unauthorized rate limit')),
    'capture has the echo',
  );
  const { verdict, signals } = feed(codexAdapter, all, { exitCode: 0 });
  t.equal(verdict.class, 'ok');
  t.same(verdict.usage, { input_tokens: 200, cache_read_tokens: 40, cache_creation_tokens: 0, output_tokens: 30 });
  t.same(
    signals.map((s) => s.signal.kind),
    ['final_result'],
  );
});

t.test('codex: the non-fatal "model metadata" error item does not classify', async (t) => {
  const { verdict } = feed(codexAdapter, read('codex/codex-0.169.0-text.jsonl'), { exitCode: 0 });
  t.equal(verdict.class, 'ok');
});

t.test('codex: 401 is fatal auth on the first reconnect line', async (t) => {
  const all = read('codex/codex-0.169.0-e401.jsonl');
  const first = all.findIndex((l) => l.includes('401')) + 1;
  const { verdict, signals } = feed(codexAdapter, all, { exitCode: 1 });
  t.equal(signals[0]?.signal.kind, 'fatal');
  t.equal(signals[0]?.line, first);
  t.equal(verdict.class, 'auth');
  t.equal(verdict.evidence[0]?.status, 401);
});

t.test('codex: 429 rate_limit, usage limit rate_limit (no reset: the CLI gives a bare clock time), 500 server_error', async (t) => {
  const rl = feed(codexAdapter, read('codex/codex-0.169.0-e429.jsonl'), { exitCode: 1 }).verdict;
  t.equal(rl.class, 'rate_limit');
  t.equal(rl.evidence.at(-1)?.status, 429);
  const usage = feed(codexAdapter, read('codex/codex-0.169.0-e429u.jsonl'), { exitCode: 1 }).verdict;
  t.equal(usage.class, 'rate_limit');
  t.equal(usage.reset_at_ms, undefined);
  t.equal(feed(codexAdapter, read('codex/codex-0.169.0-e500.jsonl'), { exitCode: 1 }).verdict.class, 'server_error');
});

t.test('codex: connection refused — Codex waits forever; the classifier ends it as network', async (t) => {
  const all = read('codex/codex-0.169.0-refused.jsonl');
  const waits = all.filter((l) => l.includes('waiting for network')).length;
  t.ok(waits >= CODEX_NETWORK_WAIT_LIMIT, `capture has ${waits} waits`);
  const { verdict, signals } = feed(codexAdapter, all, { exitCode: null, signal: 'SIGTERM' });
  t.equal(signals[0]?.signal.kind, 'fatal');
  t.equal(signals[0]?.signal.kind === 'fatal' ? signals[0].signal.class : '', 'network');
  t.equal(verdict.class, 'network');
  // Fewer waits than the limit, then killed for inactivity: still network, not hang.
  const early = feed(codexAdapter, all.slice(0, 4), { exitCode: null, signal: 'SIGKILL', killedBy: 'inactivity' }).verdict;
  t.equal(early.class, 'network');
});

t.test('gemini: success with a tool whose output says 401 / rate limit', async (t) => {
  const all = read('gemini/gemini-0.61.0-tool.jsonl');
  t.ok(all.some((l) => l.includes('"tool_result"') && l.includes('401 Unauthorized')));
  const { verdict } = feed(geminiAdapter, all, { exitCode: 0 });
  t.equal(verdict.class, 'ok');
  t.same(verdict.usage, { input_tokens: 300, cache_read_tokens: 60, output_tokens: 45 });
});

t.test('gemini: invalid key (400 API_KEY_INVALID) and 401 are auth', async (t) => {
  t.equal(feed(geminiAdapter, read('gemini/gemini-0.61.0-e400.jsonl'), { exitCode: 144 }).verdict.class, 'auth');
  const v = feed(geminiAdapter, read('gemini/gemini-0.61.0-e401.jsonl'), { exitCode: 145 }).verdict;
  t.equal(v.class, 'auth');
  t.equal(v.evidence.at(-1)?.status, 401);
});

t.test('gemini: the stderr "Error generating content via API" line is the first, fatal, auth evidence', async (t) => {
  const line =
    'Error generating content via API. Full report available at: /tmp/gemini-client-error-generateJson-api-2026-11-21T12-04-40-230Z.json _ApiError: {"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}';
  const c = geminiAdapter.createClassifier();
  const s = c.line(line, 7);
  t.equal(s?.kind, 'fatal');
});

t.test('gemini: 429 and refused are only visible as stderr retries; killed while retrying keeps the class', async (t) => {
  const rl = feed(geminiAdapter, [...read('gemini/gemini-0.61.0-e429.jsonl'), ...read('gemini/gemini-0.61.0-e429.stderr.txt')], {
    exitCode: null,
    signal: 'SIGTERM',
    killedBy: 'timeout',
  }).verdict;
  t.equal(rl.class, 'rate_limit');
  const net = feed(geminiAdapter, [...read('gemini/gemini-0.61.0-refused.jsonl'), ...read('gemini/gemini-0.61.0-refused.stderr.txt')], {
    exitCode: null,
    signal: 'SIGTERM',
    killedBy: 'inactivity',
  }).verdict;
  t.equal(net.class, 'network');
});

t.test('gemini: exit codes of its FatalError classes', async (t) => {
  t.equal(feed(geminiAdapter, [], { exitCode: 41 }).verdict.class, 'auth');
  t.equal(feed(geminiAdapter, [], { exitCode: 52 }).verdict.class, 'config');
  t.equal(feed(geminiAdapter, [], { exitCode: 1 }).verdict.class, 'crash');
});

const upstream = new URL('../../../../shared/fixtures/cli-real-output/gemini-0.42.0-result-event.jsonl', import.meta.url);
t.test(
  'gemini: upstream fixture (0.42.0) result usage',
  { skip: existsSync(upstream) ? false : 'shared fixtures not present' },
  async (t) => {
    const file = upstream;
    const { verdict } = feed(geminiAdapter, readFileSync(file, 'utf8').split('\n').filter(Boolean), { exitCode: 0 });
    t.equal(verdict.class, 'ok');
    t.same(verdict.usage, { input_tokens: 7339, cache_read_tokens: 3796, output_tokens: 46 });
  },
);

t.test('presets deliver the prompt on stdin', async (t) => {
  t.same(codexAdapter.preset.command.slice(0, 3), ['codex', 'exec', '--json']);
  t.equal(codexAdapter.preset.prompt_delivery, 'stdin');
  t.same(geminiAdapter.preset.command.slice(0, 3), ['gemini', '--output-format', 'stream-json']);
  t.equal(geminiAdapter.preset.prompt_delivery, 'stdin');
  t.match(codexAdapter.authHint, /codex login/);
  t.match(geminiAdapter.authHint, /GEMINI_API_KEY/);
});
