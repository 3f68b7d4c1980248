/**
 * The contract between the round supervisor and an agent adapter. An adapter knows one
 * agent CLI (Claude Code, Codex, Gemini CLI, aider, or a generic pattern set): its preset
 * command line, how the prompt is delivered, and how to read its output stream live.
 */
import type { PresetName } from '@agent-runner/core/config';

/** How a round ended, as far as the runner's policy is concerned. */
export type FailureClass =
  'ok' | 'rate_limit' | 'overloaded' | 'server_error' | 'timeout' | 'network' | 'auth' | 'config' | 'crash' | 'hang';

/** One piece of evidence behind a classification; recorded (redacted) in `round_end`. */
export interface Evidence {
  /** Where the decision came from. */
  source: 'stream' | 'exit' | 'supervisor';
  /** 1-based line number in the round log, for `stream` evidence. */
  line?: number;
  /** The agent's event type, such as `system/api_retry` or `result`. */
  event_type?: string;
  /** HTTP status or the CLI's error code, when reported. */
  status?: number | string;
  /** Short human-readable detail, already redacted. */
  detail?: string;
}

/** Token usage of a round as the agent CLI reports it. */
export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_tokens?: number;
  cache_creation_tokens?: number;
}

/** One rate-limit window the agent CLI reported (Claude `rate_limit_event.rate_limit_info`). */
export interface RateLimitWindow {
  /** e.g. `allowed`, `allowed_warning`, `rejected`. */
  status?: string;
  /** Window name, e.g. `five_hour`, `seven_day`. */
  type?: string;
  /** When the window resets, ms since epoch. */
  resets_at_ms?: number;
  /** Fraction used, 0..1. */
  utilization?: number;
}

/** Something the supervisor must act on while the round still runs. */
export type LiveSignal =
  /** The agent reported its final result; the grace period after it starts. */
  | { kind: 'final_result' }
  /** A failure that retrying inside the CLI cannot fix (auth): end the process group now. */
  | { kind: 'fatal'; class: FailureClass; evidence: Evidence };

/** How the agent's process group ended. */
export interface ProcessOutcome {
  /** Exit status of the agent process itself, or null when it died of a signal. */
  exitCode: number | null;
  /** Signal name that ended the agent, or null. */
  signal: string | null;
  /** Wall time of the round, ms. */
  durationMs: number;
  /** Set when the supervisor ended the round, and why. */
  killedBy?: 'timeout' | 'inactivity' | 'grace' | 'fatal' | 'operator';
  /** Bytes of output the round produced. */
  outputBytes: number;
}

/** The classifier's final word on a round. */
export interface Verdict {
  class: FailureClass;
  /** When the CLI said the limit resets, ms since epoch. */
  reset_at_ms?: number;
  usage?: Usage;
  cost_usd?: number;
  rate_limit?: RateLimitWindow[];
  evidence: Evidence[];
  /** One line for humans, e.g. `auth: 401 authentication_error (result, line 7)`. */
  summary: string;
}

/** A live classifier over one round's output. Stateful; one per round. */
export interface Classifier {
  /**
   * Feeds one complete output line (no trailing newline, ANSI and `\r` already stripped).
   * @param lineNo 1-based line number within the round log.
   * @returns a signal the supervisor must act on now, if any.
   */
  line(text: string, lineNo: number): LiveSignal | undefined;
  /** The verdict once the process group is gone. */
  finish(outcome: ProcessOutcome): Verdict;
}

/** The command-line preset an adapter contributes to `agent-runner init --preset`. */
export interface AgentPreset {
  /** argv of the agent CLI, without the prompt. */
  command: string[];
  /** `stdin` keeps the prompt out of `ps`; `argv` uses `prompt_arg_template`. */
  prompt_delivery: 'argv' | 'stdin';
  /** Extra argv for argv delivery; `{prompt}` is replaced by the prompt text. */
  prompt_arg_template: string[];
  /** Run the agent in a PTY or with pipes. */
  terminal: 'pty' | 'pipe';
  /** Extra environment the CLI needs for unattended runs. */
  env: Record<string, string>;
  /** Regexes (on /proc cmdline) of helper processes that do not count as live work after the result. */
  grace_kill_ignore_patterns: string[];
}

/** One agent CLI. */
export interface AgentAdapter {
  readonly name: PresetName;
  readonly preset: AgentPreset;
  /** Tells an operator how to fix an authentication failure for this CLI. */
  readonly authHint: string;
  /** A fresh classifier for one round. */
  createClassifier(): Classifier;
}
