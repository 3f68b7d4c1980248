import { createHash } from 'node:crypto';
import type { EmailNotifyConfig } from '@agent-runner/core/config';
import { truncate } from '../format.js';
import { readSecret } from '../secrets.js';
import { SendError } from '../send-error.js';
import type { OutMessage, SendResult, Transport, TransportContext } from '../transport.js';

/** Largest text body mailed, characters. */
export const EMAIL_MAX_CHARS = 100_000;

/**
 * Email over SMTP with nodemailer: `smtp_host`:`smtp_port`, STARTTLS required when `starttls`
 * (default), AUTH with `username` and `password_file`/`password_env` when a username is set.
 * Subject = the title as is; severity and kind in `X-Agent-Runner-*` headers (critical also
 * `Importance: high`). The Message-ID is derived from the idempotency key, so a resent row
 * is the same message in mail clients, and a recovery threads under its alarm
 * (`In-Reply-To`/`References` = the alarm's Message-ID). SMTP 4xx replies and connection failures are retried; 5xx are
 * permanent.
 */
export function emailTransport(cfg: EmailNotifyConfig, ctx: TransportContext): Transport {
  const to = cfg.to.join(', ');
  const from = cfg.from;
  return {
    name: cfg.name,
    type: 'email',
    config: cfg,
    async send(msg: OutMessage): Promise<SendResult> {
      const user = cfg.username;
      const pass = user ? readSecret(cfg, 'password', ctx.env) : undefined;
      const starttls = cfg.starttls;
      // Loaded on first use: most bridges never mail, and the module costs startup time.
      const { default: nodemailer } = await import('nodemailer');
      const transporter = nodemailer.createTransport({
        host: cfg.smtp_host,
        port: cfg.smtp_port,
        secure: cfg.smtp_port === 465,
        requireTLS: starttls,
        ignoreTLS: !starttls,
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 30_000,
        ...(user ? { auth: { user, pass } } : {}),
      });
      const parent = msg.replyTo ? messageId(msg.replyTo.key) : undefined;
      try {
        await transporter.sendMail({
          from,
          to,
          subject: truncate(msg.title.replace(/[\r\n]+/g, ' '), 200),
          text: truncate(msg.body || msg.title, EMAIL_MAX_CHARS),
          messageId: messageId(msg.key),
          ...(parent ? { inReplyTo: parent, references: [parent] } : {}),
          headers: {
            'X-Agent-Runner-Kind': msg.kind,
            'X-Agent-Runner-Severity': msg.severity,
            ...(msg.severity === 'critical' ? { Importance: 'high', 'X-Priority': '1' } : {}),
          },
        });
        return {};
      } catch (e) {
        const err = e as { responseCode?: number; code?: string; message?: string };
        const code = err.responseCode;
        throw new SendError(
          `email: ${code ? `SMTP ${code} ` : ''}${err.code ?? ''} ${(err.message ?? '').split('\n')[0]?.slice(0, 200) ?? ''}`
            .replace(/\s+/g, ' ')
            .trim(),
          {
            retryable: code === undefined || code < 500,
            ...(code !== undefined ? { status: code } : {}),
          },
        );
      } finally {
        transporter.close();
      }
    },
  };
}

/** The Message-ID of the mail of outbox row `key`. */
function messageId(key: string): string {
  return `<${createHash('sha256').update(key).digest('hex').slice(0, 32)}@agent-runner>`;
}
