import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { AgentRunnerError } from '../errors.js';
import { assertProjectName, defaultDirs, projectPaths, type PathEnv, type ProjectPaths, type ServiceMode } from '../paths.js';
import { isLoopbackAddress } from '../loopback.js';
import { agentEnvProblems } from './env-limit.js';
import { KeyLocator } from './locate.js';
import { irregularFileReason, isSymlink, MAX_CONFIG_BYTES, readConfigSource } from './read.js';
import { clampLine, showText } from './show.js';
import { rememberConfigSecrets } from './secrets.js';
import { problemsToError, validateSchema, type Problem } from './validate.js';
import { commandProblem, HOOK_FAILURE_DEFAULT } from './hooks.js';
import type { AgentRunnerConfig, HookConfig, NotifyConfig, PhaseConfig, PromptConfig } from './types.js';

// smol-toml's single-file CommonJS build loads in ~4 ms; its ESM build (nine modules) in ~12 ms,
// paid by every cold start of every verb.
const { parse, TomlError } = createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');

/** The config file name `init` writes and discovery looks for. */
export const CONFIG_FILE_NAME = 'agent-runner.toml';

/** What config loading needs from the environment (the bin passes `process.env` and friends). */
export interface LoadOptions {
  /** Environment used for `~`, XDG and systemd directory variables. */
  env: PathEnv;
  /** Service mode; decides the default state and log directories. */
  mode: ServiceMode;
  /** Skip checks of the file system (prompt files exist, work dir exists); for `init`. */
  skipFileChecks?: boolean;
}

/**
 * Finds the config file: an explicit path, else `$AGENT_RUNNER_CONFIG`, else
 * `agent-runner.toml` in `cwd` or its nearest ancestor.
 * @throws AgentRunnerError ERR_AR_CONFIG_NOT_FOUND naming where it looked.
 */
export function findConfig(opts: { explicit?: string | undefined; envPath?: string | undefined; cwd: string }): string {
  const given = opts.explicit ?? opts.envPath;
  if (given) {
    const p = resolve(opts.cwd, given);
    // A dangling or looping symlink "does not exist" to existsSync: the reader says which it is.
    if (!existsSync(p) && !isSymlink(p)) {
      throw new AgentRunnerError('ERR_AR_CONFIG_NOT_FOUND', `config file not found: ${clampLine(p, 200)}`, {
        location: { file: p },
        ...(opts.explicit ? {} : { hint: 'AGENT_RUNNER_CONFIG points at a missing file; fix or unset it.' }),
      });
    }
    return p;
  }
  for (let dir = resolve(opts.cwd); ; dir = dirname(dir)) {
    const p = join(dir, CONFIG_FILE_NAME);
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) break;
  }
  throw new AgentRunnerError('ERR_AR_CONFIG_NOT_FOUND', `no ${CONFIG_FILE_NAME} in ${resolve(opts.cwd)} or any parent directory`);
}

function expandPath(raw: string, base: string, project: string, home: string | undefined): string {
  let p = raw.replace(/\{project\}/g, project);
  if (p === '~' || p.startsWith('~/')) {
    if (!home) throw new AgentRunnerError('ERR_AR_CONFIG_SEMANTIC', `cannot expand ~ in ${showText(raw)}: HOME is not set`);
    p = join(home, p.slice(1));
  }
  return isAbsolute(p) ? resolve(p) : resolve(base, p);
}

function validProjectName(name: string): boolean {
  try {
    assertProjectName(name);
    return true;
  } catch {
    return false; // ERR_AR_USAGE: not a valid project name
  }
}

/**
 * The project name was not written but taken from the work dir's name: say so, and which key
 * to set, since the key the operator would look for is not in the file.
 */
