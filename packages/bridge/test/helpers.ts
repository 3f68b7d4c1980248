import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NotifyConfig } from '@agent-runner/core/config';
import { HttpClient } from '../src/http.js';
import type { OutMessage, TransportContext } from '../src/transport.js';

export function notifyCfg(name: string, type: NotifyConfig['type'], extra: Record<string, unknown>): NotifyConfig {
  return { name, type, enabled: true, min_severity: 'info', max_per_minute: 1000, ...extra } as NotifyConfig;
}

export function ctx(env: Record<string, string> = {}, timeoutMs = 2000): TransportContext & { http: HttpClient } {
  return { http: new HttpClient({ timeoutMs }), env, now: Date.now };
}

export function msg(over: Partial<OutMessage> = {}): OutMessage {
  return { key: 'k1', kind: 'round_end', severity: 'warning', title: 'Round 7 rate limited', body: 'resets at 14:00', payload: { round: 7 }, ...over };
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
