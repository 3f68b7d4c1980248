import { AGENT_PRESETS } from '@agent-runner/core/config/schema';
import { JSON_OPTION } from '../options.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner init`. */
const INIT_OPTIONS = {
  preset: { choices: AGENT_PRESETS, default: 'claude' as const, describe: 'Agent CLI preset' },
  force: { type: 'boolean', default: false, describe: 'Overwrite existing files' },
  'state-dir': { type: 'string', describe: 'Keep state in this directory (relative: inside the work tree, and git-ignored)' },
  ...JSON_OPTION,
} as const satisfies OptionTable;

/** Arguments of `agent-runner init`: `preset` is one of `AGENT_PRESETS`. */
export type InitArgs = VerbArgs<typeof INIT_OPTIONS>;

/** `agent-runner init`: scaffolds agent-runner.toml and a starter prompt. */
export const INIT_VERB = {
  command: 'init',
  describe: 'Create agent-runner.toml and a starter prompt in this git work tree',
  options: INIT_OPTIONS,
  examples: [['$0 init --preset claude', 'Scaffold a Claude Code project']],
  load: async () => (await import('../commands/init.js')).init,
} satisfies VerbDefinition<typeof INIT_OPTIONS>;
