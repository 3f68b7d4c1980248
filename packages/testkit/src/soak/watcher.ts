/**
 * The soak's eye on both projects while faults are played: a unit left down, work stalled, a
 * heal breaker open. Each gets what an operator would do — start the target, restart a wedged
 * serve, `agent-runner heal reset` — and each is recorded as a manual intervention, with the
 * evidence, because the product should have needed none. Nothing is judged inside the current
 * fault's allowance window (a broken config legitimately keeps serve down until it is fixed).
 */
import { sleep } from '@agent-runner/core/sleep';
import type { EventFeed } from './feed.js';
import { ROLES, rssBytes, unitStates, upOrComing, type UnitRole } from './probe.js';
import type { Sandbox } from './sandbox.js';
import type { SoakProject } from './setup.js';

/** Something the soak did as the operator. */
export interface OperatorAction {
  atMs: number;
  /** The episode index, or -1 for an unplanned intervention. */
  episode: number;
  what: string;
  ok: boolean;
  detail: string;
}

/** The RSS samples of one main process of a unit. */
export interface ProcessRss {
  pid: number;
  /** When the watcher first saw it, ms. */
  firstSeenMs: number;
  /** [ms, VmRSS bytes, RssAnon bytes] (records of before 2026-12-04 have no RssAnon). */
  samples: Array<[number, number, number?]>;
}

/** A unit's main processes in the order they ran, with their RSS. */
export interface UnitRss {
  project: string;
  role: UnitRole;
  processes: ProcessRss[];
}

/** What the watcher needs. */
export interface WatcherDeps {
  sandbox: Sandbox;
  projects: SoakProject[];
  feeds: Record<string, EventFeed>;
  /** node and the CLI of the checkout. */
  node: string;
  cli: string;
  /** The serve unit's RestartSec=, s. */
  restartSec: number;
  /** Until when `project`'s units may be down and its rounds stall (its fault's window), ms. */
  legitUntilMs: (project: string) => number;
  /** Where every intervention is recorded. */
  actions: OperatorAction[];
  log: (line: string) => void;
  startedAtMs: number;
}

const WATCH_MS = 2000;
/** Between two RSS samples of a unit, ms. */
const RSS_EVERY_MS = 10_000;
/** No round started or ended for this long beyond every allowance: work has stalled, s. */
const STALL_S = 20;
/** A unit may be down this long beyond its RestartSec before it counts as left down, s. */
const DOWN_GRACE_S = 15;
/** After an intervention, give it this long to take effect before the next one, s. */
const INTERVENTION_COOLDOWN_S = 30;
/** Events that show rounds moving. */
const PROGRESS = new Set(['round_start', 'round_end', 'round_interrupted', 'serve_started']);

/** Watches until stopped. */
export class Watcher {
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly downSince = new Map<string, number>();
  private readonly lastIntervention = new Map<string, number>();
  private readonly seenBreakers = new Map<string, number>();
  private readonly rss = new Map<string, UnitRss>();
  private lastRssMs = 0;

  constructor(private readonly d: WatcherDeps) {}

  /** Every unit's processes and their RSS samples so far. */
  get memory(): UnitRss[] {
    return [...this.rss.values()];
  }

  /** Samples the RSS of every unit's main process now. */
  async sampleRss(): Promise<void> {
    const now = Date.now();
    this.lastRssMs = now;
    for (const p of this.d.projects) {
      const st = await unitStates(this.d.sandbox, p);
      for (const role of ROLES) {
        const pid = st[role].mainPid;
        const bytes = rssBytes(this.d.sandbox, pid);
        if (!bytes) continue;
        const k = `${p.name}/${role}`;
        const u = this.rss.get(k) ?? { project: p.name, role, processes: [] };
        this.rss.set(k, u);
        let proc = u.processes.at(-1);
        if (proc?.pid !== pid) {
          proc = { pid, firstSeenMs: now, samples: [] };
          u.processes.push(proc);
        }
        proc.samples.push([now, bytes.rss, bytes.anon]);
      }
    }
  }

  start(): void {
    this.running = true;
    this.loop = this.watch();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Performs an unplanned intervention (counted against the product) unless one was just made for the same reason. */
  async intervene(key: string, why: string, script: string): Promise<void> {
    const last = this.lastIntervention.get(key) ?? 0;
    if (Date.now() - last < INTERVENTION_COOLDOWN_S * 1000) return;
    this.lastIntervention.set(key, Date.now());
    const r = await this.d.sandbox.sh(script, 120_000);
    this.d.actions.push({
      atMs: Date.now(),
      episode: -1,
      what: `intervention: ${script.split('\n')[0]}`,
      ok: r.code === 0,
      detail: `${why}${r.code === 0 ? '' : `; exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-400)}`}`,
    });
    this.d.log(`INTERVENTION (${why}): ${script.split('\n').join('; ')} -> exit ${r.code}`);
  }

  private async watch(): Promise<void> {
    while (this.running) {
      await sleep(WATCH_MS);
      if (!this.running) break;
      for (const p of this.d.projects) await this.check(p);
      if (Date.now() - this.lastRssMs >= RSS_EVERY_MS) await this.sampleRss();
    }
  }

  private async check(p: SoakProject): Promise<void> {
    const legit = this.d.legitUntilMs(p.name);
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
      if (now - since > (this.d.restartSec + DOWN_GRACE_S) * 1000 && now > legit) {
        await this.intervene(
          k,
          `${p.units[r]} ${st[r].active}/${st[r].sub} (result ${st[r].result}, exit ${st[r].status}) for ${Math.round((now - since) / 1000)} s`,
          `systemctl start ${p.units.target}`,
        );
      }
    }
    const feed = this.d.feeds[p.name] as EventFeed;
    feed.poll();
    let progress = this.d.startedAtMs;
    for (let i = feed.events.length - 1; i >= 0; i--) {
      const e = feed.events[i];
      if (e && PROGRESS.has(e.kind)) {
        progress = e.atMs;
        break;
      }
    }
    if (st.serve.active === 'active' && now - progress > STALL_S * 1000 && now > legit + STALL_S * 1000) {
      await this.intervene(
        `${p.name}/stall`,
        `no round started or ended for ${Math.round((now - progress) / 1000)} s while ${p.units.serve} is active (pid ${st.serve.mainPid})`,
        `kill -CONT ${st.serve.mainPid} 2>/dev/null; systemctl restart ${p.units.serve}`,
      );
    }
    // An open breaker is reset the way the docs tell an operator to, once the fault in
    // progress is over (during a broken config, `heal reset` cannot even load it).
    const broken = feed.events.filter((e) => e.kind === 'heal_verdict_changed' && e['to'] === 'circuit_broken');
    const seen = this.seenBreakers.get(p.name) ?? 0;
    if (broken.length > seen && now > legit) {
      this.seenBreakers.set(p.name, broken.length);
      for (const target of new Set(broken.slice(seen).map((e) => String(e['target'])))) {
        await this.intervene(
          `${p.name}/breaker/${target}/${now}`,
          `the watchdog's breaker is open for ${target} (${p.name})`,
          `cd ${p.dir} && ${this.d.node} ${this.d.cli} --system heal reset ${target} --reason "soak operator"`,
        );
      }
    }
  }
}
