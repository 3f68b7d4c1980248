import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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

/** The reply of a scripted stub: a queue whose last entry repeats, or a function of the request. */
export function pickReply<R, Q>(script: R[] | ((req: Q, turn: number) => R), req: Q, turn: number, stub: string): R {
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
