import { alarmKey, alarmOrigin, ALARMS, clearAlarm, raiseAlarm, type AlarmFacts } from '@agent-runner/core/alarms';
import type { EnqueueInput, Ledger, Severity } from '@agent-runner/core/ledger';
import type { PeekAlarm } from '@agent-runner/core/peek';
import { redactText } from '@agent-runner/core/redact';
import type { LogPriority } from '@agent-runner/core/unit';
import { DETECTORS, type Finding } from './detectors.js';
import { adoptedHookFinding, hookOfDetector } from './hooks.js';
import type { StopResult } from './source.js';
import { LedgerWrites, type MonitorEvents } from './writes.js';

/** Dependencies of {@link AlertSink}. */
export interface AlertSinkDeps {
  /** Where alerts are recorded (`alerts`, raised_by `monitor`) and notifications queued (`outbox`). */
  ledger: Ledger;
  /** The monitor's events (unit `monitor`). */
  events: MonitorEvents;
  /** Writes one line to stdout (without the newline). */
  out: (line: string) => void;
  /** JSON Lines instead of human lines. */
  json: boolean;
  /** Wall clock, epoch ms. */
  now: () => number;
  log: (priority: LogPriority, line: string) => void;
  /** Notify benign detectors' alerts too (`monitor.notify_benign`). */
  notifyBenign: boolean;
}

/** Which host an apply is about. */
export interface AlertScope {
  /** The poller's name of the host: `local` or the SSH alias (stdout, events, metrics). */
  host: string;
  /** The host in titles and ledger rows: `os.hostname()` for the local host, else the alias. */
  origin: string;
  project: string;
  /** The runner now, for the notification body (`running, round 12`, `stopped`, ...). */
  runner: string;
}

interface Entry {
  finding: Finding;
  raisedAtMs: number;
  /** The ledger row, once written (a full disk delays it). */
  id: number | undefined;
  /** Its alarm is queued in the outbox, so its recovery follows. */
  notified: boolean;
  /** The auto-stop was made (once per alert). */
  stopped: boolean;
  /** The held auto-stop was reported (once per alert). */
  held: boolean;
  /** Polls in a row this withheld alert has held without its covering alarm (see LATE_POLLS). */
  uncovered?: number;
}

/**
 * Polls a withheld alert must outlive its covering alarm before it is notified late: the
 * runner clears its alarm (auth recovered) a poll before the monitor's window shows the round
 * that cleared it, and a condition gone by then was the alarm's, already told.
 */
const LATE_POLLS = 2;

interface HostState {
  entries: Map<string, Entry>;
  /** Raise time of the active silence alarm, epoch ms. */
  silenceSinceMs: number | undefined;
}

const LABEL: Record<Severity, string> = { info: 'INFO', warning: 'WARN', error: 'ERR', critical: 'CRIT' };
const SILENCE = 'silence';

/** What {@link AlertSink.apply} changed. */
export interface ApplyResult {
  /** Findings that became alerts in this poll. */
  raised: Finding[];
  /** Detectors whose alert cleared. */
  cleared: string[];
  /** Active auto-stop alerts whose stop has not been made yet (the poller judges the runner). */
  autoStop: Finding[];
}

/**
 * The outbox kind of a detector's notifications: its cause, what a transport's `kinds` list
 * selects — the detector's name, or `hook` for every detector hook's alerts (`hook:NAME:KEY`).
 */
const kindOf = (detector: string): string => (hookOfDetector(detector) !== undefined ? 'hook' : detector);

const minutes = (s: number): string =>
  s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;

/**
 * Turns each poll's findings into alert transitions and fans them out: a line on stdout, a
 * row in the ledger's `alerts` table (raised_by `monitor`; raised once per condition,
 * refreshed while it holds, cleared when it goes), a `monitor_alert_*` event, and — unless the
 * detector is benign, or an alarm of the runner or watchdog for the same cause is active — an
 * outbox alarm (`<project>@<host>: <what happened>`, payload `phase: 'alarm'`) whose recovery
 * follows at the same severity as a reply to it (`phase: 'recovery'`, `reply_to`). An alert
 * held back while a covering alarm is active is notified once that alarm has cleared and the
 * condition still holds. Keys are the alert ids, so a restarted monitor never notifies twice.
 *
 * Every ledger write goes through {@link LedgerWrites}: on a full disk the transitions wait
 * in memory, in order, and are written (and notified) once space is free.
 */
export class AlertSink {
  private readonly hosts = new Map<string, HostState>();
  private readonly writes: LedgerWrites;

  constructor(private readonly deps: AlertSinkDeps) {
    this.writes = new LedgerWrites(deps.log);
  }

