/**
 * The JSON Schema (draft-07, as ajv 8 compiles it) of `agent-runner.toml`. It is the single
 * source of the accepted keys, their types, ranges and defaults; `docs/configuration.md` is
 * generated from it. Keys are stable: a key is never renamed (a rename would break every
 * deployed config); new keys may be added.
 *
 * Vocabulary beyond draft-07: `x-path` (the string is a path: `~` and `{project}` are expanded
 * and a relative path is resolved against the config file's directory, or the work dir where
 * `x-path` is `"work_dir"`), `x-secret` (never printed), `x-unit` (unit for docs).
 */

type Schema = Record<string, unknown>;

/**
 * Upper bound of every duration: a week. Nothing agent-runner waits for needs longer, a typo
 * (`0x7FFFFFFF`) is caught at `config check` instead of a `serve` that sleeps for decades, and
 * a week in ms (6.048e8) stays below the 2^31-1 ms that one timer can wait.
 */
export const MAX_DURATION_S = 7 * 24 * 3600;

/** Upper bound of counts (rounds kept, attempts, thresholds) unless a key sets its own. */
export const MAX_COUNT = 1_000_000;

/** Upper bound of money amounts (budgets), in USD. */
const MAX_USD = 1_000_000;

/** Upper bound of byte sizes (retention caps): 1 TiB. */
const MAX_BYTES = 2 ** 40;

/** NUL-free text: argv, environment entries and paths cannot carry a NUL (spawn and open throw). */
export const NO_NUL = '^[^\\u0000]*$';

const seconds = (description: string, def: number | undefined, min = 0, extra: Schema = {}): Schema => ({
  type: 'number',
  minimum: min,
  maximum: MAX_DURATION_S,
  description,
  'x-unit': 's',
  ...(def === undefined ? {} : { default: def }),
  ...extra,
});

const int = (description: string, def: number | undefined, min = 0, extra: Schema = {}): Schema => ({
  type: 'integer',
  minimum: min,
  maximum: MAX_COUNT,
  description,
  ...(def === undefined ? {} : { default: def }),
  ...extra,
});

const path = (description: string, base: 'config' | 'work_dir' = 'config', def?: string): Schema => ({
  type: 'string',
  minLength: 1,
  pattern: NO_NUL,
  description,
  'x-path': base,
  ...(def === undefined ? {} : { default: def }),
});

const regexList = (description: string): Schema => ({
  type: 'array',
  items: { type: 'string', format: 'regex' },
  default: [],
  description,
});

const promptSpec = (withDefaults: boolean): Schema => ({
  type: 'object',
  additionalProperties: false,
  description: 'Which files make the prompt.',
  properties: {
    file: path('One prompt file (use `file` or `files`, not both).', 'work_dir'),
    files: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', minLength: 1, pattern: NO_NUL, 'x-path': 'work_dir' },
      description: 'Prompt files concatenated in order with `concat_separator`.',
    },
    concat_separator: {
      type: 'string',
      description: 'Put between concatenated prompt files.',
      ...(withDefaults ? { default: '\n\n---\n\n' } : {}),
    },
    strip_front_matter: {
      type: 'boolean',
      description: 'Strip YAML front matter (`---` ... `---`) from the first file.',
      ...(withDefaults ? { default: true } : {}),
    },
  },
});

const PHASE_NAME = '^(?!list$)[a-z][a-z0-9_-]{0,31}$';

/** When a hook runs (`[hooks.NAME] on`). */
export const HOOK_EVENTS = ['serve_start', 'pre_round', 'post_round', 'dirty_tree', 'detector'] as const;

/** The agent CLIs agent-runner has an adapter for (`agent.preset`); the one list of them. */
export const AGENT_PRESETS = ['claude', 'codex', 'gemini', 'aider', 'generic'] as const;

/** One of {@link AGENT_PRESETS}. */
export type PresetName = (typeof AGENT_PRESETS)[number];

/** Event severities, lowest first; used by notification routing. */
export const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'] as const;

/** One of {@link SEVERITIES}. */
export type SeverityName = (typeof SEVERITIES)[number];

/** The transports a `[notify.NAME]` table can be (`type`); the one list of them. */
export const NOTIFY_TYPES = ['telegram', 'slack', 'discord', 'matrix', 'ntfy', 'webhook', 'email'] as const;

/** One of {@link NOTIFY_TYPES}. */
export type NotifyType = (typeof NOTIFY_TYPES)[number];

