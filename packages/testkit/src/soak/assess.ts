/**
 * The soak's verdict: the assertions of issue 14, in its order, each a row with what was
 * expected, what happened and the evidence, computed from what the run recorded.
 *
 * Notifications are attributed to a fault by the time their outbox row was created (the
 * ledger's `created_at_ms`, so a delivery held back by a receiver outage still counts for the
 * fault that caused it): to the latest-started fault whose span — its start to the later of
 * its allowance's end and the work's recovery, plus 30 s — contains it.
 *
 * Throughput: ok rounds of the faulted project outside the faults' allowance windows (each from
 * the fault's start for its allowance: its declared legitimate cost, from the settings and its
 * own parameters), against ok rounds of the control project in the same stretches of time —
 * paired, so load on the machine (the faults' own restarts, other jobs) weighs on both sides
 * alike. Rounds and time inside the windows are left out, so a product that recovers faster
 * than the allowance gains nothing, and one that takes longer loses the rounds it did not run.
 */
import { ALARMS } from '@agent-runner/core/alarms';
import type { Delivery } from '../receivers.js';
import type { GitFacts, ProjectFacts } from './collect.js';
import type { EpisodeRecord, SoakRun } from './driver.js';
import type { ProcessRss, UnitRss } from './watcher.js';
import { FAULTS } from './faults.js';
import type { SoakEvent } from './feed.js';
import { upOrComing } from './probe.js';

/** One assertion. */
export interface Row {
  check: string;
  expected: string;
  actual: string;
  pass: boolean;
  /** Evidence lines (shown when it failed). */
  details: string[];
  /** Moments worth the events around them, ms. */
  at: number[];
}

/** The figures the rows rest on (also for bench/README.md). */
export interface Figures {
  wallS: number;
  spanS: number;
  discountedS: number;
  faults: number;
  receiverWindows: number;
  /** Ok rounds of the faulted project outside the fault allowances (shares of cycles, see {@link okWork}). */
  okSoak: number;
  /** Ok rounds of the control project in the same time. */
  okCalm: number;
  roundsSoak: number;
  roundsCalm: number;
  throughputRatio: number;
  notifications: number;
}

/** Rows and figures. */
export interface Assessment {
  rows: Row[];
  figures: Figures;
  pass: boolean;
}

/** What the assessment reads besides the run. */
export interface Facts {
  soak: ProjectFacts;
  calm: ProjectFacts;
  git: GitFacts;
  names: { soak: string; calm: string };
}

/** Work that resumes this long after its allowance is still on time (scheduling noise), s. */
export const RESUME_SLACK_S = 10;
/** A notification this long after a fault's span still belongs to it, s. */
export const ATTRIBUTION_SLACK_S = 30;
/** `bridge.dedupe_window_s` (the soak keeps the default): identical texts inside it are one notification, s. */
export const DEDUPE_WINDOW_S = 600;
/** Highest RSS growth of a unit over the measured span. */
export const MAX_RSS_GROWTH = 0.1;
/** Lowest throughput against the control. */
export const MIN_THROUGHPUT = 0.95;

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);

/** An alarm or recovery of a cause, as a delivery carries it. */
export function alarmOf(d: Delivery): { cause: string; phase: string } | undefined {
  const p = d.payload;
  if (p && typeof p['cause'] === 'string' && typeof p['phase'] === 'string') return { cause: p['cause'], phase: p['phase'] };
  if (d.kind in ALARMS) return { cause: d.kind, phase: 'alarm' };
  return undefined;
}

function spanEnd(e: EpisodeRecord): number {
  return Math.max(e.endMs, e.startMs + e.allowanceS * 1000, e.recoveredMs ?? 0);
}

/** The fault a notification created at `atMs` belongs to. */
export function attribute(episodes: EpisodeRecord[], atMs: number): EpisodeRecord | undefined {
  let best: EpisodeRecord | undefined;
  for (const e of episodes) {
    if (atMs >= e.startMs - 2000 && atMs <= spanEnd(e) + ATTRIBUTION_SLACK_S * 1000 && (!best || e.startMs > best.startMs)) best = e;
  }
  return best;
}

