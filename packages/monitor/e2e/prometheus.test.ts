/**
 * examples/prometheus/ checked by the real tools (Debian `prometheus`): promtool accepts the
 * alerting rules, their unit tests and the example config; a real Prometheus, run from the
 * example config, loads the rules and scrapes a real `agent-runner monitor --mode http` of a
 * crash-looping project through OpenMetrics; the rule meant for that state goes pending and the
 * others stay quiet; `promtool check metrics` accepts the 0.0.4 text; and every query of the
 * Grafana dashboard is PromQL that Prometheus evaluates, on metrics the monitor serves.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@agent-runner/testkit/loopback';
import { until } from '@agent-runner/testkit/until';
import { scenario } from '../test/fixtures/scenario.js';
import { startHttpMonitor } from './http-monitor.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/prometheus/', import.meta.url));
const RULES = join(EXAMPLES, 'agent-runner.rules.yml');
const OM_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const promtool = (args: string[], opts: { cwd?: string; input?: string } = {}): { status: number | null; out: string } => {
  const r = spawnSync('promtool', args, { encoding: 'utf8', ...opts });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

/** The metric names in a PromQL expression that the monitor would have to serve. */
const namesIn = (expr: string): string[] => [...new Set(expr.match(/\bagent_runner_[a-z0-9_]+/g) ?? [])];

t.test('promtool: the rules, their unit tests and the example config', async (t) => {
  const rules = promtool(['check', 'rules', RULES]);
  t.equal(rules.status, 0, rules.out);
  t.match(rules.out, /SUCCESS: 10 rules found/);
  const tests = promtool(['test', 'rules', 'agent-runner.rules.test.yml'], { cwd: EXAMPLES });
  t.equal(tests.status, 0, tests.out);
  const config = promtool(['check', 'config', 'prometheus.yml'], { cwd: EXAMPLES });
  t.equal(config.status, 0, config.out);
  t.match(config.out, /SUCCESS: 1 rule files found/, 'the config names the rules file');
});

