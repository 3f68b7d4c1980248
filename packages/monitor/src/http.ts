import { createServer, type Server } from 'node:http';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import { renderPage, type PageState } from './page.js';

/** What the HTTP server serves; called per request (cheap: in-memory state and a few tail reads). */
export interface HttpProvider {
  states(): PageState[];
  metrics(): string;
}

/**
 * Serves the progress page (`/`), `/api/state` (JSON: `{hosts: PageState[]}`) and `/metrics`
 * (Prometheus text) on 127.0.0.1 only — no authentication, so never on a public interface;
 * reach it from elsewhere with `ssh -L`.
 * @returns the listening server (its port is `address().port`; pass port 0 for any free one).
 * @throws AgentRunnerError ERR_AR_USAGE when the port is in use or cannot be bound.
 */
export async function serveHttp(port: number, provider: HttpProvider, refreshS = 5): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(renderPage(provider.states(), refreshS));
      } else if (url.pathname === '/api/state') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify({ hosts: provider.states() })}\n`);
      } else if (url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(provider.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`error: ${(e as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new AgentRunnerError('ERR_AR_USAGE', `cannot listen on 127.0.0.1:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`, {
          hint: 'Pick another port with --port.',
          cause: e,
        }),
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}
