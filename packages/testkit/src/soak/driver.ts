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
 * is a manual intervention, recorded with its evidence, and fails the soak.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { sleep } from '@agent-runner/core/sleep';
import { type FakePlan, type JournalEntry, type PlanEntry, SCENARIO_CLASS } from '../fake-claude.js';
import type { Delivery, Receiver } from '../receivers.js';
import { SOAK_SETTINGS } from './config.js';
import { EventFeed, LinesFeed, type SoakEvent } from './feed.js';
import { FAULTS, type AllowanceInputs, type FaultKind, type FaultParams } from './faults.js';
import { fillFileSystem, freeFileSystem, signalUnit } from './inject.js';
import { okRounds, ROLES, rssBytes, runningRound, unitStates, upOrComing, type UnitRole, type UnitState } from './probe.js';
import type { Sandbox } from './sandbox.js';
import type { Episode, ReceiverWindow, Schedule, SoakProfile } from './schedule.js';
import { writeInside, type SoakProject } from './setup.js';

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

/** Something the soak did as the operator. */
export interface OperatorAction {
  atMs: number;
  /** The episode index, or -1 for an unplanned intervention. */
  episode: number;
  what: string;
  ok: boolean;
  detail: string;
}

/** A receiver window as it happened. */
export interface WindowRecord {
  kind: FaultKind;
  episode: number;
  startMs: number;
  endMs: number;
}

/** RSS of one unit's main process at the start and at the end of the measured span. */
export interface RssRecord {
  project: string;
  role: UnitRole;
  startBytes: number | null;
  endBytes: number | null;
  startPid: number;
  endPid: number;
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
  rss: RssRecord[];
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
  /** Progress lines. */
  log: (line: string) => void;
}

const WATCH_MS = 2000;
/** No round started or ended for this long beyond every allowance: work has stalled, s. */
const STALL_S = 20;
/** A unit may be down this long beyond its RestartSec before it counts as left down, s. */
const DOWN_GRACE_S = 15;
/** After an intervention, give it this long to take effect before the next one, s. */
const INTERVENTION_COOLDOWN_S = 30;

/** One run of the soak over a booted sandbox with both projects installed and started. */
export class Soak {
  private readonly feeds: Record<string, EventFeed>;
  private readonly journal: LinesFeed<JournalEntry>;
  private readonly plan: FakePlan = { default: { scenario: 'success' }, rounds: {} };
  private readonly episodes: EpisodeRecord[] = [];
  private readonly windows: WindowRecord[] = [];
  private readonly actions: OperatorAction[] = [];
  private readonly pendingWindows: Promise<void>[] = [];
  private windowChain: Promise<void> = Promise.resolve();
  /** Until then, every unit may be down and rounds may stall (the current fault's window), ms. */
  private legitUntilMs = 0;
  private readonly downSince = new Map<string, number>();
  private readonly lastIntervention = new Map<string, number>();
  private readonly seenBreakers = new Map<string, number>();
  private watching = false;
  private watcher: Promise<void> = Promise.resolve();
  private allowance: AllowanceInputs = { settings: SOAK_SETTINGS, restartSec: 10 };

