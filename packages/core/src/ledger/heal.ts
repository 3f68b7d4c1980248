import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, textColumn, toJsonColumn, type Row } from './json.js';

/** Heal tier: 0 healthy/idle, 1 restart marker, 2 SIGTERM, 3 SIGKILL + respawn, 4 circuit broken. */
export type HealTier = 0 | 1 | 2 | 3 | 4;
/** Circuit breaker of a target: `open` = stop acting, wait for an operator reset. */
export type BreakerState = 'closed' | 'open';

/**
 * The watchdog's durable state for one target unit. Cooldowns compare `lastActionMonoMs`
 * (a monotonic clock, ms) when `bootId` is the current boot, and fall back to the wall clock
 * `lastActionAtMs` after a reboot (monotonic clocks restart at boot).
 */
export interface HealState {
  /** Target unit (`runner`, `bridge`, `monitor`, or a systemd unit name). */
  target: string;
  tier: HealTier;
  breaker: BreakerState;
  /** Failed heal attempts in a row (reset on verified health). */
  consecutiveFailures: number;
  /** Signature of the last failure (e.g. classification + exit code), to spot identical repeats. */
  failureSignature: string | null;
  /** How many times in a row `failureSignature` was seen. */
  signatureRepeats: number;
  /** boot_id the monotonic timestamps belong to. */
  bootId: string;
  /** Last heal action, wall clock, ms since epoch. */
  lastActionAtMs: number | null;
  /** Last heal action, monotonic ms (valid only within `bootId`). */
  lastActionMonoMs: number | null;
  lastHealthyAtMs: number | null;
  breakerOpenedAtMs: number | null;
  /** Last breaker alert sent, ms since epoch (T4 alerts are rate-limited). */
  lastAlertAtMs: number | null;
  /** Identity record last verified for the target (JSON). */
  lastVerifiedIdentity: unknown;
  /** What the in-flight action waits to verify (JSON: deadline, expected nonce, ...). */
  pendingVerification: unknown;
  /** Nonce of the restart marker in flight, if any. */
  nonceInFlight: string | null;
  /** Set by the ledger on every put, ms since epoch. */
  updatedAtMs: number;
}

/** Input of {@link HealAccess.putHealState}: the whole state; omitted optional fields are stored as NULL/0. */
export interface HealStateInput {
  target: string;
  tier: HealTier;
  breaker: BreakerState;
  consecutiveFailures: number;
  bootId: string;
  failureSignature?: string | null;
  signatureRepeats?: number;
  lastActionAtMs?: number | null;
  lastActionMonoMs?: number | null;
  lastHealthyAtMs?: number | null;
  breakerOpenedAtMs?: number | null;
  lastAlertAtMs?: number | null;
  lastVerifiedIdentity?: unknown;
  pendingVerification?: unknown;
  nonceInFlight?: string | null;
}

/** Input of {@link HealAccess.recordHealAction}. */
export interface HealActionInput {
  target: string;
  tier: HealTier;
  /** `restart-marker`, `sigterm`, `sigkill`, `respawn`, `breaker-open`, `breaker-reset`, ... */
  action: string;
  /** `requested`, `succeeded`, `failed`, `skipped`, ... */
  result: string;
  reason?: string;
  /** `watchdog`, or the operator (`cli:alice`, `telegram:12345`) for a breaker reset. */
  actor: string;
  nonce?: string;
  detail?: unknown;
  /** Default the ledger clock. */
  atMs?: number;
}

/** One row of the append-only `heal_actions` log. */
export interface HealActionRecord {
  id: number;
  target: string;
  tier: HealTier;
  action: string;
  result: string;
  reason: string | null;
  actor: string;
  nonce: string | null;
  detail: unknown;
  atMs: number;
}

/** The `heal_state` and `heal_actions` tables. Writer: the watchdog only. Readers: anyone. */
export interface HealAccess {
  getHealState(target: string): HealState | undefined;
  /** Every target's state, by target name. */
  listHealStates(): HealState[];
  /** Inserts or replaces the state of `state.target`; stamps `updatedAtMs`. */
  putHealState(state: HealStateInput): HealState;
  /** Appends to the heal log (rows are never updated: a trigger forbids it). Returns the row id. */
  recordHealAction(action: HealActionInput): number;
  /** The `limit` newest heal actions (of one target when given), newest first. */
  recentHealActions(limit: number, target?: string): HealActionRecord[];
}

