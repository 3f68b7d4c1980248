/**
 * A local Gemini API (Generative Language API v1beta) stub on 127.0.0.1, good enough for the
 * real Gemini CLI (`GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT`, API-key auth, see
 * {@link geminiSettings}) to run its genuine agent loop offline.
 *
 * Wire format follows Google's public API reference:
 * - `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`: SSE `data: {GenerateContentResponse}`
 *   chunks (`candidates[].content.parts[]` with `text` or `functionCall {name,args}`,
 *   `finishReason`, `usageMetadata` {promptTokenCount, candidatesTokenCount,
 *   cachedContentTokenCount, totalTokenCount});
 * - `POST ...:generateContent`: one JSON GenerateContentResponse. Gemini CLI 0.61.0 uses it
 *   for its model router ("auto" model: a JSON-mode request answered with
 *   `{complexity_reasoning, complexity_score}`), which the stub answers by itself;
 * - `POST ...:countTokens`: `{totalTokens}`;
 * - errors: HTTP status with body `{"error":{"code","message","status","details"?}}`
 *   (400 INVALID_ARGUMENT with ErrorInfo `API_KEY_INVALID`, 401 UNAUTHENTICATED,
 *   403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED with `google.rpc.RetryInfo` /
 *   `QuotaFailure`, 500 INTERNAL, 503 UNAVAILABLE) — see {@link retryInfo}, {@link quotaFailure}.
 * Scripted replies answer the turn requests (streamGenerateContent and non-router
 * generateContent) in order; `router` may script the router's requests too.
 */
import http from 'node:http';
import { pickReply, recordRequest, sendJson, startLoopback, type Script, type StubAnswer, type StubRecord } from './loopback.js';

export { closedPort } from './anthropic-stub.js';

/** usageMetadata the stub reports (Gemini API field names). */
export interface GeminiUsage {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  cachedContentTokenCount?: number;
}

/** One entry of `error.details` (`@type` plus its fields). */
export type GoogleErrorDetail = { '@type': string } & Record<string, unknown>;

/** One scripted answer. */
export type GeminiReply =
  | { kind: 'text'; text: string; usage?: GeminiUsage }
  /** A `functionCall` part (Gemini CLI's shell tool is `run_shell_command` with `{command}`). */
  | { kind: 'function_call'; name: string; args: Record<string, unknown>; usage?: GeminiUsage }
  /** An HTTP error with Google's error body; `status` text defaults from the code. */
  | { kind: 'error'; code: number; message?: string; status?: string; details?: GoogleErrorDetail[]; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'reset' };

/**
 * What the stub saw of one request. `kind`: `turn` (scripted, numbered by `turn`), `router`
 * (model routing), `count_tokens`, `unknown`.
 */
export type GeminiRequest = StubRecord<'turn' | 'router' | 'count_tokens' | 'unknown'>;

/** A queue (the last entry repeats once exhausted) or a function of the request. */
export type GeminiScript = Script<GeminiReply, GeminiRequest>;

/** Options of {@link startGeminiStub}. */
export interface GeminiStubOptions {
  script: GeminiScript;
  /** Answer to the model router's requests; default a "simple task" routing decision. */
  router?: GeminiReply;
  port?: number;
  now?: () => number;
}

/** A running stub. */
export interface GeminiStub {
  /** For `GOOGLE_GEMINI_BASE_URL`. */
  readonly url: string;
  readonly port: number;
  readonly requests: GeminiRequest[];
  /** Requests that reached the script or failed with a scripted error (turn and router). */
  apiCalls(): GeminiRequest[];
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const DEFAULT_MESSAGE: Record<number, string> = {
  400: 'API key not valid. Please pass a valid API key.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  403: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
  429: 'Resource has been exhausted (e.g. check quota).',
  500: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  503: 'The model is overloaded. Please try again later.',
};

/** `google.rpc.RetryInfo` detail; `delay` in Google's duration format, e.g. `3600s`. */
export function retryInfo(delay: string): GoogleErrorDetail {
  return { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: delay };
}

/** `google.rpc.QuotaFailure` detail with one violation (quotaId like `GenerateRequestsPerDayPerProjectPerModel-FreeTier`). */
export function quotaFailure(
  quotaId: string,
  quotaMetric = 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
): GoogleErrorDetail {
  return { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric, quotaId }] };
}

