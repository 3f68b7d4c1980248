/**
 * `@agent-runner/core/ledger`: the SQLite ledger, the durable and queryable record shared by
 * the runner, bridge, watchdog and monitor (DESIGN.md, "The SQLite ledger").
 */
export { LEDGER_CACHE_KIB, openLedger, type Ledger, type LedgerOptions } from './open.js';
export { inspectLedger, type LedgerInspection } from './inspect.js';
export { LEDGER_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.js';
export type {
  FinishRoundInput,
  RoundRecord,
  RoundStatus,
  RoundTotals,
  RoundUsage,
  RoundsAccess,
  RunnerIdentity,
  StartRoundInput,
} from './rounds.js';
export type { ThrottleInput, ThrottleRecord, ThrottlesAccess } from './throttles.js';
export type { BreakerState, HealAccess, HealActionInput, HealActionRecord, HealState, HealStateInput, HealTier } from './heal.js';
export {
  DEFAULT_OUTBOX_LEASE_MS,
  type ClaimOptions,
  type EnqueueInput,
  type OutboxDispatchAccess,
  type OutboxProducerAccess,
  type OutboxRecord,
  type OutboxStatus,
  type Severity,
} from './outbox.js';
export type { CursorUpdate, InboundCommandInput, InboxConsumerAccess, InboxIngestAccess, InboxRecord, InboxStatus } from './inbox.js';
export type { AlertKey, AlertRecord, AlertsAccess, RaiseAlertInput } from './alerts.js';
export type { KvAccess, KvEntry } from './kv.js';
