import type { NotifyConfig, NotifyConfigOf, NotifyType } from '@agent-runner/core/config';
import type { Transport, TransportContext } from '../transport.js';
import { discordTransport } from './discord.js';
import { emailTransport } from './email.js';
import { matrixTransport } from './matrix.js';
import { ntfyTransport } from './ntfy.js';
import { slackTransport } from './slack.js';
import { telegramTransport } from './telegram.js';
import { webhookTransport } from './webhook.js';

/** The factory of each `type`, taking that type's own config. */
const FACTORIES: { [T in NotifyType]: (cfg: NotifyConfigOf<T>, ctx: TransportContext) => Transport } = {
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
  return build(cfg.type, cfg, ctx);
}

/** `FACTORIES[type]` on a config of that type: the type parameter pairs the two for the compiler. */
function build<T extends NotifyType>(type: T, cfg: NotifyConfigOf<T>, ctx: TransportContext): Transport {
  return FACTORIES[type](cfg, ctx);
}
