/**
 * Alarms: the states a human must know about, each told exactly once per fault episode, and
 * its recovery told to whoever got the alarm (DESIGN.md, "Who tells the human").
 *
 * An episode is one row of the ledger's `alerts` table (at most one active per cause, host and
 * project). {@link raiseAlarm} opens it and queues the alarm; raising again while it is active
 * only refreshes the row — however many rounds, probes, polls or restarts see the fault. {@link
 * clearAlarm} closes it and queues the recovery at the alarm's severity (so a `min_severity`
 * that let the alarm through lets its recovery through), as a reply to the alarm where the
 * transport threads. Both run in the caller's ledger transaction when there is one, so the
 * state change and its notification commit together.
 *
 * The texts live here, once, for every transport: title `<project>@<host>: <what happened>`,
 * body = the state now, the evidence, the one command that fixes or resumes it.
 * `docs/notifications.md` is rendered from {@link ALARMS} and checked by a test.
 */
import { hostname } from 'node:os';
import type { Ledger, Severity } from './ledger/index.js';
import { redactText } from './redact.js';

/** Facts an alarm's text is built from (free-form per cause; values are shown redacted). */
export type AlarmFacts = Record<string, string | number | boolean | null | undefined>;

/** One alarm cause: who raises it, how bad it is, and what it says. */
export interface AlarmSpec {
  /** The unit that raises and clears it. */
  owner: 'runner' | 'watchdog' | 'monitor' | 'cli';
  severity: Severity;
  /** One line: when it is raised and when it clears (docs). */
  when: string;
  /** What happened, after `<project>@<host>: ` in the title. */
  what: (f: AlarmFacts) => string;
  /** Body: state now, evidence, fix. */
  body: (f: AlarmFacts) => string;
  /** What the recovery says happened (after `<project>@<host>: resolved: `). */
  recovered: (f: AlarmFacts) => string;
  /** Example facts for docs/notifications.md. */
  example: AlarmFacts;
  /** Example facts of the recovery. */
  exampleRecovery: AlarmFacts;
}

const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const mins = (sec: unknown): string => {
  const n = Number(sec);
  if (!Number.isFinite(n)) return '?';
  return n < 120 ? `${Math.round(n)} s` : n < 7200 ? `${Math.round(n / 60)} min` : `${(n / 3600).toFixed(1)} h`;
};
const fence = (text: unknown): string => (s(text).trim() ? `\n\n\`\`\`\n${s(text).trim()}\n\`\`\`` : '');

/**
 * Every alarm cause. A cause is never renamed (transports' `kinds` lists and receivers key on
 * it); a new kind of stop gets a new cause.
 */
