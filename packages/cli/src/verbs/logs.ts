import { MAX_COUNT, numberOption } from '../args.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** `--lines` of `logs` (journalctl's: 0 with --follow prints only new lines). */
export const LOGS_LINES_OPTION = {
  lines: numberOption('lines', { integer: true, min: 0, max: MAX_COUNT, what: 'a whole number' }, { alias: 'n', describe: 'Last N lines' }),
} as const satisfies OptionTable;

/** Options of `agent-runner logs`: journalctl's, passed on. */
const LOGS_OPTIONS = {
  follow: { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new lines' },
  ...LOGS_LINES_OPTION,
  since: { type: 'string', describe: 'journalctl --since (e.g. "1 hour ago")' },
  priority: { alias: 'p', type: 'string', describe: 'journalctl --priority (e.g. warning)' },
  output: { alias: 'o', type: 'string', describe: 'journalctl --output (e.g. json, cat)' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner logs`. */
export type LogsArgs = VerbArgs<typeof LOGS_OPTIONS>;

/** `agent-runner logs`: the journal of the project's units. */
export const LOGS_VERB = {
  command: 'logs',
  describe: "The journal of the project's units (journalctl)",
  options: LOGS_OPTIONS,
  load: async () => (await import('../commands/logs.js')).logs,
} satisfies VerbDefinition<typeof LOGS_OPTIONS>;
