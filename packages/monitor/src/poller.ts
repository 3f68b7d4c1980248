import { alarmOrigin, ALARMS } from '@agent-runner/core/alarms';
import type { EventRecord } from '@agent-runner/core/events';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import { redactText } from '@agent-runner/core/redact';
import type { LogPriority } from '@agent-runner/core/unit';
import type { AlertScope, AlertSink } from './alerts.js';
import { runDetectors, runnerPause, type Finding } from './detectors.js';
import type { DetectorHooks, HookPoll } from './hooks.js';
import type { MonitorSettings } from './settings.js';
import { silenceFacts } from './silence.js';
import type { HostSnapshot } from './snapshot.js';
import type { HostSource } from './source.js';
import { EventWindow } from './window.js';
import { MonitorEvents } from './writes.js';

/** Dependencies of {@link HostPoller}. */
export interface PollerDeps {
  settings: MonitorSettings;
  /** Raises/clears alerts; absent = observe only (`--mode http`). */
  sink?: AlertSink | undefined;
  events?: MonitorEvents | undefined;
  now: () => number;
  log: (priority: LogPriority, line: string) => void;
  /** Called with each new event (the HTTP page keeps the newest). */
  onEvent?: (host: string, e: EventRecord) => void;
  /** Local source only: did the work tree's HEAD move (an agent committing by itself)? */
  headMoved?: () => boolean;
  /** Local source only: the project's `detector` hooks, run every poll (./hooks.ts). */
  hooks?: Pick<DetectorHooks, 'run'> | undefined;
}

/** The runner's disk gate (`disk_min_free_mb`, from peek's defenses), bytes; 0: off. */
const diskGateBytes = (s: HostSnapshot): number => Number(s.defenses['disk_min_free_mb']) * 1048576;

/**
 * Causes a running runner tells by itself: with its disk gate on (`disk_min_free_mb`) and
 * less free than the gate, the disk (`disk_full`), even while a full ledger keeps it from
 * raising the alarm yet — the monitor's disk alerts would be a second message for one cause.
 * Above the gate the disk alerts are the monitor's: the runner sees nothing wrong yet.
 */
function runnerOwned(s: HostSnapshot): ReadonlySet<string> {
  const gateBytes = diskGateBytes(s);
  const free = s.system.disk?.free_bytes;
  return new Set(s.service.state === 'running' && gateBytes > 0 && free !== undefined && free < gateBytes ? ['disk_full'] : []);
}

/** The runner in one phrase, for a notification body. */
function runnerNow(s: HostSnapshot, pause: string | null): string {
  if (s.service.state !== 'running') return s.service.state === 'stopped' ? 'stopped' : 'state unknown';
  if (pause) return `running, holding rounds by itself (${pause})`;
  return s.current_round ? `running round ${s.current_round.round}` : `running (${s.service.activity ?? 'between rounds'})`;
}

/** Health of the link to a host. */
export type LinkState = 'ok' | 'failing' | 'gave_up' | 'refused';

/**
 * Polls one host, keeps its event window, runs the detectors and hands findings to the sink;
 * for remote hosts it also applies the failure tolerance window: every failed poll is a
 * `monitor_remote_blip`, and when polls have failed for `remote_failure_tolerance_s` since the
 * last success a `monitor_remote_giveup` ends supervision of that host. A refused host key
 * ends it at once (retrying cannot make a wrong key right).
 */
export class HostPoller {
  readonly window: EventWindow;
  snapshot: HostSnapshot | undefined;
  findings: Finding[] = [];
  link: LinkState = 'ok';
  consecutiveFailures = 0;
  lastError: string | undefined;
  lastOkMs: number | undefined;
  lastPollMs: number | undefined;
  /** Wall time of the last successful poll, seconds. */
  lastPollDurationS = 0;
  lastPollBytes = 0;
  polls = 0;
  private readonly startedMs: number;

  constructor(
    readonly source: HostSource,
    private readonly deps: PollerDeps,
  ) {
    this.startedMs = deps.now();
    this.window = new EventWindow(this.startedMs);
    this.events = deps.events ?? new MonitorEvents(undefined, deps.log);
  }

