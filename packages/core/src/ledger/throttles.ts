import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, toJsonColumn, type Row } from './json.js';

/** Input of {@link ThrottlesAccess.recordThrottle}. */
export interface ThrottleInput {
  /** Account key shared by every runner that uses the same credentials (e.g. `claude:max-1`). */
  account: string;
  /** Why: the round classification that caused it (`rate_limit`, `overloaded`, `auth`, ...). */
  class: string;
  /** No new round on this account before this time, ms since epoch. */
  untilMs: number;
  /** The provider's announced reset time, ms since epoch, when it gave one. */
  resetAtMs?: number;
  /** Free-form facts (headers, message), stored as JSON. */
  detail?: unknown;
  /** Who recorded it (project or unit name), for operators. */
  recordedBy?: string;
  /** Default the ledger clock. */
  recordedAtMs?: number;
}

/** One row of `throttles`. */
export interface ThrottleRecord {
  account: string;
  class: string;
  untilMs: number;
  resetAtMs: number | null;
  detail: unknown;
  recordedBy: string | null;
  recordedAtMs: number;
}

/** The `throttles` table: shared back-off per account. Writer: the runner. Readers: anyone. */
export interface ThrottlesAccess {
  /**
   * Records a back-off for an account. A throttle that is still in force is only replaced by
   * one that lasts at least as long, so two runners hitting the same limit keep the longer
   * wait; an expired one is always replaced.
   * @returns the row in force after the write.
   */
  recordThrottle(input: ThrottleInput): ThrottleRecord;
  /** The throttle of `account` whose `untilMs` is after `nowMs`, or undefined. */
  activeThrottle(account: string, nowMs: number): ThrottleRecord | undefined;
  /** Removes the account's throttle (operator override); true when one existed. */
  clearThrottle(account: string): boolean;
}

function toThrottle(r: Row): ThrottleRecord {
  return {
    account: String(r['account']),
    class: String(r['class']),
    untilMs: Number(r['until_ms']),
    resetAtMs: num(r, 'reset_at_ms'),
    detail: fromJsonColumn(str(r, 'detail')),
    recordedBy: str(r, 'recorded_by'),
    recordedAtMs: Number(r['recorded_at_ms']),
  };
}

/** Prepares the statements of {@link ThrottlesAccess} once for a connection. */
export function throttlesAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): ThrottlesAccess {
  const upsert = db.prepare(`INSERT INTO throttles (account, class, until_ms, reset_at_ms, detail, recorded_by, recorded_at_ms)
    VALUES (@account, @class, @untilMs, @resetAtMs, @detail, @recordedBy, @recordedAtMs)
    ON CONFLICT (account) DO UPDATE SET
      class = excluded.class, until_ms = excluded.until_ms, reset_at_ms = excluded.reset_at_ms,
      detail = excluded.detail, recorded_by = excluded.recorded_by, recorded_at_ms = excluded.recorded_at_ms
    WHERE excluded.until_ms >= throttles.until_ms OR throttles.until_ms <= excluded.recorded_at_ms`);
  const one = db.prepare(`SELECT * FROM throttles WHERE account = ?`);
  const active = db.prepare(`SELECT * FROM throttles WHERE account = ? AND until_ms > ?`);
  const del = db.prepare(`DELETE FROM throttles WHERE account = ?`);

  return {
    recordThrottle(input) {
      const params = {
        account: input.account,
        class: input.class,
        untilMs: int(input.untilMs),
        resetAtMs: int(input.resetAtMs),
        detail: toJsonColumn(input.detail),
        recordedBy: input.recordedBy ?? null,
        recordedAtMs: int(input.recordedAtMs ?? now()),
      };
      return exec.write('record throttle', () => {
        upsert.run(params);
        return toThrottle(one.get(input.account) as Row);
      });
    },
    activeThrottle(account, nowMs) {
      const r = exec.read('read throttle', () => active.get(account, nowMs) as Row | undefined);
      return r === undefined ? undefined : toThrottle(r);
    },
    clearThrottle(account) {
      return exec.write('clear throttle', () => del.run(account).changes > 0);
    },
  };
}