function toState(r: Row): HealState {
  return {
    target: String(r['target']),
    tier: Number(r['tier']) as HealTier,
    breaker: String(r['breaker']) as BreakerState,
    consecutiveFailures: Number(r['consecutive_failures']),
    failureSignature: str(r, 'failure_signature'),
    signatureRepeats: Number(r['signature_repeats']),
    bootId: String(r['boot_id']),
    lastActionAtMs: num(r, 'last_action_at_ms'),
    lastActionMonoMs: num(r, 'last_action_mono_ms'),
    lastHealthyAtMs: num(r, 'last_healthy_at_ms'),
    breakerOpenedAtMs: num(r, 'breaker_opened_at_ms'),
    lastAlertAtMs: num(r, 'last_alert_at_ms'),
    lastVerifiedIdentity: fromJsonColumn(str(r, 'last_verified_identity')),
    pendingVerification: fromJsonColumn(str(r, 'pending_verification')),
    nonceInFlight: str(r, 'nonce_in_flight'),
    updatedAtMs: Number(r['updated_at_ms']),
  };
}

function toAction(r: Row): HealActionRecord {
  return {
    id: Number(r['id']),
    target: String(r['target']),
    tier: Number(r['tier']) as HealTier,
    action: String(r['action']),
    result: String(r['result']),
    reason: str(r, 'reason'),
    actor: String(r['actor']),
    nonce: str(r, 'nonce'),
    detail: fromJsonColumn(str(r, 'detail')),
    atMs: Number(r['at_ms']),
  };
}

/** Prepares the statements of {@link HealAccess} once for a connection. */
export function healAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): HealAccess {
  const put = db.prepare(`INSERT OR REPLACE INTO heal_state
      (target, tier, breaker, consecutive_failures, failure_signature, signature_repeats, boot_id,
       last_action_at_ms, last_action_mono_ms, last_healthy_at_ms, breaker_opened_at_ms, last_alert_at_ms,
       last_verified_identity, pending_verification, nonce_in_flight, updated_at_ms)
    VALUES (@target, @tier, @breaker, @consecutiveFailures, @failureSignature, @signatureRepeats, @bootId,
       @lastActionAtMs, @lastActionMonoMs, @lastHealthyAtMs, @breakerOpenedAtMs, @lastAlertAtMs,
       @lastVerifiedIdentity, @pendingVerification, @nonceInFlight, @updatedAtMs)`);
  const one = db.prepare(`SELECT * FROM heal_state WHERE target = ?`);
  const all = db.prepare(`SELECT * FROM heal_state ORDER BY target`);
  const append = db.prepare(`INSERT INTO heal_actions (target, tier, action, result, reason, actor, nonce, detail, at_ms)
    VALUES (@target, @tier, @action, @result, @reason, @actor, @nonce, @detail, @atMs)`);
  const recent = db.prepare(`SELECT * FROM heal_actions ORDER BY id DESC LIMIT ?`);
  const recentOf = db.prepare(`SELECT * FROM heal_actions WHERE target = ? ORDER BY id DESC LIMIT ?`);

  return {
    getHealState(target) {
      const r = exec.read('read heal state', () => one.get(target) as Row | undefined);
      return r === undefined ? undefined : toState(r);
    },
    listHealStates() {
      return exec.read('list heal states', () => (all.all() as Row[]).map(toState));
    },
    putHealState(s) {
      const params = {
        target: s.target,
        tier: s.tier,
        breaker: s.breaker,
        consecutiveFailures: s.consecutiveFailures,
        failureSignature: s.failureSignature ?? null,
        signatureRepeats: s.signatureRepeats ?? 0,
        bootId: s.bootId,
        lastActionAtMs: int(s.lastActionAtMs),
        lastActionMonoMs: int(s.lastActionMonoMs),
        lastHealthyAtMs: int(s.lastHealthyAtMs),
        breakerOpenedAtMs: int(s.breakerOpenedAtMs),
        lastAlertAtMs: int(s.lastAlertAtMs),
        lastVerifiedIdentity: toJsonColumn(s.lastVerifiedIdentity),
        pendingVerification: toJsonColumn(s.pendingVerification),
        nonceInFlight: s.nonceInFlight ?? null,
        updatedAtMs: int(now()),
      };
      return exec.write('write heal state', () => {
        put.run(params);
        return toState(one.get(s.target) as Row);
      });
    },
    recordHealAction(a) {
      const params = {
        target: a.target,
        tier: a.tier,
        action: a.action,
        result: a.result,
        reason: textColumn(a.reason),
        actor: a.actor,
        nonce: a.nonce ?? null,
        detail: toJsonColumn(a.detail),
        atMs: int(a.atMs ?? now()),
      };
      return exec.write('record heal action', () => Number(append.run(params).lastInsertRowid));
    },
    recentHealActions(limit, target) {
      return exec.read('list heal actions', () =>
        ((target === undefined ? recent.all(limit) : recentOf.all(target, limit)) as Row[]).map(toAction),
      );
    },
  };
}