/** `google.rpc.ErrorInfo` detail, e.g. reason `API_KEY_INVALID`. */
export function errorInfo(reason: string, domain = 'googleapis.com'): GoogleErrorDetail {
  return { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain };
}

/** Starts the stub on 127.0.0.1; resolves once it listens. */
export async function startGeminiStub(options: GeminiStubOptions): Promise<GeminiStub> {
  const now = options.now ?? Date.now;
  const requests: GeminiRequest[] = [];
  let turns = 0;
  const server = await startLoopback((req, res) => {
    const { method, url, raw, body } = req;
    const { record, done } = recordRequest(requests, req, classify(method, url, body), now);
    const stream = url.includes(':streamGenerateContent');
    switch (record.kind) {
      case 'count_tokens':
        sendJson(res, 200, { totalTokens: Math.max(1, Math.ceil(raw.length / 4)) }, JSON_UTF8);
        return done(200);
      case 'unknown':
        sendJson(res, 404, { error: { code: 404, message: `stub: no route ${method} ${url}`, status: 'NOT_FOUND' } }, JSON_UTF8);
        return done(404);
      case 'router':
        return answer(res, options.router ?? ROUTER_REPLY, stream, done);
      case 'turn': {
        const turn = turns++;
        record.turn = turn;
        return answer(res, pickReply(options.script, record, turn, 'gemini-stub'), stream, done);
      }
    }
  }, options.port);
  const { port } = server;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    apiCalls: () => requests.filter((r) => r.kind === 'turn' || r.kind === 'router'),
    close: server.close,
  };
}

const ROUTER_REPLY: GeminiReply = { kind: 'text', text: JSON.stringify({ complexity_reasoning: 'simple task', complexity_score: 10 }) };

function classify(method: string, url: string, body: unknown): GeminiRequest['kind'] {
  if (method !== 'POST') return 'unknown';
  if (url.includes(':countTokens')) return 'count_tokens';
  if (url.includes(':streamGenerateContent')) return 'turn';
  if (url.includes(':generateContent')) {
    const gc = (body as { generationConfig?: { responseMimeType?: unknown } } | undefined)?.generationConfig;
    return gc?.responseMimeType === 'application/json' ? 'router' : 'turn';
  }
  return 'unknown';
}

/** The content type Google's API answers JSON with. */
const JSON_UTF8 = { 'content-type': 'application/json; charset=UTF-8' };

function answer(res: http.ServerResponse, reply: GeminiReply, stream: boolean, done: (s: StubAnswer) => void): void {
  switch (reply.kind) {
    case 'hang':
      return done('hang');
    case 'reset':
      res.socket?.destroy();
      return done('reset');
    case 'error': {
      const error: Record<string, unknown> = {
        code: reply.code,
        message: reply.message ?? DEFAULT_MESSAGE[reply.code] ?? 'error',
        status: reply.status ?? STATUS_TEXT[reply.code] ?? 'UNKNOWN',
      };
      if (reply.details) error['details'] = reply.details;
      sendJson(res, reply.code, { error }, { ...JSON_UTF8, ...reply.headers });
      return done(reply.code);
    }
    case 'text':
    case 'function_call': {
      const part = reply.kind === 'text' ? { text: reply.text } : { functionCall: { name: reply.name, args: reply.args } };
      const u = { promptTokenCount: 120, candidatesTokenCount: 15, cachedContentTokenCount: 20, ...reply.usage };
      const chunk = {
        candidates: [{ content: { parts: [part], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { ...u, totalTokenCount: u.promptTokenCount + u.candidatesTokenCount },
        modelVersion: 'stub',
        responseId: `stub-${Date.now()}`,
      };
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
        res.end();
      } else sendJson(res, 200, chunk, JSON_UTF8);
      return done(200);
    }
  }
}

/**
 * `~/.gemini/settings.json` for unattended offline runs (Gemini CLI 0.61.0 keys): API-key
 * auth, folder trust off (else an untrusted work tree exits 55), telemetry, usage statistics
 * and update checks off.
 */
export function geminiSettings(): Record<string, unknown> {
  return {
    security: { auth: { selectedType: 'gemini-api-key' }, folderTrust: { enabled: false } },
    general: { disableAutoUpdate: true, disableUpdateNag: true },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
  };
}
