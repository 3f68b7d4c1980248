/**
 * Judging a unit's health from its enrollment record, its identity in procfs, its heartbeat
 * and its version stamp (DESIGN.md, "Heal tiers"). Shared by the watchdog (which judges the
 * runner, bridge and monitor) and the runner (which judges the watchdog), so neither watches
 * alone.
 *
 * {@link judgeUnit} is pure; {@link probeUnit} gathers the evidence from disk and procfs and
 * calls it. Missing data is `unknown`, never `unhealthy`: nobody acts on a unit it cannot judge.
 */
import { readFileSync } from 'node:fs';
import { DISK_FULL_FREE_BYTES, type DiskUsage, isDiskFull, tightestDisk } from './disk.js';
import { type EnrollmentRecord, type IdentityCheck, inspectEnrollment, readBootId, readProcStat, verifyIdentity } from './identity.js';
import { type HeartbeatRead, readHeartbeat } from './markers.js';
import type { ProjectPaths } from './paths.js';
import { compareVersions } from './version.js';

/** A health verdict. Only `unhealthy` may lead to an action. */
export type HealthVerdict = 'healthy' | 'unhealthy' | 'unknown';

/**
 * Why a unit is unhealthy or unknown (stable codes, used in events and failure signatures).
 * - `enrollment_missing`: an expected unit has no enrollment record.
 * - `identity_gone`: the enrolled process is gone, a zombie, recycled, or of another boot.
 * - `heartbeat_stale`: no heartbeat of this incarnation for longer than the threshold.
 * - `version_outdated`: the unit enrolled with a version older than the installed one.
 * - `not_expected`: no enrollment, and the unit is not expected on this host (unknown).
 * - `enrollment_unreadable`: the record exists but cannot be read or parsed (unknown).
 * - `identity_unknown`: procfs could not prove or disprove the identity (unknown).
 * - `version_unknown`: the installed version could not be read (unknown when nothing else is wrong).
 * - `process_stopped`: the heartbeat is stale and the process is stopped (`T`/`t` in
 *   `/proc/PID/stat`: SIGSTOP, a debugger): it cannot consume a marker or handle SIGTERM.
 * - `disk_full`: the heartbeat is stale while the state or log file system is full, so the
 *   unit could not write it: not the unit's fault (unknown).
 */
export type HealthReason =
  | 'enrollment_missing'
  | 'identity_gone'
  | 'heartbeat_stale'
  | 'version_outdated'
  | 'not_expected'
  | 'enrollment_unreadable'
  | 'identity_unknown'
  | 'version_unknown'
  | 'process_stopped'
  | 'disk_full';

/** Everything {@link judgeUnit} rests on; gathered by {@link probeUnit}. */
export interface UnitEvidence {
  unit: string;
  /** Whether the unit is expected to run on this host (a missing enrollment is then unhealthy). */
  expected: boolean;
  /** The enrollment record, or why there is none. */
  enrollment: { record: EnrollmentRecord } | { record?: undefined; problem: 'missing' | 'unreadable' | 'malformed'; detail: string };
  /** Identity check of the enrolled process (absent when there is no record). */
  identity?: IdentityCheck;
  /** The heartbeat file, whoever wrote it (absent when none or malformed). */
  heartbeat?: HeartbeatRead;
  /** Version installed on disk now; undefined when it could not be read. */
  installedVersion: string | undefined;
  /** Heartbeat age above which the unit is stale, ms. */
  staleAfterMs: number;
  /** Wall clock at the probe, ms since epoch. */
  nowMs: number;
  /** State letter of the enrolled process (`/proc/PID/stat` field 3), when read. */
  procState?: string;
  /** The state/log file system, when it is full (below the free-space threshold). */
  fullDisk?: DiskUsage;
  /**
   * When the caller last saw those file systems full, ms since epoch. No heartbeat could be
   * written until then, so once space is back its age counts from then: the unit beats again
   * within its interval, and a probe in between must not read that as a stale heartbeat.
   */
  fullDiskSeenAtMs?: number;
}

/** The outcome of {@link judgeUnit}. */
export interface UnitJudgement {
  unit: string;
  verdict: HealthVerdict;
  /** Codes of every problem found (empty when healthy). */
  reasons: HealthReason[];
  /** Human-readable lines: what each check found. */
  evidence: string[];
  /**
   * Stable text naming the failure (`heartbeat_stale+version_outdated`), to count identical
   * failures; '' when healthy.
   */
  signature: string;
  /** The enrollment record judged, when there was one. */
  record?: EnrollmentRecord;
  /** Age of the freshest sign of life of this incarnation (heartbeat or enrollment), ms. */
  lastSignAgeMs?: number;
  /** True when the enrolled process was proven to be the unit. */
  alive: boolean;
  /** True when the unit's file systems were full at this probe (see `fullDiskSeenAtMs`). */
  fullDisk?: true;
}

