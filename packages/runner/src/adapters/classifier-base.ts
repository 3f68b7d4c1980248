/**
 * Shared bookkeeping of the live classifiers: evidence, findings, usage, and the rules that
 * turn them plus the process outcome into a {@link Verdict}. Each adapter feeds findings from
 * its own output format; the precedence below is the same for every CLI.
 */
import type { Classifier, Evidence, FailureClass, LiveSignal, ProcessOutcome, RateLimitWindow, Usage, Verdict } from './types.js';
import { redactText } from '@agent-runner/core/redact';

/** A classification candidate with the evidence behind it. */
export interface Finding {
  class: FailureClass;
  evidence: Evidence;
  /** When the limit resets, ms since epoch (rate limits only). */
  reset_at_ms?: number;
}

/** Evidence of a grace kill after a successful result. */
const LINGERED = 'killed (grace): still running after its successful final result';

/** Most evidence items kept per round; the first and the latest ones survive. */
const MAX_EVIDENCE = 12;

/**
 * Maps an HTTP status an agent CLI reported to a class.
 * 401/403 auth (403 is Anthropic's `permission_error`, also an account problem), 402 auth
 * (billing), 408 timeout, 429 rate_limit, 529 overloaded (Anthropic's overload status),
 * other 5xx server_error, other 4xx config (bad request, unknown model, too large).
 * @returns undefined for non-error statuses.
 */
export function classFromHttpStatus(status: number): FailureClass | undefined {
  if (status === 401 || status === 402 || status === 403) return 'auth';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limit';
  if (status === 529) return 'overloaded';
  if (status >= 500 && status <= 599) return 'server_error';
  if (status >= 400 && status <= 499) return 'config';
  return undefined;
}

/**
 * Base of every adapter's classifier. Subclasses parse lines and call the `note*` methods;
 * {@link finish} applies the common precedence:
 * 1. a fatal finding (signalled live) wins;
 * 2. a round the supervisor ended (inactivity, grace, wall-clock timeout, operator) is `hang`,
 *    unless the agent had already reported a failure (its class is kept), was stuck in its
 *    own retries of a transient failure when it went quiet (that class is kept), or reported
 *    success and only lingered until the grace kill (`ok`, the kill recorded as evidence: the
 *    work is done, and a round that did it must not back off as a failure);
 * 3. the agent's final result (last one wins);
 * 4. a transient failure seen while retrying, with no final result after it;
 * 5. a config finding (usage error before any structured output);
 * 6. the exit status: an adapter-specific meaning, else 0 is the adapter's clean-exit class
 *    and anything else `crash`.
 */
export abstract class ClassifierBase implements Classifier {
  protected readonly evidence: Evidence[] = [];
  protected fatal: Finding | undefined;
  protected terminal: Finding | undefined;
  protected transient: Finding | undefined;
  protected configFinding: Finding | undefined;
  protected usage: Usage | undefined;
  protected costUsd: number | undefined;
  protected readonly windows = new Map<string, RateLimitWindow>();

  abstract line(text: string, lineNo: number): LiveSignal | undefined;

  /** The class of a clean exit (status 0) with no final result and no finding. */
  protected cleanExitWithoutResult(): Finding {
    return { class: 'ok', evidence: { source: 'exit', status: 0, detail: 'exited 0' } };
  }

  /**
   * A class the CLI's exit status alone establishes (e.g. Gemini CLI's 41 = auth), consulted
   * when the stream decided nothing. Default: none.
   */
  protected exitFinding(_outcome: ProcessOutcome): Finding | undefined {
    return undefined;
  }

  /** Records evidence (redacted, bounded). */
  protected addEvidence(e: Evidence): Evidence {
    const ev: Evidence = { ...e };
    if (ev.detail !== undefined) ev.detail = clip(redactText(ev.detail), 200);
    this.evidence.push(ev);
    if (this.evidence.length > MAX_EVIDENCE) this.evidence.splice(MAX_EVIDENCE / 2, 1);
    return ev;
  }

  /** A failure retrying cannot fix; returns the live signal to end the round. */
  protected noteFatal(f: Finding): LiveSignal | undefined {
    if (this.fatal) return undefined;
    this.fatal = { ...f, evidence: this.addEvidence(f.evidence) };
    return { kind: 'fatal', class: f.class, evidence: this.fatal.evidence };
  }

  /** The agent's final word on its turn (success or failure). */
  protected noteTerminal(f: Finding): void {
    this.terminal = { ...f, evidence: this.addEvidence(f.evidence) };
    this.transient = undefined;
  }

