import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner uninstall`. */
const UNINSTALL_OPTIONS = {
  project: { type: 'string', describe: 'Project name, when its config is gone' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner uninstall`. */
export type UninstallArgs = VerbArgs<typeof UNINSTALL_OPTIONS>;

/** `agent-runner uninstall`: stops, disables and removes the project's units. */
export const UNINSTALL_VERB = {
  command: 'uninstall',
  describe: "Stop, disable and remove the project's systemd units (state and logs are kept)",
  options: UNINSTALL_OPTIONS,
  load: async () => (await import('../commands/uninstall.js')).uninstall,
} satisfies VerbDefinition<typeof UNINSTALL_OPTIONS>;
