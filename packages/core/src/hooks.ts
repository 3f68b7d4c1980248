/**
 * Operator hooks (`[hooks.NAME]`): commands run at serve start, before and after each round,
 * on a dirty tree, and as extra detectors on the monitor's poll. Like git and Claude Code
 * hooks they are plain commands: one JSON document ({@link HookInput}) on stdin, at most one
 * JSON document ({@link HookAnswer}) on stdout, each in its own process group under a timeout.
 * The document formats are versioned ({@link HOOK_INPUT_VERSION}) and rendered into
 * docs/hooks.md by {@link renderHooksDoc}.
 */
import { spawn } from 'node:child_process';
import type { HookConfig } from './config/types.js';
import type { EventWriter } from './events/writer.js';
import type { KillFn } from './identity.js';
import type { Severity } from './ledger/index.js';
import { isSecretKey, redactText } from './redact.js';

/** Version of the stdin document; bumped for compatible additions, a new major never reuses a field. */
export const HOOK_INPUT_VERSION = 1;

/** The previous round, as a hook reads it. */
export interface HookRoundOutcome {
  round: number;
  /** Outcome class (`ok`, `rate_limit`, `crash`, ...). */
  class: string;
  exit_code: number | null;
  signal: string | null;
  /** Wall-clock seconds. */
  duration_s: number;
  /** One line for humans. */
  summary: string;
  /** Token counts the adapter read (`input_tokens`, `output_tokens`, ...), or null. */
  usage: Record<string, number> | null;
  /** USD, or null when the agent reports none. */
  cost_usd: number | null;
  /** The stash holding the dirty tree the round left, or null. */
  stash_sha: string | null;
  /** The commit made of it (`vcs.dirty_action = "commit"`), or null. */
  commit_sha: string | null;
}

/** The document every hook gets on stdin. */
export interface HookInput {
  version: typeof HOOK_INPUT_VERSION;
  event: HookConfig['on'];
  hook: string;
  project: string;
  host: string;
  work_dir: string;
  config_file: string;
  /** The round about to run (`pre_round`, `serve_start`: the next one), that ran (`post_round`, `dirty_tree`), or the latest (`detector`; null before any). */
  round: number | null;
  phase: string | null;
  /** The last finished round (for `post_round` and `dirty_tree`: the one that just ended). */
  previous_round: HookRoundOutcome | null;
  /** The context fields hooks answered so far (shown to the agent in its context block). */
  context: Record<string, unknown>;
  /** `pre_round` only: the assembled prompt. */
  prompt?: string;
  /** `dirty_tree` only: paths `git status --porcelain` reports. */
  dirty_files?: string[];
}

/** An alert a `detector` hook raises. */
export interface HookAlert {
  severity: Severity;
  /** One line, ≤ 200 characters. */
  title: string;
  /** ≤ 4000 characters. */
  body: string;
  /** Identifies the alert across polls (default: the title): the same key stays one alert. */
  key: string;
}

/** What a hook may answer, by event; an empty stdout is the empty answer. */
export interface HookAnswer {
  /** `pre_round`: the prompt the agent gets instead. */
  prompt?: string;
  /** `pre_round`, `post_round`: context fields merged into the next rounds' context. */
  context?: Record<string, unknown>;
  /** `dirty_tree`: what happens to the tree (`handled`: the hook dealt with it). */
  action?: 'stash' | 'commit' | 'ignore' | 'handled';
  /** `detector`: the alerts active now (an alert not answered any more clears). */
  alerts?: HookAlert[];
}

/** How a hook run ended. */
export type HookResult =
  | { ok: true; answer: HookAnswer; durationMs: number; pid: number; stderrTail: string }
  | {
      ok: false;
      reason: 'exit' | 'signal' | 'timeout' | 'spawn' | 'bad_output';
      /** One line naming the hook (redacted). */
      message: string;
      exitCode: number | null;
      signal: string | null;
      durationMs: number;
      pid: number | null;
      stderrTail: string;
    };

const ANSWER_KEYS: Readonly<Record<HookConfig['on'], readonly (keyof HookAnswer)[]>> = {
  serve_start: [],
  pre_round: ['prompt', 'context'],
  post_round: ['context'],
  dirty_tree: ['action'],
  detector: ['alerts'],
};

