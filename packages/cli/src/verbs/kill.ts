import { TIMEOUT_OPTION } from '../options.js';
import type { VerbArgs, VerbDefinition } from '../verb.js';

/** Arguments of `agent-runner kill` (as `stop`'s): `timeout` in seconds, checked by the parser. */
export type KillArgs = VerbArgs<typeof TIMEOUT_OPTION>;

/** `agent-runner kill`: interrupts the current round and stops serve. */
export const KILL_VERB = {
  command: 'kill',
  describe: 'Interrupt the current round (its whole process group) and stop serve',
  options: TIMEOUT_OPTION,
  load: async () => (await import('../commands/lifecycle.js')).killServe,
} satisfies VerbDefinition<typeof TIMEOUT_OPTION>;
