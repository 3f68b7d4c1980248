import type { NtfyNotifyConfig } from '@agent-runner/core/config';
import { logPointer } from '../format.js';
import { readSecret } from '../secrets.js';
import type { OutMessage, SendResult, Transport, TransportContext } from '../transport.js';

/** ntfy turns a message body over 4,096 bytes into an attachment (server `message-size-limit`). */
export const NTFY_MAX_BYTES = 4096;

/** ntfy priority by severity: 5 max/urgent, 4 high, 3 default, 2 low. */
const NTFY_PRIORITY: Record<string, string> = { critical: '5', error: '4', warning: '3', info: '2' };
/** The emoji tag by severity (ntfy shows known emoji short codes as emoji). */
const EMOJI: Record<string, string> = { info: 'information_source', warning: 'warning', error: 'x', critical: 'rotating_light' };

/**
 * ntfy (https://docs.ntfy.sh/publish/): `POST <server>/<topic>` with the body as the message
 * and headers `Title` (the title as is), `Priority` by severity ({@link NTFY_PRIORITY}) and
 * `Tags`: the severity's emoji (a recovery's: `white_check_mark`) and the kind, shown as a tag;
 * `Authorization: Bearer` when `token_env` / `token_file` is set. The body is cut to 4,096
 * bytes with a pointer to the full text.
 */
export function ntfyTransport(cfg: NtfyNotifyConfig, ctx: TransportContext): Transport {
  const server = cfg.server.replace(/\/+$/, '');
  const topic = cfg.topic;
  return {
    name: cfg.name,
    type: 'ntfy',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      const label = 'ntfy publish';
      const token = readSecret(cfg, 'token', ctx.env, false);
      const body = cutBytes(msg.body || msg.title, NTFY_MAX_BYTES, `\n… (truncated; ${logPointer(msg)})`);
      const a = await ctx.http.call({
        method: 'POST',
        url: `${server}/${encodeURIComponent(topic)}`,
        label,
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          title: headerText(msg.title),
          priority: NTFY_PRIORITY[msg.severity] ?? '3',
          tags: ntfyTags(msg),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
      ctx.http.expectOk(label, a);
      return {};
    },
  };
}

/** `Tags` of a message: severity emoji (or `white_check_mark` for a recovery), then the kind. */
export function ntfyTags(msg: Pick<OutMessage, 'severity' | 'kind' | 'payload'>): string {
  const recovery = (msg.payload as { phase?: unknown } | null)?.phase === 'recovery';
  const kind = msg.kind.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return [recovery ? 'white_check_mark' : (EMOJI[msg.severity] ?? 'bell'), kind].join(',');
}

/** `text` cut to at most `max` UTF-8 bytes (ending with `suffix` when cut), on a character boundary. */
export function cutBytes(text: string, max: number, suffix: string): string {
  if (Buffer.byteLength(text) <= max) return text;
  const room = max - Buffer.byteLength(suffix);
  let out = '';
  let used = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (used + n > room) break;
    out += ch;
    used += n;
  }
  return out + suffix;
}

/** A header value: ASCII as is, anything else as an RFC 2047 encoded word (ntfy decodes them). */
function headerText(s: string): string {
  const flat = s.replace(/[\r\n]+/g, ' ').slice(0, 250);
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, 'utf8').toString('base64')}?=`;
}
