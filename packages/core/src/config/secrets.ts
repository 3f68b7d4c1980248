import { readFileSync } from 'node:fs';
import { readEnvFile } from '../env-file.js';
import { rememberSecret, rememberSecretsIn } from '../redact.js';
import type { PathEnv } from '../paths.js';
import type { AgentRunnerConfig } from './types.js';
import { irregularFileReason, MAX_CONFIG_BYTES } from './read.js';

// Secrets are tokens and keys: a file past this is not one (and is not read into memory).
const MAX_SECRET_BYTES = 64 * 1024;

/**
 * Remembers (core/redact {@link rememberSecret}) every secret a loaded config gives this
 * process, so redaction replaces their exact values whatever their shape: secret-named
 * variables of `env`, the variables named by `*_env` keys, the contents of `*_file` secrets,
 * every value of `[agent] env_file` and the secret-named entries of `[agent.env]` (notify and
 * monitor secrets via {@link readSecretRef}). A file that cannot be read (or uses
 * `${CREDENTIALS_DIRECTORY}` outside the unit) is skipped here: the code that needs the secret
 * reads it, remembers it and reports what is wrong. So is a file that is not a small regular
 * file: a FIFO would block this read, /dev/zero never end it.
 */
export function rememberConfigSecrets(cfg: AgentRunnerConfig, pathEnv: PathEnv): void {
  // Callers pass the whole environment; PathEnv names only the part the loader places state by.
  const env = pathEnv as Readonly<Record<string, string | undefined>>;
  rememberSecretsIn(env);
  rememberSecretsIn(cfg.agent.env);
  if (cfg.agent.env_file && !irregularFileReason(cfg.agent.env_file, MAX_CONFIG_BYTES)) {
    try {
      rememberSecretsIn(readEnvFile(cfg.agent.env_file), true);
    } catch {
      // Unreadable or malformed: reported by the runner, which reads it every round.
    }
  }
  // Each key on its own: a table naming both a file and a variable has two values to know.
  for (const table of [...cfg.notify, cfg.monitor]) {
    for (const [key, value] of Object.entries(table)) {
      const what = /^(.+)_(?:env|file)$/.exec(key)?.[1];
      if (what) readSecretRef({ [key]: value }, what, '', env);
    }
  }
}

/** What {@link readSecretRef} found: the secret, or why it is not there (no value in the text). */
export type SecretRead = { value: string } | { problem: string; unset: boolean };

/**
 * Reads the secret `what` a config table names: `<what>_file` (takes precedence; a
 * `${CREDENTIALS_DIRECTORY}` placeholder, for systemd `LoadCredential=`, is expanded from
 * `env`; at most 64 KiB, a regular file), else the environment variable named by
 * `<what>_env`. The value is trimmed and remembered for redaction. Never cached: a rotated
 * token is read on the next call.
 * @param table a config table (a `NotifyConfig`, the `MonitorConfig`, or any record of its keys).
 * @param label how messages name the table, e.g. `notify.phone` or `monitor`.
 * @returns undefined when the table names neither key; otherwise the value or a problem whose
 *   text names the file or variable, never a value (`unset` when only the variable is unset).
 */
export function readSecretRef(
  table: object,
  what: string,
  label: string,
  env: Readonly<Record<string, string | undefined>>,
): SecretRead | undefined {
  // `object`, not a record: the config's tables are interfaces, which have no index signature.
  const keys = table as Readonly<Record<string, unknown>>;
  const file = keys[`${what}_file`];
  if (typeof file === 'string') {
    const m = /\$\{?CREDENTIALS_DIRECTORY\}?(.*)$/.exec(file);
    // The loader resolved a relative path against the config dir; the variable part starts at the placeholder.
    if (m && !env['CREDENTIALS_DIRECTORY'])
      return {
        problem: `${label}: ${what}_file ${file}: CREDENTIALS_DIRECTORY is not set (is LoadCredential= in the unit?)`,
        unset: false,
      };
    const path = m ? `${env['CREDENTIALS_DIRECTORY'] ?? ''}${m[1] ?? ''}` : file;
    const why = irregularFileReason(path, MAX_SECRET_BYTES);
    if (why) return { problem: `${label}: ${what}_file ${path} ${why}`, unset: false };
    let v: string;
    try {
      v = readFileSync(path, 'utf8').trim();
    } catch (e) {
      return { problem: `${label}: cannot read ${what}_file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, unset: false };
    }
    rememberSecret(v);
    return v ? { value: v } : { problem: `${label}: ${what}_file ${path} is empty`, unset: false };
  }
  const name = keys[`${what}_env`];
  if (typeof name !== 'string') return undefined;
  const v = env[name]?.trim();
  rememberSecret(v);
  return v ? { value: v } : { problem: `${label}: environment variable ${name} (${what}) is not set`, unset: true };
}
