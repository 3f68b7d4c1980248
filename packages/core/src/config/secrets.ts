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
 * every value of `[agent] env_file` and the secret-named entries of `[agent.env]`. A file that
 * cannot be read (or uses `${CREDENTIALS_DIRECTORY}`, known only to the unit) is skipped here:
 * the code that needs the secret reads it, remembers it and reports what is wrong. So is a
 * file that is not a small regular file: a FIFO would block this read, /dev/zero never end it.
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
      // Reported by the runner, which reads it every round.
    }
  }
  for (const n of cfg.notify) {
    for (const [key, ref] of Object.entries(n)) {
      if (typeof ref !== 'string') continue;
      if (key.endsWith('_env')) rememberSecret(env[ref]);
      else if (key.endsWith('_file') && !ref.includes('$') && !irregularFileReason(ref, MAX_SECRET_BYTES)) {
        try {
          rememberSecret(readFileSync(ref, 'utf8'));
        } catch {
          // Reported by the bridge at send time.
        }
      }
    }
  }
}
