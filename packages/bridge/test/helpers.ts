import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NotifyConfigOf, NotifyType } from '@agent-runner/core/config';
import { transportDefaults } from '@agent-runner/core/config/schema';
import { AgentRunnerError } from '@agent-runner/core/errors';
import type { Ledger } from '@agent-runner/core/ledger';
import { HttpClient } from '../src/http.js';
import type { OutMessage, TransportContext } from '../src/transport.js';

/** A `[notify.NAME]` table of `type` as the loader gives it: the schema's defaults, then `extra`. */
export function notifyCfg<T extends NotifyType>(name: string, type: T, extra: Record<string, unknown>): NotifyConfigOf<T> {
  return {
    ...transportDefaults(type),
    name,
    type,
    enabled: true,
    min_severity: 'info',
    max_per_minute: 1000,
    ...extra,
  } as NotifyConfigOf<T>;
}

export function ctx(env: Record<string, string> = {}, timeoutMs = 2000): TransportContext & { http: HttpClient } {
  return { http: new HttpClient({ timeoutMs }), env, now: Date.now };
}

export function msg(over: Partial<OutMessage> = {}): OutMessage {
  return {
    key: 'k1',
    kind: 'round_end',
    severity: 'warning',
    title: 'Round 7 rate limited',
    body: 'resets at 14:00',
    payload: { round: 7 },
    ...over,
  };
}

export function tmp(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ar-bridge-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Awaits a promise expected to reject and returns the error. */
export async function rejection(p: Promise<unknown>): Promise<Error & { retryable?: boolean; retryAfterMs?: number; status?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { retryable?: boolean };
  }
  throw new Error('expected a rejection');
}

/** The error the ledger raises when SQLite cannot write for a full disk (as exec.ts wraps it). */
export function sqliteFull(path: string, op: string): AgentRunnerError {
  const cause = Object.assign(new Error('database or disk is full'), { name: 'SqliteError', code: 'SQLITE_FULL' });
  return new AgentRunnerError('ERR_AR_LEDGER', `ledger ${path}: ${op} failed (SQLITE_FULL): database or disk is full`, {
    location: { file: path },
    cause,
  });
}

/**
 * `ledger` with every write the bridge makes failing as on a full disk while `full.on`
 * (a full file system needs root to make; this is the failure SQLite reports there); the
 * names of the refused writes are appended to `full.refused` when it is given.
 */
export function diskFullLedger(ledger: Ledger, full: { on: boolean; refused?: string[] }): Ledger {
  const guard = <T extends object>(access: T, writes: readonly string[]): T =>
    new Proxy(access, {
      get(target, p) {
        const v = Reflect.get(target, p) as unknown;
        if (typeof v !== 'function' || !writes.includes(String(p))) return v;
        return (...args: unknown[]) => {
          if (full.on) {
            full.refused?.push(String(p));
            throw sqliteFull(ledger.path, String(p));
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return {
    ...ledger,
    bridge: guard(ledger.bridge, [
      'claimDue',
      'markSent',
      'markFailed',
      'markDead',
      'markRepeat',
      'insertCommand',
      'insertCommands',
      'setCursor',
      'markHandled',
    ]),
    outbox: guard(ledger.outbox, ['enqueue']),
    atomically: (fn) => {
      if (full.on) throw sqliteFull(ledger.path, 'transaction');
      return ledger.atomically(fn);
    },
    close: () => ledger.close(),
  };
}
