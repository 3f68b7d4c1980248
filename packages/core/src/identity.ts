/**
 * Process identity: enrollment records and the checks made before any signal
 * (DESIGN.md, "Identity before any signal"; the contract follows AutoSkillit's enrollment
 * sidecar, `seeds/003_*.txt`).
 *
 * A PID alone names nothing durable: PIDs are recycled, and a record left from before a
 * reboot names a process of another boot. A PID is "the unit" only when the boot_id, the
 * pid, the start time in clock ticks (`/proc/PID/stat` field 22) and comm (and exe, when
 * both sides could read it) all match a live, non-zombie process. Everything else is
 * "do not signal": gone or recycled means respawn, never kill.
 *
 * Linux only (procfs). If /proc is mounted with `hidepid=`, the checking process must run
 * as the same user as the units, or their processes look gone.
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from './atomic.js';
import { AgentRunnerError, errnoCode, isErrno } from './errors.js';
import {
  assertUnitName,
  type FieldType,
  type MarkerRead,
  markerPath,
  newNonce,
  readJsonMarker,
  removeMarkerIfNonce,
  shapeProblem,
  UNIT_NAME_RE,
} from './markers.js';
import type { ProjectPaths } from './paths.js';

/** Default procfs mount point. */
export const PROC_ROOT = '/proc';

/**
 * Reads the id of the running boot (`/proc/sys/kernel/random/boot_id`, a random UUID the
 * kernel draws at each boot; see proc_sys_kernel(5)).
 * @returns the boot id without the trailing newline.
 * @throws AgentRunnerError ERR_AR_IO when it cannot be read or is empty.
 */
export function readBootId(procRoot: string = PROC_ROOT): string {
  const path = join(procRoot, 'sys/kernel/random/boot_id');
  let id: string;
  try {
    id = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new AgentRunnerError('ERR_AR_IO', `cannot read the boot id from ${path}`, { cause: e });
  }
  if (id === '' || /\s/.test(id)) {
    throw new AgentRunnerError('ERR_AR_IO', `malformed boot id in ${path}`, { found: JSON.stringify(id) });
  }
  return id;
}

/** The fields of `/proc/PID/stat` that identity needs (see proc_pid_stat(5)). */
export interface ProcStat {
  /** Field 1. */
  pid: number;
  /** Field 2 without the parentheses: the executable's base name, at most 15 bytes. */
  comm: string;
  /** Field 3: R, S, D, T, t, Z (zombie), X (dead), I, ... */
  state: string;
  /** Field 4. */
  ppid: number;
  /** Field 5: process group id. */
  pgid: number;
  /** Field 6: session id. */
  sid: number;
  /** Field 22: start time after boot, in clock ticks (USER_HZ, usually 100 per second). */
  starttimeTicks: number;
}

/**
 * Parses the text of `/proc/PID/stat`. comm is taken between the first `(` and the LAST `)`,
 * since comm may itself contain spaces and parentheses; the fields after it are split on
 * single spaces.
 * @throws AgentRunnerError ERR_AR_IO when the text does not have the stat layout.
 */
export function parseProcStat(text: string): ProcStat {
  const bad = (why: string): never => {
    throw new AgentRunnerError('ERR_AR_IO', `malformed /proc stat line: ${why}`, {
      found: JSON.stringify(text.slice(0, 120)),
    });
  };
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) bad('no (comm)');
  const pidText = text.slice(0, open).trim();
  const rest = text
    .slice(close + 1)
    .trim()
    .split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const num = (field: number): number => {
    const s = field === 1 ? pidText : rest[field - 3];
    if (s === undefined || !/^-?\d+$/.test(s)) bad(`field ${field} is ${JSON.stringify(s)}`);
    const n = Number(s);
    if (!Number.isSafeInteger(n)) bad(`field ${field} out of range`);
    return n;
  };
  const state = rest[0];
  if (state === undefined || !/^[A-Za-z]$/.test(state)) bad(`state is ${JSON.stringify(state)}`);
  const starttimeTicks = num(22);
  if (starttimeTicks < 0) bad('negative starttime');
  return {
    pid: num(1),
    comm: text.slice(open + 1, close),
    state: state as string,
    ppid: num(4),
    pgid: num(5),
    sid: num(6),
    starttimeTicks,
  };
}

function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new AgentRunnerError('ERR_AR_USAGE', `invalid pid ${String(pid)}`, { expected: 'a positive integer' });
  }
}

