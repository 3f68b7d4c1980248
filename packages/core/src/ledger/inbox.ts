import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, textColumn, toJsonColumn, type Row } from './json.js';

/** Life of an inbound command: pending until a consumer handles or rejects it. */
export type InboxStatus = 'pending' | 'done' | 'rejected';

/** Input of {@link InboxIngestAccess.insertCommand}: an operator command received by a transport. */
export interface InboundCommandInput {
  /** Transport name (`telegram`, `slack`, ...). */
  transport: string;
  /** The platform's own message id (Telegram `update_id`/`message_id`, Slack `ts`, ...), as text. */
  platformMessageId: string;
  /** Allow-listed sender id on the platform. */
  sender: string;
  /** Chat/channel id the command came from (replies go there). */
  chat?: string;
  /** Command name without the slash: `status`, `pause`, `resume`, `stop`, `tail`. */
  command: string;
  /** Parsed arguments, stored as JSON (default `[]`). */
  args?: unknown;
  /** Default the ledger clock. */
  receivedAtMs?: number;
}

/** One row of `inbox`. */
export interface InboxRecord {
  id: number;
  transport: string;
  platformMessageId: string;
  sender: string;
  chat: string | null;
  command: string;
  args: unknown;
  receivedAtMs: number;
  status: InboxStatus;
  result: string | null;
  handledBy: string | null;
  handledAtMs: number | null;
}

/** A persisted transport cursor to store together with the commands it covers. */
export interface CursorUpdate {
  /** e.g. `telegram.update_offset`. */
  name: string;
  value: string;
}

/** Ingest side of `inbox` and `cursors`. Writer: the bridge only. Readers: anyone. */
export interface InboxIngestAccess {
  /**
   * Stores a received command once: the same (transport, platformMessageId) again is a no-op.
   * @returns the row id (existing or new) and whether this call inserted it.
   */
  insertCommand(input: InboundCommandInput): { id: number; inserted: boolean };
  /**
   * Stores a batch of commands and advances a cursor in ONE transaction, so a crash can
   * neither lose a command (cursor ahead of rows) nor, thanks to idempotency, double it.
   */
  insertCommands(inputs: readonly InboundCommandInput[], cursor?: CursorUpdate): Array<{ id: number; inserted: boolean }>;
  /** A persisted cursor's value, or undefined when never set. */
  getCursor(name: string): string | undefined;
  setCursor(name: string, value: string): void;
}

/** Consumer side of `inbox`. Writer: the bridge, which executes the commands it took in. */
export interface InboxConsumerAccess {
  /** Commands not yet handled, oldest first (at most `limit`, default 100). */
  pendingCommands(limit?: number): InboxRecord[];
  getCommand(id: number): InboxRecord | undefined;
  /**
   * Closes a pending command. Only the first consumer to close it wins.
   * @returns false when the command was not `pending`.
   */
  markHandled(id: number, status: 'done' | 'rejected', result?: string, handledBy?: string): boolean;
}

function toInbox(r: Row): InboxRecord {
  return {
    id: Number(r['id']),
    transport: String(r['transport']),
    platformMessageId: String(r['platform_message_id']),
    sender: String(r['sender']),
    chat: str(r, 'chat'),
    command: String(r['command']),
    args: fromJsonColumn(str(r, 'args')),
    receivedAtMs: Number(r['received_at_ms']),
    status: String(r['status']) as InboxStatus,
    result: str(r, 'result'),
    handledBy: str(r, 'handled_by'),
    handledAtMs: num(r, 'handled_at_ms'),
  };
}

/** Prepares the statements of both inbox sides once for a connection. */
export function inboxAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): InboxIngestAccess & InboxConsumerAccess {
  const insert = db.prepare(`INSERT INTO inbox (transport, platform_message_id, sender, chat, command, args, received_at_ms)
    VALUES (@transport, @platformMessageId, @sender, @chat, @command, @args, @receivedAtMs)
    ON CONFLICT (transport, platform_message_id) DO NOTHING`);
  const byPlatformId = db.prepare(`SELECT id FROM inbox WHERE transport = ? AND platform_message_id = ?`);
  const one = db.prepare(`SELECT * FROM inbox WHERE id = ?`);
  const pending = db.prepare(`SELECT * FROM inbox WHERE status = 'pending' ORDER BY id LIMIT ?`);
  const handled = db.prepare(`UPDATE inbox SET status = @status, result = @result, handled_by = @handledBy,
      handled_at_ms = @at
    WHERE id = @id AND status = 'pending'`);
  const getCur = db.prepare(`SELECT value FROM cursors WHERE name = ?`);
  const setCur = db.prepare(`INSERT INTO cursors (name, value, updated_at_ms) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms`);

  const insertOne = (input: InboundCommandInput): { id: number; inserted: boolean } => {
    const params = {
      transport: input.transport,
      platformMessageId: input.platformMessageId,
      sender: input.sender,
      chat: input.chat ?? null,
      command: input.command,
      args: toJsonColumn(input.args) ?? '[]',
      receivedAtMs: int(input.receivedAtMs ?? now()),
    };
    const r = insert.run(params);
    if (r.changes === 1) return { id: Number(r.lastInsertRowid), inserted: true };
    const existing = byPlatformId.get(params.transport, params.platformMessageId) as Row;
    return { id: Number(existing['id']), inserted: false };
  };

  return {
    insertCommand(input) {
      return exec.write('store inbound command', () => insertOne(input));
    },
    insertCommands(inputs, cursor) {
      return exec.write('store inbound commands', () => {
        const out = inputs.map(insertOne);
        if (cursor) setCur.run(cursor.name, cursor.value, int(now()));
        return out;
      });
    },
    getCursor(name) {
      const r = exec.read('read cursor', () => getCur.get(name) as Row | undefined);
      return r === undefined ? undefined : String(r['value']);
    },
    setCursor(name, value) {
      const at = int(now());
      exec.write('write cursor', () => setCur.run(name, value, at));
    },
    pendingCommands(limit = 100) {
      return exec.read('list pending commands', () => (pending.all(limit) as Row[]).map(toInbox));
    },
    getCommand(id) {
      const r = exec.read('read command', () => one.get(id) as Row | undefined);
      return r === undefined ? undefined : toInbox(r);
    },
    markHandled(id, status, result, handledBy) {
      const params = { id, status, result: textColumn(result), handledBy: handledBy ?? null, at: int(now()) };
      return exec.write('mark command handled', () => handled.run(params).changes === 1);
    },
  };
}
