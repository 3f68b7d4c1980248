/**
 * A fast, deterministic stand-in for the Claude Code CLI (`claude -p --output-format
 * stream-json --verbose`) for long end-to-end runs: it replays the real captures of CLI
 * 2.1.330 in packages/runner/test/fixtures/claude/ (so the real claude adapter classifies
 * genuine lines live), paced like the CLI, and does to the work tree what the CLI's tools
 * would (a Write, then a commit as its Bash tool would run it).
 *
 * It is steered through files in `$HOME/.fake-claude/` (the place the real CLI keeps its
 * login is `$HOME/.claude/`), written by whoever drives it:
 * - `plan.json` ({@link FakePlan}): which scenario the round `$AGENT_RUNNER_ROUND` plays;
 * - `logged-out`: while it exists every invocation fails authentication (401), whatever the
 *   plan says; removing it is the "re-login";
 * - `crashing`: while it exists (and the login holds) every invocation crashes at once, as a
 *   CLI broken by a bad update or a missing library does; removing it is the fix;
 * - `journal.jsonl`: appended by the fake, one {@link JournalEntry} when an invocation starts
 *   and one when it finishes its work, so the driver knows what each round really did.
 * The fake decides nothing by itself: same plan, same files, same output.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What an invocation plays. */
export type FakeScenario =
  /** `success-write-tool`: writes `soak/r<round>.txt`, commits it, result with usage and cost. */
  | 'success'
  /** Like success but leaves the file uncommitted: the runner's git hygiene must stash it. */
  | 'dirty'
  /** Like success, spread over `slow_s` seconds (a line each second), the file written first. */
  | 'slow'
  /** Like success, with a burst of `large_bytes` of tool output (`user` tool_result lines). */
  | 'large_output'
  /** `rate-limit-oauth-reset`: a rejected `rate_limit_event` whose `resetsAt` is `reset_s` ahead. */
  | 'rate_limit'
  /** `overloaded-529`: `system/api_retry` 529, the `<synthetic>` error, an error result; exit 1. */
  | 'overloaded'
  /** `auth-401`: `system/api_retry` 401 authentication_failed; exit 1. */
  | 'auth'
  /** Dies at once: a stack trace on stderr, no stream-json, exit 1. */
  | 'crash'
  /** `system/init`, then silence until killed. */
  | 'hang';

/** Every scenario. */
export const FAKE_SCENARIOS: readonly FakeScenario[] = [
  'success',
  'dirty',
  'slow',
  'large_output',
  'rate_limit',
  'overloaded',
  'auth',
  'crash',
  'hang',
];

/** The class the claude adapter must give each scenario's round. */
export const SCENARIO_CLASS: Readonly<Record<FakeScenario, string>> = {
  success: 'ok',
  dirty: 'ok',
  slow: 'ok',
  large_output: 'ok',
  rate_limit: 'rate_limit',
  overloaded: 'overloaded',
  auth: 'auth',
  crash: 'crash',
  hang: 'hang',
};

/** One round's part in the plan. */
export interface PlanEntry {
  scenario: FakeScenario;
  /** rate_limit: seconds from the invocation to `resetsAt` (default 5). */
  reset_s?: number;
  /** slow: seconds the round takes (default 5). */
  slow_s?: number;
  /** large_output: bytes of tool output (default 4 MiB). */
  large_bytes?: number;
}

/** `$HOME/.fake-claude/plan.json`: rounds not listed play `default`. */
export interface FakePlan {
  default: PlanEntry;
  /** By round number (`AGENT_RUNNER_ROUND`). */
  rounds: Record<string, PlanEntry>;
}

/** A line of `journal.jsonl`. */
export interface JournalEntry {
  phase: 'start' | 'end';
  round: number;
  scenario: FakeScenario;
  pid: number;
  /** ms since epoch. */
  at_ms: number;
  /** end: the file the round wrote (work-tree relative) and whether it committed it. */
  file?: string;
  committed?: boolean;
  /** end: the commit's SHA when it committed. */
  sha?: string;
}

/** Where the fake is steered from, under a HOME. */
export function fakeClaudeDir(home: string): string {
  return join(home, '.fake-claude');
}

