/**
 * Runs the real Claude Code CLI (the pinned `@anthropic-ai/claude-code` devDependency)
 * against a local Messages API stub, offline, for tests and fixture captures.
 *
 * Environment, as established against CLI 2.1.330 (strace of its connect(2) calls):
 * - `ANTHROPIC_BASE_URL` points every API call at the stub (the only connection it makes);
 * - `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` is required to keep it off the network:
 *   without it the CLI resolves api.anthropic.com for side traffic;
 * - `IS_SANDBOX=1` lets `--dangerously-skip-permissions` run as root (CI runs as root);
 * - `CLAUDE_CODE_MAX_RETRIES` bounds internal retries (0 allowed; default 10 over minutes);
 * - `HOME` is a fresh directory so no real login, settings or history are read or written;
 * - `ANTHROPIC_API_KEY` or `CLAUDE_CODE_OAUTH_TOKEN` (the CLI emits `rate_limit_event`
 *   lines only for OAuth logins).
 * `DISABLE_AUTOUPDATER=1` made no observable difference but is set for certainty.
 * As a guard, `HTTP(S)_PROXY` point at a closed local port with `NO_PROXY=127.0.0.1,localhost`:
 * the CLI honours them, so any HTTP request not meant for the stub fails locally.
 */
import { spawn } from 'node:child_process';
import { killTree } from './procs.js';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repo's `node_modules/.bin/claude`, or undefined when not installed. */
export function claudeBin(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'node_modules', '.bin', 'claude');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  return undefined;
}

/** Options of {@link runClaude}. */
export interface RunClaudeOptions {
  bin: string;
  /** Stub base URL, e.g. `http://127.0.0.1:43117`. */
  baseUrl: string;
  /** Working directory (a git work tree). */
  cwd: string;
  /** A fresh HOME for the CLI. */
  home: string;
  prompt: string;
  /** `api-key` (default) or `oauth` (enables `rate_limit_event` lines). */
  auth?: 'api-key' | 'oauth';
  /** CLAUDE_CODE_MAX_RETRIES; default 1. */
  maxRetries?: number;
  /** Extra environment. */
  env?: Record<string, string>;
  /**
   * Called per complete stdout line (1-based number). Return `'kill'` to end the CLI's
   * process group at once (SIGKILL).
   */
  onLine?: (text: string, lineNo: number, atMs: number) => 'kill' | void;
  /** Called once the CLI is spawned, with its pid (= its process group id). */
  onSpawn?: (pid: number) => void;
  /** Wall-clock limit; the group is killed after it. Default 60 s. */
  timeoutMs?: number;
  /** Clock, ms. */
  now?: () => number;
}

/** What a {@link runClaude} run produced. */
export interface ClaudeRun {
  lines: string[];
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  startedAtMs: number;
  endedAtMs: number;
  /** Set when the run was ended by `onLine` or by the timeout. */
  killedBy?: 'onLine' | 'timeout';
  pid: number;
}

/**
 * Spawns `claude -p PROMPT --output-format stream-json --verbose --dangerously-skip-permissions`
 * in its own process group with pipes, and resolves when it has exited.
 */
export function runClaude(o: RunClaudeOptions): Promise<ClaudeRun> {
  const now = o.now ?? Date.now;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: o.home,
    ANTHROPIC_BASE_URL: o.baseUrl,
    CLAUDE_CODE_MAX_RETRIES: String(o.maxRetries ?? 1),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    IS_SANDBOX: '1',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    HTTP_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
    ...(o.auth === 'oauth' ? { CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat01-stub-token' } : { ANTHROPIC_API_KEY: 'sk-ant-stub-key' }),
    ...o.env,
  };
  const args = ['-p', o.prompt, '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions'];
  const startedAtMs = now();
  const child = spawn(o.bin, args, { cwd: o.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid ?? -1;
  o.onSpawn?.(pid);
  const lines: string[] = [];
  let stderr = '';
  let buf = '';
  let killedBy: ClaudeRun['killedBy'];
  const killGroup = (why: 'onLine' | 'timeout'): void => {
    if (killedBy || pid <= 0) return;
    killedBy = why;
    killTree(pid);
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      lines.push(line);
      if (o.onLine?.(line, lines.length, now()) === 'kill') killGroup('onLine');
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr += c;
  });
  const timer = setTimeout(() => killGroup('timeout'), o.timeoutMs ?? 60_000);
  return new Promise((resolveRun, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (buf) {
        lines.push(buf);
        o.onLine?.(buf, lines.length, now());
      }
      // Make sure nothing of the group is left (Bash tool commands run in their own
      // sessions and are not reached by this; see the adapter notes).
      try {
        if (pid > 0) process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      const run: ClaudeRun = { lines, stderr, exitCode, signal, startedAtMs, endedAtMs: now(), pid };
      if (killedBy) run.killedBy = killedBy;
      resolveRun(run);
    });
  });
}
