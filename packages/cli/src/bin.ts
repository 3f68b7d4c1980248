#!/usr/bin/env node
// The only module that touches `process`: it turns argv, env, signals and exit codes into a
// CliContext and back. Verb implementations are imported lazily so `--help` and cheap verbs
// do not pay for SQLite, PTYs or the runner.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildParser } from './cli.js';
import type { CliContext } from './context.js';

const controller = new AbortController();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signals += 1;
    if (signals === 1) controller.abort(sig);
    else if (signals >= 3) process.exit(130);
  });
}

const ctx: CliContext = {
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  stdoutIsTTY: Boolean(process.stdout.isTTY),
  pid: process.pid,
  signal: controller.signal,
  mode: process.argv.includes('--system') || process.env['AGENT_RUNNER_MODE'] === 'system' ? 'system' : 'user',
  nodeVersion: process.versions.node,
  execPath: process.execPath,
  binPath: realpathSync(fileURLToPath(import.meta.url)),
};

const code = await buildParser(ctx).parseAsync(process.argv.slice(2)).then(
  () => (process.exitCode as number | undefined) ?? 0,
  () => (process.exitCode as number | undefined) ?? 64,
);
// Flush stdout before exiting: piping into `head` or `jq` must not lose the tail.
process.stdout.write('', () => process.exit(code));