/**
 * Reads and parses `<procRoot>/<pid>/stat`.
 * @returns undefined when the process does not exist (ENOENT, or ESRCH when it exits while
 * being read).
 * @throws AgentRunnerError ERR_AR_USAGE for a pid that is not a positive integer;
 * ERR_AR_IO when the file exists but cannot be read or parsed, or names another pid.
 */
export function readProcStat(pid: number, procRoot: string = PROC_ROOT): ProcStat | undefined {
  assertPid(pid);
  const path = join(procRoot, String(pid), 'stat');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw new AgentRunnerError('ERR_AR_IO', `cannot read ${path}`, { cause: e });
  }
  const st = parseProcStat(text);
  if (st.pid !== pid) {
    throw new AgentRunnerError('ERR_AR_IO', `${path} describes pid ${st.pid}`, { expected: `pid ${pid}` });
  }
  return st;
}

/**
 * The executable of `pid` (readlink `<procRoot>/<pid>/exe`).
 * @returns the path, or undefined when it cannot be read: EACCES for other users'
 * processes, ENOENT for zombies, kernel threads and exited processes.
 */
export function readExe(pid: number, procRoot: string = PROC_ROOT): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    return readlinkSync(join(procRoot, String(pid), 'exe'));
  } catch {
    return undefined; // EACCES, ENOENT, as documented: identity checks then skip the exe comparison
  }
}

/**
 * The kernel appends " (deleted)" to the exe link once the binary was replaced on disk (an
 * `apt upgrade` of node): still the same process, so the suffix is ignored when comparing.
 */
function sameExe(a: string, b: string): boolean {
  const strip = (s: string): string => (s.endsWith(' (deleted)') ? s.slice(0, -' (deleted)'.length) : s);
  return strip(a) === strip(b);
}

/** Content of `run/enroll-<unit>.json`: who "the unit" is, for as long as it runs. */
export interface EnrollmentRecord {
  /** Unit name (`runner`, `bridge`, `watchdog`, `monitor`, ...). */
  unit: string;
  pid: number;
  /** `/proc/sys/kernel/random/boot_id` at enrollment. */
  boot_id: string;
  /** `/proc/PID/stat` field 22, clock ticks after boot. */
  starttime_ticks: number;
  /** `/proc/PID/stat` field 2 (≤ 15 bytes). */
  comm: string;
  /** `/proc/PID/exe` target; null when it could not be read. */
  exe: string | null;
  /** agent-runner version the unit runs (the watchdog's version stamp). */
  version: string;
  /** When the unit enrolled, ISO 8601 UTC. */
  started_at: string;
  /** When the unit enrolled, ms since the epoch. */
  started_at_ms: number;
  /** Random id of this incarnation; heartbeats carry it, removal checks it. */
  nonce: string;
  /** Project name. */
  project: string;
  /** argv[0] as the unit was started, for humans. */
  argv0?: string;
  /**
   * The whole command line that started the unit (node, its options, the script, the verb and
   * its arguments) and its working directory: outside systemd the watchdog respawns a dead
   * unit with exactly these, so `serve --max-rounds 3 --config X` comes back as itself.
   */
  argv?: string[];
  cwd?: string;
}

const ENROLLMENT_SHAPE = {
  unit: 'string',
  pid: 'int',
  boot_id: 'string',
  starttime_ticks: 'int',
  comm: 'string',
  exe: 'string|null',
  version: 'string',
  started_at: 'string',
  started_at_ms: 'int',
  nonce: 'string',
  project: 'string',
  argv0: 'string?',
  argv: 'string[]?',
  cwd: 'string?',
} as const satisfies Record<string, FieldType>;

/**
 * Checks the shape of an enrollment record (as parsed from JSON).
 * @returns a description of the first problem, or undefined when it is well-formed.
 */
export function enrollmentProblem(v: unknown): string | undefined {
  const p = shapeProblem(v, ENROLLMENT_SHAPE);
  if (p !== undefined) return p;
  const r = v as EnrollmentRecord;
  if (!UNIT_NAME_RE.test(r.unit)) return `invalid unit name ${JSON.stringify(r.unit)}`;
  if (r.pid <= 0) return `invalid pid ${r.pid}`;
  if (r.starttime_ticks < 0) return `invalid starttime_ticks ${r.starttime_ticks}`;
  if (r.boot_id === '' || r.nonce === '') return 'empty boot_id or nonce';
  return undefined;
}

