import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { ensurePrivateDir } from '@agent-runner/core/atomic';
import { AgentRunnerError, EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { projectPaths, type ProjectPaths } from '@agent-runner/core/paths';
import { readEnrollment, verifyIdentity } from '@agent-runner/core/identity';
import { openLedger } from '@agent-runner/core/ledger';
import { sleep } from '@agent-runner/core/sleep';
import type { CliContext, GlobalArgs } from '../context.js';
import { effectiveMode, loadProjectConfig, projectConfigFile } from '../load.js';
import { oneLine, out, outJson, warn } from '../output.js';
import { detectManager, findInstallByConfig, projectUnits, showUnits, systemctl, type Manager, type UnitState } from '../systemd.js';
import { DAEMON_NODE_OPTIONS } from '../systemd-templates.js';
import { table } from '../table.js';
import { mustSucceed } from './install.js';

/** A project as the lifecycle verbs see it. */
export type ResolvedService =
  | { cfg: AgentRunnerConfig; configError?: undefined; manager: Manager }
  /** Installed, but the config does not load now: the units are still there to show, stop, log. */
  | { cfg?: undefined; configError: AgentRunnerError; manager: Extract<Manager, { kind: 'systemd' }> };

/**
 * The project's config and how it is run here (systemd scope or foreground). When the config
 * no longer loads (exit 78) but an install names it, the install metadata still identifies the
 * units, so `status`, `stop`, `kill` and `logs` work and say the config is broken.
 * @throws the config error when no install names the config file.
 */
export function resolveService(ctx: CliContext, args: GlobalArgs): ResolvedService {
  let cfg: AgentRunnerConfig;
  try {
    cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  } catch (e) {
    if (!isAgentRunnerError(e) || e.exitCode !== EXIT.CONFIG || e.code === 'ERR_AR_CONFIG_NOT_FOUND') throw e;
    const manager = findInstallByConfig(projectConfigFile(ctx, args), ctx.env);
    if (manager === undefined || (ctx.mode === 'system' && manager.scope !== 'system')) throw e;
    return { configError: e, manager };
  }
  return { cfg, manager: detectManager(cfg.project, effectiveMode(ctx, cfg.source), ctx.env) };
}

/** The config of `r`, or its error with a hint that the running units keep the config they loaded. */
export function requireConfig(r: ResolvedService, verb: string): AgentRunnerConfig {
  if (r.cfg) return r.cfg;
  const e = r.configError;
  throw new AgentRunnerError(e.code, `not ${verb}: ${e.message}`, {
    ...(e.location ? { location: e.location } : {}),
    ...(e.key !== undefined ? { key: e.key } : {}),
    ...(e.expected !== undefined ? { expected: e.expected } : {}),
    ...(e.found !== undefined ? { found: e.found } : {}),
    more: e.more,
    hint: `${e.hint} Units that run keep the config they loaded; \`agent-runner status\` shows them.`,
  });
}

/** `systemctl` flag text for messages. */
export function scopeFlag(m: Manager): string {
  return m.kind === 'systemd' && m.scope === 'user' ? ' --user' : '';
}

/**
 * `agent-runner start`: under systemd, `systemctl [--user] start agent-runner@<project>.target`
 * (starts every installed unit of the project, also after a clean stop); without units, starts
 * `serve` in the background, detached, its output appended to `<log_dir>/serve.out`.
 */
export async function start(ctx: CliContext, args: GlobalArgs): Promise<number> {
  const r = resolveService(ctx, args);
  const cfg = requireConfig(r, 'starting');
  const { manager } = r;
  if (manager.kind === 'systemd') {
    const { target } = projectUnits(manager.meta);
    mustSucceed(await systemctl(manager.scope, ['start', target], { env: ctx.env }), `systemctl${scopeFlag(manager)} start ${target}`);
    warn(ctx, `started ${target}`);
    return 0;
  }
  const paths = configPaths(cfg);
  const rec = readEnrollment(paths, 'runner');
  if (rec && verifyIdentity(rec).verdict === 'same') {
    warn(ctx, `already running (pid ${rec.pid})`);
    return 0;
  }
  ensurePrivateDir(paths.logDir);
  const logFile = join(paths.logDir, 'serve.out');
  const fd = openSync(logFile, 'a', 0o600);
  const env = Object.fromEntries(
    Object.entries({ ...ctx.env, AGENT_RUNNER_CONFIG: cfg.source }).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const child = spawn(ctx.execPath, [...DAEMON_NODE_OPTIONS, ctx.binPath, ...(ctx.mode === 'system' ? ['--system'] : []), 'serve'], {
    cwd: cfg.runtime.work_dir,
    env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  // Wait for serve to enroll (or to exit early, e.g. 78 on a broken config).
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  for (let i = 0; i < 100 && exited === undefined; i++) {
    const r = readEnrollment(paths, 'runner');
    if (r && r.pid === child.pid && verifyIdentity(r).verdict === 'same') {
      warn(ctx, `started serve in the background (pid ${r.pid}; output in ${logFile}; no systemd units installed)`);
      return 0;
    }
    await sleep(100, ctx.signal);
  }
  if (exited !== undefined) {
    warn(ctx, `serve exited at once with ${exited}; see ${logFile}`);
    return exited ?? 1;
  }
  warn(ctx, `serve (pid ${child.pid}) did not enroll within 10s; see ${logFile}`);
  return EXIT.TEMPFAIL;
}

/**
 * `agent-runner restart`: graceful. Under systemd, `systemctl restart` of every installed
 * unit (serve's round finishes first, bounded by TimeoutStopSec) and a start of the target;
 * in the foreground, `stop` then `start`.
 */
export async function restart(ctx: CliContext, args: GlobalArgs): Promise<number> {
  const r = resolveService(ctx, args);
  // Refused before anything stops: a running unit with a good config is not traded for a failed start.
  requireConfig(r, 'restarting');
  const { manager } = r;
  if (manager.kind === 'systemd') {
    const { services, target } = projectUnits(manager.meta);
    const t0 = Date.now();
    warn(ctx, 'restarting service...');
    mustSucceed(await systemctl(manager.scope, ['restart', ...services], { env: ctx.env }), `systemctl${scopeFlag(manager)} restart`);
    mustSucceed(await systemctl(manager.scope, ['start', target], { env: ctx.env }), `systemctl${scopeFlag(manager)} start ${target}`);
    warn(ctx, `restarted (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    return 0;
  }
  const { stop } = await import('./lifecycle.js');
  const code = await stop(ctx, args);
  if (code !== 0) return code;
  return start(ctx, args);
}

/** What `status --json` prints. */
export interface StatusReport {
  project: string;
  /** `systemd-system`, `systemd-user` or `foreground`. */
  manager: string;
  /** True when serve runs (systemd: its unit is active; foreground: its enrollment is alive). */
  running: boolean;
  units: UnitState[];
  runner: { pid: number; started_at: string; version: string } | null;
  ledger: {
    running_round: number | null;
    last_round: {
      round: number;
      status: string;
      classification: string | null;
      exit_code: number | null;
      started_at: string;
      ended_at: string | null;
    } | null;
  } | null;
  ledger_error?: string;
  /** The config's load error (one line) when it does not load now; absent when it loads. */
  config_error?: string;
}

/** Reads the runner's enrollment and the ledger's last round (read-only). */
function ledgerPart(paths: ProjectPaths): Pick<StatusReport, 'runner' | 'ledger' | 'ledger_error'> {
  let runner: StatusReport['runner'] = null;
  try {
    const rec = readEnrollment(paths, 'runner');
    if (rec && verifyIdentity(rec).verdict === 'same') runner = { pid: rec.pid, started_at: rec.started_at, version: rec.version };
  } catch {
    /* unreadable state dir (another user's): reported through ledger_error below */
  }
  if (!existsSync(paths.ledgerPath))
    return {
      runner,
      ledger: null,
      ...(existsSync(paths.stateDir) ? {} : { ledger_error: `no state at ${paths.stateDir} (never served, or another mode: --system)` }),
    };
  try {
    const l = openLedger(paths.ledgerPath, { readonly: true });
    try {
      const last = l.runner.lastRounds(1)[0];
      const running = l.runner.runningRounds()[0];
      return {
        runner,
        ledger: {
          running_round: running?.round ?? null,
          last_round: last
            ? {
                round: last.round,
                status: last.status,
                classification: last.classification,
                exit_code: last.exitCode,
                started_at: new Date(last.startedAtMs).toISOString(),
                ended_at: last.endedAtMs ? new Date(last.endedAtMs).toISOString() : null,
              }
            : null,
        },
      };
    } finally {
      l.close();
    }
  } catch (e) {
    return { runner, ledger: null, ledger_error: isAgentRunnerError(e) || e instanceof Error ? e.message : String(e) };
  }
}

/**
 * `agent-runner status [--json]`: what systemd says about each of the project's units
 * (ActiveState, SubState, MainPID, since, last result, restarts) and what the enrollment
 * record and the ledger say about serve and the rounds. Exit 0 when serve runs, 3 when it
 * does not (as `systemctl status`).
 */
export async function status(ctx: CliContext, args: GlobalArgs): Promise<number> {
  const { cfg, configError, manager } = resolveService(ctx, args);
  let units: UnitState[] = [];
  if (manager.kind === 'systemd') {
    const { services, target } = projectUnits(manager.meta);
    units = await showUnits(manager.scope, [...services, target], ctx.env);
  }
  const paths = cfg
    ? configPaths(cfg)
    : manager.kind === 'systemd' && manager.meta.state_dir
      ? projectPaths(manager.meta.project, manager.meta.state_dir, manager.meta.state_dir)
      : undefined;
  const lp = paths
    ? ledgerPart(paths)
    : { runner: null, ledger: null, ledger_error: 'state directory unknown (config broken, installed by an older version)' };
  const serveUnit = units.find((u) => u.unit.startsWith('agent-runner@') && u.unit.endsWith('.service'));
  const running =
    manager.kind === 'systemd'
      ? ['active', 'activating', 'deactivating', 'reloading'].includes(serveUnit?.active_state ?? '')
      : lp.runner !== null;
  const report: StatusReport = {
    project: cfg?.project ?? (manager.kind === 'systemd' ? manager.meta.project : ''),
    manager: manager.kind === 'systemd' ? `systemd-${manager.scope}` : 'foreground',
    running,
    units,
    ...lp,
    ...(configError ? { config_error: oneLine(configError) } : {}),
  };
  if (args.json) {
    outJson(ctx, report);
    return running ? 0 : 3;
  }
  out(ctx, `project ${report.project} (${report.manager})`);
  if (report.config_error) out(ctx, `  config BROKEN (a start or restart would fail): ${report.config_error}`);
  const rows = units.map((u) => {
    const extra = [
      u.main_pid ? `pid ${u.main_pid}` : '',
      u.since ? `since ${u.since}` : '',
      u.result && u.result !== 'success' ? `last result ${u.result} (status ${u.exec_main_status})` : '',
      u.n_restarts ? `${u.n_restarts} restart(s)` : '',
    ]
      .filter(Boolean)
      .join(', ');
    return [u.unit, `${u.active_state}/${u.sub_state}`, extra];
  });
  table(rows, { indent: 2, width: ctx.columns }).forEach((l) => out(ctx, l));
  if (manager.kind === 'foreground')
    out(
      ctx,
      `  serve ${lp.runner ? `running (pid ${lp.runner.pid}, since ${lp.runner.started_at})` : 'not running'} (no systemd units installed)`,
    );
  if (lp.ledger) {
    const l = lp.ledger.last_round;
    out(
      ctx,
      `  rounds: ${lp.ledger.running_round ? `round ${lp.ledger.running_round} running; ` : ''}${l ? `last round ${l.round} ${l.status}${l.classification ? ` (${l.classification})` : ''}, started ${l.started_at}` : 'none yet'}`,
    );
  } else if (lp.ledger_error) out(ctx, `  ledger: ${lp.ledger_error}`);
  return running ? 0 : 3;
}