  constructor(private readonly d: SoakDeps) {
    this.feeds = { [d.soak.name]: new EventFeed(d.sandbox.path(`${d.soak.logDir}/events`)), [d.calm.name]: new EventFeed(d.sandbox.path(`${d.calm.logDir}/events`)) };
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

  private startedAtMs = Date.now();

  /** Runs warm-up, the schedule and the calm tail; returns the record. */
  async run(): Promise<SoakRun> {
    const { sandbox: sb, soak, calm, profile } = this.d;
    this.startedAtMs = Date.now();
    const restart = (await sb.show([soak.units.serve], ['RestartUSec'])).get(soak.units.serve)?.['RestartUSec'] ?? '10s';
    this.allowance = { settings: SOAK_SETTINGS, restartSec: parseSystemdSeconds(restart) };
    this.watching = true;
    this.watcher = this.watch();

    this.note(`warm-up: ${profile.warmupRounds} ok rounds in each project`);
    const warm = await this.until(() => okRounds(this.feed.events, 0).length >= profile.warmupRounds && okRounds((this.feeds[calm.name] as EventFeed).events, 0).length >= profile.warmupRounds, Date.now() + 180_000);
    if (!warm) throw new Error(`warm-up: fewer than ${profile.warmupRounds} ok rounds in 180 s (soak ${okRounds(this.feed.events, 0).length}, calm ${okRounds((this.feeds[calm.name] as EventFeed).events, 0).length})`);
    const t0Ms = Date.now();
    const rssStart = await this.sampleRss();

    const deadline = t0Ms + profile.maxWallS * 1000;
    let abandoned: string | undefined;
    let since = t0Ms;
    for (const ep of this.d.schedule.episodes) {
      if (Date.now() > deadline) {
        abandoned = `wall-clock cap of ${profile.maxWallS} s reached before episode ${ep.index} (${ep.kind}); ${this.d.schedule.episodes.length - ep.index} not injected`;
        break;
      }
      const gap = await this.until(() => okRounds(this.feed.events, since).length >= ep.gapRounds || false, Date.now() + 120_000 + ep.gapRounds * 15_000);
      if (!gap) this.note(`episode ${ep.index}: only ${okRounds(this.feed.events, since).length} of ${ep.gapRounds} ok rounds before it`);
      const rec = await this.inject(ep);
      since = Math.max(rec.recoveredMs ?? Date.now(), rec.endMs);
    }

    this.note(`calm tail: ${profile.tailRounds} ok rounds`);
    await this.until(() => okRounds(this.feed.events, since).length >= profile.tailRounds || false, Date.now() + 120_000 + profile.tailRounds * 15_000);
    await Promise.all(this.pendingWindows);
    const t1Ms = Date.now();
    const rssEnd = await this.sampleRss();
    this.watching = false;
    await this.watcher;
    const unitsAtEnd = { [soak.name]: await unitStates(sb, soak), [calm.name]: await unitStates(sb, calm) };
    await this.drain();
    this.refresh();
    const rss: RssRecord[] = rssStart.map((s) => {
      const e = rssEnd.find((x) => x.project === s.project && x.role === s.role);
      return { project: s.project, role: s.role, startBytes: s.bytes, endBytes: e?.bytes ?? null, startPid: s.pid, endPid: e?.pid ?? 0 };
    });
    return {
      schedule: this.d.schedule, profile, allowance: this.allowance, startedAtMs: this.startedAtMs, t0Ms, t1Ms,
      episodes: this.episodes, windows: this.windows, actions: this.actions, ...(abandoned ? { abandoned } : {}),
      unitsAtEnd, rss, webhook: this.d.webhook.deliveries, ntfy: this.d.ntfy.deliveries,
      events: Object.fromEntries(Object.entries(this.feeds).map(([k, f]) => [k, f.events])), journal: this.journal.items,
    };
  }

  /** Waits until the receivers have been quiet for 15 s (at most 120 s): the outbox drained. */
  private async drain(): Promise<void> {
    const count = (): number => this.d.webhook.deliveries.length + this.d.ntfy.deliveries.length;
    const end = Date.now() + 120_000;
    let last = count();
    let quietSince = Date.now();
    while (Date.now() < end && Date.now() - quietSince < 15_000) {
      await sleep(1000);
      if (count() !== last) {
        last = count();
        quietSince = Date.now();
      }
    }
  }

  /** RSS of every unit of both projects: the median of 5 samples 1 s apart. */
  private async sampleRss(): Promise<Array<{ project: string; role: UnitRole; bytes: number | null; pid: number }>> {
    const samples = new Map<string, number[]>();
    const pids = new Map<string, number>();
    for (let i = 0; i < 5; i++) {
      for (const p of [this.d.soak, this.d.calm]) {
        const st = await unitStates(this.d.sandbox, p);
        for (const r of ROLES) {
          const b = rssBytes(this.d.sandbox, st[r].mainPid);
          const k = `${p.name}/${r}`;
          pids.set(k, st[r].mainPid);
          if (b !== undefined) samples.set(k, [...(samples.get(k) ?? []), b]);
        }
      }
      await sleep(1000);
    }
    return [this.d.soak, this.d.calm].flatMap((p) => ROLES.map((role) => {
      const xs = [...(samples.get(`${p.name}/${role}`) ?? [])].sort((a, b) => a - b);
      return { project: p.name, role, bytes: xs.length ? (xs[Math.floor(xs.length / 2)] as number) : null, pid: pids.get(`${p.name}/${role}`) ?? 0 };
    }));
  }

  private writePlan(): void {
    const file = this.d.sandbox.path(`${this.d.soak.ctlDir}/plan.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(this.plan), { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
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
      this.writePlan();
      const j = await this.until(() => this.journal.items.find((e) => e.phase === 'start' && e.round >= target), deadlineMs);
      if (!j) return undefined;
      if (j.round === target && j.scenario === entry.scenario) return this.until(() => this.feed.events.find((e) => e.kind === 'round_start' && e.round === target), deadlineMs);
    }
    return undefined;
  }

  private roundClosed(round: number): SoakEvent | undefined {
    return this.feed.events.find((e) => e.round === round && (e.kind === 'round_end' || e.kind === 'round_interrupted'));
  }

  private async operator(episode: number, what: string, script: string): Promise<boolean> {
    const r = await this.d.sandbox.sh(script, 120_000);
    const ok = r.code === 0;
    this.actions.push({ atMs: Date.now(), episode, what, ok, detail: `${script} -> exit ${r.code}${ok ? '' : `: ${(r.stderr || r.stdout).trim().slice(-600)}`}` });
    this.note(`operator: ${what}${ok ? '' : ` FAILED (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')}`}`);
    return ok;
  }

  private cli(args: string): string {
    return `cd ${this.d.soak.dir} && ${this.d.node} ${this.d.cli} --system ${args}`;
  }

  /** Injects one main-track fault and waits until work resumed (or gave up waiting). */
  private async inject(ep: Episode): Promise<EpisodeRecord> {
    const spec = FAULTS[ep.kind];
    const allowanceS = spec.allowance(ep.params, this.allowance);
    const rec: EpisodeRecord = { index: ep.index, kind: ep.kind, params: ep.params, startMs: Date.now(), endMs: Date.now(), allowanceS, recoveredMs: null, notes: [] };
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
        const start = await this.planRound({ scenario, ...(ep.params.reset_s !== undefined ? { reset_s: ep.params.reset_s } : {}) }, deadline);
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
        this.actions.push({ atMs: rec.endMs, episode: ep.index, what: FAULTS.auth_outage.operator ?? 're-login', ok: true, detail: `${soak.ctlDir}/logged-out removed` });
        this.note('operator: re-login');
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
          await sleep(Math.max(0, start.atMs + at * 1000 - Date.now()));
        } else {
          const last = this.feed.last('round_end')?.atMs ?? 0;
          await this.until(() => (this.feed.last('round_end')?.atMs ?? 0) > last, deadline);
        }
        begin();
        const pid = await signalUnit(sb, soak.units.serve, ep.kind === 'sigstop_serve' ? 'STOP' : 'KILL');
        rec.notes.push(`serve pid ${pid} ${ep.kind === 'sigstop_serve' ? 'frozen' : 'killed'}${rec.round ? ` in round ${rec.round}` : ' between rounds'}`);
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
        rec.notes.push(up ? `pid ${pid} killed; pid ${up.mainPid} active after ${((Date.now() - rec.startMs) / 1000).toFixed(1)} s` : `pid ${pid} killed; not active again within ${this.allowance.restartSec + 30} s`);
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
        this.actions.push({ atMs: Date.now(), episode: ep.index, what: '/pause in the chat', ok: true, detail: 'telegram update from the allowed user' });
        await sleep((ep.params.duration_s ?? 20) * 1000);
        this.d.chat.say('/resume');
        rec.endMs = Date.now();
        this.actions.push({ atMs: rec.endMs, episode: ep.index, what: '/resume in the chat', ok: true, detail: 'telegram update from the allowed user' });
        const paused = this.feed.of('runner_paused', rec.startMs).length;
        rec.notes.push(paused ? 'runner_paused seen' : 'no runner_paused event during the pause');
        break;
      }
      case 'config_broken': {
        begin();
        const broken = soak.config.replace('[runtime]\n', '[runtime]\n# soak: a typo an operator could make (the key is round_timeout_s)\nround_timeout = 60\n');
        writeInside(sb, soak.configFile, broken);
        const pid = await signalUnit(sb, soak.units.serve, 'KILL');
        rec.notes.push(`config broken (unknown key round_timeout); serve pid ${pid} killed so systemd restarts it into the broken config`);
        await sleep((this.allowance.restartSec + (ep.params.duration_s ?? 20)) * 1000);
        writeInside(sb, soak.configFile, soak.config);
        const started = await this.operator(ep.index, 'config fixed, then `agent-runner start`', this.cli('start'));
        if (!started) await this.intervene('serve', '`agent-runner start` failed after the config fix', `systemctl start ${soak.units.target}`);
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
    this.note(`episode ${ep.index}: ${ep.kind} ${rec.observedClass ? `classed ${rec.observedClass}; ` : ''}work ${rec.recoveredMs ? `resumed ${((rec.recoveredMs - rec.startMs) / 1000).toFixed(1)} s after the start` : 'did not resume'}; ${rec.notes.join('; ')}`);
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

  /** Performs an unplanned intervention (counted against the product) unless one was just made for the same reason. */
  private async intervene(key: string, why: string, script: string): Promise<void> {
    const last = this.lastIntervention.get(key) ?? 0;
    if (Date.now() - last < INTERVENTION_COOLDOWN_S * 1000) return;
    this.lastIntervention.set(key, Date.now());
    const r = await this.d.sandbox.sh(script, 120_000);
    this.actions.push({ atMs: Date.now(), episode: -1, what: `intervention: ${script.split('\n')[0]}`, ok: r.code === 0, detail: `${why}${r.code === 0 ? '' : `; exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-400)}`}` });
    this.note(`INTERVENTION (${why}): ${script.split('\n').join('; ')} -> exit ${r.code}`);
  }

  /** Every WATCH_MS: units left down, rounds stalled, breakers open — in either project. */
  private async watch(): Promise<void> {
    while (this.watching) {
      await sleep(WATCH_MS);
      if (!this.watching) break;
      this.refresh();
      for (const p of [this.d.soak, this.d.calm]) {
        const legit = p === this.d.soak ? this.legitUntilMs : 0;
        const now = Date.now();
        const st = await unitStates(this.d.sandbox, p);
        for (const r of ROLES) {
          const k = `${p.name}/${r}`;
          if (upOrComing(st[r])) {
            this.downSince.delete(k);
            continue;
          }
          const since = this.downSince.get(k) ?? now;
          this.downSince.set(k, since);
          if (now - since > (this.allowance.restartSec + DOWN_GRACE_S) * 1000 && now > legit) {
            await this.intervene(k, `${p.units[r]} ${st[r].active}/${st[r].sub} (result ${st[r].result}, exit ${st[r].status}) for ${Math.round((now - since) / 1000)} s`, `systemctl start ${p.units.target}`);
          }
        }
        const feed = this.feeds[p.name] as EventFeed;
        const progress = [...feed.events].reverse().find((e) => ['round_start', 'round_end', 'round_interrupted', 'serve_started'].includes(e.kind))?.atMs ?? this.startedAtMs;
        if (upOrComing(st.serve) && st.serve.active === 'active' && now - progress > STALL_S * 1000 && now > legit + STALL_S * 1000) {
          await this.intervene(`${p.name}/stall`, `no round started or ended for ${Math.round((now - progress) / 1000)} s while ${p.units.serve} is active (pid ${st.serve.mainPid})`,
            `kill -CONT ${st.serve.mainPid} 2>/dev/null; systemctl restart ${p.units.serve}`);
        }
        // An open breaker is reset the way an operator would, once the fault in progress is
        // over (during a broken config, `heal reset` cannot even load it).
        const broken = feed.events.filter((e) => e.kind === 'heal_verdict_changed' && e['to'] === 'circuit_broken');
        const seen = this.seenBreakers.get(p.name) ?? 0;
        if (broken.length > seen && now > legit) {
          this.seenBreakers.set(p.name, broken.length);
          for (const target of new Set(broken.slice(seen).map((e) => String(e['target'])))) {
            await this.intervene(`${p.name}/breaker/${target}/${now}`, `the watchdog's breaker is open for ${target} (${p.name})`, `cd ${p.dir} && ${this.d.node} ${this.d.cli} --system heal reset ${target} --reason "soak operator"`);
          }
        }
      }
    }
  }
}

