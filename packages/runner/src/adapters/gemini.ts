/**
 * Google Gemini CLI (`gemini --output-format stream-json --yolo`, prompt on stdin).
 *
 * Stream format as observed from the real CLI 0.61.0 against a local Gemini API stub
 * (captures in packages/runner/test/fixtures/gemini/), one JSON object per line on stdout:
 * `init`, `message` (role user/assistant), `tool_use`, `tool_result` (tool output: never
 * inspected), optional `error` (severity warning/error), and the final `result`
 * `{"status":"success"|"error","error"?:{"type","message"},"stats":{input_tokens (gross),
 * input (net of cache), cached, output_tokens, ...}}`. The error message embeds the API's
 * JSON error, e.g. `[API Error: {"error":{"code":401,...,"status":"UNAUTHENTICATED"}}]`
 * (an invalid key is HTTP 400 with reason `API_KEY_INVALID`).
 *
 * Retries are reported only on stderr, as lines the CLI prints itself:
 * `Attempt 2 failed with status 429. Retrying with backoff... _ApiError: {...}` and, with no
 * HTTP response, `Attempt 1 failed. Retrying with backoff... Error: exception TypeError:
 * fetch failed sending request`; an API failure is also logged as `Error generating content
 * via API. Full report available at: ... _ApiError: {"error":{"code":401,...}}`. Only lines
 * that start with those phrases are read.
 *
 * Exit codes (FatalError subclasses in the 0.61.0 bundle): 41 authentication, 42 input,
 * 44 sandbox, 52 config, 53 turn limit, 54 tool execution, 55 untrusted workspace.
 */
import type { AgentAdapter, AgentPreset, Classifier, FailureClass, LiveSignal, ProcessOutcome } from './types.js';
import { ClassifierBase, classFromHttpStatus, type Finding } from './classifier-base.js';
import { num, obj, parseJsonObjectLine, str } from './json-line.js';

const ATTEMPT_RE = /^Attempt (\d+) failed(?: with status (\d{3}))?\. Retrying with backoff\.\.\.(.*)$/;
// The router's call logs "Error generating content via API.", a turn's call "Error when
// talking to Gemini API" (0.61.0, seen against the stub: it precedes the `result` line).
const API_ERROR_LOG_RE = /^Error (?:generating content via API\.|when talking to Gemini API\b).*?"code":\s*(\d{3})/;
/** `TerminalQuotaError` text for a RetryInfo delay over 300 s: "Suggested retry after 3600s." */
const SUGGESTED_RETRY_RE = /Suggested retry after (\d+(?:\.\d+)?)(ms|s)\b/;

/**
 * Google maps 503 UNAVAILABLE to "the service is overloaded"; other statuses as for every CLI.
 */
function classFromGoogleStatus(status: number): FailureClass {
  if (status === 503) return 'overloaded';
  return classFromHttpStatus(status) ?? 'server_error';
}

/** Class of a Gemini API error text (an error message that embeds the API's JSON error). */
export function classifyGeminiError(message: string): { class: FailureClass; status?: number } {
  if (/API_KEY_INVALID|UNAUTHENTICATED|PERMISSION_DENIED/.test(message)) {
    const code = /"code":\s*(\d{3})/.exec(message)?.[1];
    return code ? { class: 'auth', status: Number(code) } : { class: 'auth' };
  }
  const code = /"code":\s*(\d{3})/.exec(message)?.[1] ?? /\bstatus (\d{3})\b/.exec(message)?.[1];
  if (code) {
    const status = Number(code);
    return { class: classFromGoogleStatus(status), status };
  }
  if (/RESOURCE_EXHAUSTED|quota/i.test(message)) return { class: 'rate_limit' };
  if (/UNAVAILABLE|overloaded/i.test(message)) return { class: 'overloaded' };
  if (/DEADLINE_EXCEEDED|timed out|timeout/i.test(message)) return { class: 'timeout' };
  if (/fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket hang up/i.test(message)) return { class: 'network' };
  return { class: 'crash' };
}

class GeminiClassifier extends ClassifierBase {
  line(text: string, lineNo: number): LiveSignal | undefined {
    const ev = parseJsonObjectLine(text);
    if (!ev) return this.onText(text, lineNo);
    switch (str(ev, 'type')) {
      case 'result':
        this.onResult(ev, lineNo);
        return { kind: 'final_result' };
      case 'error': {
        if (str(ev, 'severity') === 'warning') return undefined;
        const message = str(ev, 'message') ?? '';
        const c = classifyGeminiError(message);
        const f: Finding = {
          class: c.class === 'crash' ? 'server_error' : c.class,
          evidence: { source: 'stream', line: lineNo, event_type: 'error', status: c.status ?? c.class, detail: message },
        };
        if (f.class === 'auth') return this.noteFatal(f);
        this.noteTransient(f);
        return undefined;
      }
      case 'message':
        if (str(ev, 'role') === 'assistant') this.noteRecovered();
        return undefined;
      case 'tool_result':
        this.noteRecovered();
        return undefined;
      default:
        return undefined;
    }
  }

