/**
 * The dashboard's charts as server-rendered SVG (no script, no CDN: the page works offline on
 * a Pi and under its CSP): one time axis for the last day's rounds coloured by class, heal
 * actions and alerts; bars of cost and tokens per day.
 */
import type { PageHistory } from './history.js';

/** Colour of each round class (runner/src/adapters/types.ts FailureClass, plus running and interrupted; others grey). */
const CLASS_COLOUR: Record<string, string> = {
  ok: '#2a9d3a',
  running: '#7fb3e6',
  rate_limit: '#e07b20',
  overloaded: '#e0b030',
  server_error: '#d0a020',
  network: '#c9a0dc',
  timeout: '#8e5bc0',
  hang: '#6a3d9a',
  auth: '#c02020',
  config: '#a01060',
  crash: '#e05050',
  interrupted: '#999999',
};

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);

/**
 * The last day on one axis: a lane of rounds (one bar from start to end, a running round to
 * now, each with a `<title>` tooltip), a lane of heal actions and a lane of alerts (ticks),
 * hour labels below. `width` in SVG user units (the page scales it to its column).
 */
export function timelineSvg(h: PageHistory, width = 960): string {
  const left = 70;
  const span = Math.max(1, h.to_ms - h.from_ms);
  const x = (ms: number): number => left + ((Math.min(Math.max(ms, h.from_ms), h.to_ms) - h.from_ms) / span) * (width - left - 10);
  const bars = h.rounds
    .map((r) => {
      const x0 = x(r.start_ms);
      // At least 2 units: a one-minute round of a day is 0.6 of them.
      const w = Math.max(2, x(r.end_ms ?? h.to_ms) - x0);
      return `<rect class="round ${esc(r.class)}" x="${x0.toFixed(1)}" y="8" width="${w.toFixed(1)}" height="24" fill="${CLASS_COLOUR[r.class] ?? '#bbbbbb'}"><title>round ${r.round}: ${esc(r.class)} at ${hhmm(r.start_ms)}Z</title></rect>`;
    })
    .join('');
  const ticks = (items: Array<{ at_ms: number; label: string; colour: string }>, y: number): string =>
    items
      .map(
        (i) =>
          `<rect class="tick" x="${(x(i.at_ms) - 1).toFixed(1)}" y="${y}" width="3" height="14" fill="${i.colour}"><title>${esc(i.label)}</title></rect>`,
      )
      .join('');
  const heals = ticks(
    h.heals.map((a) => ({
      at_ms: a.at_ms,
      label: `${hhmm(a.at_ms)}Z ${a.target}: ${a.action} (${a.result})`,
      colour: a.result === 'failed' ? '#c02020' : '#3060c0',
    })),
    40,
  );
  const alerts = ticks(
    h.alerts.map((a) => ({
      at_ms: a.at_ms,
      label: `${hhmm(a.at_ms)}Z ${a.detector} [${a.severity}]${a.cleared_ms ? `, cleared ${hhmm(a.cleared_ms)}Z` : ', active'}`,
      colour: a.severity === 'critical' || a.severity === 'error' ? '#c02020' : '#e07b20',
    })),
    60,
  );
  const hours = Array.from({ length: 7 }, (_, i) => h.from_ms + (i * span) / 6)
    .map(
      (ms, i) => `<text x="${x(ms).toFixed(1)}" y="92" text-anchor="${i === 0 ? 'start' : i === 6 ? 'end' : 'middle'}">${hhmm(ms)}</text>`,
    )
    .join('');
  return `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} 100" role="img" aria-label="rounds, heal actions and alerts over the last 24 hours">
<g font-size="11" fill="#555"><text x="0" y="24">rounds</text><text x="0" y="52">heals</text><text x="0" y="72">alerts</text>${hours}</g>
<line x1="${left}" y1="80" x2="${width - 10}" y2="80" stroke="#ccc"/>
${bars}${heals}${alerts}
</svg>`;
}

/** Bars per day of one figure (`cost_usd` or tokens), a label over each. */
export function dailySvg(h: PageHistory, width = 960): string {
  const n = Math.max(1, h.days.length);
  const slot = (width - 20) / n;
  const maxCost = Math.max(1e-9, ...h.days.map((d) => d.cost_usd));
  const maxTok = Math.max(1, ...h.days.map((d) => d.input_tokens + d.output_tokens));
  const cols = h.days
    .map((d, i) => {
      const x0 = 10 + i * slot;
      const ch = (d.cost_usd / maxCost) * 60;
      const th = ((d.input_tokens + d.output_tokens) / maxTok) * 60;
      const bw = slot * 0.35;
      return `<g class="day" data-day="${d.day}"><rect x="${(x0 + slot * 0.1).toFixed(1)}" y="${(80 - ch).toFixed(1)}" width="${bw.toFixed(1)}" height="${ch.toFixed(1)}" fill="#3060c0"><title>${d.day}: $${d.cost_usd.toFixed(4)}</title></rect><rect x="${(x0 + slot * 0.5).toFixed(1)}" y="${(80 - th).toFixed(1)}" width="${bw.toFixed(1)}" height="${th.toFixed(1)}" fill="#e0b030"><title>${d.day}: ${d.input_tokens} in / ${d.output_tokens} out tokens</title></rect><text x="${(x0 + slot / 2).toFixed(1)}" y="12" text-anchor="middle">$${d.cost_usd.toFixed(2)} · ${d.rounds} r</text><text x="${(x0 + slot / 2).toFixed(1)}" y="96" text-anchor="middle">${d.day.slice(5)}</text></g>`;
    })
    .join('');
  return `<svg id="daily" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} 100" role="img" aria-label="cost (blue) and tokens (yellow) per day">
<g font-size="11" fill="#555">${cols}</g>
<line x1="10" y1="80" x2="${width - 10}" y2="80" stroke="#ccc"/>
</svg>`;
}

/** The legend of the round colours, as HTML. */
export function legendHtml(): string {
  return Object.entries(CLASS_COLOUR)
    .map(([c, colour]) => `<span class="legend"><i style="background:${colour}"></i>${c}</span>`)
    .join(' ');
}
