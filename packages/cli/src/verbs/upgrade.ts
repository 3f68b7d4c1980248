import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner upgrade`. */
const UPGRADE_OPTIONS = {
  target: { type: 'string', describe: 'Version, dist-tag or npm spec (default: latest)' },
  restart: { type: 'boolean', default: true, describe: 'Stop and restart the installed units (--no-restart: package only)' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner upgrade`: `restart` is false with `--no-restart` (the package only). */
export type UpgradeArgs = VerbArgs<typeof UPGRADE_OPTIONS>;

/** `agent-runner upgrade`: upgrades the package, smoke-checks it and restarts the units. */
export const UPGRADE_VERB = {
  command: 'upgrade',
  describe: 'Upgrade agent-runner (npm or checkout), smoke-check it, restart the units; roll back on failure',
  options: UPGRADE_OPTIONS,
  load: async () => (await import('../commands/upgrade.js')).upgrade,
} satisfies VerbDefinition<typeof UPGRADE_OPTIONS>;
