// Loopback HTTP servers speaking the platforms' documented endpoints, for tests and the
// e2e soak. Each records the requests it got and can be told to misbehave for the next
// requests (status + headers + body, a hang past the client's timeout, a reset connection).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: unknown;
}

export type Fault = { status: number; headers?: Record<string, string>; body?: string } | { hang: true } | { reset: true };

export interface Stub {
  url: string;
  requests: Recorded[];
  /** Misbehave on the next requests matching `path` (substring), in order. */
  fail(path: string, ...faults: Fault[]): void;
  close(): Promise<void>;
}

export type Handler = (req: Recorded, res: ServerResponse) => void | Promise<void>;

export function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
  res.end(text);
}

export async function startStub(handler: Handler): Promise<Stub> {
  const requests: Recorded[] = [];
  const faults: Array<{ path: string; fault: Fault }> = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json };
      requests.push(rec);
      const i = faults.findIndex((f) => rec.url.includes(f.path));
      if (i >= 0) {
        const { fault } = faults.splice(i, 1)[0] as { fault: Fault };
        if ('hang' in fault) {
          hanging.add(res);
          return;
        }
        if ('reset' in fault) {
          req.socket.destroy();
          return;
        }
        res.writeHead(fault.status, fault.headers ?? {});
        res.end(fault.body ?? '');
        return;
      }
      Promise.resolve(handler(rec, res)).catch((e: unknown) => reply(res, 500, String(e)));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    fail(path, ...fs) {
      for (const fault of fs) faults.push({ path, fault });
    },
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Telegram Bot API stub: sendMessage (4096 limit enforced; `reply_parameters` checked against
 * the messages sent, as Telegram does), getUpdates long polling over `updates` (every kind,
 * whatever `allowed_updates` says: Telegram too may deliver kinds queued before it took
 * effect), getMe (the bot's username: `opts.username`, default `agent_runner_bot`; null: a
 * reply without one).
 */
export interface TelegramStub extends Stub {
  /** `message_id` of entry i is i + 1. */
  sent: Array<{ chat_id: unknown; text: string; reply_to?: number }>;
  /** Queues an incoming message (as a `message` update). */
  push(msg: { from: number; chat: number; text: string; date?: number }): number;
  /** Queues an update of another kind (`edited_message`, `channel_post`, ...) with the message as its payload. */
  pushUpdate(kind: string, msg: { from: number; chat: number; text: string; date?: number }): number;
}

/** The username the Telegram stub's getMe gives by default. */
export const TELEGRAM_STUB_BOT = 'agent_runner_bot';

export async function telegramStub(token: string, opts: { username?: string | null } = {}): Promise<TelegramStub> {
  const sent: TelegramStub['sent'] = [];
  const updates: Array<Record<string, unknown>> = [];
  let nextUpdate = 100;
  let waiter: (() => void) | undefined;
  const stub = await startStub(async (req, res) => {
    const m = /^\/bot([^/]+)\/(\w+)/.exec(req.url);
    if (!m || m[1] !== token) return reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const body = (req.json ?? {}) as Record<string, unknown>;
    if (m[2] === 'getMe') {
      const username = opts.username === undefined ? TELEGRAM_STUB_BOT : opts.username;
      return reply(res, 200, {
        ok: true,
        result: { id: 1, is_bot: true, first_name: 'agent-runner', ...(username !== null ? { username } : {}) },
      });
    }
    if (m[2] === 'sendMessage') {
      const text = String(body['text'] ?? '');
      if (text.length > 4096) return reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
      const rp = body['reply_parameters'] as { message_id?: number; allow_sending_without_reply?: boolean } | undefined;
      const known = rp?.message_id !== undefined && rp.message_id >= 1 && rp.message_id <= sent.length;
      if (rp && !known && rp.allow_sending_without_reply !== true)
        return reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message to be replied not found' });
      sent.push({ chat_id: body['chat_id'], text, ...(known ? { reply_to: rp.message_id as number } : {}) });
      return reply(res, 200, { ok: true, result: { message_id: sent.length, chat: { id: body['chat_id'] }, text } });
    }
    if (m[2] === 'getUpdates') {
      const offset = typeof body['offset'] === 'number' ? body['offset'] : 0;
      const pick = (): Array<Record<string, unknown>> => updates.filter((u) => (u['update_id'] as number) >= offset);
      if (pick().length === 0) {
        const timeout = Math.min(Number(body['timeout'] ?? 0), 30) * 1000;
        await new Promise<void>((r) => {
          const t = setTimeout(r, timeout);
          waiter = () => {
            clearTimeout(t);
            r();
          };
          res.on('close', () => {
            clearTimeout(t);
            r();
          });
        });
        waiter = undefined;
      }
      if (res.destroyed) return;
      return reply(res, 200, { ok: true, result: pick() });
    }
    return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
  });
  const pushUpdate = (kind: string, msg: { from: number; chat: number; text: string; date?: number }): number => {
    const id = nextUpdate++;
    const date = msg.date ?? Math.floor(Date.now() / 1000);
    updates.push({
      update_id: id,
      [kind]: {
        message_id: id * 10,
        from: { id: msg.from, is_bot: false },
        chat: { id: msg.chat, type: 'private' },
        date,
        text: msg.text,
        ...(kind.startsWith('edited_') ? { edit_date: date } : {}),
      },
    });
    waiter?.();
    return id;
  };
  return Object.assign(stub, {
    sent,
    push: (msg: { from: number; chat: number; text: string; date?: number }) => pushUpdate('message', msg),
    pushUpdate,
  });
}

