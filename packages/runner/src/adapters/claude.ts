/**
 * Claude Code (`claude -p --output-format stream-json --verbose`).
 *
 * Stream format as observed from the real CLI 2.1.330 against a local Messages API stub
 * (captures in packages/runner/test/fixtures/claude/), one JSON object per line:
 * - `{"type":"system","subtype":"init",...}` once per turn;
 * - `{"type":"system","subtype":"api_retry","attempt","max_retries","retry_delay_ms",
 *   "error_status": <HTTP status|null>, "error": <SDK error code>}` before each internal
 *   retry; `error_status` is null for connection errors and timeouts;
 * - `{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"|"allowed_warning"|
 *   "rejected","resetsAt": <epoch SECONDS>,"rateLimitType":"five_hour"|"seven_day",
 *   "utilization"?,"unifiedWindows"?:{five_hour:{utilization,resetsAt,status}}}}`, emitted
 *   for claude.ai (OAuth) logins from the `anthropic-ratelimit-unified-*` response headers;
 * - the `<synthetic>` assistant message the CLI writes for an API failure:
 *   `{"type":"assistant","message":{"model":"<synthetic>",...},"error": <SDK error code>,
 *   "is_api_error_message":true,"api_error_status": <status|absent>}`;
 * - `{"type":"result","subtype":"success"|"error_*","is_error",...,"api_error_status",
 *   "terminal_reason","usage":{...per turn},"total_cost_usd": <cumulative for the process>}`.
 *   A 401 or 429 arrives as `subtype:"success"` with `is_error:true`; the process then
 *   exits 1. A CLI with background tasks stays alive after a result and may start another
 *   turn (a second `system/init` ... `result`).
 *
 * SDK error codes (zod enum in the CLI bundle): authentication_failed, oauth_org_not_allowed,
 * account_on_hold, verification_required, billing_error, rate_limit, overloaded,
 * invalid_request, model_not_found, server_error, unknown, max_output_tokens,
 * cloud_credential_error.
 *
 * Only whole-line JSON objects with a known top-level `type` are read; `user` lines (tool
 * results) and ordinary assistant messages are never inspected, so a tool output or a reply
 * that quotes "401" or "rate limit" cannot classify a round. Free text is matched only in
 * the CLI's own error message: the `<synthetic>` message text and an `is_error` result with
 * `terminal_reason:"api_error"`, and then only to tell network failures from timeouts when
 * the CLI gave no HTTP status.
 */
import type { AgentAdapter, AgentPreset, Classifier, FailureClass, LiveSignal } from './types.js';
import { ClassifierBase, classFromHttpStatus, type Finding } from './classifier-base.js';
import { arr, bool, isObject, num, obj, parseJsonObjectLine, str, type JsonObject } from './json-line.js';

/** SDK error codes that mean the credentials or the account must be fixed by a person. */
const AUTH_ERRORS = new Set([
  'authentication_failed',
  'oauth_org_not_allowed',
  'cloud_credential_error',
  'account_on_hold',
  'verification_required',
  'billing_error',
]);

/** The CLI's own connection-failure messages (2.1.330 bundle), with the errno it appends. */
const NETWORK_TEXT =
  /Connection refused|Connection dropped|Can't reach the API server|No internet route|Unable to connect to API|Couldn't connect through your proxy|\((?:ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EPIPE|ECONNABORTED|ENETUNREACH|ENETDOWN|EHOSTUNREACH|EHOSTDOWN|UND_ERR_SOCKET|ConnectionRefused|ConnectionClosed|FailedToOpenSocket)\)|fetch failed|socket hang up/;
/** The CLI's request-timeout messages. */
const TIMEOUT_TEXT = /Request timed out|\(ETIMEDOUT\)|No response from API/;

/** commander/CLI usage errors printed before any JSON (exit 1). */
const USAGE_ERROR_TEXT =
  /^(?:error: (?:unknown option|option '.*' argument .* is invalid|missing required argument|too many arguments)|Error: When using --print)/;

/** Result `terminal_reason`s that end a turn on a configured limit rather than a failure. */
const LIMIT_REASONS = new Set(['max_turns', 'budget_exhausted']);

class ClaudeClassifier extends ClassifierBase {
  private sawJson = false;
  /** The latest `<synthetic>` API-error finding and its SDK error code; refine the result. */
  private synthetic: Finding | undefined;
  private syntheticCode: string | undefined;
  /** resetsAt (ms) of the latest `rejected` rate_limit_event. */
  private rejectedResetMs: number | undefined;