/** Largest answer read, bytes: a prompt is a few KiB; more is a hook printing its log to stdout. */
export const MAX_HOOK_STDOUT = 1024 * 1024;
const STDERR_KEEP = 8192;
/** Largest `context` answer, as JSON characters. */
export const MAX_CONTEXT_ANSWER = 64 * 1024;
const KILL_AFTER_TERM_MS = 2000;
const SEVERITY_SET: ReadonlySet<string> = new Set(['info', 'warning', 'error', 'critical']);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses what a hook printed on stdout as the answer `event` allows.
 * @returns the answer, or a one-line reason it is not one (naming the hook).
 */
export function parseHookAnswer(event: HookConfig['on'], hook: string, stdout: string): HookAnswer | string {
  const text = stdout.trim();
  if (text === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return `hook ${hook}: stdout is not one JSON document (${(e as Error).message.slice(0, 120)}); print logs to stderr`;
  }
  if (!isObject(doc)) return `hook ${hook}: stdout must be a JSON object, got ${Array.isArray(doc) ? 'an array' : typeof doc}`;
  const allowed = ANSWER_KEYS[event];
  for (const k of Object.keys(doc)) {
    if (!(allowed as readonly string[]).includes(k))
      return `hook ${hook}: a ${event} hook may answer ${allowed.length ? allowed.map((a) => `"${a}"`).join(', ') : 'nothing'}, not "${k.slice(0, 40)}"`;
  }
  const answer: HookAnswer = {};
  if ('prompt' in doc) {
    if (typeof doc['prompt'] !== 'string' || doc['prompt'].trim() === '') return `hook ${hook}: "prompt" must be a non-empty string`;
    answer.prompt = doc['prompt'];
  }
  if ('context' in doc) {
    if (!isObject(doc['context'])) return `hook ${hook}: "context" must be an object of fields`;
    // The context is persisted and shown to the agent every round: a page of facts, not a dump.
    if (JSON.stringify(doc['context']).length > MAX_CONTEXT_ANSWER)
      return `hook ${hook}: "context" is more than ${MAX_CONTEXT_ANSWER / 1024} KiB of JSON; hand over a path to a file instead`;
    answer.context = doc['context'];
  }
  if ('action' in doc) {
    const a = doc['action'];
    if (a !== 'stash' && a !== 'commit' && a !== 'ignore' && a !== 'handled')
      return `hook ${hook}: "action" must be "stash", "commit", "ignore" or "handled"`;
    answer.action = a;
  }
  if ('alerts' in doc) {
    const list = doc['alerts'];
    if (!Array.isArray(list)) return `hook ${hook}: "alerts" must be an array`;
    const alerts: HookAlert[] = [];
    for (const [i, a] of list.entries()) {
      if (!isObject(a)) return `hook ${hook}: alerts[${i}] must be an object`;
      const severity = a['severity'] ?? 'warning';
      if (typeof severity !== 'string' || !SEVERITY_SET.has(severity))
        return `hook ${hook}: alerts[${i}].severity must be "info", "warning", "error" or "critical"`;
      if (typeof a['title'] !== 'string' || !a['title'].trim() || a['title'].length > 200)
        return `hook ${hook}: alerts[${i}].title must be a string of 1-200 characters`;
      if (a['body'] !== undefined && (typeof a['body'] !== 'string' || a['body'].length > 4000))
        return `hook ${hook}: alerts[${i}].body must be a string of at most 4000 characters`;
      if (a['key'] !== undefined && (typeof a['key'] !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(a['key'])))
        return `hook ${hook}: alerts[${i}].key must be 1-64 characters of A-Z a-z 0-9 _ . : -`;
      const title = a['title'].trim();
      alerts.push({
        severity: severity as Severity,
        title,
        body: typeof a['body'] === 'string' ? a['body'] : '',
        key: typeof a['key'] === 'string' ? a['key'] : title,
      });
    }
    answer.alerts = alerts;
  }
  return answer;
}

/**
 * The environment a hook runs with: `base` (the agent's environment) without its
 * secret-named variables except those in `pass_env`, plus `AGENT_RUNNER_HOOK`,
 * `AGENT_RUNNER_HOOK_EVENT`, `AGENT_RUNNER_PROJECT` and `AGENT_RUNNER_ROUND` (empty when none).
 */
