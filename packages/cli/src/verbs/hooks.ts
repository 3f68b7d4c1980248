import { JSON_OPTION } from '../options.js';
import type { PositionalTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Positionals of `agent-runner hooks test <name>`. */
const HOOKS_TEST_POSITIONALS = {
  name: { type: 'string', demandOption: true, describe: 'The hook ([hooks.NAME])' },
} as const satisfies PositionalTable;

/** Arguments of `agent-runner hooks test`: `name` as typed (the handler looks it up in [hooks]). */
export type HooksTestArgs = VerbArgs<typeof JSON_OPTION, typeof HOOKS_TEST_POSITIONALS>;

/** `agent-runner hooks test <name>`: runs one hook once and prints its answer. */
const HOOKS_TEST_VERB = {
  command: 'test <name>',
  describe: 'Run one hook once against the last round (no events written) and print its answer; exit 1 when it fails',
  options: JSON_OPTION,
  positionals: HOOKS_TEST_POSITIONALS,
  examples: [['$0 hooks test next-todo', 'What the pre_round hook next-todo answers now']],
  epilogue:
    "The hook gets the input serve (or, for a detector, the monitor) would give it now: the last round from the ledger, the persisted hook context, for pre_round the next round's prompt, for dirty_tree the work dir's dirty files. " +
    'It runs in the work dir under its timeout_s; nothing is recorded. Exit 0: it succeeded; 1: it failed (exit, signal, timeout, could not start, or an answer its event does not allow). Exit 64: no such hook. Exit 78: configuration broken.',
  load: async () => (await import('../commands/hooks.js')).hooksTest,
} satisfies VerbDefinition<typeof JSON_OPTION, typeof HOOKS_TEST_POSITIONALS>;

/** `agent-runner hooks`: lists the configured hooks; `hooks test NAME` runs one. */
export const HOOKS_VERB = {
  command: 'hooks',
  describe: 'List the configured [hooks.NAME] (name, event, enabled, command, timeout); `hooks test NAME` runs one',
  options: JSON_OPTION,
  subcommands: [HOOKS_TEST_VERB],
  epilogue: 'See docs/hooks.md for what each event reads and may answer. Exit 78: configuration broken.',
  load: async () => (await import('../commands/hooks.js')).hooksList,
} satisfies VerbDefinition<typeof JSON_OPTION>;
