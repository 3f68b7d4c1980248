/**
 * The soak: the installed suite under a real systemd, two projects side by side — `soak`,
 * which suffers the seeded schedule of faults, and `calm`, the fault-free control of the same
 * length in the same job — and everything recorded for the assessment.
 *
 * The driver plays the world around the product and nothing else: the agent CLI (the fake's
 * plan), the host (signals, a full disk), the receivers (500s, refused connections) and the
 * operator. The operator acts only where a fault's spec says a human must (the re-login, the
 * config fix and `agent-runner start`, the chat /pause and /resume). Anything else it has to
 * do to keep the run going — start a unit left down, restart a wedged serve, reset a breaker —
 * is a manual intervention (watcher.ts), recorded with its evidence, and fails the soak. The
 * control gets the same benign work as the faulted project (large outputs, dirty trees) and
 * no fault.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { sleep } from '@agent-runner/core/sleep';
import { type FakePlan, type JournalEntry, type PlanEntry, SCENARIO_CLASS } from '../fake-claude.js';
import type { Delivery, Receiver } from '../receivers.js';
import { EventFeed, LinesFeed, type SoakEvent } from './feed.js';
import { FAULTS, type AllowanceInputs, type FaultKind, type FaultParams } from './faults.js';
import { fillFileSystem, freeFileSystem, signalUnit } from './inject.js';
import { okRounds, parseSystemdSeconds, reactions, runningRound, unitStates, type UnitRole, type UnitState } from './probe.js';
import type { Sandbox } from './sandbox.js';
import type { Episode, ReceiverWindow, Schedule, SoakProfile } from './schedule.js';
import { writeInside, type SoakProject } from './setup.js';
import { Watcher, type OperatorAction, type UnitRss } from './watcher.js';

/** The operator's chat: the Telegram Bot API stub the bridge polls. */
export interface OperatorChat {
  /** The allowed user writes `text` in the configured chat. */
  say(text: string): void;
}

/** What happened to one main-track fault. */
export interface EpisodeRecord {
  index: number;
  kind: FaultKind;
  params: FaultParams;
  /** When the fault took effect (the planned round started, the signal was sent, ...), ms. */
  startMs: number;
  /** When the soak stopped causing it (re-login, config fixed, space freed, /resume), ms. */
  endMs: number;
  /** The work time it may cost (FaultSpec.allowance), s; its window is startMs + this. */
  allowanceS: number;
  /** The first ok round after endMs, or null when none came. */
  recoveredMs: number | null;
  /** Agent faults: the round that carried it and the class the runner gave it. */
  round?: number;
  observedClass?: string;
  expectedClass?: string;
  notes: string[];
}

/** A receiver window as it happened. */
export interface WindowRecord {
  kind: FaultKind;
  episode: number;
  startMs: number;
  endMs: number;
}

/** Everything one soak run recorded (input of the assessment). */
export interface SoakRun {
  schedule: Schedule;
  profile: SoakProfile;
  allowance: AllowanceInputs;
  startedAtMs: number;
  /** The measured span: from the end of the warm-up to the end of the calm tail, ms. */
  t0Ms: number;
  t1Ms: number;
  episodes: EpisodeRecord[];
  windows: WindowRecord[];
  /** Declared operator actions (episode >= 0) and unplanned interventions (episode -1). */
  actions: OperatorAction[];
  /** Why the schedule stopped early, when it did. */
  abandoned?: string;
  unitsAtEnd: Record<string, Record<UnitRole, UnitState>>;
  /** Each unit's main processes and their RSS, sampled every 10 s. */
  rss: UnitRss[];
  webhook: Delivery[];
  ntfy: Delivery[];
  events: Record<string, SoakEvent[]>;
  journal: JournalEntry[];
}

/** What {@link Soak} works with. */
export interface SoakDeps {
  sandbox: Sandbox;
  /** The faulted project and the control. */
  soak: SoakProject;
  calm: SoakProject;
  webhook: Receiver;
  ntfy: Receiver;
  chat: OperatorChat;
  schedule: Schedule;
  profile: SoakProfile;
  /** node and the CLI of the checkout (for the operator's `agent-runner` verbs). */
  node: string;
  cli: string;
  /** Notifications of both projects still to deliver (outbox rows pending or being sent). */
  undelivered: () => Promise<number>;
  /** Progress lines. */
  log: (line: string) => void;
}

