/**
 * aider (plain-text output; exits 0 even when the model API failed fatally).
 *
 * aider reports an LLM API failure with two kinds of lines it prints itself (aider/coders/
 * base_coder.py and aider/exceptions.py):
 * - `str(err)` of a litellm exception, which litellm prefixes with the exception class:
 *   `litellm.AuthenticationError: AnthropicException - {...}`, `litellm.RateLimitError: ...`,
 *   `litellm.APIConnectionError: ...`, `litellm.Timeout: ...`;
 * - the exception's fixed description from aider's table, e.g. `The API provider is not able
 *   to authenticate you. Check your API key.`;
 * then `Retrying in 0.5 seconds...` for retryable ones. After a successful reply it prints
 * `Tokens: 2.3k sent, 120 received. Cost: $0.01 message, $0.03 session.`
 *
 * Only lines starting with those exact shapes are read. Because aider echoes edited file
 * content as plain text too, an error is live-fatal only as aider prints it — the litellm
 * line immediately followed by aider's own description line — and any error is forgotten
 * once a later `Tokens:` report shows the model answered again.
 */
import type { AgentAdapter, AgentPreset, Classifier, FailureClass, LiveSignal } from './types.js';
import { ClassifierBase, type Finding } from './classifier-base.js';

/** litellm exception class → class. */
const LITELLM_CLASSES: Record<string, FailureClass> = {
  AuthenticationError: 'auth',
  PermissionDeniedError: 'auth',
  RateLimitError: 'rate_limit',
  RouterRateLimitError: 'rate_limit',
  BudgetExceededError: 'rate_limit',
  ServiceUnavailableError: 'overloaded',
  InternalServerError: 'server_error',
  APIError: 'server_error',
  APIConnectionError: 'network',
  Timeout: 'timeout',
  BadRequestError: 'config',
  NotFoundError: 'config',
  ContextWindowExceededError: 'config',
  UnprocessableEntityError: 'config',
  UnsupportedParamsError: 'config',
  InvalidRequestError: 'config',
  ContentPolicyViolationError: 'config',
};

/** aider's fixed descriptions (aider/exceptions.py) → class. */
const DESCRIPTIONS: [string, FailureClass][] = [
  ['The API provider is not able to authenticate you. Check your API key.', 'auth'],
  ['The API provider has rate limited you. Try again later or check your quotas.', 'rate_limit'],
  ["The API provider's servers are down or overloaded.", 'overloaded'],
  ['The API provider timed out without returning a response. They may be down or overloaded.', 'timeout'],
];

const LITELLM_RE = /^litellm\.([A-Za-z]+(?:Error)?|Timeout):\s/;
const TOKENS_RE =
  /^Tokens: ([\d.,]+[kKmM]?) sent(?:, ([\d.,]+[kKmM]?) cache write)?(?:, ([\d.,]+[kKmM]?) cache hit)?, ([\d.,]+[kKmM]?) received\./;
const COST_RE = /Cost: \$([\d.]+) message, \$([\d.]+) session\./;

/** `2.3k` → 2300, `1.2M` → 1200000, `1,234` → 1234. */
export function parseAiderCount(s: string): number {
  const m = /^([\d.,]+)([kKmM]?)$/.exec(s.trim());
  if (!m?.[1]) return NaN;
  const n = Number(m[1].replace(/,/g, ''));
  const mult = m[2] === 'k' || m[2] === 'K' ? 1e3 : m[2] === 'm' || m[2] === 'M' ? 1e6 : 1;
  return Math.round(n * mult);
}

class AiderClassifier extends ClassifierBase {
  private lastLitellm: { cls: FailureClass; lineNo: number } | undefined;

  line(text: string, lineNo: number): LiveSignal | undefined {
    // aider prints its own messages at column 0; indented lines are echoed content.
    const t = text.trimEnd();
    const lit = LITELLM_RE.exec(t);
    if (lit?.[1]) {
      const cls = LITELLM_CLASSES[lit[1]] ?? 'server_error';
      this.lastLitellm = { cls, lineNo };
      this.noteTransient({ class: cls, evidence: { source: 'stream', line: lineNo, event_type: `litellm.${lit[1]}`, detail: t } });
      return undefined;
    }
    const desc = DESCRIPTIONS.find(([d]) => t === d);
    if (desc) {
      const [, cls] = desc;
      const confirmed = this.lastLitellm !== undefined && lineNo - this.lastLitellm.lineNo <= 2;
      const f: Finding = { class: cls, evidence: { source: 'stream', line: lineNo, event_type: 'aider_error', detail: t } };
      if (cls === 'auth' && confirmed) return this.noteFatal(f);
      this.noteTransient(f);
      return undefined;
    }
    const tokens = TOKENS_RE.exec(t);
    if (tokens) {
      // A reply arrived: earlier errors were retried successfully.
      this.noteRecovered();
      this.lastLitellm = undefined;
      const u: { input_tokens?: number; output_tokens?: number; cache_read_tokens?: number; cache_creation_tokens?: number } = {};
      const sent = tokens[1] ? parseAiderCount(tokens[1]) : NaN;
      const write = tokens[2] ? parseAiderCount(tokens[2]) : NaN;
      const hit = tokens[3] ? parseAiderCount(tokens[3]) : NaN;
      const received = tokens[4] ? parseAiderCount(tokens[4]) : NaN;
      if (Number.isFinite(sent)) u.input_tokens = sent;
      if (Number.isFinite(received)) u.output_tokens = received;
      if (Number.isFinite(write)) u.cache_creation_tokens = write;
      if (Number.isFinite(hit)) u.cache_read_tokens = hit;
      this.addUsage(u);
    }
    const cost = COST_RE.exec(t);
    if (cost?.[2] && (tokens || t.startsWith('Cost: '))) this.costUsd = Number(cost[2]);
    return undefined;
  }
}

const preset: AgentPreset = {
  command: [
    'aider',
    '--yes-always',
    '--no-pretty',
    '--no-fancy-input',
    '--no-check-update',
    '--no-show-release-notes',
    '--analytics-disable',
  ],
  // aider reads interactive input from stdin; the prompt goes in --message.
  prompt_delivery: 'argv',
  prompt_arg_template: ['--message', '{prompt}'],
  terminal: 'pipe',
  env: {},
  grace_kill_ignore_patterns: [],
};

/** The aider adapter. */
export const aiderAdapter: AgentAdapter = {
  name: 'aider',
  preset,
  authHint:
    "aider's model provider rejected the credentials: set the provider's key (OPENAI_API_KEY, ANTHROPIC_API_KEY, DEEPSEEK_API_KEY, ...) in the unit's EnvironmentFile, check it with `aider --models` as the service user, and run `agent-runner restart` (serve reads its environment at start). A paused runner probes and resumes by itself once the key works.",
  createClassifier(): Classifier {
    return new AiderClassifier();
  },
};