export const ALARMS = {
  crash_loop: {
    owner: 'runner',
    severity: 'critical',
    when: 'the agent failed `crash_loop.threshold` rounds in a row, each shorter than `short_round_s`; clears when a round succeeds again',
    what: () => 'crash loop, rounds stopped',
    body: (f) =>
      `The agent failed ${s(f['consecutive'])} rounds in a row, each within seconds (last exit ${s(f['last_exit_code']) || s(f['last_signal']) || '?'}). ` +
      (f['retry_at']
        ? `No round runs until ${s(f['retry_at'])}; then the runner tries one round by itself (each failed try doubles the wait, up to runtime.crash_loop.cooldown_max_s).`
        : 'The runner stopped (exit 69); systemd will not restart it.') +
      `${fence(f['tail'])}\n\n` +
      (f['retry_at'] ? 'Fix the cause; to try at once: agent-runner restart' : 'Fix the cause, then: agent-runner start'),
    recovered: (f) => `round ${s(f['round'])} succeeded after the crash loop; rounds run again`,
    example: {
      consecutive: 5,
      last_exit_code: 1,
      tail: 'fatal: cannot open database "app.db": permission denied',
      retry_at: '2026-12-02T13:30:00.000Z',
    },
    exampleRecovery: { round: 118 },
  },
  config_broken: {
    owner: 'runner',
    severity: 'critical',
    when: 'serve refused to start (exit 78): the config or a start-up check failed; clears when serve starts',
    what: (f) => `not started: ${s(f['check']) || 'configuration'} broken`,
    body: (f) =>
      `The runner did not start and systemd will not restart it (exit 78).\n\n${s(f['detail'])}\n\n` +
      `Fix it, then: agent-runner config check && agent-runner start`,
    recovered: () => 'the runner started again',
    example: { check: 'prompt_file', detail: 'prompt file /srv/app/PROMPT.md is empty' },
    exampleRecovery: {},
  },
  auth_paused: {
    owner: 'runner',
    severity: 'critical',
    when: 'a round failed authentication; rounds pause and the runner probes; clears when a probe round succeeds',
    what: (f) => `${s(f['agent']) || 'agent'} login rejected, rounds paused`,
    body: (f) =>
      `Rounds are paused: ${s(f['agent']) || 'the agent'} was refused (${s(f['evidence'])}).\n\n` +
      `Fix: ${s(f['hint'])}\n\nNothing else to run: the runner tries one round every ${mins(f['probe_interval_s'])} and resumes by itself once login works.`,
    recovered: (f) => `authentication works again; rounds resumed after ${mins(f['paused_s'])}`,
    example: {
      agent: 'claude',
      evidence: 'API Error: 401 authentication_error: invalid x-api-key',
      hint: 'run `claude /login` as the service user',
      probe_interval_s: 300,
    },
    exampleRecovery: { paused_s: 2460 },
  },
  budget_exhausted: {
    owner: 'runner',
    severity: 'warning',
    when: "today's (UTC) cost reached `daily_cost_budget_usd`; rounds wait for the next UTC day; clears when rounds resume",
    what: () => 'daily budget spent, rounds paused',
    body: (f) =>
      `Today's cost $${Number(f['spent_usd'] ?? 0).toFixed(2)} reached the $${Number(f['budget_usd'] ?? 0).toFixed(2)} budget. ` +
      `Rounds resume by themselves at ${s(f['resumes_at'])}.\n\nTo resume earlier: raise runtime.daily_cost_budget_usd, then agent-runner restart`,
    recovered: () => 'a new budget day began; rounds resumed',
    example: { spent_usd: 25.31, budget_usd: 25, resumes_at: '2026-12-03T00:00:00.000Z' },
    exampleRecovery: {},
  },
  disk_full: {
    owner: 'runner',
    severity: 'critical',
    when: 'the state or log file system has less free space than a round needs; rounds pause; clears when space is free again',
    what: () => 'disk full, rounds paused',
    body: (f) =>
      `Rounds are paused: ${s(f['path'])} has ${Math.round(Number(f['free_bytes'] ?? 0) / 1048576)} MiB free (${s(f['used_pct'])}% used). ` +
      `The daemons keep running and rounds resume by themselves once ${Math.round(Number(f['min_free_bytes'] ?? 0) / 1048576)} MiB are free.\n\n` +
      `Free space, e.g.: agent-runner peek (round logs and stashes), journalctl --vacuum-size=200M`,
    recovered: (f) => `disk space is free again (${Math.round(Number(f['free_bytes'] ?? 0) / 1048576)} MiB); rounds resumed`,
    example: { path: '/var/lib/agent-runner/app', free_bytes: 12582912, used_pct: 99.6, min_free_bytes: 67108864 },
    exampleRecovery: { free_bytes: 2147483648 },
  },
  transient_stop: {
    owner: 'runner',
    severity: 'error',
    when: '`transient_error_action = "stop"` and a round hit a rate limit, overload, 5xx, network error or timeout; clears when serve starts',
    what: (f) => `stopped on a transient error (${s(f['class'])})`,
    body: (f) =>
      `The runner stopped as configured (runtime.transient_error_action = "stop") after: ${s(f['summary'])}\n\n` +
      `When the provider is back: agent-runner start`,
    recovered: () => 'the runner started again',
    example: { class: 'overloaded', summary: 'API Error: 529 overloaded_error' },
    exampleRecovery: {},
  },
  breaker_open: {
    owner: 'watchdog',
    severity: 'critical',
    when: 'the watchdog gave up healing a unit (repeated failed heals); clears on `heal reset` or when the unit is healthy again',
    what: (f) => `watchdog stopped healing ${s(f['target'])}`,
    body: (f) =>
      `The watchdog opened its circuit breaker for ${s(f['target'])}: ${s(f['reason'])}. It no longer acts on it.\n\n` +
      `Fix the cause, then: agent-runner heal reset ${s(f['target'])} --reason "..."`,
    recovered: (f) => `${s(f['target'])} is healed again (${s(f['how'])})`,
    example: { target: 'bridge', reason: '3 failed T3 (SIGKILL + respawn) in a row: not healthy 60 s after respawn' },
    exampleRecovery: { target: 'bridge', how: 'breaker reset by operator' },
  },
  upgrade_failed: {
    owner: 'cli',
    severity: 'critical',
    when: "`agent-runner upgrade` failed: its staged install or smoke check (nothing was stopped), the new version's start (rolled back), or the rollback too; clears on the next successful upgrade",
    what: (f) =>
      f['kept_running']
        ? `upgrade to ${s(f['to'])} failed before the switch`
        : f['rolled_back']
          ? `upgrade to ${s(f['to'])} failed, rolled back`
          : `upgrade to ${s(f['to'])} and its rollback failed`,
    body: (f) =>
      (f['kept_running']
        ? `The upgrade from ${s(f['from'])} to ${s(f['to'])} failed while it was staged; ${s(f['from'])} was never stopped and still runs.`
        : f['rolled_back']
          ? `The upgrade from ${s(f['from'])} to ${s(f['to'])} failed its check and ${s(f['from'])} runs again.`
          : `The upgrade from ${s(f['from'])} to ${s(f['to'])} failed and so did the rollback: the units may not be running.`) +
      `${fence(f['detail'])}\n\nSee: agent-runner status && journalctl -u 'agent-runner*' -n 50`,
    recovered: (f) => `upgraded to ${s(f['to'])}`,
    example: { from: '0.1.0', to: '0.2.0', rolled_back: true, detail: 'smoke check: agent-runner --version exited 1' },
    exampleRecovery: { to: '0.2.1' },
  },
  silence: {
    owner: 'monitor',
    severity: 'error',
    when: 'no productive round (an `ok` round that reported a result or changed the tree) for `monitor.silence_after_s` while the runner says it runs; clears with the next productive round',
    what: (f) => `no work done for ${mins(f['silent_s'])}`,
    body: (f) =>
      `The runner is ${s(f['state']) || 'running'} but no round produced a result or a commit since ${s(f['since'])} (${s(f['rounds'])} rounds since).\n\n` +
      `Look at the last rounds: agent-runner peek --round latest --log`,
    recovered: (f) => `round ${s(f['round'])} did work again`,
    example: { silent_s: 21600, state: 'running', since: '2026-12-02T06:00:00.000Z', rounds: 41 },
    exampleRecovery: { round: 913 },
  },
} as const satisfies Record<string, AlarmSpec>;

