/**
 * A local OpenAI Responses API stub on 127.0.0.1, good enough for the real Codex CLI
 * (`codex exec --json` with a custom `model_providers.<id>.base_url` and
 * `wire_api="responses"`, see {@link codexProviderArgs}) to run its genuine agent loop offline.
 *
 * Wire format follows OpenAI's public API reference (Responses API, streaming):
 * - `POST /v1/responses` with `"stream": true` answers Server-Sent Events
 *   `response.created`, `response.output_item.added` / `response.output_text.delta` /
 *   `response.output_item.done`, `response.completed` (with `usage`: input_tokens,
 *   input_tokens_details.cached_tokens, output_tokens, output_tokens_details.reasoning_tokens);
 * - errors: HTTP status with body `{"error":{"type","message","code","param"}}`
 *   (401 `invalid_api_key`, 429 `rate_limit_exceeded` / `insufficient_quota`, 500
 *   `server_error`, 503), with `retry-after` and `x-ratelimit-*` headers
 *   ({@link openaiRateLimitHeaders}); ChatGPT-plan quota as Codex reads it:
 *   429 `{"error":{"type":"usage_limit_reached","resets_at":<epoch s>,...}}`.
 * Function calls are `function_call` output items (`name`, `call_id`, JSON `arguments`); Codex
 * runs the tool and sends a `function_call_output` input item in the next request.
 * Unscripted requests (`GET /v1/models`, anything unknown) are answered and logged.
 */
import http from 'node:http';
import { pickReply, recordRequest, sendJson, startLoopback, type Script, type StubAnswer, type StubRecord } from './loopback.js';

export { closedPort } from './anthropic-stub.js';

/** Usage the stub reports on `response.completed` (Responses API field names). */
export interface ResponsesUsage {
  input_tokens?: number;
  /** Part of input_tokens served from cache (`input_tokens_details.cached_tokens`). */
  cached_tokens?: number;
  output_tokens?: number;
  reasoning_tokens?: number;
}

/** One scripted answer to a `POST /v1/responses` request. */
export type ResponsesReply =
  /** An assistant message with one `output_text` part. */
  | { kind: 'text'; text: string; usage?: ResponsesUsage; headers?: Record<string, string> }
  /** A `function_call` output item (Codex's shell tool is `exec_command` with `{cmd}`). */
  | { kind: 'function_call'; name: string; arguments: Record<string, unknown>; usage?: ResponsesUsage; headers?: Record<string, string> }
  /**
   * An HTTP error with OpenAI's error body. `type` defaults from the status; `extra` adds
   * fields inside `error` (e.g. `resets_at` for `usage_limit_reached`).
   */
  | {
      kind: 'error';
      status: number;
      type?: string;
      code?: string | null;
      message?: string;
      extra?: Record<string, unknown>;
      headers?: Record<string, string>;
    }
  /** Never answer; the socket is held open until the stub closes. */
  | { kind: 'hang' }
  /** Destroy the socket without a response. */
  | { kind: 'reset' };

/** What the stub saw of one request. `kind`: `responses` (scripted, numbered by `turn`), `models`, `unknown`. */
export type ResponsesRequest = StubRecord<'responses' | 'models' | 'unknown'>;

/** A queue (the last entry repeats once exhausted) or a function of the request. */
export type ResponsesScript = Script<ResponsesReply, ResponsesRequest>;

/** Options of {@link startResponsesStub}. */
export interface ResponsesStubOptions {
  script: ResponsesScript;
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  now?: () => number;
}

/** A running stub. */
export interface ResponsesStub {
  /** Base URL including `/v1`, for a Codex provider's `base_url`. */
  readonly url: string;
  readonly port: number;
  readonly requests: ResponsesRequest[];
  /** The scripted `POST /v1/responses` requests only. */
  responses(): ResponsesRequest[];
  /** Stops listening and destroys open sockets (hung requests included). */
  close(): Promise<void>;
}

const DEFAULT_ERROR: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: {
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Incorrect API key provided: sk-stub. You can find your API key at https://platform.openai.com/account/api-keys.',
  },
  403: {
    type: 'invalid_request_error',
    code: 'unsupported_country_region_territory',
    message: 'Country, region, or territory not supported',
  },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests. Please try again later.' },
  500: { type: 'server_error', code: 'server_error', message: 'The server had an error while processing your request. Sorry about that!' },
  503: { type: 'server_error', code: 'server_is_overloaded', message: 'The engine is currently overloaded, please try again later.' },
};

/** Starts the stub on 127.0.0.1; resolves once it listens. */
export async function startResponsesStub(options: ResponsesStubOptions): Promise<ResponsesStub> {
  const now = options.now ?? Date.now;
  const requests: ResponsesRequest[] = [];
  let turns = 0;
  const server = await startLoopback((req, res) => {
    const { method, path } = req;
    const kind: ResponsesRequest['kind'] =
      method === 'POST' && path.endsWith('/responses') ? 'responses' : method === 'GET' && /\/models\/?$/.test(path) ? 'models' : 'unknown';
    const { record, done } = recordRequest(requests, req, kind, now);
    if (kind === 'models') {
      sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-5', object: 'model', created: 1735689600, owned_by: 'stub' }] });
      return done(200);
    }
    if (kind === 'unknown') {
      sendJson(res, 404, {
        error: { type: 'invalid_request_error', code: 'unknown_url', message: `Unknown request URL: ${method} ${path}`, param: null },
      });
      return done(404);
    }
    const turn = turns++;
    record.turn = turn;
    answer(res, pickReply(options.script, record, turn, 'openai-responses-stub'), `resp_stub_${turn + 1}`, done);
  }, options.port);
  const { port } = server;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    responses: () => requests.filter((r) => r.kind === 'responses'),
    close: server.close,
  };
}

