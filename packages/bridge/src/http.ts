import { Agent, request, type Dispatcher } from 'undici';
import { parseRetryAfter, retryableStatus, SendError } from './send-error.js';

/** An HTTP answer with its body read as text (bodies here are small JSON documents). */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Options of {@link HttpClient.call}. */
export interface CallOptions {
  method: 'GET' | 'POST' | 'PUT';
  /** Full URL; may carry a secret (Telegram token, webhook path): it is never put in messages. */
  url: string;
  /** What the call is, for error messages (`telegram sendMessage`); must not hold secrets. */
  label: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request limit, ms (default: the client's); a long poll passes its own. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Largest response body read, bytes; more is an error (a stub or proxy gone wrong). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * The bridge's HTTP client, on one undici Agent (keep-alive connection pools per origin). The
 * only undici user in agent-runner.
 */
export class HttpClient {
  private readonly agent: Agent;
  private readonly now: () => number;
  private readonly timeoutMs: number;

  /** @param opts.timeoutMs default whole-request limit of a send, ms (15000). */
  constructor(opts: { now?: () => number; connectTimeoutMs?: number; timeoutMs?: number } = {}) {
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.agent = new Agent({ connect: { timeout: opts.connectTimeoutMs ?? 10_000 }, keepAliveTimeout: 30_000, connections: 8 });
  }

  /**
   * Performs one request and reads the body.
   * @throws SendError (retryable) on network errors and timeouts; never on HTTP statuses —
   *   use {@link HttpClient.expectOk} or check `status`.
   */
  async call(opts: CallOptions): Promise<HttpAnswer> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    try {
      const res: Dispatcher.ResponseData = await request(opts.url, {
        method: opts.method,
        headers: opts.headers ?? {},
        body: opts.body ?? null,
        dispatcher: this.agent,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const c of res.body) {
        const b = c as Buffer;
        size += b.length;
        if (size > MAX_BODY_BYTES) {
          res.body.destroy();
          throw new SendError(`${opts.label}: response body over ${MAX_BODY_BYTES} bytes`, { retryable: true, status: res.statusCode });
        }
        chunks.push(b);
      }
      return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
    } catch (e) {
      if (e instanceof SendError) throw e;
      const why = timeout.aborted ? `timed out after ${timeoutMs} ms` : opts.signal?.aborted ? 'aborted' : describeNetError(e);
      throw new SendError(`${opts.label}: ${why}`, { retryable: true });
    }
  }

  /**
   * Turns a non-2xx answer into a SendError: retryable for 408/425/429/5xx with the
   * `Retry-After` wait, permanent otherwise. The body excerpt is kept short (it may echo input).
   */
  expectOk(label: string, a: HttpAnswer): HttpAnswer {
    if (a.status >= 200 && a.status < 300) return a;
    const retryAfterMs = parseRetryAfter(a.headers['retry-after'], this.now());
    throw new SendError(`${label}: HTTP ${a.status}${a.text ? ` ${oneLine(a.text, 200)}` : ''}`, {
      retryable: retryableStatus(a.status),
      status: a.status,
      retryAfterMs,
    });
  }

  /** Parses a JSON body. @throws SendError (retryable: a proxy page or a truncated reply) when it is not JSON. */
  static json(label: string, a: HttpAnswer): unknown {
    try {
      return JSON.parse(a.text) as unknown;
    } catch {
      // SyntaxError: not JSON, as documented.
      throw new SendError(`${label}: malformed JSON in HTTP ${a.status} reply: ${oneLine(a.text, 120)}`, {
        retryable: true,
        status: a.status,
      });
    }
  }

  /** Closes the connection pools. */
  async close(): Promise<void> {
    // undici rejects a second close (ClientDestroyedError); the pools are closed either way.
    await this.agent.close().catch(() => undefined);
  }
}

function describeNetError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  // undici messages do not contain the URL; codes are the useful part.
  return [err.code, err.message].filter(Boolean).join(' ') || String(e);
}

/** First `max` characters of `s` on one line. */
export function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