/** Total length of the union of `[start, end]` intervals clipped to `[lo, hi]`, ms. */
export function unionMs(intervals: Array<[number, number]>, lo: number, hi: number): number {
  const xs = intervals
    .map(([a, b]): [number, number] => [Math.max(a, lo), Math.min(b, hi)])
    .filter(([a, b]) => b > a)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const x of xs) {
    if (cur && x[0] <= cur[1]) cur[1] = Math.max(cur[1], x[1]);
    else {
      if (cur) total += cur[1] - cur[0];
      cur = [x[0], x[1]];
    }
  }
  return total + (cur ? cur[1] - cur[0] : 0);
}

/**
 * Ok rounds done in `[lo, hi]` outside `windows` (ms), each counted by the share of its cycle
 * that lies there: a cycle runs from the project's previous round end (the restart delay is
 * part of the work's pace) or, after a pause, from the round's own start, to its end. Counting
 * shares instead of ends keeps a measured stretch of a few seconds from gaining or losing a whole
 * round by where its edges fall.
 */
export function okWork(events: readonly SoakEvent[], windows: Array<[number, number]>, lo: number, hi: number): number {
  const starts = new Map<unknown, number>();
  let lastEnd = -Infinity;
  let work = 0;
  for (const e of events) {
    if (e.kind === 'round_start') starts.set(e['round'], e.atMs);
    if (e.kind !== 'round_end') continue;
    const start = starts.get(e['round']) ?? e.atMs;
    const from = start - lastEnd <= CYCLE_GAP_MS ? lastEnd : start;
    lastEnd = e.atMs;
    if (e['classification'] !== 'ok') continue;
    const a = Math.max(from, lo);
    const b = Math.min(e.atMs, hi);
    if (b <= a) continue;
    work += (b - a - unionMs(windows, a, b)) / Math.max(1, e.atMs - from);
  }
  return work;
}

/**
 * Each fault's allowance window, ms: from the start of the cycle of the round it hits (the
 * faulted project's last round end before the fault, when it is pace, not a pause: the restart
 * delay before a faulted round is part of that round's cost) to its start plus its allowance.
 * A fault with no allowance hits no round and has no window.
 */
export function allowanceWindows(episodes: readonly EpisodeRecord[], events: readonly SoakEvent[]): Array<[number, number]> {
  const ends = events
    .filter((e) => e.kind === 'round_end')
    .map((e) => e.atMs)
    .sort((a, b) => a - b);
  return episodes
    .filter((e) => e.allowanceS > 0)
    .map((e) => {
      let lo = 0;
      let hi = ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((ends[mid] as number) <= e.startMs) lo = mid + 1;
        else hi = mid;
      }
      const before = lo > 0 ? (ends[lo - 1] as number) : -Infinity;
      return [e.startMs - before <= CYCLE_GAP_MS ? before : e.startMs, e.startMs + e.allowanceS * 1000];
    });
}

/** The longest wait between a round's end and the next round's start that is still pace, ms. */
const CYCLE_GAP_MS = 5000;

const label = (e: EpisodeRecord | undefined): string => (e ? `${e.kind}#${e.index}` : 'no fault');

/**
 * A process's RSS is judged from this age on, ms: V8 grows its heaps for the first minutes of a
 * busy process (the calm serve of a CI soak: 64.7 MiB at 30 s, 69.5 at 2 min, then sawing
 * 70-76 with no trend; the long soak's serve plateaus at 69-72 MiB from 10 to 90 min), which is
 * warm-up, not a leak.
 */
export const RSS_SETTLE_MS = 120_000;

/** The shortest settled life judged, ms. */
const RSS_MIN_SPAN_MS = 30_000;

/**
 * The span whose lowest sample is a reading, ms: a leak raises the floor memory returns to
 * after collection, while a single sample may catch a process mid-allocation.
 */
export const RSS_FLOOR_WINDOW_MS = 60_000;

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

const floor = (
  samples: ProcessRss['samples'],
  fromMs: number,
  toMs: number,
  pick = (s: ProcessRss['samples'][number]): number | undefined => s[1],
): number => Math.min(...samples.filter(([t]) => t >= fromMs && t <= toMs).map((s) => pick(s) ?? NaN));

/**
 * RSS growth of a unit: the floor of its main process's first {@link RSS_FLOOR_WINDOW_MS}
 * after {@link RSS_SETTLE_MS} against the floor of its last (each at most a third of the
 * judged span). When systemd started a new process during the run, the process at the end is
 * judged (a restart resets memory; the restart itself is judged by the other rows).
 */