function derivedProjectProblem(name: string, workDir: string, file: string): Problem {
  const suggestion =
    name
      .replace(/[^A-Za-z0-9_.-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 64) || 'my-project';
  return {
    code: 'ERR_AR_CONFIG_INVALID',
    path: ['project'],
    message: `project name ${showText(name, 64)} derived from the directory ${clampLine(workDir, 100)} is invalid; set \`project = ${JSON.stringify(suggestion)}\` in ${clampLine(file, 100)}`,
    expected: '1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit',
    found: showText(name),
    hint: "The project name is the systemd instance and state directory name; without a `project` key it is the work dir's name.",
  };
}

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (v && typeof v === 'object' ? (v as Raw) : {});

/**
 * Reads, validates and normalises an agent-runner.toml.
 *
 * Stages: TOML syntax (smol-toml) → JSON Schema with defaults (ajv, compiled once) →
 * normalisation (paths, project name, derived defaults) → semantic rules (files exist,
 * phases consistent, ...). Each stage reports every problem it finds.
 *
 * Only a regular file of at most 1 MiB is read (a FIFO, directory or device is refused
 * without being opened), and every message is one line that shows values cut and escaped.
 *
 * @throws AgentRunnerError with exit code 78: ERR_AR_CONFIG_NOT_FOUND, ERR_AR_CONFIG_SYNTAX,
 * ERR_AR_CONFIG_UNKNOWN_KEY, ERR_AR_CONFIG_INVALID or ERR_AR_CONFIG_SEMANTIC, each naming
 * the file, line, column and key path where known.
 */
export function loadConfig(file: string, opts: LoadOptions): AgentRunnerConfig {
  const path = resolve(file);
  return parseConfig(readConfigSource(path), path, opts);
}

/** One line of `source` around `column` (1-based), cut to a window and escaped, for syntax errors. */
function excerpt(source: string, line: number, column: number): string {
  let start = 0;
  for (let n = 1; n < line; n++) {
    const nl = source.indexOf('\n', start);
    if (nl === -1) return 'end of file';
    start = nl + 1;
  }
  const end = source.indexOf('\n', start);
  const text = source.slice(start, end === -1 ? undefined : end).replace(/\r$/, '');
  if (text === '') return 'an empty line';
  const from = Math.max(0, Math.min(column - 40, text.length - 80));
  return `${from > 0 ? '…' : ''}${clampLine(text.slice(from), 80)}`;
}

/** {@link loadConfig} on text already read; `path` is used for messages and relative paths. */
export function parseConfig(source: string, path: string, opts: LoadOptions): AgentRunnerConfig {
  return configFromData(parseToml(source, path), new KeyLocator(source), path, opts);
}

/**
 * The TOML document of a config file.
 * @throws AgentRunnerError ERR_AR_CONFIG_SYNTAX with the file, line, column and an excerpt.
 */
export function parseToml(source: string, path: string): Record<string, unknown> {
  try {
    return parse(source) as Raw;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'invalid TOML';
      throw new AgentRunnerError('ERR_AR_CONFIG_SYNTAX', `invalid TOML: ${clampLine(first, 200)}`, {
        location: { file: path, line: e.line, column: e.column },
        found: excerpt(source, e.line, e.column),
      });
    }
    // The parser recurses per dotted-key part and nesting level: thousands overflow the stack.
    const why = e instanceof RangeError ? 'keys or tables nest too deeply' : clampLine((e as Error).message, 200);
    throw new AgentRunnerError('ERR_AR_CONFIG_SYNTAX', `invalid TOML: ${why}`, { location: { file: path }, cause: e });
  }
}

/** The schema, normalisation and semantic checks of a parsed config (see {@link loadConfig}). */
export function configFromData(data: Record<string, unknown>, locator: KeyLocator, path: string, opts: LoadOptions): AgentRunnerConfig {
  validateSchema(path, locator, data);
  const problems: Problem[] = [];
  const cfg = normalise(data, path, opts, problems);
  if (!opts.skipFileChecks) checkFiles(cfg, problems, opts.env);
  if (problems.length) throw problemsToError(path, locator, problems);
  rememberConfigSecrets(cfg, opts.env);
  return cfg;
}

