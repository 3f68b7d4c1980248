/**
 * `@agent-runner/monitor/index`: the monitor daemon (`agent-runner monitor`). Modes:
 *
 * - `anomaly` (default): polls the local project or remote hosts (`hosts`, over SSH), runs
 *   the detectors (and, for the local project, its enabled `detector` hooks: ./hooks.ts),
 *   raises/clears alerts (stdout, ledger, outbox, events) and auto-stops where the policy says so. With `port`, also serves `/metrics` and `/api/state` for the fleet.
 * - `events`: prints every new event of the local project as a JSON line, across rotation.
 * - `http`: serves the local progress page, `/api/state` and `/metrics` on 127.0.0.1.
 *
 * Every mode runs the one unit lifecycle of core (`@agent-runner/core/unit`) as unit
 * `monitor`: enrollment, heartbeat every {@link HEARTBEAT_MS}, `READY=1` once the ledger and
 * the HTTP server are up and the first heartbeat is written, `WATCHDOG=1`, its own restart
 * marker (exit 75), exit 75 on a SIGTERM that follows a restart request (the watchdog's T2),
 * and a clean-exit record. Two kinds of monitor run unenrolled, as guests: one started while
 * another live monitor is enrolled (an operator's `--mode http` page or `--mode events` tail
 * next to the service), and a `--once` poll (a one-shot verb, not a unit: its exit must not
 * read as the unit's).
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { readSecretRef, type AgentRunnerConfig, type MonitorConfig } from '@agent-runner/core/config';
import { AgentRunnerError, EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { EventWriter, followEvents, type EventRecord } from '@agent-runner/core/events';
import type { KillFn } from '@agent-runner/core/identity';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { sleep } from '@agent-runner/core/sleep';
import { enrolUnit, type ExitReason, type LogPriority, type SdNotify, type Unit } from '@agent-runner/core/unit';
import { VERSION } from '@agent-runner/core/version';
import { AlertSink } from './alerts.js';
import { DetectorHooks } from './hooks.js';
import { hostPort, serveHttp } from './http.js';
import { LocalSource } from './local-source.js';
import { renderMetrics } from './metrics.js';
import { tailLines } from '@agent-runner/core/tail';
import { renderTranscript } from '@agent-runner/core/transcript';
import type { PageState } from './page.js';
import { onceExit, onceLine, onceStatus } from './once.js';
import { ledgerHistory, snapshotHistory } from './history.js';
import { HostPoller } from './poller.js';
import { DEFAULT_SETTINGS, remoteCommandOf, settingsFromConfig, settingsFromTable, type MonitorSettings } from './settings.js';
import type { HostSource } from './source.js';
import { MonitorEvents } from './writes.js';

/** How often the monitor rewrites its heartbeat, ms (the watchdog's default stale limit is 180 s). */
export const HEARTBEAT_MS = 5000;

/** What to monitor and how. */
export interface MonitorStartConfig {
  /** The local project's config; required for local monitoring, optional with `hosts`. */
  cfg: AgentRunnerConfig | undefined;
  /** Without `cfg`: a monitor's own config (`[monitor]` only), its settings and `[monitor.hosts]`. */
  monitor?: MonitorConfig | undefined;
  /** Where the monitor keeps its own state: ledger (alerts, outbox), events, enrollment. */
  paths: ProjectPaths;
  mode: 'anomaly' | 'events' | 'http';
  /** Hosts to poll over SSH, by `[monitor.hosts]` name or SSH alias; empty = the local project. */
  hosts: string[];
  /** JSON Lines on stdout instead of human lines. */
  json: boolean;
  /** HTTP port (`http` mode; in `anomaly` mode: optional metrics endpoint). 0 = any free port. */
  port?: number | undefined;
  acceptNewHostKey: boolean;
  /** Overrides `monitor.remote_command`. */
  remoteCommand?: string | undefined;
  /** Poll once, print a status line per host and exit: 0 healthy, 1 alerts, 69 unreachable, 77 key refused. */
  once: boolean;
  /** ssh client config (default `~/.ssh/config`). */
  sshConfigFile?: string | undefined;
  /** Setting overrides (tests, flags). */
  settings?: Partial<MonitorSettings> | undefined;
}

