import type { EventRecord } from '@agent-runner/core/events';
import { lastExitText } from '@agent-runner/core/peek';
import { dailySvg, legendHtml, timelineSvg } from './charts.js';
import type { Finding } from './detectors.js';
import type { PageHistory } from './history.js';
import type { HostSnapshot } from './snapshot.js';

/** What the progress page and `/api/state` show for one host. */
export interface PageState {
  host: string;
  generated_at: string;
  snapshot: HostSnapshot | null;
  /** Last 50 lines of the narrative file (empty when it does not exist). */
  narrative: string[];
  narrative_file: string | null;
  /** Newest 20 events, oldest first. */
  recent_events: EventRecord[];
  /** Last 50 lines of the live round log. */
  log_tail: string[];
  log_file: string | null;
  findings: Finding[];
  link: string;
  last_error: string | null;
  /** What the dashboard plots; null before the first snapshot of a remote host. */
  history: PageHistory | null;
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

// Terminal escape sequences from agent output are stripped before display.
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/** Renders the self-refreshing progress page (no script: a meta refresh every `refreshS`). */
export function renderPage(states: readonly PageState[], refreshS = 5): string {
  const body = `${states.length > 1 ? fleetTable(states) : ''}${states.map((st) => hostSection(st)).join('\n')}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${refreshS}">
<title>agent-runner monitor</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.4em;border-bottom:1px solid #ccc}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;max-height:30em}
table{border-collapse:collapse}td,th{padding:.15em .6em;text-align:left;border-bottom:1px solid #eee}
.crit,.critical{color:#b00;font-weight:bold}.warning{color:#a60}.ok{color:#070}
svg{width:100%;max-width:960px;height:auto;display:block}.legend{font-size:12px;margin-right:.6em}.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.25em}
.evf{margin:.3em 0}#events-table td:first-child{white-space:nowrap}.evf label{margin-right:.8em}
.evf-round:checked~table .ev:not(.ev-round),.evf-alert:checked~table .ev:not(.ev-alert),.evf-heal:checked~table .ev:not(.ev-heal),.evf-other:checked~table .ev:not(.ev-other){display:none}
</style></head><body>
<h1>agent-runner monitor</h1>
${body}
<p><small>Refreshes every ${refreshS} s. JSON: <a href="/api/state">/api/state</a> · metrics: <a href="/metrics">/metrics</a></small></p>
</body></html>
`;
}

function hostSection(st: PageState): string {
  const s = st.snapshot;
  const cur = s?.current_round;
  const last = s?.rounds.find((r) => r.status !== 'running');
  const state = s
    ? `<table>
<tr><th>project</th><td id="project">${esc(s.project)}</td></tr>
<tr><th>service</th><td id="service-state" class="${s.service.state === 'running' ? 'ok' : 'warning'}">${esc(s.service.state)}${s.service.pid ? ` (pid ${s.service.pid})` : ''}</td></tr>
<tr><th>round</th><td id="round-num">${cur ? esc(cur.round) : last ? esc(last.round) : '–'}</td></tr>
<tr><th>phase</th><td id="round-phase">${esc(cur?.phase ?? last?.phase ?? '–')}</td></tr>
<tr><th>activity</th><td>${esc(s.service.activity ?? (cur ? 'round' : '–'))}${cur ? `, ${Math.round(cur.elapsed_s)} s elapsed` : ''}</td></tr>
<tr><th>last outcome</th><td id="last-outcome">${last ? `${esc(last.classification ?? last.status)} (exit ${esc(last.exit_code ?? last.signal ?? '?')}, ${last.duration_s === null ? '?' : Math.round(last.duration_s)} s)` : '–'}</td></tr>
<tr><th>today</th><td>${esc(s.today.rounds)} rounds, $${s.today.cost_usd.toFixed(2)}</td></tr>
<tr><th>back-off</th><td>${s.backoff ? `${esc(s.backoff.class)} until ${esc(s.backoff.until)}` : 'none'}</td></tr>
</table>`
    : `<p class="warning">no snapshot yet${st.last_error ? `: ${esc(st.last_error)}` : ''}</p>`;
  const alerts = st.findings.length
    ? `<ul>${st.findings.map((f) => `<li class="${esc(f.severity)}">${esc(f.detector)}: ${esc(f.message)}</li>`).join('')}</ul>`
    : '<p class="ok">no active alerts</p>';
  const events = [...st.recent_events]
    .reverse()
    .map(
      (e) =>
        `<tr class="ev ev-${eventGroup(e.kind)}"><td>${esc(e.ts)}</td><td>${esc(e.kind)}</td><td>${e.round === undefined ? '' : esc(e.round)}</td><td>${esc(summary(e))}</td></tr>`,
    )
    .join('\n');
  // Filters without a script (the CSP allows none): a checked radio hides the other groups' rows.
  const group = `evf-${esc(st.host)}`;
  const filters = ['all', ...EVENT_GROUPS]
    .map(
      (g, i) =>
        `<input type="radio" name="${group}" id="${group}-${g}" class="evf-${g}"${i === 0 ? ' checked' : ''}><label for="${group}-${g}">${g}</label>`,
    )
    .join('');
  const flags = s
    ? `<ul><li>stop requested: <b id="flag-stop">${s.service.stop_requested ? 'yes' : 'no'}</b></li><li>agent done (.agent-done): <b id="flag-done">${s.service.agent_done !== null ? `yes — ${esc(s.service.agent_done)}` : 'no'}</b></li>${lastExitItem(s.service)}</ul>`
    : '<p>unknown</p>';
  return `<section class="host" id="host-${esc(st.host)}" data-host="${esc(st.host)}">
<h2 id="round-state">Round state — ${esc(st.host)}</h2>
${state}
<h2 id="dashboard">Last 24 hours</h2>
${st.history ? `${timelineSvg(st.history)}<p>${legendHtml()} · heals: blue, red when failed · alerts: orange, red when error or critical</p><h2 id="per-day">Per day (UTC)</h2>${dailySvg(st.history)}` : '<p>no history yet</p>'}
<h2 id="alerts">Alerts</h2>
${alerts}
<h2 id="narrative">Narrative${st.narrative_file ? ` <small>${esc(st.narrative_file)}</small>` : ''}</h2>
<pre id="narrative-text">${esc(st.narrative.join('\n')) || '(no narrative file)'}</pre>
<h2 id="recent-events">Recent events, newest first</h2>
<div class="evf">${filters}
<table id="events-table"><tr><th>time</th><th>kind</th><th>round</th><th>details</th></tr>
${events}
</table></div>
<h2 id="round-log">Round transcript${st.log_file ? ` <small>${esc(st.log_file)}</small>` : ''}</h2>
<pre id="log-tail">${esc(st.log_tail.join('\n').replace(ANSI, '')) || '(no round log)'}</pre>
<h2 id="flags">Stop / done flags</h2>
${flags}
</section>`;
}

const EVENT_GROUPS = ['round', 'alert', 'heal', 'other'] as const;

/** The filter group of an event kind (docs/events.md). */
function eventGroup(kind: string): (typeof EVENT_GROUPS)[number] {
  if (kind.startsWith('round_')) return 'round';
  if (
    kind.startsWith('monitor_alert') ||
    kind.endsWith('_paused') ||
    kind === 'crash_loop' ||
    kind === 'config_broken' ||
    kind === 'budget_exhausted' ||
    kind === 'monitor_remote_giveup'
  )
    return 'alert';
  if (kind.startsWith('heal_')) return 'heal';
  return 'other';
}

/** One row per host/project: its state at a glance, linked to its section. */
function fleetTable(states: readonly PageState[]): string {
  const rows = states.map((st) => {
    const s = st.snapshot;
    const last = s?.rounds.find((r) => r.status !== 'running');
    const state = !s ? 'unreachable' : st.findings.length ? 'alert' : s.service.state;
    const cls = state === 'running' ? 'ok' : state === 'alert' || state === 'unreachable' ? 'critical' : 'warning';
    return `<tr><td><a href="#host-${esc(st.host)}">${esc(st.host)}</a></td><td>${esc(s?.project ?? '–')}</td><td class="${cls}">${esc(state)}</td><td>${esc(s?.current_round?.round ?? last?.round ?? '–')}</td><td>${esc(last?.classification ?? '–')}</td><td>${s ? `${esc(s.today.rounds)} · $${s.today.cost_usd.toFixed(2)}` : '–'}</td><td>${st.findings.length ? esc(st.findings.map((f) => f.detector).join(', ')) : ''}${st.last_error ? esc(st.last_error) : ''}</td></tr>`;
  });
  return `<h2 id="fleet">Fleet</h2>
<table id="fleet-table"><tr><th>host</th><th>project</th><th>state</th><th>round</th><th>last</th><th>today</th><th>alerts</th></tr>
${rows.join('\n')}
</table>
`;
}

const ENVELOPE = new Set(['v', 'ts', 'kind', 'unit', 'project', 'round']);

function summary(e: EventRecord): string {
  return Object.entries(e)
    .filter(([k]) => !ENVELOPE.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
    .slice(0, 300);
}

/** How a stopped runner last exited, as a list item; nothing while it runs or when unknown. */
function lastExitItem(service: HostSnapshot['service']): string {
  if (service.state !== 'stopped' || service.last_exit === undefined) return '';
  return `<li>last exit: <b id="flag-exit">${esc(lastExitText(service.last_exit))}</b></li>`;
}
