import type { CliContext } from '../context.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner round`. */
const ROUND_OPTIONS = {
  phase: { type: 'string', describe: 'Run this phase instead of the next in rotation' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner round`. */
export type RoundArgs = VerbArgs<typeof ROUND_OPTIONS>;

/** `agent-runner round`: one round of `serve`'s loop in the foreground (a fast verb, see `fast-path.ts`). */
export const ROUND_VERB = {
  command: 'round',
  describe: 'Run exactly one supervised round in the foreground',
  options: ROUND_OPTIONS,
  epilogue:
    "Returns when the round has ended, whatever its class: exit 0, or 77 (EX_NOPERM) when the agent's login was refused (log in, then run it again). Exit 64: bad arguments. Exit 75: another serve runs. Exit 78: configuration broken.",
  load: async () => {
    const { serve } = await import('../commands/serve.js');
    return (c: CliContext, args: RoundArgs) => serve(c, { ...args, 'max-rounds': 1 });
  },
} satisfies VerbDefinition<typeof ROUND_OPTIONS>;
