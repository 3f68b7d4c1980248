/**
 * Prepares the sandbox the way an operator prepares a host: a service user per project, a git
 * project with agent-runner.toml and a prompt, the agent CLI (here the fake) on PATH, the
 * unit's secrets file, then `agent-runner install --system --bridge --watchdog --monitor
 * --run-as <user>` with the checkout's CLI and `systemctl start agent-runner@<project>.target`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fakeClaudeDir, type FakePlan } from '../fake-claude.js';
import { soakConfig, type NotifyTargets, type SoakSettings } from './config.js';
import type { Run, Sandbox } from './sandbox.js';

/** One soak project inside the sandbox. */
export interface SoakProject {
  /** Project name = its service user's name. */
  name: string;
  home: string;
  /** The git work tree (config and prompt at its root). */
  dir: string;
  configFile: string;
  /** The system-mode state and log directories. */
  stateDir: string;
  logDir: string;
  /** The fake CLI's control directory. */
  ctlDir: string;
  /** The config as installed (the broken-config fault restores it). */
  config: string;
  units: { serve: string; bridge: string; watchdog: string; monitor: string; target: string };
}

/** What {@link setupProject} needs. */
export interface SetupOptions {
  sandbox: Sandbox;
  name: string;
  notify: NotifyTargets;
  /** The accelerated settings of its config. */
  settings: SoakSettings;
  /** Environment lines for /etc/agent-runner/<project>.env (the units' secrets file). */
  secrets?: Record<string, string>;
  /**
   * Mount a tmpfs of this many MiB at the state directory before install. systemd's
   * StateDirectory= keeps an existing mount point as it is and only chowns it to User= and
   * chmods it to StateDirectoryMode= (checked on systemd 252), so the units run on it.
   */
  stateTmpfsMiB?: number;
  /** node and the CLI entry of the checkout (bind-mounted at the same path). */
  node: string;
  cli: string;
}

/** Throws with the command's output when it failed. */
export function must(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

/** Writes `text` at `path` inside the sandbox (from the host, as root). */
export function writeInside(sb: Sandbox, path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(sb.path(path)), { recursive: true });
  writeFileSync(sb.path(path), text, { mode });
}

const PROMPT = '# Soak\n\nImplement the next small item of the backlog in `soak/`, then commit it.\n';

/** Installs the fake Claude CLI as `/usr/local/bin/claude` (the claude preset's `claude`). */
export async function installFakeClaude(sb: Sandbox, node: string, bin: string): Promise<void> {
  writeInside(
    sb,
    '/usr/local/bin/claude',
    `#!/bin/sh\n# The soak's fake Claude Code CLI (packages/testkit/src/fake-claude.ts).\nexec ${node} ${bin} "$@"\n`,
    0o755,
  );
}

/** Creates the user, the project and its units, and starts the project's target. */
export async function setupProject(o: SetupOptions): Promise<SoakProject> {
  const sb = o.sandbox;
  const home = `/home/${o.name}`;
  const p: SoakProject = {
    name: o.name,
    home,
    dir: `${home}/proj`,
    configFile: `${home}/proj/agent-runner.toml`,
    stateDir: `/var/lib/agent-runner/${o.name}`,
    logDir: `/var/log/agent-runner/${o.name}`,
    ctlDir: fakeClaudeDir(home),
    config: soakConfig(o.name, o.notify, o.settings),
    units: {
      serve: `agent-runner@${o.name}.service`,
      bridge: `agent-runner-bridge@${o.name}.service`,
      watchdog: `agent-runner-watchdog@${o.name}.service`,
      monitor: `agent-runner-monitor@${o.name}.service`,
      target: `agent-runner@${o.name}.target`,
    },
  };
  must(await sb.sh(`useradd -m -s /bin/bash ${o.name}`), `useradd ${o.name}`);
  const plan: FakePlan = { default: { scenario: 'success' }, rounds: {} };
  writeInside(sb, `${p.ctlDir}/plan.json`, JSON.stringify(plan));
  writeInside(sb, p.configFile, p.config);
  writeInside(sb, `${p.dir}/PROMPT.md`, PROMPT);
  must(await sb.sh(`chown -R ${o.name}: ${home}`), 'chown');
  must(
    await sb.as(
      o.name,
      [
        'set -e',
        `cd ${p.dir}`,
        'git init -q -b main',
        `git config user.name ${o.name}-agent`,
        `git config user.email ${o.name}@example.invalid`,
        'git add -A',
        'git commit -q -m "soak project"',
      ].join('\n'),
    ),
    'git project',
  );
  if (o.secrets) {
    writeInside(
      sb,
      `/etc/agent-runner/${o.name}.env`,
      Object.entries(o.secrets)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
      0o600,
    );
  }
  if (o.stateTmpfsMiB) {
    must(await sb.sh(`mkdir -p ${p.stateDir} && mount -t tmpfs -o size=${o.stateTmpfsMiB}m,mode=0700 tmpfs ${p.stateDir}`), 'state tmpfs');
  }
  must(
    await sb.sh(`cd ${p.dir} && ${o.node} ${o.cli} install --system --bridge --watchdog --monitor --run-as ${o.name}`),
    `install ${o.name}`,
  );
  must(await sb.sh(`systemctl start ${p.units.target}`), `start ${p.units.target}`);
  return p;
}
