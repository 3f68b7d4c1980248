import type { Options } from 'yargs';
import type { CliContext, GlobalArgs } from './context.js';
import { reportError } from './output.js';

/** A verb's implementation: returns its exit code (sysexits), or throws an AgentRunnerError. */
export type Handler<A> = (ctx: CliContext, args: A) => number | Promise<number>;

/** Options every verb takes (yargs `global: true`). */
export const GLOBAL_OPTIONS = {
  config: { alias: 'c', type: 'string', describe: 'Path of agent-runner.toml (default: $AGENT_RUNNER_CONFIG, else ./agent-runner.toml or a parent\'s)', global: true },
  system: { type: 'boolean', describe: 'System mode: FHS state dirs and system units (default: user mode; or AGENT_RUNNER_MODE=system)', global: true },
} as const satisfies Record<string, Options>;

/** `--json` of the observation verbs. */
export const JSON_OPTION = { json: { type: 'boolean', default: false, describe: 'Machine-readable JSON output' } } as const satisfies Record<string, Options>;

/** Options of `agent-runner peek`. */
export const PEEK_OPTIONS = {
  ...JSON_OPTION,
  select: { type: 'string', describe: 'Print only this field (dot path, e.g. system.agent_process_count)' },
  round: { type: 'string', describe: 'One round\'s record: a number or "latest"' },
  log: { type: 'boolean', describe: 'Tail of the round\'s log (with --round; default latest)' },
  lines: { type: 'number', default: 50, describe: 'Lines of --log' },
} as const satisfies Record<string, Options>;

/** Options of `agent-runner events`. */
export const EVENTS_OPTIONS = {
  ...JSON_OPTION,
  kind: { type: 'string', describe: 'Only these kinds (comma-separated)' },
  since: { type: 'string', describe: 'Only events since a duration ago (30s, 15m, 1h, 2d) or an ISO time' },
  round: { type: 'number', describe: 'Only events of this round' },
  limit: { type: 'number', describe: 'At most N events (the newest N without --since); default 50 without --since/--follow' },
  follow: { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new events as they arrive' },
} as const satisfies Record<string, Options>;

/**
 * Wraps a lazily imported verb for the parser: awaits its exit code, turns errors into
 * messages and sysexits codes, and records the code through `exit` (the bin sets
 * `process.exitCode`).
 */
export function runner(ctx: CliContext, exit: (code: number) => void) {
  return <A extends GlobalArgs>(load: () => Promise<Handler<A>>) =>
    async (args: A): Promise<void> => {
      try {
        exit(await (await load())(ctx, args));
      } catch (e) {
        exit(reportError(ctx, e, Boolean(args.json)));
      }
    };
}
