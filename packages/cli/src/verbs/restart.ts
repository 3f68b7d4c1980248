import type { VerbDefinition } from '../verb.js';

/** `agent-runner restart`: restarts the project after its current round. */
export const RESTART_VERB = {
  command: 'restart',
  describe: 'Restart the project gracefully (the current round finishes first)',
  load: async () => (await import('../commands/service.js')).restart,
} satisfies VerbDefinition;
