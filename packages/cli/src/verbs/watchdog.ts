import type { VerbDefinition } from '../verb.js';

/** `agent-runner watchdog`: the watchdog daemon, what its unit runs (a fast verb, see `fast-path.ts`). */
export const WATCHDOG_VERB = {
  command: 'watchdog',
  describe: 'Judge the runner, bridge and local monitor and heal them through tiers (what the watchdog unit runs)',
  epilogue: 'Exit 0 on SIGTERM; 75 on its restart marker or when another watchdog runs. See `agent-runner heal status`.',
  load: async () => (await import('../commands/watchdog.js')).watchdog,
} satisfies VerbDefinition;
