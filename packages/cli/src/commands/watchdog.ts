import { start, type WatchdogDeps } from '@agent-runner/watchdog/daemon';
import type { Target } from '@agent-runner/watchdog/tiers';
import type { CliContext, GlobalArgs } from '../context.js';
import { daemonLogger } from '../journal.js';
import { loadProjectConfig } from '../load.js';

/**
 * `agent-runner watchdog`: judges the runner, bridge and local monitor and heals them through
 * the tiers (what `agent-runner-watchdog@P.service` runs). Exit 0 on SIGTERM (75 when a restart
 * of it is pending), 75 on its restart marker or when another watchdog is running.
 */
export function watchdog(ctx: CliContext, args: GlobalArgs): Promise<number> {
  const cfg = loadProjectConfig(ctx, args);
  const verb: Record<Target, string[]> = { runner: ['serve'], bridge: ['bridge'], monitor: ['monitor', '--mode', 'events'] };
  const deps: WatchdogDeps = {
    pid: ctx.pid,
    env: ctx.env,
    stop: ctx.signal,
    log: daemonLogger(ctx, 'watchdog'),
    ...(ctx.collectGarbage ? { collectGarbage: ctx.collectGarbage } : {}),
    kill: ctx.kill,
    mono: ctx.monoMs,
    argv: ctx.commandLine,
    cwd: ctx.cwd,
    // Foreground mode, for a unit that recorded no command line: this same node and CLI, the same config and mode.
    defaultRespawn: (t) => [ctx.execPath, ctx.binPath, ...verb[t], '--config', cfg.source, ...(ctx.mode === 'system' ? ['--system'] : [])],
  };
  return start(cfg, deps);
}
