import type { VerbDefinition } from '../verb.js';

/** `agent-runner start`: starts the project's target (or serve in the background). */
export const START_VERB = {
  command: 'start',
  describe: 'Start the project (systemctl start agent-runner@<project>.target; without units: serve in the background)',
  load: async () => (await import('../commands/service.js')).start,
} satisfies VerbDefinition;
