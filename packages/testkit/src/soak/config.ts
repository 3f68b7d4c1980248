/**
 * The soak projects' agent-runner.toml: production defaults wherever a fault does not need
 * them shorter, and every accelerated setting commented with its default and why, so that a
 * week of faults fits in minutes without changing what the product does.
 */

/** The accelerated settings the soak's bookkeeping also reads (seconds). */
export interface SoakSettings {
  restart_delay_s: number;
  round_timeout_s: number;
  inactivity_timeout_s: number;
  max_grace_after_result_s: number;
  kill_grace_s: number;
  heartbeat_interval_s: number;
  backoff: { base_s: number; max_s: number; factor: number; jitter_s: number };
  crash_loop: { threshold: number; short_round_s: number; cooldown_s: number };
  auth_probe_interval_s: number;
  monitor_poll_interval_s: number;
  watchdog: {
    interval_s: number;
    tier_cooldown_s: number;
    term_grace_s: number;
    verify_window_s: number;
    signature_window_s: number;
    stale_runner_s: number;
    stale_bridge_s: number;
    stale_monitor_s: number;
  };
}

/** The settings both soak projects run with (the long profile changes only `restart_delay_s`). */
export const SOAK_SETTINGS: SoakSettings = {
  restart_delay_s: 0.5,
  round_timeout_s: 60,
  inactivity_timeout_s: 4,
  max_grace_after_result_s: 3,
  kill_grace_s: 2,
  heartbeat_interval_s: 2,
  backoff: { base_s: 2, max_s: 20, factor: 2, jitter_s: 1 },
  crash_loop: { threshold: 5, short_round_s: 20, cooldown_s: 15 },
  auth_probe_interval_s: 10,
  monitor_poll_interval_s: 5,
  watchdog: {
    interval_s: 2,
    tier_cooldown_s: 5,
    term_grace_s: 3,
    verify_window_s: 10,
    signature_window_s: 120,
    stale_runner_s: 10,
    stale_bridge_s: 20,
    stale_monitor_s: 20,
  },
};

/** Where a project's notifications go. */
export interface NotifyTargets {
  /** Webhook endpoint URL. */
  webhook: string;
  /** ntfy server URL and topic. */
  ntfyServer: string;
  ntfyTopic: string;
  /** Telegram Bot API stub for operator commands, with the chat and the allowed user. */
  telegram?: { apiUrl: string; chatId: number; userId: number };
}

/**
 * Renders the config of project `name`.
 * @param s the accelerated settings (defaults in the comments are the product's).
 */
