import { JSON_OPTION } from '../options.js';
import type { VerbDefinition } from '../verb.js';

/** `agent-runner config check`: validates the config and prints it normalised. */
const CONFIG_CHECK_VERB = {
  command: 'check',
  describe: 'Validate agent-runner.toml and print it normalised (secrets redacted); exit 78 when invalid',
  options: JSON_OPTION,
  load: async () => (await import('../commands/config-check.js')).configCheck,
} satisfies VerbDefinition<typeof JSON_OPTION>;

/** `agent-runner config`: groups the configuration's subcommands (`check`). */
export const CONFIG_VERB = {
  command: 'config',
  describe: 'Inspect the configuration',
  subcommands: [CONFIG_CHECK_VERB],
  demandSubcommand: 'config: give a subcommand (check)',
} satisfies VerbDefinition;
