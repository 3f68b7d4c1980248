import { JSON_OPTION } from '../options.js';
import type { VerbDefinition } from '../verb.js';

/** `agent-runner status`: the units' states and the last round; exit 3 when serve is not running. */
export const STATUS_VERB = {
  command: 'status',
  describe: 'What systemd and the ledger say: unit states, main pid, since, last round; exit 3 when serve is not running',
  options: JSON_OPTION,
  load: async () => (await import('../commands/service.js')).status,
} satisfies VerbDefinition<typeof JSON_OPTION>;
