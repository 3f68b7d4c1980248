import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDirs, projectPaths } from '@agent-runner/core/paths';
import { configPaths, loadMonitorConfig } from '@agent-runner/core/config';
import { AgentRunnerError, isAgentRunnerError } from '@agent-runner/core/errors';
import { start } from '@agent-runner/monitor/index';
import type { CliContext, GlobalArgs } from '../context.js';
import { daemonLogger } from '../journal.js';
import { effectiveMode, projectConfigFile } from '../load.js';
import { out } from '../output.js';
import type { MonitorArgs } from '../verbs/monitor.js';

/**
 * The monitor's config file: the project's (`--config`, `$AGENT_RUNNER_CONFIG`, cwd upwards),
 * else its own (`$XDG_CONFIG_HOME/agent-runner/monitor.toml`, `/etc/agent-runner/monitor.toml`
 * in system mode) when that exists and `$AGENT_RUNNER_CONFIG` is unset, else none when hosts
 * are named.
 * @throws AgentRunnerError ERR_AR_CONFIG_NOT_FOUND when none is found and no host is named, or
 * the `--config` file is missing.
 */
function monitorConfigFile(ctx: CliContext, args: GlobalArgs, hostsNamed: boolean): string | undefined {
  try {
    return projectConfigFile(ctx, args);
  } catch (e) {
    if (args.config !== undefined || !isAgentRunnerError(e) || e.code !== 'ERR_AR_CONFIG_NOT_FOUND') throw e;
    // A unit's $AGENT_RUNNER_CONFIG names its project's config; a monitor of named hosts can do without.
    if (ctx.env['AGENT_RUNNER_CONFIG'] !== undefined) {
      if (hostsNamed) return undefined;
      throw e;
    }
    const own =
      ctx.mode === 'system'
        ? '/etc/agent-runner/monitor.toml'
        : join(ctx.env['XDG_CONFIG_HOME'] || join(ctx.env['HOME'] ?? '/', '.config'), 'agent-runner', 'monitor.toml');
    if (existsSync(own)) return own;
    if (hostsNamed) return undefined;
    throw new AgentRunnerError('ERR_AR_CONFIG_NOT_FOUND', `${e.message}, and no monitor config at ${own}`, {
      hint: 'Pass --config PATH, run in the project, give --host ALIAS, or list hosts in [monitor.hosts.NAME] tables of that file.',
    });
  }
}

/**
 * `agent-runner monitor [--mode anomaly|events|http] [--host ALIAS ...] [--port N] [--json]`:
 * watches the local project (its config) or remote hosts over SSH: those named, else every
 * `[monitor.hosts.NAME]` of a monitor's own config (then a project config is optional: without
 * one, the monitor keeps its alerts and events under the state directory of a project named
 * `monitor`). Exits 0 on SIGTERM, 75 on a restart request or when every host
 * gave up, 77 when every host's key was refused; with --once, after a status line per host: 0
 * healthy, 1 an alert active, 69 a host unreachable, 77 a host key refused.
 */
export async function monitor(ctx: CliContext, args: MonitorArgs): Promise<number> {
  let hosts = (args.host ?? [])
    .flatMap((h) => String(h).split(','))
    .map((h) => h.trim())
    .filter(Boolean);
  const file = monitorConfigFile(ctx, args, hosts.length > 0);
  const loaded = file ? loadMonitorConfig(file, { env: ctx.env, mode: effectiveMode(ctx, file), skipFileChecks: true }) : undefined;
  const cfg = loaded?.kind === 'project' ? loaded.cfg : undefined;
  const own = loaded?.kind === 'monitor' ? loaded.monitor : undefined;
  if (own && !hosts.length) {
    hosts = Object.keys(own.hosts);
    if (!hosts.length)
      throw new AgentRunnerError('ERR_AR_USAGE', `${file} is a monitor's config (no [agent]) and names no host`, {
        hint: 'Add a [monitor.hosts.NAME] table, or pass --host ALIAS.',
      });
  }
  const paths = cfg
    ? configPaths(cfg)
    : (() => {
        const d = defaultDirs('monitor', ctx.mode, ctx.env);
        return projectPaths('monitor', d.stateDir, d.logDir);
      })();
  const log = daemonLogger(ctx, 'monitor');
  return start(
    {
      cfg,
      monitor: own,
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
