/**
 * OpenAI Codex CLI (`codex exec --json`).
 *
 * Event shapes as observed from the real CLI 0.169.0 against a local Responses API stub
 * (captures in packages/runner/test/fixtures/codex/), one JSON object per line:
 * `thread.started`, `turn.started`, `item.started` / `item.updated` / `item.completed`
 * (`item.type`: `agent_message`, `command_execution` with `aggregated_output`, `reasoning`,
 * `file_change`, ..., and `error` for non-fatal warnings such as missing model metadata),
 * `turn.completed` with `usage` {input_tokens (cached included), cached_input_tokens,
 * cache_write_input_tokens, output_tokens, reasoning_output_tokens}, `turn.failed` with
 * `error.message`, and top-level `{"type":"error","message"}` for API failures:
 * - `Reconnecting... 1/5 (unexpected status 401 Unauthorized: ..., url: ...)` while retrying;
 * - `unexpected status 401 Unauthorized: ...` / `exceeded retry limit, last status: 429 ...`;
 * - `You’ve hit your usage limit. ... try again at 12:58 PM.` (ChatGPT plan quota; the time
 *   has no date or zone, so no reset time is derived);
 * - `We’re currently experiencing high demand, ...` (HTTP 500);
 * - `Selected model is at capacity. Please try a different model.` (HTTP 503);
 * - `Reconnecting... waiting for network (Connection failed: error sending request)`, which
 *   Codex repeats with growing delays and never gives up on.
 * Item contents (command output, agent messages) are never inspected.
 */
import type { AgentAdapter, AgentPreset, Classifier, FailureClass, LiveSignal } from './types.js';
import { ClassifierBase, classFromHttpStatus, type Finding } from './classifier-base.js';
import { num, obj, parseJsonObjectLine, str } from './json-line.js';

/**
 * Consecutive "waiting for network" reconnects after which the round is ended as `network`:
 * Codex waits for the network forever, printing a line per attempt (5 lines took ~2 min in
 * the capture), so neither the CLI nor the inactivity limit would end it.
 */
export const CODEX_NETWORK_WAIT_LIMIT = 5;

const STATUS_RE = /\b(?:unexpected status|last status:?)\s+(\d{3})\b/;
const RECONNECT_RE = /^Reconnecting\.\.\.\s+(?:\d+\/\d+\s+)?\((.*)\)\s*$/s;

/** Class of a Codex error message (its own text, from an `error` or `turn.failed` event). */
export function classifyCodexMessage(message: string): { class: FailureClass; status?: number } {
  const inner = RECONNECT_RE.exec(message)?.[1] ?? message;
  const m = STATUS_RE.exec(inner);
  if (m?.[1]) {
    const status = Number(m[1]);
    return { class: classFromHttpStatus(status) ?? 'server_error', status };
  }
  if (/usage limit|rate limit/i.test(inner)) return { class: 'rate_limit' };
  // 503 reads "Selected model is at capacity..." (0.169.0, e2e against the stub); 500 reads
  // "We’re currently experiencing high demand" — neither carries the status.
  if (/at capacity|overloaded/i.test(inner)) return { class: 'overloaded' };
  if (/experiencing high demand/i.test(inner)) return { class: 'server_error' };
  if (/timed out|timeout/i.test(inner)) return { class: 'timeout' };
  if (/waiting for network|Connection failed|error sending request|stream disconnected|connection (?:refused|reset)/i.test(inner)) {
    return { class: 'network' };
  }
  if (/unauthorized|invalid api key|not logged in|login/i.test(inner)) return { class: 'auth' };
  return { class: 'crash' };
}

class CodexClassifier extends ClassifierBase {
  private networkWaits = 0;

  line(text: string, lineNo: number): LiveSignal | undefined {
    const ev = parseJsonObjectLine(text);
    const type = str(ev, 'type');
    if (!ev || type === undefined) return undefined;
    switch (type) {
      case 'error': {
        const message = str(ev, 'message') ?? '';
        const c = classifyCodexMessage(message);
        const f: Finding = {
          class: c.class === 'crash' ? 'server_error' : c.class,
          evidence: { source: 'stream', line: lineNo, event_type: 'error', status: c.status ?? c.class, detail: message },
        };
        if (f.class === 'auth') return this.noteFatal(f);
        this.noteTransient(f);
        if (/waiting for network/.test(message)) {
          this.networkWaits += 1;
          if (this.networkWaits >= CODEX_NETWORK_WAIT_LIMIT) {
            return this.noteFatal({
              class: 'network',
              evidence: { ...f.evidence, detail: `${this.networkWaits} reconnects waiting for network: ${message}` },
            });
          }
        } else {
          this.networkWaits = 0;
        }
        return undefined;
      }
      case 'turn.failed': {
        const message = str(obj(ev, 'error'), 'message') ?? '';
        const c = classifyCodexMessage(message);
        this.noteTerminal({
          class: c.class,
          evidence: { source: 'stream', line: lineNo, event_type: 'turn.failed', status: c.status ?? c.class, detail: message },
        });
        return { kind: 'final_result' };
      }
      case 'turn.completed': {
        const usage = obj(ev, 'usage');
        if (usage) {
          const input = num(usage, 'input_tokens');
          const cached = num(usage, 'cached_input_tokens') ?? 0;
          const u: { input_tokens?: number; output_tokens?: number; cache_read_tokens?: number; cache_creation_tokens?: number } = {};
          // OpenAI counts cached tokens inside input_tokens; store uncached input like Anthropic does.
          if (input !== undefined) u.input_tokens = Math.max(0, input - cached);
          if (num(usage, 'cached_input_tokens') !== undefined) u.cache_read_tokens = cached;
          const cw = num(usage, 'cache_write_input_tokens');
          if (cw !== undefined) u.cache_creation_tokens = cw;
          const out = num(usage, 'output_tokens');
          if (out !== undefined) u.output_tokens = out;
          this.addUsage(u);
        }
        this.networkWaits = 0;
        this.noteTerminal({ class: 'ok', evidence: { source: 'stream', line: lineNo, event_type: 'turn.completed', detail: 'completed' } });
        return { kind: 'final_result' };
      }
      case 'item.started':
      case 'item.updated':
      case 'item.completed': {
        // Progress (a tool ran or the model answered): earlier reconnects were recovered.
        if (str(obj(ev, 'item'), 'type') !== 'error') {
          this.networkWaits = 0;
          this.noteRecovered();
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }
}

const preset: AgentPreset = {
  // `codex exec` reads the prompt from stdin when no prompt argument is given.
  command: [
    'codex',
    'exec',
    '--json',
    '--dangerously-bypass-approvals-and-sandbox',
    '-c',
    'analytics.enabled=false',
    '-c',
    'check_for_update_on_startup=false',
  ],
  prompt_delivery: 'stdin',
  prompt_arg_template: [],
  terminal: 'pipe',
  env: {},
  grace_kill_ignore_patterns: [],
};

/** The Codex CLI adapter. */
export const codexAdapter: AgentAdapter = {
  name: 'codex',
  preset,
  authHint:
    "Codex could not authenticate: run `codex login` as the service user on the host, or set OPENAI_API_KEY (or CODEX_API_KEY) in the unit's EnvironmentFile and run `agent-runner restart` (serve reads its environment at start). A paused runner probes and resumes by itself once login works.",
  createClassifier(): Classifier {
    return new CodexClassifier();
  },
};
