import type { Writable } from 'node:stream';
import type { ServiceMode } from '@agent-runner/core/paths';

/**
 * What a command may know about its process. The bin builds it from `process`; commands and
 * everything below them take it as a parameter, so they run the same in tests.
 */
export interface CliContext {
  env: Record<string, string | undefined>;
  cwd: string;
  stdout: Writable;
  stderr: Writable;
  /** True when stdout is a terminal (human output may use colour and redraws). */
  stdoutIsTTY: boolean;
  /** The terminal's width, when stdout is one: tables fit in it. Undefined for a pipe or a file. */
  columns?: number | undefined;
  pid: number;
  /** Aborted on the first SIGINT/SIGTERM: stop gracefully. */
  signal: AbortSignal;
  /** Aborted on the second SIGINT/SIGTERM or on SIGQUIT: interrupt work in progress. */
  killSignal: AbortSignal;
  /** user (XDG, systemd --user) or system (FHS, system units); from --system or AGENT_RUNNER_MODE. */
  mode: ServiceMode;
  /** Version of the running node, e.g. `20.20.2`. */
  nodeVersion: string;
  /** Absolute path of the running node binary. */
  execPath: string;
  /** System-wide monotonic clock in ms (CLOCK_MONOTONIC: survives wall-clock steps, not reboots). */
  monoMs: () => number;
  /** Sends a signal to a process (process.kill); identity checks happen before calling it. */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** Absolute path of the CLI entry script. */
  binPath: string;
  /**
   * This process's whole command line: node, its options (`--expose-gc`, ...), the script and
   * every argument. Daemons enrol with it, so a watchdog outside systemd respawns them as they were.
   */
  commandLine: string[];
  /** A full garbage collection; present only when node runs with `--expose-gc` (see DAEMON_NODE_OPTIONS). */
  collectGarbage?: () => void;
  /** Present when stdin and stdout are both a terminal: what a full-screen view (`watch`) needs. */
  terminal?: Terminal | undefined;
}

/** The controlling terminal, for full-screen views. */
export interface Terminal {
  /** Its size now, in character cells. */
  size(): { columns: number; rows: number };
  /** Calls `cb` after each resize (SIGWINCH); returns the unsubscribe. */
  onResize(cb: () => void): () => void;
  /**
   * Puts the terminal in raw mode and calls `cb` with each key press (a chunk of input: `q`,
   * `\x03` for Ctrl-C, escape sequences for arrows); returns what restores the mode.
   */
  onKey(cb: (key: string) => void): () => void;
}

/** Options every verb accepts. */
export interface GlobalArgs {
  config?: string | undefined;
  json?: boolean | undefined;
}
