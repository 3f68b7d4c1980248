/**
 * A local Anthropic Messages API stub on 127.0.0.1, good enough for the real Claude Code
 * CLI (`ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`) to run its genuine agent loop offline.
 *
 * Wire format follows Anthropic's public API reference:
 * - streaming (`"stream": true`): Server-Sent Events `message_start`,
 *   `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
 *   `content_block_stop`, `message_delta` (stop_reason + usage), `message_stop`;
 * - errors: HTTP status with body `{"type":"error","error":{"type":...,"message":...}}`
 *   (401 authentication_error, 429 rate_limit_error, 529 overloaded_error, 500 api_error, ...);
 * - rate limits: `retry-after` (seconds) and the `anthropic-ratelimit-unified-*` headers the
 *   CLI turns into `rate_limit_event` lines (see {@link unifiedRateLimitHeaders}).
 *
 * Requests the stub does not script (the CLI's `HEAD /api/hello` connectivity probe,
 * `count_tokens`, `GET /v1/models`, anything unknown) are answered sensibly and logged in
 * {@link AnthropicStub.requests} with `kind` set, so tests can see what the CLI called.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pickReply, recordRequest, sendJson, startLoopback, type Script, type StubAnswer, type StubRecord } from './loopback.js';

/** Token usage the stub reports on a reply (Messages API `usage` field names). */
export interface StubUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/** The error `type`s of Anthropic's documented error bodies. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** One scripted answer to a `POST /v1/messages` request. */
export type StubReply =
  /** An assistant text block, then `end_turn` (or `stopReason`). */
  | { kind: 'text'; text: string; usage?: StubUsage; stopReason?: string; headers?: Record<string, string> }
  /**
   * A `tool_use` block (streamed as `input_json_delta` chunks), optionally after a text
   * block; stop_reason `tool_use`. The CLI runs the tool and sends its `tool_result` in the
   * next request.
   */
  | {
      kind: 'tool_use';
      name: string;
      input: Record<string, unknown>;
      id?: string;
      text?: string;
      usage?: StubUsage;
      headers?: Record<string, string>;
    }
  /** An HTTP error with Anthropic's error body. */
  | { kind: 'error'; status: number; type: AnthropicErrorType; message?: string; headers?: Record<string, string> }
  /**
   * HTTP 200 and a started SSE stream, then an `event: error` (the API's mid-stream
   * overload); a non-streaming request gets the plain HTTP error of that type instead.
   */
  | { kind: 'stream_error'; type: AnthropicErrorType; message?: string }
  /**
   * Never answer; the socket is held open until the stub closes. (For a CLI that stays
   * alive after its result, script a `tool_use` of `Bash` with `run_in_background: true`:
   * Claude Code waits for background tasks after printing its `result`.)
   */
  | { kind: 'hang' }
  /** Destroy the socket without a response (the client sees ECONNRESET / socket hang up). */
  | { kind: 'reset' };

/**
 * What the stub saw of one request. `kind`: `messages` (scripted, numbered by `turn`),
 * `count_tokens`, `models`, `hello`, or `unknown`.
 */
export type StubRequest = StubRecord<'messages' | 'count_tokens' | 'models' | 'hello' | 'unknown'>;

/** A script: a queue (the last entry repeats once exhausted) or a function of the request. */
export type StubScript = Script<StubReply, StubRequest>;

/** Options of {@link startAnthropicStub}. */
export interface AnthropicStubOptions {
  script: StubScript;
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  /** Model name echoed in replies when the request names none. */
  model?: string;
  /** Called for every request after it is recorded (for debugging). */
  onRequest?: (req: StubRequest) => void;
  /** Clock, ms since epoch. */
  now?: () => number;
}