const secretRef = (what: string, envDefault?: string): Record<string, Schema> => ({
  [`${what}_env`]: {
    type: 'string',
    pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
    description: `Environment variable holding the ${what.replace(/_/g, ' ')}.`,
    ...(envDefault ? { default: envDefault } : {}),
  },
  [`${what}_file`]: path(
    `File holding the ${what.replace(/_/g, ' ')} (for systemd \`LoadCredential=\` use \`%d/NAME\` via \`\${CREDENTIALS_DIRECTORY}\`). Takes precedence over \`${what}_env\`.`,
  ),
});

const notifyCommon: Record<string, Schema> = {
  enabled: { type: 'boolean', default: true, description: 'Send through this transport.' },
  min_severity: {
    type: 'string',
    enum: [...SEVERITIES],
    default: 'warning',
    description: 'Lowest severity sent.',
  },
  kinds: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    description: 'Only these notification kinds (default: all).',
  },
  max_per_minute: int('Rate limit of this transport (messages per minute).', 20, 1),
};

const transport = (type: NotifyType, description: string, props: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  additionalProperties: false,
  description,
  required: ['type', ...required],
  properties: { type: { const: type }, ...notifyCommon, ...props },
});

const allowList = {
  allowed_user_ids: {
    type: 'array',
    items: { type: ['string', 'integer'] },
    default: [],
    description: 'Senders whose commands are obeyed (empty: commands disabled).',
  },
};

/** The schema of each transport's table (its own keys, then the common ones). */
const TRANSPORTS: Record<NotifyType, Schema> = {
  telegram: transport(
    'telegram',
    'Telegram Bot API.',
    {
      ...secretRef('bot_token', 'TELEGRAM_BOT_TOKEN'),
      chat_id: { type: ['string', 'integer'], description: 'Chat to send to and accept commands from.' },
      api_url: { type: 'string', format: 'uri', default: 'https://api.telegram.org', description: 'Bot API base URL.' },
      ...allowList,
    },
    ['chat_id'],
  ),
  slack: transport('slack', 'Slack: an incoming webhook, or `chat.postMessage` with a bot token and channel.', {
    ...secretRef('webhook_url', 'SLACK_WEBHOOK_URL'),
    ...secretRef('bot_token'),
    channel: { type: 'string', description: 'Channel id for `chat.postMessage` and command polling.' },
    api_url: { type: 'string', format: 'uri', default: 'https://slack.com/api', description: 'Web API base URL.' },
    ...allowList,
  }),
  discord: transport('discord', 'Discord webhook.', { ...secretRef('webhook_url', 'DISCORD_WEBHOOK_URL') }),
  matrix: transport(
    'matrix',
    'Matrix client-server API.',
    {
      homeserver: { type: 'string', format: 'uri', description: 'Homeserver base URL.' },
      ...secretRef('access_token', 'MATRIX_ACCESS_TOKEN'),
      room_id: { type: 'string', pattern: '^!', description: 'Room id (`!...:server`).' },
      ...allowList,
    },
    ['homeserver', 'room_id'],
  ),
  ntfy: transport(
    'ntfy',
    'ntfy topic.',
    {
      server: { type: 'string', format: 'uri', default: 'https://ntfy.sh', description: 'ntfy server.' },
      topic: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Topic name.' },
      ...secretRef('token'),
      ...allowList,
    },
    ['topic'],
  ),
  webhook: transport(
    'webhook',
    'Generic JSON webhook, signed with HMAC-SHA256 (`X-Agent-Runner-Signature`).',
    { url: { type: 'string', format: 'uri', description: 'Endpoint (POST, JSON).' }, ...secretRef('secret') },
    ['url'],
  ),
  email: transport(
    'email',
    'Email over SMTP.',
    {
      smtp_host: { type: 'string', minLength: 1, description: 'SMTP server.' },
      smtp_port: int('SMTP port.', 587, 1, { maximum: 65535 }),
      starttls: { type: 'boolean', default: true, description: 'Require STARTTLS.' },
      username: { type: 'string', description: 'SMTP user.' },
      ...secretRef('password'),
      from: { type: 'string', format: 'email', description: 'Sender address.' },
      to: { type: 'array', minItems: 1, items: { type: 'string', format: 'email' }, description: 'Recipients.' },
    },
    ['smtp_host', 'from', 'to'],
  ),
};

