import type { MatrixNotifyConfig } from '@agent-runner/core/config';
import { HttpClient, oneLine } from '../http.js';
import { chunkText, logPointer, renderText } from '../format.js';
import { readSecret } from '../secrets.js';
import { parseRetryAfter, retryableStatus, SendError } from '../send-error.js';
import type { InboundMessage, OutMessage, PollResult, SendResult, Transport, TransportContext } from '../transport.js';

/** Characters per Matrix message; events are limited to 65,536 bytes of JSON (spec §"Size limits"). */
export const MATRIX_MAX_CHARS = 16_000;
/** Bytes of JSON-encoded `body` per event, leaving room for the rest of the event. */
const MATRIX_MAX_BODY_BYTES = 60_000;
/** `/sync` long-poll wait, ms. */
export const MATRIX_SYNC_TIMEOUT_MS = 30_000;

/**
 * Matrix client-server API v3 (https://spec.matrix.org/v1.11/client-server-api/).
 *
 * Sending: `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` with the
 * outbox row's idempotency key as `txnId` (chunk N > 0 gets `<key>.N`). A homeserver treats a
 * repeated transaction id of the same access token as the same event, so a row resent after a
 * crash mid-send is never shown twice. A recovery replies to its alarm (`m.relates_to` ->
 * `m.in_reply_to` with the alarm's event id); `m.mentions` is empty, so nothing pings. Errors: `{"errcode","error","retry_after_ms"}`.
 *
 * Commands: `/sync` long polling with `since` = the stored `next_batch`, filtered to the
 * configured room. The first sync (no stored token) only establishes the cursor: history is
 * not replayed as commands.
 */
export function matrixTransport(cfg: MatrixNotifyConfig, ctx: TransportContext): Transport {
  const hs = cfg.homeserver.replace(/\/+$/, '');
  const room = cfg.room_id;
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${readSecret(cfg, 'access_token', ctx.env) as string}` });

  const fail = (label: string, a: { status: number; text: string; headers: Record<string, string | string[] | undefined> }): never => {
    let body: { errcode?: string; error?: string; retry_after_ms?: number } = {};
    try {
      body = JSON.parse(a.text) as typeof body;
    } catch {
      // SyntaxError: a non-JSON error page, quoted as text below
    }
    const retryAfterMs =
      typeof body.retry_after_ms === 'number' ? body.retry_after_ms : parseRetryAfter(a.headers['retry-after'], ctx.now());
    throw new SendError(`${label}: HTTP ${a.status} ${body.errcode ?? ''} ${oneLine(body.error ?? a.text, 150)}`.trim(), {
      retryable: retryableStatus(a.status),
      status: a.status,
      retryAfterMs,
    });
  };

  return {
    name: cfg.name,
    type: 'matrix',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      const text = renderText(msg);
      // Non-ASCII is 2-3 bytes a character and control characters (ANSI escapes in a tail)
      // are 6 as JSON: shrink the chunks by how much this text expands.
      const perChar = Buffer.byteLength(JSON.stringify(text)) / Math.max(1, text.length);
      const chunks = chunkText(
        text,
        Math.min(MATRIX_MAX_CHARS, Math.floor(MATRIX_MAX_BODY_BYTES / Math.max(1, perChar))),
        4,
        logPointer(msg),
      );
      const replyTo = msg.replyTo?.platformMessageId;
      let first: string | undefined;
      for (const [i, body] of chunks.entries()) {
        // `m.mentions: {}`: intentional mentions (spec v1.7) — nothing in the text pings anyone.
        const content = {
          msgtype: 'm.text',
          body,
          'm.mentions': {},
          ...(i === 0 && replyTo ? { 'm.relates_to': { 'm.in_reply_to': { event_id: replyTo } } } : {}),
        };
        const txn = i === 0 ? msg.key : `${msg.key}.${i}`;
        const label = 'matrix send';
        const url = `${hs}/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/${encodeURIComponent(txn)}`;
        const a = await ctx.http.call({
          method: 'PUT',
          url,
          label,
          headers: { ...auth(), 'content-type': 'application/json' },
          body: JSON.stringify(content),
        });
        if (a.status < 200 || a.status >= 300) fail(label, a);
        const j = HttpClient.json(label, a) as { event_id?: unknown };
        if (typeof j.event_id !== 'string') throw new SendError(`${label}: reply has no event_id`, { retryable: true, status: a.status });
        if (i === 0) first = j.event_id;
      }
      return first !== undefined ? { platformMessageId: first } : {};
    },
    async poll(cursor, signal): Promise<PollResult> {
      const label = 'matrix sync';
      const filter = JSON.stringify({
        room: { rooms: [room], timeline: { limit: 50, types: ['m.room.message'] }, state: { lazy_load_members: true } },
        presence: { types: [] },
        account_data: { types: [] },
      });
      const q = new URLSearchParams({ filter, timeout: String(cursor === undefined ? 0 : MATRIX_SYNC_TIMEOUT_MS) });
      if (cursor !== undefined) q.set('since', cursor);
      const a = await ctx.http.call({
        method: 'GET',
        url: `${hs}/_matrix/client/v3/sync?${q.toString()}`,
        label,
        headers: auth(),
        timeoutMs: MATRIX_SYNC_TIMEOUT_MS + 15_000,
        signal,
      });
      if (a.status < 200 || a.status >= 300) fail(label, a);
      const j = HttpClient.json(label, a) as {
        next_batch?: unknown;
        rooms?: { join?: Record<string, { timeline?: { events?: unknown[] } }> };
      };
      if (typeof j.next_batch !== 'string') throw new SendError(`${label}: reply has no next_batch`, { retryable: true, status: a.status });
      const messages: InboundMessage[] = [];
      for (const ev of j.rooms?.join?.[room]?.timeline?.events ?? []) {
        const e = ev as {
          type?: unknown;
          event_id?: unknown;
          sender?: unknown;
          origin_server_ts?: unknown;
          content?: { msgtype?: unknown; body?: unknown; 'm.relates_to'?: { rel_type?: unknown } };
        };
        if (e.type !== 'm.room.message' || typeof e.event_id !== 'string' || typeof e.content?.body !== 'string') continue;
        // An edit (`m.replace`) is a new event whose body may be the new text as it is ("/stop"):
        // an edited message is never a command.
        if (e.content['m.relates_to']?.rel_type === 'm.replace') continue;
        messages.push({
          platformMessageId: e.event_id,
          sender: String(e.sender ?? ''),
          chat: room,
          text: e.content.body,
          ...(typeof e.origin_server_ts === 'number' ? { sentAtMs: e.origin_server_ts } : {}),
        });
      }
      return { messages, cursor: j.next_batch, ...(cursor === undefined ? { initial: true } : {}) };
    },
  };
}
