import { AgentRunnerError } from '@agent-runner/core/errors';
import type { CliContext } from '../context.js';
import { execCommand, managerEnv } from '../systemd.js';
import { projectUnits } from '../systemd.js';
import { resolveService } from './service.js';
import type { LogsArgs } from '../verbs/logs.js';

/** The journalctl command line for a project's units, from those of `logs`' options given (exported for tests and `--print`). */
export function journalctlArgs(scope: 'user' | 'system', units: string[], args: Partial<LogsArgs>): string[] {
  const a: string[] = [];
  if (scope === 'user') a.push('--user');
  for (const u of units) a.push('-u', u);
  a.push('--no-pager');
  if (args.follow) a.push('--follow');
  if (args.lines !== undefined) a.push('--lines', String(args.lines));
  if (args.since) a.push('--since', args.since);
  if (args.priority) a.push('--priority', args.priority);
  if (args.output) a.push('--output', args.output);
  return a;
}

/**
 * `agent-runner logs [-f] [-n N] [--since T] [-p PRIO] [-o FORMAT]`: journalctl for every
 * unit of the project (serve, bridge, watchdog, monitor), in the detected mode. Lines carry
 * the priority serve gave them, so `-p warning` shows warnings and worse. Exits with
 * journalctl's code; with `-f` it runs until interrupted.
 * @throws AgentRunnerError ERR_AR_NOT_INSTALLED in foreground mode (the log is the terminal,
 *   or `<log_dir>/serve.out` after `agent-runner start`).
 */
export async function logs(ctx: CliContext, args: LogsArgs): Promise<number> {
  const { manager } = resolveService(ctx, args);
  if (manager.kind !== 'systemd') {
    throw new AgentRunnerError('ERR_AR_NOT_INSTALLED', 'no systemd units are installed for this project, so there is no journal to show', {
      hint: 'Foreground serve logs to its terminal (or <log_dir>/serve.out after `agent-runner start`); `agent-runner events` shows the event stream in every mode.',
    });
  }
  const { services } = projectUnits(manager.meta);
  const r = await execCommand('journalctl', journalctlArgs(manager.scope, services, args), {
    env: managerEnv(manager.scope, ctx.env),
    signal: ctx.signal,
    onStdout: (d) => void ctx.stdout.write(d),
  });
  if (r.stderr) ctx.stderr.write(r.stderr);
  if (r.signal && ctx.signal.aborted) return 0;
  return r.code ?? 1;
}