function promptFrom(
  raw: Raw,
  fallback: PromptConfig | undefined,
  at: Array<string | number>,
  resolvePath: (p: string) => string,
  problems: Problem[],
): PromptConfig {
  const hasFile = typeof raw['file'] === 'string';
  const hasFiles = Array.isArray(raw['files']);
  if (hasFile && hasFiles) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: [...at, 'files'],
      message: `\`${at.join('.')}\` has both \`file\` and \`files\``,
      expected: 'exactly one of them',
      found: 'both',
    });
  }
  let files: string[];
  if (hasFiles) files = (raw['files'] as string[]).map(resolvePath);
  else if (hasFile) files = [resolvePath(raw['file'] as string)];
  else if (fallback) files = fallback.files;
  else {
    problems.push({
      code: 'ERR_AR_CONFIG_INVALID',
      path: [...at, 'file'],
      message: `\`${at.join('.')}\` needs \`file\` or \`files\``,
      expected: 'prompt.file = "PROMPT.md" or prompt.files = [...]',
      found: 'neither',
    });
    files = [];
  }
  return {
    files,
    concat_separator: (raw['concat_separator'] as string | undefined) ?? fallback?.concat_separator ?? '\n\n---\n\n',
    strip_front_matter: (raw['strip_front_matter'] as boolean | undefined) ?? fallback?.strip_front_matter ?? true,
  };
}

