import t from 'tap';
import { join } from 'node:path';
import { openLedger } from '@agent-runner/core/ledger';
import { ledgerHistory } from '../src/history.js';
import { renderPage, type PageState } from '../src/page.js';
import type { HostSnapshot } from '../src/snapshot.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const RUNNER = { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' };

t.test("a ledger's history: the last day's rounds, heals and alerts, and each day's totals", async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite'), { now: () => NOW });
  t.teardown(() => ledger.close());
  const round = (startMs: number, cls: string, cost: number): void => {
    const n = ledger.runner.startRound({ runner: RUNNER, startedAtMs: startMs });
    ledger.runner.finishRound(n, { classification: cls, costUsd: cost, inputTokens: 100, outputTokens: 10, endedAtMs: startMs + 60_000 });
  };
  round(NOW - 3 * DAY, 'ok', 1); // outside the day, inside the week
  round(NOW - 2 * 3600_000, 'rate_limit', 0.5);
  round(NOW - 3600_000, 'ok', 0.25);
  ledger.runner.startRound({ runner: RUNNER, startedAtMs: NOW - 60_000 });
  ledger.watchdog.recordHealAction({
    target: 'bridge',
    tier: 2,
    action: 'sigterm',
    result: 'succeeded',
    actor: 'watchdog',
    atMs: NOW - 1800_000,
  });
  ledger.monitor.raiseAlert({ detector: 'silence', severity: 'warning', message: 'quiet', atMs: NOW - 900_000 });
  const h = ledgerHistory(ledger, NOW);
  t.same(
    h.rounds.map((r) => [r.class, r.end_ms === null]),
    [
      ['rate_limit', false],
      ['ok', false],
      ['running', true],
    ],
    'oldest first, the running one open-ended',
  );
  t.match(h.heals, [{ target: 'bridge', action: 'sigterm', result: 'succeeded' }]);
  t.match(h.alerts, [{ detector: 'silence', severity: 'warning', cleared_ms: null }]);
  t.equal(h.days.length, 7);
  t.match(h.days.at(-1), { day: '2026-12-07', rounds: 3, cost_usd: 0.75 }, 'today, the running round counted');
  t.match(
    h.days.find((d) => d.day === '2026-12-04'),
    { rounds: 1, cost_usd: 1, input_tokens: 100, output_tokens: 10 },
  );
  t.equal(
    h.days.reduce((a, d) => a + d.rounds, 0),
    4,
    'every round in exactly one day',
  );
});

const host = (name: string, over: Partial<PageState>): PageState => ({
  host: name,
  generated_at: '2026-12-07T12:00:00.000Z',
  snapshot: null,
  narrative: [],
  narrative_file: null,
  recent_events: [],
  log_tail: [],
  log_file: null,
  findings: [],
  link: 'up',
  last_error: null,
  history: null,
  ...over,
});

t.test('the page: a fleet table for several hosts, the timeline coloured by class, events newest first with filters', async (t) => {
  const history = {
    from_ms: NOW - DAY,
    to_ms: NOW,
    rounds: [
      { round: 7, start_ms: NOW - 7200_000, end_ms: NOW - 7000_000, class: 'rate_limit' },
      { round: 8, start_ms: NOW - 600_000, end_ms: null, class: 'running' },
    ],
    heals: [{ at_ms: NOW - 3600_000, target: 'serve', action: 'sigkill', result: 'failed' }],
    alerts: [{ at_ms: NOW - 1800_000, cleared_ms: null, detector: 'crash_loop', severity: 'critical' }],
    days: [{ day: '2026-12-07', rounds: 2, cost_usd: 0.5, input_tokens: 10, output_tokens: 5 }],
  };
  const events = [
    { v: 1, ts: '2026-12-07T11:00:00.000Z', kind: 'round_start', unit: 'runner', project: 'p', round: 8 },
    { v: 1, ts: '2026-12-07T11:30:00.000Z', kind: 'heal_action', unit: 'watchdog', project: 'p' },
  ];
  const html = renderPage([
    host('pi', { history, recent_events: events, last_error: null }),
    host('<nas>', { last_error: 'ssh nas: refused' }),
  ]);
  t.match(
    html,
    /<table id="fleet-table">.*<a href="#host-pi">pi<\/a>.*<a href="#host-&lt;nas&gt;">&lt;nas&gt;<\/a><\/td><td>–<\/td><td class="critical">unreachable/s,
    'one row per host, names escaped',
  );
  t.match(html, /<rect class="round rate_limit"[^>]*fill="#e07b20"><title>round 7: rate_limit at 10:00Z<\/title>/);
  t.match(html, /<rect class="round running"[^>]*width="[\d.]+"/, 'the running round drawn to now');
  t.match(html, /<title>11:00Z serve: sigkill \(failed\)<\/title>/, 'heal actions on the same axis');
  t.match(html, /<title>11:30Z crash_loop \[critical\], active<\/title>/, 'alerts on the same axis');
  t.match(html, /<svg id="daily"[^]*\$0\.50 · 2 r/, 'cost per day');
  t.ok(html.indexOf('heal_action') < html.indexOf('round_start'), 'events newest first');
  t.match(html, /<tr class="ev ev-heal">.*heal_action/);
  t.match(html, /<input type="radio" name="evf-pi" id="evf-pi-all" class="evf-all" checked>/);
  t.notMatch(renderPage([host('pi', { history })]), /fleet-table/, 'one host: no fleet table');
});

t.test('the page says how a stopped runner last exited', async (t) => {
  const stopped = (last_exit?: HostSnapshot['service']['last_exit']): HostSnapshot => ({
    schema_version: 1,
    project: 'p',
    generated_at: '2026-12-07T12:00:00.000Z',
    service: {
      state: 'stopped',
      pid: null,
      version: null,
      activity: null,
      heartbeat_age_s: null,
      stop_requested: false,
      agent_done: null,
      ...(last_exit !== undefined ? { last_exit } : {}),
    },
    current_round: null,
    rounds: [],
    counts_24h: {},
    today: { rounds: 0, cost_usd: 0 },
    backoff: null,
    rate_limit: null,
    orphan_stashes: [],
    system: { disk: null, memory: null, agent_process_count: 0 },
    defenses: {},
    recent_events: [],
  });
  const exitText = (s: HostSnapshot): string | undefined =>
    /<b id="flag-exit">([^<]*)<\/b>/.exec(renderPage([host('pi', { snapshot: s })]))?.[1];
  t.equal(
    exitText(stopped({ reason: 'stop_requested', exit_code: 0, exited_at: '2026-12-07T11:00:00.000Z', on_purpose: true })),
    'stop_requested (exit 0) at 2026-12-07T11:00:00.000Z, on purpose',
  );
  t.equal(exitText(stopped(null)), 'not recorded (serve was killed, crashed or never started here)');
  t.equal(exitText(stopped()), undefined, 'an older host says nothing of it');
});
