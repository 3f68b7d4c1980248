import t from 'tap';
import { readFileSync } from 'node:fs';
import { renderTranscript } from '@agent-runner/core/transcript';

// The real CLIs' captures the adapters are tested on (packages/runner/test/fixtures/*/README.md).
const capture = (name: string): string[] =>
  readFileSync(new URL(`../../runner/test/fixtures/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean);

t.test('Claude Code stream-json: session, text, a tool call with its gist, its result, the result with cost and tokens', async (t) => {
  t.same(renderTranscript(capture('claude/claude-2.1.330-success-write-tool.jsonl')), [
    'session: claude-opus-5-5, 22 tools, in /tmp/claude-capture-1jxthN/wt',
    'assistant: Creating the file.',
    'tool: Write /tmp/claude-capture-1jxthN/wt/hello.txt',
    '  ⎿ File created successfully at: /tmp/claude-capture-1jxthN/wt/hello.txt (file state is current in your context — no need to Read it back)',
    'assistant: Wrote hello.txt.',
    'result: success, 0.3 s, 2 turns, $0.0159, tokens in 2500 (+7000 cached, +500 written to cache), out 100',
  ]);
  const overloaded = renderTranscript(capture('claude/claude-2.1.330-overloaded-529.jsonl'));
  t.match(overloaded, [
    'session: ',
    'API retry 1/1 in 0.6 s: overloaded (HTTP 529)',
    /^assistant: API Error: 529/,
    /^result: error \(HTTP 529\): API Error: 529 Overloaded/,
  ]);
  t.match(renderTranscript(capture('claude/claude-2.1.330-rate-limit-oauth-reset.jsonl')), [
    /^session/,
    'rate limit: rejected (five_hour), resets 2026-11-21T13:08:58.000Z',
    /^assistant/,
    /^result: error \(HTTP 429\)/,
  ]);
});

t.test('Codex exec --json and Gemini CLI stream-json: the same kinds of lines', async (t) => {
  t.same(
    renderTranscript(capture('codex/codex-0.169.0-tool.jsonl')),
    [
      'session: thread 01a1fdf7-52e8-7900-b086-5559404f0bcb',
      'warning: Model metadata for `gpt-5` not found. Defaulting to fallback metadata; this can degrade performance and cause issues.',
      `tool: shell /bin/bash -c 'echo "HTTP 401 Unauthorized rate limit exceeded" > note.txt; cat note.txt'`,
      '  ⎿ exit 0: HTTP 401 Unauthorized rate limit exceeded',
      'assistant: Done from stub',
      'result: turn completed, tokens in 200 (+40 cached), out 30',
    ],
    'cached tokens are counted apart from input, which includes them in Codex',
  );
  t.same(renderTranscript(capture('gemini/gemini-0.61.0-tool.jsonl')), [
    'session: auto',
    'tool: run_shell_command echo "HTTP 401 Unauthorized rate limit exceeded" > note.txt; cat note.txt',
    '  ⎿ HTTP 401 Unauthorized rate limit exceeded',
    'assistant: Done from stub',
    'result: success, 0.6 s, 1 tool call, tokens in 300 (+60 cached), out 45',
  ]);
  t.match(renderTranscript(capture('gemini/gemini-0.61.0-e401.jsonl')).at(-1), /^result: error: \[API Error: .*401/);
});

t.test('streamed chunks join, long results and texts are cut, other lines pass as they are, width and redaction apply', async (t) => {
  const chunks = ['Hel', 'lo\nworld'].map((c) => JSON.stringify({ type: 'message', role: 'assistant', content: c, delta: true }));
  t.same(renderTranscript(chunks), ['assistant: Hello', '  world'], 'one message from its chunks');
  const long = JSON.stringify({
    type: 'user',
    message: { content: [{ type: 'tool_result', content: [{ type: 'text', text: 'a\nb\nc' }], is_error: true }] },
  });
  t.same(renderTranscript([long]), ['  ⎿ error: a (+2 lines)']);
  const text = JSON.stringify({
    type: 'assistant',
    message: { content: [{ type: 'text', text: Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n') }] },
  });
  const shown = renderTranscript([text]);
  t.equal(shown.length, 13, '12 lines and a count');
  t.equal(shown.at(-1), '  … (+8 lines)');
  t.same(
    renderTranscript(['plain stderr line', '{not json', '{"type":"something_else","x":1}', '']),
    ['plain stderr line', '{not json', '{"type":"something_else","x":1}', ''],
    'unknown lines unchanged',
  );
  t.same(
    renderTranscript([JSON.stringify({ type: 'stream_event', event: {} })]),
    [],
    'partial deltas say nothing (the whole message follows)',
  );
  const tool = JSON.stringify({
    type: 'assistant',
    message: {
      content: [{ type: 'tool_use', name: 'Bash', input: { command: 'curl -H "Authorization: Bearer sk-secret-value-123456" http://x' } }],
    },
  });
  t.same(renderTranscript([tool], { width: 20 }), ['tool: Bash curl -H …'], '20 columns, the last one the ellipsis');
  const redact = (l: string): string => l.replace(/sk-[\w-]{8,}/g, '[redacted]');
  t.same(renderTranscript([tool], { width: 80, redact }), ['tool: Bash curl -H "Authorization: Bearer [redacted]" http://x']);
  t.notMatch(
    renderTranscript([tool], { width: 52, redact })[0],
    /sk-secr/,
    'redacted before the cut: a cut secret would escape the pattern',
  );
  t.same(
    renderTranscript([
      JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', name: 'TodoWrite', input: { todos: [1] } }] } }),
    ]),
    ['tool: TodoWrite {"todos":[1]}'],
    'no known field: the input as JSON',
  );
});