function normalise(data: Raw, file: string, opts: LoadOptions, problems: Problem[]): AgentRunnerConfig {
  const configDir = dirname(file);
  const home = opts.env.HOME;
  const agent = obj(data['agent']);
  const runtime = obj(data['runtime']);
  const workDirRaw = runtime['work_dir'] as string;
  const workDir = expandPath(workDirRaw.replace(/\{project\}/g, ''), configDir, '', home);
  let project = (data['project'] as string | undefined) ?? basename(workDir);
  if (data['project'] === undefined && !validProjectName(project)) {
    problems.push(derivedProjectProblem(project, workDir, file));
    // A stand-in, so the rest of the config is still checked and every problem reported.
    project = 'invalid-project-name';
  }
  const fromConfig = (p: string): string => expandPath(p, configDir, project, home);
  const fromWork = (p: string): string => expandPath(p, workDir, project, home);

  const dirs = defaultDirs(project, opts.mode, opts.env);
  const stateDir = typeof runtime['state_dir'] === 'string' ? fromConfig(runtime['state_dir']) : dirs.stateDir;
  const logDir =
    typeof runtime['log_dir'] === 'string'
      ? fromConfig(runtime['log_dir'])
      : typeof runtime['state_dir'] === 'string'
        ? join(stateDir, 'logs')
        : dirs.logDir;
  const stopFile =
    typeof runtime['stop_file'] === 'string' ? fromConfig(runtime['stop_file']) : projectPaths(project, stateDir, logDir).stopFile;

  const prompt = promptFrom(obj(data['prompt']), undefined, ['prompt'], fromWork, problems);
  const phasesRaw = obj(data['phases']);
  const list = (phasesRaw['list'] as string[] | undefined) ?? [];
  for (const name of Object.keys(phasesRaw)) {
    if (name !== 'list' && !list.includes(name)) {
      problems.push({
        code: 'ERR_AR_CONFIG_SEMANTIC',
        path: ['phases', name],
        message: `phase \`${name}\` is configured but not in \`phases.list\``,
        expected: `phases.list to include "${name}"`,
        found: JSON.stringify(list),
      });
    }
  }
  const phases: PhaseConfig[] = list.map((name) => {
    const raw = obj(phasesRaw[name]);
    const phase: PhaseConfig = { name, prompt: promptFrom(obj(raw['prompt']), prompt, ['phases', name, 'prompt'], fromWork, problems) };
    for (const k of ['round_timeout_s', 'inactivity_timeout_s', 'max_grace_after_result_s'] as const) {
      if (typeof raw[k] === 'number') phase[k] = raw[k];
    }
    return phase;
  });

  if (agent['prompt_delivery'] === 'argv' && !(agent['prompt_arg_template'] as string[]).some((a) => a.includes('{prompt}'))) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['agent', 'prompt_arg_template'],
      message: '`agent.prompt_arg_template` must contain `{prompt}` when `prompt_delivery = "argv"`',
      expected: 'e.g. ["-p", "{prompt}"]',
      found: JSON.stringify(agent['prompt_arg_template']),
    });
  }
  problems.push(...agentEnvProblems(obj(agent['env']) as Record<string, string>));
  const backoff = obj(runtime['backoff']);
  if ((backoff['max_s'] as number) < (backoff['base_s'] as number)) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['runtime', 'backoff', 'max_s'],
      message: '`runtime.backoff.max_s` is below `runtime.backoff.base_s`',
      expected: `at least ${String(backoff['base_s'])}`,
      found: String(backoff['max_s']),
    });
  }
  const crashLoop = obj(runtime['crash_loop']);
  if ((crashLoop['cooldown_max_s'] as number) < (crashLoop['cooldown_s'] as number)) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['runtime', 'crash_loop', 'cooldown_max_s'],
      message: '`runtime.crash_loop.cooldown_max_s` is below `runtime.crash_loop.cooldown_s`',
      expected: `at least ${String(crashLoop['cooldown_s'])}`,
      found: String(crashLoop['cooldown_max_s']),
    });
  }
  const watchdog = obj(data['watchdog']);
  const staleRunner = obj(watchdog['stale_after_s'])['runner'] as number;
  if (staleRunner <= 2 * (runtime['heartbeat_interval_s'] as number)) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['watchdog', 'stale_after_s', 'runner'],
      message: '`watchdog.stale_after_s.runner` must exceed twice `runtime.heartbeat_interval_s`, or a healthy runner looks stale',
      expected: `more than ${2 * (runtime['heartbeat_interval_s'] as number)}`,
      found: String(staleRunner),
    });
  }

  const monitor = { ...obj(data['monitor']) };
  if (typeof monitor['http_token_file'] === 'string') monitor['http_token_file'] = fromConfig(monitor['http_token_file']);
  if (
    !isLoopbackAddress(monitor['http_bind'] as string) &&
    monitor['http_token_env'] === undefined &&
    monitor['http_token_file'] === undefined
  ) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['monitor', 'http_bind'],
      message: `\`monitor.http_bind = "${String(monitor['http_bind'])}"\` is not loopback: the page would be open to the network`,
      expected: 'monitor.http_token_env or monitor.http_token_file (a bearer token), or a loopback address',
      found: 'no token',
    });
  }
  const notify: NotifyConfig[] = Object.entries(obj(data['notify'])).map(([name, t]) => {
    const table = { ...obj(t) };
    for (const [k, v] of Object.entries(table)) if (k.endsWith('_file') && typeof v === 'string') table[k] = fromConfig(v);
    if (
      table['type'] === 'slack' &&
      (table['bot_token_env'] !== undefined || table['bot_token_file'] !== undefined) &&
      table['channel'] === undefined
    ) {
      problems.push({
        code: 'ERR_AR_CONFIG_SEMANTIC',
        path: ['notify', name, 'channel'],
        message: `\`notify.${name}\` uses a bot token but has no \`channel\``,
        expected: 'a channel id for chat.postMessage',
        found: 'nothing',
      });
    }
    return { name, ...table } as NotifyConfig;
  });

  const hooks: HookConfig[] = Object.entries(obj(data['hooks'])).map(([name, t]) => {
    const h = obj(t) as unknown as Omit<HookConfig, 'name'> & { on_failure?: HookConfig['on_failure'] };
    const onFailure = h.on_failure ?? HOOK_FAILURE_DEFAULT[h.on];
    if (onFailure === 'skip_round' && h.on !== 'pre_round') {
      problems.push({
        code: 'ERR_AR_CONFIG_SEMANTIC',
        path: ['hooks', name, 'on_failure'],
        message: `\`hooks.${name}\` runs on ${h.on}: there is no round to skip`,
        expected: '"continue" or "stop"',
        found: '"skip_round"',
      });
    }
    if (onFailure === 'stop' && h.on === 'detector') {
      problems.push({
        code: 'ERR_AR_CONFIG_SEMANTIC',
        path: ['hooks', name, 'on_failure'],
        message: `\`hooks.${name}\` is a detector (run by the monitor): it cannot stop serve`,
        expected: '"continue"',
        found: '"stop"',
      });
    }
    const [first, ...rest] = h.command;
    const command = first !== undefined && first.includes('/') ? [fromWork(first), ...rest] : [...h.command];
    return { ...h, name, command, on_failure: onFailure };
  });

  const agentOut = { ...agent } as unknown as AgentRunnerConfig['agent'];
  if (typeof agent['env_file'] === 'string') agentOut.env_file = fromConfig(agent['env_file']);
  const runtimeOut = {
    ...runtime,
    work_dir: workDir,
    state_dir: stateDir,
    log_dir: logDir,
    stop_file: stopFile,
  } as unknown as AgentRunnerConfig['runtime'];
  if (typeof runtime['narrative_file'] === 'string') runtimeOut.narrative_file = fromWork(runtime['narrative_file']);
  if (typeof runtime['context_file'] === 'string') runtimeOut.context_file = fromWork(runtime['context_file']);
  if (runtime['context'] === 'file' && runtimeOut.context_file === undefined) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['runtime', 'context'],
      message: '`runtime.context = "file"` needs `runtime.context_file`',
      expected: 'a path',
      found: 'nothing',
    });
  }

  return {
    source: file,
    project,
    agent: agentOut,
    runtime: runtimeOut,
    prompt,
    phases,
    vcs: data['vcs'] as AgentRunnerConfig['vcs'],
    monitor: {
      ...(monitor as unknown as AgentRunnerConfig['monitor']),
      supervisor_stale_threshold_s:
        (monitor['supervisor_stale_threshold_s'] as number | undefined) ?? 1.5 * (runtime['round_timeout_s'] as number),
    },
    bridge: data['bridge'] as AgentRunnerConfig['bridge'],
    notify,
    hooks,
    watchdog: watchdog as unknown as AgentRunnerConfig['watchdog'],
  };
}