export function hookEnv(
  base: Readonly<Record<string, string | undefined>>,
  hook: HookConfig,
  input: Pick<HookInput, 'project' | 'round'>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && (!isSecretKey(k) || hook.pass_env.includes(k))) out[k] = v;
  out['AGENT_RUNNER_HOOK'] = hook.name;
  out['AGENT_RUNNER_HOOK_EVENT'] = hook.on;
  out['AGENT_RUNNER_PROJECT'] = input.project;
  out['AGENT_RUNNER_ROUND'] = input.round === null ? '' : String(input.round);
  return out;
}

/** What {@link runHook} needs from its process. */
export interface RunHookOptions {
  /** The work dir. */
  cwd: string;
  /** Its environment (see {@link hookEnv}). */
  env: Record<string, string>;
  /** Signals a process group (negative pid). */
  kill: KillFn;
  now?: () => number;
  /** When given, `hook_started` and `hook_finished` or `hook_failed` are written to it. */
  events?: EventWriter;
  /** Round the events are about. */
  round?: number;
}

/**
 * Runs one hook: `input` as JSON on stdin, stdout parsed as the answer its event allows. The
 * hook is its own process group; at `timeout_s` the group gets SIGTERM, SIGKILL 2 s later, and
 * whatever of the group outlives its leader is killed. Every failure of the hook is a result (a
 * hook that crashes never crashes its caller). With `opts.events`, the run is evented
 * (`hook_started`, then `hook_finished` or `hook_failed`).
 * @throws (rejects with) only what the event writer throws — from the caller's await, never as
 *   an uncaught exception of a child-process callback.
 */
export async function runHook(hook: HookConfig, input: HookInput, opts: RunHookOptions): Promise<HookResult> {
  const meta = opts.round === undefined ? {} : { round: opts.round };
  const result = await execHook(hook, input, opts, (pid) =>
    opts.events?.emit('hook_started', { hook: hook.name, event: hook.on, pid }, meta),
  );
  if (opts.events) emitResult(opts.events, hook, result, meta);
  return result;
}

function execHook(hook: HookConfig, input: HookInput, opts: RunHookOptions, onStart: (pid: number) => void): Promise<HookResult> {
  const now = opts.now ?? Date.now;
  const started = now();
  return new Promise((resolve) => {
    const [file, ...args] = hook.command;
    let stdout = '';
    let stdoutBytes = 0;
    let stderr = '';
    let timedOut = false;
    let overflow = false;
    let spawnError: Error | undefined;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file as string, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      // Arguments spawn refuses outright (a NUL byte in the environment, say).
      const message = redactText(`hook ${hook.name}: cannot run ${file}: ${(e as Error).message}`).slice(0, 500);
      return resolve({
        ok: false,
        reason: 'spawn',
        message,
        exitCode: null,
        signal: null,
        durationMs: now() - started,
        pid: null,
        stderrTail: '',
      });
    }
    const pid = child.pid ?? null;
    if (pid !== null) onStart(pid);
    const group = (sig: NodeJS.Signals): void => {
      if (pid === null) return;
      try {
        opts.kill(-pid, sig);
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      group('SIGTERM');
      setTimeout(() => group('SIGKILL'), KILL_AFTER_TERM_MS).unref();
    }, hook.timeout_s * 1000);
    child.on('error', (e) => (spawnError = e));
    child.stdin?.on('error', () => undefined); // EPIPE: the hook does not read its input
    child.stdin?.end(`${JSON.stringify(input)}\n`);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdoutBytes += Buffer.byteLength(d);
      if (stdoutBytes > MAX_HOOK_STDOUT) {
        if (!overflow) group('SIGKILL');
        overflow = true;
      } else stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_KEEP)));
    // The leader's exit ends the hook: what it left running in its group would hold the pipes open.
    child.on('exit', () => group('SIGKILL'));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const durationMs = now() - started;
      const stderrTail = redactText(stderr.split('\n').slice(-20).join('\n')).slice(-2000);
      const fail = (reason: Extract<HookResult, { ok: false }>['reason'], message: string): void =>
        resolve({ ok: false, reason, message: redactText(message).slice(0, 500), exitCode: code, signal, durationMs, pid, stderrTail });
      if (spawnError)
        return fail('spawn', `hook ${hook.name}: cannot run ${file}: ${(spawnError as NodeJS.ErrnoException).code ?? spawnError.message}`);
      if (timedOut) return fail('timeout', `hook ${hook.name}: still running after ${hook.timeout_s} s; its process group was killed`);
      if (overflow) return fail('bad_output', `hook ${hook.name}: more than ${MAX_HOOK_STDOUT} bytes on stdout; print logs to stderr`);
      if (signal) return fail('signal', `hook ${hook.name}: killed by ${signal}`);
      if (code !== 0)
        return fail(
          'exit',
          `hook ${hook.name}: exited ${code}${stderrTail ? `: ${stderrTail.split('\n').filter(Boolean).pop() ?? ''}` : ''}`,
        );
      const answer = parseHookAnswer(hook.on, hook.name, stdout);
      if (typeof answer === 'string') return fail('bad_output', answer);
      resolve({ ok: true, answer, durationMs, pid: pid ?? 0, stderrTail });
    });
  });
}

