import type { DiscordNotifyConfig } from '@agent-runner/core/config';
import { HttpClient } from '../http.js';
import { chunkText, logPointer, renderText } from '../format.js';
import { readSecret } from '../secrets.js';
import { parseRetryAfter, SendError } from '../send-error.js';
import type { OutMessage, SendResult, Transport, TransportContext } from '../transport.js';

/** Discord's limit on a message's `content`, characters (https://discord.com/developers/docs/resources/webhook#execute-webhook). */
export const DISCORD_MAX_CHARS = 2000;

/**
 * Discord webhook: `POST <webhook_url>?wait=true` with `{"content"}` (mentions disabled),
 * chunked at 2,000 characters, at most 3 chunks. The webhook URL is the secret
 * (`webhook_url_file`/`webhook_url_env`); pointing it at another host is how tests and
 * proxies redirect it. 429 replies carry `retry_after` (seconds, float) in the JSON body and
 * a `Retry-After` header.
 */
export function discordTransport(cfg: DiscordNotifyConfig, ctx: TransportContext): Transport {
  const postOne = async (content: string): Promise<string | undefined> => {
    const label = 'discord webhook';
    const raw = readSecret(cfg, 'webhook_url', ctx.env) as string;
    const url = raw.includes('?') ? `${raw}&wait=true` : `${raw}?wait=true`;
    const a = await ctx.http.call({
      method: 'POST',
      url,
      label,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content, allowed_mentions: { parse: [] } }),
    });
    if (a.status === 429) {
      let wait: number | undefined;
      try {
        const j = JSON.parse(a.text) as { retry_after?: unknown };
        if (typeof j.retry_after === 'number') wait = Math.ceil(j.retry_after * 1000);
      } catch {
        // SyntaxError, no JSON body: the Retry-After header decides
      }
      throw new SendError(`${label}: HTTP 429 rate limited`, {
        retryable: true,
        status: 429,
        retryAfterMs: wait ?? parseRetryAfter(a.headers['retry-after'], ctx.now()),
      });
    }
    ctx.http.expectOk(label, a);
    if (a.status === 204 || !a.text) return undefined;
    const m = HttpClient.json(label, a) as { id?: unknown };
    return typeof m.id === 'string' ? m.id : undefined;
  };
  return {
    name: cfg.name,
    type: 'discord',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      let first: string | undefined;
      for (const [i, text] of chunkText(renderText(msg), DISCORD_MAX_CHARS, 3, logPointer(msg)).entries()) {
        const id = await postOne(text);
        if (i === 0) first = id;
      }
      return first !== undefined ? { platformMessageId: first } : {};
    },
  };
}
