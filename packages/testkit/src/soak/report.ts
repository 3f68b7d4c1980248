/** The soak's table and, when a row failed, the evidence around it. */
import type { Assessment, Row } from './assess.js';
import type { SoakEvent } from './feed.js';

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);

/** The rows as a Markdown table (what bench/README.md and the closing note show). */
export function renderTable(a: Assessment): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['| check | expected | actual | result |', '|---|---|---|---|'];
  for (const r of a.rows) lines.push(`| ${cell(r.check)} | ${cell(r.expected)} | ${cell(r.actual)} | ${r.pass ? 'pass' : '**FAIL**'} |`);
  return lines.join('\n');
}

/** One event as a line: time, unit, kind, round, then its payload. */
export function eventLine(e: SoakEvent): string {
  const { v: _v, ts: _ts, kind, unit, project: _p, round, atMs, ...rest } = e;
  const payload = JSON.stringify(rest);
  return `${clock(atMs)} ${unit.padEnd(8)} ${kind}${round !== undefined ? ` r${round}` : ''} ${payload.length > 300 ? `${payload.slice(0, 300)}…` : payload}`;
}

/** The events within `aroundS` seconds of `atMs`. */
export function eventsAround(events: readonly SoakEvent[], atMs: number, aroundS = 20, max = 60): string[] {
  return events
    .filter((e) => Math.abs(e.atMs - atMs) <= aroundS * 1000)
    .slice(0, max)
    .map(eventLine);
}

/** For each failed row: its evidence and the events around its moments. */
export function failureContext(a: Assessment, events: readonly SoakEvent[], seed: number): string {
  const out: string[] = [`seed ${seed} (rerun: SOAK_SEED=${seed})`];
  for (const r of a.rows.filter((x: Row) => !x.pass)) {
    out.push('', `FAILED: ${r.check}: expected ${r.expected}, got ${r.actual}`, ...r.details.slice(0, 40).map((d) => `  ${d}`));
    for (const at of r.at.slice(0, 3)) out.push(`  events around ${clock(at)}:`, ...eventsAround(events, at).map((l) => `    ${l}`));
  }
  return out.join('\n');
}

/** The run's figures, with the long variant's per-1,000-rounds view. */
export function renderFigures(a: Assessment, interventions: number): string {
  const f = a.figures;
  const per = (n: number): string => (f.roundsSoak ? ((n * 1000) / f.roundsSoak).toFixed(1) : '-');
  return [
    `wall time ${f.wallS} s (measured span ${f.spanS} s, ${f.discountedS} s of it discounted as fault allowances)`,
    `faulted project: ${f.roundsSoak} rounds (${f.okSoak.toFixed(1)} ok outside the fault allowances), ${f.faults} faults + ${f.receiverWindows} receiver windows, ${f.notifications} notifications, ${interventions} interventions`,
    `control project: ${f.roundsCalm} rounds (${f.okCalm.toFixed(1)} ok in the same time); throughput ratio ${(f.throughputRatio * 100).toFixed(1)} %`,
    `per 1,000 rounds: ${per(f.faults + f.receiverWindows)} faults, ${per(f.notifications)} notifications, ${per(interventions)} interventions, ${per(f.wallS)} s of wall time`,
  ].join('\n');
}
