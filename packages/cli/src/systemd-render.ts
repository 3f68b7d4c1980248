import { dirname, join } from 'node:path';
import type { ServiceMode } from '@agent-runner/core/paths';
import { TEMPLATES, type UnitKind } from './systemd-templates.js';

/** What the units of one project are rendered from. All paths absolute. */
export interface RenderOptions {
  mode: ServiceMode;
  project: string;
  /** Absolute path of the node binary (`process.execPath` of the installing CLI). */
  node: string;
  /** Absolute path of the CLI entry script (stable across npm upgrades). */
  cli: string;
  /** The project's agent-runner.toml. */
  configFile: string;
  /** `runtime.work_dir`: WorkingDirectory= of every unit. */
  workDir: string;
  /** `runtime.state_dir` as installed: where serve records a config that no longer loads. */
  stateDir: string;
  /** Extra writable paths (state and log dirs when they are outside the defaults). */
  writablePaths: string[];
  /** Seconds: serve's TimeoutStopSec (longest round + kill grace + margin), or `infinity`. */
  stopTimeoutS: number | 'infinity';
  /** PATH for the units (systemd's default PATH lacks npm and user bin dirs). */
  path: string;
  /** System mode: the service user and group (never root unless asked). */
  user?: string;
  group?: string;
  /** Optional units besides serve. */
  bridge: boolean;
  watchdog: boolean;
  /** Install the monitor: `true` for the local project, or a host name for `--host H`. */
  monitor: boolean | string;
}

/** One file install writes. */
export interface RenderedFile {
  /** Path relative to the unit directory. */
  rel: string;
  text: string;
}

/** Install metadata kept as a comment line in the target drop-in (uninstall reads it back). */
export interface InstallMeta {
  project: string;
  mode: ServiceMode;
  units: string[];
  /** The project's agent-runner.toml (upgrade finds the event stream through it). */
  config: string;
  /** `runtime.state_dir` as installed (`status` reads the ledger there when the config is broken). */
  state_dir?: string;
  /** True when install enabled lingering (uninstall disables it again if no project remains). */
  linger_enabled_by_install?: boolean;
  version: string;
}

/** Name of agent-runner's drop-in file inside `<unit>.d/`. */
export const DROP_IN = '50-agent-runner.conf';
const META_PREFIX = '# agent-runner-install: ';

/** Where unit files live: `/etc/systemd/system`, or `$XDG_CONFIG_HOME/systemd/user` (default `~/.config`). */
export function unitDir(mode: ServiceMode, env: Record<string, string | undefined>): string {
  if (mode === 'system') return '/etc/systemd/system';
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(env['HOME'] ?? '/', '.config'), 'systemd', 'user');
}

/**
 * Renders one template for a mode: keeps `;<mode> ` lines (without the marker), drops the
 * other mode's lines, fills `@NODE@` / `@CLI@`.
 */
export function renderTemplate(text: string, mode: ServiceMode, paths: { node: string; cli: string }): string {
  const other = mode === 'system' ? ';user ' : ';system ';
  const mine = `;${mode} `;
  return text
    .split('\n')
    .filter((l) => !l.startsWith(other))
    .map((l) => (l.startsWith(mine) ? l.slice(mine.length) : l))
    .join('\n')
    .replaceAll('@NODE@', quoteArg(paths.node))
    .replaceAll('@CLI@', quoteArg(paths.cli));
}

