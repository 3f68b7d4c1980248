import { readFileSync } from 'node:fs';
import type { NotifyConfig } from '@agent-runner/core/config';
import { rememberSecret } from '@agent-runner/core/redact';
import { SendError } from './send-error.js';

/**
 * Reads the secret `what` of a transport at send time: `<what>_file` (takes precedence; for
 * systemd `LoadCredential=`, `${CREDENTIALS_DIRECTORY}` in the path is expanded from `env`),
 * else the environment variable named by `<what>_env`. Read on every send, so a rotated token
 * is picked up without a restart; never cached, logged or put in an event, and remembered for
 * redaction (an error body echoing it is stored redacted).
 * @returns the secret, or undefined when `required` is false and none is configured.
 * @throws SendError (retryable: the operator may still provide it) when it is required and
 *   missing or unreadable; the message names the variable or file, not the value.
 */
export function readSecret(cfg: NotifyConfig, what: string, env: Record<string, string | undefined>, required = true): string | undefined {
  const file = cfg[`${what}_file`];
  if (typeof file === 'string') {
    const path = expandCredentials(file, env);
    try {
      const v = readFileSync(path, 'utf8').trim();
      rememberSecret(v);
      if (v) return v;
    } catch (e) {
      throw new SendError(`notify.${cfg.name}: cannot read ${what}_file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { retryable: true });
    }
    throw new SendError(`notify.${cfg.name}: ${what}_file ${path} is empty`, { retryable: true });
  }
  const name = cfg[`${what}_env`];
  if (typeof name === 'string') {
    const v = env[name]?.trim();
    rememberSecret(v);
    if (v) return v;
    if (required) throw new SendError(`notify.${cfg.name}: environment variable ${name} (${what}) is not set`, { retryable: true });
    return undefined;
  }
  if (required) throw new SendError(`notify.${cfg.name}: no ${what}_env or ${what}_file configured`, { retryable: false });
  return undefined;
}

function expandCredentials(path: string, env: Record<string, string | undefined>): string {
  // The config loader resolved a relative path against the config dir; the variable part
  // starts where the placeholder is.
  const m = /\$\{?CREDENTIALS_DIRECTORY\}?(.*)$/.exec(path);
  if (!m) return path;
  const dir = env['CREDENTIALS_DIRECTORY'];
  if (!dir) throw new SendError(`${path}: CREDENTIALS_DIRECTORY is not set (is LoadCredential= in the unit?)`, { retryable: true });
  return `${dir}${m[1] ?? ''}`;
}
