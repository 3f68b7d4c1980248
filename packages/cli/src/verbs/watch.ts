import { numberOption } from '../args.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** `--interval` of `watch`, in seconds: at least 0.2 (each frame reads the ledger), at most an hour. */
const INTERVAL_OPTION = {
  interval: numberOption(
    'interval',
    { integer: false, min: 0.2, max: 3600, what: 'a number of seconds' },
    { default: 2, describe: 'Pause between refreshes' },
  ),
} as const satisfies OptionTable;

/** Arguments of `agent-runner watch`: `interval` in seconds (default 2). */
export type WatchArgs = VerbArgs<typeof INTERVAL_OPTION>;

/** `agent-runner watch`: the full-screen view of the runner. */
export const WATCH_VERB = {
  command: 'watch',
  describe:
    'Full-screen view of the runner: state, newest rounds, the live transcript (q quits, l transcript, e events); plain peek snapshots when not a terminal',
  options: INTERVAL_OPTION,
  load: async () => (await import('../commands/watch.js')).watch,
} satisfies VerbDefinition<typeof INTERVAL_OPTION>;
