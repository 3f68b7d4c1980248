import cliTruncate from 'cli-truncate';
import type { PeekSnapshot } from '@agent-runner/core/peek';
import { peekStatus } from './render-peek.js';
import { table } from './table.js';

/** What the screen of `watch` shows under its pinned state lines. */
export type WatchView = 'main' | 'log' | 'events';

/** The inputs of one frame. */
export interface WatchFrame {
  snapshot: PeekSnapshot;
  /** The transcript of the current (else the latest) round, oldest first, already redacted. */
  transcript: string[];
  view: WatchView;
  /** Terminal size in cells. */
  columns: number;
  rows: number;
  /** Refresh interval, seconds (shown in the key hints). */
  intervalS: number;
  /** Now, ms since the epoch (for short times of today's rounds). */
  nowMs: number;
}

const KEYS: Record<WatchView, string> = {
  main: 'q quit  l transcript  e events',
  log: 'q quit  l back  e events',
  events: 'q quit  l transcript  e back',
};

/** `HH:MM:SS` for a time of the same UTC day as `nowMs`, else `MM-DD HH:MM`. */
function shortTime(iso: string, nowMs: number): string {
  return iso.slice(0, 10) === new Date(nowMs).toISOString().slice(0, 10) ? iso.slice(11, 19) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/**
 * One screen of `watch`: exactly `rows` lines, none wider than `columns` cells (wide
 * characters and escape sequences counted by cli-truncate), so the terminal never scrolls or
 * wraps. The state lines are pinned at the top and the key hints at the bottom; between them
 * the newest rounds and the live transcript (`main`), the transcript alone (`log`), or the
 * newest events first (`events`). A terminal too small for all of it loses the middle first.
 */
export function renderWatch(f: WatchFrame): string[] {
  const { snapshot: p, columns, rows } = f;
  // The time is in the key hints' line instead.
  const head = peekStatus(p, { stamped: false });
  const foot = `${KEYS[f.view]}  (every ${f.intervalS}s, ${new Date(f.nowMs).toISOString().slice(11, 19)}Z)`;
  const room = Math.max(0, rows - head.length - 1);
  const body: string[] = [];
  if (f.view === 'events') {
    body.push('events, newest first:');
    for (const e of [...p.recent_events].reverse())
      body.push(`  ${shortTime(e.ts, f.nowMs)}  ${e.unit.padEnd(8)} ${e.kind}${e.round !== undefined ? ` round=${e.round}` : ''}`);
  } else {
    if (f.view === 'main') {
      // A third of the room for rounds (newest first), the rest for what the agent is doing.
      const shown = p.rounds.slice(0, Math.max(1, Math.floor(room / 3) - 2));
      const rounds = shown.map((r) => [
        String(r.round),
        r.classification ?? r.status,
        r.signal ?? (r.exit_code === null ? '-' : String(r.exit_code)),
        r.duration_s === null ? '-' : `${r.duration_s}s`,
        r.cost_usd === null ? '-' : `$${r.cost_usd.toFixed(4)}`,
        shortTime(r.started_at, f.nowMs),
      ]);
      body.push(
        '',
        ...(rounds.length
          ? table(rounds, { head: ['round', 'class', 'exit', 'took', 'cost', 'started'], right: [0, 2, 3, 4] })
          : ['(no rounds yet)']),
      );
    }
    const round = p.current_round?.round ?? p.rounds[0]?.round;
    body.push(
      '',
      round === undefined ? 'transcript: (no round yet)' : `transcript of round ${round}${p.current_round ? ' (running)' : ''}:`,
    );
    const left = Math.max(0, room - body.length);
    body.push(...f.transcript.slice(-left));
  }
  const middle = body.slice(0, room);
  const screen = [...head, ...middle, ...Array<string>(Math.max(0, room - middle.length)).fill(''), foot].slice(0, rows);
  return screen.map((l) => cliTruncate(l, columns));
}
