import { JSON_OPTION } from '../options.js';
import type { OptionTable, PositionalTable, VerbArgs, VerbDefinition } from '../verb.js';

/** `agent-runner heal status`: each unit's verdict and heal tier. */
const HEAL_STATUS_VERB = {
  command: 'status',
  describe: "Each unit's verdict, evidence, heal tier and the next action the watchdog may take",
  options: JSON_OPTION,
  load: async () => (await import('../commands/heal.js')).healStatusCmd,
} satisfies VerbDefinition<typeof JSON_OPTION>;

/** Positionals of `agent-runner heal reset <unit>`. */
const HEAL_RESET_POSITIONALS = {
  unit: { type: 'string', demandOption: true, describe: 'runner, bridge or monitor' },
} as const satisfies PositionalTable;

/** Options of `agent-runner heal reset`. */
const HEAL_RESET_OPTIONS = {
  ...JSON_OPTION,
  reason: { type: 'string', demandOption: true, describe: 'Why (recorded in heal_actions)' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner heal reset`: `unit` as typed (the handler checks it is a unit), `reason` required. */
export type HealResetArgs = VerbArgs<typeof HEAL_RESET_OPTIONS, typeof HEAL_RESET_POSITIONALS>;

/** `agent-runner heal reset <unit>`: closes a unit's circuit breaker. */
const HEAL_RESET_VERB = {
  command: 'reset <unit>',
  describe: "Close a unit's circuit breaker (recorded with who and why); the watchdog acts on it again",
  options: HEAL_RESET_OPTIONS,
  positionals: HEAL_RESET_POSITIONALS,
  examples: [['$0 heal reset bridge --reason "fixed the token"', 'Let the watchdog heal the bridge again']],
  load: async () => (await import('../commands/heal.js')).healResetCmd,
} satisfies VerbDefinition<typeof HEAL_RESET_OPTIONS, typeof HEAL_RESET_POSITIONALS>;

/** `agent-runner heal`: the watchdog's heal state (`status`, `reset <unit>`). */
export const HEAL_VERB = {
  command: 'heal',
  describe: "The watchdog's heal state: status, breaker reset",
  subcommands: [HEAL_STATUS_VERB, HEAL_RESET_VERB],
  demandSubcommand: 'heal: give a subcommand (status, reset)',
} satisfies VerbDefinition;