/** The JSON Schema of agent-runner.toml. */
export const CONFIG_SCHEMA: Schema = {
  $id: 'https://agent-runner.dev/schema/agent-runner.toml.json',
  type: 'object',
  additionalProperties: false,
  required: ['agent', 'prompt'],
  properties: {
    project: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
      description: "Project name: the systemd instance name and state directory name. Default: the work dir's basename.",
    },
    agent: {
      type: 'object',
      additionalProperties: false,
      required: ['command'],
      description: 'The agent CLI and how to run it.',
      properties: {
        preset: {
          type: 'string',
          enum: [...AGENT_PRESETS],
          default: 'generic',
          description: "Which adapter reads the agent's output (classification, usage, cost).",
        },
        command: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', minLength: 1, pattern: NO_NUL },
          description: 'argv of the agent CLI, without the prompt. The first element is looked up on PATH.',
        },
        prompt_delivery: {
          type: 'string',
          enum: ['stdin', 'argv'],
          default: 'stdin',
          description: '`stdin` keeps the prompt out of `ps` and `pkill -f` matches; `argv` appends `prompt_arg_template`.',
        },
        prompt_arg_template: {
          type: 'array',
          items: { type: 'string', pattern: NO_NUL },
          default: ['{prompt}'],
          description: 'Extra argv for `argv` delivery; `{prompt}` is replaced by the prompt text.',
        },
        terminal: {
          type: 'string',
          enum: ['pipe', 'pty'],
          default: 'pipe',
          description: 'Run the agent with pipes or in a pseudo-terminal (for CLIs that need a TTY).',
        },
        env: {
          type: 'object',
          propertyNames: { pattern: '^[^=\\u0000]+$' },
          additionalProperties: { type: 'string', pattern: NO_NUL },
          default: {},
          description:
            "Extra environment for the agent. Values of keys that look secret are redacted in output; prefer `env_file`. Names have no `=`; the whole table must fit the kernel's argv and environment limit with room to spare (at most 1 MiB, and 128 KiB per variable).",
        },
        env_file: path(
          "A `KEY=VALUE` file (systemd EnvironmentFile syntax) read into the agent's environment; keep secrets here, mode 0600.",
        ),
        auth_fail_hint: {
          type: 'string',
          description: "Overrides the preset's hint shown when authentication fails.",
        },
        patterns: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Output patterns for the `generic` preset (regexes, matched per line).',
          properties: {
            line_filter: { type: 'string', format: 'regex', description: 'Only lines matching this are classified.' },
            auth: regexList('Lines meaning authentication failed.'),
            rate_limit: regexList('Lines meaning a rate limit or quota was hit.'),
            overloaded: regexList('Lines meaning the service is overloaded.'),
            server_error: regexList('Lines meaning a server-side error.'),
            network: regexList('Lines meaning a network failure.'),
            timeout: regexList('Lines meaning a request timed out.'),
            config: regexList('Lines meaning the agent is misconfigured.'),
            result: regexList('Lines meaning the agent reported its final result.'),
          },
        },
      },
    },
    runtime: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The round loop: timeouts, stop triggers, back-off, retention.',
      properties: {
        work_dir: path('The git work tree the agent works in.', 'config', '.'),
        state_dir: path(
          'State directory (ledger, markers). Default: `$XDG_STATE_HOME/agent-runner/{project}` (user mode) or `/var/lib/agent-runner/{project}` (system mode).',
        ),
        log_dir: path(
          'Log directory (events, round logs; `AGENT_RUNNER_LOG_DIR`). Default: `<state_dir>/logs` (user mode) or `/var/log/agent-runner/{project}` (system mode).',
        ),
        restart_delay_s: seconds('Pause between rounds after a successful round. 0 is allowed.', 5),
        round_timeout_s: seconds('Hard wall-clock limit of one round.', 3600, 1),
        inactivity_timeout_s: seconds('End a round with no output for this long (0: off).', 900),
        max_grace_after_result_s: seconds(
          'After the agent reports its final result, wait this long for it to exit (longer while it has live workers).',
          30,
        ),
        grace_kill_ignore_patterns: regexList(
          "Regexes on /proc cmdline of helper processes that do not count as live work after the result (added to the preset's).",
        ),
        kill_grace_s: seconds("Between SIGTERM and SIGKILL when a round's process group is ended.", 10),
        max_rounds: int('Stop after this many rounds in one `serve` (0: no limit). `--max-rounds` overrides.', 0, 0, {
          maximum: 1_000_000_000,
        }),
        stop_file: path('The stop-request marker. Default: `<state_dir>/run/stop-requested`.'),
        narrative_file: path("The agent-maintained narrative shown by the monitor's page.", 'work_dir'),
        transient_error_action: {
          type: 'string',
          enum: ['back_off', 'stop'],
          default: 'back_off',
          description: 'On rate limits, overload, 5xx, network and timeouts: back off and continue, or stop `serve`.',
        },
        heartbeat_interval_s: seconds('How often the runner writes its heartbeat.', 10, 1),
        round_log_retention: int('Round logs kept (newest first).', 100, 1),
        round_log_max_bytes: int('Total bytes of round logs kept.', 536870912, 1048576, { maximum: MAX_BYTES, 'x-unit': 'bytes' }),
        events_retention_days: int('Days of event files kept.', 30, 1, { maximum: 3650 }),
        events_max_bytes: int('Total bytes of event files kept.', 268435456, 1048576, { maximum: MAX_BYTES, 'x-unit': 'bytes' }),
        daily_cost_budget_usd: {
          type: 'number',
          minimum: 0,
          maximum: MAX_USD,
          default: 0,
          description: "Stop starting rounds once today's (UTC) reported cost reaches this (0: no budget).",
          'x-unit': 'USD',
        },
        disk_min_free_mb: int(
          'Start no round while the fuller of the state and log file systems has less than this free (checked before each round; rounds resume by themselves once space is back). 0: no gate; a write that fails for a full disk is still waited out.',
          64,
          0,
          { maximum: 2 ** 30, 'x-unit': 'MiB' },
        ),
        context: {
          type: 'string',
          enum: ['off', 'prepend', 'file'],
          default: 'off',
          description:
            'Give the agent a context block (round, phase, last outcome, the context fields hooks answered): prepended to the prompt or written to `context_file`.',
        },
        context_file: path('Where `context = "file"` writes the context block.', 'work_dir'),
        backoff: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Back-off after transient failures (rate limit without reset time, overload, 5xx, network, timeout).',
          properties: {
            base_s: seconds('First delay.', 30, 1),
            max_s: seconds('Cap of the exponential delay.', 1800, 1),
            factor: { type: 'number', minimum: 1, maximum: 10, default: 2, description: 'Growth per consecutive failure.' },
            jitter_s: seconds('Random extra delay (0..jitter) so runners sharing an account do not retry together.', 15),
          },
        },
        crash_loop: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'The crash-loop breaker: consecutive short failures of the agent itself open it; rounds stop for a cool-down, then one round tries whether the cause is gone.',
          properties: {
            threshold: int('Consecutive short failures that open the breaker.', 5, 2),
            short_round_s: seconds('A failing round shorter than this counts.', 60, 1),
            cooldown_s: seconds(
              'How long an open breaker waits before it tries one round; a failed try doubles it up to `cooldown_max_s`. 0: no retry, `serve` exits 69 (a hard stop; systemd does not restart it).',
              1800,
            ),
            cooldown_max_s: seconds('Cap of the doubled cool-down.', 14400),
          },
        },
        auth: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'What the runner does while authentication fails.',
          properties: {
            probe_interval_s: seconds(
              'How often a paused runner probes whether authentication works again (one round that ends at the first authentication error).',
              300,
              1,
            ),
          },
        },
      },
    },
    prompt: promptSpec(true),
    phases: {
      type: 'object',
      default: {},
      description: 'Phase rotation: `list` names the phases in order; `[phases.NAME]` overrides per phase.',
      properties: {
        list: {
          type: 'array',
          items: { type: 'string', pattern: PHASE_NAME },
          uniqueItems: true,
          default: [],
          description: 'Phase names, rotated one per round.',
        },
      },
      patternProperties: {
        [PHASE_NAME]: {
          type: 'object',
          additionalProperties: false,
          description: 'Overrides for one phase.',
          properties: {
            prompt: promptSpec(false),
            round_timeout_s: seconds('Overrides `runtime.round_timeout_s`.', undefined, 1),
            inactivity_timeout_s: seconds('Overrides `runtime.inactivity_timeout_s`.', undefined),
            max_grace_after_result_s: seconds('Overrides `runtime.max_grace_after_result_s`.', undefined),
          },
        },
      },
      additionalProperties: false,
    },
    vcs: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Git hygiene after each round.',
      properties: {
        dirty_action: {
          type: 'string',
          enum: ['stash', 'commit', 'ignore'],
          default: 'stash',
          description: 'A dirty work tree after a round is stashed (recorded by SHA), auto-committed, or left alone.',
        },
        commit_message: {
          type: 'string',
          minLength: 1,
          default: 'agent-runner: round {round}',
          description: 'Message of auto-commits; `{round}` and `{phase}` are replaced.',
        },
        exclude: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description: 'Extra work-tree paths never stashed or committed (the state and log dirs always are excluded).',
        },
      },
    },
    monitor: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The monitor: polling, detectors, remote hosts.',
      properties: {
        poll_interval_s: seconds('Between polls.', 30, 1),
        supervisor_stale_threshold_s: seconds(
          'Alert `supervisor_stale` when no event arrived for this long (default: 1.5 x round_timeout_s; 0: off).',
          undefined,
        ),
        remote_failure_tolerance_s: seconds('How long remote polls may fail (refused, timeout, hung) before `monitor_remote_giveup`.', 300),
        auto_stop: {
          type: 'boolean',
          default: true,
          description: 'Let detectors whose policy is auto-stop (auth failures burning quota, disk about to fill) stop the runner.',
        },
        remote_command: {
          type: 'string',
          minLength: 1,
          default: 'agent-runner',
          description: 'The agent-runner command on remote hosts.',
        },
        hosts: {
          type: 'object',
          default: {},
          description:
            'Remote hosts by name, one `[monitor.hosts.NAME]` table each: `monitor --host NAME` polls the host so named with its settings, and `monitor` of a config without a project (no `[agent]`, e.g. on a laptop) polls them all.',
          propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ssh: {
                type: 'string',
                minLength: 1,
                pattern: NO_NUL,
                description: "SSH alias or host name, resolved through the ssh client config as ssh(1) does (default: the table's name).",
              },
              config: {
                type: 'string',
                minLength: 1,
                pattern: NO_NUL,
                description:
                  "Path of the project's agent-runner.toml on the host (`~/` is its home), passed to the remote command as `--config` (default: none, so the remote command looks from the ssh session's directory, the home directory).",
              },
              remote_command: {
                type: 'string',
                minLength: 1,
                pattern: NO_NUL,
                description:
                  "The agent-runner command on this host (default: `monitor.remote_command`), e.g. its full path when a non-interactive shell's PATH lacks it.",
              },
            },
          },
        },
        http_port: int('Port of `--mode http`.', 8765, 1, { maximum: 65535 }),
        http_bind: {
          type: 'string',
          format: 'ip',
          default: '127.0.0.1',
          description:
            'Address `--mode http` listens on (an IPv4 or IPv6 literal). On loopback the page answers only requests addressed to a loopback name (no DNS rebinding); any other address needs `http_token_env` or `http_token_file`, asked of every request.',
        },
        ...secretRef('http_token'),
        disk_warning_pct: {
          type: 'number',
          minimum: 0,
          maximum: 100,
          default: 90,
          description: 'Alert `disk_warning` when the fuller of the state and log file systems is this full (percent).',
          'x-unit': '%',
        },
        disk_critical_pct: {
          type: 'number',
          minimum: 0,
          maximum: 100,
          default: 95,
          description:
            'Alert `disk_critical` when the fuller of the state and log file systems is this full (percent); it stops a runner only when its own disk gate is off (`runtime.disk_min_free_mb = 0`).',
          'x-unit': '%',
        },
        mem_available_min_pct: {
          type: 'number',
          minimum: 0,
          maximum: 100,
          default: 10,
          description: 'Alert `mem_pressure` when available memory falls below this share of the total (percent).',
          'x-unit': '%',
        },
        silence_after_s: seconds(
          'Raise the `silence` alarm when no round was productive (an `ok` round that reported a result or committed or stashed work) for this long while the runner says it runs; the next productive round clears it (0: off).',
          21600,
        ),
        cost_budget_usd: {
          type: 'number',
          minimum: 0,
          maximum: MAX_USD,
          default: 0,
          description: "Alert `cost_budget` when today's (UTC) cost reaches this (0: use `runtime.daily_cost_budget_usd`; both 0: off).",
          'x-unit': 'USD',
        },
        hung_grace_s: seconds(
          "Alert `hung` when a round runs this long past its `round_timeout_s` (the runner's own ceiling failed).",
          120,
          1,
        ),
        notify_benign: {
          type: 'boolean',
          default: false,
          description:
            'Also notify the alerts of detectors that report a self-healing wait (`rate_limit_active`); they are recorded and shown either way.',
        },
        disable: {
          type: 'array',
          items: { type: 'string', pattern: '^[a-z_]+$' },
          uniqueItems: true,
          default: [],
          description: 'Detectors to turn off, by name (e.g. `["mem_pressure"]`).',
        },
      },
    },
    bridge: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The bridge: outbox delivery and inbound operator commands.',
      properties: {
        poll_interval_s: seconds('How often the outbox is checked when idle.', 1, 0.1),
        max_attempts: int('Delivery attempts before a notification is dead-lettered.', 10, 1),
        quiet_hours: {
          type: 'string',
          pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$',
          description: 'Local-time window `HH:MM-HH:MM` in which only `critical` notifications are sent.',
        },
        digest_time: {
          type: 'string',
          pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$',
          description: 'Local time `HH:MM` of the daily digest (unset: no digest).',
        },
        dedupe_window_s: seconds(
          'A notification identical (kind, severity, title, body) to one a transport delivered within this window is not sent again there. Kept in the ledger, so bridge restarts keep it; alarms and recoveries are never suppressed (one per episode by their keys). 0: off.',
          600,
        ),
      },
    },
    hooks: {
      type: 'object',
      default: {},
      description:
        'Operator commands run at serve start, around each round, on a dirty tree and as extra detectors: `[hooks.NAME]`, one table each (see docs/hooks.md for what they read and answer).',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['on', 'command'],
        properties: {
          on: {
            type: 'string',
            enum: [...HOOK_EVENTS],
            description:
              'When it runs: `serve_start` (once, before the first round), `pre_round` (may replace the prompt or add context), `post_round` (may add context for the next round), `dirty_tree` (decides what happens to a dirty tree), `detector` (on every monitor poll; may raise alerts).',
          },
          command: {
            type: 'array',
            minItems: 1,
            items: { type: 'string', minLength: 1, pattern: NO_NUL },
            description:
              'argv, run in the work dir in its own process group; a first element with a `/` is a path (relative: to the work dir), else it is looked up on PATH.',
          },
          timeout_s: seconds('Wall-clock limit; at it the whole process group gets SIGTERM, then SIGKILL after 2 s.', 30, 1, {
            maximum: 3600,
          }),
          on_failure: {
            type: 'string',
            enum: ['continue', 'skip_round', 'stop'],
            description:
              'What a failure (non-zero exit, signal, timeout, an answer that is not the expected JSON) does: `continue` as if it had not run, `skip_round` (pre_round only: no round now; the next is tried after `restart_delay_s`, at least 1 s), `stop` (serve exits 78 with a `config_broken` alarm naming the hook). Default: `stop` for serve_start, `skip_round` for pre_round, `continue` otherwise.',
          },
          enabled: { type: 'boolean', default: true, description: 'Run it (false keeps the table, e.g. while debugging).' },
          pass_env: {
            type: 'array',
            items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
            uniqueItems: true,
            default: [],
            description:
              "Secret-named variables of the agent's environment (`*_TOKEN`, `*_KEY`, `*PASSWORD*`, ...) the hook is given; the others are removed from its environment.",
          },
        },
      },
    },
    notify: {
      type: 'object',
      default: {},
      description: 'Notification transports, one table each: `[notify.NAME]` with a `type`.',
      propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,31}$' },
      additionalProperties: {
        type: 'object',
        required: ['type'],
        properties: { type: { type: 'string' } },
        discriminator: { propertyName: 'type' },
        oneOf: NOTIFY_TYPES.map((t) => TRANSPORTS[t]),
      },
    },
    watchdog: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The watchdog: health probes and heal tiers.',
      properties: {
        targets: {
          type: 'array',
          items: { type: 'string', enum: ['runner', 'bridge', 'monitor'] },
          uniqueItems: true,
          description:
            'Units the watchdog heals. Under systemd it heals every unit of the project that systemd has installed (loaded, and enabled or wanted by the project target, or running); this list then only restricts. Without systemd, the units expected to run on this host (a missing one is respawned); default `["runner"]`.',
        },
        interval_s: seconds('Between probes.', 10, 0.1),
        stale_after_s: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            "Heartbeat age that makes a unit stale; above each unit's worst-case gap between heartbeats (they beat on a timer, also inside rounds and long-polls). Stale + `interval_s` is the time to T1 of a hung unit.",
          properties: {
            runner: seconds('Runner (heartbeats every `runtime.heartbeat_interval_s`; must exceed twice that).', 45, 1),
            bridge: seconds('Bridge (heartbeats every 5 s).', 45, 1),
            monitor: seconds('Local monitor (heartbeats every 5 s).', 45, 1),
          },
        },
        tier_cooldown_s: seconds(
          'Minimum time between two heal tiers of one unit (above its worst-case startup); a stopped process goes to T3 without it.',
          30,
          0.1,
        ),
        term_grace_s: seconds('T2: how long after SIGTERM the unit must be gone.', 15, 0.1),
        verify_window_s: seconds(
          'T3: how long a respawned unit must stay healthy to count as healed; an open breaker closes after the unit is healthy this long.',
          60,
          0.1,
        ),
        startup_grace_s: seconds(
          'A unit that has not enrolled yet this long after it started (under systemd: became active; without systemd: since the watchdog started or respawned it) is starting, not missing.',
          30,
          0,
        ),
        breaker_after_failed_t3: int('T4 (circuit broken, `breaker_open` alarm) after this many failed T3s in a row.', 3, 1),
        breaker_after_same_signature: int(
          'T4 when an identical failure comes back after this many episodes that were healed, each within `signature_window_s` of the last (the tiers of one episode count once).',
          5,
          1,
        ),
        restart_loop_s: seconds(
          'Under systemd: a unit restarted by systemd at least 5 times and not healthy once for this long (it crashes at every start, before anyone can judge it) opens its breaker: an alarm, since neither systemd nor the watchdog can fix it (0: off).',
          600,
          0,
        ),
        signature_window_s: seconds(
          'Episodes of one failure signature count toward `breaker_after_same_signature` until the unit has been healthy this long after the last heal.',
          3600,
          60,
        ),
        systemd_units: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'systemd unit of each target (`{project}` is replaced by the project name). Under systemd the watchdog reads its state (`systemctl show`, unprivileged) and leaves restarts to systemd: T3 is a SIGKILL that `Restart=on-failure` answers.',
          properties: {
            runner: { type: 'string', minLength: 1, default: 'agent-runner@{project}.service', description: 'Unit of the runner.' },
            bridge: { type: 'string', minLength: 1, default: 'agent-runner-bridge@{project}.service', description: 'Unit of the bridge.' },
            monitor: {
              type: 'string',
              minLength: 1,
              default: 'agent-runner-monitor@{project}.service',
              description: 'Unit of the local monitor.',
            },
          },
        },
        respawn_command: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Foreground mode (no systemd): argv that T3 spawns (detached) to respawn a target that recorded no command line of its own (a unit is respawned with the argv and working directory of its enrollment or exit record). Default: this agent-runner with `serve`, `bridge` or `monitor --mode events`, and the same `--config`.',
          properties: {
            runner: { type: 'array', minItems: 1, items: { type: 'string', pattern: NO_NUL }, description: 'argv respawning the runner.' },
            bridge: { type: 'array', minItems: 1, items: { type: 'string', pattern: NO_NUL }, description: 'argv respawning the bridge.' },
            monitor: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', pattern: NO_NUL },
              description: 'argv respawning the local monitor.',
            },
          },
        },
      },
    },
  },
};

/**
 * The schema's default of every key of the top-level table `table` that has one (what the
 * loader fills in when the key is absent); keys without a default are absent. For code that
 * needs the defaults without a config file (a monitor of remote hosts run from a laptop).
 * @throws Error when the schema has no such table (a programming error).
 */
export function tableDefaults(table: string): Record<string, unknown> {
  const t = (CONFIG_SCHEMA['properties'] as Record<string, Schema>)[table];
  if (!t || t['type'] !== 'object') throw new Error(`the config schema has no table [${table}]`);
  return defaultsOf(t);
}

/** The schema's default of every key of a `[notify.NAME]` table of `type` that has one (what the loader fills in). */
export function transportDefaults(type: NotifyType): Record<string, unknown> {
  return defaultsOf(TRANSPORTS[type]);
}

const defaultsOf = (t: Schema): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(t['properties'] as Record<string, Schema>).flatMap(([k, v]) => (v['default'] === undefined ? [] : [[k, v['default']]])),
  );
