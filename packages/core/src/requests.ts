import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from './atomic.js';
import { isErrno } from './errors.js';
import {
  assertUnitName,
  claimUnitRequest,
  newNonce,
  readJsonMarker,
  shapeProblem,
  writeUnitRequest,
  type RequestOptions,
  type UnitRequest,
} from './markers.js';
import type { ProjectPaths } from './paths.js';

/**
 * Operator requests that travel as marker files (written by the CLI or the bridge, consumed by
 * their target): pausing the runner between rounds, and resetting the watchdog's circuit
 * breaker of one unit. Same rules as every marker: atomic writes, one file per consumer.
 */

/** A pause of the round loop. */
export interface PauseRequest {
  nonce: string;
  requested_at: string;
  requested_at_ms: number;
  requested_by: string;
  reason: string;
  /** When the pause ends by itself, ms since epoch; null: until resumed. */
  until_ms: number | null;
}

const PAUSE_SHAPE = { nonce: 'string', requested_at: 'string', requested_by: 'string', reason: 'string', requested_at_ms: 'int' } as const;

/** Path of the pause marker. */
export function pausePath(paths: ProjectPaths): string {
  return join(paths.runDir, 'pause.json');
}

/**
 * Pauses the runner: no new round starts until {@link clearPause} or `durationMs` elapsed (a
 * round in progress finishes). Replaces an earlier pause.
 */
export function requestPause(paths: ProjectPaths, opts: { by: string; reason: string; nowMs: number; durationMs?: number }): PauseRequest {
  const req: PauseRequest = {
    nonce: newNonce(),
    requested_at: new Date(opts.nowMs).toISOString(),
    requested_at_ms: opts.nowMs,
    requested_by: opts.by,
    reason: opts.reason,
    until_ms: opts.durationMs === undefined ? null : opts.nowMs + opts.durationMs,
  };
  ensurePrivateDir(paths.runDir);
  writeFileAtomic(pausePath(paths), `${JSON.stringify(req)}\n`);
  return req;
}

/** The pause in force at `nowMs`, or undefined (none, expired, or malformed). */
export function readPause(paths: ProjectPaths, nowMs: number): PauseRequest | undefined {
  const r = readJsonMarker<PauseRequest>(pausePath(paths), (v) => shapeProblem(v, PAUSE_SHAPE));
  if (!r.value) return undefined;
  return r.value.until_ms !== null && r.value.until_ms <= nowMs ? undefined : r.value;
}

/** Ends a pause. @returns true when there was one. */
export function clearPause(paths: ProjectPaths): boolean {
  try {
    unlinkSync(pausePath(paths));
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

/** An operator's reset of a unit's heal circuit breaker (T4), recorded by the watchdog. */
export type HealResetRequest = UnitRequest;

/** Path of the heal-reset marker of `target`. */
export function healResetPath(paths: ProjectPaths, target: string): string {
  return join(paths.runDir, `heal-reset-${assertUnitName(target, 'target')}.json`);
}

/** Asks the watchdog to close the breaker of `target`; it records who and why. */
export function requestHealReset(paths: ProjectPaths, target: string, opts: RequestOptions): HealResetRequest {
  return writeUnitRequest(paths, healResetPath(paths, target), target, opts);
}

/**
 * Consumes the heal-reset request of `target` (the watchdog calls it). Renamed away before it
 * is read, so exactly one consumer gets it.
 */
export function takeHealReset(paths: ProjectPaths, target: string): HealResetRequest | undefined {
  const r = claimUnitRequest(paths, healResetPath(paths, target), `heal-reset-${target}`);
  return r?.value?.target === target ? r.value : undefined;
}
