import { MAX_COUNT, MAX_ROUNDS, numberOption } from '../args.js';
import { JSON_OPTION } from '../options.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner peek`. */
const PEEK_OPTIONS = {
  ...JSON_OPTION,
  select: { type: 'string', describe: 'Print only this field (dot path, e.g. system.agent_process_count)' },
  round: numberOption(
    'round',
    { integer: true, min: 1, max: MAX_ROUNDS, what: 'a round number', words: ['latest'] },
    { describe: "One round's record" },
  ),
  log: { type: 'boolean', describe: "Tail of the round's log (with --round; default latest)" },
  lines: numberOption(
    'lines',
    { integer: true, min: 1, max: MAX_COUNT, what: 'a whole number' },
    { default: 50, describe: 'Lines of --log' },
  ),
  raw: { type: 'boolean', describe: 'With --log: the output as the agent wrote it (default: its events as readable lines)' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner peek`: `round` a round number or `latest`, `lines` a count (default 50), both checked by the parser. */
export type PeekArgs = VerbArgs<typeof PEEK_OPTIONS>;

/** `agent-runner peek`: the snapshot a remote monitor polls (a fast verb, see `fast-path.ts`). */
export const PEEK_VERB = {
  command: 'peek',
  describe: 'Snapshot: service state, rounds, counts, back-off, stashes, disk, defenses',
  options: PEEK_OPTIONS,
  examples: [
    ['$0 peek --json | jq .rounds', 'The last rounds'],
    ['$0 peek --round latest --log | tail -40', 'What the agent did last'],
  ],
  load: async () => (await import('../commands/peek.js')).peek,
} satisfies VerbDefinition<typeof PEEK_OPTIONS>;
