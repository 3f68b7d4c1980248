import { JSON_OPTION } from '../options.js';
import type { VerbDefinition } from '../verb.js';

/** `agent-runner doctor`: checks the installation; exit 1 on any failure. */
export const DOCTOR_VERB = {
  command: 'doctor',
  describe: 'Check node, native modules, state dir, ledger, config and disk; exit 1 on any failure',
  options: JSON_OPTION,
  load: async () => (await import('../commands/doctor.js')).doctor,
} satisfies VerbDefinition<typeof JSON_OPTION>;
