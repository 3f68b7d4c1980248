import type { VerbDefinition } from '../verb.js';

/** `agent-runner bridge`: the bridge daemon, what its unit runs (a fast verb, see `fast-path.ts`). */
export const BRIDGE_VERB = {
  command: 'bridge',
  describe: 'Deliver the outbox to chat/webhook/email transports and take operator commands (what the bridge unit runs)',
  epilogue:
    'Exit 0 on SIGTERM; 75 on its restart marker or when another bridge runs. Test a transport with `agent-runner notify test --transport NAME`.',
  load: async () => (await import('../commands/bridge.js')).bridge,
} satisfies VerbDefinition;
