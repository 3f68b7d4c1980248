// What several verbs share: the global options, `--json`, `stop`'s and `kill`'s `--timeout`, and
// the wrapper of every handler. A verb's own options are defined beside it, in `verbs/VERB.ts`.
import type { Options } from 'yargs';
import type { CliContext, GlobalArgs } from './context.js';
import { MAX_WAIT_S, numberOption, rejectInvalid } from './args.js';
import { reportError } from './output.js';

/** A verb's implementation: returns its exit code (sysexits), or throws an AgentRunnerError. */
export type Handler<A> = (ctx: CliContext, args: A) => number | Promise<number>;

/** Options every verb takes (yargs `global: true`). */
export const GLOBAL_OPTIONS = {
  config: {
    alias: 'c',
    type: 'string',
    describe: "Path of agent-runner.toml (default: $AGENT_RUNNER_CONFIG, else ./agent-runner.toml or a parent's)",
    global: true,
  },
  system: {
    type: 'boolean',
    describe: 'System mode: FHS state dirs and system units (default: user mode; or AGENT_RUNNER_MODE=system)',
    global: true,
  },
} as const satisfies Record<string, Options>;

/** `--json` of the observation verbs. */
export const JSON_OPTION = {
  json: { type: 'boolean', default: false, describe: 'Machine-readable JSON output' },
} as const satisfies Record<string, Options>;

/** `--timeout` of `stop` and `kill`. */
export const TIMEOUT_OPTION = {
  timeout: numberOption(
    'timeout',
    { integer: false, min: 0.1, max: MAX_WAIT_S, what: 'a number of seconds' },
    { describe: 'Give up waiting after this long (exit 75)' },
  ),
} as const satisfies Record<string, Options>;

/**
 * Wraps a lazily imported verb for the parser: rejects an invalid option value (a usage
 * error, see `args.ts`) before loading the verb, awaits its exit code, turns errors into
 * messages and sysexits codes, and records the code through `exit` (the bin sets
 * `process.exitCode`).
 */
export function verbRunner(ctx: CliContext, exit: (code: number) => void) {
  return <A extends GlobalArgs>(load: () => Promise<Handler<A>>) =>
    async (args: A): Promise<void> => {
      try {
        rejectInvalid(args as Record<string, unknown>);
        exit(await (await load())(ctx, args));
      } catch (e) {
        exit(reportError(ctx, e, Boolean(args.json)));
      }
    };
}
