import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { isLoopbackHostname } from '@agent-runner/core/loopback';
import { redactStrings } from '@agent-runner/core/redact';
import { METRICS_CONTENT_TYPES, negotiateMetricsFormat, type MetricsFormat } from './metrics.js';
import { renderPage, type PageState } from './page.js';

/** What the HTTP server serves; called per request (cheap: in-memory state and a few tail reads). */
export interface HttpProvider {
  states(): PageState[];
  /** The `/metrics` exposition in each format (metrics.ts `renderMetrics`). */
  metrics(): Record<MetricsFormat, string>;
}

/** Where and how to listen. */
export interface HttpListen {
  /** 0 = any free port. */
  port: number;
  /** IP literal (`monitor.http_bind`); default 127.0.0.1. */
  host?: string | undefined;
  /** Bearer token every request must carry (required off loopback; the caller enforces that). */
  token?: string | undefined;
  /** The page's `<meta refresh>`, seconds. */
  refreshS?: number | undefined;
}

// Sent with every answer: the page has no scripts, fetches nothing and is never framed; a
// browser must not guess types or keep copies of a page that shows a project's live log.
const SECURITY_HEADERS: OutgoingHttpHeaders = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * Serves the progress page (`/`), `/api/state` (JSON: `{hosts: PageState[]}`) and `/metrics`
 * (the Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when the request's `Accept` prefers
 * it: metrics.ts `negotiateMetricsFormat`; answered with `Vary: Accept`). Everything served
 * is redacted (core/redact). On a loopback address the `Host` header must name loopback too
 * (`localhost`, `127.x`, `[::1]`; any port, so `ssh -L` works), which defeats DNS rebinding;
 * with a `token`, every request needs `Authorization: Bearer TOKEN` (or Basic with the token as
 * password, for browsers) instead. A bad request is answered 4xx and never ends the server.
 * @returns the listening server (its port is `address().port`).
 * @throws AgentRunnerError ERR_AR_USAGE when the address cannot be bound (port in use, no such
 *   local address).
 */
export async function serveHttp(listen: HttpListen, provider: HttpProvider): Promise<Server> {
  const host = listen.host ?? '127.0.0.1';
  const tokenDigest = listen.token === undefined ? undefined : sha256(listen.token);
  const server = createServer((req, res) => {
    const reply = (status: number, type: string, body: string, extra: OutgoingHttpHeaders = {}): void => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra }).end(body);
    };
    try {
      const path = pathOf(req.url ?? '');
      if (path === undefined) return reply(400, 'text/plain; charset=utf-8', 'bad request target\n');
      if (tokenDigest) {
        if (!authorized(req, tokenDigest)) {
          return reply(401, 'text/plain; charset=utf-8', 'this page needs the monitor token (monitor.http_token_env / http_token_file)\n', {
            'www-authenticate': 'Basic realm="agent-runner monitor", charset="UTF-8"',
          });
        }
      } else if (!hostAllowed(req.headers.host)) {
        return reply(421, 'text/plain; charset=utf-8', 'this page answers only requests addressed to localhost or 127.0.0.1\n');
      }
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return reply(405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      if (path === '/') return reply(200, 'text/html; charset=utf-8', renderPage(redactStrings(provider.states()), listen.refreshS ?? 5));
      if (path === '/api/state') return reply(200, 'application/json', `${JSON.stringify({ hosts: redactStrings(provider.states()) })}\n`);
      if (path === '/metrics') {
        const format = negotiateMetricsFormat(req.headers.accept);
        // Vary: a cache between scraper and monitor must not answer one format's request with the other.
        return reply(200, METRICS_CONTENT_TYPES[format], provider.metrics()[format], { vary: 'Accept' });
      }
      return reply(404, 'text/plain; charset=utf-8', 'not found\n');
    } catch (e) {
      if (!res.headersSent) reply(500, 'text/plain; charset=utf-8', `error: ${redactStrings((e as Error).message)}\n`);
      else res.destroy();
    }
  });
  // Keep-alive sockets would hold a stopping monitor open; no request here takes long.
  server.keepAliveTimeout = 2000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new AgentRunnerError(
          'ERR_AR_USAGE',
          `cannot listen on ${hostPort(host, listen.port)}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : e.message}`,
          {
            hint: e.code === 'EADDRINUSE' ? 'Pick another port with --port.' : 'Set monitor.http_bind to an address of this machine.',
            cause: e,
          },
        ),
      ),
    );
    server.listen(listen.port, host, () => resolve());
  });
  return server;
}

/** `host:port` as a URL writes it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The path of an origin-form (`/p?q`) or absolute-form (`http://h/p`) request target; undefined for anything else. */
function pathOf(target: string): string | undefined {
  // Origin-form is a path, never a scheme-relative reference: `//x` is the path `//x`.
  const abs = target.startsWith('/') ? `http://h${target}` : /^https?:\/\//i.test(target) ? target : undefined;
  if (abs === undefined || !URL.canParse(abs)) return undefined;
  return new URL(abs).pathname;
}

function hostAllowed(header: string | undefined): boolean {
  // HTTP/1.0 clients may send none; a browser always does, and rebinding needs a browser.
  if (header === undefined) return true;
  const name = /^(\[[^\]]*\]|[^:]*)(?::\d{1,5})?$/.exec(header.trim())?.[1];
  return name !== undefined && isLoopbackHostname(name);
}

function authorized(req: IncomingMessage, digest: Buffer): boolean {
  const m = /^(Bearer|Basic) +(.+?) *$/i.exec(req.headers.authorization ?? '');
  if (!m?.[2]) return false;
  let given = m[2];
  if (m[1]?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(given, 'base64').toString('utf8');
    given = decoded.slice(decoded.indexOf(':') + 1);
  }
  // Equal-length digests: the comparison's time says nothing about the token.
  return timingSafeEqual(sha256(given), digest);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
