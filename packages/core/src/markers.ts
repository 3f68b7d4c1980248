/**
 * Marker files: the small files in `<stateDir>/run/` through which agent-runner's processes
 * talk to each other (DESIGN.md, "Marker files"). Presence or content is the message.
 *
 * ```
 * run/restart-<unit>.json     restart request for that unit only (one file per consumer)
 * run/heartbeat-<unit>.json   liveness of a unit, rewritten every few seconds
 * run/enroll-<unit>.json      enrollment record (see ./identity.ts)
 * run/stop-requested          stop request (JSON, or any file at all: `touch` works)
 * ```
 *
 * Every marker is replaced whole by rename, so a reader sees the previous content or the new
 * one, never a torn file. The directory is 0700 and the files 0600.
 *
 * Why one restart marker per target: a shared marker was consumed by whichever process
 * looked first (Kōan's bridge never saw the restart its fast-restarting runner wiped,
 * `seeds/002_*.txt`). Here a marker is consumed only by its own target, and consumption
 * renames the file away first, so two incarnations of one target never both act on it.
 */
import { linkSync, lstatSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE, writeFileAtomic } from './atomic.js';
import { AgentRunnerError, errnoCode, isErrno } from './errors.js';
import type { ProjectPaths } from './paths.js';

/** Unit and target names: they become file names, so no `/`, `.` or upper case. */
export const UNIT_NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * Checks that `name` is a valid unit name (`/^[a-z][a-z0-9-]{0,31}$/`), which keeps marker
 * paths inside `run/` whatever a caller or a chat command passes.
 * @param key what the name is, for the error message (`unit`, `target`).
 * @returns `name`.
 * @throws AgentRunnerError ERR_AR_USAGE when the name is invalid.
 */
export function assertUnitName(name: string, key = 'unit'): string {
  if (typeof name !== 'string' || !UNIT_NAME_RE.test(name)) {
    throw new AgentRunnerError('ERR_AR_USAGE', `invalid ${key} name ${JSON.stringify(name)}`, {
      key,
      expected: '1-32 characters of a-z 0-9 -, starting with a letter',
      found: JSON.stringify(name),
    });
  }
  return name;
}

/** The kinds of per-unit marker files in `run/`. */
export type MarkerKind = 'restart' | 'heartbeat' | 'enroll';

/**
 * Path of the `kind` marker of `unit`: `<runDir>/<kind>-<unit>.json`.
 * @throws AgentRunnerError ERR_AR_USAGE when `unit` is not a valid unit name.
 */
export function markerPath(paths: ProjectPaths, kind: MarkerKind, unit: string): string {
  return join(paths.runDir, `${kind}-${assertUnitName(unit, kind === 'restart' ? 'target' : 'unit')}.json`);
}

/**
 * Outcome of reading a JSON marker. A marker that is missing, unreadable or malformed is
 * never an exception: readers decide what an absent record means.
 */
export type MarkerRead<T> =
  | { value: T; problem?: undefined; detail?: undefined }
  | { value: undefined; problem: 'missing' | 'unreadable' | 'malformed'; detail: string };

/**
 * Field types understood by {@link shapeProblem}: `int` is a safe integer, `string?` may be
 * absent, `string|null` must be present.
 */
export type FieldType = 'string' | 'string?' | 'string|null' | 'int' | 'int?' | 'object?' | 'string[]?';

/**
 * Checks that `v` is a plain object whose fields have the listed types.
 * @returns a description of the first mismatch, or undefined when the shape is right.
 */
export function shapeProblem(v: unknown, spec: Readonly<Record<string, FieldType>>): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  for (const [k, t] of Object.entries(spec)) {
    const x = o[k];
    const ok =
      t === 'string'
        ? typeof x === 'string'
        : t === 'string?'
          ? x === undefined || typeof x === 'string'
          : t === 'string|null'
            ? x === null || typeof x === 'string'
            : t === 'int'
              ? Number.isSafeInteger(x)
              : t === 'int?'
                ? x === undefined || Number.isSafeInteger(x)
                : t === 'string[]?'
                  ? x === undefined || (Array.isArray(x) && x.every((e) => typeof e === 'string'))
                  : x === undefined || (typeof x === 'object' && x !== null && !Array.isArray(x));
    if (!ok) return `field ${k}: expected ${t}, found ${x === undefined ? 'nothing' : JSON.stringify(x)}`;
  }
  return undefined;
}