  private state(scope: AlertScope): HostState {
    let st = this.hosts.get(scope.host);
    if (st) return st;
    st = { entries: new Map(), silenceSinceMs: undefined };
    // Alerts a previous monitor left active: adopted, so they are refreshed or cleared, not raised twice.
    for (const a of this.deps.ledger.monitor.activeAlerts({ host: scope.origin, project: scope.project, raisedBy: 'monitor' })) {
      if (a.detector === SILENCE) {
        st.silenceSinceMs = a.raisedAtMs;
        continue;
      }
      const d = DETECTORS.find((x) => x.name === a.detector);
      const evidence = (a.evidence ?? {}) as Record<string, unknown>;
      const finding: Finding | undefined = d
        ? {
            detector: d.name,
            severity: a.severity,
            policy: d.policy,
            message: a.message,
            evidence,
            fix: d.fix,
            benign: d.benign === true,
            coveredBy: d.coveredBy ?? [],
          }
        : adoptedHookFinding(a);
      if (!finding) continue;
      st.entries.set(finding.detector, {
        finding,
        raisedAtMs: a.raisedAtMs,
        id: a.id,
        notified: evidence['notified'] !== false,
        stopped: true,
        held: true,
      });
    }
    this.hosts.set(scope.host, st);
    return st;
  }

  /**
   * Applies one poll's findings for a host.
   * @param alarms the host's active alarms (peek's `alarms`): a runner/watchdog alarm named in
   *   a finding's `coveredBy` holds its notification back.
   * @param owned causes the runner tells by itself whether or not their alarm is raised yet.
   * @param keep detector hooks that failed this poll: their alerts stay as they are, neither
   *   refreshed nor cleared (a failing check says nothing about the condition).
   */
  apply(
    scope: AlertScope,
    findings: readonly Finding[],
    alarms: readonly PeekAlarm[],
    owned: ReadonlySet<string> = new Set(),
    keep: ReadonlySet<string> = new Set(),
  ): ApplyResult {
    this.writes.flush();
    const nowMs = this.deps.now();
    const st = this.state(scope);
    const raised: Finding[] = [];
    const seen = new Set<string>();
    for (const f0 of findings) {
      const f = { ...f0, message: redactText(f0.message) };
      seen.add(f.detector);
      let e = st.entries.get(f.detector);
      const notify = !this.withheld(f, alarms, owned);
      if (!e) {
        e = { finding: f, raisedAtMs: nowMs, id: undefined, notified: notify, stopped: false, held: false };
        st.entries.set(f.detector, e);
        raised.push(f);
        this.raise(scope, e);
        continue;
      }
      e.finding = f;
      e.uncovered = notify && !e.notified ? (e.uncovered ?? 0) + 1 : 0;
      if (e.uncovered >= LATE_POLLS) {
        e.notified = true;
        this.notifyLate(scope, e);
      } else {
        const entry = e;
        this.writes.refresh('refresh of an alert', () => this.row(scope, entry, nowMs));
      }
    }
    const cleared: string[] = [];
    for (const [detector, e] of [...st.entries]) {
      if (seen.has(detector)) continue;
      const hook = hookOfDetector(detector);
      if (hook !== undefined && keep.has(hook)) continue;
      st.entries.delete(detector);
      cleared.push(detector);
      this.clear(scope, e, nowMs);
    }
    const autoStop = [...st.entries.values()].filter((e) => e.finding.policy === 'auto-stop' && !e.stopped).map((e) => e.finding);
    return { raised, cleared, autoStop };
  }

  /**
   * Why a finding is not notified now: benign without `notify_benign`, a covering alarm active,
   * or a covering cause the runner owns (`owned`: it tells it itself, even when a full ledger
   * keeps it from raising the alarm yet).
   */
  private withheld(f: Finding, alarms: readonly PeekAlarm[], owned: ReadonlySet<string>): boolean {
    if (f.benign && !this.deps.notifyBenign) return true;
    return f.coveredBy.some((c) => owned.has(c) || alarms.some((a) => a.cause === c && a.raised_by !== 'monitor'));
  }

  /** Raises or refreshes the entry's row; returns its id. */
  private row(scope: AlertScope, e: Entry, atMs: number): number {
    const f = e.finding;
    const r = this.deps.ledger.monitor.raiseAlert({
      detector: f.detector,
      host: scope.origin,
      project: scope.project,
      severity: f.severity,
      message: f.message,
      evidence: { ...f.evidence, notified: e.notified },
      atMs,
    });
    e.id = r.id;
    return r.id;
  }

  private alarm(scope: AlertScope, e: Entry, id: number, atMs: number): EnqueueInput {
    const f = e.finding;
    const policy = f.policy === 'auto-stop' ? '\nPolicy: auto-stop (the monitor stops a runner that runs rounds unprotected).' : '';
    return {
      idempotencyKey: alarmKey(id),
      kind: kindOf(f.detector),
      severity: f.severity,
      title: redactText(`${alarmOrigin(scope.project, scope.origin)}: ${f.message}`),
      body: redactText(`${f.detail ? `${f.detail}\n\n` : ''}Runner now: ${scope.runner}.${policy}\n\nFix: ${f.fix}`),
      payload: {
        phase: 'alarm',
        detector: f.detector,
        host: scope.origin,
        project: scope.project,
        policy: f.policy,
        evidence: f.evidence,
        alert_id: id,
      },
      createdAtMs: atMs,
    };
  }

