/**
 * `[agent.env]` against the kernel's limits on execve(2): argv and environment together, strings
 * and pointers, may take ARG_MAX (a quarter of the stack limit: 2 MiB with the usual 8 MiB
 * stack), and one string at most MAX_ARG_STRLEN (128 KiB). Past either, every spawn of the
 * agent fails with E2BIG, so `config check` says so instead of `serve` failing each round.
 */
import type { Problem } from './validate.js';
import { quoteCut } from './show.js';

/** Linux MAX_ARG_STRLEN: the longest single argv or environment string, NUL included. */
export const MAX_ENV_ENTRY_BYTES = 128 * 1024;

/**
 * The share of ARG_MAX (2 MiB) that `[agent.env]` may take: half, leaving the other half to
 * the agent's argv (with `prompt_delivery = "argv"`, the whole prompt), the inherited
 * environment and `env_file`.
 */
export const MAX_AGENT_ENV_BYTES = 1024 * 1024;

// Each entry costs its `KEY=VALUE` bytes, a NUL, and an 8-byte pointer in envp.
const entryBytes = (k: string, v: string): number => Buffer.byteLength(k) + 1 + Buffer.byteLength(v) + 1;
const POINTER = 8;

/** Problems of an `[agent.env]` table too large to be passed to a spawned agent. */
export function agentEnvProblems(env: Record<string, string>): Problem[] {
  const problems: Problem[] = [];
  let total = 0;
  let count = 0;
  for (const [k, v] of Object.entries(env)) {
    const n = entryBytes(k, v);
    total += n + POINTER;
    count += 1;
    if (n > MAX_ENV_ENTRY_BYTES && problems.length < 3) {
      problems.push({
        code: 'ERR_AR_CONFIG_INVALID',
        path: ['agent', 'env', k],
        message: `[agent.env] ${quoteCut(k, 40)} is ${Math.ceil(n / 1024)} KiB; one environment variable can be at most 128 KiB (the kernel's MAX_ARG_STRLEN), or the agent cannot be started (E2BIG)`,
        expected: `at most ${MAX_ENV_ENTRY_BYTES} bytes for NAME=VALUE`,
        found: `${n} bytes`,
        hint: 'Put large data in a file the agent reads, not in its environment.',
      });
    }
  }
  if (total > MAX_AGENT_ENV_BYTES) {
    problems.push({
      code: 'ERR_AR_CONFIG_INVALID',
      path: ['agent', 'env'],
      message: `[agent.env] takes ${Math.ceil(total / 1024)} KiB of the agent's environment (${count} variables); at most 1024 KiB, half the kernel's 2 MiB limit for argv and environment (ARG_MAX), or the agent cannot be started (E2BIG)`,
      expected: `at most ${MAX_AGENT_ENV_BYTES} bytes (NAME=VALUE, NUL and pointer per variable)`,
      found: `${total} bytes in ${count} variables`,
      hint: 'Keep [agent.env] to the variables the agent needs; put large data in files.',
    });
  }
  return problems;
}
