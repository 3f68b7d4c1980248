import t from 'tap';
import type { PeekSnapshot } from '@agent-runner/core/peek';
import { renderWatch } from '../src/render-watch.js';

const NOW = Date.parse('2026-12-07T10:00:00.000Z');
const round = (n: number, started: string) => ({
  round: n,
  phase: null,
  status: 'finished',
  classification: 'ok',
  exit_code: 0,
  signal: null,
  duration_s: 12.5,
  cost_usd: 0.0123,
  started_at: started,
  ended_at: started,
  log_file: null,
});
const snapshot = {
  project: '項目-wide',
  generated_at: '2026-12-07T10:00:00.000Z',
  service: {
    state: 'running',
    pid: 42,
    activity: 'round',
    version: '0.1.0',
    heartbeat_age_s: 1,
    started_at: '2026-12-07T09:00:00.000Z',
    pause: null,
    stop_requested: null,
    agent_done: null,
  },
  alarms: [],
  current_round: null,
  backoff: null,
  rate_limit: null,
  counts_24h: { ok: 30 },
  today: { rounds: 30, input_tokens: 1, output_tokens: 2, cost_usd: 0.5 },
  rounds: Array.from({ length: 10 }, (_, i) => round(30 - i, i < 5 ? '2026-12-07T09:59:00.000Z' : '2026-12-06T23:00:00.000Z')),
  recent_events: [{ v: 1, ts: '2026-12-07T09:59:59.000Z', kind: 'round_end', unit: 'runner', project: 'p', round: 30 }],
} as unknown as PeekSnapshot;
const transcript = Array.from({ length: 40 }, (_, i) => `assistant: line ${i} ${'x'.repeat(100)}`);

t.test("exactly the terminal's rows, none wider, wide characters counted as two cells", async (t) => {
  for (const [columns, rows] of [
    [80, 24],
    [40, 12],
    [200, 50],
  ] as const) {
    const s = renderWatch({ snapshot, transcript, view: 'main', columns, rows, intervalS: 2, nowMs: NOW });
    t.equal(s.length, rows, `${columns}x${rows}: rows`);
    t.ok(
      s.every((l) => [...l].reduce((w, c) => w + (/[\u3000-\u9fff]/.test(c) ? 2 : 1), 0) <= columns),
      `${columns}x${rows}: no row wider`,
    );
    t.match(s[0], /^project 項目-wide {2}RUNNING/, 'state first');
    t.match(s.at(-1), /^q quit/, 'key hints last');
    t.match(s.join('\n'), /assistant: line 39/, 'the newest transcript line kept');
  }
  const s = renderWatch({ snapshot, transcript, view: 'main', columns: 80, rows: 24, intervalS: 2, nowMs: NOW });
  t.match(s.join('\n'), /^\s+30\s+ok\s+0\s+12\.5s\s+\$0\.0123\s+09:59:00$/m, 'newest first, today as a time of day');
  t.notMatch(s.join('\n'), /12-06 23:00/, 'a third of 24 rows holds a few rounds only');
  const tall = renderWatch({ snapshot, transcript, view: 'main', columns: 80, rows: 50, intervalS: 2, nowMs: NOW });
  t.match(tall.join('\n'), /12-06 23:00$/m, 'an earlier day as month-day and time');
});

t.test('the transcript view has no rounds; the events view lists the newest first', async (t) => {
  const log = renderWatch({ snapshot, transcript, view: 'log', columns: 80, rows: 24, intervalS: 2, nowMs: NOW });
  t.notOk(log.some((l) => /^round\s+class/.test(l)));
  t.match(log.at(-1), /^q quit {2}l back/);
  const ev = renderWatch({ snapshot, transcript, view: 'events', columns: 80, rows: 24, intervalS: 2, nowMs: NOW });
  t.match(ev.join('\n'), /events, newest first:\n {2}09:59:59 {2}runner {3}round_end round=30/);
});
