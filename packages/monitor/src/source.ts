import type { EventRecord } from '@agent-runner/core/events';
import type { HostSnapshot } from './snapshot.js';

/** One poll of a host: its snapshot and the events appended since the previous poll. */
export interface PollResult {
  snapshot: HostSnapshot;
  /** New events, oldest first (on the first poll: the newest few hundred, to fill the window). */
  events: EventRecord[];
  /** Bytes received for this poll (remote: SSH wire bytes both ways; local: 0). */
  bytes: number;
}

/** Outcome of stopping a host's runner. */
export interface StopResult {
  result: 'stopped' | 'not_running' | 'failed';
  /** Output or error, for the `monitor_auto_stop` event. */
  detail: string;
}

/** Where the monitor gets a host's state: the local files, or a remote host over SSH. */
export interface HostSource {
  /** `local`, or the SSH alias. */
  readonly host: string;
  /** The host in notification titles and ledger rows: this machine's name (`os.hostname()`) for `local`, else the alias. */
  readonly origin: string;
  /**
   * Takes a snapshot and the new events.
   * @throws on failure (remote: connection refused, timeout, hung session, bad output).
   */
  poll(): Promise<PollResult>;
  /** Stops the host's runner as `agent-runner stop` does. */
  stop(reason: string): Promise<StopResult>;
  /** Releases connections and files. */
  close(): void;
}

/** Events the first poll reads to fill the detectors' window (the newest N). */
export const BOOTSTRAP_EVENTS = 500;
