/**
 * The monitor's state as metrics, one sample per host so a fleet is one scrape, in two
 * exposition formats rendered from the same families ({@link METRIC_FAMILIES}):
 *
 * - the Prometheus text format, version 0.0.4
 *   (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), the
 *   default: every Prometheus and `promtool check metrics` read it;
 * - OpenMetrics 1.0.0
 *   (https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md),
 *   served when the request's `Accept` prefers it ({@link negotiateMetricsFormat}), as
 *   Prometheus' scrapes do.
 *
 * Metrics are named `agent_runner_*` in base units (seconds, bytes, ratios 0-1, dollars) with
 * `host` and `project` labels; gauges, except the counters, whose samples end in `_total`.
 */
import { ALARMS } from '@agent-runner/core/alarms';
import type { HostPoller } from './poller.js';
import { DETECTORS } from './detectors.js';

/** An exposition format of `/metrics`. */
export type MetricsFormat = 'prometheus' | 'openmetrics';

/** The `Content-Type` of each format's exposition. */
export const METRICS_CONTENT_TYPES: Readonly<Record<MetricsFormat, string>> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

interface FamilySpec {
  readonly type: 'gauge' | 'counter';
  readonly help: string;
}

/**
 * Every metric family the monitor serves, in exposition order, keyed by the family name (a
 * counter's samples, in both formats, are the name plus `_total`). Each family is described
 * in every scrape, with or without samples, so dashboards and rules can name what a fleet
 * shows only in trouble (alarms, a round in progress).
 */
export const METRIC_FAMILIES = {
  agent_runner_up: { type: 'gauge', help: 'Whether the last poll of the host succeeded (1) or not (0).' },
  agent_runner_monitor_consecutive_failures: { type: 'gauge', help: 'Failed polls of the host in a row.' },
  agent_runner_monitor_poll_duration_seconds: { type: 'gauge', help: 'Wall time of the last successful poll.' },
  agent_runner_monitor_poll_bytes: { type: 'gauge', help: 'Bytes moved by the last poll (SSH wire bytes; 0 for local).' },
  agent_runner_monitor_events_ingested: { type: 'counter', help: 'Events folded into the detectors since the monitor started.' },
  agent_runner_monitor_last_success_timestamp_seconds: { type: 'gauge', help: 'Time of the last successful poll (Unix seconds).' },
  agent_runner_alert_active: { type: 'gauge', help: 'Whether a monitor detector (or its silence alarm) currently fires (1) or not (0).' },
  agent_runner_alarm_active: {
    type: 'gauge',
    help: 'An active alarm the runner or watchdog of the host raised (one sample per alarm; absent when none).',
  },
  agent_runner_service_running: { type: 'gauge', help: 'Whether the runner (serve) is running (1), stopped (0); unknown is omitted.' },
  agent_runner_heartbeat_age_seconds: { type: 'gauge', help: 'Age of the runner heartbeat.' },
  agent_runner_stop_requested: { type: 'gauge', help: 'Whether a stop request is pending (1).' },
  agent_runner_paused: { type: 'gauge', help: 'Whether the runner holds rounds by itself (1; the reason is `pause` of peek), or not (0).' },
  agent_runner_agent_done: { type: 'gauge', help: 'Whether the agent wrote .agent-done (1).' },
  agent_runner_stopped_on_purpose: {
    type: 'gauge',
    help: "Whether the stopped runner exited on purpose (1: an operator's stop or SIGTERM, the end of a bounded run, .agent-done, or a stop that raised its own alarm) or not (0: it died, or left no exit record); absent while it runs.",
  },
  agent_runner_round_running: { type: 'gauge', help: 'Whether a round is in progress (1).' },
  agent_runner_round_elapsed_seconds: { type: 'gauge', help: 'Elapsed time of the round in progress.' },
  agent_runner_round_number: { type: 'gauge', help: 'Number of the newest round.' },
  agent_runner_rounds_24h: { type: 'gauge', help: 'Rounds of the last 24 h by classification.' },
  agent_runner_rounds_today: { type: 'gauge', help: 'Rounds started since 00:00 UTC.' },
  agent_runner_cost_today_dollars: { type: 'gauge', help: 'Reported agent cost since 00:00 UTC, US dollars.' },
  agent_runner_backoff_remaining_seconds: { type: 'gauge', help: 'Seconds left of the current back-off (0 when none).' },
  agent_runner_rate_limited: { type: 'gauge', help: 'Whether a rate-limit throttle is in force (1).' },
  agent_runner_disk_used_ratio: { type: 'gauge', help: 'Used share (as df) of the fuller of the state and log file systems (0-1).' },
  agent_runner_disk_free_bytes: {
    type: 'gauge',
    help: 'Bytes an unprivileged writer may still use on the fuller of the state and log file systems.',
  },
  agent_runner_memory_available_bytes: { type: 'gauge', help: 'Available memory (MemAvailable).' },
  agent_runner_memory_total_bytes: { type: 'gauge', help: 'Total memory.' },
  agent_runner_last_event_age_seconds: { type: 'gauge', help: 'Seconds since the newest runner event.' },
} as const satisfies Record<string, FamilySpec>;