/**
 * Matrix homeserver stub: room send with transaction-id idempotency per access token (as the
 * spec requires: same txnId → same event, not a second message), and /sync.
 */
export interface MatrixStub extends Stub {
  /** Distinct events in the room, in order (`reply_to`: the `m.in_reply_to` event id). */
  events: Array<{ event_id: string; txn: string; body: string; reply_to?: string; mentions?: unknown }>;
  /** Total PUTs received (including idempotent repeats). */
  puts: number;
  /** A message in the room; `content` adds to (or overrides) its content, e.g. an edit's `m.relates_to`. */
  push(sender: string, body: string, content?: Record<string, unknown>): void;
}

export async function matrixStub(token: string, room: string, opts: { maxLatencyMs?: number } = {}): Promise<MatrixStub> {
  const events: MatrixStub['events'] = [];
  const byTxn = new Map<string, string>();
  const timeline: Array<Record<string, unknown>> = [];
  let puts = 0;
  let waiter: (() => void) | undefined;
  const stub = await startStub(async (req, res) => {
    if (req.headers['authorization'] !== `Bearer ${token}`)
      return reply(res, 401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid access token' });
    const send = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/send\/m\.room\.message\/([^/?]+)$/.exec(req.url);
    if (send && req.method === 'PUT') {
      puts += 1;
      if (decodeURIComponent(send[1] as string) !== room) return reply(res, 403, { errcode: 'M_FORBIDDEN', error: 'not in room' });
      const txn = decodeURIComponent(send[2] as string);
      const existing = byTxn.get(txn);
      if (existing) return reply(res, 200, { event_id: existing });
      const content = (req.json ?? {}) as {
        body?: string;
        'm.relates_to'?: { 'm.in_reply_to'?: { event_id?: string } };
        'm.mentions'?: unknown;
      };
      const body = content.body ?? '';
      if (Buffer.byteLength(req.body) > 65536) return reply(res, 413, { errcode: 'M_TOO_LARGE', error: 'event too large' });
      const event_id = `$e${events.length + 1}`;
      byTxn.set(txn, event_id);
      const replyTo = content['m.relates_to']?.['m.in_reply_to']?.event_id;
      events.push({
        event_id,
        txn,
        body,
        ...(replyTo ? { reply_to: replyTo } : {}),
        ...(content['m.mentions'] !== undefined ? { mentions: content['m.mentions'] } : {}),
      });
      // The event is committed before the reply goes out, as on a real homeserver: a client
      // killed while waiting resends the same txnId and must get the same event back.
      if (opts.maxLatencyMs) await new Promise((r) => setTimeout(r, Math.random() * (opts.maxLatencyMs ?? 0)));
      return reply(res, 200, { event_id });
    }
    if (req.url.startsWith('/_matrix/client/v3/sync')) {
      const q = new URL(req.url, 'http://x').searchParams;
      const since = q.get('since');
      const from = since === null ? timeline.length : Number(since.slice(1));
      if (since !== null && timeline.length <= from) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.min(Number(q.get('timeout') ?? 0), 30_000));
          waiter = () => {
            clearTimeout(t);
            r();
          };
          res.on('close', () => {
            clearTimeout(t);
            r();
          });
        });
        waiter = undefined;
      }
      if (res.destroyed) return;
      const evs = since === null ? [] : timeline.slice(from);
      return reply(res, 200, {
        next_batch: `s${timeline.length}`,
        rooms: { join: evs.length ? { [room]: { timeline: { events: evs } } } : {} },
      });
    }
    return reply(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  });
  const out = Object.assign(stub, {
    events,
    puts: 0,
    push(sender: string, body: string, content: Record<string, unknown> = {}) {
      timeline.push({
        type: 'm.room.message',
        event_id: `$in${timeline.length}`,
        sender,
        origin_server_ts: Date.now(),
        content: { msgtype: 'm.text', body, ...content },
      });
      waiter?.();
    },
  });
  Object.defineProperty(out, 'puts', { get: () => puts });
  return out;
}
