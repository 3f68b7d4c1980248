import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, findConfig, type AgentRunnerConfig } from '@agent-runner/core/config';
import { AgentRunnerError } from '@agent-runner/core/errors';
import type { ServiceMode } from '@agent-runner/core/paths';
import { VERSION } from '@agent-runner/core/version';
import type { CliContext } from '../context.js';
import { out, warn } from '../output.js';
import { execCommand, currentUser, systemctl, type ExecResult } from '../systemd.js';
import { removeDropIn, writeUnitFiles } from '../systemd-files.js';
import {
  parseMeta,
  renderProject,
  selectedUnits,
  targetDropInPath,
  unitDir,
  unitNames,
  unitPathEnv,
  type RenderOptions,
} from '../systemd-render.js';
import type { InstallArgs } from '../verbs/install.js';

/** A passwd entry (getent passwd). */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Looks a user up with `getent passwd` (NSS: local files, LDAP, ...). */
export async function lookupUser(name: string, env: CliContext['env']): Promise<PasswdEntry | undefined> {
  const r = await execCommand('getent', ['passwd', name], { env });
  const f = r.code === 0 ? r.stdout.trim().split(':') : [];
  if (f.length < 7) return undefined;
  return { name: f[0] ?? name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
}

async function groupName(gid: number, env: CliContext['env']): Promise<string> {
  const r = await execCommand('getent', ['group', String(gid)], { env });
  return r.code === 0 ? (r.stdout.split(':')[0] ?? String(gid)) : String(gid);
}

function onPath(exe: string, pathVar: string | undefined): string | undefined {
  if (exe.includes('/')) return existsSync(exe) ? exe : undefined;
  for (const d of (pathVar ?? '').split(':')) if (d && existsSync(join(d, exe))) return join(d, exe);
  return undefined;
}

/**
 * Throws ERR_AR_SYSTEMD quoting the failed command, or ERR_AR_NOPERM when systemd refused for
 * lack of privilege (polkit's "Interactive authentication required", D-Bus "Access denied"):
 * system units are managed as root.
 */
export function mustSucceed(r: ExecResult, what: string): void {
  if (r.code === 0) return;
  if (/Interactive authentication required|Access denied|not authorized/i.test(r.stderr)) {
    throw new AgentRunnerError('ERR_AR_NOPERM', `${what}: systemd refused: this needs root (${r.stderr.trim().split('\n')[0]})`, {
      hint: 'System units are managed as root: run the same command with sudo, e.g. `sudo agent-runner stop --system`.',
    });
  }
  throw new AgentRunnerError(
    'ERR_AR_SYSTEMD',
    `${what} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`,
  );
}

/** Longest a round can take to end gracefully, plus a margin for git hygiene and the ledger. */
export function stopTimeout(cfg: AgentRunnerConfig): number | 'infinity' {
  const rounds = [cfg.runtime.round_timeout_s, ...cfg.phases.map((p) => p.round_timeout_s ?? 0)];
  const longest = Math.max(...rounds);
  if (!Number.isFinite(longest) || longest <= 0) return 'infinity';
  return Math.ceil(longest + cfg.runtime.kill_grace_s + 30);
}

/** The service user of a system-mode install: --run-as, else SUDO_USER, else the caller. */
async function serviceUser(ctx: CliContext, args: InstallArgs): Promise<PasswdEntry> {
  const me = currentUser();
  const name = args['run-as'] ?? ctx.env['SUDO_USER'] ?? me.username;
  const pw = await lookupUser(name, ctx.env);
  if (!pw) throw new AgentRunnerError('ERR_AR_USAGE', `no such user: ${name}`, { hint: 'Pass --run-as with an existing account.' });
  if (pw.uid === 0 && !args['allow-root']) {
    throw new AgentRunnerError('ERR_AR_NOPERM', 'refusing to install units that run the agent as root', {
      hint: 'Run `sudo agent-runner install --system` from the account that should run the agent (sudo sets SUDO_USER), or pass --run-as USER; --allow-root if root is really meant.',
    });
  }
  return pw;
}

/** Linger state of `user` (`loginctl show-user`); false also when the user has no session yet. */
export async function lingerEnabled(user: string, env: CliContext['env']): Promise<boolean> {
  const r = await execCommand('loginctl', ['show-user', user, '--property=Linger', '--value'], { env });
  return r.code === 0 && r.stdout.trim() === 'yes';
}

async function waitForUserManager(uid: number, env: CliContext['env']): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (existsSync(`/run/user/${uid}/bus`)) {
      const r = await systemctl('user', ['is-system-running'], { env, timeoutMs: 5000 });
      if (['running', 'degraded'].includes(r.stdout.trim())) return true;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

/**
 * `agent-runner install [--system] [--bridge] [--watchdog] [--monitor [--monitor-host H]]
 * [--print] [--now]`: renders the unit templates with absolute node and CLI paths, writes them
 * and the project's drop-ins, reloads systemd and enables `agent-runner@<project>.target`
 * (`--now` also starts it). User mode checks lingering (`loginctl show-user`) and enables it,
 * or prints the exact command when that is not allowed. System mode needs root and runs the
 * units as SUDO_USER (or --run-as), never as root unless --allow-root.
 * `--print` writes nothing and prints every file and command instead.
 * @throws AgentRunnerError ERR_AR_NOPERM, ERR_AR_SYSTEMD, config errors (exit 78).
 */
export async function install(ctx: CliContext, args: InstallArgs): Promise<number> {
  const mode: ServiceMode = ctx.mode;
  const me = currentUser();
  if (mode === 'system' && me.uid !== 0 && !args.print) {
    throw new AgentRunnerError('ERR_AR_NOPERM', 'installing system units needs root', {
      hint: 'Run `sudo agent-runner install --system` (add -E if node comes from your PATH).',
    });
  }
  if (mode === 'user' && me.uid === 0 && !args.print && !args['allow-root']) {
    throw new AgentRunnerError('ERR_AR_NOPERM', 'refusing a user-mode install as root', {
      hint: 'Run `agent-runner install` as the account that should run the agent, or `sudo agent-runner install --system` from it.',
    });
  }
  const svc =
    mode === 'system' ? await serviceUser(ctx, args) : { name: me.username, uid: me.uid, gid: me.gid, home: ctx.env['HOME'] ?? me.homedir };
  const group = mode === 'system' ? await groupName(svc.gid, ctx.env) : undefined;

  // The config as the unit will see it: the service user's HOME, no systemd directories.
  const file = findConfig({ explicit: args.config, envPath: ctx.env['AGENT_RUNNER_CONFIG'], cwd: ctx.cwd });
  const cfgEnv = { ...ctx.env, HOME: svc.home, STATE_DIRECTORY: undefined, LOGS_DIRECTORY: undefined };
  const cfg = loadConfig(file, { env: cfgEnv, mode });

  const dir = unitDir(mode, mode === 'system' ? ctx.env : { ...ctx.env, HOME: svc.home });
  const prevFile = targetDropInPath(dir, cfg.project);
  const prev = existsSync(prevFile) ? parseMeta(readFileSync(prevFile, 'utf8')) : undefined;

  const opts: RenderOptions = {
    mode,
    project: cfg.project,
    node: ctx.execPath,
    cli: ctx.binPath,
    configFile: cfg.source,
    workDir: cfg.runtime.work_dir,
    stateDir: cfg.runtime.state_dir,
    writablePaths: [cfg.runtime.state_dir, cfg.runtime.log_dir],
    stopTimeoutS: stopTimeout(cfg),
    path: unitPathEnv(ctx.execPath, onPath(cfg.agent.command[0] ?? '', ctx.env['PATH']), svc.home),
    ...(mode === 'system' ? { user: svc.name, ...(group ? { group } : {}) } : {}),
    bridge: Boolean(args.bridge),
    watchdog: Boolean(args.watchdog),
    monitor: args['monitor-host'] ? args['monitor-host'] : Boolean(args.monitor),
  };
  const target = unitNames(cfg.project).target;
  const sc = mode === 'system' ? '' : ' --user';

  let lingerByUs = prev?.linger_enabled_by_install ?? false;
  const files = (): ReturnType<typeof renderProject> =>
    renderProject(opts, { version: VERSION, ...(lingerByUs ? { linger_enabled_by_install: true } : {}) });

  if (args.print) {
    for (const f of files()) {
      out(ctx, `# ==> ${join(dir, f.rel)} <==`);
      ctx.stdout.write(f.text.endsWith('\n') ? f.text : `${f.text}\n`);
      out(ctx);
    }
    out(ctx, '# then:');
    if (mode === 'user')
      out(ctx, `#   loginctl enable-linger ${svc.name}   (when \`loginctl show-user ${svc.name} --property=Linger\` says no)`);
    out(ctx, `#   systemctl${sc} daemon-reload`);
    out(ctx, `#   systemctl${sc} enable ${target}${args.now ? ' --now' : ''}`);
    return 0;
  }

  if (mode === 'user' && !(await lingerEnabled(svc.name, ctx.env))) {
    const r = await execCommand('loginctl', ['enable-linger', svc.name], { env: ctx.env });
    if (r.code === 0) {
      lingerByUs = true;
      warn(ctx, `enabled lingering for ${svc.name}: the units run without a login session and start at boot`);
    } else {
      warn(ctx, `lingering is off for ${svc.name} and could not be enabled (${r.stderr.trim() || `exit ${r.code}`});`);
      warn(ctx, `without it the units stop at logout and do not start at boot. Run: sudo loginctl enable-linger ${svc.name}`);
    }
  }
  if (mode === 'user' && !(await waitForUserManager(svc.uid, ctx.env))) {
    throw new AgentRunnerError('ERR_AR_SYSTEMD', `no systemd user manager is reachable for ${svc.name} (no /run/user/${svc.uid}/bus)`, {
      hint: `Run \`sudo loginctl enable-linger ${svc.name}\`, log in again (or wait a few seconds), then rerun \`agent-runner install\`.`,
    });
  }

  const written = writeUnitFiles(dir, files());
  for (const w of written) out(ctx, `wrote ${w}`);
  // Units a previous install selected and this one does not: stop them and drop their drop-ins.
  const now = new Set(selectedUnits(opts).map((u) => u.name));
  const gone = (prev?.units ?? []).filter((u) => !now.has(u));
  if (gone.length) {
    await systemctl(mode, ['stop', ...gone], { env: ctx.env });
    for (const u of gone) removeDropIn(dir, u);
  }
  mustSucceed(await systemctl(mode, ['daemon-reload'], { env: ctx.env }), `systemctl${sc} daemon-reload`);
  mustSucceed(await systemctl(mode, ['enable', target], { env: ctx.env }), `systemctl${sc} enable ${target}`);
  out(ctx, `enabled ${target} (${[...now].join(', ')})${mode === 'system' ? `, running as ${svc.name}` : ''}`);
  if (args.now) {
    mustSucceed(await systemctl(mode, ['start', target], { env: ctx.env }), `systemctl${sc} start ${target}`);
    out(ctx, `started ${target}`);
  } else {
    out(
      ctx,
      `start it: ${mode === 'system' ? 'sudo agent-runner start --system' : 'agent-runner start'}   (or: ${mode === 'system' ? 'sudo ' : ''}systemctl${sc} start ${target})`,
    );
  }
  return 0;
}