/** A cause in {@link ALARMS}. */
export type AlarmCause = keyof typeof ALARMS;

/** Where an alarm is about. */
export interface AlarmScope {
  project: string;
  /** Host name (default: this machine's, `os.hostname()`). */
  host?: string;
  /**
   * What inside the project (the breaker's target); part of the episode key, so the
   * breakers of two units are two episodes.
   */
  subject?: string;
  /** Wall clock, ms since epoch (default the ledger clock). */
  atMs?: number;
}

/** A rendered notification. */
export interface RenderedAlarm {
  title: string;
  body: string;
}

/** The title prefix every notification shares: `<project>@<host>`. */
export function alarmOrigin(project: string, host: string = hostname()): string {
  return `${project}@${host}`;
}

/** Renders the alarm text of `cause` (secrets redacted). */
export function renderAlarm(cause: AlarmCause, facts: AlarmFacts, project: string, host: string = hostname()): RenderedAlarm {
  const spec: AlarmSpec = ALARMS[cause];
  return { title: redactText(`${alarmOrigin(project, host)}: ${spec.what(facts)}`), body: redactText(spec.body(facts)) };
}

/** Renders the recovery text of `cause` (secrets redacted). */
export function renderRecovery(cause: AlarmCause, facts: AlarmFacts, project: string, host: string = hostname()): RenderedAlarm {
  const spec: AlarmSpec = ALARMS[cause];
  return { title: redactText(`${alarmOrigin(project, host)}: resolved: ${spec.recovered(facts)}`), body: '' };
}

/** The `alerts.detector` of an episode: the cause, and `:<subject>` when there is one. */
function episodeKey(cause: string, subject: string | undefined): string {
  return subject ? `${cause}:${subject}` : cause;
}

/** Outbox idempotency key of an episode's alarm (recoveries reply to it). */
export function alarmKey(alertId: number): string {
  return `alarm:${alertId}:raised`;
}

/**
 * Opens the episode of `cause` and queues its alarm, unless one is already active (then only
 * its facts are refreshed). Runs in the caller's transaction when there is one.
 * @returns the alert id and whether this call raised it (false: already active).
 * @throws AgentRunnerError ERR_AR_LEDGER when the ledger write fails.
 */