function checkFiles(cfg: AgentRunnerConfig, problems: Problem[], env: PathEnv): void {
  const wd = cfg.runtime.work_dir;
  if (!existsSync(wd) || !statSync(wd).isDirectory()) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['runtime', 'work_dir'],
      message: `work dir does not exist: ${wd}`,
      expected: 'an existing directory',
      found: 'nothing there',
    });
  }
  // The runner reads these every round: a FIFO there would block it, a device stream forever.
  const check = (files: string[], at: Array<string | number>): void => {
    files.forEach((f, i) => {
      if (!existsSync(f))
        problems.push({
          code: 'ERR_AR_CONFIG_SEMANTIC',
          path: at.concat(i),
          message: `prompt file does not exist: ${f}`,
          expected: 'a readable file',
          found: 'nothing there',
        });
      else notRegular('prompt file', f, Infinity, at.concat(i));
    });
  };
  const notRegular = (what: string, f: string, maxBytes: number, at: Array<string | number>): void => {
    const why = irregularFileReason(f, maxBytes);
    if (why)
      problems.push({
        code: 'ERR_AR_CONFIG_SEMANTIC',
        path: at,
        message: `${what} ${f} ${why}`,
        expected: 'a regular file',
        found: why.replace(/^is /, ''),
      });
  };
  check(cfg.prompt.files, ['prompt', 'files']);
  for (const ph of cfg.phases) if (ph.prompt !== cfg.prompt) check(ph.prompt.files, ['phases', ph.name, 'prompt', 'files']);
  if (cfg.agent.env_file && !existsSync(cfg.agent.env_file)) {
    problems.push({
      code: 'ERR_AR_CONFIG_SEMANTIC',
      path: ['agent', 'env_file'],
      message: `env file does not exist: ${cfg.agent.env_file}`,
      expected: 'a readable file',
      found: 'nothing there',
    });
  } else if (cfg.agent.env_file) notRegular('env file', cfg.agent.env_file, MAX_CONFIG_BYTES, ['agent', 'env_file']);
  for (const h of cfg.hooks) {
    const why = h.enabled && h.command[0] !== undefined ? commandProblem(h.command[0], env.PATH) : undefined;
    if (why)
      problems.push({
        code: 'ERR_AR_CONFIG_SEMANTIC',
        path: ['hooks', h.name, 'command'],
        message: `hook ${h.name}: ${why}`,
        expected: 'an executable file',
        found: 'command not found',
      });
  }
}

/** The project's file layout as the config places it. */
export function configPaths(cfg: AgentRunnerConfig): ProjectPaths {
  return projectPaths(cfg.project, cfg.runtime.state_dir, cfg.runtime.log_dir, cfg.runtime.stop_file);
}
