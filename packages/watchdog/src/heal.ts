/**
 * The heal engine: one probe of one target per call, at most one tier of action per probe,
 * every step persisted in the ledger before it is taken (DESIGN.md, "Heal tiers"). Whether a
 * unit is the watchdog's to heal at all is decided by assess (assess.ts): never one that is
 * starting, that systemd is restarting, or that stopped on purpose.
 */
import { join } from 'node:path';
import { clearAlarm, raiseAlarm } from '@agent-runner/core/alarms';
import type { EventKind, EventPayload, EventWriter } from '@agent-runner/core/events';
import type { UnitJudgement } from '@agent-runner/core/health';
import { EXIT } from '@agent-runner/core/errors';
import { type EnrollmentRecord, type KillFn, readEnrollment, signalIfSame, verifyIdentity } from '@agent-runner/core/identity';
import { redactText } from '@agent-runner/core/redact';
import { tailLines } from '@agent-runner/core/tail';
import { writeExitRecord } from '@agent-runner/core/unit';
import type { HealState, HealStateInput, HealTier, Ledger } from '@agent-runner/core/ledger';
import { newNonce, peekRestartRequest, requestRestart } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { takeHealReset, type HealResetRequest } from '@agent-runner/core/requests';
import type { Assessment } from './assess.js';
import { assessTarget, lastRespawn, respawnKey, type RespawnStamp } from './evidence.js';
import {
  type CgroupUnit,
  executeRespawn,
  planRespawn,
  readCgroupUnit,
  type RespawnCommand,
  type RespawnOutcome,
  type RespawnPlan,
} from './respawn.js';
import type { SystemdShow, SystemdView } from './systemd.js';
import {
  cooldownLeftMs,
  type HealSettings,
  nextTier,
  type Pending,
  RESTART_LOOP_RESTARTS,
  type Stamp,
  stopped,
  type Target,
  TIER_ACTION,
} from './tiers.js';
import { type Verification, verifyPending } from './verify.js';

/** What the engine needs from its surroundings. */
export interface HealDeps {
  paths: ProjectPaths;
  project: string;
  ledger: Ledger;
  events: EventWriter;
  settings: HealSettings;
  /** `[watchdog] targets`; undefined when not configured (see {@link consideredTargets}). */
  targets: readonly Target[] | undefined;
  /** Wall clock, ms since epoch. */
  now: () => number;
  /** System-wide monotonic clock, ms (CLOCK_MONOTONIC, as `process.hrtime`). */
  mono: () => number;
  bootId: string;
  kill: KillFn;
  /** Installed version, re-read from disk at each call; undefined when unreadable. */
  installedVersion: () => string | undefined;
  /** systemd unit name of each target (`{project}` replaced). */
  systemdUnit: (t: Target) => string;
  /** Fallback respawn command line of a target (configured, else the CLI default) when the unit recorded none. */
  fallbackRespawn: (t: Target) => RespawnCommand | undefined;
  /** Environment given to respawned processes. */
  env: Record<string, string | undefined>;
  /**
   * Present when the watchdog runs under systemd ($INVOCATION_ID): how to read systemd's view of
   * a unit, and whether the units are the user manager's (`--user`).
   */
  systemd?: { show: SystemdShow; user: boolean };
  procRoot?: string;
  log: (priority: 'err' | 'warning' | 'notice' | 'info', line: string) => void;
  /** Waits `ms` (used after SIGKILL for the process to disappear). */
  sleep: (ms: number) => Promise<void>;
}

/** Shown verdicts: the health verdict, or `circuit_broken` while the breaker is open. */
export type ShownVerdict = 'healthy' | 'unhealthy' | 'unknown' | 'circuit_broken';

/** The identity last seen alive, persisted as `last_verified_identity`. */
interface SeenIdentity {
  record: EnrollmentRecord;
  cgroup: CgroupUnit | null;
  seenAtMs: number;
}

function fresh(target: string, bootId: string): HealStateInput {
  return { target, tier: 0, breaker: 'closed', consecutiveFailures: 0, bootId };
}

function toInput(s: HealState): HealStateInput {
  const { updatedAtMs: _u, ...rest } = s;
  return rest;
}