  private raise(scope: AlertScope, e: Entry): void {
    const f = e.finding;
    this.print(
      {
        type: 'alert',
        state: 'raised',
        host: scope.host,
        project: scope.project,
        detector: f.detector,
        severity: f.severity,
        policy: f.policy,
        message: f.message,
        evidence: f.evidence,
        notified: e.notified,
      },
      e.raisedAtMs,
    );
    this.writes.write(`alert ${f.detector}`, () => {
      const { ledger } = this.deps;
      const id = ledger.atomically(() => {
        const id = this.row(scope, e, e.raisedAtMs);
        if (e.notified) ledger.outbox.enqueue(this.alarm(scope, e, id, e.raisedAtMs));
        return id;
      });
      this.deps.events.emit('monitor_alert_raised', {
        detector: f.detector,
        alert_severity: f.severity,
        host: scope.host,
        message: f.message.slice(0, 500),
        policy: f.policy,
        alert_id: id,
      });
    });
  }

  /** The alarm of an alert whose covering alarm cleared while the condition holds. */
  private notifyLate(scope: AlertScope, e: Entry): void {
    this.writes.write(`notification of alert ${e.finding.detector}`, () => {
      const nowMs = this.deps.now();
      const { ledger } = this.deps;
      ledger.atomically(() => {
        const id = this.row(scope, e, nowMs);
        ledger.outbox.enqueue(this.alarm(scope, e, id, nowMs));
      });
    });
  }

  private clear(scope: AlertScope, e: Entry, atMs: number): void {
    const f = e.finding;
    const activeS = Math.max(0, (atMs - e.raisedAtMs) / 1000);
    this.print(
      { type: 'alert', state: 'cleared', host: scope.host, project: scope.project, detector: f.detector, active_s: activeS },
      atMs,
    );
    this.writes.write(`clearing of alert ${f.detector}`, () => {
      const { ledger } = this.deps;
      const id = e.id as number;
      ledger.atomically(() => {
        ledger.monitor.clearAlert(id, atMs);
        if (!e.notified) return;
        ledger.outbox.enqueue({
          idempotencyKey: `alarm:${id}:cleared`,
          kind: kindOf(f.detector),
          severity: f.severity,
          title: redactText(`${alarmOrigin(scope.project, scope.origin)}: resolved: ${f.detector} (active ${minutes(activeS)})`),
          body: redactText(`Was: ${f.message}`),
          payload: {
            phase: 'recovery',
            reply_to: alarmKey(id),
            detector: f.detector,
            host: scope.origin,
            project: scope.project,
            alert_id: id,
            active_s: activeS,
          },
          createdAtMs: atMs,
        });
      });
      this.deps.events.emit('monitor_alert_cleared', { detector: f.detector, host: scope.host, active_s: activeS, alert_id: id });
    });
  }

  /** Records an auto-stop and its outcome (once per alert: the alert's stop is then made). */
  autoStopped(scope: AlertScope, f: Finding, r: StopResult): void {
    const e = this.hosts.get(scope.host)?.entries.get(f.detector);
    if (e) e.stopped = true;
    const nowMs = this.deps.now();
    const detail = redactText(r.detail).slice(0, 500);
    this.print({ type: 'auto_stop', host: scope.host, project: scope.project, detector: f.detector, result: r.result, detail }, nowMs);
    const what =
      r.result === 'stopped'
        ? `runner stopped by the monitor (${f.detector})`
        : r.result === 'failed'
          ? `the monitor could not stop the runner (${f.detector})`
          : `runner was not running (${f.detector})`;
    this.writes.write(`auto-stop record of ${f.detector}`, () => {
      const id = e?.id;
      this.deps.ledger.outbox.enqueue({
        idempotencyKey: id !== undefined ? `alarm:${id}:auto-stop` : `monitor:${scope.origin}:${f.detector}:auto-stop:${nowMs}`,
        kind: 'monitor_auto_stop',
        severity: 'critical',
        title: redactText(`${alarmOrigin(scope.project, scope.origin)}: ${what}`),
        body: redactText(`${f.message}.\n${detail}\n\nFix: ${f.fix}\nThen: agent-runner start`),
        payload: {
          phase: 'alarm',
          detector: f.detector,
          host: scope.origin,
          project: scope.project,
          result: r.result,
          ...(id !== undefined && e?.notified ? { reply_to: alarmKey(id) } : {}),
        },
        createdAtMs: nowMs,
      });
      this.deps.events.emit('monitor_auto_stop', { detector: f.detector, host: scope.host, result: r.result, detail });
    });
  }

