// aider (plain text; exits 0 on fatal API errors) and the generic pattern adapter, plus the
// registry. The aider lines follow aider's own print statements (base_coder.py) around
// litellm exceptions; see src/adapters/aider.ts.
import t from 'tap';
import { aiderAdapter, parseAiderCount } from '../src/adapters/aider.js';
import { createGenericAdapter } from '../src/adapters/generic.js';
import { ADAPTERS, adapterFor, getAdapter } from '../src/adapters/index.js';
import type { AgentAdapter, LiveSignal, ProcessOutcome, Verdict } from '../src/adapters/types.js';

function feed(adapter: AgentAdapter, input: string[], outcome: Partial<ProcessOutcome> = {}): { signals: LiveSignal[]; verdict: Verdict } {
  const c = adapter.createClassifier();
  const signals: LiveSignal[] = [];
  let killed = false;
  for (let i = 0; i < input.length && !killed; i++) {
    const s = c.line(input[i] ?? '', i + 1);
    if (s) signals.push(s);
    killed = s?.kind === 'fatal';
  }
  const verdict = c.finish({
    exitCode: 0,
    signal: null,
    durationMs: 1,
    outputBytes: 1,
    ...outcome,
    ...(killed ? { exitCode: null, signal: 'SIGKILL', killedBy: 'fatal' as const } : {}),
  });
  return { signals, verdict };
}

const AUTH = [
  'Aider v0.86.2',
  'Main model: anthropic/claude-sonnet-4-5 with diff edit format',
  'litellm.AuthenticationError: AnthropicException - {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
  'The API provider is not able to authenticate you. Check your API key.',
];

t.test('aider: auth failure is fatal when aider prints it (litellm line + its description)', async (t) => {
  const { signals, verdict } = feed(aiderAdapter, AUTH);
  t.equal(signals[0]?.kind, 'fatal');
  t.equal(verdict.class, 'auth');
  t.equal(verdict.evidence[0]?.event_type, 'litellm.AuthenticationError');
});

t.test('aider exits 0 after a fatal error: the stream decides, not the exit', async (t) => {
  const lines = [
    'litellm.RateLimitError: RateLimitError: OpenAIException - Error code: 429 - {"error":{"message":"Rate limit reached"}}',
    'The API provider has rate limited you. Try again later or check your quotas.',
    'Retrying in 0.2 seconds...',
    'litellm.RateLimitError: RateLimitError: OpenAIException - Error code: 429',
  ];
  t.equal(feed(aiderAdapter, lines, { exitCode: 0 }).verdict.class, 'rate_limit');
  t.equal(
    feed(aiderAdapter, ['litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.'], { exitCode: 0 }).verdict
      .class,
    'network',
  );
  t.equal(
    feed(aiderAdapter, ['litellm.InternalServerError: AnthropicException - Overloaded'], { exitCode: 0 }).verdict.class,
    'server_error',
  );
  t.equal(feed(aiderAdapter, ['litellm.NotFoundError: model not found'], { exitCode: 0 }).verdict.class, 'config');
});

t.test('aider: echoed file content does not classify; a later reply clears a retried error', async (t) => {
  const echoed = [
    'notes.md',
    '<<<<<<< SEARCH',
    '    litellm.AuthenticationError: example in docs',
    'The API provider is not able to authenticate you. Check your API key. (quoted)',
    'HTTP 401 Unauthorized, rate limit exceeded',
    '=======',
    '>>>>>>> REPLACE',
    'Applied edit to notes.md',
    'Tokens: 2.3k sent, 1.2k cache write, 4k cache hit, 120 received. Cost: $0.01 message, $0.03 session.',
  ];
  const { signals, verdict } = feed(aiderAdapter, echoed);
  t.same(signals, []);
  t.equal(verdict.class, 'ok');
  t.same(verdict.usage, { input_tokens: 2300, output_tokens: 120, cache_creation_tokens: 1200, cache_read_tokens: 4000 });
  t.equal(verdict.cost_usd, 0.03);
  // A description without the litellm line right before it is not fatal.
  const lone = feed(aiderAdapter, ['some text', 'x', 'y', 'The API provider is not able to authenticate you. Check your API key.']);
  t.same(lone.signals, []);
  // Retried, then answered: ok.
  const retried = feed(aiderAdapter, [
    'litellm.InternalServerError: AnthropicException - Overloaded',
    "The API provider's servers are down or overloaded.",
    'Retrying in 0.2 seconds...',
    'Tokens: 1,234 sent, 56 received.',
  ]);
  t.equal(retried.verdict.class, 'ok');
  t.equal(parseAiderCount('1.2M'), 1200000);
});

t.test('generic: patterns only on lines passing line_filter; fatal classes end the round', async (t) => {
  const a = createGenericAdapter({
    line_filter: '^\\[agent\\] ',
    patterns: { auth: ['token expired'], rate_limit: ['quota'] },
    final_result: ['^\\[agent\\] done'],
  });
  t.same(feed(a, ['file says: token expired', 'quota in a diff']).verdict.class, 'ok', 'unfiltered lines ignored');
  const r = feed(a, ['[agent] quota exhausted'], { exitCode: 0 });
  t.equal(r.verdict.class, 'rate_limit');
  const f = feed(a, ['[agent] token expired', '[agent] more']);
  t.equal(f.signals[0]?.kind, 'fatal');
  t.equal(f.verdict.class, 'auth');
  const done = feed(a, ['[agent] done'], { exitCode: null, signal: 'SIGTERM', killedBy: 'grace' });
  t.equal(done.signals[0]?.kind, 'final_result');
  t.equal(done.verdict.class, 'ok', 'a grace kill after the result is not a failure');
  t.equal(feed(a, [], { exitCode: 2 }).verdict.class, 'crash');
  t.throws(() => createGenericAdapter({ patterns: { auth: ['('] } }), { code: 'ERR_AR_CONFIG_INVALID' });
});

t.test('registry: names, getAdapter, adapterFor(config)', async (t) => {
  t.same(Object.keys(ADAPTERS).sort(), ['aider', 'claude', 'codex', 'gemini', 'generic']);
  for (const [name, a] of Object.entries(ADAPTERS)) t.equal(a.name, name);
  t.equal(getAdapter('claude'), ADAPTERS.claude);
  t.throws(() => getAdapter('cursor'), { code: 'ERR_AR_CONFIG_INVALID' });
  const empty = { auth: [], rate_limit: [], overloaded: [], server_error: [], network: [], timeout: [], config: [], result: [] };
  const base = { command: ['x'], prompt_delivery: 'stdin' as const, prompt_arg_template: ['{prompt}'], terminal: 'pipe' as const, env: {} };
  const claude = adapterFor({ agent: { ...base, preset: 'claude', patterns: empty, auth_fail_hint: 'call Ann' } });
  t.equal(claude.name, 'claude');
  t.equal(claude.authHint, 'call Ann');
  t.equal(feed(claude, []).verdict.class, 'config', 'the hint override keeps the classifier');
  const gen = adapterFor({
    agent: { ...base, preset: 'generic', patterns: { ...empty, network: ['ECONNREFUSED'], result: ['^DONE$'], line_filter: '^E ' } },
  });
  t.equal(feed(gen, ['E ECONNREFUSED'], { exitCode: 1 }).verdict.class, 'network');
  t.equal(feed(gen, ['DONE']).signals[0]?.kind, 'final_result');
});