/** What the monitor needs from its process (the CLI builds it). */
export interface MonitorDeps {
  pid: number;
  /** A full garbage collection (`gc()` under `--expose-gc`), run by the lifecycle when idle. */
  collectGarbage?: () => void;
  env: Record<string, string | undefined>;
  /** Aborted on SIGTERM/SIGINT: finish the poll in progress and exit (0, or 75 after a restart request). */
  stop: AbortSignal;
  log: (priority: LogPriority, line: string) => void;
  /** Wall clock, epoch ms. */
  now: () => number;
  kill: KillFn;
  /** Writes one line to stdout (no newline). */
  out: (line: string) => void;
  /** Told the HTTP port once listening. */
  onListening?: (port: number) => void;
  /** This process's whole command line (execPath, execArgv, script, arguments), recorded in the enrollment for a respawn. */
  argv?: string[];
  /** Its working directory, recorded with `argv`. */
  cwd?: string;
  /** sd_notify sender (default: `systemd-notify` when systemd gave a notification socket); tests pass a recorder. */
  notify?: SdNotify;
}

/** How the monitor ends: set by a signal, a restart marker, the poll loop or an error. */
interface Ending {
  code: number;
  reason: ExitReason;
  detail?: string;
}

/** Where polled events are kept for the page: the last 20 per host. */
type RecentEvents = Map<string, EventRecord[]>;

/**
 * Runs the monitor until `deps.stop` aborts, a restart marker arrives (75), every remote host
 * gave up (75) or had its key refused (77), or after one poll with `once`.
 * @returns the exit code.
 * @throws AgentRunnerError ERR_AR_USAGE for an impossible combination (events/http with hosts,
 * local mode without a config, a port in use); ERR_AR_LEDGER when the ledger cannot be opened;
 * the enrollment write's error when the state directory is not writable at start (a failed
 * start: systemd retries).
 */
export async function start(config: MonitorStartConfig, deps: MonitorDeps): Promise<number> {
  if (config.mode !== 'anomaly' && config.hosts.length) {
    throw new AgentRunnerError('ERR_AR_USAGE', `--mode ${config.mode} is local-only; for remote hosts use --mode anomaly`);
  }
  if (!config.hosts.length && !config.cfg) {
    throw new AgentRunnerError('ERR_AR_CONFIG_NOT_FOUND', 'local monitoring needs the project config (--config), or give --host ALIAS');
  }
  const { paths } = config;
  const project = config.cfg?.project ?? paths.project;
  const halt = new AbortController();
  const end: Ending = { code: EXIT.OK, reason: 'signal' };
  const unit = config.once ? undefined : enrol(config, deps, project);
  const onStop = (): void => {
    if (halt.signal.aborted) return;
    // The watchdog's T2 SIGTERM follows its restart marker: exit 75 so it is restarted, not left stopped.
    end.code = unit?.signalExitCode() ?? EXIT.OK;
    end.reason = end.code === EXIT.TEMPFAIL ? 'restart_marker' : 'signal';
    halt.abort();
  };
  deps.stop.addEventListener('abort', onStop, { once: true });
  if (deps.stop.aborted) onStop();

  const writer = new EventWriter({ dir: paths.eventsDir, project, unit: 'monitor', now: deps.now });
  const events = new MonitorEvents(writer, deps.log);
  const ready = (state: string, status: string): void =>
    unit?.start({
      heartbeatMs: HEARTBEAT_MS,
      state,
      status,
      detail: () => ({ mode: config.mode, hosts: config.hosts.length }),
      ...(deps.collectGarbage ? { collectGarbage: deps.collectGarbage } : {}),
      onTick: () => {
        const req = unit?.takeRestart();
        if (!req || halt.signal.aborted) return;
        events.emit('restart_marker_consumed', {
          nonce: req.nonce,
          requested_at: req.requested_at,
          requested_by: req.requested_by ?? null,
          latency_s: (deps.now() - req.requested_at_ms) / 1000,
        });
        deps.log('notice', `restart requested by ${req.requested_by ?? 'unknown'}; exiting 75`);
        end.code = EXIT.TEMPFAIL;
        end.reason = 'restart_marker';
        halt.abort();
      },
    });

  let ledger: Ledger | undefined;
  let server: Server | undefined;
  let sources: HostSource[] = [];
  try {
    if (config.mode === 'events') {
      ready('following', 'following events');
      for await (const { event } of followEvents(paths.eventsDir, { signal: halt.signal })) deps.out(JSON.stringify(event));
      return end.code;
    }

    ledger = openLedger(paths.ledgerPath, { now: deps.now });
    const base = config.cfg
      ? settingsFromConfig(config.cfg, { remote: config.hosts.length > 0 })
      : config.monitor
        ? settingsFromTable(config.monitor)
        : DEFAULT_SETTINGS;
    const settings: MonitorSettings = { ...base, ...config.settings };
    const recent: RecentEvents = new Map();
    const built = await buildPollers(config, deps, { ledger, writer, events, settings, recent, signal: halt.signal });
    sources = built.sources;
    server = await startPage(config, deps, built.pollers, recent, ledger);
    ready('idle', `${config.mode}: ${config.hosts.length ? config.hosts.join(', ') : 'local'}`);
    await pollLoop(config, settings, built.pollers, { unit, signal: halt.signal, end, log: deps.log, out: deps.out, now: deps.now });
    return end.code;
  } catch (e) {
    end.code = isAgentRunnerError(e) ? e.exitCode : EXIT.SOFTWARE;
    end.reason = 'error';
    end.detail = (e as Error).message;
    throw e;
  } finally {
    deps.stop.removeEventListener('abort', onStop);
    if (server) {
      const srv = server;
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
    }
    for (const s of sources) s.close();
    ledger?.close();
    writer.close();
    unit?.close(end.code, end.reason, end.detail);
  }
}

