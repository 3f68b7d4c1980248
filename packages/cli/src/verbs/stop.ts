import { TIMEOUT_OPTION } from '../options.js';
import type { VerbArgs, VerbDefinition } from '../verb.js';

/** Arguments of `agent-runner stop` (and `kill`): `timeout` in seconds, checked by the parser. */
export type StopArgs = VerbArgs<typeof TIMEOUT_OPTION>;

/** `agent-runner stop`: ends serve after its current round. */
export const STOP_VERB = {
  command: 'stop',
  describe: 'Stop serve gracefully: the current round finishes; returns when serve is gone',
  options: TIMEOUT_OPTION,
  load: async () => (await import('../commands/lifecycle.js')).stop,
} satisfies VerbDefinition<typeof TIMEOUT_OPTION>;
