import { resolve } from 'node:path';
import { configFromData, parseToml, type LoadOptions } from './load.js';
import { KeyLocator } from './locate.js';
import { readConfigSource } from './read.js';
import type { AgentRunnerConfig, MonitorConfig } from './types.js';
import { problemsToError } from './validate.js';

/**
 * What a monitor's config file holds: a project's config (with `[agent]`, `[prompt]`: the
 * project is monitored locally unless hosts are named), or a monitor's own (only `[monitor]`,
 * e.g. `[monitor.hosts.NAME]` on a laptop that runs no project).
 */
export type MonitorConfigFile = { kind: 'project'; cfg: AgentRunnerConfig } | { kind: 'monitor'; monitor: MonitorConfig };

// A monitor's own config goes through the project schema and its normalisation with these
// standing in for the tables a project must have: one schema, one set of messages (file, line,
// did-you-mean) for both kinds. Only `[monitor]` of the result is used.
const PROJECT_STAND_IN = { project: 'monitor', agent: { command: ['true'] }, prompt: { file: 'PROMPT.md' } };

/**
 * Loads `file` as {@link MonitorConfigFile}: a project's config when it has `[agent]` or
 * `[prompt]` (checked as {@link loadConfig} does), else a monitor's own, whose only table is
 * `[monitor]`.
 * @throws AgentRunnerError with exit code 78 as {@link loadConfig} does; ERR_AR_CONFIG_UNKNOWN_KEY
 * for any other top-level key of a monitor's own config.
 */
export function loadMonitorConfig(file: string, opts: LoadOptions): MonitorConfigFile {
  const path = resolve(file);
  const source = readConfigSource(path);
  const data = parseToml(source, path);
  const locator = new KeyLocator(source);
  if ('agent' in data || 'prompt' in data) return { kind: 'project', cfg: configFromData(data, locator, path, opts) };
  const others = Object.keys(data).filter((k) => k !== 'monitor');
  if (others.length) {
    throw problemsToError(
      path,
      locator,
      others.map((k) => ({
        code: 'ERR_AR_CONFIG_UNKNOWN_KEY' as const,
        path: [k],
        message: `\`${k}\` in a monitor's config (no [agent] or [prompt])`,
        expected: "only [monitor] (a project's config needs [agent] and [prompt])",
        found: k,
      })),
    );
  }
  return {
    kind: 'monitor',
    monitor: configFromData({ ...data, ...PROJECT_STAND_IN }, locator, path, { ...opts, skipFileChecks: true }).monitor,
  };
}