  line(text: string, lineNo: number): LiveSignal | undefined {
    const ev = parseJsonObjectLine(text);
    if (!ev) {
      if (!this.sawJson && USAGE_ERROR_TEXT.test(text.trim())) {
        this.noteConfig({
          class: 'config',
          evidence: { source: 'stream', line: lineNo, event_type: 'usage_error', detail: text.trim() },
        });
      }
      return undefined;
    }
    const type = str(ev, 'type');
    switch (type) {
      case 'system':
        this.sawJson = true;
        return this.onSystem(ev, lineNo);
      case 'rate_limit_event':
        this.sawJson = true;
        this.onRateLimit(ev, lineNo);
        return undefined;
      case 'assistant':
        this.sawJson = true;
        return this.onAssistant(ev, lineNo);
      case 'user':
        // Tool results: never inspected. A tool ran, so the CLI got past any retry.
        this.sawJson = true;
        this.noteRecovered();
        return undefined;
      case 'result':
        this.sawJson = true;
        this.onResult(ev, lineNo);
        return { kind: 'final_result' };
      default:
        if (type !== undefined) this.sawJson = true;
        return undefined;
    }
  }

  protected override cleanExitWithoutResult(): Finding {
    if (!this.sawJson) {
      return {
        class: 'config',
        evidence: {
          source: 'exit',
          status: 0,
          detail: 'exited 0 without stream-json output; the command needs -p --output-format stream-json --verbose',
        },
      };
    }
    return { class: 'crash', evidence: { source: 'exit', status: 0, detail: 'exited 0 without a result event' } };
  }

  private onSystem(ev: JsonObject, lineNo: number): LiveSignal | undefined {
    const subtype = str(ev, 'subtype');
    if (subtype !== 'api_retry') return undefined;
    const status = num(ev, 'error_status');
    const code = str(ev, 'error');
    const cls = classifyApiError(status, code, undefined, ev.no_response !== undefined);
    const evidence = {
      source: 'stream' as const,
      line: lineNo,
      event_type: 'system/api_retry',
      status: status ?? code ?? 'none',
      detail: `${code ?? 'error'}, attempt ${num(ev, 'attempt') ?? '?'}/${num(ev, 'max_retries') ?? '?'}`,
    };
    if (cls === 'auth') return this.noteFatal({ class: 'auth', evidence });
    this.noteTransient({ class: cls, evidence });
    return undefined;
  }

  private onRateLimit(ev: JsonObject, lineNo: number): void {
    const info = obj(ev, 'rate_limit_info');
    if (!info) return;
    const status = str(info, 'status');
    const type = str(info, 'rateLimitType');
    const resetsAtS = num(info, 'resetsAt');
    const top: { status?: string; type?: string; resets_at_ms?: number; utilization?: number } = {};
    if (status !== undefined) top.status = status;
    if (type !== undefined) top.type = type;
    if (resetsAtS !== undefined) top.resets_at_ms = resetsAtS * 1000;
    const u = num(info, 'utilization');
    if (u !== undefined) top.utilization = u;
    const windows = obj(info, 'unifiedWindows');
    if (windows) {
      for (const [name, w] of Object.entries(windows)) {
        if (!isObject(w)) continue;
        const entry: { type: string; status?: string; resets_at_ms?: number; utilization?: number } = { type: name };
        const ws = str(w, 'status');
        if (ws !== undefined) entry.status = ws;
        const wr = num(w, 'resetsAt') ?? num(w, 'resets_at');
        if (wr !== undefined) entry.resets_at_ms = wr * 1000;
        const wu = num(w, 'utilization');
        if (wu !== undefined) entry.utilization = wu;
        this.noteWindow(entry);
      }
    }
    if (top.type !== undefined || !windows) this.noteWindow(top);
    if (status === 'rejected') {
      this.rejectedResetMs = top.resets_at_ms;
      const f: Finding = {
        class: 'rate_limit',
        evidence: {
          source: 'stream',
          line: lineNo,
          event_type: 'rate_limit_event',
          status: 'rejected',
          detail: `${type ?? 'unknown window'} rejected${resetsAtS !== undefined ? '' : ', no reset time'}`,
        },
      };
      if (top.resets_at_ms !== undefined) f.reset_at_ms = top.resets_at_ms;
      this.noteTransient(f);
    }
  }

  private onAssistant(ev: JsonObject, lineNo: number): LiveSignal | undefined {
    const message = obj(ev, 'message');
    const code = str(ev, 'error');
    const isApiError = bool(ev, 'is_api_error_message') === true || str(message, 'model') === '<synthetic>';
    if (!isApiError || code === undefined) {
      // A real model reply: the CLI got through whatever it was retrying.
      if (!isApiError) this.noteRecovered();
      return undefined;
    }
    const status = num(ev, 'api_error_status');
    const text = messageText(message);
    const cls = classifyApiError(status, code, text, false);
    if (code === 'max_output_tokens') return undefined;
    const f: Finding = {
      class: cls,
      evidence: {
        source: 'stream',
        line: lineNo,
        event_type: 'assistant/synthetic',
        status: status ?? code,
        detail: `${code}${text ? `: ${text}` : ''}`,
      },
    };
    if (cls === 'rate_limit' && this.rejectedResetMs !== undefined) f.reset_at_ms = this.rejectedResetMs;
    this.synthetic = f;
    this.syntheticCode = code;
    if (cls === 'auth') return this.noteFatal(f);
    this.noteTransient(f);
    return undefined;
  }

