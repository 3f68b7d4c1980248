import { defaultDirs, projectPaths } from '@agent-runner/core/paths';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import { start } from '@agent-runner/monitor/index';
import type { CliContext, GlobalArgs } from '../context.js';
import { daemonLogger } from '../journal.js';
import { loadProjectConfig } from '../load.js';
import { out } from '../output.js';

/** Arguments of `agent-runner monitor`. */
export interface MonitorArgs extends GlobalArgs {
  mode: 'anomaly' | 'events' | 'http';
  host?: string[] | undefined;
  port?: number | undefined;
  'accept-new-host-key': boolean;
  'remote-command'?: string | undefined;
  'ssh-config'?: string | undefined;
  once: boolean;
}

/**
 * `agent-runner monitor [--mode anomaly|events|http] [--host ALIAS ...] [--port N] [--json]`:
 * watches the local project (its config) or remote hosts over SSH (then the local config is
 * optional: without one, the monitor keeps its alerts and events under the state directory of
 * a project named `monitor`). Exits 0 on SIGTERM, 75 on a restart request or when every host
 * gave up, 77 when every host's key was refused; with --once, after a status line per host: 0
 * healthy, 1 an alert active, 69 a host unreachable, 77 a host key refused.
 */
export async function monitor(ctx: CliContext, args: MonitorArgs): Promise<number> {
  const hosts = (args.host ?? []).flatMap((h) => String(h).split(',')).map((h) => h.trim()).filter(Boolean);
  let cfg: AgentRunnerConfig | undefined;
  try {
    cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  } catch (e) {
    if (!(hosts.length && isAgentRunnerError(e) && e.code === 'ERR_AR_CONFIG_NOT_FOUND' && args.config === undefined)) throw e;
  }
  const paths = cfg ? configPaths(cfg) : (() => {
    const d = defaultDirs('monitor', ctx.mode, ctx.env);
    return projectPaths('monitor', d.stateDir, d.logDir);
  })();
  const log = daemonLogger(ctx, 'monitor');
  return start(
    {
      cfg,
      paths,
      mode: args.mode,
      hosts,
      json: Boolean(args.json),
      port: args.port,
      acceptNewHostKey: args['accept-new-host-key'],
      remoteCommand: args['remote-command'],
      once: args.once,
      sshConfigFile: args['ssh-config'],
    },
    {
      pid: ctx.pid,
      argv: ctx.commandLine,
      cwd: ctx.cwd,
      ...(ctx.collectGarbage ? { collectGarbage: ctx.collectGarbage } : {}),
      env: ctx.env,
      stop: ctx.signal,
      log,
      now: Date.now,
      kill: ctx.kill,
      out: (line) => out(ctx, line),
    },
  );
}