/** One run of the soak over a booted sandbox with both projects installed and started. */
export class Soak {
  private readonly feeds: Record<string, EventFeed>;
  private readonly journal: LinesFeed<JournalEntry>;
  private readonly plan: FakePlan = { default: { scenario: 'success' }, rounds: {} };
  private readonly calmPlan: FakePlan = { default: { scenario: 'success' }, rounds: {} };
  private readonly episodes: EpisodeRecord[] = [];
  private readonly windows: WindowRecord[] = [];
  private readonly actions: OperatorAction[] = [];
  private readonly pendingWindows: Promise<void>[] = [];
  private windowChain: Promise<void> = Promise.resolve();
  /** Until then, every unit may be down and rounds may stall (the current fault's window), ms. */
  private legitUntilMs = 0;
  private watcher: Watcher | undefined;
  private startedAtMs = Date.now();
  private allowance: AllowanceInputs;

  constructor(private readonly d: SoakDeps) {
    this.allowance = { settings: d.profile.settings, restartSec: 10 };
    this.feeds = {
      [d.soak.name]: new EventFeed(d.sandbox.path(`${d.soak.logDir}/events`)),
      [d.calm.name]: new EventFeed(d.sandbox.path(`${d.calm.logDir}/events`)),
    };
    this.journal = new LinesFeed(d.sandbox.path(`${d.soak.ctlDir}/journal.jsonl`));
  }

  private get feed(): EventFeed {
    return this.feeds[this.d.soak.name] as EventFeed;
  }

  /** Reads what the units wrote since the last poll (call after stopping them: their last events). */
  refresh(): void {
    for (const f of Object.values(this.feeds)) f.poll();
    this.journal.poll();
  }