type FamilyName = keyof typeof METRIC_FAMILIES;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/**
 * Renders the metrics of every poller in each format; the caller serves the one the request
 * negotiated. Both come from one reading of the pollers, so they show the same state.
 * @returns the exposition per {@link MetricsFormat}: the 0.0.4 text, and OpenMetrics ending
 *   in `# EOF`.
 */
export function renderMetrics(pollers: readonly HostPoller[], nowMs: number): Record<MetricsFormat, string> {
  const samples = collect(pollers, nowMs);
  return { prometheus: expose(samples, 'prometheus'), openmetrics: expose(samples, 'openmetrics') };
}

function collect(pollers: readonly HostPoller[], nowMs: number): Map<FamilyName, Sample[]> {
  const fams = new Map<FamilyName, Sample[]>(Object.keys(METRIC_FAMILIES).map((n) => [n as FamilyName, []]));
  const put = (name: FamilyName, labels: Record<string, string>, value: number | null | undefined): void => {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    fams.get(name)?.push({ labels, value });
  };
  for (const p of pollers) {
    const s = p.snapshot;
    const base = { host: p.host, project: s?.project ?? '' };
    put('agent_runner_up', base, p.link === 'ok' && p.polls > 0 ? 1 : 0);
    put('agent_runner_monitor_consecutive_failures', base, p.consecutiveFailures);
    put('agent_runner_monitor_poll_duration_seconds', base, p.lastPollDurationS);
    put('agent_runner_monitor_poll_bytes', base, p.lastPollBytes);
    put('agent_runner_monitor_events_ingested', base, p.window.ingested);
    if (p.lastOkMs !== undefined) put('agent_runner_monitor_last_success_timestamp_seconds', base, p.lastOkMs / 1000);
    for (const d of [...DETECTORS, { name: 'silence', severity: ALARMS.silence.severity }]) {
      put(
        'agent_runner_alert_active',
        { ...base, detector: d.name, severity: d.severity },
        p.findings.some((x) => x.detector === d.name) ? 1 : 0,
      );
    }
    if (!s) continue;
    for (const a of s.alarms ?? []) {
      if (a.raised_by === 'monitor') continue;
      put(
        'agent_runner_alarm_active',
        { ...base, cause: a.cause, ...(a.subject ? { subject: a.subject } : {}), severity: a.severity, raised_by: a.raised_by },
        1,
      );
    }
    put('agent_runner_service_running', base, s.service.state === 'running' ? 1 : s.service.state === 'stopped' ? 0 : null);
    put('agent_runner_heartbeat_age_seconds', base, s.service.heartbeat_age_s);
    put('agent_runner_stop_requested', base, s.service.stop_requested ? 1 : 0);
    put('agent_runner_paused', base, s.service.pause ? 1 : 0);
    put('agent_runner_agent_done', base, s.service.agent_done !== null ? 1 : 0);
    // An older host's document has no last_exit: unknown, so no sample.
    if (s.service.state === 'stopped' && s.service.last_exit !== undefined)
      put('agent_runner_stopped_on_purpose', base, s.service.last_exit?.on_purpose ? 1 : 0);
    put('agent_runner_round_running', base, s.current_round ? 1 : 0);
    put('agent_runner_round_elapsed_seconds', base, s.current_round?.elapsed_s);
    put('agent_runner_round_number', base, s.rounds[0]?.round ?? s.current_round?.round);
    for (const [cls, n] of Object.entries(s.counts_24h)) put('agent_runner_rounds_24h', { ...base, classification: cls }, n);
    put('agent_runner_rounds_today', base, s.today.rounds);
    put('agent_runner_cost_today_dollars', base, s.today.cost_usd);
    put('agent_runner_backoff_remaining_seconds', base, s.backoff ? Math.max(0, (Date.parse(s.backoff.until) - nowMs) / 1000) : 0);
    put('agent_runner_rate_limited', base, s.rate_limit && Date.parse(s.rate_limit.throttled_until) > nowMs ? 1 : 0);
    if (s.system.disk) {
      put('agent_runner_disk_used_ratio', base, s.system.disk.used_pct / 100);
      put('agent_runner_disk_free_bytes', base, s.system.disk.free_bytes);
    }
    if (s.system.memory) {
      put('agent_runner_memory_available_bytes', base, s.system.memory.available_bytes);
      put('agent_runner_memory_total_bytes', base, s.system.memory.total_bytes);
    }
    if (p.window.lastRunnerEventMs !== undefined)
      put('agent_runner_last_event_age_seconds', base, Math.max(0, (nowMs - p.window.lastRunnerEventMs) / 1000));
  }
  return fams;
}

