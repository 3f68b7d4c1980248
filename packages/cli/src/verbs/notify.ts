import { JSON_OPTION } from '../options.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner notify test`. */
const NOTIFY_TEST_OPTIONS = {
  ...JSON_OPTION,
  transport: { type: 'string', describe: 'Only this [notify.NAME] (default: every enabled transport)' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner notify test`: `transport` a [notify.NAME] (checked by the handler). */
export type NotifyTestArgs = VerbArgs<typeof NOTIFY_TEST_OPTIONS>;

/** `agent-runner notify test`: queues a test notification. */
const NOTIFY_TEST_VERB = {
  command: 'test',
  describe: 'Queue a test notification; the running bridge delivers it',
  options: NOTIFY_TEST_OPTIONS,
  load: async () => (await import('../commands/notify.js')).notifyTest,
} satisfies VerbDefinition<typeof NOTIFY_TEST_OPTIONS>;

/** `agent-runner notify`: groups the notification subcommands (`test`). */
export const NOTIFY_VERB = {
  command: 'notify',
  describe: 'Notifications',
  subcommands: [NOTIFY_TEST_VERB],
  demandSubcommand: 'notify: give a subcommand (test)',
} satisfies VerbDefinition;
