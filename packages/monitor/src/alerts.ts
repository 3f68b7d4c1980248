import type { EventWriter } from '@agent-runner/core/events';
import type { Ledger, Severity } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import type { Finding } from './detectors.js';
import type { StopResult } from './source.js';

/** Dependencies of {@link AlertSink}. */
export interface AlertSinkDeps {
  /** Where alerts are recorded (`alerts`) and notifications queued (`outbox`). */
  ledger: Ledger;
  /** The monitor's event writer (unit `monitor`); optional. */
  events?: EventWriter | undefined;
  /** Writes one line to stdout (without the newline). */
  out: (line: string) => void;
  /** JSON Lines instead of human lines. */
  json: boolean;
  /** Wall clock, epoch ms. */
  now: () => number;
}

interface Active {
  id: number;
  raisedAtMs: number;
}

const LABEL: Record<Severity, string> = { info: 'INFO', warning: 'WARN', error: 'ERR', critical: 'CRIT' };

/** What {@link AlertSink.apply} changed. */
export interface ApplyResult {
  /** Findings that became alerts in this poll (auto-stop candidates). */
  raised: Finding[];
  /** Detectors whose alert cleared. */
  cleared: string[];
}

/**
 * Turns each poll's findings into alert transitions and fans them out: a line on stdout, a
 * row in the ledger's `alerts` table (raised once per condition, refreshed while it holds,
 * cleared when it goes), an outbox notification with an idempotency key (so a restarted
 * monitor never notifies twice for one alert) and a `monitor_alert_*` event.
 */
export class AlertSink {
  private readonly active = new Map<string, Map<string, Active>>();

  constructor(private readonly deps: AlertSinkDeps) {}

  private hostMap(host: string): Map<string, Active> {
    let m = this.active.get(host);
    if (!m) {
      // Alerts a previous monitor left active: adopt them, so they are refreshed or cleared, not duplicated.
      m = new Map();
      for (const a of this.deps.ledger.monitor.activeAlerts({ host })) m.set(a.detector, { id: a.id, raisedAtMs: a.raisedAtMs });
      this.active.set(host, m);
    }
    return m;
  }

  /** Active alerts of `host` (detector names). */
  activeDetectors(host: string): string[] {
    return [...this.hostMap(host).keys()];
  }

  /** Applies one poll's findings for `host` of `project`. */
  apply(host: string, project: string, findings: readonly Finding[]): ApplyResult {
    const nowMs = this.deps.now();
    const m = this.hostMap(host);
    const raised: Finding[] = [];
    const seen = new Set<string>();
    for (const f of findings) {
      seen.add(f.detector);
      const message = redactText(f.message);
      const r = this.deps.ledger.monitor.raiseAlert({ detector: f.detector, host, project, severity: f.severity, message, evidence: f.evidence, atMs: nowMs });
      if (!r.raised && m.has(f.detector)) continue;
      m.set(f.detector, { id: r.id, raisedAtMs: nowMs });
      if (!r.raised) continue;
      raised.push(f);
      this.deps.ledger.outbox.enqueue({
        idempotencyKey: `monitor:${host}:${f.detector}:${r.id}:raised`,
        kind: 'monitor_alert_raised',
        severity: f.severity,
        title: `[${LABEL[f.severity]}] ${f.detector} on ${host}${host === project ? '' : ` (${project})`}`,
        body: `${message}${f.policy === 'auto-stop' ? '\nPolicy: auto-stop.' : ''}`,
        payload: { detector: f.detector, host, project, policy: f.policy, evidence: f.evidence, alert_id: r.id },
        createdAtMs: nowMs,
      });
      this.emit('monitor_alert_raised', { detector: f.detector, alert_severity: f.severity, host, message: message.slice(0, 500), policy: f.policy, alert_id: r.id });
      this.print({ type: 'alert', state: 'raised', host, project, detector: f.detector, severity: f.severity, policy: f.policy, message, evidence: f.evidence, alert_id: r.id }, nowMs);
    }
    const cleared: string[] = [];
    for (const [detector, a] of [...m]) {
      if (seen.has(detector)) continue;
      m.delete(detector);
      this.deps.ledger.monitor.clearAlert(a.id, nowMs);
      cleared.push(detector);
      const activeS = Math.max(0, (nowMs - a.raisedAtMs) / 1000);
      this.deps.ledger.outbox.enqueue({
        idempotencyKey: `monitor:${host}:${detector}:${a.id}:cleared`,
        kind: 'monitor_alert_cleared',
        severity: 'info',
        title: `[OK] ${detector} cleared on ${host}`,
        body: `Active for ${Math.round(activeS)} s.`,
        payload: { detector, host, project, alert_id: a.id },
        createdAtMs: nowMs,
      });
      this.emit('monitor_alert_cleared', { detector, host, active_s: activeS, alert_id: a.id });
      this.print({ type: 'alert', state: 'cleared', host, project, detector, alert_id: a.id, active_s: activeS }, nowMs);
    }
    return { raised, cleared };
  }

  /** Records and prints an auto-stop and its outcome. */
  autoStopped(host: string, project: string, f: Finding, r: StopResult): void {
    const nowMs = this.deps.now();
    const detail = redactText(r.detail).slice(0, 500);
    this.emit('monitor_auto_stop', { detector: f.detector, host, result: r.result, detail });
    this.deps.ledger.outbox.enqueue({
      idempotencyKey: `monitor:${host}:${f.detector}:auto-stop:${nowMs}`,
      kind: 'monitor_auto_stop',
      severity: 'critical',
      title: `[CRIT] auto-stop on ${host}: ${f.detector} (${r.result})`,
      body: detail,
      payload: { detector: f.detector, host, project, result: r.result },
      createdAtMs: nowMs,
    });
    this.print({ type: 'auto_stop', host, project, detector: f.detector, result: r.result, detail }, nowMs);
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
            ? `${ts} [${LABEL[rec['severity'] as Severity]}] ${String(rec['detector'])} ${host}: ${String(rec['message'])}${rec['policy'] === 'auto-stop' ? ' (auto-stop)' : ''}`
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

  private emit(kind: 'monitor_alert_raised' | 'monitor_alert_cleared' | 'monitor_auto_stop', payload: Record<string, unknown>): void {
    try {
      // The payload shapes match the catalogue; the writer validates them at run time.
      (this.deps.events?.emit as ((k: string, p: Record<string, unknown>) => void) | undefined)?.call(this.deps.events, kind, payload);
    } catch {
      // The event stream is the narrative; the ledger row and the outbox are the record.
    }
  }
}
