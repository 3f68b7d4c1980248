import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** Options of `agent-runner install`. */
const INSTALL_OPTIONS = {
  bridge: { type: 'boolean', default: false, describe: 'Also install agent-runner-bridge@<project>' },
  watchdog: { type: 'boolean', default: false, describe: 'Also install agent-runner-watchdog@<project>' },
  monitor: { type: 'boolean', default: false, describe: 'Also install agent-runner-monitor@<project> (local)' },
  'monitor-host': { type: 'string', describe: 'Install agent-runner-monitor@HOST polling HOST over SSH' },
  print: { type: 'boolean', default: false, describe: 'Print the files and commands; change nothing' },
  now: { type: 'boolean', default: false, describe: 'Start the units after enabling them' },
  'run-as': { type: 'string', describe: 'System mode: the account the units run as (default $SUDO_USER)' },
  'allow-root': { type: 'boolean', default: false, describe: 'Allow units that run the agent as root' },
} as const satisfies OptionTable;

/** Arguments of `agent-runner install` (the mode is the context's: `--system` or AGENT_RUNNER_MODE). */
export type InstallArgs = VerbArgs<typeof INSTALL_OPTIONS>;

/** `agent-runner install`: writes and enables the project's systemd units. */
export const INSTALL_VERB = {
  command: 'install',
  describe: "Install the project's systemd units (user mode, or --system as root) and enable them",
  options: INSTALL_OPTIONS,
  examples: [
    ['sudo $0 install --system --bridge --watchdog', 'System units running as the sudo caller'],
    ['$0 install --print', 'Show the rendered units'],
  ],
  load: async () => (await import('../commands/install.js')).install,
} satisfies VerbDefinition<typeof INSTALL_OPTIONS>;
