import { numberOption } from '../args.js';
import { JSON_OPTION } from '../options.js';
import type { OptionTable, VerbArgs, VerbDefinition } from '../verb.js';

/** `--port` of `monitor`: a TCP port on 127.0.0.1, 0 = any free port. */
export const PORT_OPTION = {
  port: numberOption(
    'port',
    { integer: true, min: 0, max: 65535, what: 'a port number', note: '0 = any free port' },
    { describe: 'HTTP port on 127.0.0.1 (http mode; with anomaly mode: /metrics and /api/state for the fleet)' },
  ),
} as const satisfies OptionTable;

/** Options of `agent-runner monitor`. */
const MONITOR_OPTIONS = {
  ...JSON_OPTION,
  mode: {
    choices: ['anomaly', 'events', 'http'],
    default: 'anomaly',
    describe: 'anomaly: detectors and alerts; events: every new event as a JSON line; http: progress page on 127.0.0.1',
  },
  host: {
    type: 'string',
    array: true,
    describe:
      'Host to poll: a [monitor.hosts] name or an SSH alias (repeatable: a fleet; default: every [monitor.hosts] table of a monitor config)',
  },
  ...PORT_OPTION,
  'accept-new-host-key': {
    type: 'boolean',
    default: false,
    describe: 'Trust and record the key of a host not yet in known_hosts (a changed key is always refused)',
  },
  'remote-command': {
    type: 'string',
    describe: 'agent-runner command on the hosts, replacing [monitor.hosts] config and remote_command (default monitor.remote_command)',
  },
  'ssh-config': { type: 'string', describe: 'ssh client config file (default ~/.ssh/config)' },
  once: {
    type: 'boolean',
    default: false,
    describe: 'Poll once, print a status line per host, exit 0 healthy, 1 alerts, 69 unreachable, 77 key refused',
  },
} as const satisfies OptionTable;

/** Arguments of `agent-runner monitor`: `host` as given, each possibly a comma-separated list. */
export type MonitorArgs = VerbArgs<typeof MONITOR_OPTIONS>;

/** `agent-runner monitor`: detectors, event stream or HTTP page, here or over SSH (a fast verb, see `fast-path.ts`). */
export const MONITOR_VERB = {
  command: 'monitor',
  describe: 'Watch the runner (here, or on --host ALIAS over SSH): anomaly detectors, event stream, HTTP page and /metrics',
  options: MONITOR_OPTIONS,
  examples: [
    ['$0 monitor --host pi', 'Watch a Pi from a laptop'],
    ['$0 monitor --mode events | jq .kind', 'Follow the event stream'],
    ['$0 monitor --mode http --port 8765', 'Progress page at http://127.0.0.1:8765/'],
  ],
  load: async () => (await import('../commands/monitor.js')).monitor,
} satisfies VerbDefinition<typeof MONITOR_OPTIONS>;
