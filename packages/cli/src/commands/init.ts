import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { CONFIG_FILE_NAME, parseConfig } from '@agent-runner/core/config';
import { getAdapter } from '@agent-runner/runner/adapters/index';
import type { AgentAdapter } from '@agent-runner/runner/adapters/types';
import type { CliContext } from '../context.js';
import { out, outJson } from '../output.js';
import type { InitArgs } from '../verbs/init.js';

const PROMPT_FILE = 'PROMPT.md';

const STARTER_PROMPT = `---
# Front matter is stripped before the prompt reaches the agent; keep notes for humans here.
purpose: starter prompt written by agent-runner init
---
You are working unattended in this git repository, one round at a time.

Each round:
1. Read NOTES.md (create it if missing) to see where the last round left off.
2. Pick the next small, useful task, do it, and run the project's tests.
3. Commit your work with a clear message, and append one line to NOTES.md.

When there is nothing useful left to do, write a one-line summary to
"$AGENT_RUNNER_LOG_DIR/.agent-done" and stop.
`;

function gitTopLevel(cwd: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    // Exit 128 outside a work tree; a missing git (ENOENT) needs the same first step.
    throw new AgentRunnerError('ERR_AR_NOT_GIT_REPO', `not inside a git work tree: ${cwd}`, {
      hint: "agent-runner keeps the agent's work in git (stash or commit after each round). Run `git init` first, or cd into the project checkout.",
    });
  }
}

const q = (s: string): string => JSON.stringify(s);
const list = (a: string[]): string => `[${a.map(q).join(', ')}]`;

/** The commented agent-runner.toml `init` writes for a preset. */
export function renderInitConfig(adapter: AgentAdapter, stateDir: string | undefined): string {
  const p = adapter.preset;
  const env = Object.entries(p.env);
  return `# agent-runner configuration — reference: docs/configuration.md
# Check it with: agent-runner config check

[agent]
preset = ${q(adapter.name)}
command = ${list(p.command)}
# stdin keeps the prompt out of \`ps\`; argv appends prompt_arg_template.
prompt_delivery = ${q(p.prompt_delivery)}
prompt_arg_template = ${list(p.prompt_arg_template)}
terminal = ${q(p.terminal)}
${env.length ? `env = { ${env.map(([k, v]) => `${k} = ${q(v)}`).join(', ')} }\n` : ''}# Secrets (API keys) go in a 0600 file, never here:
# env_file = "~/.config/agent-runner/{project}.env"

[prompt]
file = ${q(PROMPT_FILE)}

[runtime]
work_dir = "."
${stateDir ? `state_dir = ${q(stateDir)}\n` : ''}restart_delay_s = 5
round_timeout_s = 3600
inactivity_timeout_s = 900
# max_rounds = 10          # bounded run; 0 = no limit
${p.grace_kill_ignore_patterns.length ? `grace_kill_ignore_patterns = ${list(p.grace_kill_ignore_patterns)}\n` : ''}
[vcs]
# stash | commit | ignore: what to do with a dirty work tree after a round
dirty_action = "stash"
`;
}

/** Adds `lines` to the work tree's .gitignore unless present; returns the lines added. */
function addToGitignore(top: string, lines: string[]): string[] {
  const file = join(top, '.gitignore');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const have = new Set(current.split(/\r?\n/).map((l) => l.trim()));
  const missing = lines.filter((l) => !have.has(l));
  if (missing.length) {
    const sep = current === '' || current.endsWith('\n') ? '' : '\n';
    writeFileSync(file, `${current}${sep}# agent-runner state and logs\n${missing.join('\n')}\n`);
  }
  return missing;
}

/**
 * `agent-runner init [--preset NAME] [--force] [--state-dir DIR]`: writes agent-runner.toml and
 * a starter prompt at the top of the current git work tree, and git-ignores state and log
 * directories that live inside it. Refuses outside a git work tree (64) and refuses to
 * overwrite without --force (73).
 */
export function init(ctx: CliContext, args: InitArgs): number {
  const top = gitTopLevel(ctx.cwd);
  const configPath = join(top, CONFIG_FILE_NAME);
  const promptPath = join(top, PROMPT_FILE);
  if (!args.force) {
    for (const f of [configPath, promptPath]) {
      if (existsSync(f)) throw new AgentRunnerError('ERR_AR_FILE_EXISTS', `${f} already exists`, { location: { file: f } });
    }
  }
  const adapter = getAdapter(args.preset);
  const stateDir = args['state-dir'];
  const text = renderInitConfig(adapter, stateDir);
  // Validate what we are about to write with the real loader, so init can never produce a
  // config that `serve` rejects.
  const cfg = parseConfig(text, configPath, { env: ctx.env, mode: ctx.mode, skipFileChecks: true });
  writeFileSync(configPath, text);
  writeFileSync(promptPath, STARTER_PROMPT);
  const inside = [cfg.runtime.state_dir, cfg.runtime.log_dir]
    .map((d) => relative(top, d))
    .filter((r) => r !== '' && !r.startsWith('..') && !isAbsolute(r));
  // The log dir usually lives inside the state dir: ignoring the outer one covers both.
  const outermost = inside.filter((r) => !inside.some((o) => o !== r && r.startsWith(`${o}/`)));
  const ignored = addToGitignore(
    top,
    [...new Set(outermost)].map((r) => `/${r}/`),
  );
  if (args.json) {
    outJson(ctx, {
      ok: true,
      config: configPath,
      prompt: promptPath,
      preset: adapter.name,
      state_dir: cfg.runtime.state_dir,
      log_dir: cfg.runtime.log_dir,
      gitignored: ignored,
    });
    return 0;
  }
  out(ctx, `wrote ${configPath} (preset ${adapter.name})`);
  out(ctx, `wrote ${promptPath}`);
  out(ctx, `state: ${cfg.runtime.state_dir}`);
  out(ctx, `logs:  ${cfg.runtime.log_dir}`);
  if (ignored.length) out(ctx, `added to .gitignore: ${ignored.join(' ')}`);
  const exe = adapter.preset.command[0] ?? '';
  out(ctx, '');
  out(ctx, 'next:');
  out(ctx, `  agent-runner config check        # validate`);
  out(ctx, `  agent-runner doctor              # check this host (${exe} on PATH, state dir, disk)`);
  out(ctx, `  agent-runner serve --max-rounds 1   # one supervised round in the foreground`);
  return 0;
}
