/**
 * The answer of `monitor --once`: after its single poll, one status line per host — even when
 * nothing changed, so a second run in a row (whose alerts are already raised, and print no
 * transition) still says what it found — and the exit code scripts act on.
 */
import { EXIT, type ExitCode } from '@agent-runner/core/errors';
import type { Severity } from '@agent-runner/core/ledger';
import type { HostPoller } from './poller.js';

/** What one host came to after the poll. */
export type OnceState = 'healthy' | 'alerts' | 'unreachable' | 'refused';

/** One host's status record (`--json`: one line each, `type: "status"`). */
export interface OnceStatus {
  type: 'status';
  host: string;
  project: string | null;
  state: OnceState;
  /** The active findings, most severe first. */
  alerts: Array<{ detector: string; severity: Severity; message: string }>;
  /** Why the host could not be polled (state `unreachable` or `refused`). */
  error: string | null;
}

const RANK: Record<Severity, number> = { critical: 0, error: 1, warning: 2, info: 3 };
const LABEL: Record<OnceState, string> = { healthy: 'OK', alerts: 'ALERT', unreachable: 'DOWN', refused: 'DOWN' };

/** The status of one host after its poll. */
export function onceStatus(p: HostPoller): OnceStatus {
  const state: OnceState = p.link === 'refused' ? 'refused' : p.link !== 'ok' ? 'unreachable' : p.findings.length ? 'alerts' : 'healthy';
  const alerts = [...p.findings]
    .sort((a, b) => RANK[a.severity] - RANK[b.severity])
    .map((f) => ({ detector: f.detector, severity: f.severity, message: f.message }));
  return {
    type: 'status',
    host: p.host,
    project: p.snapshot?.project ?? null,
    state,
    alerts,
    error: state === 'unreachable' || state === 'refused' ? (p.lastError ?? 'no answer') : null,
  };
}

/**
 * Exit code of `--once` (sysexits(3)): 0 every host healthy; 1 an alert is active; 69
 * (EX_UNAVAILABLE) a host could not be polled; 77 (EX_NOPERM) a host's key was refused. The
 * most severe of all hosts wins: a host that cannot be seen cannot be vouched for.
 */
export function onceExit(statuses: readonly OnceStatus[]): ExitCode {
  if (statuses.some((s) => s.state === 'refused')) return EXIT.NOPERM;
  if (statuses.some((s) => s.state === 'unreachable')) return EXIT.UNAVAILABLE;
  return statuses.some((s) => s.state === 'alerts') ? EXIT.FAILURE : EXIT.OK;
}

/** One line for a human: `TS [OK] status host=local: healthy (project p)`. */
export function onceLine(s: OnceStatus, nowMs: number): string {
  const what =
    s.state === 'healthy'
      ? 'healthy'
      : s.state === 'alerts'
        ? `${s.alerts.length} alert(s) active: ${s.alerts.map((a) => `${a.detector} (${a.severity}): ${a.message}`).join('; ')}`
        : `${s.state === 'refused' ? 'host key refused' : 'unreachable'}: ${s.error ?? ''}`;
  return `${new Date(nowMs).toISOString()} [${LABEL[s.state]}] status host=${s.host}: ${what}${s.project ? ` (project ${s.project})` : ''}`;
}
