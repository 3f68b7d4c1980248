/**
 * Schema version 1 of the ledger. Every table is STRICT (column types enforced), timestamps
 * are integer milliseconds since the Unix epoch (UTC) in `*_at_ms` columns, and JSON columns
 * are TEXT with a `json_valid` CHECK. AUTOINCREMENT keys are never reused, even after rows
 * are deleted (SQLite keeps the high-water mark in `sqlite_sequence`).
 *
 * Ownership (each process writes only its own tables):
 *   rounds, throttles ......... runner
 *   heal_state, heal_actions .. watchdog
 *   outbox .................... any producer inserts; the bridge updates status
 *   inbox, cursors ............ the bridge inserts; the runner/CLI mark commands handled
 *   alerts .................... the unit that raised it (`raised_by`, schema v2): the runner
 *                               (crash loop, auth, budget, disk, config), the watchdog
 *                               (breaker), the monitor (its detectors)
 *   kv ........................ every process, only rows whose `owner` is itself
 */
export const SCHEMA_V1 = `
CREATE TABLE rounds (
  round                  INTEGER PRIMARY KEY AUTOINCREMENT,
  phase                  TEXT,
  agent                  TEXT,
  status                 TEXT NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'finished', 'interrupted')),
  started_at_ms          INTEGER NOT NULL,
  ended_at_ms            INTEGER,
  pid                    INTEGER NOT NULL,
  runner_boot_id         TEXT NOT NULL,
  runner_starttime_ticks INTEGER NOT NULL,
  runner_nonce           TEXT NOT NULL,
  exit_code              INTEGER,
  signal                 TEXT,
  duration_ms            INTEGER,
  classification         TEXT,
  output_bytes           INTEGER,
  log_file               TEXT,
  input_tokens           INTEGER,
  output_tokens          INTEGER,
  cache_read_tokens      INTEGER,
  cache_creation_tokens  INTEGER,
  cost_usd               REAL,
  rate_limit             TEXT CHECK (rate_limit IS NULL OR json_valid(rate_limit)),
  evidence               TEXT CHECK (evidence IS NULL OR json_valid(evidence)),
  interrupt_reason       TEXT,
  CHECK ((status = 'running') = (ended_at_ms IS NULL))
) STRICT;
CREATE INDEX rounds_running ON rounds (round) WHERE status = 'running';
CREATE INDEX rounds_started ON rounds (started_at_ms);

CREATE TABLE throttles (
  account        TEXT PRIMARY KEY,
  class          TEXT NOT NULL,
  until_ms       INTEGER NOT NULL,
  reset_at_ms    INTEGER,
  detail         TEXT CHECK (detail IS NULL OR json_valid(detail)),
  recorded_by    TEXT,
  recorded_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE heal_state (
  target                 TEXT PRIMARY KEY,
  tier                   INTEGER NOT NULL DEFAULT 0 CHECK (tier BETWEEN 0 AND 4),
  breaker                TEXT NOT NULL DEFAULT 'closed' CHECK (breaker IN ('closed', 'open')),
  consecutive_failures   INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  failure_signature      TEXT,
  signature_repeats      INTEGER NOT NULL DEFAULT 0 CHECK (signature_repeats >= 0),
  boot_id                TEXT NOT NULL,
  last_action_at_ms      INTEGER,
  last_action_mono_ms    INTEGER,
  last_healthy_at_ms     INTEGER,
  breaker_opened_at_ms   INTEGER,
  last_alert_at_ms       INTEGER,
  last_verified_identity TEXT CHECK (last_verified_identity IS NULL OR json_valid(last_verified_identity)),
  pending_verification   TEXT CHECK (pending_verification IS NULL OR json_valid(pending_verification)),
  nonce_in_flight        TEXT,
  updated_at_ms          INTEGER NOT NULL
) STRICT;

CREATE TABLE heal_actions (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  target TEXT NOT NULL,
  tier   INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 4),
  action TEXT NOT NULL,
  result TEXT NOT NULL,
  reason TEXT,
  actor  TEXT NOT NULL,
  nonce  TEXT,
  detail TEXT CHECK (detail IS NULL OR json_valid(detail)),
  at_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX heal_actions_target ON heal_actions (target, id);
CREATE TRIGGER heal_actions_append_only BEFORE UPDATE ON heal_actions
BEGIN SELECT RAISE(ABORT, 'heal_actions is append-only'); END;

CREATE TABLE outbox (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key    TEXT NOT NULL UNIQUE,
  kind               TEXT NOT NULL,
  severity           TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  title              TEXT NOT NULL,
  body               TEXT NOT NULL DEFAULT '',
  payload            TEXT CHECK (payload IS NULL OR json_valid(payload)),
  transport          TEXT,
  created_at_ms      INTEGER NOT NULL,
  status             TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
  attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at_ms INTEGER NOT NULL,
  claimed_by         TEXT,
  claimed_at_ms      INTEGER,
  last_error         TEXT,
  sent_at_ms         INTEGER,
  CHECK (status <> 'sending' OR claimed_at_ms IS NOT NULL),
  CHECK ((status = 'sent') = (sent_at_ms IS NOT NULL))
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at_ms) WHERE status IN ('pending', 'sending');

CREATE TABLE inbox (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  transport           TEXT NOT NULL,
  platform_message_id TEXT NOT NULL,
  sender              TEXT NOT NULL,
  chat                TEXT,
  command             TEXT NOT NULL,
  args                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(args)),
  received_at_ms      INTEGER NOT NULL,
  status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'rejected')),
  result              TEXT,
  handled_by          TEXT,
  handled_at_ms       INTEGER,
  UNIQUE (transport, platform_message_id),
  CHECK ((status = 'pending') = (handled_at_ms IS NULL))
) STRICT;
CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending';

CREATE TABLE cursors (
  name          TEXT PRIMARY KEY,
  value         TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE alerts (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  detector        TEXT NOT NULL,
  severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  host            TEXT NOT NULL DEFAULT '',
  project         TEXT NOT NULL DEFAULT '',
  message         TEXT NOT NULL,
  evidence        TEXT CHECK (evidence IS NULL OR json_valid(evidence)),
  raised_at_ms    INTEGER NOT NULL,
  last_seen_at_ms INTEGER NOT NULL,
  cleared_at_ms   INTEGER
) STRICT;
-- One active alert per (detector, host, project): raising again refreshes it.
CREATE UNIQUE INDEX alerts_active ON alerts (detector, host, project) WHERE cleared_at_ms IS NULL;

CREATE TABLE kv (
  key           TEXT PRIMARY KEY,
  owner         TEXT NOT NULL,
  value         TEXT NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT;
`;

