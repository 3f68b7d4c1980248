/**
 * The event kind catalogue: the one place that says which events exist, who emits them,
 * how severe they are and what their payload holds. The writer validates against it,
 * TypeScript derives payload types from it and `docs/events.md` is generated from it.
 *
 * Rules (checked by test/events-catalogue.test.ts): names are snake_case and never renamed;
 * a breaking payload change is a new kind; compatible additions (a new optional field) bump
 * `version`; payload fields never reuse an envelope name (`v ts kind unit project round`).
 */
import type { EventUnit, FieldSpec, FieldType, KindSpec, PayloadOfSpec } from './types.js';

interface Field<T extends FieldType, R extends boolean> extends FieldSpec {
  readonly type: T;
  readonly required: R;
}

/** A required field. */
function req<T extends FieldType>(type: T, description: string, maxLength?: number): Field<T, true> {
  return maxLength === undefined ? { type, required: true, description } : { type, required: true, description, maxLength };
}

/** An optional field (may be omitted). */
function opt<T extends FieldType>(type: T, description: string, maxLength?: number): Field<T, false> {
  return maxLength === undefined ? { type, required: false, description } : { type, required: false, description, maxLength };
}

const RUNNER: readonly EventUnit[] = ['runner'];
const ALL_DAEMONS: readonly EventUnit[] = ['runner', 'bridge', 'watchdog', 'monitor'];

const CLASSIFICATION =
  'Outcome class: `ok`, `rate_limit`, `overloaded`, `server_error`, `timeout`, `auth`, `network`, `config`, `crash`, `hang` or `interrupted`.';

