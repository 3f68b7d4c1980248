/**
 * `/metrics` in its two formats: the Prometheus text 0.0.4 and OpenMetrics 1.0.0 render the
 * same samples from one state (counters named per format, `# UNIT` and `# EOF` only in
 * OpenMetrics), and the server picks the format from `Accept` (q-values, wildcards, versions,
 * no header) with the matching `Content-Type` and `Vary: Accept`.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serveHttp } from '../src/http.js';
import { METRIC_FAMILIES, METRICS_CONTENT_TYPES, negotiateMetricsFormat, renderMetrics } from '../src/metrics.js';
import type { HostPoller } from '../src/poller.js';
import type { HostSnapshot } from '../src/snapshot.js';

const NOW = Date.parse('2026-12-07T12:00:00.000Z');

const snapshot = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({
  schema_version: 1,
  project: 'proj',
  generated_at: '2026-12-07T12:00:00.000Z',
  service: {
    state: 'running',
    pid: 42,
    version: '0.1.0',
    activity: 'round',
    heartbeat_age_s: 3,
    stop_requested: false,
    agent_done: null,
    pause: null,
  },
  current_round: { round: 8, elapsed_s: 90.5 } as HostSnapshot['current_round'],
  rounds: [],
  counts_24h: { ok: 5, crash: 2 },
  today: { rounds: 7, cost_usd: 1.25 },
  backoff: null,
  rate_limit: null,
  orphan_stashes: [],
  system: {
    disk: { path: '/var/lib/agent-runner', free_bytes: 2_147_483_648, used_pct: 91.5 },
    memory: { total_bytes: 4e9, available_bytes: 1e9 },
    agent_process_count: 1,
  },
  defenses: {},
  alarms: [{ cause: 'crash_loop', subject: null, severity: 'critical', raised_by: 'runner', raised_at: '2026-12-07T11:00:00.000Z' }],
  recent_events: [],
  ...over,
});

// The fields renderMetrics reads; a real poller needs a source and a ledger for nothing more.
const poller = (host: string, s: HostSnapshot | undefined, ingested: number): HostPoller =>
  ({
    host,
    snapshot: s,
    link: 'ok',
    polls: 3,
    consecutiveFailures: 0,
    lastPollDurationS: 0.25,
    lastPollBytes: 0,
    lastOkMs: NOW - 5000,
    findings: [{ detector: 'silence', severity: 'error' }],
    window: { ingested, lastRunnerEventMs: NOW - 60_000 },
  }) as unknown as HostPoller;

/** `name{labels} value` lines, sorted: the samples whatever the format. */
const samples = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .sort();
const meta = (text: string, kind: string): string[] => text.split('\n').filter((l) => l.startsWith(`# ${kind} `));

