import { MAX_COUNT, MAX_ROUNDS, numberOption, sinceOption } from '../args.js';
import { JSON_OPTION } from '../options.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner events`. */
const EVENTS_OPTIONS = {
  ...JSON_OPTION,
  kind: { type: 'string', describe: 'Only these kinds (comma-separated)' },
  since: sinceOption({ describe: 'Only events since a duration ago (30s, 15m, 1h, 2d; at most 3650d) or an ISO time' }),
  round: numberOption(
    'round',
    { integer: true, min: 1, max: MAX_ROUNDS, what: 'a round number' },
    { describe: 'Only events of this round' },
  ),
  limit: numberOption(
    'limit',
    { integer: true, min: 1, max: MAX_COUNT, what: 'a whole number' },
    { describe: 'At most N events (the newest N without --since; default 50 without --since/--follow)' },
  ),
  follow: { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new events as they arrive' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner events`: `since` as typed (checked by the parser, resolved by the handler), `round` and `limit` checked numbers. */
export type EventsArgs = VerbArgs<typeof EVENTS_OPTIONS>;

/** `agent-runner events`: queries and follows the event stream (a fast verb, see `fast-path.ts`). */
export const EVENTS_VERB = {
  command: 'events',
  describe: 'Query and follow the event stream (JSON Lines with --json)',
  options: EVENTS_OPTIONS,
  examples: [['$0 events --kind round_end --since 1h --json | jq .classification', "Classes of the last hour's rounds"]],
  load: async () => (await import('../commands/events.js')).events,
} satisfies VerbDefinition<typeof EVENTS_OPTIONS>;
