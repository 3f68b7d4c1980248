import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Options } from 'yargs';
import type { GlobalArgs } from './context.js';
import { GLOBAL_OPTIONS, type Handler } from './options.js';
import type { AnyVerb } from './verb.js';

/** A verb the fast path runs: one that has a handler. */
type FastVerb = AnyVerb & Required<Pick<AnyVerb, 'load'>>;

/** Each fast verb's definition, imported (see {@link FAST_VERBS}). */
const FAST = {
  peek: async () => (await import('./verbs/peek.js')).PEEK_VERB,
  events: async () => (await import('./verbs/events.js')).EVENTS_VERB,
  serve: async () => (await import('./verbs/serve.js')).SERVE_VERB,
  round: async () => (await import('./verbs/round.js')).ROUND_VERB,
  bridge: async () => (await import('./verbs/bridge.js')).BRIDGE_VERB,
  watchdog: async () => (await import('./verbs/watchdog.js')).WATCHDOG_VERB,
  monitor: async () => (await import('./verbs/monitor.js')).MONITOR_VERB,
} satisfies Record<string, () => Promise<FastVerb>>;

/**
 * The verbs a remote monitor runs on every poll (`peek --json && events --json --since T`
 * over SSH) and scripts call in loops, and the verbs the units run for weeks. Importing yargs
 * costs ~90 ms of a cold start (far more on a Raspberry Pi), more than the polled verbs' own
 * work, and ~6.5 MiB of a daemon's private memory for its whole life (12 MiB of RSS), so
 * plain invocations of these verbs are parsed with node's `util.parseArgs` from the same
 * definitions yargs gets (`verbs/VERB.ts`: options and handler; they import no yargs). Each
 * entry imports the verb's definition, so a run loads only its own.
 */
export const FAST_VERBS: Readonly<Record<keyof typeof FAST, () => Promise<FastVerb>>> = FAST;

/** A fast-path invocation: the verb's loader and its arguments as yargs would give them. */
export interface FastInvocation {
  load: () => Promise<Handler<GlobalArgs>>;
  args: GlobalArgs & Record<string, unknown>;
}

/**
 * Parses `argv` (without node and the script) when it is a plain invocation of a fast verb:
 * known options only, each at most once (an array option: any number of times), no
 * positionals, a value among its option's `choices`. Anything else — `--help`, `--version`,
 * `--no-json`, an unknown or repeated option, a missing value — returns undefined and goes
 * to yargs, which owns help and usage errors. Values go through the option's `coerce`, as
 * yargs does (a numeric option's bad value becomes the usage error the runner reports, see
 * `args.ts`).
 */
export async function parseFast(argv: readonly string[]): Promise<FastInvocation | undefined> {
  const name = argv[0];
  // Own names only: `toString` or `__proto__` is no fast verb but yargs' unknown command.
  if (name === undefined || !Object.hasOwn(FAST_VERBS, name)) return undefined;
  const verb: FastVerb = await FAST_VERBS[name as keyof typeof FAST_VERBS]();
  const spec: Record<string, Options> = { ...GLOBAL_OPTIONS, ...verb.options };
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, o] of Object.entries(spec)) {
    options[name] = {
      type: o.type === 'boolean' ? 'boolean' : 'string',
      ...(o.array ? { multiple: true } : {}),
      ...(typeof o.alias === 'string' && o.alias.length === 1 ? { short: o.alias } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    // parseArgs' own usage errors (ERR_PARSE_ARGS_*): yargs reports them in its words.
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw e;
    return undefined;
  }
  const names = parsed.tokens.flatMap((t) => (t.kind === 'option' && !spec[t.name]?.array ? [t.name] : []));
  if (new Set(names).size !== names.length) return undefined;
  const args: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec)) {
    const v = (parsed.values as Record<string, string | boolean | string[] | undefined>)[name] ?? o.default;
    if (o.choices && v !== undefined && !o.choices.includes(v as string)) return undefined;
    if (v !== undefined) args[name] = typeof o.coerce === 'function' ? (o.coerce as (x: unknown) => unknown)(v) : v;
  }
  return { load: verb.load as FastInvocation['load'], args };
}
