/**
 * The monitor's state in the Prometheus text exposition format (version 0.0.4, not
 * OpenMetrics; https://prometheus.io/docs/instrumenting/exposition_formats/),
 * one sample per host so a fleet is one scrape. Every metric is a gauge named
 * `agent_runner_*` in base units (seconds, bytes, ratios 0-1, dollars) with `host` and
 * `project` labels.
 */
import { ALARMS } from '@agent-runner/core/alarms';
import type { HostPoller } from './poller.js';
import { DETECTORS } from './detectors.js';

/** Content type of {@link renderMetrics}' output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labels = (l: Record<string, string>): string => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;

interface Family {
  name: string;
  help: string;
  samples: string[];
}

/** Renders the metrics of every poller. */
export function renderMetrics(pollers: readonly HostPoller[], nowMs: number): string {
  const fams = new Map<string, Family>();
  const put = (name: string, help: string, l: Record<string, string>, v: number | null | undefined): void => {
    if (v === null || v === undefined || !Number.isFinite(v)) return;
    let f = fams.get(name);
    if (!f) {
      f = { name, help, samples: [] };
      fams.set(name, f);
    }
    f.samples.push(`${name}${labels(l)} ${v}`);
  };
  for (const p of pollers) {
    const s = p.snapshot;
    const base = { host: p.host, project: s?.project ?? '' };
    put('agent_runner_up', 'Whether the last poll of the host succeeded (1) or not (0).', base, p.link === 'ok' && p.polls > 0 ? 1 : 0);
    put('agent_runner_monitor_consecutive_failures', 'Failed polls of the host in a row.', base, p.consecutiveFailures);
    put('agent_runner_monitor_poll_duration_seconds', 'Wall time of the last successful poll.', base, p.lastPollDurationS);
    put('agent_runner_monitor_poll_bytes', 'Bytes moved by the last poll (SSH wire bytes; 0 for local).', base, p.lastPollBytes);
    put('agent_runner_monitor_events_ingested', 'Events folded into the detectors since the monitor started.', base, p.window.ingested);
    if (p.lastOkMs !== undefined) put('agent_runner_monitor_last_success_timestamp_seconds', 'Time of the last successful poll (Unix seconds).', base, p.lastOkMs / 1000);
    for (const d of [...DETECTORS, { name: 'silence', severity: ALARMS.silence.severity }]) {
      const f = p.findings.find((x) => x.detector === d.name);
      put('agent_runner_alert_active', 'Whether a monitor detector (or its silence alarm) currently fires (1) or not (0).', { ...base, detector: d.name, severity: d.severity }, f ? 1 : 0);
    }
    if (!s) continue;
    for (const a of s.alarms ?? []) {
      if (a.raised_by === 'monitor') continue;
      put('agent_runner_alarm_active', 'An active alarm the runner or watchdog of the host raised (one sample per alarm; absent when none).', { ...base, cause: a.cause, ...(a.subject ? { subject: a.subject } : {}), severity: a.severity, raised_by: a.raised_by }, 1);
    }
    put('agent_runner_service_running', 'Whether the runner (serve) is running (1), stopped (0); unknown is omitted.', base, s.service.state === 'running' ? 1 : s.service.state === 'stopped' ? 0 : null);
    put('agent_runner_heartbeat_age_seconds', 'Age of the runner heartbeat.', base, s.service.heartbeat_age_s);
    put('agent_runner_stop_requested', 'Whether a stop request is pending (1).', base, s.service.stop_requested ? 1 : 0);
    put('agent_runner_paused', 'Whether the runner holds rounds by itself (1; the reason is `pause` of peek), or not (0).', base, s.service.pause ? 1 : 0);
    put('agent_runner_agent_done', 'Whether the agent wrote .agent-done (1).', base, s.service.agent_done !== null ? 1 : 0);
    put('agent_runner_round_running', 'Whether a round is in progress (1).', base, s.current_round ? 1 : 0);
    put('agent_runner_round_elapsed_seconds', 'Elapsed time of the round in progress.', base, s.current_round?.elapsed_s);
    const lastRound = s.rounds[0]?.round ?? s.current_round?.round;
    put('agent_runner_round_number', 'Number of the newest round.', base, lastRound);
    for (const [cls, n] of Object.entries(s.counts_24h)) put('agent_runner_rounds_24h', 'Rounds of the last 24 h by classification.', { ...base, classification: cls }, n);
    put('agent_runner_rounds_today', 'Rounds started since 00:00 UTC.', base, s.today.rounds);
    put('agent_runner_cost_today_dollars', 'Reported agent cost since 00:00 UTC, US dollars.', base, s.today.cost_usd);
    put('agent_runner_backoff_remaining_seconds', 'Seconds left of the current back-off (0 when none).', base, s.backoff ? Math.max(0, (Date.parse(s.backoff.until) - nowMs) / 1000) : 0);
    put('agent_runner_rate_limited', 'Whether a rate-limit throttle is in force (1).', base, s.rate_limit && Date.parse(s.rate_limit.throttled_until) > nowMs ? 1 : 0);
    if (s.system.disk) {
      put('agent_runner_disk_used_ratio', 'Used share (as df) of the fuller of the state and log file systems (0-1).', base, s.system.disk.used_pct / 100);
      put('agent_runner_disk_free_bytes', 'Bytes an unprivileged writer may still use on the fuller of the state and log file systems.', base, s.system.disk.free_bytes);
    }
    if (s.system.memory) {
      put('agent_runner_memory_available_bytes', 'Available memory (MemAvailable).', base, s.system.memory.available_bytes);
      put('agent_runner_memory_total_bytes', 'Total memory.', base, s.system.memory.total_bytes);
    }
    if (p.window.lastRunnerEventMs !== undefined) put('agent_runner_last_event_age_seconds', 'Seconds since the newest runner event.', base, Math.max(0, (nowMs - p.window.lastRunnerEventMs) / 1000));
  }
  const out: string[] = [];
  for (const f of fams.values()) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`, ...f.samples);
  }
  return `${out.join('\n')}\n`;
}