/** Events that are not round traffic. */
const ROUTINE = new Set(['round_start', 'round_end', 'vcs_committed', 'vcs_stashed', 'vcs_dirty_ignored', 'round_grace_extended', 'heal_verdict_changed', 'heal_verified']);

/**
 * What the product did between `fromMs` and `toMs`, in a few words: each non-routine event
 * kind with its unit and the detail that tells instances apart, counted.
 */
export function reactions(events: readonly SoakEvent[], fromMs: number, toMs: number): string {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.atMs < fromMs || e.atMs > toMs || ROUTINE.has(e.kind)) continue;
    const detail = e['reason'] ?? e['action'] ?? e['check'] ?? e['class'] ?? e['detector'] ?? '';
    const tier = e['tier'] !== undefined ? ` T${String(e['tier'])}` : '';
    const key = `${e.unit}:${e.kind}${tier}${detail ? `(${String(detail).slice(0, 40)})` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => (n > 1 ? `${k}x${n}` : k)).join(', ');
}

/** `10s`, `1min 30s`, `100ms` (systemd time spans) in seconds. */
export function parseSystemdSeconds(span: string): number {
  let s = 0;
  for (const m of span.matchAll(/(\d+(?:\.\d+)?)\s*(ms|min|s|h)?/g)) {
    const n = Number(m[1]);
    s += m[2] === 'ms' ? n / 1000 : m[2] === 'min' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
  }
  return s;
}
