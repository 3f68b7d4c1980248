import { tableDefaults, type AgentRunnerConfig, type MonitorHostConfig } from '@agent-runner/core/config';

/**
 * The monitor's thresholds and switches, resolved from `[monitor]` (and `[runtime]` for the
 * derived ones). Durations in seconds, percentages 0-100, money in USD. Each default is
 * justified on the detector that uses it (./detectors.ts) and in RUNBOOK.md.
 */
export interface MonitorSettings {
  poll_interval_s: number;
  /** 0 disables `supervisor_stale`; undefined = 1.5 x the host's `round_timeout_s`. */
  supervisor_stale_threshold_s: number | undefined;
  remote_failure_tolerance_s: number;
  auto_stop: boolean;
  remote_command: string;
  /** `[monitor.hosts.NAME]` by NAME. */
  hosts: Record<string, MonitorHostConfig>;
  disk_warning_pct: number;
  disk_critical_pct: number;
  mem_available_min_pct: number;
  /** Seconds without a productive round before the `silence` alarm; 0 disables it. */
  silence_after_s: number;
  /** 0 = the host's `daily_cost_budget_usd`; both 0 = off. */
  cost_budget_usd: number;
  hung_grace_s: number;
  /** Notify benign detectors' alerts (self-healing waits) too; they are recorded either way. */
  notify_benign: boolean;
  disable: string[];
  /** Rounds the rate detectors look at (the N of "k of the last N rounds"). */
  window_rounds: number;
  /** `timeout_rate`: share of the window's finished rounds that ended by a timeout or hang. */
  timeout_rate: number;
  /** `timeout_rate`: and at least this many such rounds. */
  timeout_min: number;
  /** `network_fail`: network-classified rounds in the window. */
  network_fail_min: number;
  /** `oauth_fail`: auth-classified rounds in the window. */
  oauth_fail_min: number;
  /** `anomaly_repetitive`: identical non-ok outcomes in a row. */
  anomaly_repeat: number;
  /** `orphan_chain`: rounds in a row whose work was stashed instead of landing. */
  orphan_chain_min: number;
  /** `cost_budget`: alert from this share of the budget (1 = at the budget). */
  cost_warn_ratio: number;
}

/** The detectors' fixed thresholds (not configurable; each justified on its detector). */
const DETECTOR_CONSTANTS = {
  window_rounds: 10,
  timeout_rate: 0.3,
  timeout_min: 3,
  network_fail_min: 3,
  oauth_fail_min: 2,
  anomaly_repeat: 5,
  orphan_chain_min: 3,
  cost_warn_ratio: 1,
} as const satisfies Partial<MonitorSettings>;

/** The settings of a resolved `[monitor]` table, with the detectors' constants. */
function fromTable(m: AgentRunnerConfig['monitor'], supervisorStale: number | undefined): MonitorSettings {
  return {
    poll_interval_s: m.poll_interval_s,
    supervisor_stale_threshold_s: supervisorStale,
    remote_failure_tolerance_s: m.remote_failure_tolerance_s,
    auto_stop: m.auto_stop,
    remote_command: m.remote_command,
    hosts: m.hosts,
    disk_warning_pct: m.disk_warning_pct,
    disk_critical_pct: m.disk_critical_pct,
    mem_available_min_pct: m.mem_available_min_pct,
    silence_after_s: m.silence_after_s,
    cost_budget_usd: m.cost_budget_usd,
    hung_grace_s: m.hung_grace_s,
    notify_benign: m.notify_benign,
    disable: m.disable,
    ...DETECTOR_CONSTANTS,
  };
}

/**
 * Settings without a config file (a monitor of remote hosts run from a laptop): the schema's
 * `[monitor]` defaults, `supervisor_stale_threshold_s` from each host's own defenses.
 */
export const DEFAULT_SETTINGS: MonitorSettings = settingsFromTable(tableDefaults('monitor') as unknown as AgentRunnerConfig['monitor']);

/**
 * Settings from a loaded config. `supervisor_stale_threshold_s` keeps the config's resolved
 * value (1.5 x the local `round_timeout_s` unless set) only for local monitoring; for remote
 * hosts pass `remote: true` and the threshold is derived from each host's own defenses.
 */
export function settingsFromConfig(cfg: AgentRunnerConfig, opts: { remote?: boolean } = {}): MonitorSettings {
  return fromTable(cfg.monitor, opts.remote ? undefined : cfg.monitor.supervisor_stale_threshold_s);
}

/**
 * Settings from a monitor's own config (`[monitor]` only, no project): `supervisor_stale_threshold_s`
 * from each host's own defenses, as for every remote host.
 */
export function settingsFromTable(m: AgentRunnerConfig['monitor']): MonitorSettings {
  return fromTable(m, undefined);
}

/** POSIX shell single quotes around `s` (`~/` left outside, so the remote shell expands it). */
function shellPath(s: string): string {
  const home = s.startsWith('~/');
  return `${home ? '~/' : ''}'${(home ? s.slice(2) : s).replaceAll("'", "'\\''")}'`;
}

/**
 * The remote command prefix for host `name`: its `remote_command` (else `monitor.remote_command`)
 * and, when its table names one, `--config` with the remote path, quoted for the remote shell.
 */
export function remoteCommandOf(settings: MonitorSettings, name: string): string {
  const h = settings.hosts[name];
  const cmd = h?.remote_command ?? settings.remote_command;
  return h?.config ? `${cmd} --config ${shellPath(h.config)}` : cmd;
}