/** The heal engine of one watchdog process. */
export class HealEngine {
  private readonly verdicts = new Map<string, ShownVerdict>();
  /** Since when each target with an open breaker has been healthy, wall ms. */
  private readonly healthySince = new Map<string, number>();
  /** Per target not healthy since: when first seen so (monotonic ms) and systemd's NRestarts then. */
  private readonly loops = new Map<string, { sinceMono: number; restarts: number }>();
  /** When a probe last found the project's file systems full, wall ms (heartbeats resume after). */
  private fullDiskSeenAtMs: number | undefined;
  private readonly startedMonoMs: number;

  constructor(private readonly d: HealDeps) {
    this.startedMonoMs = d.mono();
  }

  private stamp(): Stamp {
    return { atMs: this.d.now(), monoMs: this.d.mono(), bootId: this.d.bootId };
  }

  private save(st: HealStateInput): HealStateInput {
    return toInput(this.d.ledger.watchdog.putHealState(st));
  }

  private emit<K extends EventKind>(kind: K, payload: EventPayload<K>): void {
    try {
      this.d.events.emit(kind, payload);
    } catch (e) {
      // The ledger row is the record; a lost event line must not stop a heal.
      this.d.log('warning', `event ${kind} not written: ${(e as Error).message}`);
    }
  }