t.test('one state, both formats: the same samples; counters, units and # EOF per format', async (t) => {
  const pollers = [poller('local', snapshot(), 17), poller('pi "b"\\\n', snapshot({ project: 'x', alarms: [] }), 0)];
  const { prometheus: text, openmetrics: om } = renderMetrics(pollers, NOW);

  t.same(samples(om), samples(text), 'the same samples, values and labels');
  t.ok(samples(text).length > 40, 'for both hosts');
  t.match(text, 'agent_runner_alarm_active{host="local",project="proj",cause="crash_loop",severity="critical",raised_by="runner"} 1\n');
  t.match(text, 'agent_runner_alert_active{host="local",project="proj",detector="silence",severity="error"} 1\n');
  t.match(text, 'agent_runner_alert_active{host="local",project="proj",detector="hung",severity="critical"} 0\n');
  t.match(text, 'agent_runner_disk_used_ratio{host="local",project="proj"} 0.915\n');
  t.match(text, 'agent_runner_round_elapsed_seconds{host="local",project="proj"} 90.5\n');
  t.match(text, 'agent_runner_rounds_24h{host="local",project="proj",classification="crash"} 2\n');
  t.match(text, 'agent_runner_up{host="pi \\"b\\"\\\\\\n",project="x"} 1\n', 'label values escaped (quote, backslash, newline)');

  // Counter: OpenMetrics names the family without `_total`, 0.0.4 names the sample.
  t.match(om, '# TYPE agent_runner_monitor_events_ingested counter\n# HELP agent_runner_monitor_events_ingested Events');
  t.match(
    text,
    '# HELP agent_runner_monitor_events_ingested_total Events folded into the detectors since the monitor started.\n# TYPE agent_runner_monitor_events_ingested_total counter\n',
  );
  for (const f of [om, text]) t.match(f, 'agent_runner_monitor_events_ingested_total{host="local",project="proj"} 17\n');
  t.notMatch(text, /^agent_runner_monitor_events_ingested[{ ]/m);
  t.notMatch(om, /^# (TYPE|HELP|UNIT) \w+_total /m, 'no OpenMetrics family ends in _total');
  t.same(
    meta(text, 'TYPE').filter((l) => l.endsWith(' counter')),
    ['# TYPE agent_runner_monitor_events_ingested_total counter'],
    'the one counter',
  );

  t.equal(om.slice(-6), '# EOF\n', 'OpenMetrics ends in # EOF');
  t.equal(om.indexOf('# EOF'), om.length - 6, 'once');
  t.notMatch(text, /# EOF/, '0.0.4 has no terminator');
  t.match(
    om,
    '# TYPE agent_runner_heartbeat_age_seconds gauge\n# UNIT agent_runner_heartbeat_age_seconds seconds\n# HELP agent_runner_heartbeat_age_seconds ',
  );
  t.match(om, '# UNIT agent_runner_disk_free_bytes bytes\n');
  t.match(om, '# UNIT agent_runner_disk_used_ratio ratio\n');
  t.notMatch(om, /# UNIT agent_runner_up /);
  t.same(meta(text, 'UNIT'), [], 'no UNIT in 0.0.4');
  for (const line of meta(om, 'UNIT')) {
    const [, , name, unit] = line.split(' ');
    t.ok(name?.endsWith(`_${unit}`), `${line}: the unit is the name's suffix`);
  }
});

t.test("agent_runner_stopped_on_purpose: a stopped runner's exit record says whether anybody needs telling", async (t) => {
  const stopped = (last_exit: HostSnapshot['service']['last_exit']): HostSnapshot =>
    snapshot({
      service: { ...snapshot().service, state: 'stopped', pid: null, ...(last_exit !== undefined ? { last_exit } : {}) },
      current_round: null,
    });
  const gauge = (s: HostSnapshot): string | undefined =>
    samples(renderMetrics([poller('pi', s, 0)], NOW).prometheus).find((l) => l.startsWith('agent_runner_stopped_on_purpose{'));
  const exit = (reason: 'stop_requested' | 'error', on_purpose: boolean) => ({
    reason,
    exit_code: on_purpose ? 0 : 70,
    exited_at: '2026-12-07T11:00:00.000Z',
    on_purpose,
  });
  t.equal(gauge(stopped(exit('stop_requested', true))), 'agent_runner_stopped_on_purpose{host="pi",project="proj"} 1', 'agent-runner stop');
  t.equal(gauge(stopped(exit('error', false))), 'agent_runner_stopped_on_purpose{host="pi",project="proj"} 0', 'a failure');
  t.equal(gauge(stopped(null)), 'agent_runner_stopped_on_purpose{host="pi",project="proj"} 0', 'no exit record: it died');
  t.equal(gauge(stopped(undefined)), undefined, 'an older host: unknown, no sample');
  t.equal(gauge(snapshot()), undefined, 'a running runner: no sample');
});

t.test('every family is described in every scrape, samples or not; HELP needs no escaping', async (t) => {
  const { prometheus: text, openmetrics: om } = renderMetrics([], NOW);
  const names = Object.keys(METRIC_FAMILIES);
  t.same(
    meta(om, 'TYPE').map((l) => l.split(' ')[2]),
    names,
    'OpenMetrics: each family once, in order',
  );
  t.same(
    meta(text, 'TYPE').map((l) => l.split(' ')[2]?.replace(/_total$/, '')),
    names,
    '0.0.4 too',
  );
  t.same(samples(om), [], 'no host, no samples');
  t.equal(om.slice(-6), '# EOF\n');
  for (const [name, f] of Object.entries(METRIC_FAMILIES)) {
    t.notMatch(f.help, /["\\\n]/, `${name}: HELP is the same text in both formats`);
    t.match(name, /^agent_runner_[a-z0-9_]+$/);
    if (f.type === 'gauge') t.notMatch(name, /_(total|count|sum|bucket|created|info)$/, `${name}: no suffix OpenMetrics reserves`);
  }
});

t.test('RUNBOOK.md, "HTTP page and metrics", names every family as Prometheus stores it', async (t) => {
  const runbook = readFileSync(new URL('../../../RUNBOOK.md', import.meta.url), 'utf8');
  const section = /\n### HTTP page and metrics\n([^]*?)\n### /.exec(runbook)?.[1] ?? '';
  t.match(section, /OpenMetrics 1\.0\.0[^]*0\.0\.4/, 'both formats');
  for (const [name, f] of Object.entries(METRIC_FAMILIES)) {
    const series = f.type === 'counter' ? `${name}_total` : name;
    // The list writes `agent_runner_` once, then `_rest`.
    t.ok(section.includes(`\`${series}`) || section.includes(`\`${series.slice('agent_runner'.length)}`), series);
  }
});

t.test('negotiation: the Accept header picks the format', async (t) => {
  const cases: Array<[string | undefined, 'prometheus' | 'openmetrics']> = [
    [undefined, 'prometheus'],
    ['', 'prometheus'],
    ['*/*', 'prometheus'],
    ['text/plain', 'prometheus'],
    ['text/plain;version=0.0.4', 'prometheus'],
    ['application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text; version=1.0.0; charset=utf-8', 'openmetrics'],
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    [
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
      'openmetrics',
    ],
    ['application/openmetrics-text;q=0.5, text/plain', 'prometheus'],
    ['text/plain;q=0.2, application/openmetrics-text;q=0.8', 'openmetrics'],
    ['application/openmetrics-text, text/plain', 'prometheus'],
    ['application/openmetrics-text, */*', 'openmetrics'],
    ['text/*;q=0.1, */*', 'openmetrics'],
    ['application/*', 'openmetrics'],
    ['APPLICATION/OpenMetrics-Text', 'openmetrics'],
    ['application/openmetrics-text;version=0.0.1', 'prometheus'],
    ['application/openmetrics-text;version=2.0.0, text/plain;q=0.1', 'prometheus'],
    ['application/openmetrics-text;q=0', 'prometheus'],
    ['text/plain;q=0, application/openmetrics-text;q=0.1', 'openmetrics'],
    ['application/openmetrics-text;q=abc, text/plain;q=0.1', 'prometheus'],
    ['application/json', 'prometheus'],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'prometheus'],
    ['garbage, ;;, /', 'prometheus'],
  ];
  for (const [accept, want] of cases) t.equal(negotiateMetricsFormat(accept), want, `Accept: ${accept ?? '(none)'}`);
});

t.test('the server: Content-Type by Accept, Vary: Accept', async (t) => {
  const exposition = renderMetrics([poller('local', snapshot(), 2)], NOW);
  const server = await serveHttp({ port: 0 }, { states: () => [], metrics: () => exposition });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = (accept?: string): Promise<Response> => fetch(`${base}/metrics`, { headers: accept === undefined ? {} : { accept } });

  const om = await get('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1');
  t.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  t.equal(om.headers.get('vary'), 'Accept');
  t.equal(await om.text(), exposition.openmetrics);
  const text = await get('text/plain');
  t.equal(text.headers.get('content-type'), METRICS_CONTENT_TYPES.prometheus);
  t.equal(text.headers.get('vary'), 'Accept');
  t.equal(await text.text(), exposition.prometheus);
  t.equal((await get()).headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8', "fetch's */*: the text");
  t.equal(
    (await fetch(`${base}/metrics`, { method: 'HEAD', headers: { accept: 'application/openmetrics-text' } })).headers.get('content-type'),
    METRICS_CONTENT_TYPES.openmetrics,
    'HEAD negotiates too',
  );
  t.equal((await fetch(`${base}/api/state`)).headers.get('vary'), null, 'only /metrics varies');
});