/**
 * Reads and validates a JSON marker.
 * @param check returns a problem description for a parsed value of the wrong shape.
 */
export function readJsonMarker<T>(path: string, check: (v: unknown) => string | undefined): MarkerRead<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return { value: undefined, problem: 'missing', detail: `${path} does not exist` };
    return { value: undefined, problem: 'unreadable', detail: `${path}: ${code ?? String(e)}` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { value: undefined, problem: 'malformed', detail: `${path}: not JSON (${(e as Error).message})` };
  }
  const p = check(v);
  if (p !== undefined) return { value: undefined, problem: 'malformed', detail: `${path}: ${p}` };
  return { value: v as T };
}

/** A fresh 128-bit random nonce, hex. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

function unlinkQuiet(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

/**
 * Removes the JSON marker at `path` only when its `nonce` field equals `nonce`, so a process
 * exiting late never deletes the marker of the incarnation that replaced it.
 *
 * Race-safe: the marker is renamed away before it is read, so a replacement written in the
 * meantime is never deleted; a marker that is not ours is linked back, unless a newer one
 * appeared at `path` meanwhile (then that one stays).
 * @returns true when our marker was removed; false when there was none or it was not ours.
 * @throws NodeJS.ErrnoException on I/O errors other than the marker being absent.
 */
