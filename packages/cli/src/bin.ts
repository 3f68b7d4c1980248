#!/usr/bin/env node
// The only module that touches `process`: it turns argv, env, signals and exit codes into a
// CliContext and back. Verb implementations are imported lazily so `--help` and cheap verbs
// do not pay for SQLite, PTYs or the runner.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CliContext } from './context.js';
import { parseFast } from './fast-path.js';
import { verbRunner } from './options.js';
import { reportError } from './output.js';

// First SIGTERM/SIGINT: stop gracefully (a round in progress finishes, waits end at once).
// Second, or SIGQUIT (`agent-runner kill`): interrupt now (a round's process group is ended).
// Third: exit at once.
const stop = new AbortController();
const kill = new AbortController();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signals += 1;
    if (signals === 1) stop.abort(sig);
    else if (signals === 2) kill.abort(sig);
    else process.exit(130);
  });
}
process.on('SIGQUIT', () => {
  stop.abort('SIGQUIT');
  kill.abort('SIGQUIT');
});

const ctx: CliContext = {
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  stdoutIsTTY: Boolean(process.stdout.isTTY),
  columns: process.stdout.columns,
  pid: process.pid,
  signal: stop.signal,
  killSignal: kill.signal,
  mode: process.argv.includes('--system') || process.env['AGENT_RUNNER_MODE'] === 'system' ? 'system' : 'user',
  nodeVersion: process.versions.node,
  execPath: process.execPath,
  kill: (pid, signal) => void process.kill(pid, signal),
  monoMs: () => Number(process.hrtime.bigint() / 1_000_000n),
  binPath: realpathSync(fileURLToPath(import.meta.url)),
  commandLine: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
  ...(typeof globalThis.gc === 'function' ? { collectGarbage: globalThis.gc } : {}),
  ...(process.stdout.isTTY && process.stdin.isTTY
    ? {
        terminal: {
          size: () => ({ columns: process.stdout.columns, rows: process.stdout.rows }),
          onResize: (cb: () => void) => {
            process.stdout.on('resize', cb);
            return () => void process.stdout.off('resize', cb);
          },
          onKey: (cb: (key: string) => void) => {
            const data = (d: Buffer): void => cb(d.toString('utf8'));
            process.stdin.setRawMode(true);
            process.stdin.on('data', data).resume();
            return () => {
              process.stdin.off('data', data).pause();
              process.stdin.setRawMode(false);
            };
          },
        },
      }
    : {}),
};

const argv = process.argv.slice(2);
const setExit = (c: number): void => void (process.exitCode = c);
// The async wrapper turns a synchronous throw inside yargs (a usage error) into a rejection.
// A usage error has already been reported and set the exit code; anything else (a verb's
// definition or the parser failing to load, say) is reported here.
const code = await (async () => {
  const fast = await parseFast(argv);
  return fast ? verbRunner(ctx, setExit)(fast.load)(fast.args) : (await import('./cli.js')).buildParser(ctx, setExit).parseAsync(argv);
})().then(
  () => (process.exitCode as number | undefined) ?? 0,
  (e: unknown) => (process.exitCode as number | undefined) ?? reportError(ctx, e, false),
);
// Flush stdout and stderr before exiting: piping into `head` or `jq` must not lose the tail,
// nor a long error its end (a pipe takes 64 KiB; process.exit drops what is still queued).
const flushed = (s: NodeJS.WriteStream): Promise<void> =>
  new Promise((done) => (s.destroyed || !s.writable ? done() : s.write('', () => done())));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
