import type { Options } from 'yargs';
import type { CliContext, GlobalArgs } from './context.js';
import { MAX_COUNT, MAX_ROUNDS, MAX_WAIT_S, numberOption, rejectInvalid, sinceOption } from './args.js';
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
  round: numberOption('round', { integer: true, min: 1, max: MAX_ROUNDS, what: 'a round number', words: ['latest'] }, { describe: 'One round\'s record' }),
  log: { type: 'boolean', describe: 'Tail of the round\'s log (with --round; default latest)' },
  lines: numberOption('lines', { integer: true, min: 1, max: MAX_COUNT, what: 'a whole number' }, { default: 50, describe: 'Lines of --log' }),
  raw: { type: 'boolean', describe: 'With --log: the output as the agent wrote it (default: its events as readable lines)' },
} as const satisfies Record<string, Options>;

/** Options of `agent-runner events`. */
export const EVENTS_OPTIONS = {
  ...JSON_OPTION,
  kind: { type: 'string', describe: 'Only these kinds (comma-separated)' },
  since: sinceOption({ describe: 'Only events since a duration ago (30s, 15m, 1h, 2d; at most 3650d) or an ISO time' }),
  round: numberOption('round', { integer: true, min: 1, max: MAX_ROUNDS, what: 'a round number' }, { describe: 'Only events of this round' }),
  limit: numberOption('limit', { integer: true, min: 1, max: MAX_COUNT, what: 'a whole number' }, { describe: 'At most N events (the newest N without --since; default 50 without --since/--follow)' }),
  follow: { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new events as they arrive' },
} as const satisfies Record<string, Options>;

/** `--max-rounds` of `serve`. */
export const MAX_ROUNDS_OPTION = {
  'max-rounds': numberOption('max-rounds', { integer: true, min: 0, max: MAX_ROUNDS, what: 'a whole number', note: '0 = no limit' }, { describe: 'Stop after N rounds (overrides runtime.max_rounds)' }),
} as const satisfies Record<string, Options>;

/** Options of `agent-runner serve`. */
export const SERVE_OPTIONS = {
  ...MAX_ROUNDS_OPTION,
  once: { type: 'boolean', default: false, describe: 'Run one round, then exit' },
} as const satisfies Record<string, Options>;

/** Options of `agent-runner round`. */
export const ROUND_OPTIONS = {
  phase: { type: 'string', describe: 'Run this phase instead of the next in rotation' },
} as const satisfies Record<string, Options>;

/** `--timeout` of `stop` and `kill`. */
export const TIMEOUT_OPTION = {
  timeout: numberOption('timeout', { integer: false, min: 0.1, max: MAX_WAIT_S, what: 'a number of seconds' }, { describe: 'Give up waiting after this long (exit 75)' }),
} as const satisfies Record<string, Options>;

/** `--interval` of `watch`: at least 0.2 s (each frame reads the ledger), at most an hour. */
export const INTERVAL_OPTION = {
  interval: numberOption('interval', { integer: false, min: 0.2, max: 3600, what: 'a number of seconds' }, { default: 2, describe: 'Pause between refreshes' }),
} as const satisfies Record<string, Options>;

/** `--lines` of `logs` (journalctl's: 0 with --follow prints only new lines). */
export const LOGS_LINES_OPTION = {
  lines: numberOption('lines', { integer: true, min: 0, max: MAX_COUNT, what: 'a whole number' }, { alias: 'n', describe: 'Last N lines' }),
} as const satisfies Record<string, Options>;

/** `--port` of `monitor` (0: any free port). */
export const PORT_OPTION = {
  port: numberOption('port', { integer: true, min: 0, max: 65535, what: 'a port number', note: '0 = any free port' }, { describe: 'HTTP port on 127.0.0.1 (http mode; with anomaly mode: /metrics and /api/state for the fleet)' }),
} as const satisfies Record<string, Options>;

/** Options of `agent-runner monitor`. */
export const MONITOR_OPTIONS = {
  ...JSON_OPTION,
  mode: { choices: ['anomaly', 'events', 'http'], default: 'anomaly', describe: 'anomaly: detectors and alerts; events: every new event as a JSON line; http: progress page on 127.0.0.1' },
  host: { type: 'string', array: true, describe: 'Host to poll: a [monitor.hosts] name or an SSH alias (repeatable: a fleet; default: every [monitor.hosts] table of a monitor config)' },
  ...PORT_OPTION,
  'accept-new-host-key': { type: 'boolean', default: false, describe: 'Trust and record the key of a host not yet in known_hosts (a changed key is always refused)' },
  'remote-command': { type: 'string', describe: 'agent-runner command on the hosts, replacing [monitor.hosts] config and remote_command (default monitor.remote_command)' },
  'ssh-config': { type: 'string', describe: 'ssh client config file (default ~/.ssh/config)' },
  once: { type: 'boolean', default: false, describe: 'Poll once, print a status line per host, exit 0 healthy, 1 alerts, 69 unreachable, 77 key refused' },
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