/** Options of {@link createEnrollment}. */
export interface CreateEnrollmentOptions {
  /** agent-runner version (`VERSION` from `@agent-runner/core/version`). */
  version: string;
  project: string;
  /** Current wall-clock time, ms since the epoch. */
  nowMs: number;
  procRoot?: string;
  argv0?: string;
  /** The unit's full command line and working directory (see {@link EnrollmentRecord.argv}). */
  argv?: string[];
  cwd?: string;
  /** Nonce to use instead of a random one. */
  nonce?: string;
}

/**
 * Builds the enrollment record of `pid` (the caller passes its own pid) from procfs. Call it
 * after anything that renames the process (setting `process.title` changes comm on Linux).
 * @throws AgentRunnerError ERR_AR_USAGE for an invalid unit name or pid; ERR_AR_IO when the
 * boot id or the process's stat cannot be read, or the process does not exist.
 */
export function createEnrollment(unit: string, pid: number, opts: CreateEnrollmentOptions): EnrollmentRecord {
  assertUnitName(unit);
  const procRoot = opts.procRoot ?? PROC_ROOT;
  const bootId = readBootId(procRoot);
  const st = readProcStat(pid, procRoot);
  if (st === undefined) throw new AgentRunnerError('ERR_AR_IO', `process ${pid} not found under ${procRoot}`);
  return {
    unit,
    pid,
    boot_id: bootId,
    starttime_ticks: st.starttimeTicks,
    comm: st.comm,
    exe: readExe(pid, procRoot) ?? null,
    version: opts.version,
    started_at: new Date(opts.nowMs).toISOString(),
    started_at_ms: Math.trunc(opts.nowMs),
    nonce: opts.nonce ?? newNonce(),
    project: opts.project,
    ...(opts.argv0 !== undefined ? { argv0: opts.argv0 } : {}),
    ...(opts.argv !== undefined ? { argv: opts.argv } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  };
}

/** Path of the enrollment record of `unit`: `<runDir>/enroll-<unit>.json`. */
export function enrollmentPath(paths: ProjectPaths, unit: string): string {
  return markerPath(paths, 'enroll', unit);
}

/**
 * Writes `record` to `run/enroll-<unit>.json` atomically (0600, in a 0700 directory),
 * replacing the record of any previous incarnation.
 * @throws AgentRunnerError ERR_AR_USAGE for a malformed record; NodeJS.ErrnoException on
 * I/O errors.
 */
export function writeEnrollment(paths: ProjectPaths, record: EnrollmentRecord): void {
  const p = enrollmentProblem(record);
  if (p !== undefined) throw new AgentRunnerError('ERR_AR_USAGE', `malformed enrollment record: ${p}`);
  const path = enrollmentPath(paths, record.unit);
  ensurePrivateDir(paths.runDir);
  writeFileAtomic(path, `${JSON.stringify(record)}\n`);
}

/**
 * Reads the enrollment record of `unit`, saying why there is none.
 * @returns `{ value }`, or `{ value: undefined, problem: 'missing' | 'unreadable' |
 * 'malformed', detail }`; never throws for file content.
 * @throws AgentRunnerError ERR_AR_USAGE for an invalid unit name.
 */
export function inspectEnrollment(paths: ProjectPaths, unit: string): MarkerRead<EnrollmentRecord> {
  return readJsonMarker<EnrollmentRecord>(enrollmentPath(paths, unit), (v) => {
    const p = enrollmentProblem(v);
    if (p !== undefined) return p;
    return (v as EnrollmentRecord).unit === unit ? undefined : `names unit ${JSON.stringify((v as EnrollmentRecord).unit)}`;
  });
}

/**
 * Reads the enrollment record of `unit`.
 * @returns the record, or undefined when it is missing, unreadable or malformed (use
 * {@link inspectEnrollment} for the reason).
 */
export function readEnrollment(paths: ProjectPaths, unit: string): EnrollmentRecord | undefined {
  return inspectEnrollment(paths, unit).value;
}

/**
 * Removes the enrollment record of `unit` on clean exit, only when it is still ours (its
 * nonce is `nonce`): an incarnation exiting late never removes its successor's record.
 * @returns true when our record was removed.
 */
export function removeEnrollment(paths: ProjectPaths, unit: string, nonce: string): boolean {
  return removeMarkerIfNonce(enrollmentPath(paths, unit), nonce);
}

/**
 * The outcome of an identity check. Only `same` proves the process is the unit; treat all
 * others as "do not signal".
 *
 * - `same`: boot, pid, start time, comm (and exe) match a live process.
 * - `gone`: no process has that pid.
 * - `recycled`: the pid belongs to another process (start time, comm or exe differ).
 * - `zombie`: the process has exited and awaits reaping (state Z or X).
 * - `other-boot`: the record was written during another boot.
 * - `unknown`: identity could not be established (unreadable or malformed procfs, a
 *   malformed record): not proven the same.
 */
export type IdentityVerdict = 'same' | 'gone' | 'recycled' | 'zombie' | 'other-boot' | 'unknown';

/** An identity verdict with a human-readable reason. */
export interface IdentityCheck {
  verdict: IdentityVerdict;
  reason: string;
}

/** Options of {@link verifyIdentity}. */
export interface VerifyOptions {
  /** procfs root (default `/proc`); tests point it at a fake tree. */
  procRoot?: string;
  /** The current boot id, when the caller already read it; read from procRoot otherwise. */
  bootId?: string;
}

interface DetailedCheck extends IdentityCheck {
  stat?: ProcStat;
}

function verifyDetailed(record: EnrollmentRecord, opts: VerifyOptions): DetailedCheck {
  const procRoot = opts.procRoot ?? PROC_ROOT;
  const problem = enrollmentProblem(record);
  if (problem !== undefined) return { verdict: 'unknown', reason: `malformed record: ${problem}` };
  // pid 1 is init, and a pid <= 1 negated for a group signal would reach every process.
  if (record.pid <= 1) return { verdict: 'unknown', reason: `refusing pid ${record.pid}` };

  // Gate 1: boot. starttime ticks count from boot, so they mean nothing across boots.
  let bootId: string;
  try {
    bootId = opts.bootId ?? readBootId(procRoot);
  } catch (e) {
    return { verdict: 'unknown', reason: (e as Error).message };
  }
  if (record.boot_id !== bootId) {
    return { verdict: 'other-boot', reason: `enrolled in boot ${record.boot_id}, current boot is ${bootId}` };
  }

  // Gate 2: existence.
  let st: ProcStat | undefined;
  try {
    st = readProcStat(record.pid, procRoot);
  } catch (e) {
    return { verdict: 'unknown', reason: (e as Error).message };
  }
  if (st === undefined) {
    // An empty mount point or a missing procRoot also yields ENOENT: "gone" needs a live procfs.
    if (!existsSync(join(procRoot, 'self'))) {
      return { verdict: 'unknown', reason: `${procRoot} does not look like a mounted procfs (no self entry)` };
    }
    return { verdict: 'gone', reason: `no process ${record.pid}` };
  }

  // Gate 3: zombie. It still holds the pid and its stat, but there is nothing to signal.
  if (st.state === 'Z' || st.state === 'X' || st.state === 'x') {
    return { verdict: 'zombie', reason: `process ${record.pid} has exited (state ${st.state}) and awaits reaping`, stat: st };
  }

  // Gate 4: start time, the part of the identity that a recycled pid cannot fake.
  if (st.starttimeTicks !== record.starttime_ticks) {
    return {
      verdict: 'recycled',
      reason: `process ${record.pid} started at tick ${st.starttimeTicks}, the unit at tick ${record.starttime_ticks}`,
      stat: st,
    };
  }

  // Gate 5: comm, and exe when both sides could read it.
  if (st.comm !== record.comm) {
    return {
      verdict: 'recycled',
      reason: `process ${record.pid} is ${JSON.stringify(st.comm)}, the unit was ${JSON.stringify(record.comm)}`,
      stat: st,
    };
  }
  const exe = readExe(record.pid, procRoot);
  if (exe !== undefined && record.exe !== null && !sameExe(exe, record.exe)) {
    return {
      verdict: 'recycled',
      reason: `process ${record.pid} runs ${JSON.stringify(exe)}, the unit ran ${JSON.stringify(record.exe)}`,
      stat: st,
    };
  }
  const exeNote = exe !== undefined && record.exe !== null ? ', exe' : ' (exe not compared: unreadable)';
  return { verdict: 'same', reason: `boot, pid, starttime, comm${exeNote} match`, stat: st };
}

/**
 * Decides whether the process named by `record` is still the unit. Gate order: boot_id →
 * existence → zombie → starttime → comm/exe. Fails closed: anything that cannot be read or
 * parsed is `unknown`, never `same`. Never throws.
 */
export function verifyIdentity(record: EnrollmentRecord, opts: VerifyOptions = {}): IdentityCheck {
  const { verdict, reason } = verifyDetailed(record, opts);
  return { verdict, reason };
}

/** True only when {@link verifyIdentity} proves the process is the unit. */
export function isSameProcess(record: EnrollmentRecord, opts: VerifyOptions = {}): boolean {
  return verifyIdentity(record, opts).verdict === 'same';
}

/** Sends a signal, like `process.kill`: throws NodeJS.ErrnoException (ESRCH, EPERM). */
export type KillFn = (pid: number, signal: NodeJS.Signals) => void;

/** The outcome of {@link signalIfSame} / {@link signalGroupIfSame}. */
export interface SignalResult extends IdentityCheck {
  /** True only when the signal was delivered. */
  sent: boolean;
}

function deliver(target: number, signal: NodeJS.Signals, kill: KillFn, check: IdentityCheck): SignalResult {
  try {
    kill(target, signal);
  } catch (e) {
    if (isErrno(e, 'ESRCH')) {
      return { verdict: 'gone', reason: `exited before ${signal} could be sent`, sent: false };
    }
    throw e;
  }
  return { ...check, sent: true };
}

/**
 * Sends `signal` to the unit's process, only if its identity is re-verified as `same`
 * immediately before sending. The residual window between the check and kill(2) is a few
 * microseconds; a pid cannot be recycled in it unless the process exits and the kernel's
 * pid counter wraps around within that time.
 *
 * @param kill how to signal; the caller passes `process.kill` (library code does not touch
 * `process`).
 * @returns the verdict, with `sent: true` only when the signal was delivered; a process that
 * vanished between check and kill is `gone`, not sent.
 * @throws NodeJS.ErrnoException from `kill` other than ESRCH (EPERM: a process of another
 * user).
 */
export function signalIfSame(record: EnrollmentRecord, signal: NodeJS.Signals, kill: KillFn, opts: VerifyOptions = {}): SignalResult {
  const check = verifyDetailed(record, opts);
  if (check.verdict !== 'same') return { verdict: check.verdict, reason: check.reason, sent: false };
  return deliver(record.pid, signal, kill, { verdict: check.verdict, reason: check.reason });
}

/**
 * Sends `signal` to the whole process group led by the unit's process (kill(-pgid)),
 * guarded by the leader's identity: only when the leader verifies as `same` and is still
 * the leader of its group (pgid == pid). A zombie leader is refused even though its group
 * may still have members: without a live leader the group's identity is not proven.
 *
 * @returns as {@link signalIfSame}; a live leader of another group gives `verdict: 'same'`
 * with `sent: false`.
 * @throws NodeJS.ErrnoException from `kill` other than ESRCH.
 */
export function signalGroupIfSame(record: EnrollmentRecord, signal: NodeJS.Signals, kill: KillFn, opts: VerifyOptions = {}): SignalResult {
  const check = verifyDetailed(record, opts);
  if (check.verdict !== 'same') return { verdict: check.verdict, reason: check.reason, sent: false };
  const pgid = check.stat?.pgid;
  if (pgid !== record.pid) {
    return { verdict: 'same', reason: `process ${record.pid} is not a process-group leader (pgid ${pgid})`, sent: false };
  }
  return deliver(-pgid, signal, kill, { verdict: check.verdict, reason: check.reason });
}

/**
 * Reads `<procRoot>/<pid>/cmdline` as one string, arguments joined by spaces.
 * @returns '' for zombies and kernel threads (their cmdline is empty) or when the process is gone.
 */
export function readCmdline(pid: number, procRoot: string = PROC_ROOT): string {
  try {
    const raw = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8');
    return raw.replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return ''; // ENOENT, ESRCH: gone, as documented; a listing has no better answer
  }
}

/**
 * Reads `<procRoot>/<pid>/cmdline` as the argv array (NUL-separated per proc(5)).
 * @returns [] when the process is gone or is a zombie.
 */
export function readArgv(pid: number, procRoot: string = PROC_ROOT): string[] {
  try {
    const raw = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8');
    if (raw === '') return [];
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return []; // ENOENT, ESRCH: gone, as documented
  }
}