  /** Assesses `target` now (no action). */
  private async assess(target: Target, st?: HealStateInput): Promise<Assessment> {
    const now = this.stamp();
    const respawned = lastRespawn(this.d.ledger, target);
    const graceFrom = Math.max(
      this.startedMonoMs,
      respawned !== undefined && respawned.bootId === now.bootId ? respawned.monoMs : Number.NEGATIVE_INFINITY,
    );
    const seen = st?.lastVerifiedIdentity as SeenIdentity | null | undefined;
    const a = await assessTarget(target, {
      paths: this.d.paths,
      settings: this.d.settings,
      targets: this.d.targets,
      nowMs: now.atMs,
      monoMs: now.monoMs,
      installedVersion: this.d.installedVersion(),
      bootId: this.d.bootId,
      ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}),
      ...(this.d.systemd !== undefined ? { systemd: { ...this.d.systemd, unit: this.d.systemdUnit(target) } } : {}),
      ...(respawned !== undefined ? { lastRespawn: respawned } : {}),
      ...(seen?.record ? { lastSeen: seen.record } : {}),
      inGrace: now.monoMs - graceFrom < this.d.settings.startupGraceMs,
      ...(this.fullDiskSeenAtMs !== undefined ? { fullDiskSeenAtMs: this.fullDiskSeenAtMs } : {}),
    });
    if (a.j.fullDisk) this.fullDiskSeenAtMs = now.atMs;
    return a;
  }

  /**
   * One probe of `target`: consumes an operator reset, assesses, checks the action in flight,
   * and takes at most one tier of action.
   * @returns the judgement of this probe.
   */
  async probe(target: Target): Promise<UnitJudgement> {
    const existing = this.d.ledger.watchdog.getHealState(target);
    let st: HealStateInput = existing ? toInput(existing) : fresh(target, this.d.bootId);
    const reset = takeHealReset(this.d.paths, target);
    if (reset !== undefined) st = this.applyReset(st, reset);

    const a = await this.assess(target, st);
    const { j } = a;
    const now = this.stamp();
    if (j.alive && j.record !== undefined) {
      const seen = st.lastVerifiedIdentity as SeenIdentity | null | undefined;
      if (seen?.record?.nonce !== j.record.nonce) {
        const cg = readCgroupUnit(j.record.pid, this.d.procRoot);
        st = this.save({
          ...st,
          lastVerifiedIdentity: { record: j.record, cgroup: cg ?? null, seenAtMs: now.atMs } satisfies SeenIdentity,
        });
      }
    }
    this.noteVerdict(target, st.breaker === 'open' ? 'circuit_broken' : j.verdict, j);

    if (st.breaker === 'open') {
      this.watchOpen(target, st, a, now);
      return j;
    }

    const pending = (st.pendingVerification ?? null) as Pending | null;
    if (pending !== null && pending.tier === 3 && pending.phase !== 'respawned') {
      // Killed mid-T3: finish the remaining steps, never repeating one (see Pending.phase).
      await this.continueT3(target, st, pending, a);
      return j;
    }
    if (pending !== null) {
      const out = verifyPending(target, pending, a, now, {
        paths: this.d.paths,
        settings: this.d.settings,
        bootId: this.d.bootId,
        ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}),
      });
      if (out === 'wait') {
        if (pending.tier === 3) this.save({ ...st, pendingVerification: pending });
      } else {
        st = this.finishVerification(target, st, pending, out, now);
        if (st.breaker === 'open') return j;
      }
      // A T1 in flight succeeds by the enrollment of the unit respawned below.
      const done = out === 'wait' || (out.result === 'succeeded' && pending.tier === 3);
      if (done && a.stance !== 'restart') return j;
    }
    if (a.stance === 'restart') {
      await this.respawnNow(target, st, a, now);
      return j;
    }

    if (j.verdict === 'healthy') {
      this.loops.delete(target);
      if (st.tier !== 0 || st.consecutiveFailures !== 0 || st.pendingVerification) {
        this.save({ ...st, tier: 0, consecutiveFailures: 0, pendingVerification: null, nonceInFlight: null, lastHealthyAtMs: now.atMs });
      } else if (st.lastHealthyAtMs == null || now.atMs - st.lastHealthyAtMs >= this.d.settings.intervalMs * 20) {
        // Refreshed now and then, not at every probe: one ledger write per ~20 probes.
        const decay =
          st.failureSignature != null && st.lastActionAtMs != null && now.atMs - st.lastActionAtMs >= this.d.settings.signatureWindowMs;
        this.save({ ...st, lastHealthyAtMs: now.atMs, ...(decay ? { failureSignature: null, signatureRepeats: 0 } : {}) });
      }
      return j;
    }
    if (a.sd !== undefined && this.restartLoop(target, a.sd, now)) {
      this.openBreaker(
        target,
        st,
        `systemd restarted ${this.d.systemdUnit(target)} ${a.sd.nRestarts - (this.loops.get(target)?.restarts ?? 0)} times in ${Math.round(this.d.settings.restartLoopMs / 60_000)} min and it was never healthy: it fails at every start`,
        now,
      );
      return j;
    }
    if (j.verdict === 'unknown') return j;
    if (a.stance === 'dead') {
      // systemd gave up on it and the watchdog may not start units: a human must.
      this.openBreaker(target, st, j.evidence.at(-1) ?? 'failed, not restarted by systemd', now);
      return j;
    }
    if (a.sd !== undefined && !j.alive && !(await this.systemdUnchanged(target, a.sd))) return j;
    const frozen = stopped(j.signature);
    if (!frozen && cooldownLeftMs({ ...st, updatedAtMs: 0 } as HealState, now, this.d.settings) > 0) return j;

    // Counted per episode (the unit was healthy since the last one), not per tier: the ladder of
    // one episode is one recurrence, and heals that keep failing have their own count.
    const episode = st.tier === 0;
    const repeats = st.failureSignature === j.signature ? (st.signatureRepeats ?? 0) : 0;
    if (episode && repeats >= this.d.settings.breakerAfterSameSignature) {
      this.openBreaker(
        target,
        st,
        `the same failure (${j.signature}) came back after ${repeats} heal(s) that worked, each within ${Math.round(this.d.settings.signatureWindowMs / 1000)} s of the last`,
        now,
      );
      return j;
    }
    const signatureRepeats = episode || repeats === 0 ? repeats + 1 : repeats;
    await this.act(target, nextTier(st.tier, j.alive, j.signature), { ...st, failureSignature: j.signature, signatureRepeats }, a, now);
    return j;
  }

  /**
   * True when systemd has kept restarting `target` (NRestarts up by {@link RESTART_LOOP_RESTARTS})
   * for `restart_loop_s` without it being healthy once: a unit that crashes at every start is
   * "activating" to every probe, so neither the tiers nor systemd's Restart= will ever tell a
   * human. The count starts at the first unhealthy probe after the last healthy one.
   */
  private restartLoop(target: Target, sd: SystemdView, now: Stamp): boolean {
    if (this.d.settings.restartLoopMs <= 0) return false;
    const l = this.loops.get(target);
    if (l === undefined) {
      this.loops.set(target, { sinceMono: now.monoMs, restarts: sd.nRestarts });
      return false;
    }
    return now.monoMs - l.sinceMono >= this.d.settings.restartLoopMs && sd.nRestarts - l.restarts >= RESTART_LOOP_RESTARTS;
  }

  /**
   * Re-reads systemd's view before acting on a unit without a live process: a probe that read
   * `active` just before a restart began must not act on the restart.
   */
  private async systemdUnchanged(target: Target, before: SystemdView): Promise<boolean> {
    const sd = this.d.systemd;
    if (sd === undefined) return true;
    const after = await sd.show(this.d.systemdUnit(target), sd.user);
    return (
      after !== undefined &&
      after.activeState === before.activeState &&
      after.mainPid === before.mainPid &&
      after.activeEnterMonoUs === before.activeEnterMonoUs &&
      after.nRestarts === before.nRestarts
    );
  }

  private noteVerdict(target: Target, v: ShownVerdict, j: UnitJudgement): void {
    const key = `watchdog.verdict.${target}`;
    let prev = this.verdicts.get(target);
    if (prev === undefined) prev = (this.d.ledger.kv.get(key) as ShownVerdict | undefined) ?? 'unknown';
    if (prev === v) return;
    this.d.ledger.kv.set('watchdog', key, v);
    this.verdicts.set(target, v);
    const reason = v === 'circuit_broken' ? 'circuit breaker open' : (j.evidence.join('; ') || v).slice(0, 500);
    this.emit('heal_verdict_changed', { target, from: prev, to: v, reason });
    this.d.log(v === 'healthy' ? 'notice' : 'warning', `${target}: ${prev} -> ${v}: ${reason}`);
  }

  private applyReset(st: HealStateInput, r: HealResetRequest): HealStateInput {
    const wasOpen = st.breaker === 'open';
    const out = this.d.ledger.atomically(() => {
      const s = this.save({
        ...st,
        tier: 0,
        breaker: 'closed',
        consecutiveFailures: 0,
        failureSignature: null,
        signatureRepeats: 0,
        breakerOpenedAtMs: null,
        pendingVerification: null,
        nonceInFlight: null,
      });
      this.d.ledger.watchdog.recordHealAction({
        target: r.target,
        tier: (st.tier ?? 0) as HealTier,
        action: 'breaker-reset',
        result: 'succeeded',
        reason: r.reason,
        actor: r.requested_by,
        nonce: r.nonce,
        detail: { was_open: wasOpen, requested_at: r.requested_at },
      });
      clearAlarm(
        this.d.ledger,
        'breaker_open',
        { target: r.target, how: `breaker reset by ${r.requested_by}: ${r.reason}` },
        { project: this.d.project, subject: r.target },
      );
      return s;
    });
    this.healthySince.delete(r.target);
    this.emit('heal_breaker_reset', { target: r.target, by: r.requested_by, reason: r.reason.slice(0, 500), was_open: wasOpen });
    this.d.log('notice', `${r.target}: breaker reset by ${r.requested_by}: ${r.reason}`);
    return out;
  }

  /** An open breaker closes by itself once the unit has been healthy for the verification window. */
  private watchOpen(target: Target, st: HealStateInput, a: Assessment, now: Stamp): void {
    if (a.j.verdict !== 'healthy') {
      this.healthySince.delete(target);
      return;
    }
    const since = this.healthySince.get(target) ?? now.atMs;
    this.healthySince.set(target, since);
    const ms = now.atMs - since;
    if (ms < this.d.settings.verifyWindowMs) return;
    const how = `healthy for ${Math.round(ms / 1000)} s`;
    this.d.ledger.atomically(() => {
      this.save({
        ...st,
        tier: 0,
        breaker: 'closed',
        consecutiveFailures: 0,
        failureSignature: null,
        signatureRepeats: 0,
        breakerOpenedAtMs: null,
        pendingVerification: null,
        nonceInFlight: null,
        lastHealthyAtMs: now.atMs,
      });
      this.d.ledger.watchdog.recordHealAction({
        target,
        tier: 4,
        action: 'breaker-close',
        result: 'succeeded',
        reason: how,
        actor: 'watchdog',
      });
      clearAlarm(this.d.ledger, 'breaker_open', { target, how }, { project: this.d.project, subject: target });
    });
    this.healthySince.delete(target);
    this.noteVerdict(target, 'healthy', a.j);
    this.d.log('notice', `${target}: circuit closed: ${how}`);
  }

  private finishVerification(
    target: Target,
    st: HealStateInput,
    p: Pending,
    out: Exclude<Verification, 'wait'>,
    now: Stamp,
  ): HealStateInput {
    const failedT3 =
      p.tier === 3 && out.result === 'failed'
        ? st.consecutiveFailures + 1
        : p.tier === 3 && out.result === 'succeeded'
          ? 0
          : st.consecutiveFailures;
    const over = (p.tier === 3 && out.result === 'succeeded') || out.result === 'superseded';
    const next = this.d.ledger.atomically(() => {
      const s = this.save({
        ...st,
        pendingVerification: null,
        nonceInFlight: null,
        consecutiveFailures: failedT3,
        ...(over ? { tier: 0 as HealTier } : {}),
        ...(out.result === 'succeeded' && p.tier === 3 ? { lastHealthyAtMs: now.atMs } : {}),
      });
      this.d.ledger.watchdog.recordHealAction({
        target,
        tier: p.tier,
        action: `verify-t${p.tier}`,
        result: out.result,
        reason: out.reason,
        actor: 'watchdog',
        nonce: p.nonce,
      });
      return s;
    });
    this.emit('heal_verified', {
      target,
      tier: p.tier,
      result: out.result,
      reason: out.reason.slice(0, 500),
      nonce: p.nonce,
      ...(p.tier === 3 ? { failed_t3: failedT3 } : {}),
    });
    this.d.log(out.result === 'failed' ? 'warning' : 'notice', `${target}: T${p.tier} ${out.result}: ${out.reason}`);
    if (p.tier === 3 && out.result === 'failed' && failedT3 >= this.d.settings.breakerAfterFailedT3) {
      return this.openBreaker(target, next, `${failedT3} failed T3 (SIGKILL + respawn) in a row: ${out.reason}`, now);
    }
    return next;
  }

  /** Opens the breaker and raises the `breaker_open` alarm in the same transaction. */
  private openBreaker(target: Target, st: HealStateInput, why: string, now: Stamp): HealStateInput {
    const out = this.d.ledger.atomically(() => {
      const s = this.save({
        ...st,
        tier: 4,
        breaker: 'open',
        breakerOpenedAtMs: now.atMs,
        lastAlertAtMs: now.atMs,
        pendingVerification: null,
        nonceInFlight: null,
        lastActionAtMs: now.atMs,
        lastActionMonoMs: now.monoMs,
        bootId: now.bootId,
      });
      this.d.ledger.watchdog.recordHealAction({
        target,
        tier: 4,
        action: 'breaker-open',
        result: 'succeeded',
        reason: why,
        actor: 'watchdog',
      });
      raiseAlarm(this.d.ledger, 'breaker_open', { target, reason: why }, { project: this.d.project, subject: target, atMs: now.atMs });
      return s;
    });
    this.healthySince.delete(target);
    this.emit('heal_action', { target, tier: 4, action: 'circuit_break', reason: why.slice(0, 500), pid: null });
    this.noteVerdict(target, 'circuit_broken', {
      unit: target,
      verdict: 'unhealthy',
      reasons: [],
      evidence: [why],
      signature: '',
      alive: false,
    });
    this.d.log('err', `${target}: circuit broken: ${why}`);
    return out;
  }

  /** The command line a unit is respawned with outside systemd: its own, else the fallback. */
  private respawnCommand(target: Target, a: Assessment): RespawnCommand | undefined {
    return a.respawn ?? this.d.fallbackRespawn(target);
  }

  /**
   * Respawns per `plan`; a respawned process that exits 78 before it could enrol (its config
   * broke meanwhile) gets the exit record it could not write, so the next probe sees a unit
   * stopped on purpose instead of respawning it into a breaker, and the runner's
   * `config_broken` alarm carries the reason from the respawn log.
   */
  private respawn(target: Target, plan: RespawnPlan, cmd: RespawnCommand | undefined): Promise<RespawnOutcome> {
    const logFile = join(this.d.paths.logDir, `respawn-${target}.log`);
    return executeRespawn(plan, {
      env: this.d.env,
      logFile,
      onExit: (code, pid) => {
        if (code !== EXIT.CONFIG || readEnrollment(this.d.paths, target)?.pid === pid) return;
        const detail = redactText(tailLines(logFile, 5).join(' | ')).slice(-1000) || 'exited 78 before enrolling';
        try {
          const at = this.d.now();
          writeExitRecord(this.d.paths, {
            unit: target,
            pid,
            nonce: `respawn-${pid}`,
            exit_code: code,
            reason: 'config_broken',
            detail,
            exited_at: new Date(at).toISOString(),
            exited_at_ms: at,
            ...(cmd ? { argv: cmd.argv } : {}),
            ...(cmd?.cwd ? { cwd: cmd.cwd } : {}),
          });
          if (target === 'runner') raiseAlarm(this.d.ledger, 'config_broken', { check: 'config', detail }, { project: this.d.project });
          this.d.log('warning', `${target}: the respawned process exited 78 (configuration broken) before enrolling: ${detail}`);
        } catch (e) {
          this.d.log('warning', `${target}: exit 78 of the respawned process not recorded: ${(e as Error).message}`);
        }
      },
    });
  }

  private noteRespawn(target: Target, now: Stamp, pid: number | undefined): void {
    const stamp: RespawnStamp = { ...now, pid: pid ?? null };
    this.d.ledger.kv.set('watchdog', respawnKey(target), JSON.stringify(stamp));
  }

  /**
   * Outside systemd, a unit that exited 75 for its restart marker is started again at once,
   * as systemd's `RestartForceExitStatus=75` would: no tier, no failure counted.
   */
  private async respawnNow(target: Target, st: HealStateInput, a: Assessment, now: Stamp): Promise<void> {
    const cmd = this.respawnCommand(target, a);
    const seen = st.lastVerifiedIdentity as SeenIdentity | null | undefined;
    const plan = planRespawn({
      configuredUnit: this.d.systemdUnit(target),
      targetCgroup: seen?.cgroup ?? undefined,
      selfUnderSystemd: false,
      command: cmd,
    });
    const res = await this.respawn(target, plan, cmd);
    this.d.ledger.atomically(() => {
      this.noteRespawn(target, now, res.pid);
      this.d.ledger.watchdog.recordHealAction({
        target,
        tier: 0,
        action: 'respawn',
        result: res.ok ? 'requested' : 'failed',
        reason: 'restart_marker',
        actor: 'watchdog',
        detail: { detail: res.detail, pid: res.pid ?? null, from: cmd?.from ?? null },
      });
    });
    this.emit('heal_action', { target, tier: 0, action: 'respawn', reason: 'restart_marker: exited 75 for a restart', pid: null });
    this.d.log(res.ok ? 'notice' : 'warning', `${target}: exited 75 for a restart: ${res.detail}`);
  }

  /** Persists the intent, then takes tier `tier` (one per probe). */
  private async act(target: Target, tier: 1 | 2 | 3, st: HealStateInput, a: Assessment, now: Stamp): Promise<void> {
    const { j } = a;
    const nonce = newNonce();
    const reason = j.reasons.join(',');
    const p: Pending = {
      ...now,
      tier,
      nonce,
      phase: 'intent',
      record: j.alive && j.record ? j.record : null,
      reason,
      signature: j.signature,
    };
    st = this.save({
      ...st,
      tier,
      pendingVerification: p,
      nonceInFlight: nonce,
      lastActionAtMs: now.atMs,
      lastActionMonoMs: now.monoMs,
      bootId: now.bootId,
    });
    if (tier === 3) {
      await this.continueT3(target, st, p, a);
      return;
    }
    const why = `${reason}: ${j.evidence.slice(1).join('; ')}`.slice(0, 500);
    let pid: number | null = null;
    let detail: string;
    if (tier === 1) {
      requestRestart(this.d.paths, target, { by: 'watchdog', reason: why, nowMs: now.atMs, nonce });
      detail = `restart marker ${nonce} written`;
    } else {
      const rec = p.record;
      if (rec !== null) {
        // The unit exits 75 on a SIGTERM while a restart of it is pending (core/unit
        // signalExitCode), so systemd restarts it: a heal never looks like an operator's stop.
        const marker = peekRestartRequest(this.d.paths, target);
        if (marker === undefined || marker.requested_at_ms < rec.started_at_ms)
          requestRestart(this.d.paths, target, { by: 'watchdog', reason: why, nowMs: now.atMs, nonce });
      }
      const r =
        rec === null
          ? { sent: false, verdict: 'gone', reason: 'no live process proven to be the unit' }
          : signalIfSame(rec, 'SIGTERM', this.d.kill, {
              bootId: this.d.bootId,
              ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}),
            });
      if (r.sent) {
        pid = rec?.pid ?? null;
        detail = `SIGTERM sent to pid ${pid} (${r.reason}), its restart marker pending`;
      } else {
        detail = `no SIGTERM: identity ${r.verdict}: ${r.reason}`;
        p.skipped = detail;
        p.record = null;
      }
    }
    p.phase = 'sent';
    this.recordAction(target, tier, st, p, pid, detail, tier === 1 ? 'restart_marker' : 'sigterm');
  }

  private recordAction(
    target: Target,
    tier: 1 | 2 | 3,
    st: HealStateInput,
    p: Pending,
    pid: number | null,
    detail: string,
    action: string,
  ): void {
    const attempt = st.signatureRepeats ?? 1;
    this.d.ledger.atomically(() => {
      this.save({ ...st, pendingVerification: p });
      this.d.ledger.watchdog.recordHealAction({
        target,
        tier,
        action: action.replace('_', '-'),
        result: p.skipped ? 'skipped' : p.respawn && !p.respawn.ok ? 'failed' : 'requested',
        reason: p.reason,
        actor: 'watchdog',
        nonce: p.nonce,
        detail: { detail, pid, signature: p.signature },
      });
    });
    this.emit('heal_action', { target, tier, action, reason: p.reason.slice(0, 500) || 'unhealthy', pid, nonce: p.nonce, attempt });
    this.d.log('warning', `${target}: T${tier} ${TIER_ACTION[tier]}: ${detail} (${p.reason})`);
  }

  /**
   * T3 from wherever it stopped: SIGKILL (identity re-verified) unless already done, wait for
   * the process to go, then respawn unless a respawn was already started. Under systemd the
   * respawn is systemd's own `Restart=on-failure`.
   */
  private async continueT3(target: Target, st: HealStateInput, p: Pending, a: Assessment): Promise<void> {
    const vopts = { bootId: this.d.bootId, ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}) };
    let pid: number | null = null;
    const notes: string[] = [];
    if (p.phase === 'intent') {
      const seen = st.lastVerifiedIdentity as SeenIdentity | null | undefined;
      const cg = p.record !== null ? readCgroupUnit(p.record.pid, this.d.procRoot) : undefined;
      if (cg !== undefined) st = { ...st, lastVerifiedIdentity: { ...(seen ?? { record: p.record, seenAtMs: p.atMs }), cgroup: cg } };
      if (p.record !== null) {
        const r = signalIfSame(p.record, 'SIGKILL', this.d.kill, vopts);
        if (r.sent) {
          pid = p.record.pid;
          notes.push(`SIGKILL sent to pid ${pid}`);
          for (let i = 0; i < 40 && verifyIdentity(p.record, vopts).verdict === 'same'; i++) await this.d.sleep(50);
        } else notes.push(`no SIGKILL: identity ${r.verdict}`);
      } else notes.push('no process to kill');
      p.phase = 'killed';
      st = this.save({ ...st, pendingVerification: p });
    }
    if (p.phase === 'killed') {
      const seen = st.lastVerifiedIdentity as SeenIdentity | null | undefined;
      const plan = planRespawn({
        configuredUnit: this.d.systemdUnit(target),
        targetCgroup: seen?.cgroup ?? undefined,
        selfUnderSystemd: this.d.systemd !== undefined,
        command: this.respawnCommand(target, a),
      });
      p.phase = 'respawn_intent';
      st = this.save({ ...st, pendingVerification: p });
      const res = await this.respawn(target, plan, this.respawnCommand(target, a));
      if (plan.method === 'spawn') this.noteRespawn(target, this.stamp(), res.pid);
      p.respawn = { method: plan.method, ok: res.ok, detail: res.detail };
      notes.push(`respawn via ${plan.method} (${plan.why}): ${res.detail}`);
    } else if (p.phase === 'respawn_intent') {
      // The watchdog died after starting the respawn: it is not started twice.
      p.respawn = { method: 'unknown', ok: true, detail: 'respawn started before a watchdog restart' };
      notes.push(p.respawn.detail);
    }
    p.phase = 'respawned';
    p.healthySinceMs = null;
    this.recordAction(target, 3, st, p, pid, notes.join('; '), 'sigkill_respawn');
  }
}