  private readonly events: MonitorEvents;

  get host(): string {
    return this.source.host;
  }

  /** True while the host is still supervised. */
  get active(): boolean {
    return this.link === 'ok' || this.link === 'failing';
  }

  /** One poll cycle; never throws. */
  async cycle(): Promise<void> {
    if (!this.active) return;
    const t0 = performance.now();
    const nowMs = this.deps.now();
    this.lastPollMs = nowMs;
    let r;
    try {
      r = await this.source.poll();
    } catch (e) {
      this.failed(e, this.deps.now());
      return;
    }
    this.polls++;
    if (this.link === 'failing') this.deps.log('notice', `${this.host}: reachable again after ${this.consecutiveFailures} failed poll(s)`);
    this.link = 'ok';
    this.consecutiveFailures = 0;
    // The tolerance window runs from the end of the last good answer.
    this.lastOkMs = this.deps.now();
    this.lastPollBytes = r.bytes;
    let ended = false;
    for (const e of r.events) {
      this.window.ingest(e);
      this.deps.onEvent?.(this.host, e);
      if (e.kind === 'round_end') ended = true;
    }
    // Asked every poll, so the remembered HEAD is current when a round ends.
    if (this.deps.headMoved?.() && ended) this.window.headMoved();
    const snap = r.snapshot;
    this.snapshot = snap;
    const evalMs = this.deps.now();
    const builtIn = runDetectors({ snapshot: snap, window: this.window, settings: this.deps.settings, nowMs: evalMs });
    const hooked: HookPoll | undefined = this.deps.hooks ? await this.deps.hooks.run() : undefined;
    const findings = hooked ? [...builtIn, ...hooked.findings] : builtIn;
    const silent = silenceFacts(snap, this.window, this.deps.settings, evalMs);
    const pause = runnerPause(snap, this.window);
    const sink = this.deps.sink;
    const scope: AlertScope = { host: this.host, origin: this.source.origin, project: snap.project, runner: runnerNow(snap, pause) };
    const silenceActive = sink
      ? sink.silence(scope, silent, { atMs: this.window.lastProductiveMs, round: this.window.lastProductiveRound }) !== undefined
      : silent !== undefined;
    const shown = hooked ? [...findings, ...hooked.kept] : findings;
    this.findings = silenceActive ? [...shown, silenceFinding(silent, this.window)] : shown;
    this.lastPollDurationS = (performance.now() - t0) / 1000;
    if (!sink) return;
    const { autoStop } = sink.apply(scope, findings, snap.alarms ?? [], runnerOwned(snap), hooked?.failed);
    for (const f of autoStop) {
      // Only a runner that runs rounds unprotected; one that is stopped or holds rounds by
      // itself is judged again at the next poll.
      if (!this.deps.settings.auto_stop || snap.service.state !== 'running') continue;
      // A runner with its own disk gate never starts a round on a full disk (and on one, its
      // heartbeat cannot say it paused): stopping it would only turn the pause into a manual start.
      const guard = f.detector === 'disk_critical' && diskGateBytes(snap) > 0 ? 'disk' : pause;
      if (guard) {
        sink.autoStopHeld(scope, f, guard);
        continue;
      }
      this.deps.log('warning', `${this.host}: ${f.detector} fired; stopping the runner (auto-stop)`);
      const res = await this.source.stop(`monitor auto-stop: ${f.detector}`);
      sink.autoStopped(scope, f, res);
    }
  }

  /** Display name of the host in notification titles: `<project>@<host>` once its project is known. */
  private origin(): string {
    return this.snapshot ? alarmOrigin(this.snapshot.project, this.source.origin) : this.source.origin;
  }