export function rssGrowth(u: UnitRss): { growth?: number; text: string } {
  const first = u.processes[0];
  const last = u.processes.at(-1);
  if (!first || !last) return { text: 'never sampled' };
  const settled = last.samples.find(([t]) => t - last.firstSeenMs >= RSS_SETTLE_MS);
  const end = last.samples.at(-1);
  const restarts = u.processes.length > 1 ? `, ${u.processes.length - 1} restart(s); pid ${last.pid} judged` : '';
  if (!settled || !end || end[0] - settled[0] < RSS_MIN_SPAN_MS) {
    return {
      text: `pid ${last.pid} ran ${(((end?.[0] ?? last.firstSeenMs) - last.firstSeenMs) / 1000).toFixed(0)} s: too short to judge${restarts}`,
    };
  }
  // Windows of a short life shrink to a third of it, so the two never share a sample.
  const w = Math.min(RSS_FLOOR_WINDOW_MS, (end[0] - settled[0]) / 3);
  const from = floor(last.samples, settled[0], settled[0] + w);
  const to = floor(last.samples, end[0] - w, end[0]);
  const growth = to / from - 1;
  const anonFrom = floor(last.samples, settled[0], settled[0] + w, (s) => s[2]);
  const anonTo = floor(last.samples, end[0] - w, end[0], (s) => s[2]);
  const anon = Number.isFinite(anonFrom) && Number.isFinite(anonTo) ? `; its own (RssAnon) ${mib(anonFrom)} -> ${mib(anonTo)}` : '';
  return {
    growth,
    text: `floor ${mib(from)} -> ${mib(to)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} % over ${((end[0] - settled[0]) / 1000).toFixed(0)} s${restarts})${anon}`,
  };
}