  protected override exitFinding(outcome: ProcessOutcome): Finding | undefined {
    const code = outcome.exitCode;
    const ev = (detail: string): Finding['evidence'] => ({ source: 'exit', status: code ?? 'signal', detail });
    switch (code) {
      case 41:
        return { class: 'auth', evidence: ev('FatalAuthenticationError') };
      case 42:
        return { class: 'config', evidence: ev('FatalInputError') };
      case 44:
        return { class: 'config', evidence: ev('FatalSandboxError') };
      case 52:
        return { class: 'config', evidence: ev('FatalConfigError') };
      case 53:
        return { class: 'ok', evidence: ev('FatalTurnLimitedError: stopped on the configured turn limit') };
      case 55:
        return { class: 'config', evidence: ev('FatalUntrustedWorkspaceError') };
      default:
        return undefined;
    }
  }

  private onText(text: string, lineNo: number): LiveSignal | undefined {
    const t = text.trim();
    const attempt = ATTEMPT_RE.exec(t);
    if (attempt) {
      const status = attempt[2] ? Number(attempt[2]) : undefined;
      const cls: FailureClass = status !== undefined ? classFromGoogleStatus(status) : classifyGeminiError(attempt[3] ?? '').class;
      const f: Finding = {
        class: cls === 'crash' ? 'network' : cls,
        evidence: { source: 'stream', line: lineNo, event_type: 'retry', status: status ?? 'none', detail: t },
      };
      if (f.class === 'auth') return this.noteFatal(f);
      this.noteTransient(f);
      return undefined;
    }
    const apiErr = API_ERROR_LOG_RE.exec(t);
    if (apiErr) {
      const c = classifyGeminiError(t);
      const f: Finding = {
        class: c.class === 'crash' ? 'server_error' : c.class,
        evidence: { source: 'stream', line: lineNo, event_type: 'api_error_log', status: c.status ?? Number(apiErr[1]), detail: t },
      };
      if (f.class === 'auth') return this.noteFatal(f);
      this.noteTransient(f);
    }
    return undefined;
  }

  private onResult(ev: Record<string, unknown>, lineNo: number): void {
    const stats = obj(ev, 'stats');
    if (stats) {
      const u: { input_tokens?: number; output_tokens?: number; cache_read_tokens?: number } = {};
      // `input` is net of cache; older builds only have gross `input_tokens` and `cached`.
      const net = num(stats, 'input');
      const gross = num(stats, 'input_tokens');
      const cached = num(stats, 'cached');
      if (net !== undefined) u.input_tokens = net;
      else if (gross !== undefined) u.input_tokens = Math.max(0, gross - (cached ?? 0));
      if (cached !== undefined) u.cache_read_tokens = cached;
      const out = num(stats, 'output_tokens');
      if (out !== undefined) u.output_tokens = out;
      this.addUsage(u);
    }
    const status = str(ev, 'status');
    if (status === 'success') {
      this.noteTerminal({ class: 'ok', evidence: { source: 'stream', line: lineNo, event_type: 'result', status: 'success' } });
      return;
    }
    const err = obj(ev, 'error');
    const message = str(err, 'message') ?? '';
    const c = classifyGeminiError(message);
    const f: Finding = {
      class: c.class,
      evidence: {
        source: 'stream',
        line: lineNo,
        event_type: 'result',
        status: c.status ?? status ?? 'error',
        detail: `${str(err, 'type') ?? 'error'}: ${message}`,
      },
    };
    // A long RetryInfo delay ends the CLI with "Suggested retry after Ns."; the result line's
    // own timestamp anchors it, so no clock is needed here.
    const delay = SUGGESTED_RETRY_RE.exec(message);
    const at = Date.parse(str(ev, 'timestamp') ?? '');
    if (c.class === 'rate_limit' && delay?.[1] && Number.isFinite(at)) {
      f.reset_at_ms = at + Math.round(Number(delay[1]) * (delay[2] === 'ms' ? 1 : 1000));
    }
    this.noteTerminal(f);
  }
}

const preset: AgentPreset = {
  // With stdin not a TTY and no -p, Gemini CLI reads the prompt from stdin.
  command: ['gemini', '--output-format', 'stream-json', '--yolo'],
  prompt_delivery: 'stdin',
  prompt_arg_template: [],
  terminal: 'pipe',
  env: {},
  grace_kill_ignore_patterns: [],
};

/** The Gemini CLI adapter. */
export const geminiAdapter: AgentAdapter = {
  name: 'gemini',
  preset,
  authHint:
    'Gemini CLI could not authenticate: run `gemini` once interactively as the service user to log in, or set GEMINI_API_KEY in the unit\'s EnvironmentFile (and `security.auth.selectedType` = "gemini-api-key" in ~/.gemini/settings.json) and run `agent-runner restart` (serve reads its environment at start). A paused runner probes and resumes by itself once login works.',
  createClassifier(): Classifier {
    return new GeminiClassifier();
  },
};
