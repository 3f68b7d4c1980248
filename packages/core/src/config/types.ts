/**
 * The normalised configuration: every default applied, every path absolute, `~` and
 * `{project}` expanded. Field names match the TOML keys (see docs/configuration.md), so the
 * key path in an error is the property path here. Durations are seconds, sizes bytes.
 */
import type { HOOK_EVENTS, NotifyType, PresetName, SeverityName } from './schema.js';

/** One prompt source, as given in `[prompt]` or `[phases.NAME.prompt]`. */
export interface PromptConfig {
  /** Absolute paths of the prompt files, in order. */
  files: string[];
  concat_separator: string;
  strip_front_matter: boolean;
}

/** Output patterns of the `generic` preset; each a regex source. */
export interface PatternConfig {
  line_filter?: string;
  auth: string[];
  rate_limit: string[];
  overloaded: string[];
  server_error: string[];
  network: string[];
  timeout: string[];
  config: string[];
  result: string[];
}

/** `[agent]`. */
export interface AgentConfig {
  preset: PresetName;
  command: string[];
  prompt_delivery: 'stdin' | 'argv';
  prompt_arg_template: string[];
  terminal: 'pipe' | 'pty';
  env: Record<string, string>;
  env_file?: string;
  auth_fail_hint?: string;
  patterns: PatternConfig;
}

/** `[runtime]`. */
export interface RuntimeConfig {
  work_dir: string;
  state_dir: string;
  log_dir: string;
  restart_delay_s: number;
  round_timeout_s: number;
  inactivity_timeout_s: number;
  max_grace_after_result_s: number;
  grace_kill_ignore_patterns: string[];
  kill_grace_s: number;
  max_rounds: number;
  stop_file: string;
  narrative_file?: string;
  transient_error_action: 'back_off' | 'stop';
  heartbeat_interval_s: number;
  round_log_retention: number;
  round_log_max_bytes: number;
  events_retention_days: number;
  events_max_bytes: number;
  daily_cost_budget_usd: number;
  /** MiB; 0 disables the disk gate. */
  disk_min_free_mb: number;
  context: 'off' | 'prepend' | 'file';
  context_file?: string;
  backoff: { base_s: number; max_s: number; factor: number; jitter_s: number };
  crash_loop: { threshold: number; short_round_s: number; cooldown_s: number; cooldown_max_s: number };
  auth: { probe_interval_s: number };
}

/** `[phases.NAME]` after normalisation (prompt falls back to `[prompt]`). */
export interface PhaseConfig {
  name: string;
  prompt: PromptConfig;
  round_timeout_s?: number;
  inactivity_timeout_s?: number;
  max_grace_after_result_s?: number;
}

/** `[vcs]`. */
export interface VcsConfig {
  dirty_action: 'stash' | 'commit' | 'ignore';
  commit_message: string;
  exclude: string[];
}

/** One `[hooks.NAME]` table, normalised. */
export interface HookConfig {
  name: string;
  on: (typeof HOOK_EVENTS)[number];
  /** argv; a relative path in `command[0]` resolved against the work dir. */
  command: string[];
  timeout_s: number;
  /** With the per-event default applied. */
  on_failure: 'continue' | 'skip_round' | 'stop';
  enabled: boolean;
  /** Secret-named variables passed through. */
  pass_env: string[];
}

/** One `[monitor.hosts.NAME]` table. */
export interface MonitorHostConfig {
  /** SSH alias or host name (absent: the table's name). */
  ssh?: string;
  /** The project's config path on the host, as written (remote: not resolved here). */
  config?: string;
  /** Overrides `monitor.remote_command` for this host. */
  remote_command?: string;
}

/** `[monitor]`. */
export interface MonitorConfig {
  poll_interval_s: number;
  /** Resolved: 1.5 x round_timeout_s unless set; 0 disables. */
  supervisor_stale_threshold_s: number;
  remote_failure_tolerance_s: number;
  auto_stop: boolean;
  remote_command: string;
  /** `[monitor.hosts.NAME]` by NAME. */
  hosts: Record<string, MonitorHostConfig>;
  http_port: number;
  /** IP literal `--mode http` binds. */
  http_bind: string;
  /** Variable holding the bearer token of a non-loopback page. */
  http_token_env?: string;
  /** File holding it (resolved against the config dir). */
  http_token_file?: string;
  /** Percent. */
  disk_warning_pct: number;
  /** Percent. */
  disk_critical_pct: number;
  /** Percent of total memory. */
  mem_available_min_pct: number;
  /** Seconds without a productive round before the `silence` alarm; 0 disables. */
  silence_after_s: number;
  /** USD; 0 = runtime.daily_cost_budget_usd. */
  cost_budget_usd: number;
  hung_grace_s: number;
  /** Notify the alerts of benign detectors (self-healing waits) too. */
  notify_benign: boolean;
  /** Detector names turned off. */
  disable: string[];
}

