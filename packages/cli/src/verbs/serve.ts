import { MAX_ROUNDS, numberOption } from '../args.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** `--max-rounds` of `serve`: a whole number of rounds, 0 = no limit. */
export const MAX_ROUNDS_OPTION = {
  'max-rounds': numberOption(
    'max-rounds',
    { integer: true, min: 0, max: MAX_ROUNDS, what: 'a whole number', note: '0 = no limit' },
    { describe: 'Stop after N rounds (overrides runtime.max_rounds)' },
  ),
} as const satisfies OptionTable;

/** Options of `agent-runner serve`. */
const SERVE_OPTIONS = {
  ...MAX_ROUNDS_OPTION,
  once: { type: 'boolean', default: false, describe: 'Run one round, then exit' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner serve`: `max-rounds` checked by the parser (0 = no limit). */
export type ServeArgs = VerbArgs<typeof SERVE_OPTIONS>;

/** `agent-runner serve`: the round loop, what the systemd unit runs (a fast verb, see `fast-path.ts`). */
export const SERVE_VERB = {
  command: 'serve',
  describe: 'Run rounds until a stop trigger (the main job; what the systemd unit runs)',
  options: SERVE_OPTIONS,
  epilogue:
    "Stops with exit 0 on max rounds, `agent-runner stop` (or touching the stop file), the agent's .agent-done sentinel, or SIGTERM (a running round finishes first; a second SIGTERM or `agent-runner kill` interrupts it). " +
    'A bounded run (--once, --max-rounds N) exits right after its last round whatever its class, never waiting in a back-off or pause; exit 77 (EX_NOPERM) when that round failed authentication (log in, then run it again). ' +
    'A crash loop of the agent pauses rounds for runtime.crash_loop.cooldown_s, then tries one round; with cooldown_s = 0 serve exits 69 instead (not restarted). ' +
    'Exit 64: bad arguments. Exit 75: restart requested, or another serve runs. Exit 78: configuration broken.',
  load: async () => (await import('../commands/serve.js')).serve,
} satisfies VerbDefinition<typeof SERVE_OPTIONS>;
