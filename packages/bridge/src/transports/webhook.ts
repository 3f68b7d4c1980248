import { createHmac } from 'node:crypto';
import type { WebhookNotifyConfig } from '@agent-runner/core/config';
import { readSecret } from '../secrets.js';
import type { OutMessage, SendResult, Transport, TransportContext } from '../transport.js';

/** Largest `body` sent in a webhook payload, characters (the payload stays well under 64 KiB). */
export const WEBHOOK_MAX_BODY_CHARS = 32_000;

/** Header carrying `sha256=<hex HMAC-SHA256(secret, raw request body)>`. */
export const SIGNATURE_HEADER = 'x-agent-runner-signature';

/**
 * Generic JSON webhook: `POST <url>` with
 * `{"v":1,"id","kind","severity","title","body","payload","sent_at"}` where `id` is the
 * outbox idempotency key (also in `Idempotency-Key`, so receivers can drop redeliveries).
 * When `secret_env`/`secret_file` is set the raw body is signed: header
 * `X-Agent-Runner-Signature: sha256=<hex>` (HMAC-SHA256, GitHub-style); `sent_at` inside the
 * signed body lets receivers reject replays. Any 2xx is success.
 */
export function webhookTransport(cfg: WebhookNotifyConfig, ctx: TransportContext): Transport {
  const url = cfg.url;
  return {
    name: cfg.name,
    type: 'webhook',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      const body = JSON.stringify({
        v: 1,
        id: msg.key,
        kind: msg.kind,
        severity: msg.severity,
        title: msg.title,
        body: msg.body.length > WEBHOOK_MAX_BODY_CHARS ? `${msg.body.slice(0, WEBHOOK_MAX_BODY_CHARS)}…` : msg.body,
        payload: msg.payload ?? null,
        sent_at: new Date(ctx.now()).toISOString(),
      });
      const secret = readSecret(cfg, 'secret', ctx.env, false);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'idempotency-key': msg.key,
        'user-agent': 'agent-runner-bridge',
      };
      if (secret) headers[SIGNATURE_HEADER] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      const a = await ctx.http.call({ method: 'POST', url, label: 'webhook', headers, body });
      ctx.http.expectOk('webhook', a);
      return {};
    },
  };
}
