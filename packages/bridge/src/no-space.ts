import { isNoSpace } from '@agent-runner/core/disk';
import type { LogPriority } from '@agent-runner/core/unit';

/**
 * Ledger writes on a full disk (ENOSPC, EDQUOT, SQLITE_FULL): the bridge must not die of
 * them — it is what tells the operator the disk is full. A write that fails so is reported
 * once per episode and skipped; the caller tries it again on a later loop turn, and tells
 * {@link NoSpaceGuard.ok} when a write that changed the ledger succeeded again (a statement
 * that changes nothing succeeds on a full disk too, so it proves nothing).
 */
export class NoSpaceGuard {
  private failing = false;

  constructor(private readonly log: (priority: LogPriority, line: string) => void) {}

  /** True while ledger writes fail for lack of space. */
  get full(): boolean {
    return this.failing;
  }

  /**
   * Runs `fn`.
   * @returns its result, or undefined when it failed for a full disk.
   * @throws whatever else `fn` throws.
   */
  run<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      this.noSpace(what);
      return undefined;
    }
  }

  /** Records a failure for a full disk (logged when it starts an episode). */
  noSpace(what: string): void {
    if (!this.failing) this.log('err', `ledger write failed (${what}): the disk is full; the bridge keeps running and retries every turn`);
    this.failing = true;
  }

  /** Records a successful write that changed the ledger (ends an episode). */
  ok(): void {
    if (this.failing) this.log('notice', 'ledger writes work again; delivery resumed');
    this.failing = false;
  }
}
