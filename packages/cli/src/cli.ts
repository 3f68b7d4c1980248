import yargs, { type Argv } from 'yargs';
import { EXIT } from '@agent-runner/core/errors';
import { VERSION } from '@agent-runner/core/version';
import type { CliContext, GlobalArgs } from './context.js';
import { GLOBAL_OPTIONS, verbRunner, type Handler } from './options.js';
import type { AnyVerb } from './verb.js';
import { BRIDGE_VERB } from './verbs/bridge.js';
import { CONFIG_VERB } from './verbs/config.js';
import { DOCTOR_VERB } from './verbs/doctor.js';
import { EVENTS_VERB } from './verbs/events.js';
import { HEAL_VERB } from './verbs/heal.js';
import { HOOKS_VERB } from './verbs/hooks.js';
import { INIT_VERB } from './verbs/init.js';
import { INSTALL_VERB } from './verbs/install.js';
import { KILL_VERB } from './verbs/kill.js';
import { LOGS_VERB } from './verbs/logs.js';
import { MONITOR_VERB } from './verbs/monitor.js';
import { NOTIFY_VERB } from './verbs/notify.js';
import { PEEK_VERB } from './verbs/peek.js';
import { RESTART_VERB } from './verbs/restart.js';
import { ROUND_VERB } from './verbs/round.js';
import { SERVE_VERB } from './verbs/serve.js';
import { START_VERB } from './verbs/start.js';
import { STATUS_VERB } from './verbs/status.js';
import { STOP_VERB } from './verbs/stop.js';
import { UNINSTALL_VERB } from './verbs/uninstall.js';
import { UPGRADE_VERB } from './verbs/upgrade.js';
import { WATCH_VERB } from './verbs/watch.js';
import { WATCHDOG_VERB } from './verbs/watchdog.js';

/**
 * Every verb, in `--help` order. Each is defined with its options, help and lazy handler in
 * `verbs/VERB.ts`; a new verb goes there and into its group here.
 */
export const VERBS: readonly AnyVerb[] = [
  // Setting a project up.
  INIT_VERB,
  CONFIG_VERB,
  // The round runner and what it does now.
  SERVE_VERB,
  ROUND_VERB,
  STOP_VERB,
  KILL_VERB,
  PEEK_VERB,
  WATCH_VERB,
  // The watchdog and its heal state.
  WATCHDOG_VERB,
  HEAL_VERB,
  // The systemd units.
  INSTALL_VERB,
  UNINSTALL_VERB,
  START_VERB,
  RESTART_VERB,
  STATUS_VERB,
  LOGS_VERB,
  UPGRADE_VERB,
  // Notifications and hooks.
  BRIDGE_VERB,
  NOTIFY_VERB,
  HOOKS_VERB,
  // Watching from outside.
  MONITOR_VERB,
  EVENTS_VERB,
  DOCTOR_VERB,
];

/** The wrapper of every verb's handler ({@link verbRunner}). */
type VerbRun = ReturnType<typeof verbRunner>;

/** The parser before its verbs: name, usage, version and the options every verb takes. */
function baseParser() {
  return yargs()
    .scriptName('agent-runner')
    .usage('$0 <command> [options]\n\nKeeps a coding-agent CLI working round after round, unattended, under systemd.')
    .version(VERSION)
    .options(GLOBAL_OPTIONS);
}

/**
 * Builds the yargs parser of every verb. Verbs are lazy: a handler imports its module only
 * when it runs.
 * @param exit receives the exit code of the verb that ran (the bin sets `process.exitCode`).
 */
export function buildParser(ctx: CliContext, exit: (code: number) => void): Argv {
  const run = verbRunner(ctx, exit);
  let y: Argv<GlobalArgs> = baseParser();
  for (const verb of VERBS) y = register(y, verb, run);
  return y
    .demandCommand(1, 'Give a command; see --help')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .wrap(100)
    .fail((msg, err) => {
      // Verbs never throw into yargs (`verbRunner` reports their errors), so an error here is
      // either yargs' own parse error — a YError, or yargs-parser's "Not enough arguments
      // following: X" of an option that needs a value (`requiresArg`) — which is a usage
      // error like `msg` alone, or a bug, reported as one by the bin.
      if (err && err.name !== 'YError' && !/^Not enough arguments following: /.test(err.message)) throw err;
      ctx.stderr.write(`agent-runner: ${msg}\nRun 'agent-runner --help' for usage.\n`);
      exit(EXIT.USAGE);
      throw new Error(msg);
    });
}

/**
 * Adds `verb` to `y` as its definition says: options, positionals, examples, subcommands,
 * epilogue, and the usage error of a verb that needs a subcommand; its handler through `run`.
 */
function register(y: Argv<GlobalArgs>, verb: AnyVerb, run: VerbRun): Argv<GlobalArgs> {
  const builder = (c: Argv<GlobalArgs>): Argv<GlobalArgs> => {
    if (verb.options) c = c.options(verb.options);
    for (const [name, p] of Object.entries(verb.positionals ?? {})) c = c.positional(name, p);
    for (const [command, what] of verb.examples ?? []) c = c.example(command, what);
    for (const sub of verb.subcommands ?? []) c = register(c, sub, run);
    if (verb.epilogue !== undefined) c = c.epilogue(verb.epilogue);
    if (verb.demandSubcommand !== undefined) c = c.demandCommand(1, verb.demandSubcommand);
    return c;
  };
  // The args the parser gives are those of the verb's options: `VerbDefinition` checks that its
  // handler takes them.
  return verb.load
    ? y.command(verb.command, verb.describe, builder, run(verb.load as () => Promise<Handler<GlobalArgs>>))
    : y.command(verb.command, verb.describe, builder);
}
