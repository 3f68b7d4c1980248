import { Writable } from 'node:stream';
import type { CliContext } from './context.js';
import { buildParser, VERBS } from './cli.js';
import type { AnyVerb } from './verb.js';

/** `agent-runner ARGS --help` as text, from the parser itself (a parse callback captures it). */
async function helpOf(ctx: CliContext, args: string[]): Promise<string> {
  let text = '';
  await buildParser({ ...ctx, stdoutIsTTY: false }, () => {}).parseAsync([...args, '--help'], {}, (_err, _argv, output) => {
    text = output;
  });
  return text.trimEnd();
}

/** The name of a verb's command without its positionals: `heal reset <unit>` → `heal reset`. */
const nameOf = (command: string): string => command.split(' ')[0] as string;

/**
 * Every verb and subcommand that runs something, in `--help` order (`config check`, not the
 * bare `config`, which only groups).
 */
function documented(verbs: readonly AnyVerb[], prefix = ''): string[] {
  return verbs.flatMap((v) => {
    const name = `${prefix}${nameOf(v.command)}`;
    return [...(v.load ? [name] : []), ...documented(v.subcommands ?? [], `${name} `)];
  });
}

/**
 * Renders docs/commands.md from the yargs definitions (`--help` of every verb), so the
 * reference is exactly what the CLI says.
 */
export async function renderCommandsDoc(ctx: CliContext): Promise<string> {
  const out = [
    '# Command reference',
    '',
    '<!-- Generated from the verb definitions (packages/cli/src/verbs/, in the order of cli.ts) by `npm run docs`; do not edit. -->',
    '',
    'Exit codes follow sysexits(3): see [errors.md](errors.md). Observation verbs take `--json`.',
    '',
    '```text',
    await helpOf(ctx, []),
    '```',
  ];
  for (const verb of documented(VERBS)) {
    out.push('', `## agent-runner ${verb}`, '', '```text', await helpOf(ctx, verb.split(' ')), '```');
  }
  return `${out.join('\n')}\n`;
}

/** A context for rendering help only: nothing runs, so no process state is needed. */
export function docContext(): CliContext {
  const idle = new AbortController().signal;
  return {
    env: {},
    cwd: '/',
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    stderr: new Writable({ write: (_c, _e, cb) => cb() }),
    stdoutIsTTY: false,
    pid: 0,
    signal: idle,
    killSignal: idle,
    mode: 'user',
    nodeVersion: '',
    execPath: '',
    binPath: '',
    commandLine: [],
    kill: () => undefined,
    monoMs: () => 0,
  };
}
