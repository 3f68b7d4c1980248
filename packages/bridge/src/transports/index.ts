import type { NotifyConfig } from '@agent-runner/core/config';
import type { Transport, TransportContext } from '../transport.js';
import { discordTransport } from './discord.js';
import { emailTransport } from './email.js';
import { matrixTransport } from './matrix.js';
import { ntfyTransport } from './ntfy.js';
import { slackTransport } from './slack.js';
import { telegramTransport } from './telegram.js';
import { webhookTransport } from './webhook.js';

const FACTORIES: Record<NotifyConfig['type'], (cfg: NotifyConfig, ctx: TransportContext) => Transport> = {
  telegram: telegramTransport,
  slack: slackTransport,
  discord: discordTransport,
  matrix: matrixTransport,
  ntfy: ntfyTransport,
  webhook: webhookTransport,
  email: emailTransport,
};

/** Builds the transport of one `[notify.NAME]` table. */
export function createTransport(cfg: NotifyConfig, ctx: TransportContext): Transport {
  return FACTORIES[cfg.type](cfg, ctx);
}
