// The Claude Code classifier over real stream-json: the captures in fixtures/claude/ (made
// by capture.mjs from the real CLI 2.1.330 against the local stub) and the upstream
// fixtures in ../shared/fixtures/cli-real-output/.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { claudeAdapter } from '../src/adapters/claude.js';
import type { LiveSignal, ProcessOutcome, Verdict } from '../src/adapters/types.js';

const dir = new URL('./fixtures/claude/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as Record<
  string,
  { exitCode: number | null; signal: string | null }
>;

interface Fed {
  signals: { line: number; signal: LiveSignal }[];
  verdict: Verdict;
}

function lines(name: string): string[] {
  return readFileSync(new URL(`claude-2.1.330-${name}.jsonl`, dir), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

/** Feeds a capture line by line; stops at a fatal signal like the supervisor would. */
function feed(input: string[], outcome?: Partial<ProcessOutcome>, stopOnFatal = true): Fed {
  const c = claudeAdapter.createClassifier();
  const signals: Fed['signals'] = [];
  let killed = false;
  for (let i = 0; i < input.length; i++) {
    const s = c.line(input[i] ?? '', i + 1);
    if (s) signals.push({ line: i + 1, signal: s });
    if (s?.kind === 'fatal' && stopOnFatal) {
      killed = true;
      break;
    }
  }
  const verdict = c.finish({
    exitCode: killed ? null : 0,
    signal: killed ? 'SIGKILL' : null,
    durationMs: 1000,
    outputBytes: 100,
    ...(killed ? { killedBy: 'fatal' as const } : {}),
    ...outcome,
  });
  return { signals, verdict };
}

function capture(name: string, stopOnFatal = true): Fed {
  const m = manifest[`claude-2.1.330-${name}.jsonl`];
  if (!m) throw new Error(`no manifest entry for ${name}`);
  return feed(lines(name), { exitCode: m.exitCode, signal: m.signal }, stopOnFatal);
}

t.test('success with a real Write tool: ok, usage and cost from result', async (t) => {
  const { verdict, signals } = capture('success-write-tool');
  t.equal(verdict.class, 'ok');
  t.same(verdict.usage, { input_tokens: 2500, output_tokens: 100, cache_read_tokens: 7000, cache_creation_tokens: 500 });
  t.equal(verdict.cost_usd, 0.0159);
  t.same(
    signals.map((s) => s.signal.kind),
    ['final_result'],
    'one final_result, on the result line',
  );
  t.equal(signals[0]?.line, lines('success-write-tool').length);
  t.match(verdict.summary, /^ok: /);
});

t.test('tool output and assistant text that say 401 / rate limit do not classify', async (t) => {
  const all = lines('tool-output-mentions-401');
  t.ok(
    all.some((l) => l.includes('"type":"user"') && l.includes('401 Unauthorized')),
    'the capture really has 401 in a tool result',
  );
  t.ok(
    all.some((l) => l.includes('"type":"assistant"') && l.includes('rate limit exceeded')),
    'and in assistant text',
  );
  const { verdict, signals } = capture('tool-output-mentions-401');
  t.equal(verdict.class, 'ok');
  t.notOk(signals.some((s) => s.signal.kind === 'fatal'));
});

t.test('401: fatal auth on the first api_retry line, before the CLI retries', async (t) => {
  const all = lines('auth-401');
  const first = all.findIndex((l) => l.includes('"subtype":"api_retry"')) + 1;
  const { verdict, signals } = capture('auth-401');
  t.same(signals[0], {
    line: first,
    signal: { kind: 'fatal', class: 'auth', evidence: signals[0]?.signal.kind === 'fatal' ? signals[0].signal.evidence : undefined },
  });
  t.equal(verdict.class, 'auth');
  const ev = verdict.evidence[0];
  t.equal(ev?.event_type, 'system/api_retry');
  t.equal(ev?.status, 401);
  t.equal(ev?.line, first);
  t.match(verdict.summary, /^auth: 401 authentication_failed/);
});

t.test('401 with CLAUDE_CODE_MAX_RETRIES=0: fatal on the <synthetic> message', async (t) => {
  const { verdict, signals } = capture('auth-401-no-retry');
  t.equal(signals[0]?.signal.kind, 'fatal');
  t.equal(signals[0]?.line, 2);
  t.equal(verdict.class, 'auth');
  t.equal(verdict.evidence[0]?.event_type, 'assistant/synthetic');
});

t.test('403 permission_error and "Not logged in" are auth', async (t) => {
  t.equal(capture('auth-403-permission').verdict.class, 'auth');
  const nl = capture('auth-not-logged-in');
  t.equal(nl.verdict.class, 'auth');
  t.match(nl.verdict.evidence[0]?.detail ?? '', /Not logged in/);
});

t.test('without stopping at the fatal line, the rest of the stream agrees', async (t) => {
  for (const name of ['auth-401', 'auth-401-no-retry', 'auth-403-permission']) {
    const { verdict, signals } = capture(name, false);
    t.equal(verdict.class, 'auth', name);
    t.equal(signals.filter((s) => s.signal.kind === 'fatal').length, 1, `${name}: one fatal signal only`);
  }
});

t.test('rate limit without a reset time (API key, 429)', async (t) => {
  const { verdict, signals } = capture('rate-limit-429');
  t.equal(verdict.class, 'rate_limit');
  t.equal(verdict.reset_at_ms, undefined);
  t.notOk(
    signals.some((s) => s.signal.kind === 'fatal'),
    'a rate limit is not fatal',
  );
});

t.test('rate limit with a reset time: rate_limit_event resetsAt is epoch seconds', async (t) => {
  const all = lines('rate-limit-oauth-reset');
  const ev = JSON.parse(all.find((l) => l.includes('"rate_limit_event"')) ?? '{}') as { rate_limit_info: { resetsAt: number } };
  const { verdict } = capture('rate-limit-oauth-reset');
  t.equal(verdict.class, 'rate_limit');
  t.equal(verdict.reset_at_ms, ev.rate_limit_info.resetsAt * 1000);
  // Captured with a reset one hour after the capture: seconds, not ms, give a 2020s date.
  const year = new Date(verdict.reset_at_ms ?? 0).getUTCFullYear();
  t.ok(year >= 2025 && year < 2100, `reset date ${new Date(verdict.reset_at_ms ?? 0).toISOString()} is plausible`);
  const w = verdict.rate_limit?.find((x) => x.type === 'five_hour');
  t.equal(w?.status, 'rejected');
  t.equal(w?.utilization, 1);
  t.match(verdict.summary, /resets \d{4}-/);
});

t.test('OAuth 429 without reset headers: rate_limit, no reset', async (t) => {
  const { verdict } = capture('rate-limit-oauth-no-reset');
  t.equal(verdict.class, 'rate_limit');
  t.equal(verdict.reset_at_ms, undefined);
});

t.test('allowed_warning rate_limit_event on success: ok, utilisation recorded, no reset', async (t) => {
  const { verdict } = capture('ok-oauth-allowed-warning');
  t.equal(verdict.class, 'ok');
  t.equal(verdict.reset_at_ms, undefined);
  const w = verdict.rate_limit?.find((x) => x.type === 'five_hour');
  t.equal(w?.utilization, 0.91);
  t.ok((w?.resets_at_ms ?? 0) > Date.UTC(2025, 0, 1));
});

t.test('529 overloaded, 500 server_error, 408 timeout', async (t) => {
  t.equal(capture('overloaded-529').verdict.class, 'overloaded');
  t.equal(capture('server-error-500').verdict.class, 'server_error');
  t.equal(capture('timeout-408').verdict.class, 'timeout');
});

t.test('no answer within API_TIMEOUT_MS: timeout; refused / reset connection: network', async (t) => {
  t.equal(capture('timeout-no-answer').verdict.class, 'timeout');
  const refused = capture('network-refused');
  t.equal(refused.verdict.class, 'network');
  t.match(refused.verdict.summary, /ECONNREFUSED/);
  t.equal(capture('network-reset').verdict.class, 'network');
});

t.test('404 model not found and 400 invalid request: config', async (t) => {
  t.equal(capture('config-model-not-found-404').verdict.class, 'config');
  t.equal(capture('config-bad-request-400').verdict.class, 'config');
});

t.test('background task: two results, usage summed, cost is the cumulative last value', async (t) => {
  const all = lines('background-task-two-results');
  const results = all
    .map((l) => JSON.parse(l) as { type: string; usage?: { input_tokens: number; output_tokens: number }; total_cost_usd?: number })
    .filter((e) => e.type === 'result');
  t.equal(results.length, 2, 'the CLI really printed two results');
  const { verdict, signals } = capture('background-task-two-results');
  t.equal(signals.filter((s) => s.signal.kind === 'final_result').length, 2);
  t.equal(verdict.class, 'ok');
  t.equal(
    verdict.usage?.input_tokens,
    results.reduce((a, r) => a + (r.usage?.input_tokens ?? 0), 0),
  );
  t.equal(verdict.cost_usd, results[1]?.total_cost_usd);
});

t.test('a CLI still alive after its successful result, killed by the grace timer: ok, the kill in the evidence', async (t) => {
  const { verdict } = feed(lines('success-write-tool'), { exitCode: null, signal: 'SIGTERM', killedBy: 'grace' });
  t.equal(verdict.class, 'ok');
  t.equal(verdict.cost_usd, 0.0159);
  t.match(
    verdict.summary,
    /^ok: completed \(result\/success, line \d+\); killed \(grace\): still running after its successful final result$/,
  );
  t.match(verdict.evidence.at(-1), { source: 'supervisor', detail: /grace/ });
});

t.test('after a failed result the grace kill keeps the failure; without a result a kill is hang', async (t) => {
  const failed = feed(lines('rate-limit-429'), { exitCode: null, signal: 'SIGTERM', killedBy: 'grace' });
  t.equal(failed.verdict.class, 'rate_limit');
  t.notOk(failed.verdict.evidence.some((e) => e.source === 'supervisor'));
  const init = lines('success-write-tool').slice(0, 1);
  t.equal(feed(init, { exitCode: null, signal: 'SIGTERM', killedBy: 'inactivity' }).verdict.class, 'hang');
  t.equal(feed(init, { exitCode: null, signal: 'SIGTERM', killedBy: 'timeout' }).verdict.class, 'hang');
  const ok = lines('success-write-tool');
  t.equal(
    feed(ok, { exitCode: null, signal: 'SIGTERM', killedBy: 'timeout' }).verdict.class,
    'hang',
    'the wall clock after a result (a live worker kept the round open) is not a grace kill',
  );
});

t.test('killed for inactivity while the CLI was retrying a 529: overloaded, not hang', async (t) => {
  const all = lines('overloaded-529');
  const upToRetry = all.slice(0, all.findIndex((l) => l.includes('api_retry')) + 1);
  t.equal(feed(upToRetry, { exitCode: null, signal: 'SIGKILL', killedBy: 'inactivity' }).verdict.class, 'overloaded');
  t.equal(feed(all.slice(0, 1), { exitCode: null, signal: 'SIGKILL', killedBy: 'inactivity' }).verdict.class, 'hang');
});

t.test('crash and config from the exit alone', async (t) => {
  const init = lines('success-write-tool').slice(0, 1);
  t.equal(feed(init, { exitCode: 3 }).verdict.class, 'crash', 'non-zero exit without a result');
  t.equal(feed(init, { exitCode: null, signal: 'SIGSEGV' }).verdict.class, 'crash');
  t.equal(feed(["error: unknown option '--bogus'"], { exitCode: 1 }).verdict.class, 'config', 'CLI usage error');
  t.equal(feed(['Error: When using --print, --output-format=stream-json requires --verbose'], { exitCode: 1 }).verdict.class, 'config');
  t.equal(feed(['Hello, plain text output'], { exitCode: 0 }).verdict.class, 'config', 'exit 0 with no stream-json at all');
  t.equal(feed(init, { exitCode: 0 }).verdict.class, 'crash', 'exit 0 after init but no result');
});

t.test('only whole-line JSON objects with a known type count', async (t) => {
  const result401 = lines('auth-401').find((l) => l.includes('"type":"result"')) ?? '';
  const retry401 = lines('auth-401').find((l) => l.includes('api_retry')) ?? '';
  const c = claudeAdapter.createClassifier();
  t.equal(c.line(`prefix ${retry401}`, 1), undefined, 'JSON inside a longer line');
  t.equal(c.line(`[${retry401}]`, 2), undefined, 'an array');
  t.equal(c.line(retry401.slice(0, -5), 3), undefined, 'truncated JSON');
  t.equal(
    c.line(JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', content: retry401 }] } }), 4),
    undefined,
    'an api_retry quoted inside a tool result',
  );
  t.equal(
    c.line(JSON.stringify({ type: 'assistant', message: { model: 'm', content: [{ type: 'text', text: result401 }] } }), 5),
    undefined,
  );
  t.equal(
    c.finish({ exitCode: 0, signal: null, durationMs: 1, outputBytes: 1 }).class,
    'crash',
    'nothing classified: exit 0 without a result',
  );
});

const shared = new URL('../../../../shared/fixtures/cli-real-output/', import.meta.url);
const upstream = new URL('claude-2.1.143-result-event.jsonl', shared);
t.test(
  'upstream fixtures (CLI 2.1.143): usage and cost from result',
  { skip: existsSync(upstream) ? false : 'shared fixtures not present' },
  async (t) => {
    const file = upstream;
    const tool = readFileSync(new URL('claude-2.1.143-assistant-tool-use.jsonl', shared), 'utf8').split('\n').filter(Boolean);
    const res = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const { verdict } = feed([...tool, ...res], { exitCode: 0 });
    t.equal(verdict.class, 'ok');
    t.same(verdict.usage, { input_tokens: 5, output_tokens: 6, cache_read_tokens: 17806, cache_creation_tokens: 12234 });
    t.equal(verdict.cost_usd, 0.0855405);
  },
);

t.test('evidence is redacted', async (t) => {
  const c = claudeAdapter.createClassifier();
  const line = JSON.stringify({
    type: 'assistant',
    message: {
      model: '<synthetic>',
      content: [{ type: 'text', text: 'Invalid API key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA · Fix external API key' }],
    },
    error: 'authentication_failed',
    is_api_error_message: true,
    api_error_status: 401,
  });
  const s = c.line(line, 1);
  t.equal(s?.kind, 'fatal');
  const v = c.finish({ exitCode: null, signal: 'SIGKILL', durationMs: 1, outputBytes: 1, killedBy: 'fatal' });
  t.notMatch(JSON.stringify(v), /AAAAAAAA/);
  t.match(v.evidence[0]?.detail ?? '', /\[redacted\]/);
});

t.test('preset and hint', async (t) => {
  const p = claudeAdapter.preset;
  t.same(p.command.slice(0, 2), ['claude', '-p']);
  t.ok(p.command.includes('stream-json') && p.command.includes('--verbose'));
  t.equal(p.prompt_delivery, 'stdin');
  t.equal(p.env['CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC'], '1');
  const snapshot =
    '/bin/bash -c -l SNAPSHOT_FILE=/home/op/.claude/shell-snapshots/snapshot-bash-1795261993495-6yjspn.sh\n# No user config file';
  const toolCmd =
    "/bin/bash -c source /home/op/.claude/shell-snapshots/snapshot-bash-1795261993495-6yjspn.sh 2>/dev/null || true && eval 'sleep 30'";
  const res = p.grace_kill_ignore_patterns.map((s) => new RegExp(s));
  t.ok(
    res.some((r) => r.test(snapshot)),
    'the shell-snapshot helper is ignored',
  );
  t.notOk(
    res.some((r) => r.test(toolCmd)),
    'a Bash tool command (which sources the snapshot) is not',
  );
  t.match(claudeAdapter.authHint, /claude \/login/);
  t.match(claudeAdapter.authHint, /ANTHROPIC_API_KEY/);
});