/** Enrols the monitor's unit; a second monitor of the project runs unenrolled. */
function enrol(config: MonitorStartConfig, deps: MonitorDeps, project: string): Unit | undefined {
  const r = enrolUnit({
    paths: config.paths,
    unit: 'monitor',
    project,
    version: VERSION,
    pid: deps.pid,
    now: deps.now,
    env: deps.env,
    log: deps.log,
    ...(deps.argv ? { argv: deps.argv } : {}),
    ...(deps.cwd ? { cwd: deps.cwd } : {}),
    ...(deps.notify ? { notify: deps.notify } : {}),
  });
  if (r.unit) return r.unit;
  deps.log('notice', `another monitor (pid ${r.other.pid}) is enrolled; running unenrolled`);
  return undefined;
}

/**
 * One poller per source: the local project (with its detector hooks where alerts are raised),
 * or each SSH host. An `http` page is observe-only: it raises no alerts.
 */
async function buildPollers(
  config: MonitorStartConfig,
  deps: MonitorDeps,
  ctx: { ledger: Ledger; writer: EventWriter; events: MonitorEvents; settings: MonitorSettings; recent: RecentEvents; signal: AbortSignal },
): Promise<{ pollers: HostPoller[]; sources: HostSource[] }> {
  const { ledger, events, settings, recent } = ctx;
  const sink =
    config.mode === 'http'
      ? undefined
      : new AlertSink({
          ledger,
          events,
          out: deps.out,
          json: config.json,
          now: deps.now,
          log: deps.log,
          notifyBenign: settings.notify_benign,
        });
  const onEvent = (host: string, e: EventRecord): void => {
    let r = recent.get(host);
    if (!r) recent.set(host, (r = []));
    r.push(e);
    if (r.length > 20) r.shift();
  };
  if (config.hosts.length === 0) {
    const cfg = config.cfg as AgentRunnerConfig;
    const local = new LocalSource(cfg, { ledger, now: deps.now, kill: deps.kill, sleep: (ms) => sleep(ms, ctx.signal) });
    const hooks = sink
      ? new DetectorHooks({ cfg, ledger, events: ctx.writer, env: deps.env, kill: deps.kill, now: deps.now, log: deps.log })
      : undefined;
    const poller = new HostPoller(local, {
      settings,
      sink,
      events,
      now: deps.now,
      log: deps.log,
      onEvent,
      headMoved: () => local.headMoved(),
      ...(hooks?.hooks.length ? { hooks } : {}),
    });
    return { pollers: [poller], sources: [local] };
  }
  // ssh2, its crypto addon and its WebAssembly only where hosts are polled over SSH: a local
  // monitor runs for weeks without them (~16 MiB of external memory, 3 MiB of RSS).
  const { RemoteSource } = await import('./remote-source.js');
  const home = deps.env['HOME'] ?? '/';
  const timeoutMs = Math.max(10_000, Math.min(60_000, settings.poll_interval_s * 1000));
  const sources = config.hosts.map(
    (name) =>
      new RemoteSource({
        name,
        alias: settings.hosts[name]?.ssh ?? name,
        remoteCommand: config.remoteCommand ?? remoteCommandOf(settings, name),
        timeoutMs,
        ssh: {
          configFile: config.sshConfigFile ?? join(home, '.ssh', 'config'),
          env: { home, user: deps.env['USER'] ?? deps.env['LOGNAME'] ?? 'root', authSock: deps.env['SSH_AUTH_SOCK'] },
          acceptNewHostKey: config.acceptNewHostKey,
          readyTimeoutMs: timeoutMs,
        },
      }),
  );
  return { pollers: sources.map((src) => new HostPoller(src, { settings, sink, events, now: deps.now, log: deps.log, onEvent })), sources };
}

