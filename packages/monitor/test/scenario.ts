/**
 * Scenario harness: a temp git project whose agent is a small shell script, run by the REAL
 * runner (`node packages/cli/dist/bin.js serve`, built beforehand), then observed by the
 * monitor's real local source, detectors and alert sink against the real ledger and events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { configPaths, loadConfig, type AgentRunnerConfig } from '@agent-runner/core/config';
import { EventWriter } from '@agent-runner/core/events';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import { CLI_BIN, runCli, tempProject, type CliResult, type TempProject } from '@agent-runner/testkit/project';
import { AlertSink } from '../src/alerts.js';
import { LocalSource } from '../src/local-source.js';
import { HostPoller } from '../src/poller.js';
import { DEFAULT_SETTINGS, settingsFromConfig, type MonitorSettings } from '../src/settings.js';
import { MonitorEvents } from '../src/writes.js';

/** One outbox row as the bridge reads it (payload parsed). */
export interface OutboxRow {
  idempotency_key: string;
  kind: string;
  severity: string;
  title: string;
  body: string;
  payload: Record<string, unknown>;
}

/** A project for the generic preset with test patterns, or the claude preset with a fake CLI. */
export interface ScenarioProject extends TempProject {
  stateDir: string;
  config(): AgentRunnerConfig;
  serve(args: string[], timeoutMs?: number): Promise<CliResult>;
  start(args?: string[]): { child: ChildProcess; exited: Promise<number | null> };
}

/**
 * @param agent body of `agent.sh` (stdin has the prompt)
 * @param toml extra TOML appended (after `[runtime]` keys: put keys first, then tables)
 */
export function scenario(agent: string, runtime = '', extra = '', preset: 'generic' | 'claude' = 'generic', backoffS = 1): ScenarioProject {
  const p = tempProject('proj', {
    'agent.sh': `#!/bin/sh\ncat > /dev/null\n${agent}\n`,
    'PROMPT.md': 'Do the next step.\n',
    '.gitignore': '/.state/\n',
    'agent-runner.toml': `[agent]
preset = "${preset}"
command = ["./agent.sh"]
prompt_delivery = "stdin"
${preset === 'generic' ? `[agent.patterns]
result = ["^RESULT"]
rate_limit = ["^RATE LIMITED"]
auth = ["^AUTH FAILED"]
network = ["^NETWORK DOWN"]
` : ''}[prompt]
file = "PROMPT.md"
[runtime]
state_dir = ".state"
restart_delay_s = 0
kill_grace_s = 1
max_grace_after_result_s = 1
${runtime}
[runtime.backoff]
base_s = ${backoffS}
max_s = ${backoffS}
factor = 1
jitter_s = 0
${extra}`,
  });
  chmodSync(join(p.dir, 'agent.sh'), 0o755);
  p.git('add', 'agent.sh');
  p.git('commit', '-q', '--allow-empty', '-m', 'exec bit');
  const stateDir = join(p.dir, '.state');
  return {
    ...p,
    stateDir,
    config: () => loadConfig(join(p.dir, 'agent-runner.toml'), { env: p.env, mode: 'user' }),
    serve: (args, timeoutMs = 25_000) => runCli(['serve', ...args], { cwd: p.dir, env: p.env, timeoutMs }),
    start: (args = []) => {
      const child = spawn(process.execPath, [CLI_BIN, 'serve', ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'ignore', 'ignore'] });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      return { child, exited };
    },
  };
}

/** The monitor, wired as the daemon wires it, over a scenario's state. */
export interface Watch {
  poller: HostPoller;
  ledger: Ledger;
  lines: string[];
  /** The monitor's log lines (`priority: text`). */
  logs: string[];
  /** The outbox rows queued so far, oldest first, read from the SQLite file. */
  outbox(): OutboxRow[];
  /** The live settings (mutate to move thresholds between polls). */
  settings: MonitorSettings;
  /** One poll cycle; returns the detectors that fire. */
  poll(nowMs?: number): Promise<string[]>;
  close(): void;
}

/** Builds a monitor on `p` with setting overrides; `now` defaults to the real clock. */
export function watch(p: ScenarioProject, overrides: Partial<MonitorSettings> = {}, opts: { now?: () => number } = {}): Watch {
  const cfg = p.config();
  const paths = configPaths(cfg);
  let clock = opts.now ?? Date.now;
  const now = (): number => clock();
  const ledger = openLedger(paths.ledgerPath, { now });
  const lines: string[] = [];
  const logs: string[] = [];
  const log = (priority: string, line: string): void => void logs.push(`${priority}: ${line}`);
  const writer = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'monitor', now });
  const events = new MonitorEvents(writer, log);
  const settings: MonitorSettings = { ...DEFAULT_SETTINGS, ...settingsFromConfig(cfg), ...overrides };
  const sink = new AlertSink({ ledger, events, out: (l) => lines.push(l), json: true, now, log, notifyBenign: settings.notify_benign });
  const local = new LocalSource(cfg, { ledger, now, kill: process.kill.bind(process) as never, sleep: (ms) => new Promise((r) => setTimeout(() => r(true), ms)) });
  const poller = new HostPoller(local, { settings, sink, events, now, log, headMoved: () => local.headMoved() });
  return {
    poller,
    ledger,
    lines,
    logs,
    outbox: () => readOutbox(paths.ledgerPath),
    settings,
    async poll(nowMs) {
      if (nowMs !== undefined) clock = () => nowMs;
      await poller.cycle();
      return poller.findings.map((f) => f.detector).sort();
    },
    close: () => {
      writer.close();
      ledger.close();
    },
  };
}

/** The outbox of the ledger at `path`, oldest first (a separate read-only connection). */
export function readOutbox(path: string): OutboxRow[] {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT idempotency_key, kind, severity, title, body, payload FROM outbox ORDER BY id').all() as Array<Omit<OutboxRow, 'payload'> & { payload: string | null }>;
    return rows.map((r) => ({ ...r, payload: r.payload ? (JSON.parse(r.payload) as Record<string, unknown>) : {} }));
  } finally {
    db.close();
  }
}

/** Waits until `pred` holds (polling every 50 ms), or throws after `timeoutMs`. */
export async function until(pred: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
