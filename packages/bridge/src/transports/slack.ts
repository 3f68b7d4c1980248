import type { SlackNotifyConfig } from '@agent-runner/core/config';
import { sleep } from '@agent-runner/core/sleep';
import { HttpClient, oneLine } from '../http.js';
import { chunkText, logPointer, renderText } from '../format.js';
import { readSecret } from '../secrets.js';
import { SendError } from '../send-error.js';
import type { InboundMessage, OutMessage, PollResult, SendResult, Transport, TransportContext } from '../transport.js';

/**
 * Characters per Slack message. `text` may hold 40,000 characters, but Slack truncates
 * longer messages in the client and recommends staying under 4,000
 * (https://api.slack.com/methods/chat.postMessage#truncating).
 */
export const SLACK_MAX_CHARS = 3900;

/** Between two `conversations.history` polls, ms (Slack's tier 3 allows ~50 calls a minute). */
export const SLACK_POLL_INTERVAL_MS = 5_000;

/**
 * Slack: an incoming webhook (https://api.slack.com/messaging/webhooks; the URL is the secret,
 * `webhook_url_file`/`webhook_url_env`), or `chat.postMessage` with a bot token and `channel`
 * when `bot_token_env`/`bot_token_file` is set. Plain `text` (mrkdwn), chunked at 3,900
 * characters, at most 3 chunks, escaped so nothing in it can ping (see {@link escapeSlack}).
 * With the Web API a recovery goes into its alarm's thread (`thread_ts` = the alarm's `ts`). Errors: webhooks answer 4xx with a text reason; the Web API
 * answers 200 with `{"ok":false,"error":...}`; both send 429 with `Retry-After`.
 *
 * Commands (bot token mode only; needs the `channels:history` scope): `conversations.history`
 * of `channel` polled every 5 s with `oldest` = the newest `ts` seen (Slack has no long poll
 * without a public endpoint). The first poll only records the position.
 */
export function slackTransport(cfg: SlackNotifyConfig, ctx: TransportContext): Transport {
  const useApi = cfg.bot_token_env !== undefined || cfg.bot_token_file !== undefined;
  const apiBase = cfg.api_url.replace(/\/+$/, '');

  const postOne = async (text: string, threadTs: string | undefined): Promise<string | undefined> => {
    if (!useApi) {
      const label = 'slack webhook';
      const a = await ctx.http.call({
        method: 'POST',
        url: readSecret(cfg, 'webhook_url', ctx.env) as string,
        label,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
      ctx.http.expectOk(label, a);
      return undefined;
    }
    const label = 'slack chat.postMessage';
    const token = readSecret(cfg, 'bot_token', ctx.env) as string;
    const a = await ctx.http.call({
      method: 'POST',
      url: `${apiBase}/chat.postMessage`,
      label,
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` },
      body: JSON.stringify({ channel: cfg.channel, text, unfurl_links: false, ...(threadTs ? { thread_ts: threadTs } : {}) }),
    });
    ctx.http.expectOk(label, a);
    const reply = HttpClient.json(label, a) as { ok?: boolean; error?: string; ts?: unknown };
    if (reply.ok === true) return typeof reply.ts === 'string' ? reply.ts : undefined;
    const err = String(reply.error ?? 'unknown_error');
    // Slack's transient Web API errors; the rest (invalid_auth, channel_not_found, ...) are permanent.
    const retryable = ['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout'].includes(err);
    throw new SendError(`${label}: ${oneLine(err, 100)}`, { retryable, status: a.status });
  };

  // Commands come from `channel`: only a table that has one polls.
  const pollOf =
    (channel: string) =>
    async (cursor: string | undefined, signal: AbortSignal): Promise<PollResult> => {
      if (cursor !== undefined) await sleep(SLACK_POLL_INTERVAL_MS, signal);
      const label = 'slack conversations.history';
      const token = readSecret(cfg, 'bot_token', ctx.env) as string;
      const q = new URLSearchParams({ channel, limit: cursor === undefined ? '1' : '100', ...(cursor ? { oldest: cursor } : {}) });
      const a = await ctx.http.call({
        method: 'GET',
        url: `${apiBase}/conversations.history?${q.toString()}`,
        label,
        headers: { authorization: `Bearer ${token}` },
        signal,
      });
      ctx.http.expectOk(label, a);
      const reply = HttpClient.json(label, a) as {
        ok?: boolean;
        error?: string;
        messages?: Array<{ ts?: unknown; user?: unknown; text?: unknown; bot_id?: unknown }>;
      };
      if (reply.ok !== true)
        throw new SendError(`${label}: ${oneLine(String(reply.error ?? 'unknown_error'), 100)}`, {
          retryable: reply.error === 'ratelimited' || reply.error === 'internal_error',
        });
      let newest = cursor ?? '0';
      const messages: InboundMessage[] = [];
      // Newest first in Slack's reply; commands run oldest first.
      for (const m of [...(reply.messages ?? [])].reverse()) {
        if (typeof m.ts !== 'string') continue;
        if (tsAfter(m.ts, newest)) newest = m.ts;
        if (cursor === undefined || m.ts === cursor || typeof m.text !== 'string' || m.bot_id !== undefined) continue;
        messages.push({
          platformMessageId: m.ts,
          sender: String(m.user ?? ''),
          chat: channel,
          text: m.text,
          sentAtMs: Math.round(Number(m.ts) * 1000),
        });
      }
      if (newest === '0') newest = (ctx.now() / 1000).toFixed(6); // empty channel: start from now
      return { messages, cursor: newest, ...(cursor === undefined ? { initial: true } : {}) };
    };

  return {
    name: cfg.name,
    type: 'slack',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      // Incoming webhooks cannot thread (they return no ts): a recovery there is a plain message.
      const threadTs = msg.replyTo?.platformMessageId ?? undefined;
      let first: string | undefined;
      for (const [i, text] of chunkText(renderText(msg), SLACK_MAX_CHARS, 3, logPointer(msg)).entries()) {
        const ts = await postOne(escapeSlack(text), threadTs);
        if (i === 0) first = ts;
      }
      return first !== undefined ? { platformMessageId: first } : {};
    },
    ...(useApi && cfg.channel !== undefined ? { poll: pollOf(cfg.channel) } : {}),
  };
}

/**
 * Text that cannot mention anyone: `&`, `<`, `>` escaped as Slack's formatting docs require
 * (so `<!channel>`, `<!here>`, `<@U123>` and `<!subteam^…>` stay text), and a zero-width space
 * after the `@` of a bare `@here`/`@channel`/`@everyone`.
 */
export function escapeSlack(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@(here|channel|everyone)\b/gi, '@\u200b$1');
}

/** Slack `ts` values (`seconds.micros`) compared exactly (floats lose the micros). */
export function tsAfter(a: string, b: string): boolean {
  const [as = '0', af = ''] = a.split('.');
  const [bs = '0', bf = ''] = b.split('.');
  if (Number(as) !== Number(bs)) return Number(as) > Number(bs);
  return af.padEnd(6, '0') > bf.padEnd(6, '0');
}
