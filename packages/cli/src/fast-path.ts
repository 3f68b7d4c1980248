import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Options } from 'yargs';
import type { CliContext, GlobalArgs } from './context.js';
import type { ServeArgs } from './commands/serve.js';
import { EVENTS_OPTIONS, GLOBAL_OPTIONS, MONITOR_OPTIONS, PEEK_OPTIONS, ROUND_OPTIONS, SERVE_OPTIONS, type Handler } from './options.js';

/**
 * The verbs a remote monitor runs on every poll (`peek --json && events --json --since T`
 * over SSH) and scripts call in loops, and the verbs the units run for weeks. Importing yargs
 * costs ~90 ms of a cold start (far more on a Raspberry Pi), more than the polled verbs' own
 * work, and ~6.5 MiB of a daemon's private memory for its whole life (12 MiB of RSS), so
 * plain invocations of these verbs are parsed with node's `util.parseArgs` from the same
 * option definitions yargs gets.
 */
export const FAST_VERBS = {
  peek: { options: PEEK_OPTIONS, load: async () => (await import('./commands/peek.js')).peek },
  events: { options: EVENTS_OPTIONS, load: async () => (await import('./commands/events.js')).events },
  serve: { options: SERVE_OPTIONS, load: async () => (await import('./commands/serve.js')).serve },
  round: {
    options: ROUND_OPTIONS,
    load: async () => {
      const { serve } = await import('./commands/serve.js');
      return (c: CliContext, args: ServeArgs) => serve(c, { ...args, 'max-rounds': 1 });
    },
  },
  bridge: { options: {}, load: async () => (await import('./commands/bridge.js')).bridge },
  watchdog: { options: {}, load: async () => (await import('./commands/watchdog.js')).watchdog },
  monitor: { options: MONITOR_OPTIONS, load: async () => (await import('./commands/monitor.js')).monitor },
} satisfies Record<string, { options: Record<string, Options>; load: () => Promise<Handler<never>> }>;

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
export function parseFast(argv: readonly string[]): FastInvocation | undefined {
  const verb = FAST_VERBS[argv[0] as keyof typeof FAST_VERBS] as (typeof FAST_VERBS)[keyof typeof FAST_VERBS] | undefined;
  if (!verb) return undefined;
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
