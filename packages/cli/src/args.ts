import { AgentRunnerError, isAgentRunnerError } from '@agent-runner/core/errors';
import { parseSince } from './time.js';

// The one place where the CLI's numeric (and duration) options are checked. Every such option
// is defined with `numberOption` / `sinceOption`: a string option whose `coerce` turns what was
// typed into the value the verb gets, or into the usage error (AgentRunnerError ERR_AR_USAGE,
// exit 64) that names the option, the value and what it takes. The error is returned as the
// option's value rather than thrown: yargs would replace a thrown error by a bare message
// (and the bin would report it as an internal error), and the fast path (`fast-path.ts`)
// applies the same `coerce` without yargs. `rejectInvalid`, called by `runner` before any
// verb is loaded, throws it, so it is reported like every other usage error (`--json`,
// journal line and all).

/** Seconds a timer may wait: a week stays below the 2^31-1 ms one `setTimeout` can wait (as `MAX_DURATION_S` of the config). */
export const MAX_WAIT_S = 7 * 24 * 3600;

/** Upper bound of line and event counts. */
export const MAX_COUNT = 1_000_000;

/** Upper bound of round numbers and round limits (as `runtime.max_rounds`). */
export const MAX_ROUNDS = 1_000_000_000;

/** What a numeric option accepts. */
export interface NumberSpec<W extends string = never> {
  /** Whole numbers only. */
  integer: boolean;
  /** Smallest value accepted. */
  min: number;
  /** Largest value accepted. */
  max: number;
  /** What the number is, for messages and help: `a number of seconds`, `a round number`. */
  what: string;
  /** What a particular value means, e.g. `0 = no limit`. */
  note?: string;
  /** Words accepted as themselves, e.g. `latest`. */
  words?: readonly W[];
}

const thousands = (n: number): string => String(n).replace(/^(\d+)/, (d) => d.replace(/\B(?=(\d{3})+$)/g, ','));

/** What `spec` accepts, in words: `a number of seconds from 0.2 to 3,600`. */
export function expectedText(spec: NumberSpec<string>): string {
  const words = spec.words?.length ? `, or ${spec.words.map((w) => JSON.stringify(w)).join(', ')}` : '';
  return `${spec.what} from ${thousands(spec.min)} to ${thousands(spec.max)}${spec.note ? ` (${spec.note})` : ''}${words}`;
}

function usage(name: string, raw: unknown, reason: string, expected: string): AgentRunnerError {
  const shown = Array.isArray(raw) ? raw.map((r) => JSON.stringify(String(r))).join(', ') : JSON.stringify(String(raw));
  // The message says it all (option, value, expectation) on one line; `expected`/`found` would
  // repeat it under it.
  return new AgentRunnerError('ERR_AR_USAGE', `--${name} ${shown} ${reason}: expected ${expected}`, { key: name });
}

/**
 * Parses the value of `--name` as `spec` says: plain decimal notation only (`12`, `0.5`; not
 * `1e3`, `0x10`, `Infinity` or an empty string), whole when `spec.integer`, within
 * `spec.min`..`spec.max`, or one of `spec.words`.
 * @returns the number (or word), or the usage error naming the option, the value and what it
 *   takes; never throws.
 */
export function parseNumberArg<W extends string = never>(name: string, raw: unknown, spec: NumberSpec<W>): number | W | AgentRunnerError {
  const expected = expectedText(spec);
  if (Array.isArray(raw)) return usage(name, raw, 'is given more than once', expected);
  if (typeof raw === 'number' && Number.isFinite(raw)) raw = String(raw); // a default
  if (typeof raw !== 'string') return usage(name, raw, 'is not a number', expected);
  const text = raw.trim();
  if (text === '') return new AgentRunnerError('ERR_AR_USAGE', `--${name} needs a value: expected ${expected}`, { key: name });
  if ((spec.words as readonly string[] | undefined)?.includes(text)) return text as W;
  if (!/^[+-]?(\d+(\.\d+)?|\.\d+)$/.test(text)) return usage(name, raw, 'is not a number', expected);
  const n = Number(text);
  if (spec.integer && !Number.isInteger(n)) return usage(name, raw, 'is not a whole number', expected);
  if (n < spec.min) return usage(name, raw, n < 0 && spec.min >= 0 ? 'is negative' : 'is too small', expected);
  if (n > spec.max) return usage(name, raw, 'is too large', expected);
  return n;
}

/**
 * The yargs definition of a numeric option `--name`: a string (so the message quotes exactly
 * what was typed, and `-5` is a value, not a flag) that must have a value, and whose `coerce`
 * is {@link parseNumberArg}. The help text ends with what the option accepts. `W` and `D` are
 * inferred from the arguments only (`NoInfer`): an option table's contextual type (`satisfies
 * Record<string, Options>`) would make them `any`, and the verb's args type with them.
 */
export function numberOption<const W extends string = never, D extends number | undefined = undefined>(
  name: string,
  spec: NumberSpec<W>,
  o: { describe: string; default?: D; alias?: string },
): {
  type: 'string';
  requiresArg: true;
  describe: string;
  default: NoInfer<D>;
  alias?: string;
  coerce: (v: unknown) => number | NoInfer<W>;
} {
  return {
    type: 'string',
    requiresArg: true,
    describe: `${o.describe}; ${expectedText(spec)}`,
    // No `default` key unless there is a default: yargs would set the option to undefined.
    ...(o.default !== undefined ? { default: o.default } : ({} as { default: D })),
    ...(o.alias !== undefined ? { alias: o.alias } : {}),
    // Typed as the value: an invalid one never reaches a verb (see rejectInvalid).
    coerce: (v: unknown) => parseNumberArg(name, v, spec) as number | W,
  };
}

/**
 * The yargs definition of `--since` (a duration ago or an ISO time, see `parseSince`):
 * checked when parsed, so a bad or out-of-range value is a usage error before the verb runs;
 * the verb gets the text as typed and resolves it against its own clock.
 */
export function sinceOption(o: { describe: string }): {
  type: 'string';
  requiresArg: true;
  describe: string;
  coerce: (v: unknown) => string;
} {
  return {
    type: 'string',
    requiresArg: true,
    describe: o.describe,
    coerce: (v: unknown) => {
      if (Array.isArray(v)) return usage('since', v, 'is given more than once', 'one duration or ISO time') as unknown as string;
      try {
        parseSince(String(v), Date.now());
        return String(v);
      } catch (e) {
        if (isAgentRunnerError(e)) return e as unknown as string;
        throw e;
      }
    },
  };
}

/**
 * Throws the first usage error an option's `coerce` left in `args` (see the top of this file).
 * @throws AgentRunnerError ERR_AR_USAGE
 */
export function rejectInvalid(args: Record<string, unknown>): void {
  for (const v of Object.values(args)) if (isAgentRunnerError(v)) throw v;
}