export function soakConfig(name: string, to: NotifyTargets, s: SoakSettings): string {
  const w = s.watchdog;
  const lines = [
    `# ${name}: a soak project. Production defaults, except the settings below marked`,
    '# "soak:", shortened so that faults of a week fit in minutes; the product logic is the same.',
    `project = "${name}"`,
    '',
    '[agent]',
    '# The claude preset as `agent-runner init --preset claude` writes it; `claude` on PATH is the',
    "# soak's fake CLI, which replays real Claude Code 2.1.330 stream-json.",
    'preset = "claude"',
    'command = ["claude", "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]',
    'prompt_delivery = "stdin"',
    'terminal = "pipe"',
    'env = { CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1", DISABLE_AUTOUPDATER = "1" }',
    '',
    '[prompt]',
    'file = "PROMPT.md"',
    '',
    '[runtime]',
    `# soak: ${s.restart_delay_s} s between rounds (default 5): more rounds per minute of soak.`,
    `restart_delay_s = ${s.restart_delay_s}`,
    `# soak: ${s.round_timeout_s} s wall clock per round (default 3600); the slowest scenario takes ~6 s.`,
    `round_timeout_s = ${s.round_timeout_s}`,
    `# soak: ${s.inactivity_timeout_s} s of silence is a hang (default 900); the fake writes a line at least every second.`,
    `inactivity_timeout_s = ${s.inactivity_timeout_s}`,
    `# soak: ${s.max_grace_after_result_s} s for the CLI to exit after its result (default 30).`,
    `max_grace_after_result_s = ${s.max_grace_after_result_s}`,
    `# soak: ${s.kill_grace_s} s from SIGTERM to SIGKILL of a round's group (default 10).`,
    `kill_grace_s = ${s.kill_grace_s}`,
    `# soak: a heartbeat every ${s.heartbeat_interval_s} s (default 10), so the watchdog's staleness limits can be short.`,
    `heartbeat_interval_s = ${s.heartbeat_interval_s}`,
    '',
    '[runtime.backoff]',
    `# soak: back-off from ${s.backoff.base_s} s (default 30), capped at ${s.backoff.max_s} s (default 1800), jitter ${s.backoff.jitter_s} s (default 15).`,
    `base_s = ${s.backoff.base_s}`,
    `max_s = ${s.backoff.max_s}`,
    `factor = ${s.backoff.factor}`,
    `jitter_s = ${s.backoff.jitter_s}`,
    '',
    '[runtime.crash_loop]',
    `# Default threshold; soak: a failing round under ${s.crash_loop.short_round_s} s is "short" (default 60), scaled like the back-off.`,
    `threshold = ${s.crash_loop.threshold}`,
    `short_round_s = ${s.crash_loop.short_round_s}`,
    `# soak: the half-open try ${s.crash_loop.cooldown_s} s after the loop stopped rounds (default 1800, doubling up to cooldown_max_s).`,
    `cooldown_s = ${s.crash_loop.cooldown_s}`,
    '',
    '[runtime.auth]',
    `# soak: probe a rejected login every ${s.auth_probe_interval_s} s (default 300).`,
    `probe_interval_s = ${s.auth_probe_interval_s}`,
    '',
    '[vcs]',
    '# Default: a dirty tree after a round is stashed and recorded by SHA.',
    'dirty_action = "stash"',
    '',
    '[monitor]',
    `# soak: poll every ${s.monitor_poll_interval_s} s (default 30).`,
    `poll_interval_s = ${s.monitor_poll_interval_s}`,
    '',
    '[bridge]',
    '# Defaults: the outbox checked every second, identical notifications within 600 s sent once.',
    'poll_interval_s = 1',
    '',
    '[watchdog]',
    '# All three units run on this host.',
    'targets = ["runner", "bridge", "monitor"]',
    `# soak: probe every ${w.interval_s} s (default 10), ${w.tier_cooldown_s} s between tiers (default 30; a unit starts in ~1 s),`,
    `# T2 grace ${w.term_grace_s} s (default 15), T3 verified after ${w.verify_window_s} s healthy (default 60).`,
    `interval_s = ${w.interval_s}`,
    `tier_cooldown_s = ${w.tier_cooldown_s}`,
    `term_grace_s = ${w.term_grace_s}`,
    `verify_window_s = ${w.verify_window_s}`,
    `# soak: the same failure counts as coming back within ${w.signature_window_s} s of its last heal (default 3600). The soak`,
    '# compresses a week of faults into hours (the long profile freezes serve every ~12 min): with',
    '# the default hour, independent injected faults would read as one failure that heals do not fix.',
    `signature_window_s = ${w.signature_window_s}`,
    '',
    '[watchdog.stale_after_s]',
    `# soak: stale after ${w.stale_runner_s} s = 5 runner heartbeats (default 45), ${w.stale_bridge_s} s = 4 bridge or monitor`,
    '# heartbeats (default 45 for each; both beat every 5 s, not configurable).',
    `runner = ${w.stale_runner_s}`,
    `bridge = ${w.stale_bridge_s}`,
    `monitor = ${w.stale_monitor_s}`,
    '',
    '# Notifications at the default min_severity ("warning"): what reaches the phone.',
    '[notify.hook]',
    'type = "webhook"',
    `url = "${to.webhook}"`,
    '',
    '[notify.phone]',
    'type = "ntfy"',
    `server = "${to.ntfyServer}"`,
    `topic = "${to.ntfyTopic}"`,
  ];
  if (to.telegram) {
    lines.push(
      '',
      '# Operator commands (/pause, /resume) from one allowed user; replies only, alarms go to the two above.',
      "# The bot token comes from the unit's EnvironmentFile (/etc/agent-runner/<project>.env).",
      '[notify.chat]',
      'type = "telegram"',
      `api_url = "${to.telegram.apiUrl}"`,
      `chat_id = ${to.telegram.chatId}`,
      `allowed_user_ids = [${to.telegram.userId}]`,
      'kinds = ["command_reply"]',
    );
  }
  return `${lines.join('\n')}\n`;
}