t.test('a real Prometheus with the example config, rules and dashboard against a real monitor', async (t) => {
  // cooldown_s = 0: a crash loop stops serve (exit 69) and leaves the runner's crash_loop alarm active.
  const p = scenario(
    'echo "fatal: cannot open database app.db"\nexit 3',
    '',
    '[runtime.crash_loop]\nthreshold = 3\nshort_round_s = 60\ncooldown_s = 0\n',
  );
  t.teardown(p.cleanup);
  t.equal((await p.serve([])).code, 69, 'serve stopped on its crash loop');

  const { port, base } = await startHttpMonitor(t, p);
  const scrape = async (accept: string): Promise<{ type: string | null; body: string }> => {
    const r = await fetch(`${base}/metrics`, { headers: { accept } });
    return { type: r.headers.get('content-type'), body: await r.text() };
  };
  await until(
    'the first poll in /metrics',
    async () => /agent_runner_service_running\{host="local",project="proj"\} 0\n/.test((await scrape('text/plain')).body),
    20_000,
  );

  const text = await scrape('text/plain');
  t.equal(text.type, 'text/plain; version=0.0.4; charset=utf-8');
  const check = promtool(['check', 'metrics'], { input: text.body });
  t.equal(check.status, 0, `promtool check metrics: ${check.out}`);
  t.match(
    text.body,
    /agent_runner_alarm_active\{host="local",project="proj",cause="crash_loop",severity="critical",raised_by="runner"\} 1\n/,
  );
  const om = await scrape('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5');
  t.equal(om.type, OM_TYPE);
  t.match(om.body, /\n# EOF\n$/);
  // What the monitor serves, as Prometheus names the series: a counter's samples end in _total.
  const served = new Set(
    [...om.body.matchAll(/^# TYPE (\S+) (gauge|counter)$/gm)].map((m) => (m[2] === 'counter' ? `${m[1]}_total` : (m[1] as string))),
  );
  t.ok(served.has('agent_runner_monitor_events_ingested_total') && served.has('agent_runner_up'), `served: ${[...served].join(' ')}`);

  // The example config as shipped, but scraping and evaluating every second and aimed at this monitor.
  const dir = mkdtempSync(join(tmpdir(), 'ar-prom-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const example = readFileSync(join(EXAMPLES, 'prometheus.yml'), 'utf8');
  const config = example
    .replace(/(scrape_interval|evaluation_interval): 30s/g, '$1: 1s')
    .replace("'127.0.0.1:9464'", `'127.0.0.1:${port}'`);
  t.equal(config.match(/_interval: 1s/g)?.length, 2, 'the example has both intervals to shorten');
  t.match(config, `'127.0.0.1:${port}'`, 'and the target to replace');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  copyFileSync(RULES, join(dir, 'agent-runner.rules.yml'));
  const promPort = await freePort();
  let promLog = '';
  const prom = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prom.stderr?.setEncoding('utf8').on('data', (d: string) => (promLog = `${promLog}${d}`.slice(-4000)));
  t.teardown(() => prom.kill('SIGKILL'));
  const api = async <T>(path: string): Promise<T | undefined> => {
    try {
      const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/${path}`)).json()) as { status: string; data: T };
      return r.status === 'success' ? r.data : undefined;
    } catch {
      return undefined; // not listening yet
    }
  };

  interface Target {
    health: string;
    lastError: string;
    labels: Record<string, string>;
  }
  const target = await until(
    () => `Prometheus to scrape the monitor (log: ${promLog})`,
    async () => {
      const d = await api<{ activeTargets: Target[] }>('targets');
      return d?.activeTargets.find((x) => x.health === 'up');
    },
    60_000,
    250,
  );
  t.match(target, { health: 'up', lastError: '', labels: { job: 'agent-runner' } }, 'scraped, parsed without error');

  // OpenMetrics was negotiated: only its parser knows UNIT lines and a counter's family name.
  const meta = await until(
    "the scrape's metadata",
    () => api<Record<string, Array<{ type: string; unit: string }>>>('metadata'),
    20_000,
    250,
  );
  t.match(meta['agent_runner_monitor_poll_duration_seconds'], [{ type: 'gauge', unit: 'seconds' }], 'a # UNIT line reached Prometheus');
  t.match(meta['agent_runner_monitor_events_ingested'], [{ type: 'counter', unit: '' }], 'the counter under its OpenMetrics family name');
  t.notOk(meta['agent_runner_monitor_events_ingested_total'], 'not under the 0.0.4 sample name');

  interface Series {
    metric: Record<string, string>;
    value: [number, string];
  }
  const query = async (q: string): Promise<Series[] | undefined> =>
    (await api<{ result: Series[] }>(`query?query=${encodeURIComponent(q)}`))?.result;
  t.match(await query('agent_runner_service_running'), [
    { metric: { host: 'local', project: 'proj', job: 'agent-runner' }, value: [Number, '0'] },
  ]);
  const ingested = await query('agent_runner_monitor_events_ingested_total');
  t.ok(Number(ingested?.[0]?.value[1]) > 0, `events ingested, counted: ${JSON.stringify(ingested)}`);

  interface Rule {
    name: string;
    query: string;
    health: string;
    state: string;
    lastError?: string;
  }
  const rules = await until(
    'every rule evaluated',
    async () => {
      const g = (await api<{ groups: Array<{ name: string; rules: Rule[] }> }>('rules'))?.groups.find((x) => x.name === 'agent-runner');
      return g && g.rules.every((r) => r.health !== 'unknown') ? g.rules : undefined;
    },
    30_000,
    250,
  );
  t.same(rules.map((r) => r.name).sort(), [
    'AgentRunnerAlarm',
    'AgentRunnerAuthPaused',
    'AgentRunnerBreakerOpen',
    'AgentRunnerCrashLoop',
    'AgentRunnerDiskFull',
    'AgentRunnerDiskNearlyFull',
    'AgentRunnerHostUnreachable',
    'AgentRunnerMonitorDown',
    'AgentRunnerSilent',
    'AgentRunnerStopped',
  ]);
  for (const r of rules) {
    t.equal(r.health, 'ok', `${r.name}: health ok ${r.lastError ?? ''}`);
    t.same(
      namesIn(r.query).filter((n) => !served.has(n)),
      [],
      `${r.name} names only served metrics`,
    );
  }

  // The crash-looping runner stopped itself (exit 69, its exit record `crash_loop`): its rule
  // goes pending (its `for` is a minute); rules for other states stay quiet, Stopped among them
  // (serve stopped on purpose, and the crash loop is told once, by CrashLoop) and the catch-all
  // alarm rule (crash_loop is CrashLoop's). Rules of one group are evaluated together.
  t.match(await query('agent_runner_stopped_on_purpose'), [{ metric: { host: 'local', project: 'proj' }, value: [Number, '1'] }]);
  const alerts = await until(
    "the crash loop's alert",
    async () => {
      const a = (await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts'))?.alerts;
      return a?.some((x) => x.labels['alertname'] === 'AgentRunnerCrashLoop') ? a : undefined;
    },
    30_000,
    250,
  );
  t.match(
    alerts.find((a) => a.labels['alertname'] === 'AgentRunnerCrashLoop'),
    { state: /^(pending|firing)$/, labels: { host: 'local', project: 'proj', severity: 'critical', cause: 'crash_loop' } },
  );
  const quiet = [
    'AgentRunnerMonitorDown',
    'AgentRunnerHostUnreachable',
    'AgentRunnerStopped',
    'AgentRunnerAuthPaused',
    'AgentRunnerBreakerOpen',
    'AgentRunnerSilent',
    'AgentRunnerAlarm',
  ];
  t.same(
    alerts.filter((a) => quiet.includes(a.labels['alertname'] ?? '')).map((a) => a.labels['alertname']),
    [],
    "nothing else (the disk rules depend on this machine's disk)",
  );

  // The dashboard: valid JSON, its datasource a variable, every query evaluated by Prometheus.
  interface Panel {
    type: string;
    title: string;
    datasource?: { uid: string };
    gridPos: { x: number; w: number };
    targets?: Array<{ expr: string; refId: string }>;
  }
  const dash = JSON.parse(readFileSync(join(EXAMPLES, 'grafana-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: Panel[];
    templating: { list: Array<{ name: string; type: string; query: unknown; definition?: string }> };
  };
  t.match(
    dash.templating.list.find((v) => v.name === 'datasource'),
    { type: 'datasource', query: 'prometheus' },
  );
  const panels = dash.panels.filter((x) => x.type !== 'row');
  t.ok(panels.length >= 10, `${panels.length} panels`);
  t.equal(new Set(dash.panels.map((x) => (x as { id?: number }).id)).size, dash.panels.length, 'panel ids unique');
  const used = new Set<string>();
  for (const v of dash.templating.list.filter((x) => x.type === 'query')) {
    t.same(
      namesIn(v.definition ?? '').filter((n) => !served.has(n)),
      [],
      `variable ${v.name}`,
    );
    t.ok(namesIn(v.definition ?? '').length > 0, `variable ${v.name} reads a monitor metric`);
  }
  for (const panel of panels) {
    t.equal(panel.datasource?.uid, '${datasource}', `${panel.title}: the datasource variable`);
    t.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: within the grid`);
    t.ok(panel.targets?.length, `${panel.title}: has queries`);
    for (const target of panel.targets ?? []) {
      const names = namesIn(target.expr);
      t.ok(names.length > 0, `${panel.title} ${target.refId}: names a monitor metric`);
      t.same(
        names.filter((n) => !served.has(n)),
        [],
        `${panel.title} ${target.refId}: only served metrics`,
      );
      names.forEach((n) => used.add(n));
      // Grafana's variables as "All" and a rate window; what is left must be PromQL.
      const expr = target.expr.replaceAll('$host', '.*').replaceAll('$project', '.*').replaceAll('$__rate_interval', '1m');
      t.ok(await query(expr), `${panel.title} ${target.refId}: Prometheus evaluates ${expr}`);
    }
  }
  for (const r of rules) namesIn(r.query).forEach((n) => t.ok(used.has(n), `the dashboard shows ${n} (rule ${r.name})`));
});