/** Computes every row. */
export function assess(run: SoakRun, f: Facts): Assessment {
  const rows: Row[] = [];
  const row = (check: string, expected: string, actual: string, pass: boolean, details: string[] = [], at: number[] = []): void => {
    rows.push({ check, expected, actual, pass, details, at });
  };
  const soakEvents = run.events[f.names.soak] ?? [];
  const calmEvents = run.events[f.names.calm] ?? [];
  const created = new Map(f.soak.outbox.map((o) => [o.idempotencyKey, o.createdAtMs]));

  // 1. Zero manual interventions.
  const unplanned = run.actions.filter((a) => a.episode < 0 || !a.ok);
  row(
    'manual interventions beyond the re-login and the config fix',
    '0',
    String(unplanned.length),
    unplanned.length === 0,
    unplanned.map((a) => `${clock(a.atMs)} ${a.what}${a.ok ? '' : ' (failed)'}: ${a.detail}`),
    unplanned.map((a) => a.atMs),
  );
  // Running, starting, or waiting out RestartSec= after a failure systemd restarts: not left down.
  const units = Object.entries(run.unitsAtEnd).flatMap(([p, us]) => Object.entries(us).map(([r, s]) => ({ name: `${p}/${r}`, s })));
  const down = units
    .filter((u) => !upOrComing(u.s))
    .map((u) => `${u.name}: ${u.s.active}/${u.s.sub} (result ${u.s.result}, exit ${u.s.status}, ${u.s.restarts} restarts)`);
  const coming = units.filter((u) => upOrComing(u.s) && u.s.active !== 'active').map((u) => `${u.name} ${u.s.active}/${u.s.sub}`);
  row(
    'no unit left failed or stopped',
    `all ${units.length} units up`,
    down.length ? down.join('; ') : `all up${coming.length ? ` (${coming.join(', ')})` : ''}`,
    down.length === 0,
    down,
    [run.t1Ms],
  );
  const late = run.episodes.filter((e) => e.recoveredMs === null || e.recoveredMs > e.startMs + (e.allowanceS + RESUME_SLACK_S) * 1000);
  row(
    'no work stalled beyond what a fault legitimately demands',
    `each fault: an ok round within its allowance + ${RESUME_SLACK_S} s`,
    late.length ? `${late.length} late` : 'none late',
    late.length === 0 && !run.abandoned,
    [
      ...late.map(
        (e) =>
          `${label(e)} at ${clock(e.startMs)}: allowance ${e.allowanceS.toFixed(1)} s, work ${e.recoveredMs ? `resumed after ${secs(e.recoveredMs - e.startMs)}` : 'never resumed'}${e.notes.length ? ` (${e.notes.join('; ')})` : ''}`,
      ),
      ...(run.abandoned ? [`schedule abandoned: ${run.abandoned}`] : []),
    ],
    late.map((e) => e.startMs),
  );

  // 2 and 3. Notifications: one alarm and one recovery per human-needing fault, none otherwise.
  const accepted = run.webhook.filter((d) => d.status === 200 && !d.redelivery);
  const soakHook = accepted.filter((d) => d.path === `/hook/${f.names.soak}`);
  const calmHook = accepted.filter((d) => d.path !== `/hook/${f.names.soak}`);
  const byEpisode = new Map<EpisodeRecord | undefined, Delivery[]>();
  // A recovery belongs to the fault of the alarm it answers (payload.reply_to), even when it was
  // queued a moment after the next fault began.
  const episodeOfAlarm = new Map<string, EpisodeRecord | undefined>();
  for (const d of soakHook) {
    const key = (d.key ?? '').replace(/:[^:]+$/, '');
    const t = created.get(key) ?? d.atMs;
    const replyTo = d.payload?.['reply_to'];
    const e = typeof replyTo === 'string' && episodeOfAlarm.has(replyTo) ? episodeOfAlarm.get(replyTo) : attribute(run.episodes, t);
    if (alarmOf(d)?.phase === 'alarm') episodeOfAlarm.set(key, e);
    byEpisode.set(e, [...(byEpisode.get(e) ?? []), d]);
  }
  const human = run.episodes.filter((e) => FAULTS[e.kind].alarm !== null);
  const wrongHuman: string[] = [];
  for (const e of human) {
    const cause = FAULTS[e.kind].alarm as string;
    const got = (byEpisode.get(e) ?? []).map(alarmOf).filter((a) => a?.cause === cause);
    const alarms = got.filter((a) => a?.phase === 'alarm').length;
    const recoveries = got.filter((a) => a?.phase === 'recovery').length;
    if (alarms !== 1 || recoveries !== 1)
      wrongHuman.push(
        `${label(e)} at ${clock(e.startMs)}: ${alarms} ${cause} alarm(s), ${recoveries} recovery(ies); ${e.notes.join('; ')}`,
      );
  }
  row(
    'every human-needing fault: exactly one alarm and one recovery at the receiver',
    `${human.length} faults x (1 alarm + 1 recovery)`,
    wrongHuman.length ? `${wrongHuman.length} of ${human.length} wrong` : 'all exact',
    wrongHuman.length === 0,
    wrongHuman,
    human.filter((e) => wrongHuman.some((w) => w.startsWith(label(e)))).map((e) => e.startMs),
  );
  const noise: string[] = [];
  const noiseAt: number[] = [];
  for (const [e, ds] of byEpisode) {
    const cause = e ? FAULTS[e.kind].alarm : null;
    for (const d of ds) {
      if (cause !== null && alarmOf(d)?.cause === cause) continue;
      noise.push(`${label(e)}: ${clock(d.atMs)} [${d.kind}/${d.priority}] ${d.title}`);
      noiseAt.push(d.atMs);
    }
  }
  for (const d of calmHook) noise.push(`fault-free control: ${clock(d.atMs)} [${d.kind}/${d.priority}] ${d.title}`);
  row('benign faults (and no fault): no notification', '0', String(noise.length), noise.length === 0, noise, noiseAt.slice(0, 5));

  // 4. Duplicates: one alarm phase per key, ntfy matching the webhook's distinct messages.
  const redeliveries = run.webhook.filter((d) => d.redelivery).length;
  // The same alarm phase under two keys, or the same text twice inside the bridge's dedupe window.
  const seen = new Map<string, { key: string; atMs: number }>();
  const dups: string[] = [];
  for (const d of soakHook) {
    const a = alarmOf(d);
    const id =
      a && d.payload && d.payload['alert_id'] !== undefined
        ? `${a.cause}/${String(d.payload['alert_id'])}/${a.phase}`
        : `${d.kind}|${d.title}|${d.body}`;
    const prev = seen.get(id);
    if (prev !== undefined && (id.includes('|') ? d.atMs - prev.atMs <= DEDUPE_WINDOW_S * 1000 : true))
      dups.push(`webhook: ${d.title} under keys ${prev.key} and ${d.key ?? ''}`);
    seen.set(id, { key: d.key ?? '', atMs: d.atMs });
  }
  const ntfyOk = run.ntfy.filter((d) => d.status === 200 && d.path === `/${f.names.soak}-alarms`);
  // ntfy has no idempotency key: its messages are matched to the webhook's by title (ntfy's
  // may carry a severity tag in front).
  const hookTitles = new Map<string, number>();
  for (const d of soakHook) hookTitles.set(d.title, (hookTitles.get(d.title) ?? 0) + 1);
  const ntfyTitles = new Map<string, number>();
  const ntfyOnly: string[] = [];
  for (const d of ntfyOk) {
    const t = [...hookTitles.keys()].find((h) => d.title === h || d.title.endsWith(` ${h}`));
    if (t === undefined) ntfyOnly.push(d.title);
    else ntfyTitles.set(t, (ntfyTitles.get(t) ?? 0) + 1);
  }
  for (const [t, n] of ntfyTitles)
    if (n > (hookTitles.get(t) ?? 0)) dups.push(`ntfy: "${t}" ${n} time(s), webhook ${hookTitles.get(t) ?? 0}`);
  row(
    'no duplicate deliveries (idempotency keys honoured)',
    '0',
    `${dups.length} (${redeliveries} webhook redelivery(ies) absorbed by Idempotency-Key)`,
    dups.length === 0,
    dups,
  );

  // 5-8. Data.
  const integrity = [`${f.names.soak}: ${f.soak.integrity.join('; ')}`, `${f.names.calm}: ${f.calm.integrity.join('; ')}`];
  row(
    'PRAGMA integrity_check',
    'ok (both ledgers)',
    integrity.join(', '),
    f.soak.integrity.join() === 'ok' && f.calm.integrity.join() === 'ok',
    integrity,
  );
  const roundProblems: string[] = [];
  const twice: string[] = [];
  for (const [name, facts, evs] of [
    [f.names.soak, f.soak, soakEvents],
    [f.names.calm, f.calm, calmEvents],
  ] as const) {
    const count = (kind: string): Map<number, number> =>
      evs
        .filter((e) => e.kind === kind && typeof e.round === 'number')
        .reduce((m, e) => m.set(e.round as number, (m.get(e.round as number) ?? 0) + 1), new Map<number, number>());
    const starts = count('round_start');
    const ends = count('round_end');
    const interrupted = count('round_interrupted');
    for (const r of facts.rounds) {
      const s = starts.get(r.round) ?? 0;
      const e = ends.get(r.round) ?? 0;
      const i = interrupted.get(r.round) ?? 0;
      const ok = s === 1 && (r.status === 'finished' ? e === 1 : r.status === 'interrupted' && e + i === 1);
      if (!ok)
        roundProblems.push(
          `${name} round ${r.round} (${r.status}${r.interruptReason ? `, ${r.interruptReason}` : ''}): ${s} round_start, ${e} round_end, ${i} round_interrupted`,
        );
    }
    for (const [r, n] of starts) if (n > 1) twice.push(`${name} round ${r}: ${n} round_start events`);
    const nums = facts.rounds.map((r) => r.round);
    if (new Set(nums).size !== nums.length) twice.push(`${name}: ledger round numbers repeat`);
  }
  const nRounds = f.soak.rounds.length + f.calm.rounds.length;
  row(
    'every round: one round_start and one round_end (or closed interrupted)',
    `${nRounds} rounds`,
    roundProblems.length ? `${roundProblems.length} wrong` : 'all',
    roundProblems.length === 0,
    roundProblems,
  );
  row('no round number twice', '0', String(twice.length), twice.length === 0, twice);
  const torn = [
    ...f.soak.tornLines.map((l) => `${f.names.soak} ${l.file}:${l.line}: ${l.text}`),
    ...f.calm.tornLines.map((l) => `${f.names.calm} ${l.file}:${l.line}: ${l.text}`),
  ];
  row('no torn JSONL line', `0 of ${f.soak.eventLines + f.calm.eventLines} lines`, String(torn.length), torn.length === 0, torn);

  // 9-10. The agent's work.
  const commits = run.journal.filter((j) => j.phase === 'end' && j.committed).length;
  row(
    'nothing the agent committed lost',
    `${commits} commits in HEAD's history`,
    `${f.git.lostCommits.length} missing`,
    f.git.lostCommits.length === 0,
    f.git.lostCommits,
  );
  const unstashed = f.git.uncommitted.filter((u) => u.stashes.length === 0);
  row(
    'every dirty tree stashed by SHA',
    `${f.git.uncommitted.length} uncommitted file(s), each in a recorded stash`,
    `${unstashed.length} not stashed, ${f.git.unknownStashes.length} unknown stash SHA(s)`,
    unstashed.length === 0 && f.git.unknownStashes.length === 0,
    [
      ...unstashed.map((u) => `round ${u.round}: ${u.file} in no stash`),
      ...f.git.unknownStashes.map((s) => `vcs_stashed ${s}: git does not know it`),
    ],
  );

  // 11. Throughput.
  const spanMs = run.t1Ms - run.t0Ms;
  const windows = allowanceWindows(run.episodes, soakEvents);
  const discounted = unionMs(windows, run.t0Ms, run.t1Ms);
  const okSoak = okWork(soakEvents, windows, run.t0Ms, run.t1Ms);
  const okCalm = okWork(calmEvents, windows, run.t0Ms, run.t1Ms);
  const ratio = okCalm > 0 ? okSoak / okCalm : 0;
  const measuredS = secs(spanMs - discounted);
  row(
    `throughput >= ${MIN_THROUGHPUT * 100} % of the fault-free run`,
    `>= ${MIN_THROUGHPUT * 100} %`,
    `${(ratio * 100).toFixed(1)} %`,
    ratio >= MIN_THROUGHPUT,
    [
      `faulted: ${okSoak.toFixed(1)} ok rounds in the ${measuredS} outside the allowance windows (span ${secs(spanMs)} minus ${secs(discounted)} of allowances of ${run.episodes.length} faults)`,
      `control: ${okCalm.toFixed(1)} ok rounds in the same ${measuredS}`,
    ],
  );

  // 12. Memory: each unit from its settled start to the end of the span.
  const rss = run.rss.map((u) => ({ u, g: rssGrowth(u) }));
  const fat = rss.filter((r) => r.g.growth !== undefined && r.g.growth > MAX_RSS_GROWTH);
  const measured = rss.filter((r) => r.g.growth !== undefined).map((r) => r.g.growth as number);
  row(
    `RSS of each unit, start to end: growth <= ${MAX_RSS_GROWTH * 100} %`,
    `<= +${MAX_RSS_GROWTH * 100} % (${rss.length} units)`,
    fat.length
      ? `${fat.length} over: ${fat.map((r) => `${r.u.project}/${r.u.role} +${((r.g.growth as number) * 100).toFixed(1)} %`).join(', ')}`
      : `max ${measured.length ? (Math.max(...measured) * 100).toFixed(1) : '?'} %`,
    fat.length === 0 && rss.length > 0,
    rss.map((r) => `${r.u.project}/${r.u.role}: ${r.g.text}`),
  );

  // Extra rows: what the other rows take for granted.
  const agent = run.episodes.filter((e) => e.expectedClass !== undefined);
  const misclassed = agent.filter((e) => e.observedClass !== e.expectedClass);
  row(
    '(extra) every agent fault classified as what it is',
    `${agent.length} rounds`,
    misclassed.length ? `${misclassed.length} wrong` : 'all right',
    misclassed.length === 0,
    misclassed.map((e) => `${label(e)} round ${e.round ?? '?'}: ${e.observedClass} (expected ${e.expectedClass})`),
    misclassed.map((e) => e.startMs),
  );
  const unsent = [...f.soak.outbox, ...f.calm.outbox].filter((o) => o.status !== 'sent');
  const missing = [
    ...unsent.map((o) => `${o.idempotencyKey} [${o.kind}] ${o.status} after ${o.attempts} attempt(s): ${o.lastError ?? ''}`.slice(0, 300)),
    ...ntfyOnly.map((t) => `reached ntfy, never the webhook: ${t}`),
    ...[...hookTitles].filter(([t]) => !ntfyTitles.has(t)).map(([t]) => `reached the webhook, never ntfy: ${t}`),
  ];
  row(
    '(extra) no notification lost (every outbox row sent, to both receivers)',
    '0',
    String(missing.length),
    missing.length === 0,
    missing,
  );

  const figures: Figures = {
    wallS: Math.round((run.t1Ms - run.startedAtMs) / 1000),
    spanS: Math.round(spanMs / 1000),
    discountedS: Math.round(discounted / 1000),
    faults: run.episodes.length,
    receiverWindows: run.windows.length,
    okSoak,
    okCalm,
    roundsSoak: f.soak.rounds.length,
    roundsCalm: f.calm.rounds.length,
    throughputRatio: ratio,
    notifications: accepted.length,
  };
  return { rows, figures, pass: rows.every((r) => r.pass) };
}
