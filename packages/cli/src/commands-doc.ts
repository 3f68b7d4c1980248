import { Writable } from 'node:stream';
import type { CliContext } from './context.js';
import { buildParser } from './cli.js';

/** `agent-runner ARGS --help` as text, from the parser itself (a parse callback captures it). */
async function helpOf(ctx: CliContext, args: string[]): Promise<string> {
  let text = '';
  await buildParser({ ...ctx, stdoutIsTTY: false }, () => {}).parseAsync([...args, '--help'], {}, (_err, _argv, output) => {
    text = output;
  });
  return text.trimEnd();
}

/** The verbs `--help` lists, including `config check`-style subcommands. */
const VERBS = [
  'init', 'config check', 'serve', 'round', 'stop', 'kill', 'peek', 'watch', 'events', 'doctor',
  'install', 'uninstall', 'start', 'restart', 'status', 'logs', 'upgrade',
  'bridge', 'notify test', 'monitor', 'watchdog', 'heal status', 'heal reset', 'hooks', 'hooks test',
];

/**
 * Renders docs/commands.md from the yargs definitions (`--help` of every verb), so the
 * reference is exactly what the CLI says.
 */
export async function renderCommandsDoc(ctx: CliContext): Promise<string> {
  const out = [
    '# Command reference',
    '',
    '<!-- Generated from packages/cli/src/cli.ts by `npm run docs`; do not edit. -->',
    '',
    'Exit codes follow sysexits(3): see [errors.md](errors.md). Observation verbs take `--json`.',
    '',
    '```text',
    await helpOf(ctx, []),
    '```',
  ];
  for (const verb of VERBS) {
    out.push('', `## agent-runner ${verb}`, '', '```text', await helpOf(ctx, verb.split(' ')), '```');
  }
  return `${out.join('\n')}\n`;
}

/** A context for rendering help only: nothing runs, so no process state is needed. */
export function docContext(): CliContext {
  const idle = new AbortController().signal;
  return { env: {}, cwd: '/', stdout: new Writable({ write: (_c, _e, cb) => cb() }), stderr: new Writable({ write: (_c, _e, cb) => cb() }), stdoutIsTTY: false, pid: 0, signal: idle, killSignal: idle, mode: 'user', nodeVersion: '', execPath: '', binPath: '', commandLine: [], kill: () => undefined, monoMs: () => 0 };
}
