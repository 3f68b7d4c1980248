import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, textColumn, toJsonColumn, type Row } from './json.js';
import type { Severity } from './outbox.js';

/** Identifies one alert condition; at most one alert per key is active at a time. */
export interface AlertKey {
  /** Detector name (`stalled`, `crash-loop`, `cost-spike`, ...). */
  detector: string;
  /** Host the condition is on ('' = not host-specific). */
  host?: string;
  /** Project the condition is on ('' = not project-specific). */
  project?: string;
}

/** Input of {@link AlertsAccess.raiseAlert}. */
export interface RaiseAlertInput extends AlertKey {
  /** The unit raising it (`runner`, `watchdog`, `monitor`; default `monitor`); only it clears it. */
  raisedBy?: string;
  severity: Severity;
  message: string;
  /** What the detector saw, stored as JSON. */
  evidence?: unknown;
  /** Default the ledger clock. */
  atMs?: number;
}

/** One row of `alerts`. */
export interface AlertRecord {
  id: number;
  detector: string;
  severity: Severity;
  host: string;
  project: string;
  /** The unit that raised the alert (schema v2; v1 rows read `monitor`). */
  raisedBy: string;
  message: string;
  evidence: unknown;
  raisedAtMs: number;
  /** Last time the condition was raised again while active. */
  lastSeenAtMs: number;
  clearedAtMs: number | null;
}

/**
 * The `alerts` table: one row per fault episode. Writers: the unit that raised a row (its
 * `raisedBy`) refreshes and clears it; nobody else. Readers: anyone.
 */
export interface AlertsAccess {
  /**
   * Raises an alert, or refreshes the active one with the same key (severity, message,
   * evidence, lastSeenAtMs) so a condition that persists is one alert, not one per poll.
   * @returns the alert id and whether a new alert was raised (false = refreshed).
   */
  raiseAlert(input: RaiseAlertInput): { id: number; raised: boolean };
  /** Clears an alert by id, or the active alert of a key. Returns how many were cleared (0 or 1). */
  clearAlert(idOrKey: number | AlertKey, atMs?: number): number;
  /** Active alerts, oldest first; optionally only those of a host, project and/or raising unit. */
  activeAlerts(filter?: { host?: string; project?: string; raisedBy?: string }): AlertRecord[];
  /** Alerts raised at or after `sinceMs` (epoch ms) or still active, oldest first, at most 500. */
  alertsSince(sinceMs: number): AlertRecord[];
}

function toAlert(r: Row): AlertRecord {
  return {
    id: Number(r['id']),
    detector: String(r['detector']),
    severity: String(r['severity']) as Severity,
    host: String(r['host']),
    project: String(r['project']),
    raisedBy: String(r['raised_by']),
    message: String(r['message']),
    evidence: fromJsonColumn(str(r, 'evidence')),
    raisedAtMs: Number(r['raised_at_ms']),
    lastSeenAtMs: Number(r['last_seen_at_ms']),
    clearedAtMs: num(r, 'cleared_at_ms'),
  };
}

/** Prepares the statements of {@link AlertsAccess} once for a connection. */
export function alertsAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): AlertsAccess {
  const findActive = db.prepare(`SELECT id FROM alerts
    WHERE detector = ? AND host = ? AND project = ? AND cleared_at_ms IS NULL`);
  const refresh = db.prepare(`UPDATE alerts SET severity = @severity, message = @message, evidence = @evidence,
      last_seen_at_ms = @at WHERE id = @id`);
  const insert =
    db.prepare(`INSERT INTO alerts (detector, severity, host, project, raised_by, message, evidence, raised_at_ms, last_seen_at_ms)
    VALUES (@detector, @severity, @host, @project, @raisedBy, @message, @evidence, @at, @at)`);
  const clearId = db.prepare(`UPDATE alerts SET cleared_at_ms = ? WHERE id = ? AND cleared_at_ms IS NULL`);
  const clearKey = db.prepare(`UPDATE alerts SET cleared_at_ms = ?
    WHERE detector = ? AND host = ? AND project = ? AND cleared_at_ms IS NULL`);
  const active = db.prepare(`SELECT * FROM alerts WHERE cleared_at_ms IS NULL
    AND (@host IS NULL OR host = @host) AND (@project IS NULL OR project = @project)
    AND (@raisedBy IS NULL OR raised_by = @raisedBy) ORDER BY id`);
  const since = db.prepare(`SELECT * FROM alerts WHERE raised_at_ms >= ? OR cleared_at_ms IS NULL ORDER BY id LIMIT 500`);

  return {
    raiseAlert(input) {
      const params = {
        detector: input.detector,
        host: input.host ?? '',
        project: input.project ?? '',
        raisedBy: input.raisedBy ?? 'monitor',
        severity: input.severity,
        message: textColumn(input.message),
        evidence: toJsonColumn(input.evidence),
        at: int(input.atMs ?? now()),
      };
      return exec.write('raise alert', () => {
        const existing = findActive.get(params.detector, params.host, params.project) as Row | undefined;
        if (existing !== undefined) {
          const id = Number(existing['id']);
          refresh.run({ ...params, id });
          return { id, raised: false };
        }
        return { id: Number(insert.run(params).lastInsertRowid), raised: true };
      });
    },
    clearAlert(idOrKey, atMs) {
      const at = int(atMs ?? now());
      return exec.write('clear alert', () =>
        typeof idOrKey === 'number'
          ? clearId.run(at, idOrKey).changes
          : clearKey.run(at, idOrKey.detector, idOrKey.host ?? '', idOrKey.project ?? '').changes,
      );
    },
    activeAlerts(filter = {}) {
      const params = { host: filter.host ?? null, project: filter.project ?? null, raisedBy: filter.raisedBy ?? null };
      return exec.read('list active alerts', () => (active.all(params) as Row[]).map(toAlert));
    },
    alertsSince(sinceMs) {
      return exec.read('list recent alerts', () => (since.all(int(sinceMs)) as Row[]).map(toAlert));
    },
  };
}
