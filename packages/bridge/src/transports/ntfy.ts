import type { NotifyConfig } from '@agent-runner/core/config';
import { logPointer, renderText } from '../format.js';
import { readSecret } from '../secrets.js';
import type { OutMessage, Transport, TransportContext } from '../transport.js';

/** ntfy turns a message body over 4,096 bytes into an attachment (server `message-size-limit`). */
export const NTFY_MAX_BYTES = 4096;

const PRIORITY: Record<string, string> = { info: '3', warning: '4', error: '4', critical: '5' };
const TAGS: Record<string, string> = { info: 'information_source', warning: 'warning', error: 'x', critical: 'rotating_light' };

/**
 * ntfy (https://docs.ntfy.sh/publish/): `POST <server>/<topic>` with the body as the message
 * and `Title`, `Priority` (1-5), `Tags` headers; `Authorization: Bearer` when `token_env` /
 * `token_file` is set. The body is cut to 4,096 bytes with a pointer to the full text.
 */
export function ntfyTransport(cfg: NotifyConfig, ctx: TransportContext): Transport {
  const server = String(cfg['server'] ?? 'https://ntfy.sh').replace(/\/+$/, '');
  const topic = String(cfg['topic']);
  return {
    name: cfg.name,
    type: 'ntfy',
    config: cfg,
    async send(msg: OutMessage) {
      const label = 'ntfy publish';
      const token = readSecret(cfg, 'token', ctx.env, false);
      const body = cutBytes(msg.body || msg.title, NTFY_MAX_BYTES, `\n… (truncated; ${logPointer(msg)})`);
      const a = await ctx.http.call({
        method: 'POST',
        url: `${server}/${encodeURIComponent(topic)}`,
        label,
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          title: headerText(renderText({ ...msg, body: '' }, { marks: false })),
          priority: PRIORITY[msg.severity] ?? '3',
          tags: TAGS[msg.severity] ?? 'bell',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
      ctx.http.expectOk(label, a);
    },
  };
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
