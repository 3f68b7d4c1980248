import { start } from '@agent-runner/bridge/daemon';
import type { CliContext, GlobalArgs } from '../context.js';
import { daemonLogger } from '../journal.js';
import { loadProjectConfig } from '../load.js';

/**
 * `agent-runner bridge`: the notification/command daemon in the foreground (what
 * `agent-runner-bridge@P.service` runs). Exit 0 on SIGTERM, 75 for a restart request or when
 * another bridge of the project runs, 78 when the config is broken.
 */
export function bridge(ctx: CliContext, args: GlobalArgs): Promise<number> {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  return start(cfg, {
    pid: ctx.pid,
    argv: ctx.commandLine,
    cwd: ctx.cwd,
    env: ctx.env,
    ...(ctx.collectGarbage ? { collectGarbage: ctx.collectGarbage } : {}),
    stop: ctx.signal,
    log: daemonLogger(ctx, 'bridge'),
  });
}