/**
 * The page, /api/state and /metrics, when a port is asked for (`--port`, or `http` mode's
 * `monitor.http_port`); undefined otherwise.
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC when the page's token is configured but
 * cannot be read; ERR_AR_USAGE when the port is in use.
 */
async function startPage(
  config: MonitorStartConfig,
  deps: MonitorDeps,
  pollers: HostPoller[],
  recent: RecentEvents,
  ledger: Ledger,
): Promise<Server | undefined> {
  const port = config.port ?? (config.mode === 'http' ? ((config.cfg?.monitor ?? config.monitor)?.http_port ?? 8765) : undefined);
  if (port === undefined) return undefined;
  const { paths } = config;
  const narrativeFile = config.cfg ? (config.cfg.runtime.narrative_file ?? join(paths.logDir, 'narrative.md')) : null;
  const states = (): PageState[] =>
    pollers.map((p) => {
      const local = p.host === 'local';
      const logFile = local ? paths.currentRoundLog : null;
      return {
        host: p.host,
        generated_at: new Date(deps.now()).toISOString(),
        snapshot: p.snapshot ?? null,
        narrative: local && narrativeFile ? tailLines(narrativeFile, 50) : [],
        narrative_file: local ? narrativeFile : null,
        recent_events: recent.get(p.host) ?? [],
        // Rendered from more raw lines than shown: some events (Claude's partial deltas) render to nothing.
        log_tail: logFile ? renderTranscript(tailLines(logFile, 200)).slice(-50) : [],
        log_file: logFile,
        findings: p.findings,
        link: p.link,
        last_error: p.lastError ?? null,
        // A local project's ledger is the monitor's own; a remote host has only its snapshot.
        history: local ? ledgerHistory(ledger, deps.now()) : p.snapshot ? snapshotHistory(p.snapshot, deps.now()) : null,
      };
    });
  const mon = config.cfg?.monitor ?? config.monitor;
  const bind = mon?.http_bind ?? '127.0.0.1';
  const token = mon ? readSecretRef(mon, 'http_token', 'monitor', deps.env) : undefined;
  if (token && 'problem' in token)
    throw new AgentRunnerError('ERR_AR_CONFIG_SEMANTIC', `${token.problem}: the page cannot be protected`, {
      hint: 'Provide the token, or bind to loopback (monitor.http_bind = "127.0.0.1") and drop the token keys.',
    });
  const server = await serveHttp({ port, host: bind, token: token?.value }, { states, metrics: () => renderMetrics(pollers, deps.now()) });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  deps.log('notice', `serving http://${hostPort(bind, bound)}/ (page), /api/state, /metrics${token ? ' (token required)' : ''}`);
  deps.onListening?.(bound);
  return server;
}

/**
 * Polls every source each interval until `signal` aborts; with `once`, one cycle, a status
 * line per host and its exit code (./once.ts). Every remote host given up ends the monitor: 77
 * when all refused their keys, else 75.
 */
async function pollLoop(
  config: MonitorStartConfig,
  settings: MonitorSettings,
  pollers: HostPoller[],
  ctx: {
    unit: Unit | undefined;
    signal: AbortSignal;
    end: Ending;
    log: MonitorDeps['log'];
    out: MonitorDeps['out'];
    now: MonitorDeps['now'];
  },
): Promise<void> {
  const { unit, end } = ctx;
  const intervalMs = (config.mode === 'http' ? Math.min(settings.poll_interval_s, 5) : settings.poll_interval_s) * 1000;
  while (!ctx.signal.aborted) {
    unit?.setState('polling');
    await Promise.all(pollers.map((p) => p.cycle()));
    unit?.setState('idle');
    if (config.once) {
      const statuses = pollers.map(onceStatus);
      const nowMs = ctx.now();
      for (const s of statuses) ctx.out(config.json ? JSON.stringify({ ts: new Date(nowMs).toISOString(), ...s }) : onceLine(s, nowMs));
      end.code = onceExit(statuses);
      return;
    }
    if (config.hosts.length && pollers.every((p) => !p.active)) {
      const refused = pollers.every((p) => p.link === 'refused');
      end.code = refused ? EXIT.NOPERM : EXIT.TEMPFAIL;
      // A refused key stays refused: like a broken config, a restart cannot fix it (its unit
      // does not restart on 77). Hosts that stopped answering may answer again: 75 is a
      // failure to restart after RestartSec=, and outside systemd the watchdog respawns it.
      end.reason = refused ? 'config_broken' : 'error';
      end.detail = 'no host left to supervise';
      ctx.log('err', 'no host left to supervise; exiting');
      return;
    }
    if (!(await sleep(intervalMs, ctx.signal))) return;
  }
}