  private onResult(ev: JsonObject, lineNo: number): void {
    const usage = obj(ev, 'usage');
    if (usage) {
      const u: { input_tokens?: number; output_tokens?: number; cache_read_tokens?: number; cache_creation_tokens?: number } = {};
      const i = num(usage, 'input_tokens');
      if (i !== undefined) u.input_tokens = i;
      const o = num(usage, 'output_tokens');
      if (o !== undefined) u.output_tokens = o;
      const cr = num(usage, 'cache_read_input_tokens');
      if (cr !== undefined) u.cache_read_tokens = cr;
      const cc = num(usage, 'cache_creation_input_tokens');
      if (cc !== undefined) u.cache_creation_tokens = cc;
      // `usage` is per turn (since the previous result): sum over the round's results.
      this.addUsage(u);
    }
    // total_cost_usd is cumulative for the process: the latest value is the round's cost.
    const cost = num(ev, 'total_cost_usd');
    if (cost !== undefined) this.costUsd = cost;

    const isError = bool(ev, 'is_error') === true;
    const subtype = str(ev, 'subtype') ?? 'unknown';
    const reason = str(ev, 'terminal_reason');
    const status = num(ev, 'api_error_status');
    const base = { source: 'stream' as const, line: lineNo, event_type: `result/${subtype}` };
    if (!isError) {
      this.noteTerminal({ class: 'ok', evidence: { ...base, detail: reason ?? 'completed' } });
      return;
    }
    if (reason !== undefined && LIMIT_REASONS.has(reason)) {
      this.noteTerminal({ class: 'ok', evidence: { ...base, detail: `stopped on a configured limit (${reason})` } });
      return;
    }
    const resultText = str(ev, 'result');
    let cls: FailureClass;
    if (status !== undefined) {
      cls = classifyApiError(status, this.syntheticCode, resultText, false);
    } else if (reason === 'api_error') {
      // No HTTP status: the synthetic message (same failure, a line earlier) carries the SDK code.
      cls = this.synthetic ? this.synthetic.class : classifyApiError(undefined, undefined, resultText, false);
    } else if (reason === 'prompt_too_long') {
      cls = 'config';
    } else {
      cls = 'crash';
    }
    const f: Finding = {
      class: cls,
      evidence: { ...base, status: status ?? reason ?? 'error', detail: `${reason ?? subtype}${resultText ? `: ${resultText}` : ''}` },
    };
    if (cls === 'rate_limit' && this.rejectedResetMs !== undefined) f.reset_at_ms = this.rejectedResetMs;
    this.noteTerminal(f);
  }
}

/**
 * Class of an API failure from the HTTP status (preferred), the SDK error code, and — only
 * when neither decides — the CLI's own error text.
 */
function classifyApiError(
  status: number | undefined,
  code: string | undefined,
  text: string | undefined,
  noResponse: boolean,
): FailureClass {
  if (code !== undefined && AUTH_ERRORS.has(code)) return 'auth';
  if (status !== undefined) {
    const byStatus = classFromHttpStatus(status);
    if (byStatus) return byStatus;
  }
  switch (code) {
    case 'rate_limit':
      return 'rate_limit';
    case 'overloaded':
      return 'overloaded';
    case 'invalid_request':
    case 'model_not_found':
      return 'config';
  }
  if (noResponse) return 'timeout';
  if (text !== undefined) {
    if (TIMEOUT_TEXT.test(text)) return 'timeout';
    if (NETWORK_TEXT.test(text)) return 'network';
  }
  // No HTTP response at all: the CLI documents `error_status: null` as a connection error.
  if (status === undefined) return 'network';
  return 'server_error';
}

function messageText(message: JsonObject | undefined): string | undefined {
  const content = arr(message, 'content');
  if (!content) return undefined;
  const texts = content
    .filter(isObject)
    .map((b) => str(b, 'text'))
    .filter((t): t is string => t !== undefined);
  return texts.length ? texts.join(' ') : undefined;
}

const preset: AgentPreset = {
  command: ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions'],
  prompt_delivery: 'stdin',
  prompt_arg_template: [],
  terminal: 'pipe',
  env: {
    // Telemetry, update checks and error reporting off: an unattended agent talks only to the API.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  },
  grace_kill_ignore_patterns: [
    // The login shell Claude Code starts to snapshot the user's shell setup before Bash tool
    // calls: `/bin/bash -c -l SNAPSHOT_FILE=~/.claude/shell-snapshots/snapshot-bash-<ms>-<id>.sh ...`.
    // It is housekeeping, not work; a slow profile can keep it alive after the result.
    'SNAPSHOT_FILE=\\S*shell-snapshots/snapshot-',
  ],
};

/** The Claude Code adapter. */
export const claudeAdapter: AgentAdapter = {
  name: 'claude',
  preset,
  authHint:
    "Claude Code could not authenticate: run `claude /login` as the service user on the host, or set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN from `claude setup-token`) in the unit's EnvironmentFile and run `agent-runner restart` (serve reads its environment at start). A paused runner probes and resumes by itself once login works.",
  createClassifier(): Classifier {
    return new ClaudeClassifier();
  },
};
