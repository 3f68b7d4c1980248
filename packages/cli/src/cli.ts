import yargs, { type Argv } from 'yargs';
import { EXIT } from '@agent-runner/core/errors';
import { VERSION } from '@agent-runner/core/version';
import type { CliContext, GlobalArgs } from './context.js';
import { reportError } from './output.js';

type Handler<A> = (ctx: CliContext, args: A) => number | Promise<number>;

/**
 * Runs a verb: awaits its exit code, turns errors into messages and sysexits codes, and
 * records the code on `process.exitCode` via the `exit` callback.
 */
function runner(ctx: CliContext, exit: (code: number) => void) {
  return <A extends GlobalArgs>(load: () => Promise<Handler<A>>) =>
    async (args: A): Promise<void> => {
      try {
        exit(await (await load())(ctx, args));
      } catch (e) {
        exit(reportError(ctx, e, Boolean(args.json)));
      }
    };
}

/**
 * Builds the yargs parser of every verb. Verbs are lazy: a handler imports its module only
 * when it runs.
 * @param exit receives the exit code of the verb that ran (the bin sets `process.exitCode`).
 */
export function buildParser(ctx: CliContext, exit: (code: number) => void = (c) => void (process.exitCode = c)): Argv {
  const run = runner(ctx, exit);
  const json = { json: { type: 'boolean', default: false, describe: 'Machine-readable JSON output' } } as const;
  return yargs()
    .scriptName('agent-runner')
    .usage('$0 <command> [options]\n\nKeeps a coding-agent CLI working round after round, unattended, under systemd.')
    .version(VERSION)
    .option('config', { alias: 'c', type: 'string', describe: 'Path of agent-runner.toml (default: $AGENT_RUNNER_CONFIG, else ./agent-runner.toml or a parent\'s)', global: true })
    .option('system', { type: 'boolean', describe: 'System mode: FHS state dirs and system units (default: user mode; or AGENT_RUNNER_MODE=system)', global: true })
    .command(
      'init',
      'Create agent-runner.toml and a starter prompt in this git work tree',
      (y) =>
        y
          .option('preset', { choices: ['claude', 'codex', 'gemini', 'aider', 'generic'] as const, default: 'claude' as const, describe: 'Agent CLI preset' })
          .option('force', { type: 'boolean', default: false, describe: 'Overwrite existing files' })
          .option('state-dir', { type: 'string', describe: 'Keep state in this directory (relative: inside the work tree, and git-ignored)' })
          .example('$0 init --preset claude', 'Scaffold a Claude Code project'),
      run(async () => (await import('./commands/init.js')).init),
    )
    .command('config', 'Inspect the configuration', (y) =>
      y
        .command(
          'check',
          'Validate agent-runner.toml and print it normalised (secrets redacted); exit 78 when invalid',
          (c) => c.options(json),
          run(async () => (await import('./commands/config-check.js')).configCheck),
        )
        .demandCommand(1, 'config: give a subcommand (check)'),
    )
    .command(
      'events',
      'Query and follow the event stream (JSON Lines with --json)',
      (y) =>
        y
          .options(json)
          .option('kind', { type: 'string', describe: 'Only these kinds (comma-separated)' })
          .option('since', { type: 'string', describe: 'Only events since a duration ago (30s, 15m, 1h, 2d) or an ISO time' })
          .option('round', { type: 'number', describe: 'Only events of this round' })
          .option('limit', { type: 'number', describe: 'At most N events (the newest N without --since); default 50 without --since/--follow' })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new events as they arrive' })
          .example('$0 events --kind round_end --since 1h --json | jq .classification', 'Classes of the last hour\'s rounds'),
      run(async () => (await import('./commands/events.js')).events),
    )
    .command(
      'doctor',
      'Check node, native modules, state dir, ledger, config and disk; exit 1 on any failure',
      (y) => y.options(json),
      run(async () => (await import('./commands/doctor.js')).doctor),
    )
    .demandCommand(1, 'Give a command; see --help')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .wrap(100)
    .fail((msg, err) => {
      if (err) throw err;
      ctx.stderr.write(`agent-runner: ${msg}\nRun 'agent-runner --help' for usage.\n`);
      exit(EXIT.USAGE);
      throw new Error(msg);
    });
}
