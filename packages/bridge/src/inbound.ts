import type { InboundCommandInput, Ledger } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import { sleep } from '@agent-runner/core/sleep';
import type { LogPriority } from '@agent-runner/core/unit';
import { addressedToUs, parseCommand } from './commands.js';
import { allowedUserIds, type InboundMessage, type Transport } from './transport.js';

/** Commands older than this (platform time) are not run: a bridge down for a day must not replay a stale /stop. */
export const STALE_COMMAND_MS = 15 * 60_000;

/** Why a command was refused. */
export type RejectReason = 'sender_not_allowed' | 'chat_not_allowed' | 'commands_disabled' | 'stale';

/** The chat a transport takes commands from (Telegram `chat_id`, Matrix `room_id`, Slack `channel`). */
function configuredChat(t: Transport): string | undefined {
  const c = t.config;
  if (c.type === 'telegram') return String(c.chat_id);
  if (c.type === 'matrix') return c.room_id;
  if (c.type === 'slack') return c.channel;
  return undefined;
}

/**
 * The allow-list decision for one inbound message: obeyed only when the sender is in
 * `allowed_user_ids` AND it came from the configured chat/room (an allowed user writing to the
 * bot from elsewhere is refused too). An empty list disables commands.
 * @returns undefined when allowed, else the reason.
 */
export function rejectReason(t: Transport, m: InboundMessage, nowMs: number): RejectReason | undefined {
  const allowed = allowedUserIds(t.config);
  if (allowed.length === 0) return 'commands_disabled';
  if (!allowed.includes(m.sender)) return 'sender_not_allowed';
  const chat = configuredChat(t);
  if (chat !== undefined && m.chat !== chat) return 'chat_not_allowed';
  if (m.sentAtMs !== undefined && nowMs - m.sentAtMs > STALE_COMMAND_MS) return 'stale';
  return undefined;
}

/** What an inbound poller needs. */
export interface InboundDeps {
  ledger: Ledger;
  transport: Transport;
  now: () => number;
  log: (priority: LogPriority, line: string) => void;
  /** Emits `command_received` (accepted or rejected). */
  emit: (payload: {
    command: string;
    args: string[];
    platform: string;
    sender: string;
    message_id: string | null;
    inbox_id?: number;
    status: 'accepted' | 'rejected';
    reason?: string;
  }) => void;
  /** Aborted when the bridge stops (ends the long poll at once). */
  signal: AbortSignal;
  /** Called after new commands were stored (the main loop consumes them). */
  wake: () => void;
}

/** Ledger cursor name of a transport's inbound position. */
export const cursorName = (t: Transport): string => `inbound.${t.name}`;

/**
 * Stores one poll's messages: allowed commands become inbox rows (UNIQUE on the platform id, so
 * a redelivery after a crash is a no-op) in ONE transaction with the new cursor; refused ones
 * are logged and evented, never stored or run. Non-command chatter, and a command addressed
 * to another bot (`/pause@otherbot`, see `addressedToUs`), is ignored: not stored, not
 * answered, not evented — it was not said to us.
 * @returns the inbox ids newly inserted.
 */
export function ingest(deps: Omit<InboundDeps, 'signal' | 'wake'>, messages: readonly InboundMessage[], cursor: string): number[] {
  const { transport: t } = deps;
  const nowMs = deps.now();
  const accepted: Array<{ input: InboundCommandInput; args: string[] }> = [];
  for (const m of messages) {
    const parsed = parseCommand(m.text);
    if (!parsed) continue;
    if (!addressedToUs(parsed, t.botUsername?.())) {
      deps.log(
        'info',
        `${t.name}: /${parsed.command}@${parsed.addressee ?? ''} from ${m.sender} in ${m.chat} is addressed to another bot: ignored`,
      );
      continue;
    }
    const args = parsed.args.map(redactText);
    const why = rejectReason(t, m, nowMs);
    if (why) {
      deps.log('warning', `${t.name}: ignored /${parsed.command} from ${m.sender} in ${m.chat}: ${why}`);
      deps.emit({
        command: parsed.command,
        args,
        platform: t.name,
        sender: m.sender,
        message_id: m.platformMessageId,
        status: 'rejected',
        reason: why,
      });
      continue;
    }
    accepted.push({
      input: {
        transport: t.name,
        platformMessageId: m.platformMessageId,
        sender: m.sender,
        chat: m.chat,
        command: parsed.command,
        args: parsed.args,
        receivedAtMs: nowMs,
      },
      args,
    });
  }
  const res = deps.ledger.bridge.insertCommands(
    accepted.map((a) => a.input),
    { name: cursorName(t), value: cursor },
  );
  const ids: number[] = [];
  res.forEach((r, i) => {
    const a = accepted[i];
    if (!r.inserted || !a) return;
    ids.push(r.id);
    deps.log('notice', `${t.name}: /${a.input.command} from ${a.input.sender} (inbox ${r.id})`);
    deps.emit({
      command: a.input.command,
      args: a.args,
      platform: t.name,
      sender: a.input.sender,
      message_id: a.input.platformMessageId,
      inbox_id: r.id,
      status: 'accepted',
    });
  });
  return ids;
}

/**
 * Long-polls one transport until `signal` aborts: poll, ingest, repeat; on errors backs off
 * 1 s doubling to 60 s (a 429's `Retry-After` when longer).
 */
export async function runInbound(deps: InboundDeps): Promise<void> {
  const { transport: t } = deps;
  if (!t.poll) return;
  let failures = 0;
  while (!deps.signal.aborted) {
    try {
      const cursor = deps.ledger.bridge.getCursor(cursorName(t));
      const r = await t.poll(cursor, deps.signal);
      if (r.initial) {
        deps.ledger.bridge.setCursor(cursorName(t), r.cursor);
        deps.log('info', `${t.name}: command cursor initialised (earlier messages are not run)`);
      } else if (ingest(deps, r.messages, r.cursor).length > 0) deps.wake();
      failures = 0;
    } catch (e) {
      if (deps.signal.aborted) break;
      failures += 1;
      const retryAfter = (e as { retryAfterMs?: number }).retryAfterMs ?? 0;
      const delay = Math.max(retryAfter, Math.min(60_000, 1000 * 2 ** (failures - 1)));
      deps.log(
        failures === 1 ? 'warning' : 'info',
        `${t.name}: command poll failed (${redactText((e as Error).message)}); retry in ${Math.round(delay / 1000)} s`,
      );
      await sleep(delay, deps.signal);
    }
  }
}