  /** A failure the agent is retrying by itself. */
  protected noteTransient(f: Finding): void {
    this.transient = { ...f, evidence: this.addEvidence(f.evidence) };
  }

  /** The agent made progress after a transient failure: the failure no longer explains a hang. */
  protected noteRecovered(): void {
    this.transient = undefined;
  }

  protected noteConfig(f: Finding): void {
    if (!this.configFinding) this.configFinding = { ...f, evidence: this.addEvidence(f.evidence) };
  }

  /** Adds usage to the round's totals (for CLIs that report per-turn usage). */
  protected addUsage(u: Usage): void {
    const t: Usage = this.usage ?? {};
    for (const k of ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_creation_tokens'] as const) {
      const v = u[k];
      if (v !== undefined) t[k] = (t[k] ?? 0) + v;
    }
    this.usage = t;
  }

  protected noteWindow(w: RateLimitWindow): void {
    const key = w.type ?? 'unknown';
    this.windows.set(key, { ...this.windows.get(key), ...w });
  }

  finish(outcome: ProcessOutcome): Verdict {
    const decided = this.decide(outcome);
    const lingered =
      decided.class === 'ok' && outcome.killedBy === 'grace' ? this.addEvidence({ source: 'supervisor', detail: LINGERED }) : undefined;
    const v: Verdict = {
      class: decided.class,
      evidence: [...this.evidence],
      summary: lingered ? `${summarize(decided)}; ${LINGERED}` : summarize(decided),
    };
    if (decided.class === 'rate_limit' && decided.reset_at_ms !== undefined) v.reset_at_ms = decided.reset_at_ms;
    if (this.usage) v.usage = { ...this.usage };
    if (this.costUsd !== undefined) v.cost_usd = this.costUsd;
    if (this.windows.size) v.rate_limit = [...this.windows.values()];
    if (!this.evidence.includes(decided.evidence)) v.evidence.push(decided.evidence);
    return v;
  }

  private decide(outcome: ProcessOutcome): Finding {
    if (this.fatal) return this.fatal;
    if (outcome.killedBy && outcome.killedBy !== 'fatal') {
      const why = outcome.killedBy;
      if (this.terminal && this.terminal.class !== 'ok') return this.terminal;
      if (!this.terminal && this.transient) return this.transient;
      if (this.terminal && why === 'grace') return this.terminal;
      const detail =
        why === 'grace'
          ? 'still running after its final result'
          : why === 'inactivity'
            ? 'no output for the inactivity limit'
            : why === 'timeout'
              ? 'round wall-clock limit reached'
              : 'ended by the operator';
      return { class: 'hang', evidence: this.addEvidence({ source: 'supervisor', detail: `killed (${why}): ${detail}` }) };
    }
    if (this.terminal) return this.terminal;
    if (this.transient) return this.transient;
    if (this.configFinding) return this.configFinding;
    const byExit = this.exitFinding(outcome);
    if (byExit) return { ...byExit, evidence: this.addEvidence(byExit.evidence) };
    if (outcome.exitCode === 0) {
      const f = this.cleanExitWithoutResult();
      return { ...f, evidence: this.addEvidence(f.evidence) };
    }
    const status = outcome.exitCode ?? outcome.signal ?? 'unknown';
    return {
      class: 'crash',
      evidence: this.addEvidence({
        source: 'exit',
        status,
        detail: outcome.exitCode === null ? `killed by ${outcome.signal ?? 'a signal'}` : `exited ${outcome.exitCode}`,
      }),
    };
  }
}

/** `auth: 401 authentication_failed (system/api_retry, line 2)`. */
export function summarize(f: Finding): string {
  const e = f.evidence;
  const parts: string[] = [];
  if (e.status !== undefined) parts.push(String(e.status));
  if (e.detail) parts.push(e.detail);
  const where: string[] = [];
  if (e.event_type) where.push(e.event_type);
  if (e.line !== undefined) where.push(`line ${e.line}`);
  if (!e.event_type && e.line === undefined) where.push(e.source);
  const text = `${f.class}: ${parts.join(' ')} (${where.join(', ')})`;
  return f.reset_at_ms !== undefined ? `${text}, resets ${new Date(f.reset_at_ms).toISOString()}` : text;
}

/** Collapses whitespace and clips to `max` characters (evidence stays one short line). */
function clip(text: string, max: number): string {
  const out = text.replace(/\s+/g, ' ').trim();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
