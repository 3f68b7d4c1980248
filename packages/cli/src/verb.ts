// The shape of a verb definition (`verbs/VERB.ts`). Types only: the definitions import it with
// `import type`, so neither the parser nor the fast path loads anything for it.
import type { InferredOptionType, InferredOptionTypes, Options, PositionalOptions } from 'yargs';
import type { GlobalArgs } from './context.js';
import type { Handler } from './options.js';

/** A verb's options as yargs takes them (`.options(table)`), keyed by long name. */
export type OptionTable = Record<string, Options>;

/** A verb's positionals as yargs takes them (`.positional(name, o)`), in the order of its command string. */
export type PositionalTable = Record<string, PositionalOptions>;

/**
 * The fields yargs gives for options typed `T`: writable (as yargs' object is), and optional
 * where the type admits `undefined` (an option with no default and not demanded is absent
 * when not given).
 */
type Fields<T> = { -readonly [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  -readonly [K in keyof T as undefined extends T[K] ? K : never]?: T[K];
};

/**
 * What the handler of a verb with options `O` and positionals `P` gets: the global options and
 * each of its own, typed as yargs infers them (a `coerce`'s result, a `choices` union, never
 * `undefined` with a default or `demandOption`). Aliases (`-f`) are left out.
 */
export type VerbArgs<O extends OptionTable = Record<never, never>, P extends PositionalTable = Record<never, never>> = GlobalArgs &
  Fields<InferredOptionTypes<O>> &
  Fields<{ [K in keyof P]: InferredOptionType<P[K]> }>;

/** An example of `--help`: the command line (`$0` is the script's name) and what it does. */
export type VerbExample = readonly [command: string, what: string];

/**
 * One verb of the CLI (or one subcommand of a verb) as the parser registers it (`cli.ts`) and
 * the fast path parses it (`fast-path.ts`). `O` and `P` type the handler: `load` must give one
 * that takes {@link VerbArgs}`<O, P>`.
 */
export interface VerbDefinition<O extends OptionTable = Record<never, never>, P extends PositionalTable = Record<never, never>> {
  /** The yargs command: the verb's name, then its positionals (`reset <unit>`, `test <name>`). */
  command: string;
  /** One line: the verb's entry in its parent's `Commands:` list and the head of its own help. */
  describe: string;
  /** Its own options, in `--help` order (the global ones come from the base parser). */
  options?: O;
  /** Its positionals, named as in {@link command}. */
  positionals?: P;
  /** `Examples:` of its help, in order. */
  examples?: readonly VerbExample[];
  /** The paragraph at the end of its help (exit codes, where to read on). */
  epilogue?: string;
  /** Its subcommands, in `--help` order (`heal status`, `heal reset`). */
  subcommands?: readonly AnyVerb[];
  /** When the verb does nothing without a subcommand: the usage error (exit 64) of a bare `VERB`. */
  demandSubcommand?: string;
  /**
   * Imports its handler, only when it runs: handlers import the daemons, SQLite and PTYs, which
   * neither `--help` nor the parser may load. Absent for a verb that only groups subcommands.
   */
  load?: () => Promise<Handler<VerbArgs<O, P>>>;
}

/** A verb whatever its options: what the parser and the fast path take. */
export type AnyVerb = Omit<VerbDefinition<OptionTable, PositionalTable>, 'load'> & { load?: () => Promise<Handler<never>> };