/** `[bridge]`. */
export interface BridgeConfig {
  poll_interval_s: number;
  max_attempts: number;
  quiet_hours?: string;
  digest_time?: string;
  dedupe_window_s: number;
}

/**
 * Keys every `[notify.NAME]` table has, whatever its `type`. The `*_env` / `*_file` pairs of
 * the transports below name a secret (an environment variable, or a file resolved against the
 * config dir; the file takes precedence), never hold it: read them with `readSecretRef`.
 */
export interface NotifyCommon {
  /** The table's name (`NAME` of `[notify.NAME]`), the transport's name in the ledger; not a key of the table. */
  name: string;
  /** Which transport; narrows {@link NotifyConfig} to its interface. */
  type: NotifyType;
  /** Send through this transport (false keeps the table but builds no transport). */
  enabled: boolean;
  /** Lowest severity sent (the bridge's own digests and replies are sent whatever it is). */
  min_severity: SeverityName;
  /** Only these notification kinds are sent; absent: all kinds. */
  kinds?: string[];
  /** Rate limit of this transport, messages per minute. */
  max_per_minute: number;
}

/** `[notify.NAME]` with `type = "telegram"`: the Telegram Bot API. */
export interface TelegramNotifyConfig extends NotifyCommon {
  type: 'telegram';
  /** Environment variable holding the bot token (default `TELEGRAM_BOT_TOKEN`). */
  bot_token_env: string;
  /** Absolute path of a file holding the bot token; takes precedence over `bot_token_env`. */
  bot_token_file?: string;
  /** Chat to send to and accept commands from, as written (a number or a `@channel` name). */
  chat_id: string | number;
  /** Bot API base URL. */
  api_url: string;
  /** Senders (Telegram user ids) whose commands are obeyed; empty: commands disabled. */
  allowed_user_ids: Array<string | number>;
}

/**
 * `[notify.NAME]` with `type = "slack"`: an incoming webhook, or `chat.postMessage` with a bot
 * token and `channel` when `bot_token_env` or `bot_token_file` is set.
 */
export interface SlackNotifyConfig extends NotifyCommon {
  type: 'slack';
  /** Environment variable holding the incoming-webhook URL (default `SLACK_WEBHOOK_URL`). */
  webhook_url_env: string;
  /** Absolute path of a file holding the incoming-webhook URL; takes precedence over `webhook_url_env`. */
  webhook_url_file?: string;
  /** Environment variable holding the bot token (set: the Web API is used instead of the webhook). */
  bot_token_env?: string;
  /** Absolute path of a file holding the bot token; takes precedence over `bot_token_env`. */
  bot_token_file?: string;
  /** Channel id for `chat.postMessage` and command polling (the loader requires it with a bot token). */
  channel?: string;
  /** Web API base URL. */
  api_url: string;
  /** Senders (Slack user ids) whose commands are obeyed; empty: commands disabled. */
  allowed_user_ids: Array<string | number>;
}

/** `[notify.NAME]` with `type = "discord"`: a Discord webhook. */
export interface DiscordNotifyConfig extends NotifyCommon {
  type: 'discord';
  /** Environment variable holding the webhook URL (default `DISCORD_WEBHOOK_URL`). */
  webhook_url_env: string;
  /** Absolute path of a file holding the webhook URL; takes precedence over `webhook_url_env`. */
  webhook_url_file?: string;
}

/** `[notify.NAME]` with `type = "matrix"`: the Matrix client-server API. */
export interface MatrixNotifyConfig extends NotifyCommon {
  type: 'matrix';
  /** Homeserver base URL. */
  homeserver: string;
  /** Environment variable holding the access token (default `MATRIX_ACCESS_TOKEN`). */
  access_token_env: string;
  /** Absolute path of a file holding the access token; takes precedence over `access_token_env`. */
  access_token_file?: string;
  /** Room to send to and accept commands from (`!id:server`). */
  room_id: string;
  /** Senders (Matrix user ids) whose commands are obeyed; empty: commands disabled. */
  allowed_user_ids: Array<string | number>;
}