/**
 * Schema version 2:
 * - `alerts.raised_by`: the unit that raised the alert and alone clears it. The monitor was the
 *   only writer in v1; now the process that decides a state a human must know about (the
 *   runner for a crash loop or an auth pause, the watchdog for an open breaker) raises it, so
 *   one fault episode is one alert row, one alarm and one recovery whoever else notices it.
 * - `rounds.agent_pgid`, `rounds.agent_starttime_ticks`: the agent's process group and the
 *   start time of its leader, so a serve that starts after a crash can end a group that
 *   survived it (identity-checked) before the next round touches the same tree.
 * - `outbox.fingerprint`: hash of what a transport row says, so the bridge's repeat
 *   suppression survives its restarts (was in memory); `outbox.platform_message_id`: the id
 *   the platform gave the sent message, so a recovery can reply to its alarm.
 */
export const SCHEMA_V2 = `
ALTER TABLE alerts ADD COLUMN raised_by TEXT NOT NULL DEFAULT 'monitor';
ALTER TABLE rounds ADD COLUMN agent_pgid INTEGER;
ALTER TABLE rounds ADD COLUMN agent_starttime_ticks INTEGER;
ALTER TABLE outbox ADD COLUMN fingerprint TEXT;
ALTER TABLE outbox ADD COLUMN platform_message_id TEXT;
CREATE INDEX outbox_sent_fingerprint ON outbox (transport, fingerprint, sent_at_ms) WHERE status = 'sent' AND fingerprint IS NOT NULL;
`;
