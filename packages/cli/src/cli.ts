import yargs, { type Argv } from 'yargs';
import { AGENT_PRESETS } from '@agent-runner/core/config/schema';
import { EXIT } from '@agent-runner/core/errors';
import { VERSION } from '@agent-runner/core/version';
import type { CliContext, GlobalArgs } from './context.js';
import { FAST_VERBS } from './fast-path.js';
import {
  EVENTS_OPTIONS, GLOBAL_OPTIONS, INTERVAL_OPTION, JSON_OPTION, LOGS_LINES_OPTION, MONITOR_OPTIONS, PEEK_OPTIONS, ROUND_OPTIONS, SERVE_OPTIONS, TIMEOUT_OPTION, verbRunner, type Handler,
} from './options.js';

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

/** A parser that every verb's args extend (the global options typed). */
type Parser = ReturnType<typeof baseParser>;

/**
 * Builds the yargs parser of every verb. Verbs are lazy: a handler imports its module only
 * when it runs.
 * @param exit receives the exit code of the verb that ran (the bin sets `process.exitCode`).
 */
export function buildParser(ctx: CliContext, exit: (code: number) => void): Argv {
  const run = verbRunner(ctx, exit);
  let y = baseParser();
  // In --help order.
  for (const add of [setupVerbs, runnerVerbs, healVerbs, unitVerbs, notifyVerbs, observeVerbs]) y = add(y, run);
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

/** Setting a project up: `init`, `config`. */
function setupVerbs(y: Parser, run: VerbRun): Parser {
  return y
    .command(
      'init',
      'Create agent-runner.toml and a starter prompt in this git work tree',
      (y) =>
        y
          .option('preset', { choices: AGENT_PRESETS, default: 'claude' as const, describe: 'Agent CLI preset' })
          .option('force', { type: 'boolean', default: false, describe: 'Overwrite existing files' })
          .option('state-dir', { type: 'string', describe: 'Keep state in this directory (relative: inside the work tree, and git-ignored)' })
          .options(JSON_OPTION)
          .example('$0 init --preset claude', 'Scaffold a Claude Code project'),
      run(async () => (await import('./commands/init.js')).init),
    )
    .command('config', 'Inspect the configuration', (y) =>
      y
        .command(
          'check',
          'Validate agent-runner.toml and print it normalised (secrets redacted); exit 78 when invalid',
          (c) => c.options(JSON_OPTION),
          run(async () => (await import('./commands/config-check.js')).configCheck),
        )
        .demandCommand(1, 'config: give a subcommand (check)'),
    );
}

/** The round runner and what it does now: `serve`, `round`, `stop`, `kill`, `peek`, `watch`. */
function runnerVerbs(y: Parser, run: VerbRun): Parser {
  return y
    .command(
      'serve',
      'Run rounds until a stop trigger (the main job; what the systemd unit runs)',
      (y) =>
        y
          .options(SERVE_OPTIONS)
          .epilogue(
            'Stops with exit 0 on max rounds, `agent-runner stop` (or touching the stop file), the agent\'s .agent-done sentinel, or SIGTERM (a running round finishes first; a second SIGTERM or `agent-runner kill` interrupts it). ' +
              'A bounded run (--once, --max-rounds N) exits right after its last round whatever its class, never waiting in a back-off or pause; exit 77 (EX_NOPERM) when that round failed authentication (log in, then run it again). ' +
              'A crash loop of the agent pauses rounds for runtime.crash_loop.cooldown_s, then tries one round; with cooldown_s = 0 serve exits 69 instead (not restarted). ' +
              'Exit 64: bad arguments. Exit 75: restart requested, or another serve runs. Exit 78: configuration broken.',
          ),
      run(FAST_VERBS.serve.load),
    )
    .command(
      'round',
      'Run exactly one supervised round in the foreground',
      (y) =>
        y
          .options(ROUND_OPTIONS)
          .epilogue('Returns when the round has ended, whatever its class: exit 0, or 77 (EX_NOPERM) when the agent\'s login was refused (log in, then run it again). Exit 64: bad arguments. Exit 75: another serve runs. Exit 78: configuration broken.'),
      run(FAST_VERBS.round.load),
    )
    .command(
      'stop',
      'Stop serve gracefully: the current round finishes; returns when serve is gone',
      (y) => y.options(TIMEOUT_OPTION),
      run(async () => (await import('./commands/lifecycle.js')).stop),
    )
    .command(
      'kill',
      'Interrupt the current round (its whole process group) and stop serve',
      (y) => y.options(TIMEOUT_OPTION),
      run(async () => (await import('./commands/lifecycle.js')).killServe),
    )
    .command(
      'peek',
      'Snapshot: service state, rounds, counts, back-off, stashes, disk, defenses',
      (y) =>
        y
          .options(PEEK_OPTIONS)
          .example('$0 peek --json | jq .rounds', 'The last rounds')
          .example('$0 peek --round latest --log | tail -40', 'What the agent did last'),
      run(FAST_VERBS.peek.load),
    )
    .command(
      'watch',
      'Full-screen view of the runner: state, newest rounds, the live transcript (q quits, l transcript, e events); plain peek snapshots when not a terminal',
      (y) => y.options(INTERVAL_OPTION),
      run(async () => (await import('./commands/watch.js')).watch),
    );
}

/** The watchdog and its heal state: `watchdog`, `heal`. */
function healVerbs(y: Parser, run: VerbRun): Parser {
  return y
    .command(
      'watchdog',
      'Judge the runner, bridge and local monitor and heal them through tiers (what the watchdog unit runs)',
      (y) => y.epilogue('Exit 0 on SIGTERM; 75 on its restart marker or when another watchdog runs. See `agent-runner heal status`.'),
      run(FAST_VERBS.watchdog.load),
    )
    .command('heal', 'The watchdog\'s heal state: status, breaker reset', (y) =>
      y
        .command(
          'status',
          'Each unit\'s verdict, evidence, heal tier and the next action the watchdog may take',
          (c) => c.options(JSON_OPTION),
          run(async () => (await import('./commands/heal.js')).healStatusCmd),
        )
        .command(
          'reset <unit>',
          'Close a unit\'s circuit breaker (recorded with who and why); the watchdog acts on it again',
          (c) =>
            c
              .options(JSON_OPTION)
              .positional('unit', { type: 'string', demandOption: true, describe: 'runner, bridge or monitor' })
              .option('reason', { type: 'string', demandOption: true, describe: 'Why (recorded in heal_actions)' })
              .example('$0 heal reset bridge --reason "fixed the token"', 'Let the watchdog heal the bridge again'),
          run(async () => (await import('./commands/heal.js')).healResetCmd as Handler<GlobalArgs>),
        )
        .demandCommand(1, 'heal: give a subcommand (status, reset)'),
    );
}

/** The systemd units: `install`, `uninstall`, `start`, `restart`, `status`, `logs`, `upgrade`. */
function unitVerbs(y: Parser, run: VerbRun): Parser {
  return y
    .command(
      'install',
      'Install the project\'s systemd units (user mode, or --system as root) and enable them',
      (y) =>
        y
          .option('bridge', { type: 'boolean', default: false, describe: 'Also install agent-runner-bridge@<project>' })
          .option('watchdog', { type: 'boolean', default: false, describe: 'Also install agent-runner-watchdog@<project>' })
          .option('monitor', { type: 'boolean', default: false, describe: 'Also install agent-runner-monitor@<project> (local)' })
          .option('monitor-host', { type: 'string', describe: 'Install agent-runner-monitor@HOST polling HOST over SSH' })
          .option('print', { type: 'boolean', default: false, describe: 'Print the files and commands; change nothing' })
          .option('now', { type: 'boolean', default: false, describe: 'Start the units after enabling them' })
          .option('run-as', { type: 'string', describe: 'System mode: the account the units run as (default $SUDO_USER)' })
          .option('allow-root', { type: 'boolean', default: false, describe: 'Allow units that run the agent as root' })
          .example('sudo $0 install --system --bridge --watchdog', 'System units running as the sudo caller')
          .example('$0 install --print', 'Show the rendered units'),
      run(async () => (await import('./commands/install.js')).install),
    )
    .command(
      'uninstall',
      'Stop, disable and remove the project\'s systemd units (state and logs are kept)',
      (y) => y.option('project', { type: 'string', describe: 'Project name, when its config is gone' }),
      run(async () => (await import('./commands/uninstall.js')).uninstall),
    )
    .command(
      'start',
      'Start the project (systemctl start agent-runner@<project>.target; without units: serve in the background)',
      (y) => y,
      run(async () => (await import('./commands/service.js')).start),
    )
    .command(
      'restart',
      'Restart the project gracefully (the current round finishes first)',
      (y) => y,
      run(async () => (await import('./commands/service.js')).restart),
    )
    .command(
      'status',
      'What systemd and the ledger say: unit states, main pid, since, last round; exit 3 when serve is not running',
      (y) => y.options(JSON_OPTION),
      run(async () => (await import('./commands/service.js')).status),
    )
    .command(
      'logs',
      'The journal of the project\'s units (journalctl)',
      (y) =>
        y
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new lines' })
          .options(LOGS_LINES_OPTION)
          .option('since', { type: 'string', describe: 'journalctl --since (e.g. "1 hour ago")' })
          .option('priority', { alias: 'p', type: 'string', describe: 'journalctl --priority (e.g. warning)' })
          .option('output', { alias: 'o', type: 'string', describe: 'journalctl --output (e.g. json, cat)' }),
      run(async () => (await import('./commands/logs.js')).logs),
    )
    .command(
      'upgrade',
      'Upgrade agent-runner (npm or checkout), smoke-check it, restart the units; roll back on failure',
      (y) =>
        y
          .option('target', { type: 'string', describe: 'Version, dist-tag or npm spec (default: latest)' })
          .option('restart', { type: 'boolean', default: true, describe: 'Stop and restart the installed units (--no-restart: package only)' }),
      run(async () => (await import('./commands/upgrade.js')).upgrade),
    );
}

/** Notifications and hooks: `bridge`, `notify`, `hooks`. */
function notifyVerbs(y: Parser, run: VerbRun): Parser {
  return y
    .command(
      'bridge',
      'Deliver the outbox to chat/webhook/email transports and take operator commands (what the bridge unit runs)',
      (y) => y.epilogue('Exit 0 on SIGTERM; 75 on its restart marker or when another bridge runs. Test a transport with `agent-runner notify test --transport NAME`.'),
      run(FAST_VERBS.bridge.load),
    )
    .command('notify', 'Notifications', (y) =>
      y
        .command(
          'test',
          'Queue a test notification; the running bridge delivers it',
          (c) => c.options(JSON_OPTION).option('transport', { type: 'string', describe: 'Only this [notify.NAME] (default: every enabled transport)' }),
          run(async () => (await import('./commands/notify.js')).notifyTest),
        )
        .demandCommand(1, 'notify: give a subcommand (test)'),
    )
    .command(
      'hooks',
      'List the configured [hooks.NAME] (name, event, enabled, command, timeout); `hooks test NAME` runs one',
      (y) =>
        y
          .options(JSON_OPTION)
          .command(
            'test <name>',
            'Run one hook once against the last round (no events written) and print its answer; exit 1 when it fails',
            (c) =>
              c
                .options(JSON_OPTION)
                .positional('name', { type: 'string', demandOption: true, describe: 'The hook ([hooks.NAME])' })
                .example('$0 hooks test next-todo', 'What the pre_round hook next-todo answers now')
                .epilogue(
                  'The hook gets the input serve (or, for a detector, the monitor) would give it now: the last round from the ledger, the persisted hook context, for pre_round the next round\'s prompt, for dirty_tree the work dir\'s dirty files. ' +
                    'It runs in the work dir under its timeout_s; nothing is recorded. Exit 0: it succeeded; 1: it failed (exit, signal, timeout, could not start, or an answer its event does not allow). Exit 64: no such hook. Exit 78: configuration broken.',
                ),
            run(async () => (await import('./commands/hooks.js')).hooksTest as Handler<GlobalArgs>),
          )
          .epilogue('See docs/hooks.md for what each event reads and may answer. Exit 78: configuration broken.'),
      run(async () => (await import('./commands/hooks.js')).hooksList),
    );
}

/** Watching from outside: `monitor`, `events`, `doctor`. */
function observeVerbs(y: Parser, run: VerbRun): Parser {
  return y
    .command(
      'monitor',
      'Watch the runner (here, or on --host ALIAS over SSH): anomaly detectors, event stream, HTTP page and /metrics',
      (y) =>
        y
          .options(MONITOR_OPTIONS)
          .example('$0 monitor --host pi', 'Watch a Pi from a laptop')
          .example('$0 monitor --mode events | jq .kind', 'Follow the event stream')
          .example('$0 monitor --mode http --port 8765', 'Progress page at http://127.0.0.1:8765/'),
      run(FAST_VERBS.monitor.load),
    )
    .command(
      'events',
      'Query and follow the event stream (JSON Lines with --json)',
      (y) =>
        y
          .options(EVENTS_OPTIONS)
          .example('$0 events --kind round_end --since 1h --json | jq .classification', 'Classes of the last hour\'s rounds'),
      run(FAST_VERBS.events.load),
    )
    .command(
      'doctor',
      'Check node, native modules, state dir, ledger, config and disk; exit 1 on any failure',
      (y) => y.options(JSON_OPTION),
      run(async () => (await import('./commands/doctor.js')).doctor),
    );
}
