// Shared harness of the real-CLI end-to-end tests: a round of a REAL agent CLI through the
// runner's own path — spawnAgent (pipe terminal, stdout+stderr as one stream, own session and
// process group, prompt per the adapter preset) and superviseRound (classifier fed line by
// line, fatal kill, grace after the result, timeouts) — with every line and live signal
// time-stamped so tests can measure "first failure line -> process group gone".
import { groupStates, killMarked } from '@agent-runner/testkit/procs';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnAgent } from '../src/agent-process.js';
import { superviseRound, type SuperviseEventKind, type SuperviseLimits, type SuperviseResult } from '../src/supervise.js';
import type { AgentAdapter, Classifier, LiveSignal } from '../src/adapters/types.js';

/** Environment variable naming the directory that holds the `codex` / `gemini` binaries. */
export const CLIS_DIR_ENV = 'AR_AGENT_CLIS_DIR';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Absolute path of an agent CLI binary: `$AR_AGENT_CLIS_DIR/<name>`, else the repo's
 * `.cache/agent-clis/node_modules/.bin/<name>` (where scripts/ci/agents.sh installs them).
 * @returns the path, or a reason it is unusable.
 */
export function agentCliBin(name: 'codex' | 'gemini', env: NodeJS.ProcessEnv = process.env): { bin?: string; why?: string } {
  const dir = env[CLIS_DIR_ENV] ?? join(repoRoot, '.cache/agent-clis/node_modules/.bin');
  const bin = join(dir, name);
  if (existsSync(bin)) return { bin };
  return { why: `${bin} not found: run scripts/ci/agents.sh (installs the pinned CLI into .cache/agent-clis) or set ${CLIS_DIR_ENV}` };
}

/** One line as the classifier saw it. */
export interface SeenLine {
  text: string;
  lineNo: number;
  atMs: number;
}

/** A live signal and when the classifier returned it. */
export interface SeenSignal {
  line: number;
  atMs: number;
  signal: LiveSignal;
}

/** Options of {@link runRealRound}. */
export interface RealRoundOptions {
  adapter: AgentAdapter;
  /** Full argv, argv[0] an absolute path. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  prompt: string;
  /** Overrides of the test defaults (30 s round, 20 s inactivity, 10 s grace after the result, 500 ms kill grace). */
  limits?: Partial<SuperviseLimits>;
}

/** What a real round produced. */
export interface RealRound {
  result: SuperviseResult;
  lines: SeenLine[];
  signals: SeenSignal[];
  events: { kind: SuperviseEventKind; payload: Record<string, unknown>; atMs: number }[];
  pgid: number;
  startedAtMs: number;
  /** When superviseRound resolved: the agent exited and its group is gone (or killed). */
  endedAtMs: number;
}

/** Wraps a classifier to record what it was fed and what it returned, with times. */
export function recordingClassifier(inner: Classifier, lines: SeenLine[], signals: SeenSignal[], now: () => number = Date.now): Classifier {
  return {
    line(text, lineNo) {
      const atMs = now();
      lines.push({ text, lineNo, atMs });
      const s = inner.line(text, lineNo);
      if (s) signals.push({ line: lineNo, atMs, signal: s });
      return s;
    },
    finish: (outcome) => inner.finish(outcome),
  };
}

/** Runs one round of a real CLI the way the runner does, and resolves once its group is gone. */
export async function runRealRound(o: RealRoundOptions): Promise<RealRound> {
  const lines: SeenLine[] = [];
  const signals: SeenSignal[] = [];
  const events: RealRound['events'] = [];
  const preset = o.adapter.preset;
  const startedAtMs = Date.now();
  const handle = await spawnAgent({
    argv: o.argv,
    cwd: o.cwd,
    env: o.env,
    delivery: preset.prompt_delivery === 'stdin' ? { mode: 'stdin' } : { mode: 'argv', template: preset.prompt_arg_template },
    prompt: o.prompt,
    terminal: 'pipe',
  });
  const result = await superviseRound({
    handle,
    classifier: recordingClassifier(o.adapter.createClassifier(), lines, signals),
    startedAtMs,
    limits: {
      roundTimeoutMs: 30_000,
      inactivityTimeoutMs: 20_000,
      graceAfterResultMs: 10_000,
      killGraceMs: 500,
      ignorePatterns: preset.grace_kill_ignore_patterns.map((p) => new RegExp(p)),
      groupPollMs: 20,
      ...o.limits,
    },
    onEvent: (kind, payload) => events.push({ kind, payload, atMs: Date.now() }),
    kill: (pid, signal) => process.kill(pid, signal),
  });
  if (process.env['AR_REAL_CLI_DEBUG']) {
    process.stderr.write(
      `--- ${o.argv[0]} pgid ${handle.pgid} ${result.verdict.summary}\n${lines.map((l) => `${l.lineNo}: ${l.text.slice(0, 300)}`).join('\n')}\n`,
    );
  }
  const endedAtMs = Date.now();
  handle.dispose();
  return { result, lines, signals, events, pgid: handle.pgid, startedAtMs, endedAtMs };
}

/** True while the group has a member that is not a zombie. */
export function groupAlive(pgid: number): boolean {
  return groupStates(pgid).some((s) => s !== 'Z');
}

/**
 * Starts `fn` for every case with at most `concurrency` running at once; each entry of the
 * returned map resolves with its own case's result.
 */
export function runPool<C, R>(
  cases: Record<string, C>,
  concurrency: number,
  fn: (c: C, name: string) => Promise<R>,
): Map<string, Promise<R>> {
  let running = 0;
  const waiters: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    if (running >= concurrency) await new Promise<void>((r) => waiters.push(r));
    running++;
  };
  const release = (): void => {
    running--;
    waiters.shift()?.();
  };
  const out = new Map<string, Promise<R>>();
  for (const [name, c] of Object.entries(cases)) {
    const p = (async () => {
      await slot();
      try {
        return await fn(c, name);
      } finally {
        release();
      }
    })();
    p.catch(() => undefined);
    out.set(name, p);
  }
  return out;
}

/** Guard environment: any HTTP(S) request not meant for 127.0.0.1 fails locally. */
export const OFFLINE_PROXY_ENV: Record<string, string> = {
  HTTPS_PROXY: 'http://127.0.0.1:9',
  HTTP_PROXY: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '127.0.0.1,localhost',
  no_proxy: '127.0.0.1,localhost',
};

export { groupStates, killMarked };
