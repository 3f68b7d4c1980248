import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';

/** A rate-limit throttle in force, and which project's ledger recorded it. */
export interface HostThrottle {
  untilMs: number;
  resetAtMs: number | null;
  /** State dir of the ledger that holds it. */
  source: string;
}

/**
 * The latest-ending throttle of `account` recorded in this project's ledger or in the ledger
 * of any sibling project on the host (every project's state dir lives under the same root:
 * `~/.local/state/agent-runner/` or `/var/lib/agent-runner/`). Runners sharing an account
 * thereby honour one another's rate limits. `own` is this project's open ledger; the others are
 * opened read-only, and unreadable ones are skipped.
 */
export function hostThrottle(paths: ProjectPaths, own: Ledger, account: string, nowMs: number): HostThrottle | undefined {
  const root = dirname(paths.stateDir);
  let dirs: string[];
  try {
    dirs = readdirSync(root).map((d) => join(root, d));
  } catch {
    dirs = []; // EACCES, ENOENT on the shared root: this project's own ledger still counts
  }
  const mine = own.runner.activeThrottle(account, nowMs);
  let best: HostThrottle | undefined = mine && { untilMs: mine.untilMs, resetAtMs: mine.resetAtMs, source: paths.stateDir };
  for (const dir of dirs) {
    if (dir === paths.stateDir) continue; // already read through the open ledger
    const file = join(dir, 'ledger.sqlite3');
    if (!existsSync(file)) continue;
    try {
      const ledger = openLedger(file, { readonly: true, busyTimeoutMs: 200 });
      try {
        const t = ledger.runner.activeThrottle(account, nowMs);
        if (t && (!best || t.untilMs > best.untilMs)) best = { untilMs: t.untilMs, resetAtMs: t.resetAtMs, source: dir };
      } finally {
        ledger.close();
      }
    } catch {
      // Another version's ledger, a locked or broken file: not ours to judge here.
    }
  }
  return best;
}