/**
 * Judges one unit. Rules, in order:
 * 1. No record: `unhealthy (enrollment_missing)` when expected, else `unknown (not_expected)`;
 *    an unreadable or malformed record is `unknown`.
 * 2. Identity `same` is required to look further; gone/recycled/zombie/other-boot is
 *    `unhealthy (identity_gone)`; an `unknown` identity makes the whole verdict `unknown`.
 * 3. Heartbeat: only a heartbeat carrying the record's nonce counts; without one, the
 *    enrollment time stands in (a unit just started has not beaten yet). Older than
 *    `staleAfterMs` is `heartbeat_stale`, plus `process_stopped` when the process is stopped
 *    (state `T`/`t`); a stale heartbeat of a running process on a full disk is `disk_full`
 *    (unknown) instead. A negative age (wall clock stepped back) is fresh.
 * 4. Version: `compareVersions(record.version, installed) < 0` is `version_outdated`; an
 *    unreadable installed version is `version_unknown`.
 * Any unhealthy reason makes the verdict `unhealthy`; else any unknown reason `unknown`.
 * Pure: no I/O, never throws.
 */
export function judgeUnit(ev: UnitEvidence): UnitJudgement {
  const base = { unit: ev.unit, alive: false, ...(ev.fullDisk !== undefined ? { fullDisk: true as const } : {}) };
  if (ev.enrollment.record === undefined) {
    const e = ev.enrollment;
    if (e.problem === 'missing') {
      return ev.expected
        ? {
            ...base,
            verdict: 'unhealthy',
            reasons: ['enrollment_missing'],
            evidence: [`no enrollment record (${e.detail})`],
            signature: 'enrollment_missing',
          }
        : {
            ...base,
            verdict: 'unknown',
            reasons: ['not_expected'],
            evidence: ['no enrollment record, and the unit is not in watchdog.targets'],
            signature: '',
          };
    }
    return {
      ...base,
      verdict: 'unknown',
      reasons: ['enrollment_unreadable'],
      evidence: [`enrollment ${e.problem}: ${e.detail}`],
      signature: '',
    };
  }
  const rec = ev.enrollment.record;
  const evidence: string[] = [`enrolled pid ${rec.pid} (${rec.comm}) v${rec.version} at ${rec.started_at}`];
  const id = ev.identity;
  if (id === undefined || id.verdict === 'unknown') {
    evidence.push(`identity unknown: ${id?.reason ?? 'not checked'}`);
    return { ...base, record: rec, verdict: 'unknown', reasons: ['identity_unknown'], evidence, signature: '' };
  }
  if (id.verdict !== 'same') {
    evidence.push(`identity ${id.verdict}: ${id.reason}`);
    return { ...base, record: rec, verdict: 'unhealthy', reasons: ['identity_gone'], evidence, signature: 'identity_gone' };
  }
  evidence.push(`identity same: ${id.reason}`);
  const unhealthy: HealthReason[] = [];
  const unknown: HealthReason[] = [];

  const hb = ev.heartbeat !== undefined && ev.heartbeat.nonce === rec.nonce ? ev.heartbeat : undefined;
  const writable = ev.fullDisk === undefined ? (ev.fullDiskSeenAtMs ?? 0) : 0;
  const signMs = Math.max(hb !== undefined ? hb.written_at_ms : 0, rec.started_at_ms, writable);
  const age = ev.nowMs - signMs;
  if (age > ev.staleAfterMs) {
    const stopped = ev.procState === 'T' || ev.procState === 't';
    evidence.push(
      hb !== undefined
        ? `heartbeat ${fmtS(age)} old (threshold ${fmtS(ev.staleAfterMs)})`
        : `no heartbeat of this incarnation ${fmtS(age)} after enrolling (threshold ${fmtS(ev.staleAfterMs)})`,
    );
    if (stopped) {
      unhealthy.push('heartbeat_stale', 'process_stopped');
      evidence.push(`process ${rec.pid} is stopped (state ${ev.procState})`);
    } else if (ev.fullDisk !== undefined) {
      unknown.push('disk_full');
      evidence.push(
        `${ev.fullDisk.path} is full (${Math.floor(ev.fullDisk.free_bytes / 1048576)} MiB free): the heartbeat could not be written`,
      );
    } else {
      unhealthy.push('heartbeat_stale');
    }
  } else {
    evidence.push(
      hb !== undefined
        ? `heartbeat ${fmtS(Math.max(0, age))} old${hb.state ? ` (${hb.state})` : ''}`
        : `enrolled ${fmtS(Math.max(0, age))} ago, no heartbeat yet`,
    );
  }

  if (ev.installedVersion === undefined) {
    unknown.push('version_unknown');
    evidence.push('installed version unreadable');
  } else if (compareVersions(rec.version, ev.installedVersion) < 0) {
    unhealthy.push('version_outdated');
    evidence.push(`runs v${rec.version}, v${ev.installedVersion} is installed`);
  }

  const common = { ...base, record: rec, alive: true, evidence, lastSignAgeMs: age };
  if (unhealthy.length > 0) return { ...common, verdict: 'unhealthy', reasons: [...unhealthy, ...unknown], signature: unhealthy.join('+') };
  if (unknown.length > 0) return { ...common, verdict: 'unknown', reasons: unknown, signature: '' };
  return { ...common, verdict: 'healthy', reasons: [], signature: '' };
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/**
 * Reads the `version` of a package.json on disk (the installed version, re-read at every
 * probe so an upgrade under a running process is seen).
 * @returns undefined when the file cannot be read or has no string `version`.
 */
export function readInstalledVersion(packageJsonPath: string): string | undefined {
  try {
    const v = (JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' && v !== '' ? v : undefined;
  } catch {
    return undefined; // missing, unreadable or not JSON (mid-upgrade): no version to compare
  }
}

/** Options of {@link probeUnit}. */
export interface ProbeOptions {
  expected: boolean;
  /** Heartbeat threshold, ms. */
  staleAfterMs: number;
  nowMs: number;
  /** Installed version (e.g. from {@link readInstalledVersion}); undefined when unknown. */
  installedVersion: string | undefined;
  procRoot?: string;
  /** Current boot id, when already read. */
  bootId?: string;
  /** See {@link UnitEvidence.fullDiskSeenAtMs}. */
  fullDiskSeenAtMs?: number;
  /** Free bytes below which the state/log file system counts as full (default {@link DISK_FULL_FREE_BYTES}). */
  minFreeBytes?: number;
}

/**
 * Gathers the evidence of `unit` (enrollment, identity, process state, heartbeat, how full
 * the file systems of its state, markers and logs are) and judges it. The runner
 * calls it for `watchdog` from its serve loop: when the verdict is `unhealthy` it asks for the
 * watchdog's restart (`requestRestart(paths, 'watchdog', ...)`, at most once per threshold).
 * Never throws for file or procfs content.
 * @throws AgentRunnerError ERR_AR_USAGE for an invalid unit name.
 */
export function probeUnit(paths: ProjectPaths, unit: string, opts: ProbeOptions): UnitJudgement {
  const read = inspectEnrollment(paths, unit);
  let bootId = opts.bootId;
  if (bootId === undefined) {
    try {
      bootId = readBootId(opts.procRoot);
    } catch {
      bootId = undefined; // verifyIdentity then reports `unknown` itself
    }
  }
  const verifyOpts = { ...(opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {}), ...(bootId !== undefined ? { bootId } : {}) };
  const heartbeat = readHeartbeat(paths, unit, { nowMs: opts.nowMs });
  const identity = read.value !== undefined ? verifyIdentity(read.value, verifyOpts) : undefined;
  let procState: string | undefined;
  if (read.value !== undefined && identity?.verdict === 'same') {
    try {
      procState = readProcStat(read.value.pid, opts.procRoot)?.state;
    } catch {
      procState = undefined; // the identity check read it a moment ago; a stopped state shows next probe
    }
  }
  const disk = tightestDisk([paths.stateDir, paths.runDir, paths.logDir]);
  return judgeUnit({
    unit,
    expected: opts.expected,
    enrollment: read.value !== undefined ? { record: read.value } : { problem: read.problem, detail: read.detail },
    ...(identity !== undefined ? { identity } : {}),
    ...(heartbeat !== undefined ? { heartbeat } : {}),
    installedVersion: opts.installedVersion,
    staleAfterMs: opts.staleAfterMs,
    nowMs: opts.nowMs,
    ...(procState !== undefined ? { procState } : {}),
    ...(disk !== undefined && isDiskFull(disk, opts.minFreeBytes ?? DISK_FULL_FREE_BYTES) ? { fullDisk: disk } : {}),
    ...(opts.fullDiskSeenAtMs !== undefined ? { fullDiskSeenAtMs: opts.fullDiskSeenAtMs } : {}),
  });
}
