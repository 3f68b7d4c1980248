import { readSecretRef, type NotifyConfig } from '@agent-runner/core/config';
import { SendError } from './send-error.js';

/** The secrets a transport's table names: `bot_token` for its `bot_token_env` / `bot_token_file`. */
export type SecretOf<C extends NotifyConfig> = { [K in keyof C]-?: K extends `${infer W}_env` ? W : never }[keyof C] & string;

/**
 * Reads the secret `what` of a transport at send time (core {@link readSecretRef}:
 * `<what>_file`, else `<what>_env`). Read on every send, so a rotated token is picked up
 * without a restart; never cached, logged or put in an event, and remembered for redaction (an
 * error body echoing it is stored redacted).
 * @param what the secret's key without `_env`/`_file` (one of `cfg`'s pairs: `bot_token` of a Telegram table).
 * @returns the secret, or undefined when `required` is false and none is configured (or only
 *   its variable is unset).
 * @throws SendError (retryable: the operator may still provide it) when it is required and
 *   missing or unreadable; the message names the variable or file, not the value.
 */
export function readSecret<C extends NotifyConfig>(
  cfg: C,
  what: SecretOf<C>,
  env: Record<string, string | undefined>,
  required = true,
): string | undefined {
  const r = readSecretRef(cfg, what, `notify.${cfg.name}`, env);
  if (r === undefined) {
    if (required) throw new SendError(`notify.${cfg.name}: no ${what}_env or ${what}_file configured`, { retryable: false });
    return undefined;
  }
  if ('value' in r) return r.value;
  if (r.unset && !required) return undefined;
  throw new SendError(r.problem, { retryable: true });
}