/** Quotes a word for ExecStart= when it needs it (systemd.service(5) "Command lines"). */
function quoteArg(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Quotes a value of Environment= (the whole assignment is one word). */
function envAssign(name: string, value: string): string {
  return `"${name}=${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Escapes `%` (specifier) in a path written to a unit file. */
function unitPath(p: string): string {
  return p.replaceAll('%', '%%');
}

/** The unit names of a project, by kind (the monitor's instance is the host when given). */
export function unitNames(project: string, monitor: boolean | string = true): Record<UnitKind, string> {
  return {
    serve: `agent-runner@${project}.service`,
    bridge: `agent-runner-bridge@${project}.service`,
    watchdog: `agent-runner-watchdog@${project}.service`,
    monitor: `agent-runner-monitor@${typeof monitor === 'string' ? monitor : project}.service`,
    target: `agent-runner@${project}.target`,
  };
}

/** The service units selected by `opts`, serve first. */
export function selectedUnits(
  opts: Pick<RenderOptions, 'project' | 'bridge' | 'watchdog' | 'monitor'>,
): Array<{ kind: UnitKind; name: string }> {
  const names = unitNames(opts.project, opts.monitor);
  const kinds: UnitKind[] = ['serve'];
  if (opts.bridge) kinds.push('bridge');
  if (opts.watchdog) kinds.push('watchdog');
  if (opts.monitor !== false) kinds.push('monitor');
  return kinds.map((kind) => ({ kind, name: names[kind] }));
}

/** True for a path under /tmp or /var/tmp, which `PrivateTmp=yes` replaces with an empty directory. */
export function underTmp(p: string): boolean {
  return /^\/(var\/)?tmp(\/|$)/.test(p);
}

function serviceDropIn(kind: UnitKind, opts: RenderOptions): string {
  const lines = [
    `# Written by \`agent-runner install\` for project ${opts.project}; \`agent-runner uninstall\` removes it.`,
    '[Service]',
    `WorkingDirectory=${unitPath(opts.workDir)}`,
    `Environment=${envAssign('AGENT_RUNNER_CONFIG', unitPath(opts.configFile))}`,
    // Where the project's state was when installed: a serve whose config no longer loads still
    // records that (and alarms) in the ledger the bridge reads.
    `Environment=${envAssign('AGENT_RUNNER_PROJECT', opts.project)}`,
    `Environment=${envAssign('AGENT_RUNNER_STATE_DIR', unitPath(opts.stateDir))}`,
    // systemd's default PATH lacks the npm global and per-user bin directories agents live in.
    `Environment=${envAssign('PATH', unitPath(opts.path))}`,
  ];
  if (opts.mode === 'system') {
    if (opts.user) lines.push(`User=${opts.user}`);
    if (opts.group) lines.push(`Group=${opts.group}`);
    // ProtectSystem=full leaves most paths writable; these keep the work tree and custom
    // state/log dirs writable even under /usr, /etc or /opt-style read-only mounts.
    const rw = [...new Set([opts.workDir, ...opts.writablePaths])];
    lines.push(`ReadWritePaths=${rw.map((p) => `-${unitPath(p)}`).join(' ')}`);
    if ([opts.node, opts.cli, opts.configFile, ...rw].some(underTmp)) {
      // PrivateTmp= would hide these paths from the unit (a private, empty /tmp): keep the
      // host's /tmp rather than fail to start.
      lines.push('PrivateTmp=no');
    }
  }
  if (kind === 'serve') {
    lines.push(
      '# The longest round (round_timeout_s + kill_grace_s) plus a margin: a graceful stop lets it finish.',
      `TimeoutStopSec=${opts.stopTimeoutS}`,
    );
  }
  if (kind === 'monitor' && typeof opts.monitor === 'string') {
    lines.push(`Environment=${envAssign('AGENT_RUNNER_MONITOR_ARGS', `--host ${opts.monitor}`)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Every file install writes for a project: the five templates and one drop-in per selected
 * unit plus the target's (its Wants= and the install metadata).
 */
export function renderProject(
  opts: RenderOptions,
  meta: Omit<InstallMeta, 'project' | 'mode' | 'units' | 'config' | 'state_dir'>,
): RenderedFile[] {
  const files: RenderedFile[] = [];
  for (const t of Object.values(TEMPLATES)) files.push({ rel: t.file, text: renderTemplate(t.text, opts.mode, opts) });
  const units = selectedUnits(opts);
  for (const u of units) files.push({ rel: join(`${u.name}.d`, DROP_IN), text: serviceDropIn(u.kind, opts) });
  const target = unitNames(opts.project).target;
  const fullMeta: InstallMeta = {
    project: opts.project,
    mode: opts.mode,
    units: units.map((u) => u.name),
    config: opts.configFile,
    state_dir: opts.stateDir,
    ...meta,
  };
  files.push({
    rel: join(`${target}.d`, DROP_IN),
    text: [
      `# Written by \`agent-runner install\`; \`agent-runner uninstall\` removes it.`,
      `${META_PREFIX}${JSON.stringify(fullMeta)}`,
      '[Unit]',
      `Wants=${units.map((u) => u.name).join(' ')}`,
      '',
    ].join('\n'),
  });
  return files;
}

/** Reads the install metadata back from the target drop-in's text; undefined when absent. */
export function parseMeta(dropIn: string): InstallMeta | undefined {
  const line = dropIn.split('\n').find((l) => l.startsWith(META_PREFIX));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice(META_PREFIX.length)) as InstallMeta;
  } catch {
    return undefined; // SyntaxError: a hand-edited drop-in reads as not ours
  }
}

/** Path of a project's target drop-in inside `dir`. */
export function targetDropInPath(dir: string, project: string): string {
  return join(dir, `${unitNames(project).target}.d`, DROP_IN);
}

/**
 * PATH for the units: node's directory, the agent's directory (when found), the service
 * user's `~/.local/bin`, then systemd's default.
 */
export function unitPathEnv(node: string, agentExe: string | undefined, home: string | undefined): string {
  const dirs = [dirname(node)];
  if (agentExe) dirs.push(dirname(agentExe));
  if (home) dirs.push(join(home, '.local', 'bin'));
  dirs.push('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin');
  return [...new Set(dirs)].join(':');
}