function emitResult(events: EventWriter, hook: HookConfig, result: HookResult, meta: { round?: number }): void {
  const duration_s = Math.round(result.durationMs / 100) / 10;
  if (result.ok) {
    const keys = Object.keys(result.answer);
    events.emit(
      'hook_finished',
      { hook: hook.name, event: hook.on, duration_s, exit_code: 0, answered: keys.length ? keys.join(',') : 'nothing' },
      meta,
    );
  } else {
    events.emit(
      'hook_failed',
      {
        hook: hook.name,
        event: hook.on,
        reason: result.reason,
        message: result.message,
        exit_code: result.exitCode,
        signal: result.signal,
        duration_s,
        stderr_tail: result.stderrTail,
        action: hook.on_failure,
      },
      meta,
    );
  }
}

/** The stdin fields, for docs/hooks.md: name, type, meaning. */
const INPUT_FIELDS: ReadonlyArray<[string, string, string]> = [
  ['version', 'integer', `Format version (${HOOK_INPUT_VERSION}); compatible additions keep it, anything else is a new version.`],
  ['event', 'string', '`serve_start`, `pre_round`, `post_round`, `dirty_tree` or `detector`.'],
  ['hook', 'string', "The hook's name (`[hooks.NAME]`)."],
  ['project', 'string', 'Project name.'],
  ['host', 'string', 'Host name of the machine running it.'],
  ['work_dir', 'string', "Absolute work dir (also the hook's working directory)."],
  ['config_file', 'string', 'Absolute path of agent-runner.toml.'],
  [
    'round',
    'integer|null',
    'The round about to run (`serve_start`, `pre_round`), that just ran (`post_round`, `dirty_tree`), or the latest (`detector`; null before any).',
  ],
  ['phase', 'string|null', "The round's phase (`[phases]`), or null."],
  [
    'previous_round',
    'object|null',
    'The last finished round: `round`, `class`, `exit_code`, `signal`, `duration_s`, `summary`, `usage` (token counts or null), `cost_usd` (or null), `stash_sha`, `commit_sha`. For `post_round` and `dirty_tree`, the round that just ended.',
  ],
  [
    'context',
    'object',
    'Context fields hooks answered so far (the latest value of each field; a field answered as `null` is removed), kept in the state dir (`hooks-context.json`) across restarts; the agent sees them in its context block (`runtime.context`).',
  ],
  [
    'prompt',
    'string',
    "`pre_round` only: the assembled prompt — the prompt files, front matter stripped, without the runner's context block (added after the hooks) — as earlier `pre_round` hooks left it.",
  ],
  ['dirty_files', 'string[]', '`dirty_tree` only: the paths `git status --porcelain` lists.'],
];

