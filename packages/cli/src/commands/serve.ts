import { EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { serve as runServe } from '@agent-runner/runner/serve';
import { recordBrokenConfig } from '../config-broken.js';
import type { CliContext } from '../context.js';
import { daemonLogger } from '../journal.js';
import { loadProjectConfig } from '../load.js';
import type { RoundArgs } from '../verbs/round.js';
import type { ServeArgs } from '../verbs/serve.js';

/** What the loop takes: `serve`'s arguments, or `round`'s with `'max-rounds': 1` (so each is optional). */
type LoopArgs = Partial<ServeArgs & RoundArgs>;

/**
 * `agent-runner serve [--max-rounds N] [--once]` and `agent-runner round`: the round loop in
 * the foreground (systemd runs `serve`). Exit codes: 0 clean stop (max rounds, stop request,
 * `.agent-done`, signal), 64 bad arguments, 69 crash loop with `cooldown_s = 0`, 75 restart
 * requested / another serve running, 77 the last round of a bounded run failed authentication,
 * 78 configuration broken.
 */
export function serve(ctx: CliContext, args: LoopArgs): Promise<number> {
  const maxRounds = args.once ? 1 : args['max-rounds'];
  let cfg;
  try {
    cfg = loadProjectConfig(ctx, args);
  } catch (e) {
    if (isAgentRunnerError(e) && e.exitCode === EXIT.CONFIG) recordBrokenConfig(ctx, e);
    throw e;
  }
  return runServe(cfg, {
    pid: ctx.pid,
    env: ctx.env,
    stopSignal: ctx.signal,
    killSignal: ctx.killSignal,
    kill: ctx.kill,
    log: daemonLogger(ctx, 'serve'),
    argv: ctx.commandLine,
    cwd: ctx.cwd,
    ...(ctx.collectGarbage ? { collectGarbage: ctx.collectGarbage } : {}),
    ...(maxRounds !== undefined ? { maxRounds } : {}),
    ...(args.phase !== undefined ? { phase: args.phase } : {}),
  });
}