/** A running stub. */
export interface AnthropicStub {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:43117`. */
  readonly url: string;
  readonly port: number;
  /** Every request in arrival order. */
  readonly requests: StubRequest[];
  /** The scripted `POST /v1/messages` requests only. */
  messages(): StubRequest[];
  /** Stops listening and destroys open sockets (hung requests included). */
  close(): Promise<void>;
}

const DEFAULT_USAGE: Required<StubUsage> = {
  input_tokens: 100,
  output_tokens: 20,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
};

/**
 * Starts the stub on 127.0.0.1.
 * @returns once it listens.
 */
export async function startAnthropicStub(options: AnthropicStubOptions): Promise<AnthropicStub> {
  const now = options.now ?? Date.now;
  const requests: StubRequest[] = [];
  let turns = 0;
  let msgCounter = 0;

  const server = await startLoopback((req, res) => {
    const { method, path, raw, body } = req;
    const { record, done } = recordRequest(requests, req, classifyPath(method, path), now);
    switch (record.kind) {
      case 'hello':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(method === 'HEAD' ? undefined : '{"message":"hello"}');
        done(200);
        break;
      case 'count_tokens':
        sendJson(res, 200, { input_tokens: estimateTokens(raw) });
        done(200);
        break;
      case 'models':
        sendJson(res, 200, {
          data: [{ type: 'model', id: options.model ?? 'claude-stub-1', display_name: 'Stub', created_at: '2025-01-01T00:00:00Z' }],
          has_more: false,
          first_id: options.model ?? 'claude-stub-1',
          last_id: options.model ?? 'claude-stub-1',
        });
        done(200);
        break;
      case 'unknown':
        sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `stub: no route ${method} ${path}` } });
        done(404);
        break;
      case 'messages': {
        const turn = turns++;
        record.turn = turn;
        options.onRequest?.(record);
        const b = (body ?? {}) as { model?: unknown; stream?: unknown };
        const model = typeof b.model === 'string' ? b.model : (options.model ?? 'claude-stub-1');
        const reply = pickReply(options.script, record, turn, 'anthropic-stub');
        msgCounter += 1;
        answer(res, reply, { model, stream: b.stream === true, id: `msg_stub_${msgCounter}` }, done);
        return;
      }
    }
    options.onRequest?.(record);
  }, options.port);
  const { port } = server;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    messages: () => requests.filter((r) => r.kind === 'messages'),
    close: server.close,
  };
}

function classifyPath(method: string, path: string): StubRequest['kind'] {
  if (path === '/v1/messages' && method === 'POST') return 'messages';
  if (path === '/v1/messages/count_tokens' && method === 'POST') return 'count_tokens';
  if (path.startsWith('/v1/models') && method === 'GET') return 'models';
  if (path === '/api/hello') return 'hello';
  return 'unknown';
}

/** Rough token estimate (4 bytes a token), enough for `count_tokens`. */
function estimateTokens(raw: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(raw) / 4));
}

interface Ctx {
  model: string;
  stream: boolean;
  id: string;
}

function answer(res: http.ServerResponse, reply: StubReply, ctx: Ctx, done: (s: StubAnswer) => void): void {
  switch (reply.kind) {
    case 'hang':
      done('hang');
      return;
    case 'reset':
      done('reset');
      res.socket?.destroy();
      return;
    case 'error':
      sendJson(
        res,
        reply.status,
        {
          type: 'error',
          error: { type: reply.type, message: reply.message ?? defaultMessage(reply.type) },
          request_id: `req_stub_${ctx.id}`,
        },
        { 'request-id': `req_stub_${ctx.id}`, ...reply.headers },
      );
      done(reply.status);
      return;
    case 'stream_error': {
      if (!ctx.stream) {
        // The CLI falls back to a non-streaming request; the API answers that with a plain error.
        const status = STATUS_OF[reply.type];
        sendJson(res, status, { type: 'error', error: { type: reply.type, message: reply.message ?? defaultMessage(reply.type) } });
        done(status);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      sse(res, 'message_start', { type: 'message_start', message: messageShell(ctx, DEFAULT_USAGE) });
      sse(res, 'error', { type: 'error', error: { type: reply.type, message: reply.message ?? defaultMessage(reply.type) } });
      res.end();
      done(200);
      return;
    }
    case 'text':
    case 'tool_use': {
      const usage = { ...DEFAULT_USAGE, ...reply.usage };
      const blocks = contentBlocks(reply);
      const stopReason = reply.kind === 'tool_use' ? 'tool_use' : (reply.stopReason ?? 'end_turn');
      const headers = { 'request-id': `req_stub_${ctx.id}`, ...reply.headers };
      if (!ctx.stream) {
        sendJson(res, 200, { ...messageShell(ctx, usage), content: blocks.map((b) => b.full), stop_reason: stopReason, usage }, headers);
        done(200);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
      sse(res, 'message_start', {
        type: 'message_start',
        message: messageShell(ctx, { ...usage, output_tokens: 1 }),
      });
      sse(res, 'ping', { type: 'ping' });
      blocks.forEach((b, index) => {
        sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: b.start });
        for (const delta of b.deltas) sse(res, 'content_block_delta', { type: 'content_block_delta', index, delta });
        sse(res, 'content_block_stop', { type: 'content_block_stop', index });
      });
      sse(res, 'message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: usage.output_tokens },
      });
      sse(res, 'message_stop', { type: 'message_stop' });
      res.end();
      done(200);
      return;
    }
  }
}

interface Block {
  start: Record<string, unknown>;
  deltas: Record<string, unknown>[];
  full: Record<string, unknown>;
}

let toolCounter = 0;

function contentBlocks(reply: Extract<StubReply, { kind: 'text' | 'tool_use' }>): Block[] {
  const blocks: Block[] = [];
  const text = reply.text;
  if (text !== undefined && text !== '') {
    blocks.push({
      start: { type: 'text', text: '' },
      deltas: chunk(text, 40).map((t) => ({ type: 'text_delta', text: t })),
      full: { type: 'text', text },
    });
  }
  if (reply.kind === 'tool_use') {
    toolCounter += 1;
    const id = reply.id ?? `toolu_stub_${toolCounter}`;
    const json = JSON.stringify(reply.input);
    blocks.push({
      start: { type: 'tool_use', id, name: reply.name, input: {} },
      // Split the JSON like the API does: clients must concatenate partial_json.
      deltas: chunk(json, 24).map((p) => ({ type: 'input_json_delta', partial_json: p })),
      full: { type: 'tool_use', id, name: reply.name, input: reply.input },
    });
  }
  return blocks;
}

function chunk(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.length ? out : [''];
}

function messageShell(ctx: Ctx, usage: StubUsage): Record<string, unknown> {
  return {
    id: ctx.id,
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage,
  };
}

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** HTTP status Anthropic uses for each error type. */
const STATUS_OF: Record<AnthropicErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

function defaultMessage(type: AnthropicErrorType): string {
  switch (type) {
    case 'authentication_error':
      return 'invalid x-api-key';
    case 'rate_limit_error':
      return "This request would exceed your account's rate limit. Please try again later.";
    case 'overloaded_error':
      return 'Overloaded';
    case 'api_error':
      return 'Internal server error';
    case 'invalid_request_error':
      return 'Invalid request';
    case 'permission_error':
      return 'Your API key does not have permission to use the specified resource.';
    case 'not_found_error':
      return 'The requested resource could not be found.';
    case 'request_too_large':
      return 'Request exceeds the maximum allowed number of bytes.';
  }
}

/** Inputs of {@link unifiedRateLimitHeaders}. */
export interface UnifiedRateLimit {
  /** `allowed`, `allowed_warning` or `rejected`. */
  status: 'allowed' | 'allowed_warning' | 'rejected';
  /** When the representative window resets, seconds since epoch. */
  resetEpochS?: number;
  /** The window that decided the status: `five_hour` or `seven_day`. */
  claim?: 'five_hour' | 'seven_day';
  /** Fraction used of the five-hour window, 0..1. */
  fiveHourUtilization?: number;
  /** Fraction used of the seven-day window, 0..1. */
  sevenDayUtilization?: number;
  /** Seconds for `retry-after`. */
  retryAfterS?: number;
}

/**
 * The `anthropic-ratelimit-unified-*` response headers Claude Code reads (names as in the
 * CLI 2.1.330 bundle: `-status`, `-reset` in epoch seconds, `-representative-claim`,
 * `-5h-utilization`/`-5h-reset`, `-7d-utilization`/`-7d-reset`), plus `retry-after`.
 */
export function unifiedRateLimitHeaders(rl: UnifiedRateLimit): Record<string, string> {
  const h: Record<string, string> = { 'anthropic-ratelimit-unified-status': rl.status };
  if (rl.resetEpochS !== undefined) h['anthropic-ratelimit-unified-reset'] = String(rl.resetEpochS);
  if (rl.claim) h['anthropic-ratelimit-unified-representative-claim'] = rl.claim;
  const windowStatus = (u: number | undefined): string => (u !== undefined && u >= 1 ? 'rejected' : 'allowed');
  if (rl.fiveHourUtilization !== undefined) {
    h['anthropic-ratelimit-unified-5h-utilization'] = String(rl.fiveHourUtilization);
    h['anthropic-ratelimit-unified-5h-status'] = windowStatus(rl.fiveHourUtilization);
    if (rl.resetEpochS !== undefined && rl.claim !== 'seven_day') h['anthropic-ratelimit-unified-5h-reset'] = String(rl.resetEpochS);
  }
  if (rl.sevenDayUtilization !== undefined) {
    h['anthropic-ratelimit-unified-7d-utilization'] = String(rl.sevenDayUtilization);
    h['anthropic-ratelimit-unified-7d-status'] = windowStatus(rl.sevenDayUtilization);
    if (rl.resetEpochS !== undefined && rl.claim === 'seven_day') h['anthropic-ratelimit-unified-7d-reset'] = String(rl.resetEpochS);
  }
  if (rl.retryAfterS !== undefined) h['retry-after'] = String(rl.retryAfterS);
  return h;
}

/** Resolves with a TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