  private failed(e: unknown, nowMs: number): void {
    const msg = redactText(e instanceof Error ? e.message : String(e)).slice(0, 500);
    this.lastError = msg;
    this.consecutiveFailures++;
    const sink = this.deps.sink;
    if (isAgentRunnerError(e) && e.code === 'ERR_AR_SSH_HOST_KEY') {
      this.link = 'refused';
      this.deps.log('err', `${this.host}: ${msg}`);
      sink?.print({ type: 'host_key_refused', level: 'CRIT', host: this.host, message: msg, code: e.code }, nowMs);
      sink?.notice({
        idempotencyKey: `monitor:${this.host}:host-key:${msg.slice(0, 120)}`,
        kind: 'monitor_host_key_refused',
        severity: 'critical',
        title: `${this.origin()}: SSH host key refused; not polling it`,
        body: `${msg}\n\nIf the host was reinstalled, check its key and update ~/.ssh/known_hosts (ssh-keygen -R ${this.host}), then restart the monitor.`,
        payload: { phase: 'alarm', host: this.host },
        createdAtMs: nowMs,
      });
      return;
    }
    if (this.source.host === 'local') {
      this.link = 'failing';
      this.deps.log('err', `poll failed: ${msg}`);
      return;
    }
    this.link = 'failing';
    const timeout = /no answer within|timed? ?out/i.test(msg);
    const exitCode = isAgentRunnerError(e) && e.found !== undefined && /^\d+$/.test(e.found) ? Number(e.found) : timeout ? null : 255;
    const failingS = (nowMs - (this.lastOkMs ?? this.startedMs)) / 1000;
    this.emit('monitor_remote_blip', { host: this.host, exit_code: exitCode, consecutive: this.consecutiveFailures, error: msg });
    sink?.print(
      {
        type: 'remote_blip',
        level: 'WARN',
        host: this.host,
        message: `poll ${this.consecutiveFailures} failed (${Math.round(failingS)} s without an answer): ${msg}`,
        consecutive: this.consecutiveFailures,
        exit_code: exitCode,
        error: msg,
      },
      nowMs,
    );
    this.deps.log('warning', `${this.host}: poll failed (${this.consecutiveFailures} in a row, ${Math.round(failingS)} s): ${msg}`);
    if (failingS < this.deps.settings.remote_failure_tolerance_s || this.consecutiveFailures < 2) return;
    this.link = 'gave_up';
    this.emit('monitor_remote_giveup', { host: this.host, consecutive: this.consecutiveFailures, failing_s: failingS, last_error: msg });
    sink?.print(
      {
        type: 'remote_giveup',
        level: 'CRIT',
        host: this.host,
        message: `giving up after ${this.consecutiveFailures} failed polls over ${Math.round(failingS)} s: ${msg}`,
        consecutive: this.consecutiveFailures,
        failing_s: failingS,
      },
      nowMs,
    );
    this.deps.log('err', `${this.host}: giving up after ${Math.round(failingS)} s of failed polls`);
    sink?.notice({
      idempotencyKey: `monitor:${this.host}:giveup:${this.lastOkMs ?? this.startedMs}`,
      kind: 'monitor_remote_giveup',
      severity: 'critical',
      title: `${this.origin()}: unreachable for ${Math.round(failingS)} s; remote supervision stopped`,
      body: `${msg}\n\nCheck: ssh ${this.host} agent-runner peek; the monitor service retries after its restart delay.`,
      payload: { phase: 'alarm', host: this.host },
      createdAtMs: nowMs,
    });
    this.source.close();
  }

  private emit(kind: 'monitor_remote_blip' | 'monitor_remote_giveup', payload: Record<string, unknown>): void {
    this.events.emit(kind, payload);
  }
}

/** The silence alarm as a finding of the page and /metrics (the alarm itself is the sink's). */
function silenceFinding(facts: Record<string, unknown> | undefined, w: EventWindow): Finding {
  const since = w.lastProductiveMs === undefined ? 'the monitor started' : new Date(w.lastProductiveMs).toISOString();
  return {
    detector: 'silence',
    severity: ALARMS.silence.severity,
    policy: 'notify',
    benign: false,
    coveredBy: [],
    message: `no productive round since ${since} (${w.roundsSinceProductive} rounds since)`,
    evidence: facts ?? { last_productive_at: w.lastProductiveMs === undefined ? null : since, rounds_since: w.roundsSinceProductive },
    fix: 'Look at the last rounds: agent-runner peek --round latest --log',
  };
}