  /**
   * Reports, once per alert, that its auto-stop waits because the runner holds rounds by
   * itself; the stop is made if the runner runs rounds again while the alert holds.
   */
  autoStopHeld(scope: AlertScope, f: Finding, pause: string): void {
    const e = this.hosts.get(scope.host)?.entries.get(f.detector);
    if (!e || e.held) return;
    e.held = true;
    this.deps.log('notice', `${scope.host}: ${f.detector} fired; the runner already holds rounds (${pause}): not stopping it`);
    this.print({
      type: 'auto_stop_skipped',
      level: 'INFO',
      host: scope.host,
      detector: f.detector,
      pause,
      message: `${f.detector}: the runner holds rounds (${pause}); not stopped`,
    });
  }

  /**
   * The silence alarm (core/alarms `silence`, raised by the monitor): raised once while
   * `silent` holds and none is active; cleared by the first productive round after the raise.
   * @param silent the alarm's facts when the host is silent now, else undefined.
   * @param productive the newest productive round (event time, epoch ms, and number).
   * @returns the active alarm's raise time, or undefined when none is active.
   */
  silence(
    scope: AlertScope,
    silent: AlarmFacts | undefined,
    productive: { atMs: number | undefined; round: number | undefined },
  ): number | undefined {
    const st = this.state(scope);
    const nowMs = this.deps.now();
    const alarmScope = { project: scope.project, host: scope.origin };
    if (st.silenceSinceMs !== undefined && productive.atMs !== undefined && productive.atMs > st.silenceSinceMs) {
      const activeS = (nowMs - st.silenceSinceMs) / 1000;
      st.silenceSinceMs = undefined;
      this.print(
        { type: 'alert', state: 'cleared', host: scope.host, project: scope.project, detector: SILENCE, active_s: activeS },
        nowMs,
      );
      this.writes.write('clearing of the silence alarm', () => {
        clearAlarm(this.deps.ledger, 'silence', { round: productive.round }, { ...alarmScope, atMs: nowMs });
        this.deps.events.emit('monitor_alert_cleared', { detector: SILENCE, host: scope.host, active_s: activeS });
      });
    }
    if (st.silenceSinceMs === undefined && silent) {
      st.silenceSinceMs = nowMs;
      const message = `no productive round for ${minutes(Number(silent['silent_s']))}`;
      this.print(
        {
          type: 'alert',
          state: 'raised',
          host: scope.host,
          project: scope.project,
          detector: SILENCE,
          severity: ALARMS.silence.severity,
          policy: 'notify',
          message,
          evidence: silent,
          notified: true,
        },
        nowMs,
      );
      this.writes.write('silence alarm', () => {
        const r = raiseAlarm(this.deps.ledger, 'silence', silent, { ...alarmScope, atMs: nowMs });
        this.deps.events.emit('monitor_alert_raised', {
          detector: SILENCE,
          alert_severity: ALARMS.silence.severity,
          host: scope.host,
          message,
          policy: 'notify',
          alert_id: r.id,
        });
      });
    }
    return st.silenceSinceMs;
  }

  /** Queues a notification that is not an alert (a refused host key, a remote give-up). */
  notice(n: EnqueueInput): void {
    this.writes.write(`notification ${n.kind}`, () => void this.deps.ledger.outbox.enqueue(n));
  }

  /** Prints a monitor-level line (blips, give-ups) in the sink's format. */
  print(rec: Record<string, unknown>, nowMs: number = this.deps.now()): void {
    const ts = new Date(nowMs).toISOString();
    if (this.deps.json) {
      this.deps.out(JSON.stringify({ ts, ...rec }));
      return;
    }
    const host = `host=${String(rec['host'])}`;
    switch (rec['type']) {
      case 'alert':
        this.deps.out(
          rec['state'] === 'raised'
            ? `${ts} [${LABEL[rec['severity'] as Severity]}] ${String(rec['detector'])} ${host}: ${String(rec['message'])}${rec['policy'] === 'auto-stop' ? ' (auto-stop)' : ''}${rec['notified'] === false ? ' (not notified)' : ''}`
            : `${ts} [OK] ${String(rec['detector'])} ${host}: cleared after ${Math.round(Number(rec['active_s']))} s`,
        );
        break;
      case 'auto_stop':
        this.deps.out(`${ts} [CRIT] auto-stop ${host} by ${String(rec['detector'])}: ${String(rec['result'])} (${String(rec['detail'])})`);
        break;
      default:
        this.deps.out(`${ts} [${String(rec['level'] ?? 'INFO')}] ${String(rec['type'])} ${host}: ${String(rec['message'] ?? '')}`);
    }
  }
}
