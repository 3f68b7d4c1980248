import http from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';

/** One request as a stub sees it, body read in full. */
export interface LoopbackRequest {
  method: string;
  /** Path and query. */
  url: string;
  /** Path without the query. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body text. */
  raw: string;
  /** The body parsed as JSON, or undefined when empty or not JSON. */
  body: unknown;
}

/** A running loopback server. */
export interface LoopbackServer {
  readonly port: number;
  /** Stops listening and destroys open sockets (hung requests included). */
  close(): Promise<void>;
}

/**
 * Starts an HTTP server on 127.0.0.1 for a vendor API stub: reads each request's body, parses
 * it as JSON when it is, and hands both to `handle`; `close` also ends held-open (hanging)
 * requests, which a plain `server.close` would wait for.
 */
export async function startLoopback(handle: (req: LoopbackRequest, res: http.ServerResponse) => void, port = 0): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // a body that is not JSON: the handler sees `undefined` and the raw text
        body = undefined;
      }
      const url = req.url ?? '/';
      handle({ method: req.method ?? 'GET', url, path: url.split('?')[0] ?? '/', headers: req.headers, raw, body }, res);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** How a stub answered a request: an HTTP status, or `hang` (held open) / `reset` (socket destroyed). */
export type StubAnswer = number | 'hang' | 'reset';

/** What a scripted stub saw of one request, and how it answered. */
export interface StubRecord<Kind extends string> {
  /** 0-based arrival order over all requests. */
  seq: number;
  method: string;
  /** Path and query. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when the body is empty or not JSON. */
  body: unknown;
  /** Arrival time, ms since epoch. */
  atMs: number;
  /** The stub's route for it. */
  kind: Kind;
  /** For scripted requests: 0-based index among them. */
  turn?: number;
  answered?: StubAnswer;
  /** When the answer was sent, ms since epoch. */
  answeredAtMs?: number;
}

/** A script: a queue (the last entry repeats once exhausted) or a function of the request. */
export type Script<Reply, Req> = Reply[] | ((req: Req, turn: number) => Reply);

/**
 * Appends the record of `req` to `requests`.
 * @returns the record, and `done`, which notes the answer and its time on it.
 */
export function recordRequest<K extends string>(
  requests: StubRecord<K>[],
  req: LoopbackRequest,
  kind: K,
  now: () => number,
): { record: StubRecord<K>; done: (answer: StubAnswer) => void } {
  const record: StubRecord<K> = {
    seq: requests.length,
    method: req.method,
    url: req.url,
    headers: req.headers,
    body: req.body,
    atMs: now(),
    kind,
  };
  requests.push(record);
  return {
    record,
    done: (answer) => {
      record.answered = answer;
      record.answeredAtMs = now();
    },
  };
}

/** The reply of a scripted stub: a queue whose last entry repeats, or a function of the request. */
export function pickReply<R, Q>(script: Script<R, Q>, req: Q, turn: number, stub: string): R {
  if (typeof script === 'function') return script(req, turn);
  const reply = script[Math.min(turn, script.length - 1)];
  if (reply === undefined) throw new Error(`${stub}: empty script`);
  return reply;
}

/** Writes a JSON response with its content length. */
export function sendJson(res: http.ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A TCP port free on 127.0.0.1 right now (bound, then released), for a server started by another program. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
