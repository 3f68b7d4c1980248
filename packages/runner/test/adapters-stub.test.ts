// The Anthropic Messages API stub's wire format, checked with plain HTTP (the real CLI's use
// of it is in claude-real.test.ts).
import t from 'tap';
import { closedPort, startAnthropicStub, unifiedRateLimitHeaders } from '@agent-runner/testkit/anthropic-stub';

interface Sse {
  event: string;
  data: Record<string, unknown>;
}

function parseSse(text: string): Sse[] {
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? '{}') as Record<string, unknown>;
      return { event, data };
    });
}

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

t.test('streams text and tool_use (input_json_delta chunks reassemble to the input)', async (t) => {
  const input = { file_path: '/tmp/x/hello.txt', content: 'a fairly long content string to force several chunks\n' };
  const stub = await startAnthropicStub({
    script: [
      { kind: 'tool_use', name: 'Write', text: 'ok', input, usage: { input_tokens: 7 } },
      { kind: 'text', text: 'done' },
    ],
  });
  t.teardown(() => stub.close());
  const r = await post(`${stub.url}/v1/messages?beta=true`, { model: 'm1', stream: true, messages: [] });
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type') ?? '', /text\/event-stream/);
  const evs = parseSse(await r.text());
  t.same(
    [...new Set(evs.map((e) => e.event))],
    ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
  );
  const json = evs
    .filter((e) => (e.data['delta'] as { type?: string } | undefined)?.type === 'input_json_delta')
    .map((e) => (e.data['delta'] as { partial_json: string }).partial_json);
  t.ok(json.length > 1, 'split into several deltas');
  t.same(JSON.parse(json.join('')), input);
  const md = evs.find((e) => e.event === 'message_delta')?.data as { delta: { stop_reason: string } };
  t.equal(md.delta.stop_reason, 'tool_use');
  t.equal((evs[0]?.data['message'] as { usage: { input_tokens: number } }).usage.input_tokens, 7);
  // Second turn, non-streaming: a JSON message.
  const r2 = await post(`${stub.url}/v1/messages`, { model: 'm1', messages: [] });
  const m = (await r2.json()) as { content: { text: string }[]; stop_reason: string };
  t.equal(m.content[0]?.text, 'done');
  t.equal(m.stop_reason, 'end_turn');
  t.same(
    stub.messages().map((q) => q.turn),
    [0, 1],
  );
});

t.test('errors carry the documented body, status and headers; the last entry repeats', async (t) => {
  const reset = 1_900_000_000;
  const stub = await startAnthropicStub({
    script: [
      {
        kind: 'error',
        status: 429,
        type: 'rate_limit_error',
        headers: unifiedRateLimitHeaders({ status: 'rejected', resetEpochS: reset, claim: 'five_hour', retryAfterS: 30 }),
      },
    ],
  });
  t.teardown(() => stub.close());
  for (let i = 0; i < 2; i++) {
    const r = await post(`${stub.url}/v1/messages`, { stream: true });
    t.equal(r.status, 429);
    t.equal(r.headers.get('anthropic-ratelimit-unified-reset'), String(reset));
    t.equal(r.headers.get('anthropic-ratelimit-unified-status'), 'rejected');
    t.equal(r.headers.get('retry-after'), '30');
    const body = (await r.json()) as { type: string; error: { type: string; message: string } };
    t.equal(body.type, 'error');
    t.equal(body.error.type, 'rate_limit_error');
  }
  t.same(
    stub.messages().map((q) => q.answered),
    [429, 429],
  );
});

t.test('side endpoints are answered and logged; unknown ones get 404', async (t) => {
  const stub = await startAnthropicStub({ script: [{ kind: 'text', text: 'x' }] });
  t.teardown(() => stub.close());
  t.equal((await fetch(`${stub.url}/api/hello`, { method: 'HEAD' })).status, 200);
  t.match(await (await post(`${stub.url}/v1/messages/count_tokens`, { messages: [] })).json(), { input_tokens: Number });
  t.match(await (await fetch(`${stub.url}/v1/models`)).json(), { data: [{ type: 'model' }] });
  const u = await fetch(`${stub.url}/v1/elsewhere`);
  t.equal(u.status, 404);
  t.same(
    stub.requests.map((r) => r.kind),
    ['hello', 'count_tokens', 'models', 'unknown'],
  );
  t.same(stub.messages(), [], 'none consumed the script');
});

t.test('mid-stream error, reset, hang, closed port', async (t) => {
  const stub = await startAnthropicStub({
    script: (_req, turn) =>
      turn === 0 ? { kind: 'stream_error', type: 'overloaded_error' } : turn === 1 ? { kind: 'reset' } : { kind: 'hang' },
  });
  const s = parseSse(await (await post(`${stub.url}/v1/messages`, { stream: true })).text());
  t.same(
    s.map((e) => e.event),
    ['message_start', 'error'],
  );
  await t.rejects(post(`${stub.url}/v1/messages`, { stream: true }), 'reset: the client sees a dropped connection');
  const hung = post(`${stub.url}/v1/messages`, { stream: true });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(stub.messages()[2]?.answered, 'hang');
  await stub.close();
  await t.rejects(hung, 'close() ends hung requests');
  const port = await closedPort();
  await t.rejects(fetch(`http://127.0.0.1:${port}/v1/messages`), 'nothing listens on closedPort()');
});
