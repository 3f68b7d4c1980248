/**
 * The infrastructure side of the faults, as an operator's host would suffer them: signals to a
 * unit's main process, a file system filled to its last byte.
 */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { isNoSpace } from '@agent-runner/core/disk';
import type { Sandbox } from './sandbox.js';

/** Sends `signal` to the main process of `unit`; returns its pid (0: it had none). */
export async function signalUnit(sb: Sandbox, unit: string, signal: 'STOP' | 'CONT' | 'KILL'): Promise<number> {
  const pid = Number((await sb.show([unit], ['MainPID'])).get(unit)?.['MainPID'] ?? 0);
  if (pid > 0) await sb.sh(`kill -${signal} ${pid}`);
  return pid;
}

/**
 * Fills the file system holding `file` (a host path) to the last byte with that file:
 * 1 MiB writes until ENOSPC, then 64 KiB, then 4 KiB (tmpfs allocates in pages).
 * @returns bytes written.
 */
export function fillFileSystem(file: string): number {
  const fd = openSync(file, 'w', 0o600);
  let total = 0;
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12]) {
      const chunk = Buffer.alloc(size, 0x61);
      for (;;) {
        try {
          total += writeSync(fd, chunk);
        } catch (e) {
          if (isNoSpace(e)) break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/** Removes the filler again. */
export function freeFileSystem(file: string): void {
  unlinkSync(file);
}
