import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Options } from 'yargs';
import type { GlobalArgs } from './context.js';
import { EVENTS_OPTIONS, GLOBAL_OPTIONS, PEEK_OPTIONS, type Handler } from './options.js';

/**
 * The verbs a remote monitor runs on every poll (`peek --json && events --json --since T`
 * over SSH) and scripts call in loops. Importing yargs costs ~90 ms of a cold start here (far
 * more on a Raspberry Pi), more than these verbs' own work, so their plain invocations are
 * parsed with node's `util.parseArgs` from the same option definitions yargs gets.
 */
export const FAST_VERBS = {
  peek: { options: PEEK_OPTIONS, load: async () => (await import('./commands/peek.js')).peek },
  events: { options: EVENTS_OPTIONS, load: async () => (await import('./commands/events.js')).events },
} satisfies Record<string, { options: Record<string, Options>; load: () => Promise<Handler<never>> }>;

/** A fast-path invocation: the verb's loader and its arguments as yargs would give them. */
export interface FastInvocation {
  load: () => Promise<Handler<GlobalArgs>>;
  args: GlobalArgs & Record<string, unknown>;
}

/**
 * Parses `argv` (without node and the script) when it is a plain invocation of a fast verb:
 * known options only, each at most once, no positionals. Anything else — `--help`,
 * `--version`, `--no-json`, an unknown or repeated option, a missing value — returns
 * undefined and goes to yargs, which owns help and usage errors. Values go through the
 * option's `coerce`, as yargs does (a numeric option's bad value becomes the usage error the
 * runner reports, see `args.ts`).
 */
export function parseFast(argv: readonly string[]): FastInvocation | undefined {
  const verb = FAST_VERBS[argv[0] as keyof typeof FAST_VERBS] as (typeof FAST_VERBS)[keyof typeof FAST_VERBS] | undefined;
  if (!verb) return undefined;
  const spec: Record<string, Options> = { ...GLOBAL_OPTIONS, ...verb.options };
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, o] of Object.entries(spec)) {
    options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(typeof o.alias === 'string' && o.alias.length === 1 ? { short: o.alias } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options, strict: true, allowPositionals: false, tokens: true });
  } catch {
    return undefined;
  }
  const names = parsed.tokens.filter((t) => t.kind === 'option').map((t) => t.name);
  if (new Set(names).size !== names.length) return undefined;
  const args: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec)) {
    const v = (parsed.values as Record<string, string | boolean | undefined>)[name] ?? o.default;
    if (v !== undefined) args[name] = typeof o.coerce === 'function' ? (o.coerce as (x: unknown) => unknown)(v) : v;
  }
  return { load: verb.load as FastInvocation['load'], args };
}