/** The catalogue, keyed by kind name. Append new kinds; never rename or remove one. */
export const EVENT_CATALOGUE = {
  serve_started: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The round runner (`agent-runner serve`) started and is about to enter its round loop.',
    fields: {
      pid: req('integer', 'PID of the serve process.'),
      version: req('string', 'agent-runner version running.'),
      agent: req('string', 'Agent adapter in use (`claude`, `codex`, `gemini`, `aider`, `generic`).'),
      work_dir: req('string', 'Absolute path of the work tree the agent runs in.'),
      config_file: req('string|null', 'Absolute path of the config file, null when built from flags only.'),
      max_rounds: req('integer|null', 'Round limit of this serve run; null when unbounded.'),
      next_round: req('integer', 'Number the next round will get (continues the ledger after a restart).'),
    },
  },
  serve_stopped: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The round runner left its loop and is exiting.',
    fields: {
      reason: req(
        'string',
        'Why: `max_rounds`, `stop_requested`, `agent_done`, `signal`, `transient_error`, `crash_loop`, `config_broken`, `restart_marker`, `upgrade` or `error`.',
      ),
      exit_code: req('integer', 'Exit code the process will exit with (sysexits).'),
      rounds_run: req('integer', 'Rounds started by this serve run.'),
      signal: opt('string|null', 'Signal name when `reason` is `signal` (e.g. `SIGTERM`).'),
      uptime_s: opt('number', 'Seconds since `serve_started`.'),
    },
  },
  round_start: {
    version: 1,
    units: RUNNER,
    severity: 'info',
    description: 'A round started: the prompt is assembled and the agent is being spawned.',
    fields: {
      phase: req('string', 'Phase name of the round (`default` when the config has no phases).'),
      prompt_bytes: req('integer', 'Size of the assembled prompt in bytes (UTF-8).'),
      log_file: req('string', 'Absolute path of the round log.'),
      agent: opt('string', 'Agent adapter running the round.'),
      attempt: opt('integer', 'Consecutive attempt number of this round after transient failures (1 = first try).'),
    },
  },
  round_end: {
    version: 1,
    units: RUNNER,
    severity: 'info',
    description: 'A round finished (the agent exited or was killed) and was classified.',
    fields: {
      phase: req('string', 'Phase name of the round.'),
      exit_code: req('integer|null', 'Exit status of the agent; null when it was killed by a signal.'),
      signal: req('string|null', 'Signal that ended the agent (e.g. `SIGKILL`), null on a normal exit.'),
      duration_s: req('number', 'Wall time of the round in seconds.'),
      classification: req('string', CLASSIFICATION),
      output_bytes: req('integer', 'Bytes of agent output written to the round log.'),
      usage: req(
        'object|null',
        'Token usage reported by the agent: `{input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens}` (integers, any may be absent); null when unknown.',
      ),
      cost_usd: req('number|null', 'Cost of the round in US dollars as reported by the agent; null when unknown.'),
      evidence: req(
        'array',
        'Redacted evidence behind the classification: `[{source, line?, event_type?, status?, detail?}]`, `source` being `stream` (line of the round log), `exit` or `supervisor`.',
      ),
      reset_at: opt('string|null', 'For `rate_limit`: ISO-8601 UTC time the limit resets, when the agent said so.'),
      killed_by: opt(
        'string',
        'The supervisor kill that ended the round: `timeout`, `inactivity`, `grace`, `fatal` or `operator`; absent when the agent exited by itself.',
      ),
      summary: opt('string', 'One-line redacted summary of the classification.', 500),
    },
  },
  round_interrupted: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description: 'At start-up, a round left open by a previous serve process (crash, kill, reboot) was closed as `interrupted`.',
    fields: {
      previous_pid: req('integer|null', 'PID of the serve process that ran the round, when recorded.'),
      reason: req('string', 'What happened to it: `process_gone`, `host_rebooted` (boot id changed) or `pid_recycled`.'),
      started_at: opt('string|null', 'ISO-8601 UTC start time of the interrupted round.'),
    },
  },
  git_index_lock_removed: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description:
      "Before a round, the work tree's git `index.lock` was left by a git that no longer runs (killed mid-command: a round ended by a limit, serve killed with its cgroup, an OOM kill, a power cut): at least 2 s old and no live git process in the work tree, so it was removed. Left in place, every git command of the agent and of the runner's hygiene would fail until a human removed it.",
    fields: {
      path: req('string', 'The lock file removed (absolute).'),
      age_s: req('number', 'Its age when removed, seconds (from its mtime).'),
    },
  },
  orphan_group_ended: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description:
      "At start-up, before the next round, the agent process group of a round the previous serve left open was still alive (serve was killed, its agent was not): it was ended, SIGTERM then SIGKILL after `kill_grace_s`, so two rounds never write to one work tree. Identity-checked: the group leader's start time must match the one the round recorded.",
    fields: {
      pgid: req('integer', "The process group (its leader's pid when the round started)."),
      members: req('integer', 'Processes of the group found alive.'),
      kill_sent: req('boolean', 'Some outlived SIGTERM and the grace and got SIGKILL.'),
      remaining: req('integer', 'Processes still alive afterwards (uninterruptible sleep), normally 0.'),
    },
  },
  round_grace_extended: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The agent reported its result but its process group still has live children, so the exit grace was extended.',
    fields: {
      live_children: req('array', 'Children keeping the round open: `[{pid, cmdline}]` (cmdline truncated).'),
      ignored_children: req('array', 'Children matching the persistent-helper patterns, not waited for: `[{pid, cmdline, pattern}]`.'),
      grace_s: req('number', 'Length of the extension in seconds.'),
      extensions: opt('integer', 'Extensions granted so far in this round, including this one.'),
    },
  },
  round_grace_kill: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description:
      "The exit grace after the agent's final result elapsed with no live worker in its process group, and the group was ended. The round keeps the class of that result: a successful one stays `ok`.",
    fields: {
      grace_s: req('number', 'Grace that elapsed, in seconds.'),
      signal: req('string', 'Signal sent to the process group.'),
      pgid: opt('integer', 'Process group killed.'),
    },
  },
  round_timeout_kill: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description: 'The round exceeded its wall-clock ceiling (`round_timeout_s`) and its process group was killed.',
    fields: {
      timeout_s: req('number', 'The configured ceiling in seconds.'),
      elapsed_s: req('number', 'Seconds the round had run.'),
      signal: req('string', 'Signal sent to the process group.'),
      pgid: opt('integer', 'Process group killed.'),
    },
  },
  round_inactivity_kill: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description: 'The agent produced no output for longer than the inactivity limit and its process group was killed.',
    fields: {
      inactivity_s: req('number', 'The configured inactivity limit in seconds.'),
      idle_s: req('number', 'Seconds since the last output byte.'),
      signal: req('string', 'Signal sent to the process group.'),
      pgid: opt('integer', 'Process group killed.'),
    },
  },
  round_fatal_kill: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description:
      'The live classifier saw a failure no retry fixes (e.g. auth) and killed the round at once instead of letting the agent burn its retries.',
    fields: {
      class: req('string', 'Failure class (`auth`, `config`, `rate_limit`, ...).'),
      evidence: req('object', 'Redacted evidence: `{source, line?, event_type?, status?, detail?}`.'),
      signal: opt('string', 'Signal sent to the process group.'),
    },
  },
  round_operator_kill: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'An operator request (chat `/stop`, the CLI) interrupted the running round and its process group was killed.',
    fields: {
      reason: req('string', 'Reason given with the request.', 200),
      signal: opt('string', 'Signal sent to the process group.'),
    },
  },
  round_kill_result: {
    version: 1,
    units: RUNNER,
    severity: 'info',
    description:
      "How ending a round's process group went (after a `round_*_kill`, or for idle helpers the agent left behind when it exited): SIGTERM, the kill grace, SIGKILL for what was left.",
    fields: {
      killed_by: req(
        'string',
        'The kill it follows: `timeout`, `inactivity`, `grace`, `fatal`, `operator`, or `leftovers` (helpers left after the agent exited by itself).',
      ),
      term_sent: req('boolean', 'SIGTERM reached at least one process.'),
      kill_sent: req('boolean', 'Processes outlived the kill grace and got SIGKILL.'),
      duration_s: req('number', 'Seconds from SIGTERM until the group was empty (or given up on).'),
      survivors: req(
        'array',
        'Processes still alive after SIGKILL (uninterruptible sleep), normally empty: `[{pid, comm, state, cmdline}]` (cmdline truncated).',
      ),
    },
  },
  round_log_error: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description:
      'The round log could not be created or written (disk full, quota, I/O error). The round goes on: its output is still classified and counted, but what follows is missing from the log. Once per round.',
    fields: {
      message: req('string', "The file system's error message (names the path).", 500),
      code: req('string|null', 'errno code (`ENOSPC`, `EDQUOT`, `EIO`, ...), null when none.'),
      dropped_bytes: req('integer', 'Output bytes not in the log so far.'),
    },
  },
  round_line_truncated: {
    version: 1,
    units: RUNNER,
    severity: 'info',
    description:
      'An output line was longer than the line cap: the classifier saw its first `max_length` characters (the round log has it whole). Once per round.',
    fields: {
      line: req('integer', 'Line number in the round log.'),
      max_length: req('integer', 'The cap, in characters.'),
    },
  },
  classifier_error: {
    version: 1,
    units: RUNNER,
    severity: 'error',
    description:
      "The agent adapter's live classifier threw on an output line (a bug in the adapter): the line was skipped and the round went on. Once per round.",
    fields: {
      line: req('integer', 'Line number in the round log.'),
      message: req('string', 'The exception message.', 500),
    },
  },
  stop_file_detected: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The stop-request marker was found between rounds; serve exits cleanly (0).',
    fields: {
      path: req('string', 'Path of the marker.'),
      requested_at: opt('string|null', 'ISO-8601 UTC time written in the marker, or its mtime.'),
    },
  },
  agent_self_terminated: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The agent wrote `.agent-done` ("I am done"); serve exits cleanly (0).',
    fields: {
      reason: req('string', 'First 200 characters of the sentinel file (empty when it was empty).', 200),
    },
  },
  max_rounds_reached: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The configured round limit was reached; serve exits cleanly (0).',
    fields: {
      max_rounds: req('integer', 'The limit.'),
      rounds_run: req('integer', 'Rounds run by this serve process.'),
    },
  },
  crash_loop: {
    version: 2,
    units: RUNNER,
    severity: 'critical',
    description:
      'Consecutive short crashes of the agent reached the breaker threshold, or the one round tried after a cool-down crashed too: the breaker opens and no round runs until `retry_at` (without `retry_at`: `runtime.crash_loop.cooldown_s = 0`, serve exits 69).',
    fields: {
      consecutive: req('integer', 'Consecutive crashed rounds.'),
      threshold: req('integer', 'The configured threshold.'),
      last_exit_code: req('integer|null', 'Exit code of the last crashed round (null when killed by a signal).'),
      tail: req('string', 'Redacted last lines of the last round log.', 4000),
      retry_at: opt('string', 'ISO-8601 UTC time of the one round tried after the cool-down (v2).'),
      cooldown_s: opt('number', 'Length of this cool-down in seconds; doubles with each failed try up to `cooldown_max_s` (v2).'),
    },
  },
  crash_loop_recovered: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description:
      'A round succeeded while the crash-loop breaker was open (the round tried after its cool-down): the breaker closes and rounds run again.',
    fields: {
      open_s: req('number', 'Seconds since the breaker opened.'),
      failed_tries: req('integer', 'Rounds tried after a cool-down that crashed again, before this success (this serve run).'),
    },
  },
  config_broken: {
    version: 1,
    units: ['runner', 'cli'],
    severity: 'critical',
    description: 'A start-up check failed permanently (bad config or environment); the process exits 78 and is not restarted.',
    fields: {
      check: req('string', 'Name of the failed check (e.g. `prompt_file`, `git_work_tree`, `agent_on_path`).'),
      detail: req('string', 'What was found and what is expected.', 2000),
      code: opt('string', 'The `ERR_AR_*` error code.'),
    },
  },
  backoff_started: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description: 'Round dispatch pauses after a transient failure; SIGTERM interrupts the wait at once.',
    fields: {
      class: req('string', 'Failure class that caused it (`rate_limit`, `overloaded`, `server_error`, `timeout`, `network`).'),
      delay_s: req('number', 'Length of the pause in seconds, jitter included.'),
      until: req('string', 'ISO-8601 UTC time the next round may start.'),
      attempt: opt('integer', 'Consecutive back-offs for this failure class, including this one.'),
    },
  },
  transient_error_detected: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description: 'The live classifier recognised a transient failure (rate limit, overload, 5xx, timeout, network) in a running round.',
    fields: {
      class: req('string', 'Failure class.'),
      evidence: req('string', 'Short, redacted excerpt of the structured output that matched.', 500),
      http_status: opt('integer|null', 'HTTP status reported by the agent, when any.'),
      reset_at: opt('string|null', 'ISO-8601 UTC time the limit resets, when the agent said so.'),
    },
  },
  transient_error_recovered: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'A round succeeded after one or more transient failures.',
    fields: {
      class: req('string', 'Failure class that was recovered from.'),
      downtime_s: req('number', 'Seconds from the first failure to this success.'),
      failed_rounds: req('integer', 'Rounds lost to the failure.'),
    },
  },
  auth_paused: {
    version: 1,
    units: RUNNER,
    severity: 'error',
    description:
      'Authentication failed; the round was ended at the first failure and the runner pauses, probing on a schedule instead of looping or exiting. Notified once.',
    fields: {
      hint: req('string', "What the operator should do for this agent CLI (the adapter's auth-failure hint).", 500),
      evidence: req('string', 'Short, redacted excerpt of the output that showed the failure.', 500),
      probe_interval_s: req('number', 'Seconds between probe rounds while paused.'),
    },
  },
  auth_recovered: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'A round succeeded again after an authentication pause; the runner resumed by itself.',
    fields: {
      paused_s: req('number', 'Seconds the runner was paused.'),
      probes: req('integer', 'Probe rounds that failed before this success.'),
    },
  },
  budget_exhausted: {
    version: 1,
    units: RUNNER,
    severity: 'warning',
    description: "Today's reported cost reached `runtime.daily_cost_budget_usd`; no round starts until 00:00 UTC.",
    fields: {
      cost_usd: req('number', 'Cost reported today (UTC) so far.'),
      budget_usd: req('number', 'The configured daily budget.'),
      until: req('string', 'ISO-8601 UTC time rounds resume.'),
    },
  },
  disk_paused: {
    version: 1,
    units: RUNNER,
    severity: 'critical',
    description:
      'The state or log file system is (nearly) full: less than `runtime.disk_min_free_mb` free before a round, or a ledger write failed with ENOSPC/SQLITE_FULL. No round starts; serve re-checks every few seconds and resumes by itself.',
    fields: {
      path: req('string', 'Directory measured (the fuller of the state and log directories).'),
      free_bytes: req('integer|null', 'Bytes free for an unprivileged writer (statfs f_bavail * f_bsize); null when statfs failed.'),
      min_free_bytes: req('integer', 'The configured minimum (`disk_min_free_mb`) in bytes.'),
      cause: req('string', '`low_space` (the gate before a round) or the ledger write that failed (e.g. `finish round`).'),
    },
  },
  disk_resumed: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'Space is free again after a `disk_paused`; the pending write went through or the next round may start.',
    fields: {
      paused_s: req('number', 'Seconds the runner waited for space.'),
      free_bytes: req('integer|null', 'Bytes free now.'),
    },
  },
  runner_paused: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'An operator paused the runner (`/pause` or the pause marker); no round starts until resumed or the pause ends.',
    fields: {
      requested_by: req('string', 'Who paused it.'),
      until: req('string|null', 'ISO-8601 UTC end of the pause; null until resumed.'),
    },
  },
  runner_resumed: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'A pause ended (resumed by an operator, or its duration elapsed).',
    fields: {
      paused_s: req('number', 'Seconds the runner was paused.'),
    },
  },
  vcs_stashed: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'Uncommitted changes left by a failed or interrupted round were stashed.',
    fields: {
      sha: req('string', 'Commit id of the stash entry.'),
      files: opt('integer', 'Files in the stash.'),
      message: opt('string', 'Stash message.', 200),
    },
  },
  vcs_committed: {
    version: 1,
    units: RUNNER,
    severity: 'info',
    description: 'Changes left by a round were committed by the runner.',
    fields: {
      sha: req('string', 'Commit id.'),
      files: opt('integer', 'Files changed.'),
      message: opt('string', 'First line of the commit message.', 200),
    },
  },
  vcs_dirty_ignored: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: 'The work tree was dirty after a round and policy left it as it was.',
    fields: {
      files: req('integer', 'Files with uncommitted changes.'),
      policy: opt('string', 'The git hygiene policy that applied.'),
    },
  },
  restart_marker_consumed: {
    version: 1,
    units: ALL_DAEMONS,
    severity: 'notice',
    description: 'A unit found its own restart marker, removed it and is restarting.',
    fields: {
      nonce: req('string', 'Nonce of the marker (matches the request and the heal action).'),
      requested_at: req('string', 'ISO-8601 UTC time the restart was requested.'),
      requested_by: opt('string|null', 'Who asked: `watchdog`, `cli`, `bridge` (operator command), ...'),
      latency_s: opt('number', 'Seconds between the request and its consumption.'),
    },
  },
  service_upgraded: {
    version: 2,
    units: ['cli'],
    severity: 'notice',
    description: 'An orchestrated upgrade finished: the services run the new version.',
    fields: {
      from_version: req('string', 'Version before the upgrade.'),
      to_version: req('string', 'Version now running.'),
      units: req('array', 'systemd units restarted (strings).'),
      downtime_s: opt(
        'number',
        'Seconds from the stop (its graceful wait for the current round included) until every unit was up on the new version (v2).',
      ),
    },
  },
  package_upgraded: {
    version: 1,
    units: ['cli'],
    severity: 'notice',
    description: 'The installed package was upgraded without touching the running services.',
    fields: {
      from_version: req('string', 'Version before the upgrade.'),
      to_version: req('string', 'Version installed.'),
      method: req('string', 'How: `npm` or `checkout`.'),
    },
  },
  service_upgrade_rolled_back: {
    version: 2,
    units: ['cli'],
    severity: 'error',
    description:
      'An upgrade failed and the previous version runs: its staging install or smoke check failed (nothing was stopped), or the new version failed after the stop and the previous one was restored and restarted.',
    fields: {
      from_version: req('string', 'Version restored (the one running now).'),
      to_version: req('string', 'Version that failed.'),
      reason: req('string', 'What failed.', 2000),
      downtime_s: opt(
        'number',
        'Seconds the units were down, from the stop until the previous version was up again; 0 when staging failed; absent when no units were managed (v2).',
      ),
    },
  },
  service_upgrade_rollback_failed: {
    version: 1,
    units: ['cli'],
    severity: 'critical',
    description: 'An upgrade failed and so did the rollback; the services are stopped and need an operator.',
    fields: {
      from_version: req('string', 'Version that should have been restored.'),
      to_version: req('string', 'Version that failed.'),
      reason: req('string', 'Why the upgrade failed.', 2000),
      rollback_error: req('string', 'Why the rollback failed.', 2000),
    },
  },
  monitor_remote_blip: {
    version: 1,
    units: ['monitor'],
    severity: 'warning',
    description: 'One poll of a remote host over SSH failed.',
    fields: {
      host: req('string', 'Host alias polled.'),
      exit_code: req('integer|null', 'Exit status of the ssh command (255 = ssh itself failed); null on a timeout.'),
      consecutive: req('integer', 'Consecutive failed polls of this host, including this one.'),
      error: req('string', 'Redacted stderr or error message.', 500),
    },
  },
  monitor_remote_giveup: {
    version: 1,
    units: ['monitor'],
    severity: 'critical',
    description: 'Polls of a remote host kept failing past the give-up limit; remote supervision stopped.',
    fields: {
      host: req('string', 'Host alias.'),
      consecutive: req('integer', 'Consecutive failed polls.'),
      failing_s: req('number', 'Seconds since the last successful poll.'),
      last_error: req('string', 'Redacted error of the last poll.', 500),
    },
  },
  heal_action: {
    version: 2,
    units: ['watchdog'],
    severity: 'warning',
    description:
      'The watchdog acted on an unhealthy unit (one tier per probe), or respawned a unit that exited 75 for a restart outside systemd.',
    fields: {
      target: req('string', 'Unit acted on: `runner`, `bridge` or `monitor`.'),
      tier: req(
        'integer',
        'Heal tier: 1 restart marker, 2 SIGTERM, 3 SIGKILL + respawn, 4 circuit broken; v2: 0 for a respawn after exit 75 without systemd (no failure, no tier).',
      ),
      action: req('string', 'What was done: `restart_marker`, `sigterm`, `sigkill_respawn`, `circuit_break`; v2: `respawn` (tier 0).'),
      reason: req('string', 'Why the unit was judged unhealthy (e.g. `heartbeat_stale`, `identity_mismatch`).', 500),
      pid: req('integer|null', 'PID signalled (identity re-verified just before), null when none was.'),
      nonce: opt('string', 'Nonce of the restart marker written (tier 1).'),
      attempt: opt(
        'integer',
        'Episodes of this failure signature within `signature_window_s`, this one included (every tier of one episode carries the same number; the breaker opens when one more would exceed `breaker_after_same_signature`).',
      ),
    },
  },
  heal_verdict_changed: {
    version: 1,
    units: ['watchdog'],
    severity: 'notice',
    description: "The watchdog's verdict on a unit changed.",
    fields: {
      target: req('string', 'Unit judged.'),
      from: req(
        'string',
        'Previous verdict: `healthy`, `unhealthy`, `unknown` (not enough data to judge; never acted on), `healing`, `verifying` or `circuit_broken`.',
      ),
      to: req('string', 'New verdict (same values).'),
      reason: req('string', 'What the verdict rests on.', 500),
    },
  },
  notification_dead_lettered: {
    version: 1,
    units: ['bridge'],
    severity: 'error',
    description: 'A notification exhausted its delivery attempts and was moved out of the outbox.',
    fields: {
      notification_id: req('integer', 'Outbox row id in the ledger.'),
      transport: req('string', 'Transport that failed (`telegram`, `slack`, `webhook`, `email`, ...).'),
      attempts: req('integer', 'Delivery attempts made.'),
      last_error: req('string', 'Redacted error of the last attempt.', 500),
      idempotency_key: opt('string', 'Idempotency key of the notification.'),
    },
  },
  command_received: {
    version: 2,
    units: ['bridge'],
    severity: 'notice',
    description:
      'An operator command was received: accepted and recorded in the ledger inbox, or rejected (sender or chat not allowed, stale).',
    fields: {
      command: req('string', 'Command name without the slash (`status`, `pause`, `resume`, `stop`, `tail`, ...).'),
      args: req('array', 'Arguments (strings), redacted.'),
      platform: req('string', 'Where it came from (`telegram`, `slack`, `cli`, ...).'),
      sender: req('string', 'Sender id on that platform (allow-listed unless `status` is `rejected`).'),
      message_id: req('string|null', 'Platform message id (de-duplicates redeliveries), null when none.'),
      inbox_id: opt('integer', 'Inbox row id in the ledger.'),
      status: opt(
        'string',
        'v2: `accepted` (stored in the inbox) or `rejected` (never executed); absent in v1 lines, which were all accepted.',
      ),
      reason: opt(
        'string',
        'v2: why a command was rejected (`sender_not_allowed`, `chat_not_allowed`, `commands_disabled`, `stale`).',
        200,
      ),
    },
  },
  heal_verified: {
    version: 2,
    units: ['watchdog'],
    severity: 'notice',
    description:
      'The watchdog checked the outcome of a heal action: a new enrollment (T1), the process gone within the grace (T2), healthy through the verification window (T3).',
    fields: {
      target: req('string', 'Unit acted on.'),
      tier: req('integer', 'Tier whose action was checked (1, 2 or 3).'),
      result: req(
        'string',
        "`succeeded` or `failed`; v2: `superseded` when the unit stopped being the watchdog's to heal (systemd restarting it, stopped on purpose): not a failure.",
      ),
      reason: req('string', 'What the result rests on.', 500),
      nonce: opt('string', 'Nonce of the action (matches `heal_action`).'),
      failed_t3: opt('integer', 'Failed T3s in a row so far (the breaker opens at `breaker_after_failed_t3`).'),
    },
  },
  heal_breaker_reset: {
    version: 1,
    units: ['watchdog'],
    severity: 'notice',
    description:
      "An operator reset a unit's heal circuit breaker (`agent-runner heal reset` or the chat command); the watchdog acts on it again.",
    fields: {
      target: req('string', 'Unit whose breaker was reset.'),
      by: req('string', 'Who: `cli:<user>`, `telegram:<id>`, ...'),
      reason: req('string', 'Why, as given.', 500),
      was_open: req('boolean', 'Whether the breaker was open (a reset of a closed breaker only clears counters).'),
    },
  },
  monitor_alert_raised: {
    version: 1,
    units: ['monitor'],
    severity: 'warning',
    description: 'A monitor detector found a condition (one event per alert, not per poll; the ledger `alerts` row has the details).',
    fields: {
      detector: req('string', 'Detector name (`oauth_fail`, `disk_critical`, `silence`, ...; see RUNBOOK.md).'),
      alert_severity: req('string', 'Severity of the alert: `info`, `warning`, `error` or `critical`.'),
      host: req('string', "Host alias the condition is on (`local` for the monitor's own host)."),
      message: req('string', 'One-line description.', 500),
      policy: req('string', '`notify` or `auto-stop`.'),
      alert_id: opt('integer', 'Row id in the ledger `alerts` table.'),
    },
  },
  monitor_alert_cleared: {
    version: 1,
    units: ['monitor'],
    severity: 'notice',
    description: "A monitor alert's condition no longer holds.",
    fields: {
      detector: req('string', 'Detector name.'),
      host: req('string', 'Host alias.'),
      active_s: req('number', 'Seconds the alert was active.'),
      alert_id: opt('integer', 'Row id in the ledger `alerts` table.'),
    },
  },
  monitor_auto_stop: {
    version: 1,
    units: ['monitor'],
    severity: 'critical',
    description:
      'A detector whose policy is auto-stop fired and the monitor stopped the runner (`agent-runner stop`, remotely over SSH for a remote host).',
    fields: {
      detector: req('string', 'Detector that fired.'),
      host: req('string', 'Host alias.'),
      result: req('string', '`stopped`, `not_running` or `failed`.'),
      detail: req('string', 'Output or error of the stop, redacted.', 500),
    },
  },
  hook_started: {
    version: 1,
    units: ['runner', 'monitor'],
    severity: 'debug',
    description: 'An operator hook (`[hooks.NAME]`) was started.',
    fields: {
      hook: req('string', 'Hook name (the table name).'),
      event: req('string', 'When it runs: `serve_start`, `pre_round`, `post_round`, `dirty_tree` or `detector`.'),
      pid: req('integer', 'PID (and process group id) of the hook.'),
    },
  },
  hook_finished: {
    version: 1,
    units: ['runner', 'monitor'],
    severity: 'info',
    description: 'A hook exited 0 and its answer (if any) was the expected JSON.',
    fields: {
      hook: req('string', 'Hook name.'),
      event: req('string', 'When it ran.'),
      duration_s: req('number', 'Wall-clock seconds.'),
      exit_code: req('integer', 'Always 0.'),
      answered: req('string', 'What its stdout carried: `nothing`, or the answer keys, comma-separated (`prompt,context`).', 200),
    },
  },
  hook_failed: {
    version: 1,
    units: ['runner', 'monitor'],
    severity: 'warning',
    description:
      'A hook failed (non-zero exit, signal, timeout, could not start, or an answer that is not the expected JSON); `action` says what followed.',
    fields: {
      hook: req('string', 'Hook name.'),
      event: req('string', 'When it ran.'),
      reason: req('string', '`exit`, `signal`, `timeout`, `spawn` or `bad_output`.'),
      message: req('string', 'One line: what went wrong, naming the hook (redacted).', 500),
      exit_code: req('integer|null', 'Its exit code (null: killed, or never started).'),
      signal: req('string|null', 'Signal that ended it (`SIGKILL` after a timeout).'),
      duration_s: req('number', 'Wall-clock seconds.'),
      stderr_tail: req('string', 'Last lines of its stderr, redacted.', 2000),
      action: req('string', '`continue`, `skip_round` or `stop` (from `on_failure`).'),
    },
  },
  prompt_overwritten: {
    version: 1,
    units: RUNNER,
    severity: 'notice',
    description: "A `pre_round` hook replaced the round's prompt (the audit trail: which hook, what was replaced by what).",
    fields: {
      hook: req('string', 'Hook name.'),
      old_sha256: req('string', 'SHA-256 (hex) of the prompt before.'),
      new_sha256: req('string', 'SHA-256 (hex) of the prompt the agent got.'),
      old_bytes: req('integer', 'UTF-8 bytes before.'),
      new_bytes: req('integer', 'UTF-8 bytes after.'),
    },
  },
} as const satisfies Record<string, KindSpec>;

/** Name of a catalogued event kind. */
export type EventKind = keyof typeof EVENT_CATALOGUE;

/** The payload type of kind `K` (the fields after the envelope). */
export type EventPayload<K extends EventKind> = PayloadOfSpec<(typeof EVENT_CATALOGUE)[K]>;

/** All kind names, in catalogue order. */
export const EVENT_KINDS = Object.keys(EVENT_CATALOGUE) as EventKind[];

/** The spec of `kind`, or undefined when it is not catalogued. */
export function kindSpec(kind: string): KindSpec | undefined {
  return Object.prototype.hasOwnProperty.call(EVENT_CATALOGUE, kind) ? (EVENT_CATALOGUE as Record<string, KindSpec>)[kind] : undefined;
}