  /** Polls until `fn` returns a value or `deadlineMs` passes. */
  private async until<T>(fn: () => T | undefined | false, deadlineMs: number): Promise<T | undefined> {
    for (;;) {
      this.refresh();
      const v = fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadlineMs) return undefined;
      await sleep(200);
    }
  }

  private note(line: string): void {
    this.d.log(`[${((Date.now() - this.startedAtMs) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  }

  /** Runs warm-up, the schedule and the calm tail; returns the record. */
  async run(): Promise<SoakRun> {
    const { sandbox: sb, soak, calm, profile } = this.d;
    this.startedAtMs = Date.now();
    const restart = (await sb.show([soak.units.serve], ['RestartUSec'])).get(soak.units.serve)?.['RestartUSec'] ?? '10s';
    this.allowance = { settings: profile.settings, restartSec: parseSystemdSeconds(restart) };
    this.watcher = new Watcher({
      sandbox: sb,
      projects: [soak, calm],
      feeds: this.feeds,
      node: this.d.node,
      cli: this.d.cli,
      restartSec: this.allowance.restartSec,
      legitUntilMs: (name) => (name === soak.name ? this.legitUntilMs : 0),
      actions: this.actions,
      log: (l) => this.note(l),
      startedAtMs: this.startedAtMs,
    });
    this.watcher.start();

    this.note(`warm-up: ${profile.warmupRounds} ok rounds in each project`);
    const warm = await this.until(
      () =>
        okRounds(this.feed.events, 0).length >= profile.warmupRounds &&
        okRounds((this.feeds[calm.name] as EventFeed).events, 0).length >= profile.warmupRounds,
      Date.now() + 180_000,
    );
    if (!warm)
      throw new Error(
        `warm-up: fewer than ${profile.warmupRounds} ok rounds in 180 s (soak ${okRounds(this.feed.events, 0).length}, calm ${okRounds((this.feeds[calm.name] as EventFeed).events, 0).length})`,
      );
    const t0Ms = Date.now();

    const deadline = t0Ms + profile.maxWallS * 1000;
    let abandoned: string | undefined;
    let since = t0Ms;
    for (const ep of this.d.schedule.episodes) {
      if (Date.now() > deadline) {
        abandoned = `wall-clock cap of ${profile.maxWallS} s reached before episode ${ep.index} (${ep.kind}); ${this.d.schedule.episodes.length - ep.index} not injected`;
        break;
      }
      const gap = await this.until(
        () => okRounds(this.feed.events, since).length >= ep.gapRounds || false,
        Date.now() + 120_000 + ep.gapRounds * 15_000,
      );
      if (!gap) this.note(`episode ${ep.index}: only ${okRounds(this.feed.events, since).length} of ${ep.gapRounds} ok rounds before it`);
      const rec = await this.inject(ep);
      since = Math.max(rec.recoveredMs ?? Date.now(), rec.endMs);
    }

    this.note(`calm tail: ${profile.tailRounds} ok rounds${profile.minRounds ? `, and round ${profile.minRounds} reached` : ''}`);
    const lastRound = (): number => this.feed.last('round_start')?.round ?? 0;
    const tailEnd = Math.max(deadline, Date.now()) + 120_000 + profile.tailRounds * 15_000;
    await this.until(
      () => (okRounds(this.feed.events, since).length >= profile.tailRounds && lastRound() >= profile.minRounds) || false,
      tailEnd,
    );
    await Promise.all(this.pendingWindows);
    const t1Ms = Date.now();
    await this.watcher.stop();
    for (let i = 0; i < 3; i++) {
      await this.watcher.sampleRss();
      await sleep(1000);
    }
    const unitsAtEnd = { [soak.name]: await unitStates(sb, soak), [calm.name]: await unitStates(sb, calm) };
    await this.drain();
    this.refresh();
    const rss = this.watcher.memory;
    return {
      schedule: this.d.schedule,
      profile,
      allowance: this.allowance,
      startedAtMs: this.startedAtMs,
      t0Ms,
      t1Ms,
      episodes: this.episodes,
      windows: this.windows,
      actions: this.actions,
      ...(abandoned ? { abandoned } : {}),
      unitsAtEnd,
      rss,
      webhook: this.d.webhook.deliveries,
      ntfy: this.d.ntfy.deliveries,
      events: Object.fromEntries(Object.entries(this.feeds).map(([k, f]) => [k, f.events])),
      journal: this.journal.items,
    };
  }

  /**
   * Waits until both outboxes are empty and the receivers quiet for 5 s (at most 240 s: a
   * row the bridge backed off from during a receiver window is retried up to ~80 s after it).
   */
  private async drain(): Promise<void> {
    const count = (): number => this.d.webhook.deliveries.length + this.d.ntfy.deliveries.length;
    const end = Date.now() + 240_000;
    while (Date.now() < end) {
      const before = count();
      await sleep(5000);
      if (count() === before && (await this.d.undelivered()) === 0) return;
    }
    this.note('the outbox did not drain in 240 s');
  }

  private writePlan(p: SoakProject, plan: FakePlan): void {
    const file = this.d.sandbox.path(`${p.ctlDir}/plan.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(plan), { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
  }

  /**
   * Gives the control the same work as a benign scenario that is not a fault (a large output,
   * a dirty tree): its next round plays it too, so the two projects' ok rounds cost the same.
   */
  private mirrorOnControl(entry: PlanEntry): void {
    const feed = this.feeds[this.d.calm.name] as EventFeed;
    feed.poll();
    const latest = feed.last('round_start')?.round ?? 0;
    this.calmPlan.rounds[String(latest + 1)] = entry;
    this.writePlan(this.d.calm, this.calmPlan);
  }

  /**
   * Makes the round after the one in progress play `entry`, and confirms from the fake's
   * journal that it did (a round that started before the plan was written is retried).
   * @returns that round's `round_start`, or undefined when no round came in time.
   */
  private async planRound(entry: PlanEntry, deadlineMs: number): Promise<SoakEvent | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const running = await this.until(() => runningRound(this.feed), deadlineMs);
      if (!running?.round) return undefined;
      const target = running.round + 1;
      this.plan.rounds[String(target)] = entry;
      this.writePlan(this.d.soak, this.plan);
      const j = await this.until(() => this.journal.items.find((e) => e.phase === 'start' && e.round >= target), deadlineMs);
      if (!j) return undefined;
      if (j.round === target && j.scenario === entry.scenario)
        return this.until(() => this.feed.events.find((e) => e.kind === 'round_start' && e.round === target), deadlineMs);
    }
    return undefined;
  }

  private roundClosed(round: number): SoakEvent | undefined {
    return this.feed.events.find((e) => e.round === round && (e.kind === 'round_end' || e.kind === 'round_interrupted'));
  }

  private async operator(episode: number, what: string, script: string): Promise<boolean> {
    const r = await this.d.sandbox.sh(script, 120_000);
    const ok = r.code === 0;
    this.actions.push({
      atMs: Date.now(),
      episode,
      what,
      ok,
      detail: `${script} -> exit ${r.code}${ok ? '' : `: ${(r.stderr || r.stdout).trim().slice(-600)}`}`,
    });
    this.note(
      `operator: ${what}${ok ? '' : ` FAILED (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')}`}`,
    );
    return ok;
  }

  private cli(args: string): string {
    return `cd ${this.d.soak.dir} && ${this.d.node} ${this.d.cli} --system ${args}`;
  }

  /** Injects one main-track fault and waits until work resumed (or gave up waiting). */
  private async inject(ep: Episode): Promise<EpisodeRecord> {
    const spec = FAULTS[ep.kind];
    const allowanceS = spec.allowance(ep.params, this.allowance);
    const rec: EpisodeRecord = {
      index: ep.index,
      kind: ep.kind,
      params: ep.params,
      startMs: Date.now(),
      endMs: Date.now(),
      allowanceS,
      recoveredMs: null,
      notes: [],
    };
    this.episodes.push(rec);
    const begin = (atMs = Date.now()): void => {
      rec.startMs = atMs;
      rec.endMs = atMs;
      this.legitUntilMs = Math.max(this.legitUntilMs, atMs + allowanceS * 1000);
      for (const w of this.d.schedule.windows.filter((x) => x.episode === ep.index)) this.pendingWindows.push(this.receiverWindow(w));
    };
    this.note(`episode ${ep.index}: ${ep.kind} ${JSON.stringify(ep.params)} (allowance ${allowanceS.toFixed(1)} s)`);
    const deadline = Date.now() + 120_000;
    const { sandbox: sb, soak } = this.d;
    switch (ep.kind) {
      case 'rate_limit':
      case 'overloaded':
      case 'crash':
      case 'hang':
      case 'large_output':
      case 'dirty_tree': {
        const scenario = spec.scenario ?? 'success';
        if (SCENARIO_CLASS[scenario] === 'ok') this.mirrorOnControl({ scenario });
        const start = await this.planRound(
          { scenario, ...(ep.params.reset_s !== undefined ? { reset_s: ep.params.reset_s } : {}) },
          deadline,
        );
        if (!start?.round) {
          rec.notes.push('no round took the planned scenario');
          break;
        }
        begin(start.atMs);
        rec.round = start.round;
        rec.expectedClass = SCENARIO_CLASS[scenario];
        const end = await this.until(() => this.roundClosed(start.round as number), Date.now() + 60_000);
        rec.observedClass = end ? String(end['classification'] ?? end.kind) : 'not closed in 60 s';
        rec.endMs = end?.atMs ?? Date.now();
        break;
      }
      case 'auth_outage': {
        begin();
        writeInside(sb, `${soak.ctlDir}/logged-out`, '');
        await sleep((ep.params.duration_s ?? 120) * 1000);
        rmSync(sb.path(`${soak.ctlDir}/logged-out`), { force: true });
        rec.endMs = Date.now();
        this.actions.push({
          atMs: rec.endMs,
          episode: ep.index,
          what: FAULTS.auth_outage.operator ?? 're-login',
          ok: true,
          detail: `${soak.ctlDir}/logged-out removed`,
        });
        this.note('operator: re-login');
        break;
      }
      case 'crash_loop': {
        begin();
        writeInside(sb, `${soak.ctlDir}/crashing`, '');
        // Broken until the breaker stopped the rounds, then fixed: the half-open try must work.
        const looped = await this.until(() => this.feed.of('crash_loop', rec.startMs)[0], Date.now() + 120_000);
        rmSync(sb.path(`${soak.ctlDir}/crashing`), { force: true });
        rec.endMs = Date.now();
        rec.notes.push(
          looped ? `crash loop after ${((looped.atMs - rec.startMs) / 1000).toFixed(1)} s; CLI fixed` : 'no crash_loop event within 120 s',
        );
        break;
      }
      case 'sigstop_serve':
      case 'sigkill_serve': {
        const at = ep.params.at_s ?? 0;
        if (at > 0) {
          const start = await this.planRound({ scenario: 'slow', slow_s: Math.ceil(at) + 3 }, deadline);
          if (!start?.round) {
            rec.notes.push('no slow round to hit');
            break;
          }
          rec.round = start.round;
          // The round it hits is lost from its start: the window begins there.
          begin(start.atMs);
          await sleep(Math.max(0, start.atMs + at * 1000 - Date.now()));
        } else {
          const last = this.feed.last('round_end')?.atMs ?? 0;
          await this.until(() => (this.feed.last('round_end')?.atMs ?? 0) > last, deadline);
          begin();
        }
        const pid = await signalUnit(sb, soak.units.serve, ep.kind === 'sigstop_serve' ? 'STOP' : 'KILL');
        rec.notes.push(
          `serve pid ${pid} ${ep.kind === 'sigstop_serve' ? 'frozen' : 'killed'}${rec.round ? ` in round ${rec.round}` : ' between rounds'}`,
        );
        break;
      }
      case 'sigkill_bridge':
      case 'sigkill_watchdog': {
        const unit = ep.kind === 'sigkill_bridge' ? soak.units.bridge : soak.units.watchdog;
        begin();
        const pid = await signalUnit(sb, unit, 'KILL');
        const deadlineUp = Date.now() + (this.allowance.restartSec + 30) * 1000;
        let up: UnitState | undefined;
        while (Date.now() < deadlineUp) {
          const st = (await unitStates(sb, soak))[ep.kind === 'sigkill_bridge' ? 'bridge' : 'watchdog'];
          if (st.active === 'active' && st.mainPid !== pid && st.mainPid > 0) {
            up = st;
            break;
          }
          await sleep(500);
        }
        rec.notes.push(
          up
            ? `pid ${pid} killed; pid ${up.mainPid} active after ${((Date.now() - rec.startMs) / 1000).toFixed(1)} s`
            : `pid ${pid} killed; not active again within ${this.allowance.restartSec + 30} s`,
        );
        break;
      }
      case 'disk_full': {
        begin();
        const filler = sb.path(`${soak.stateDir}/.soak-fill`);
        const bytes = fillFileSystem(filler);
        rec.notes.push(`${(bytes / 1048576).toFixed(1)} MiB written to fill ${soak.stateDir}`);
        await sleep((ep.params.duration_s ?? 30) * 1000);
        if (existsSync(filler)) freeFileSystem(filler);
        rec.endMs = Date.now();
        break;
      }
      case 'operator_pause': {
        begin();
        this.d.chat.say('/pause');
        this.actions.push({
          atMs: Date.now(),
          episode: ep.index,
          what: '/pause in the chat',
          ok: true,
          detail: 'telegram update from the allowed user',
        });
        await sleep((ep.params.duration_s ?? 20) * 1000);
        this.d.chat.say('/resume');
        rec.endMs = Date.now();
        this.actions.push({
          atMs: rec.endMs,
          episode: ep.index,
          what: '/resume in the chat',
          ok: true,
          detail: 'telegram update from the allowed user',
        });
        const paused = this.feed.of('runner_paused', rec.startMs).length;
        rec.notes.push(paused ? 'runner_paused seen' : 'no runner_paused event during the pause');
        break;
      }
      case 'config_broken': {
        begin();
        const broken = soak.config.replace(
          '[runtime]\n',
          '[runtime]\n# soak: a typo an operator could make (the key is round_timeout_s)\nround_timeout = 60\n',
        );
        writeInside(sb, soak.configFile, broken);
        const pid = await signalUnit(sb, soak.units.serve, 'KILL');
        rec.notes.push(`config broken (unknown key round_timeout); serve pid ${pid} killed so systemd restarts it into the broken config`);
        await sleep((this.allowance.restartSec + (ep.params.duration_s ?? 20)) * 1000);
        writeInside(sb, soak.configFile, soak.config);
        const started = await this.operator(ep.index, 'config fixed, then `agent-runner start`', this.cli('start'));
        if (!started)
          await this.watcher?.intervene(
            'serve',
            '`agent-runner start` failed after the config fix',
            `systemctl start ${soak.units.target}`,
          );
        rec.endMs = Date.now();
        break;
      }
      default:
        break;
    }
    const hard = Math.max(rec.endMs, rec.startMs + allowanceS * 1000) + 180_000;
    const ok = await this.until(() => okRounds(this.feed.events, Math.max(rec.endMs, rec.startMs) + 1)[0], hard);
    rec.recoveredMs = ok?.atMs ?? null;
    rec.notes.push(`product: ${reactions(this.feed.events, rec.startMs, rec.recoveredMs ?? Date.now()) || 'nothing but rounds'}`);
    this.note(
      `episode ${ep.index}: ${ep.kind} ${rec.observedClass ? `classed ${rec.observedClass}; ` : ''}work ${rec.recoveredMs ? `resumed ${((rec.recoveredMs - rec.startMs) / 1000).toFixed(1)} s after the start` : 'did not resume'}; ${rec.notes.join('; ')}`,
    );
    return rec;
  }

  /** A webhook window: 500s or refused connections for its duration (windows never overlap). */
  private receiverWindow(w: ReceiverWindow): Promise<void> {
    const run = async (): Promise<void> => {
      const mode = w.kind === 'webhook_500' ? 'error' : 'refuse';
      await this.d.webhook.setMode(mode);
      const startMs = Date.now();
      this.note(`webhook: ${mode} for ${w.duration_s} s`);
      await sleep(w.duration_s * 1000);
      await this.d.webhook.setMode('ok');
      this.windows.push({ kind: w.kind, episode: w.episode, startMs, endMs: Date.now() });
      this.note('webhook: ok again');
    };
    const p = sleep(w.delay_s * 1000).then(() => {
      this.windowChain = this.windowChain.then(run);
      return this.windowChain;
    });
    return p;
  }
}
