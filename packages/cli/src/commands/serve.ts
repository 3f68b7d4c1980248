import { isAgentRunnerError } from '@agent-runner/core/errors';
import { serve as runServe } from '@agent-runner/runner/serve';
import { recordBrokenConfig } from '../config-broken.js';
import type { CliContext, GlobalArgs } from '../context.js';
import { daemonLogger } from '../journal.js';
import { loadProjectConfig } from '../load.js';

/** Arguments of `agent-runner serve` and `agent-runner round`. */
export interface ServeArgs extends GlobalArgs {
  'max-rounds'?: number | undefined;
  once?: boolean | undefined;
  phase?: string | undefined;
}

/**
 * `agent-runner serve [--max-rounds N] [--once]`: the round loop in the foreground (systemd
 * runs exactly this). Exit codes: 0 clean stop (max rounds, stop request, `.agent-done`,
 * signal), 69 crash loop, 75 restart requested / another serve running, 78 configuration
 * broken.
 */
export function serve(ctx: CliContext, args: ServeArgs): Promise<number> {
  let cfg;
  try {
    cfg = loadProjectConfig(ctx, args);
  } catch (e) {
    if (isAgentRunnerError(e) && e.exitCode === 78) recordBrokenConfig(ctx, e);
    throw e;
  }
  const maxRounds = args.once ? 1 : args['max-rounds'];
  return runServe(cfg, {
    pid: ctx.pid,
    env: ctx.env,
    stopSignal: ctx.signal,
    killSignal: ctx.killSignal,
    kill: ctx.kill,
    log: daemonLogger(ctx, 'serve'),
    ...(ctx.collectGarbage ? { collectGarbage: ctx.collectGarbage } : {}),
    ...(maxRounds !== undefined ? { maxRounds } : {}),
    ...(args.phase !== undefined ? { phase: args.phase } : {}),
  });
}