function answer(res: http.ServerResponse, reply: ResponsesReply, id: string, done: (s: StubAnswer) => void): void {
  switch (reply.kind) {
    case 'hang':
      return done('hang');
    case 'reset':
      res.socket?.destroy();
      return done('reset');
    case 'error': {
      const d = DEFAULT_ERROR[reply.status] ?? DEFAULT_ERROR[500];
      const error = {
        message: reply.message ?? d?.message ?? 'error',
        type: reply.type ?? d?.type ?? 'server_error',
        param: null,
        code: reply.code !== undefined ? reply.code : (d?.code ?? null),
        ...reply.extra,
      };
      sendJson(res, reply.status, { error }, { 'x-request-id': `req_${id}`, ...reply.headers });
      return done(reply.status);
    }
    case 'text':
    case 'function_call': {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-request-id': `req_${id}`,
        ...reply.headers,
      });
      let seq = 0;
      const ev = (o: Record<string, unknown>): void => {
        res.write(`event: ${String(o['type'])}\ndata: ${JSON.stringify({ ...o, sequence_number: seq++ })}\n\n`);
      };
      const shell = {
        id,
        object: 'response',
        created_at: Math.floor(Date.now() / 1000),
        status: 'in_progress',
        model: 'gpt-5',
        output: [] as unknown[],
      };
      ev({ type: 'response.created', response: shell });
      ev({ type: 'response.in_progress', response: shell });
      let item: Record<string, unknown>;
      if (reply.kind === 'function_call') {
        item = {
          type: 'function_call',
          id: `fc_${id}`,
          call_id: `call_${id}`,
          name: reply.name,
          arguments: JSON.stringify(reply.arguments),
          status: 'completed',
        };
        ev({ type: 'response.output_item.added', output_index: 0, item: { ...item, arguments: '' } });
        ev({ type: 'response.function_call_arguments.done', output_index: 0, item_id: item['id'], arguments: item['arguments'] });
      } else {
        const part = { type: 'output_text', text: reply.text, annotations: [] };
        item = { type: 'message', id: `msg_${id}`, role: 'assistant', status: 'completed', content: [part] };
        ev({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
        ev({ type: 'response.output_text.delta', output_index: 0, content_index: 0, item_id: item['id'], delta: reply.text });
        ev({ type: 'response.output_text.done', output_index: 0, content_index: 0, item_id: item['id'], text: reply.text });
      }
      ev({ type: 'response.output_item.done', output_index: 0, item });
      const u = { input_tokens: 120, cached_tokens: 20, output_tokens: 15, reasoning_tokens: 0, ...reply.usage };
      ev({
        type: 'response.completed',
        response: {
          ...shell,
          status: 'completed',
          output: [item],
          usage: {
            input_tokens: u.input_tokens,
            input_tokens_details: { cached_tokens: u.cached_tokens },
            output_tokens: u.output_tokens,
            output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
            total_tokens: u.input_tokens + u.output_tokens,
          },
        },
      });
      res.end();
      return done(200);
    }
  }
}

/** Inputs of {@link openaiRateLimitHeaders}. */
export interface OpenAIRateLimit {
  /** `retry-after`, seconds. */
  retryAfterS?: number;
  limitRequests?: number;
  remainingRequests?: number;
  /** Time until the request budget resets, in OpenAI's duration format, e.g. `1s`, `6m0s`. */
  resetRequests?: string;
  limitTokens?: number;
  remainingTokens?: number;
  resetTokens?: string;
}

/** The documented `x-ratelimit-*` response headers (and `retry-after`) of the OpenAI API. */
export function openaiRateLimitHeaders(rl: OpenAIRateLimit): Record<string, string> {
  const h: Record<string, string> = {};
  const set = (k: string, v: string | number | undefined): void => {
    if (v !== undefined) h[k] = String(v);
  };
  set('retry-after', rl.retryAfterS);
  set('x-ratelimit-limit-requests', rl.limitRequests);
  set('x-ratelimit-remaining-requests', rl.remainingRequests);
  set('x-ratelimit-reset-requests', rl.resetRequests);
  set('x-ratelimit-limit-tokens', rl.limitTokens);
  set('x-ratelimit-remaining-tokens', rl.remainingTokens);
  set('x-ratelimit-reset-tokens', rl.resetTokens);
  return h;
}

/**
 * The `codex` arguments that select the stub as model provider (Codex 0.169.0 config keys):
 * one request/stream retry so error cases end in seconds, analytics and update checks off.
 * The API key is read from the environment variable `envKey`.
 */
export function codexProviderArgs(baseUrl: string, envKey = 'STUB_KEY'): string[] {
  return [
    '-c',
    'model_provider=stub',
    '-c',
    `model_providers.stub={name="stub",base_url="${baseUrl}",env_key="${envKey}",wire_api="responses",request_max_retries=1,stream_max_retries=1}`,
    '-c',
    'analytics.enabled=false',
    '-c',
    'check_for_update_on_startup=false',
  ];
}