/** What one invocation needs from its process (the bin passes its own). */
export interface FakeClaudeIo {
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  pid: number;
  /** The prompt read from stdin (the preset delivers it there). */
  stdin: string;
  out: (line: string) => void;
  err: (text: string) => void;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

const CLI_VERSION = '2.1.330';
/** Between replayed lines, ms: the real CLI streams a short turn in about a second. */
const LINE_GAP_MS = 40;
const CAPTURES = fileURLToPath(new URL('../../runner/test/fixtures/claude/', import.meta.url));

/** The lines of capture `name` (`claude-2.1.330-<name>.jsonl`), blank lines dropped. */
export function captureLines(name: string): string[] {
  return readFileSync(join(CAPTURES, `claude-${CLI_VERSION}-${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

/** The plan entry of `round`: the logged-out flag beats the plan. */
export function entryFor(dir: string, round: number): PlanEntry {
  if (existsSync(join(dir, 'logged-out'))) return { scenario: 'auth' };
  if (existsSync(join(dir, 'crashing'))) return { scenario: 'crash' };
  try {
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as FakePlan;
    return plan.rounds[String(round)] ?? plan.default;
  } catch {
    // no plan file (ENOENT) or one being rewritten: the default scenario
    return { scenario: 'success' };
  }
}

/**
 * A capture with this invocation's facts put in: the capture's work tree and session id
 * replaced by this one's, and the per-line edits of `edit` (parsed JSON, returned changed).
 */
function adapt(
  name: string,
  cwd: string,
  session: string,
  edit: (ev: Record<string, unknown>) => Record<string, unknown> = (e) => e,
): string[] {
  const lines = captureLines(name);
  const init = JSON.parse(lines[0] ?? '{}') as { cwd?: string; session_id?: string };
  return lines.map((l) => {
    let s = l;
    if (init.cwd) s = s.split(init.cwd).join(cwd);
    if (init.session_id) s = s.split(init.session_id).join(session);
    return JSON.stringify(edit(JSON.parse(s) as Record<string, unknown>));
  });
}

function git(cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The success capture with its Write aimed at `rel` (content `text`). */
function successLines(cwd: string, session: string, rel: string, text: string): string[] {
  return adapt('success-write-tool', cwd, session, (ev) => {
    const content = (ev['message'] as { content?: Array<Record<string, unknown>> } | undefined)?.content;
    for (const block of content ?? []) {
      if (block['type'] === 'tool_use' && block['name'] === 'Write') block['input'] = { file_path: join(cwd, rel), content: text };
    }
    const raw = JSON.stringify(ev).split('hello.txt').join(rel);
    return JSON.parse(raw) as Record<string, unknown>;
  });
}

/** A `user` tool_result line of about `bytes` characters of tool output. */
function bigToolResult(session: string, i: number, bytes: number): string {
  const chunk = `line ${i} of a large build log: ${'x'.repeat(64)}\n`;
  const text = chunk.repeat(Math.max(1, Math.ceil(bytes / chunk.length))).slice(0, bytes);
  return JSON.stringify({
    type: 'user',
    message: { role: 'user', content: [{ tool_use_id: `toolu_big_${i}`, type: 'tool_result', content: text }] },
    parent_tool_use_id: null,
    session_id: session,
  });
}

/** Writes `rel` in the work tree; commits it unless `commit` is false. */
function doWrite(cwd: string, rel: string, text: string, commit: boolean, round: number): { committed: boolean; sha?: string } {
  mkdirSync(dirname(join(cwd, rel)), { recursive: true });
  writeFileSync(join(cwd, rel), text);
  if (!commit) return { committed: false };
  git(cwd, ['add', '--', rel]);
  git(cwd, ['commit', '-q', '--no-verify', '-m', `round ${round}: ${rel}`, '--', rel]);
  return { committed: true, sha: git(cwd, ['rev-parse', 'HEAD']) };
}

/**
 * Runs one invocation: checks the argv the claude preset passes, reads the plan, replays.
 * @returns the exit status (the hang scenario never returns; it is killed).
 */
export async function fakeClaude(io: FakeClaudeIo): Promise<number> {
  const a = io.argv;
  if (!(a.includes('-p') || a.includes('--print'))) {
    io.err('error: unknown option: this fake only runs as claude -p (print mode)\n');
    return 1;
  }
  if (!a.includes('stream-json') || !a.includes('--verbose')) {
    io.out('Error: When using --print, --output-format=stream-json requires --verbose');
    return 1;
  }
  const home = io.env['HOME'] ?? '/';
  const dir = fakeClaudeDir(home);
  const round = Number(io.env['AGENT_RUNNER_ROUND'] ?? '0');
  const entry = entryFor(dir, round);
  const session = `00000000-0000-4000-8000-${String(round).padStart(12, '0')}`;
  const journal = (e: Omit<JournalEntry, 'round' | 'scenario' | 'pid' | 'at_ms'>): void => {
    mkdirSync(dir, { recursive: true });
    appendFileSync(
      join(dir, 'journal.jsonl'),
      `${JSON.stringify({ ...e, round, scenario: entry.scenario, pid: io.pid, at_ms: io.now() })}\n`,
    );
  };
  journal({ phase: 'start' });
  const replay = async (lines: string[], gapMs = LINE_GAP_MS): Promise<void> => {
    for (const l of lines) {
      io.out(l);
      await io.sleep(gapMs);
    }
  };
  const rel = `soak/r${round}.txt`;
  const text = `round ${round} (${entry.scenario}); prompt ${io.stdin.length} bytes\n`;
  switch (entry.scenario) {
    case 'crash':
      io.err(
        `file:///usr/lib/node_modules/@anthropic-ai/claude-code/cli.js:1\nTypeError: Cannot read properties of undefined (reading 'map')\n    at main (cli.js:1:1)\n`,
      );
      return 1;
    case 'hang':
      io.out(adapt('success-write-tool', io.cwd, session)[0] ?? '');
      for (;;) await io.sleep(3_600_000);
    case 'auth':
      await replay(adapt('auth-401', io.cwd, session));
      return 1;
    case 'overloaded':
      await replay(adapt('overloaded-529', io.cwd, session));
      return 1;
    case 'rate_limit': {
      const resetsAt = Math.floor(io.now() / 1000) + (entry.reset_s ?? 5);
      await replay(
        adapt('rate-limit-oauth-reset', io.cwd, session, (ev) => {
          const info = ev['rate_limit_info'] as { resetsAt?: number; unifiedWindows?: Record<string, { resetsAt?: number }> } | undefined;
          if (info) {
            info.resetsAt = resetsAt;
            for (const w of Object.values(info.unifiedWindows ?? {})) w.resetsAt = resetsAt;
          }
          return ev;
        }),
      );
      return 1;
    }
    case 'slow': {
      const lines = successLines(io.cwd, session, rel, text);
      mkdirSync(dirname(join(io.cwd, rel)), { recursive: true });
      writeFileSync(join(io.cwd, rel), text);
      const steps = Math.max(1, Math.round(entry.slow_s ?? 5));
      for (let i = 0; i < steps; i++) {
        io.out(lines[1] ?? '');
        await io.sleep(1000);
      }
      const w = doWrite(io.cwd, rel, text, true, round);
      await replay(lines.slice(2));
      journal({ phase: 'end', file: rel, ...w });
      return 0;
    }
    default: {
      const lines = successLines(io.cwd, session, rel, text);
      const toolResult = lines.findIndex((l) => l.startsWith('{"type":"user"'));
      await replay(lines.slice(0, toolResult));
      const w = doWrite(io.cwd, rel, text, entry.scenario !== 'dirty', round);
      if (entry.scenario === 'large_output') {
        const total = entry.large_bytes ?? 4 * 1024 * 1024;
        for (let i = 0, sent = 0; sent < total; i++, sent += 65_536) io.out(bigToolResult(session, i, Math.min(65_536, total - sent)));
      }
      await replay(lines.slice(toolResult));
      journal({ phase: 'end', file: rel, ...w });
      return 0;
    }
  }
}