// Label values escape alike in both formats. HELP texts do not (0.0.4 leaves `"` as is,
// OpenMetrics escapes it): they are constants free of `\`, `"` and newlines instead, which
// metrics-format.test.ts holds them to.
const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
// OpenMetrics requires a declared unit to be the name's suffix; the name is its one source.
const unitOf = (name: string): string | undefined => /_(seconds|bytes|ratio|dollars)$/.exec(name)?.[1];

function expose(fams: ReadonlyMap<FamilyName, Sample[]>, format: MetricsFormat): string {
  const out: string[] = [];
  for (const [name, samples] of fams) {
    const { type, help } = METRIC_FAMILIES[name];
    const sampleName = type === 'counter' ? `${name}_total` : name;
    if (format === 'openmetrics') {
      // The family is the counter's name without `_total`; TYPE, UNIT, HELP is the spec's order.
      const unit = unitOf(name);
      out.push(`# TYPE ${name} ${type}`, ...(unit ? [`# UNIT ${name} ${unit}`] : []), `# HELP ${name} ${help}`);
    } else {
      // 0.0.4 has no families apart from their samples: HELP and TYPE name the sample.
      out.push(`# HELP ${sampleName} ${help}`, `# TYPE ${sampleName} ${type}`);
    }
    for (const s of samples)
      out.push(
        `${sampleName}{${Object.entries(s.labels)
          .map(([k, v]) => `${k}="${esc(v)}"`)
          .join(',')}} ${s.value}`,
      );
  }
  if (format === 'openmetrics') out.push('# EOF');
  return `${out.join('\n')}\n`;
}

interface MediaRange {
  type: string;
  subtype: string;
  params: Map<string, string>;
  q: number;
}

const FORMAT_MEDIA: Readonly<Record<MetricsFormat, { type: string; subtype: string; version: string }>> = {
  prometheus: { type: 'text', subtype: 'plain', version: '0.0.4' },
  openmetrics: { type: 'application', subtype: 'openmetrics-text', version: '1.0.0' },
};

/**
 * The format to answer a request whose `Accept` header is `accept` (RFC 9110 §12.5.1): each
 * format takes the q-value of the most specific media range that matches it (`text/plain`
 * over `text/*` over the full wildcard; a range naming a `version` matches only that version:
 * 0.0.4 for `text/plain`, 1.0.0 for `application/openmetrics-text`). The higher q wins; on a
 * tie the format named more specifically wins, then the 0.0.4 text. With no header, an
 * unparsable one, or nothing acceptable, the 0.0.4 text: what every scraper reads. So
 * Prometheus' own header (`application/openmetrics-text;version=1.0.0`, then OpenMetrics
 * 0.0.1 at q=0.75, `text/plain;version=0.0.4;q=0.5` and the full wildcard at q=0.1) gets
 * OpenMetrics; curl and browsers (the full wildcard, or `text/html` and wildcards) get the text.
 */
export function negotiateMetricsFormat(accept: string | undefined): MetricsFormat {
  const ranges = (accept ?? '').split(',').flatMap((r) => mediaRange(r) ?? []);
  const score = (format: MetricsFormat): { q: number; specificity: number } => {
    let best = { q: 0, specificity: -1 };
    for (const r of ranges) {
      const specificity = matchSpecificity(r, FORMAT_MEDIA[format]);
      if (specificity > best.specificity) best = { q: r.q, specificity };
    }
    return best;
  };
  const om = score('openmetrics');
  const text = score('prometheus');
  if (om.q === 0) return 'prometheus';
  return om.q > text.q || (om.q === text.q && om.specificity > text.specificity) ? 'openmetrics' : 'prometheus';
}

function mediaRange(s: string): MediaRange | undefined {
  const [range, ...rest] = s.split(';').map((p) => p.trim());
  const m = /^([\w.+-]+|\*)\/([\w.+-]+|\*)$/.exec(range ?? '');
  if (!m?.[1] || !m[2] || (m[1] === '*' && m[2] !== '*')) return undefined;
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0)
      params.set(
        p.slice(0, eq).trim().toLowerCase(),
        p
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1'),
      );
  }
  const q = params.has('q') ? Number(params.get('q')) : 1;
  if (!(q >= 0 && q <= 1)) return undefined;
  params.delete('q');
  return { type: m[1].toLowerCase(), subtype: m[2].toLowerCase(), params, q };
}

/** How specifically `r` names `media` (0 the full wildcard, 1 `type/*`, 2 `type/subtype`, 3 with its version); -1 when it does not match. */
function matchSpecificity(r: MediaRange, media: { type: string; subtype: string; version: string }): number {
  if (r.type === '*') return 0;
  if (r.type !== media.type) return -1;
  if (r.subtype === '*') return 1;
  if (r.subtype !== media.subtype) return -1;
  const version = r.params.get('version');
  if (version === undefined) return 2;
  return version === media.version ? 3 : -1;
}