/** `[notify.NAME]` with `type = "ntfy"`: an ntfy topic. */
export interface NtfyNotifyConfig extends NotifyCommon {
  type: 'ntfy';
  /** ntfy server base URL. */
  server: string;
  /** Topic name (1-64 of `A-Za-z0-9_-`). */
  topic: string;
  /** Environment variable holding the access token (absent, with no `token_file`: no `Authorization`). */
  token_env?: string;
  /** Absolute path of a file holding the access token; takes precedence over `token_env`. */
  token_file?: string;
  /** Senders whose commands are obeyed (ntfy takes no commands: unused). */
  allowed_user_ids: Array<string | number>;
}

/** `[notify.NAME]` with `type = "webhook"`: a generic JSON webhook. */
export interface WebhookNotifyConfig extends NotifyCommon {
  type: 'webhook';
  /** Endpoint the JSON is POSTed to. */
  url: string;
  /** Environment variable holding the HMAC-SHA256 signing secret (absent, with no `secret_file`: unsigned). */
  secret_env?: string;
  /** Absolute path of a file holding the signing secret; takes precedence over `secret_env`. */
  secret_file?: string;
}

/** `[notify.NAME]` with `type = "email"`: email over SMTP. */
export interface EmailNotifyConfig extends NotifyCommon {
  type: 'email';
  /** SMTP server host name or address. */
  smtp_host: string;
  /** SMTP port (465: TLS from the start; otherwise plain, upgraded by STARTTLS). */
  smtp_port: number;
  /** Require STARTTLS (false: never attempt it). */
  starttls: boolean;
  /** SMTP user (absent: no AUTH). */
  username?: string;
  /** Environment variable holding the SMTP password. */
  password_env?: string;
  /** Absolute path of a file holding the SMTP password; takes precedence over `password_env`. */
  password_file?: string;
  /** Sender address. */
  from: string;
  /** Recipient addresses (at least one). */
  to: string[];
}

/**
 * A `[notify.NAME]` table, normalised: the schema's defaults applied, `*_file` paths absolute,
 * `name` added. Narrow on `type` for the transport's own keys.
 */
export type NotifyConfig =
  | TelegramNotifyConfig
  | SlackNotifyConfig
  | DiscordNotifyConfig
  | MatrixNotifyConfig
  | NtfyNotifyConfig
  | WebhookNotifyConfig
  | EmailNotifyConfig;

/** The {@link NotifyConfig} of transport `T`, e.g. `NotifyConfigOf<'ntfy'>` = {@link NtfyNotifyConfig}. */
export type NotifyConfigOf<T extends NotifyType> = Extract<NotifyConfig, { type: T }>;

/** `[watchdog]`. */
export interface WatchdogConfig {
  /** Absent: every installed unit under systemd, the runner without systemd. */
  targets?: Array<'runner' | 'bridge' | 'monitor'>;
  interval_s: number;
  stale_after_s: { runner: number; bridge: number; monitor: number };
  tier_cooldown_s: number;
  term_grace_s: number;
  verify_window_s: number;
  startup_grace_s: number;
  breaker_after_failed_t3: number;
  breaker_after_same_signature: number;
  signature_window_s: number;
  restart_loop_s: number;
  /** systemd unit per target, `{project}` not yet replaced. */
  systemd_units: { runner: string; bridge: string; monitor: string };
  /** Foreground-mode respawn argv per target; absent = the CLI's default. */
  respawn_command: { runner?: string[]; bridge?: string[]; monitor?: string[] };
}

/** A loaded, validated, normalised agent-runner.toml. */
export interface AgentRunnerConfig {
  /** Absolute path of the file it was read from. */
  source: string;
  project: string;
  agent: AgentConfig;
  runtime: RuntimeConfig;
  prompt: PromptConfig;
  /** Phases in rotation order (empty: no rotation). */
  phases: PhaseConfig[];
  vcs: VcsConfig;
  monitor: MonitorConfig;
  bridge: BridgeConfig;
  notify: NotifyConfig[];
  /** In config order; disabled ones included (`enabled: false`). */
  hooks: HookConfig[];
  watchdog: WatchdogConfig;
}
