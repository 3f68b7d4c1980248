import type { NotifyConfig, NotifyType } from '@agent-runner/core/config';
import type { Severity } from '@agent-runner/core/ledger';
import type { HttpClient } from './http.js';

/** One message to deliver: an outbox row as a transport sees it. */
export interface OutMessage {
  /** Idempotency key of the outbox row (Matrix uses it as the transaction id). */
  key: string;
  kind: string;
  severity: Severity;
  title: string;
  body: string;
  /** The row's structured payload (`round`, `log_file`, ... when the producer gave them). */
  payload: unknown;
  /** A recovery's alarm as sent on this transport: the message to reply to where the platform threads. */
  replyTo?: ReplyTarget;
}

/** The message a reply answers. */
export interface ReplyTarget {
  /** Idempotency key of the alarm's transport row (email derives its Message-ID from it). */
  key: string;
  /** The platform's id of the alarm (Telegram `message_id`, Slack `ts`, Matrix event id); null when it gave none. */
  platformMessageId: string | null;
}

/** What a delivery returns. */
export interface SendResult {
  /** The platform's id of the (first) message sent, when it gives one; stored for replies. */
  platformMessageId?: string;
}

/** An operator command as read from a platform, before the allow-list decision. */
export interface InboundMessage {
  /** The platform's own id of the message/update (unique per transport). */
  platformMessageId: string;
  /** Sender id on the platform (Telegram user id, Matrix user id). */
  sender: string;
  /** Chat/room the message came from. */
  chat: string;
  /** Raw text, starting with `/` for a command. */
  text: string;
  /** When the platform says it was sent, ms since epoch (undefined when unknown). */
  sentAtMs?: number;
}

/** One long-poll round trip of an inbound transport. */
export interface PollResult {
  messages: InboundMessage[];
  /** Cursor to persist together with the commands of `messages` (unchanged: same value). */
  cursor: string;
  /** True when this poll only established the cursor (first start): messages are history, not to run. */
  initial?: boolean;
}

/** What transports need at send time. */
export interface TransportContext {
  http: HttpClient;
  /** Environment for `*_env` secrets. */
  env: Record<string, string | undefined>;
  now: () => number;
}

/**
 * Who may send commands through a transport (`allowed_user_ids`, as strings: platforms give
 * sender ids as text); empty for a type that takes none, or when the list is empty.
 */
export function allowedUserIds(cfg: NotifyConfig): string[] {
  return 'allowed_user_ids' in cfg ? cfg.allowed_user_ids.map(String) : [];
}

/** A configured `[notify.NAME]` transport. */
export interface Transport {
  /** The table name (`[notify.NAME]`), used as transport name in the ledger. */
  readonly name: string;
  readonly type: NotifyType;
  readonly config: NotifyConfig;
  /**
   * Delivers one message, chunked or truncated to the platform's size limit, as a reply to
   * `msg.replyTo` where the platform threads.
   * @returns the platform's message id when it gives one.
   * @throws SendError (retryable or not); never a secret in the message.
   */
  send(msg: OutMessage): Promise<SendResult>;
  /**
   * Waits for inbound messages after `cursor` (a platform long poll, up to ~30 s).
   * Absent when the transport takes no commands.
   * @throws SendError on failure (the caller backs off).
   */
  poll?(cursor: string | undefined, signal: AbortSignal): Promise<PollResult>;
  /**
   * The bot's own username on the platform (Telegram: `getMe`'s `username`, known before the
   * first poll returns), so `/command@name` runs only when `name` is it. Absent or undefined:
   * no addressed command is run.
   */
  botUsername?(): string | undefined;
  /** Frees resources (SMTP pools). */
  close?(): Promise<void>;
}
