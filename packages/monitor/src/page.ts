import type { EventRecord } from '@agent-runner/core/events';
import type { Finding } from './detectors.js';
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
}


const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

// Terminal escape sequences from agent output are stripped before display.
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/** Renders the self-refreshing progress page (no script: a meta refresh every `refreshS`). */
export function renderPage(states: readonly PageState[], refreshS = 5): string {
  const body = states.map((st) => hostSection(st)).join('\n');
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
  const events = st.recent_events
    .map((e) => `<tr><td>${esc(e.ts)}</td><td>${esc(e.kind)}</td><td>${e.round === undefined ? '' : esc(e.round)}</td><td>${esc(summary(e))}</td></tr>`)
    .join('\n');
  const flags = s
    ? `<ul><li>stop requested: <b id="flag-stop">${s.service.stop_requested ? 'yes' : 'no'}</b></li><li>agent done (.agent-done): <b id="flag-done">${s.service.agent_done !== null ? `yes — ${esc(s.service.agent_done)}` : 'no'}</b></li></ul>`
    : '<p>unknown</p>';
  return `<section class="host" data-host="${esc(st.host)}">
<h2 id="round-state">Round state — ${esc(st.host)}</h2>
${state}
<h2 id="alerts">Alerts</h2>
${alerts}
<h2 id="narrative">Narrative${st.narrative_file ? ` <small>${esc(st.narrative_file)}</small>` : ''}</h2>
<pre id="narrative-text">${esc(st.narrative.join('\n')) || '(no narrative file)'}</pre>
<h2 id="recent-events">Recent events</h2>
<table id="events-table"><tr><th>time</th><th>kind</th><th>round</th><th>details</th></tr>
${events}
</table>
<h2 id="round-log">Round transcript${st.log_file ? ` <small>${esc(st.log_file)}</small>` : ''}</h2>
<pre id="log-tail">${esc(st.log_tail.join('\n').replace(ANSI, '')) || '(no round log)'}</pre>
<h2 id="flags">Stop / done flags</h2>
${flags}
</section>`;
}

const ENVELOPE = new Set(['v', 'ts', 'kind', 'unit', 'project', 'round']);

function summary(e: EventRecord): string {
  return Object.entries(e)
    .filter(([k]) => !ENVELOPE.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
    .slice(0, 300);
}
