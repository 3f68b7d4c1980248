import type { TelegramNotifyConfig } from '@agent-runner/core/config';
import { oneLine } from '../http.js';
import { chunkText, logPointer, renderText } from '../format.js';
import { readSecret } from '../secrets.js';
import { parseRetryAfter, retryableStatus, SendError } from '../send-error.js';
import type { InboundMessage, OutMessage, PollResult, SendResult, Transport, TransportContext } from '../transport.js';

/** Telegram's limit on `sendMessage` text, characters after entity parsing (Bot API docs). */
export const TELEGRAM_MAX_CHARS = 4096;
/** Long-poll wait asked of `getUpdates`, seconds. */
export const TELEGRAM_POLL_TIMEOUT_S = 30;

interface TgReply {
  ok?: boolean;
  result?: unknown;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

/**
 * Telegram Bot API (https://core.telegram.org/bots/api): `sendMessage` for notifications
 * (plain text, chunked at 4096 characters, at most 4 chunks; a recovery replies to its alarm
 * through `reply_parameters` with the alarm's `message_id`), `getUpdates` long polling for
 * commands (offset cursor = last `update_id` + 1; only `message` updates: an edited message,
 * `edited_message`, is never a command), `getMe` once for the bot's own username (commands
 * addressed `/cmd@otherbot` are not ours). Token from `bot_token_file` / `bot_token_env`; it
 * sits in the URL path, which is never logged.
 */
export function telegramTransport(cfg: TelegramNotifyConfig, ctx: TransportContext): Transport {
  const base = cfg.api_url.replace(/\/+$/, '');
  const chatId = String(cfg.chat_id);
  const url = (method: string): string => `${base}/bot${readSecret(cfg, 'bot_token', ctx.env)}/${method}`;

  const call = async (method: string, body: unknown, timeoutMs?: number, signal?: AbortSignal): Promise<unknown> => {
    const label = `telegram ${method}`;
    const a = await ctx.http.call({
      method: 'POST',
      url: url(method),
      label,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(timeoutMs ? { timeoutMs } : {}),
      ...(signal ? { signal } : {}),
    });
    let reply: TgReply;
    try {
      reply = JSON.parse(a.text) as TgReply;
    } catch {
      // SyntaxError: a proxy page or a truncated reply, a retryable send error.
      ctx.http.expectOk(label, a);
      throw new SendError(`${label}: malformed JSON in HTTP ${a.status} reply: ${oneLine(a.text, 120)}`, {
        retryable: true,
        status: a.status,
      });
    }
    if (a.status >= 200 && a.status < 300 && reply.ok === true) return reply.result;
    const status = reply.error_code ?? a.status;
    const retryAfter = reply.parameters?.retry_after;
    const retryAfterMs = typeof retryAfter === 'number' ? retryAfter * 1000 : parseRetryAfter(a.headers['retry-after'], ctx.now());
    throw new SendError(`${label}: ${status} ${oneLine(reply.description ?? '', 200)}`, {
      retryable: retryableStatus(status),
      status,
      retryAfterMs,
    });
  };

  // Our username, from getMe: undefined until asked, null when the reply had none. It is
  // fetched before the first getUpdates, and a failed getMe fails the poll (the inbound loop
  // backs off and tries again, logging why): getMe needs the same endpoint and token as
  // getUpdates, so it fails only when getUpdates would too, and the updates wait unconfirmed
  // on Telegram's side until the name is known. Deciding without it would either run
  // `/pause@otherbot` or drop `/pause@ourbot` for good. Asked once per process: a rename in
  // BotFather takes effect when the bridge restarts.
  let self: string | null | undefined;
  const ownName = async (signal: AbortSignal): Promise<void> => {
    if (self !== undefined) return;
    const me = (await call('getMe', {}, 15_000, signal)) as { username?: unknown } | undefined;
    self = typeof me?.username === 'string' && me.username !== '' ? me.username : null;
  };

  return {
    name: cfg.name,
    type: 'telegram',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      const chunks = chunkText(renderText(msg), TELEGRAM_MAX_CHARS, 4, logPointer(msg));
      const replyTo = msg.replyTo?.platformMessageId;
      let first: string | undefined;
      for (const [i, text] of chunks.entries()) {
        // A recovery answers its alarm; when the alarm was deleted it is sent on its own.
        const reply = i === 0 && replyTo ? { reply_parameters: { message_id: Number(replyTo), allow_sending_without_reply: true } } : {};
        const sent = (await call('sendMessage', { chat_id: chatId, text, link_preview_options: { is_disabled: true }, ...reply })) as
          { message_id?: unknown } | undefined;
        if (i === 0 && typeof sent?.message_id === 'number') first = String(sent.message_id);
      }
      return first !== undefined ? { platformMessageId: first } : {};
    },
    botUsername: () => self ?? undefined,
    async poll(cursor, signal): Promise<PollResult> {
      await ownName(signal);
      const offset = cursor === undefined ? undefined : Number(cursor);
      // allowed_updates leaves out `edited_message` (an edit to "/stop" must not stop
      // anything); Telegram may still deliver other kinds queued before it took effect, so
      // anything but `message` is skipped below too.
      const result = await call(
        'getUpdates',
        { ...(offset !== undefined ? { offset } : {}), timeout: TELEGRAM_POLL_TIMEOUT_S, allowed_updates: ['message'] },
        (TELEGRAM_POLL_TIMEOUT_S + 15) * 1000,
        signal,
      );
      if (!Array.isArray(result)) throw new SendError('telegram getUpdates: result is not an array', { retryable: true });
      const messages: InboundMessage[] = [];
      let next = offset ?? 0;
      for (const u of result as Array<Record<string, unknown>>) {
        const id = u['update_id'];
        if (typeof id !== 'number') continue;
        next = Math.max(next, id + 1);
        const m = u['message'] as Record<string, unknown> | undefined;
        const text = m?.['text'];
        if (!m || typeof text !== 'string') continue;
        const from = m['from'] as { id?: unknown } | undefined;
        const chat = m['chat'] as { id?: unknown } | undefined;
        messages.push({
          platformMessageId: String(id),
          sender: String(from?.id ?? ''),
          chat: String(chat?.id ?? ''),
          text,
          ...(typeof m['date'] === 'number' ? { sentAtMs: m['date'] * 1000 } : {}),
        });
      }
      return { messages, cursor: String(next) };
    },
  };
}
