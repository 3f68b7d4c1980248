import type { EventWriter } from '@agent-runner/core/events';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import type { Ledger } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import type { AlertSink } from './alerts.js';
import { runDetectors, type Finding } from './detectors.js';
import type { MonitorSettings } from './settings.js';
import type { HostSnapshot } from './snapshot.js';
import type { HostSource } from './source.js';
import { EventWindow } from './window.js';

/** Dependencies of {@link HostPoller}. */
export interface PollerDeps {
  settings: MonitorSettings;
  /** Raises/clears alerts; absent = observe only (`--mode http`). */
  sink?: AlertSink | undefined;
  ledger?: Ledger | undefined;
  events?: EventWriter | undefined;
  now: () => number;
  log: (priority: 'err' | 'warning' | 'notice' | 'info', line: string) => void;
  /** Called with each new event (the HTTP page keeps the newest). */
  onEvent?: (host: string, e: import('@agent-runner/core/events').EventRecord) => void;
  /** Local source only: did the work tree's HEAD move (an agent committing by itself)? */
  headMoved?: () => boolean;
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
  }

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
    if (ended && this.deps.headMoved?.()) this.window.productive(nowMs);
    else if (!ended) this.deps.headMoved?.();
    this.snapshot = r.snapshot;
    this.findings = runDetectors({ snapshot: r.snapshot, window: this.window, settings: this.deps.settings, nowMs: this.deps.now() });
    this.lastPollDurationS = (performance.now() - t0) / 1000;
    const sink = this.deps.sink;
    if (!sink) return;
    const { raised } = sink.apply(this.host, r.snapshot.project, this.findings);
    for (const f of raised) {
      if (f.policy !== 'auto-stop' || !this.deps.settings.auto_stop) continue;
      this.deps.log('warning', `${this.host}: ${f.detector} fired; stopping the runner (auto-stop)`);
      const res = await this.source.stop(`monitor auto-stop: ${f.detector}`);
      sink.autoStopped(this.host, r.snapshot.project, f, res);
    }
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
      this.deps.ledger?.outbox.enqueue({
        idempotencyKey: `monitor:${this.host}:host-key:${msg.slice(0, 120)}`,
        kind: 'monitor_host_key_refused',
        severity: 'critical',
        title: `[CRIT] SSH host key refused for ${this.host}`,
        body: msg,
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
    sink?.print({ type: 'remote_blip', level: 'WARN', host: this.host, message: `poll ${this.consecutiveFailures} failed (${Math.round(failingS)} s without an answer): ${msg}`, consecutive: this.consecutiveFailures, exit_code: exitCode, error: msg }, nowMs);
    this.deps.log('warning', `${this.host}: poll failed (${this.consecutiveFailures} in a row, ${Math.round(failingS)} s): ${msg}`);
    if (failingS < this.deps.settings.remote_failure_tolerance_s || this.consecutiveFailures < 2) return;
    this.link = 'gave_up';
    this.emit('monitor_remote_giveup', { host: this.host, consecutive: this.consecutiveFailures, failing_s: failingS, last_error: msg });
    sink?.print({ type: 'remote_giveup', level: 'CRIT', host: this.host, message: `giving up after ${this.consecutiveFailures} failed polls over ${Math.round(failingS)} s: ${msg}`, consecutive: this.consecutiveFailures, failing_s: failingS }, nowMs);
    this.deps.log('err', `${this.host}: giving up after ${Math.round(failingS)} s of failed polls`);
    this.deps.ledger?.outbox.enqueue({
      idempotencyKey: `monitor:${this.host}:giveup:${this.lastOkMs ?? this.startedMs}`,
      kind: 'monitor_remote_giveup',
      severity: 'critical',
      title: `[CRIT] ${this.host} unreachable for ${Math.round(failingS)} s; remote supervision stopped`,
      body: msg,
      createdAtMs: nowMs,
    });
    this.source.close();
  }

  private emit(kind: 'monitor_remote_blip' | 'monitor_remote_giveup', payload: Record<string, unknown>): void {
    try {
      (this.deps.events?.emit as ((k: string, p: Record<string, unknown>) => void) | undefined)?.call(this.deps.events, kind, payload);
    } catch (e) {
      this.deps.log('warning', `cannot write event ${kind}: ${(e as Error).message}`);
    }
  }
}
