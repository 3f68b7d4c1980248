import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CLI_BIN, tempProject, type TempProject } from '@agent-runner/testkit/project';

/** A project whose agent is `agent.sh` (a real shell script), generic preset with test patterns. */
export function agentProject(agentScript: string, runtime = '', extra = ''): TempProject & { stateDir: string } {
  const p = tempProject('proj', {
    'agent.sh': `#!/bin/sh\n${agentScript}\n`,
    'PROMPT.md': '---\nnote: stripped\n---\nDo the next step.\n',
    '.gitignore': '/.state/\n',
    'agent-runner.toml': `[agent]
command = ["./agent.sh"]
prompt_delivery = "stdin"
[agent.patterns]
result = ["^RESULT"]
rate_limit = ["^RATE LIMITED"]
auth = ["^AUTH FAILED"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = ".state"
restart_delay_s = 0
kill_grace_s = 1
max_grace_after_result_s = 1
${runtime}
[runtime.backoff]
base_s = 30
max_s = 60
jitter_s = 0
${extra}`,
  });
  return { ...p, stateDir: join(p.dir, '.state') };
}

/** A running `agent-runner serve` child. */
export interface ServeChild {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/** Starts `agent-runner serve ARGS` in the project. */
export function startServe(p: TempProject, args: string[] = []): ServeChild {
  const child = spawn(process.execPath, [CLI_BIN, 'serve', ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, atMs: Date.now() })));
  return { child, stderr: () => err, exited };
}

/** All events of the project, oldest first. */
export function readEvents(stateDir: string): Array<Record<string, unknown>> {
  const dir = join(stateDir, 'logs', 'events');
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
  return files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
}

/** Rows of the ledger's `rounds` table. */
export function readRounds(stateDir: string): Array<Record<string, unknown>> {
  const db = new Database(join(stateDir, 'ledger.sqlite3'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM rounds ORDER BY round').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

/** Waits until `pred` holds (polling), or fails after `timeoutMs`. */
export async function until(pred: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