export function removeMarkerIfNonce(path: string, nonce: string): boolean {
  const claimed = join(dirname(path), `.rm-${basename(path)}-${randomBytes(8).toString('hex')}`);
  try {
    renameSync(path, claimed);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
  let ours: boolean;
  try {
    const v: unknown = JSON.parse(readFileSync(claimed, 'utf8'));
    ours = typeof v === 'object' && v !== null && (v as { nonce?: unknown }).nonce === nonce;
  } catch {
    ours = false; // unreadable or malformed: not provably ours, so it goes back
  }
  if (!ours) {
    try {
      linkSync(claimed, path);
    } catch (e) {
      const code = errnoCode(e);
      // EEXIST: a newer marker took the place; it wins. Without hard links, rename back.
      if (code !== 'EEXIST') renameSync(claimed, path);
    }
  }
  unlinkQuiet(claimed);
  return ours;
}

/** Who asked and why; `nowMs` is the wall clock in ms since the epoch. */
export interface RequestOptions {
  /** Who asks: a unit name, `operator`, `chat:<sender>`, ... (free text). */
  by: string;
  /** Why, for logs and notifications (free text). */
  reason: string;
  /** Current wall-clock time, ms since the epoch. */
  nowMs: number;
  /** Nonce to use instead of a random one (tests, idempotent retries). */
  nonce?: string;
}

// ---------------------------------------------------------------------------------------
// Restart markers
// ---------------------------------------------------------------------------------------

/**
 * A request to one unit, by a unit or an operator (restart marker, heal-breaker reset): the
 * content of `run/restart-<target>.json` and `run/heal-reset-<target>.json`.
 */
export interface UnitRequest {
  /** The unit the request is for (and the only one that consumes it). */
  target: string;
  /** Random id of this request, to correlate request, event and the heal action. */
  nonce: string;
  /** When it was requested, ISO 8601 UTC. */
  requested_at: string;
  /** When it was requested, ms since the epoch. */
  requested_at_ms: number;
  /** Who requested it: a unit name, `operator`, `cli:<user>`, `telegram:<user id>`, ... */
  requested_by: string;
  /** Why. */
  reason: string;
}

/** Content of `run/restart-<target>.json`. */
export type RestartRequest = UnitRequest;

const UNIT_REQUEST_SHAPE = {
  target: 'string',
  nonce: 'string',
  requested_at: 'string',
  requested_at_ms: 'int',
  requested_by: 'string',
  reason: 'string',
} as const satisfies Record<string, FieldType>;

/**
 * Writes a {@link UnitRequest} for `target` to `file` in the run directory, atomically; a newer
 * request replaces an unconsumed older one.
 * @returns the request as written.
 * @throws NodeJS.ErrnoException when the run directory cannot be created or written.
 */
export function writeUnitRequest(paths: ProjectPaths, file: string, target: string, opts: RequestOptions): UnitRequest {
  const req: UnitRequest = {
    target,
    nonce: opts.nonce ?? newNonce(),
    requested_at: new Date(opts.nowMs).toISOString(),
    requested_at_ms: Math.trunc(opts.nowMs),
    requested_by: opts.by,
    reason: opts.reason,
  };
  ensurePrivateDir(paths.runDir);
  writeFileAtomic(file, `${JSON.stringify(req)}\n`);
  return req;
}

/**
 * Consumes the {@link UnitRequest} in `file`: renames it to a name private to this call (`tag`
 * names the kind), then reads and deletes it. Rename is atomic, so when two callers race,
 * exactly one gets the request.
 * @returns undefined when there is none; else the read (a malformed one has no `value`).
 * @throws NodeJS.ErrnoException for I/O errors other than the file being absent.
 */
export function claimUnitRequest(paths: ProjectPaths, file: string, tag: string): MarkerRead<UnitRequest> | undefined {
  const claimed = join(paths.runDir, `.take-${tag}-${randomBytes(8).toString('hex')}.json`);
  try {
    renameSync(file, claimed);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
  try {
    return readJsonMarker<UnitRequest>(claimed, (v) => shapeProblem(v, UNIT_REQUEST_SHAPE));
  } finally {
    unlinkQuiet(claimed);
  }
}

/**
 * Asks unit `target` to restart by writing `run/restart-<target>.json` atomically. A newer
 * request replaces an unconsumed older one (the target restarts once either way).
 * @returns the request as written.
 * @throws AgentRunnerError ERR_AR_USAGE for an invalid target name; NodeJS.ErrnoException
 * when the run directory cannot be created or written.
 */
export function requestRestart(paths: ProjectPaths, target: string, opts: RequestOptions): RestartRequest {
  return writeUnitRequest(paths, markerPath(paths, 'restart', target), target, opts);
}

/**
 * Reads the pending restart request of `target` without consuming it (for status displays
 * and for the watchdog to see whether its T1 request is still pending).
 * @returns undefined when there is none or it is malformed.
 */
export function peekRestartRequest(paths: ProjectPaths, target: string): RestartRequest | undefined {
  return readJsonMarker<RestartRequest>(markerPath(paths, 'restart', target), (v) => shapeProblem(v, UNIT_REQUEST_SHAPE)).value;
}

/** Why {@link takeRestartRequest} dropped a marker instead of returning it. */
export type RestartDiscard = 'stale' | 'malformed' | 'wrong-target';

/** Options of {@link takeRestartRequest}. */
export interface TakeRestartOptions {
  /**
   * When the calling incarnation started, ms since the epoch. A request older than this was
   * made of a previous incarnation and is already satisfied by this one having started.
   */
  startedAtMs: number;
  /** Told about every marker consumed but not returned (for an event or a log line). */
  onDiscard?: (why: RestartDiscard, detail: string, request?: RestartRequest) => void;
}

/**
 * Consumes the restart request of `target`. Call it only from the target itself, with its own
 * unit name: the marker is the target's alone.
 *
 * The marker is first renamed to a name private to this call, then read and deleted; rename
 * is atomic, so when two incarnations (or any two callers) race, exactly one gets the
 * request. If the caller dies between rename and delete, the request is lost together with
 * the caller, whose restart (by systemd) is what the request asked for; the stray
 * `.take-*` file is harmless.
 *
 * A request made before `startedAtMs` is deleted and ignored (stale); so are malformed
 * markers and markers naming another target.
 *
 * @returns the request, or undefined when there is none to act on.
 * @throws AgentRunnerError ERR_AR_USAGE for an invalid target name; NodeJS.ErrnoException
 * for I/O errors other than the marker being absent.
 */
export function takeRestartRequest(paths: ProjectPaths, target: string, opts: TakeRestartOptions): RestartRequest | undefined {
  const r = claimUnitRequest(paths, markerPath(paths, 'restart', target), `restart-${target}`);
  if (!r) return undefined;
  if (r.value === undefined) {
    opts.onDiscard?.('malformed', r.detail);
    return undefined;
  }
  const req = r.value;
  if (req.target !== target) {
    opts.onDiscard?.('wrong-target', `marker for ${target} names target ${JSON.stringify(req.target)}`, req);
    return undefined;
  }
  if (req.requested_at_ms < opts.startedAtMs) {
    opts.onDiscard?.(
      'stale',
      `requested at ${req.requested_at}, before this incarnation started at ${new Date(opts.startedAtMs).toISOString()}`,
      req,
    );
    return undefined;
  }
  return req;
}

// ---------------------------------------------------------------------------------------
// Stop request
// ---------------------------------------------------------------------------------------

/** A stop request, as read from `paths.stopFile`. */
export interface StopRequest {
  /** Random id of the request; null when the file was not written by {@link requestStop}. */
  nonce: string | null;
  /** ISO 8601 UTC; the file's mtime for a `presence` request. */
  requested_at: string;
  /** ms since the epoch; the file's mtime for a `presence` request. */
  requested_at_ms: number;
  /** Who asked; `unknown` for a `presence` request. */
  requested_by: string;
  /** Why; empty for a `presence` request. */
  reason: string;
  /**
   * `json` when the file holds a request written by {@link requestStop}; `presence` when it
   * is anything else (an empty file from `touch`, free text): presence alone is the message.
   */
  source: 'json' | 'presence';
}

const STOP_SHAPE = {
  nonce: 'string',
  requested_at: 'string',
  requested_at_ms: 'int',
  requested_by: 'string',
  reason: 'string',
} as const satisfies Record<string, FieldType>;

/**
 * Requests a clean stop by writing `paths.stopFile` atomically (JSON). `touch`ing the file
 * has the same effect.
 * @returns the request as written (`source: 'json'`).
 * @throws NodeJS.ErrnoException when the file cannot be written.
 */
export function requestStop(paths: ProjectPaths, opts: RequestOptions): StopRequest {
  const body = {
    nonce: opts.nonce ?? newNonce(),
    requested_at: new Date(opts.nowMs).toISOString(),
    requested_at_ms: Math.trunc(opts.nowMs),
    requested_by: opts.by,
    reason: opts.reason,
  };
  ensurePrivateDir(dirname(paths.stopFile));
  writeFileAtomic(paths.stopFile, `${JSON.stringify(body)}\n`);
  return { ...body, source: 'json' };
}

/**
 * Reads the stop request. Any file (or other entry) at `paths.stopFile` is a stop request;
 * its fields come from the JSON content when it has the {@link requestStop} shape, else
 * from the file's mtime.
 * @returns undefined when there is no stop request.
 * @throws AgentRunnerError ERR_AR_IO when the presence of the file cannot be determined
 * (e.g. EACCES on its directory): "unknown" must not read as "no stop requested".
 */
export function readStopRequest(paths: ProjectPaths): StopRequest | undefined {
  let mtimeMs: number;
  try {
    mtimeMs = lstatSync(paths.stopFile).mtimeMs;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw new AgentRunnerError('ERR_AR_IO', `cannot check the stop request ${paths.stopFile}`, { cause: e });
  }
  const r = readJsonMarker<Omit<StopRequest, 'source'>>(paths.stopFile, (v) => shapeProblem(v, STOP_SHAPE));
  if (r.value !== undefined) return { ...r.value, source: 'json' };
  const ms = Math.trunc(mtimeMs);
  return {
    nonce: null,
    requested_at: new Date(ms).toISOString(),
    requested_at_ms: ms,
    requested_by: 'unknown',
    reason: '',
    source: 'presence',
  };
}

/**
 * Removes the stop request.
 * @returns true when a request was removed, false when there was none.
 * @throws NodeJS.ErrnoException for errors other than ENOENT.
 */
export function clearStopRequest(paths: ProjectPaths): boolean {
  return unlinkQuiet(paths.stopFile);
}

// ---------------------------------------------------------------------------------------
// Heartbeats
// ---------------------------------------------------------------------------------------

/** Content of `run/heartbeat-<unit>.json`. */
export interface Heartbeat {
  unit: string;
  /** pid of the writer. */
  pid: number;
  /**
   * Nonce of the writer's enrollment record: a heartbeat counts for the unit only when it
   * matches the current enrollment (a heartbeat left by a previous incarnation does not).
   */
  nonce: string;
  /** ISO 8601 UTC. */
  written_at: string;
  /** ms since the epoch. */
  written_at_ms: number;
  /** What the unit is doing (`idle`, `round`, `backoff`, ... free text). */
  state?: string;
  /** Small unit-specific JSON (round number, queue length, ...). */
  detail?: Record<string, unknown>;
}

/** A heartbeat read back, with its age. */
export interface HeartbeatRead extends Heartbeat {
  /** `nowMs - written_at_ms`; negative when the wall clock stepped back since the write. */
  age_ms: number;
}

/** Options of {@link writeHeartbeat}. */
export interface HeartbeatOptions {
  /** Current wall-clock time, ms since the epoch. */
  nowMs: number;
  pid: number;
  /** The writer's enrollment nonce. */
  nonce: string;
  state?: string;
  detail?: Record<string, unknown>;
  /**
   * fsync the file and the directory (default false). A heartbeat only says "alive now":
   * after a crash or power cut it is stale whatever it holds, and every unit re-enrolls
   * with a new boot_id after a reboot, so durability buys nothing while each fsync costs a
   * journal commit (flash wear on SD cards, and a multi-ms stall of the event loop under
   * I/O load). Without fsync the rename still makes every read see a whole file.
   */
  durable?: boolean;
}

const HEARTBEAT_SHAPE = {
  unit: 'string',
  pid: 'int',
  nonce: 'string',
  written_at: 'string',
  written_at_ms: 'int',
  state: 'string?',
  detail: 'object?',
} as const satisfies Record<string, FieldType>;

/** Same-directory temp file + rename, without fsync: atomic for readers, not durable. */
function replaceFile(path: string, data: string): void {
  const tmp = join(dirname(path), `.tmp-${basename(path)}-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkQuiet(tmp);
    throw e;
  }
}

/**
 * Writes the heartbeat of `unit`, replacing the previous one atomically.
 *
 * Cost: a mkdir check, create + write + close of a temp file (< 1 KB) and a rename: about
 * 0.35 ms per call measured on ext4 (virtio disk, 2 vCPU); `durable` adds two fsyncs (0.8 ms
 * there; on an SD card each fsync is a journal commit, typically 5-50 ms and flash wear).
 * Reading one back costs ~0.015 ms. Every few seconds is well below 0.1% of one core.
 *
 * @returns the heartbeat as written.
 * @throws AgentRunnerError ERR_AR_USAGE for an invalid unit name; NodeJS.ErrnoException
 * on I/O errors.
 */
export function writeHeartbeat(paths: ProjectPaths, unit: string, opts: HeartbeatOptions): Heartbeat {
  const path = markerPath(paths, 'heartbeat', unit);
  const hb: Heartbeat = {
    unit,
    pid: opts.pid,
    nonce: opts.nonce,
    written_at: new Date(opts.nowMs).toISOString(),
    written_at_ms: Math.trunc(opts.nowMs),
    ...(opts.state !== undefined ? { state: opts.state } : {}),
    ...(opts.detail !== undefined ? { detail: opts.detail } : {}),
  };
  ensurePrivateDir(paths.runDir);
  const text = `${JSON.stringify(hb)}\n`;
  if (opts.durable) writeFileAtomic(path, text);
  else replaceFile(path, text);
  return hb;
}

/**
 * Reads the heartbeat of `unit`.
 * @param opts.nowMs current wall-clock time, ms since the epoch, to compute `age_ms`.
 * @returns undefined when there is none or it is malformed or names another unit.
 */
export function readHeartbeat(paths: ProjectPaths, unit: string, opts: { nowMs: number }): HeartbeatRead | undefined {
  const r = readJsonMarker<Heartbeat>(markerPath(paths, 'heartbeat', unit), (v) => {
    const p = shapeProblem(v, HEARTBEAT_SHAPE);
    if (p !== undefined) return p;
    return (v as Heartbeat).unit === unit ? undefined : `names unit ${JSON.stringify((v as Heartbeat).unit)}`;
  });
  if (r.value === undefined) return undefined;
  return { ...r.value, age_ms: Math.trunc(opts.nowMs) - r.value.written_at_ms };
}

/**
 * Removes the heartbeat of `unit` on clean exit (so a stopped unit does not look hung), only
 * when it is still ours (`nonce` matches); see {@link removeMarkerIfNonce}.
 * @returns true when our heartbeat was removed.
 */
export function removeHeartbeat(paths: ProjectPaths, unit: string, nonce: string): boolean {
  return removeMarkerIfNonce(markerPath(paths, 'heartbeat', unit), nonce);
}
