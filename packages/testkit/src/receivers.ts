/**
 * Notification receivers on 127.0.0.1 for end-to-end runs: a generic webhook endpoint (the
 * bridge's documented JSON webhook: `POST` with `Idempotency-Key`, any 2xx is success) and an
 * ntfy server (https://docs.ntfy.sh/publish/: `POST /<topic>`, the body is the message,
 * `Title` / `Priority` / `Tags` headers, answered with the message as JSON). Each records every
 * request with its arrival time and can misbehave for a window: answer 500, or refuse
 * connections altogether (the listening socket is closed, and reopened on the same port).
 */
import type http from 'node:http';
import { sendJson, startLoopback, type LoopbackRequest, type LoopbackServer } from './loopback.js';

/** What a receiver does with requests now. */
export type ReceiverMode = 'ok' | 'error' | 'refuse';

/** One request a receiver got. */
export interface Delivery {
  /** Arrival, ms since epoch. */
  atMs: number;
  /** Path without the query (`/hook/soak`, `/soak-alarms`). */
  path: string;
  /** `Idempotency-Key` header (webhook). */
  key?: string;
  /** The status answered (500 during an error window). */
  status: number;
  title: string;
  body: string;
  /** ntfy `Priority` header (1-5) or the webhook's `severity`. */
  priority: string;
  /** Webhook: the outbox kind; ntfy: the `Tags` header. */
  kind: string;
  /** Webhook: the JSON `payload` field. */
  payload?: Record<string, unknown>;
  /**
   * True when a 2xx went out for a key this receiver had already accepted: a redelivery a
   * receiver that honours `Idempotency-Key` drops.
   */
  redelivery: boolean;
}

/** A running receiver. */
export interface Receiver {
  readonly kind: 'webhook' | 'ntfy';
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly deliveries: Delivery[];
  readonly mode: ReceiverMode;
  /** Changes how requests are answered; `refuse` closes the listening socket until the next mode. */
  setMode(mode: ReceiverMode): Promise<void>;
  close(): Promise<void>;
}

const header = (req: LoopbackRequest, name: string): string => {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
};

/** Decodes an RFC 2047 `=?UTF-8?B?...?=` header word (ntfy accepts them in `Title`). */
function decodeWord(v: string): string {
  const m = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/i.exec(v);
  return m ? Buffer.from(m[1] ?? '', 'base64').toString('utf8') : v;
}

/**
 * Starts a receiver on an ephemeral loopback port.
 * @param kind `webhook` records the JSON body's fields; `ntfy` the headers and raw body.
 */
export async function startReceiver(kind: 'webhook' | 'ntfy'): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const accepted = new Set<string>();
  let mode: ReceiverMode = 'ok';
  const handle = (req: LoopbackRequest, res: http.ServerResponse): void => {
    const status = mode === 'error' ? 500 : 200;
    let d: Delivery;
    if (kind === 'webhook') {
      const b = (req.body ?? {}) as {
        kind?: string;
        severity?: string;
        title?: string;
        body?: string;
        payload?: Record<string, unknown> | null;
      };
      const key = header(req, 'idempotency-key');
      d = {
        atMs: Date.now(),
        path: req.path,
        key,
        status,
        title: b.title ?? '',
        body: b.body ?? '',
        priority: b.severity ?? '',
        kind: b.kind ?? '',
        redelivery: status === 200 && accepted.has(key),
        ...(b.payload ? { payload: b.payload } : {}),
      };
      if (status === 200) accepted.add(key);
    } else {
      d = {
        atMs: Date.now(),
        path: req.path,
        status,
        title: decodeWord(header(req, 'title')),
        body: req.raw,
        priority: header(req, 'priority'),
        kind: header(req, 'tags'),
        redelivery: false,
      };
    }
    deliveries.push(d);
    if (status !== 200) {
      sendJson(res, 500, kind === 'ntfy' ? { code: 50001, http: 500, error: 'internal server error' } : { error: 'internal server error' });
      return;
    }
    if (kind === 'ntfy') {
      sendJson(res, 200, {
        id: `m${deliveries.length}`,
        time: Math.floor(d.atMs / 1000),
        event: 'message',
        topic: req.path.slice(1),
        title: d.title,
        message: d.body,
        priority: Number(d.priority) || 3,
        tags: d.kind ? d.kind.split(',') : [],
      });
    } else {
      sendJson(res, 200, { ok: true });
    }
  };
  let server: LoopbackServer | undefined = await startLoopback(handle);
  const port = server.port;
  return {
    kind,
    port,
    url: `http://127.0.0.1:${port}`,
    deliveries,
    get mode() {
      return mode;
    },
    async setMode(next) {
      if (next === 'refuse' && server) {
        await server.close();
        server = undefined;
      } else if (next !== 'refuse' && !server) {
        server = await startLoopback(handle, port);
      }
      mode = next;
    },
    async close() {
      await server?.close();
      server = undefined;
    },
  };
}