export function raiseAlarm(ledger: Ledger, cause: AlarmCause, facts: AlarmFacts, scope: AlarmScope): { id: number; raised: boolean } {
  const spec: AlarmSpec = ALARMS[cause];
  const host = scope.host ?? hostname();
  const text = renderAlarm(cause, facts, scope.project, host);
  return ledger.atomically(() => {
    const r = ledger.monitor.raiseAlert({
      detector: episodeKey(cause, scope.subject),
      host,
      project: scope.project,
      raisedBy: spec.owner,
      severity: spec.severity,
      message: text.title,
      evidence: facts,
      ...(scope.atMs !== undefined ? { atMs: scope.atMs } : {}),
    });
    if (r.raised) {
      ledger.outbox.enqueue({
        idempotencyKey: alarmKey(r.id),
        kind: cause,
        severity: spec.severity,
        title: text.title,
        body: text.body,
        payload: {
          cause,
          phase: 'alarm',
          alert_id: r.id,
          project: scope.project,
          host,
          ...(scope.subject ? { subject: scope.subject } : {}),
          facts,
        },
        ...(scope.atMs !== undefined ? { createdAtMs: scope.atMs } : {}),
      });
    }
    return r;
  });
}

/**
 * Closes the active episode of `cause` (if any) and queues its recovery at the alarm's
 * severity, as a reply to the alarm. Runs in the caller's transaction when there is one.
 * @returns true when an episode was closed.
 */
export function clearAlarm(ledger: Ledger, cause: AlarmCause, facts: AlarmFacts, scope: AlarmScope): boolean {
  const spec: AlarmSpec = ALARMS[cause];
  const host = scope.host ?? hostname();
  return ledger.atomically(() => {
    const active = ledger.monitor
      .activeAlerts({ host, project: scope.project, raisedBy: spec.owner })
      .find((a) => a.detector === episodeKey(cause, scope.subject));
    if (active === undefined) return false;
    ledger.monitor.clearAlert(active.id, scope.atMs);
    const text = renderRecovery(cause, facts, scope.project, host);
    ledger.outbox.enqueue({
      idempotencyKey: `alarm:${active.id}:cleared`,
      kind: cause,
      severity: active.severity,
      title: text.title,
      body: text.body,
      payload: {
        cause,
        phase: 'recovery',
        alert_id: active.id,
        reply_to: alarmKey(active.id),
        project: scope.project,
        host,
        ...(scope.subject ? { subject: scope.subject } : {}),
        facts,
      },
      ...(scope.atMs !== undefined ? { createdAtMs: scope.atMs } : {}),
    });
    return true;
  });
}

/** Renders docs/notifications.md: every alarm and its recovery as a phone shows them. */
export function renderNotificationsDoc(): string {
  const out = [
    '# Notifications',
    '',
    '<!-- Generated from packages/core/src/alarms.ts by `npm run docs`; do not edit. -->',
    '',
    'Every state a human must know about is told once per fault episode, by the process that',
    "decides it, and its recovery is told to whoever got the alarm, at the alarm's severity",
    "(so a transport's `min_severity` that let the alarm through lets the recovery through),",
    'as a reply to it where the platform threads (Telegram, Slack, Matrix, email). Faults that',
    'heal by themselves (a rate limit waited out, an overloaded round, a unit the watchdog or',
    'systemd restarted) send nothing and are counted in the daily digest.',
    '',
    "Below are the alarms of the runner and the watchdog. The monitor adds its detectors' alerts",
    '(RUNBOOK.md, "Detectors": `notify` policy, each raised and cleared once, with the same title',
    'form), except while an alarm below covers the same cause.',
    '',
    'Titles read `<project>@<host>: <what happened>`; the outbox kind is the cause below (a',
    "transport's `kinds` list selects causes). Examples for project `app` on host `pi`:",
    '',
  ];
  for (const [cause, spec] of Object.entries(ALARMS) as Array<[AlarmCause, AlarmSpec]>) {
    const a = renderAlarm(cause, spec.example, 'app', 'pi');
    const r = renderRecovery(cause, spec.exampleRecovery, 'app', 'pi');
    out.push(
      `## \`${cause}\` (${spec.severity}, raised by the ${spec.owner})`,
      '',
      `${spec.when[0]?.toUpperCase()}${spec.when.slice(1)}.`,
      '',
      '**Alarm**',
      '',
    );
    out.push('````text', a.title, '', a.body, '````', '', '**Recovery**', '', '````text', r.title, '````', '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