const ANSWER_DOCS: ReadonlyArray<[HookConfig['on'], string, string]> = [
  [
    'serve_start',
    'nothing (empty stdout or `{}`)',
    'Runs once after serve started, before the first round: prepare the tree, fetch credentials, say hello. Default `on_failure = "stop"`.',
  ],
  [
    'pre_round',
    '`{"prompt": "...", "context": {...}}`, both optional',
    'Runs before each round, in config order, each seeing the prompt the previous one left. A replaced prompt is audited (`prompt_overwritten`: hook, SHA-256 before and after); its `context` fields reach this round\'s agent already. Default `on_failure = "skip_round"`.',
  ],
  [
    'post_round',
    '`{"context": {...}}`',
    'Runs after each round (after the dirty tree was dealt with): e.g. run the tests and hand their result to the next round. Default `on_failure = "continue"`.',
  ],
  [
    'dirty_tree',
    '`{"action": "stash" | "commit" | "ignore" | "handled"}`',
    'Runs when a round left the tree dirty, before `vcs.dirty_action`; the first hook that answers an action decides (`handled`: the hook committed, pushed or cleaned itself). No answer, or a failure with `continue`: `vcs.dirty_action` applies (with `stop`: it applies, then serve exits 78). Default `on_failure = "continue"`.',
  ],
  [
    'detector',
    '`{"alerts": [{"severity", "title", "body", "key"}]}`',
    "Runs by the monitor (`--mode anomaly`, the local project) on every poll, with the monitor's environment plus `[agent.env]`: each alert is raised once as detector `hook:NAME:KEY` and cleared, with a recovery, when a later poll no longer answers its `key` (default: the title); notified with outbox kind `hook`. A failed run leaves its alerts as they are. `severity` is `info`, `warning` (default), `error` or `critical`. `monitor.disable` does not apply: use `enabled = false`.",
  ],
];

/** docs/hooks.md: what a hook reads, may answer, and how it runs. */
export function renderHooksDoc(): string {
  const lines = [
    '# Hooks',
    '',
    '<!-- Generated from packages/core/src/hooks.ts by `npm run docs`; do not edit. -->',
    '',
    "A hook is a command in `agent-runner.toml` run at one point of the runner's life:",
    '',
    '```toml',
    '[hooks.fetch-task]',
    'on = "pre_round"            # serve_start | pre_round | post_round | dirty_tree | detector',
    'command = ["./scripts/next-task.sh"]',
    'timeout_s = 30',
    'on_failure = "skip_round"   # continue | skip_round | stop',
    'enabled = true',
    'pass_env = []               # secret-named variables it may see',
    '```',
    '',
    "It runs in the work dir, in its own process group, with the agent's environment minus",
    'secret-named variables not listed in `pass_env`, plus `AGENT_RUNNER_HOOK`,',
    '`AGENT_RUNNER_HOOK_EVENT`, `AGENT_RUNNER_PROJECT` and `AGENT_RUNNER_ROUND`. It reads one JSON',
    'document on stdin and may print one JSON object on stdout (logs go to stderr; its last lines',
    `are kept, redacted, in \`hook_failed\`). At \`timeout_s\` its whole group gets SIGTERM, then`,
    `SIGKILL ${KILL_AFTER_TERM_MS / 1000} s later; anything of the group still running when its first process exits is`,
    `killed. More than ${MAX_HOOK_STDOUT / 1024 / 1024} MiB on stdout, a \`context\` of more than ${MAX_CONTEXT_ANSWER / 1024} KiB of JSON, or an answer`,
    'the event does not allow, is a failure naming the hook. A failure does what `on_failure` says: `continue`, `skip_round` (pre_round:',
    'no round now, the next try after `restart_delay_s`, at least 1 s), or `stop` (serve exits 78',
    'and the `config_broken` alarm says which hook). Events: `hook_started`, `hook_finished`,',
    '`hook_failed`, `prompt_overwritten` (docs/events.md). `agent-runner peek` lists them with',
    'their last outcome; `agent-runner hooks test NAME` runs one against the last round and prints',
    'its answer. Examples: `examples/hooks/`.',
    '',
    `## Input (stdin), version ${HOOK_INPUT_VERSION}`,
    '',
    '| Field | Type | Meaning |',
    '|---|---|---|',
    ...INPUT_FIELDS.map(([n, ty, d]) => `| \`${n}\` | ${ty} | ${d} |`),
    '',
    '## Events and answers (stdout)',
    '',
    '| `on` | May answer | When and what for |',
    '|---|---|---|',
    ...ANSWER_DOCS.map(([e, a, d]) => `| \`${e}\` | ${a} | ${d} |`),
    '',
  ];
  return lines.join('\n');
}
