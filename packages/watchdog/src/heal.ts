/**
 * The heal engine: one probe of one target per call, at most one tier of action per probe,
 * every step persisted in the ledger before it is taken (DESIGN.md, "Heal tiers").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EventWriter } from '@agent-runner/core/events';
import { type EnrollmentRecord, type KillFn, signalIfSame, verifyIdentity } from '@agent-runner/core/identity';
import type { HealState, HealStateInput, HealTier, Ledger, Severity } from '@agent-runner/core/ledger';
import { newNonce, peekRestartRequest, readStopRequest, requestRestart } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { takeHealReset, type HealResetRequest } from '@agent-runner/core/requests';
import { probeUnit, type UnitJudgement } from '@agent-runner/core/health';
import { type CgroupUnit, executeRespawn, planRespawn, readCgroupUnit } from './respawn.js';
import { elapsedMs, cooldownLeftMs, type HealSettings, nextTier, type Pending, type Stamp, type Target, TIER_ACTION } from './tiers.js';

/** What the engine needs from its surroundings. */
export interface HealDeps {
  paths: ProjectPaths;
  project: string;
  ledger: Ledger;
  events: EventWriter;
  settings: HealSettings;
  /** Targets expected on this host (`watchdog.targets`). */
  expected: readonly Target[];
  /** Wall clock, ms since epoch. */
  now: () => number;
  /** System-wide monotonic clock, ms (`process.hrtime`). */
  mono: () => number;
  bootId: string;
  kill: KillFn;
  /** Installed version, re-read from disk at each call; undefined when unreadable. */
  installedVersion: () => string | undefined;
  /** systemd unit name of each target (`{project}` replaced). */
  systemdUnit: (t: Target) => string;
  /** Foreground respawn argv of a target, or undefined. */
  respawnArgv: (t: Target) => string[] | undefined;
  /** Environment given to respawned processes and systemctl. */
  env: Record<string, string | undefined>;
  /** True when the watchdog itself runs under systemd ($INVOCATION_ID). */
  underSystemd: boolean;
  selfPid: number;
  procRoot?: string;
  log: (priority: 'err' | 'warning' | 'notice' | 'info', line: string) => void;
  /**
   * systemd's view of a unit (`systemctl show -p ActiveState -p Result`), when the watchdog
   * runs under systemd; undefined otherwise or when systemctl fails.
   */
  systemdState?: (unit: string, user: boolean) => Promise<{ active: string; result: string } | undefined>;
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

/**
 * Why a unit without an enrollment record exited on purpose, as far as markers tell: the
 * runner after a stop request or the agent's `.agent-done`. Undefined when nothing says so.
 */
export function cleanExitReason(paths: ProjectPaths, target: Target): string | undefined {
  if (target !== 'runner') return undefined;
  try {
    if (readStopRequest(paths) !== undefined) return 'stop requested: the runner exited on purpose';
  } catch {
    return 'cannot tell whether a stop was requested';
  }
  if (existsSync(paths.agentDoneFile)) return 'the agent wrote .agent-done: the runner exited on purpose';
  return undefined;
}

/** The heal engine of one watchdog process. */
export class HealEngine {
  private readonly verdicts = new Map<string, ShownVerdict>();

  constructor(private readonly d: HealDeps) {}

  private stamp(): Stamp {
    return { atMs: this.d.now(), monoMs: this.d.mono(), bootId: this.d.bootId };
  }

  private save(st: HealStateInput): HealStateInput {
    return toInput(this.d.ledger.watchdog.putHealState(st));
  }

  /** Judges `target` now (no action). */
  judge(target: Target): UnitJudgement {
    return probeUnit(this.d.paths, target, {
      expected: this.d.expected.includes(target),
      staleAfterMs: this.d.settings.staleAfterMs[target],
      nowMs: this.d.now(),
      installedVersion: this.d.installedVersion(),
      bootId: this.d.bootId,
      ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}),
    });
  }

  /**
   * One probe of `target`: consumes an operator reset, judges, checks the action in flight,
   * and takes at most one tier of action.
   * @returns the judgement of this probe.
   */
  async probe(target: Target): Promise<UnitJudgement> {
    const existing = this.d.ledger.watchdog.getHealState(target);
    let st: HealStateInput = existing ? toInput(existing) : fresh(target, this.d.bootId);
    const reset = takeHealReset(this.d.paths, target);
    if (reset !== undefined) st = this.applyReset(st, reset);

    const j = await this.refineMissing(target, this.judge(target));
    const now = this.stamp();
    if (j.alive && j.record !== undefined) {
      const seen = st.lastVerifiedIdentity as SeenIdentity | null | undefined;
      if (seen?.record?.nonce !== j.record.nonce) {
        const cg = readCgroupUnit(j.record.pid, this.d.procRoot);
        st = this.save({ ...st, lastVerifiedIdentity: { record: j.record, cgroup: cg ?? null, seenAtMs: now.atMs } satisfies SeenIdentity });
      }
    }
    this.noteVerdict(target, st.breaker === 'open' ? 'circuit_broken' : j.verdict, j);

    if (st.breaker === 'open') {
      this.maybeAlert(target, st, j, now);
      return j;
    }

    const pending = (st.pendingVerification ?? null) as Pending | null;
    if (pending !== null) {
      if (pending.tier === 3 && pending.phase !== 'respawned') {
        // Killed mid-T3: finish the remaining steps, never repeating one (see Pending.phase).
        await this.continueT3(target, st, pending);
        return j;
      }
      const out = this.verify(target, pending, j, now);
      if (out === 'wait') {
        if (pending.tier === 3) this.save({ ...st, pendingVerification: pending });
        return j;
      }
      st = this.finishVerification(target, st, pending, out, now);
      if (st.breaker === 'open') return j;
      if (out.result === 'succeeded' && pending.tier === 3) return j;
    }

    if (j.verdict === 'healthy') {
      if (st.tier !== 0 || st.consecutiveFailures !== 0 || st.pendingVerification) {
        st = this.save({ ...st, tier: 0, consecutiveFailures: 0, pendingVerification: null, nonceInFlight: null, lastHealthyAtMs: now.atMs });
      } else if (st.lastHealthyAtMs == null || now.atMs - st.lastHealthyAtMs >= this.d.settings.intervalMs * 20) {
        // Refreshed now and then, not at every probe: one ledger write per ~20 probes.
        const decay = st.failureSignature != null && st.lastActionAtMs != null && now.atMs - st.lastActionAtMs >= this.d.settings.alertIntervalMs;
        st = this.save({ ...st, lastHealthyAtMs: now.atMs, ...(decay ? { failureSignature: null, signatureRepeats: 0 } : {}) });
      }
      return j;
    }
    if (j.verdict === 'unknown') return j;
    if (cooldownLeftMs({ ...st, updatedAtMs: 0 } as HealState, now, this.d.settings) > 0) return j;

    const repeats = st.failureSignature === j.signature ? (st.signatureRepeats ?? 0) : 0;
    if (repeats >= this.d.settings.breakerAfterSameSignature) {
      this.openBreaker(target, st, `${repeats} heals for the same failure (${j.signature})`, now);
      return j;
    }
    await this.act(target, nextTier(st.tier, j.alive), { ...st, failureSignature: j.signature, signatureRepeats: repeats + 1 }, j, now);
    return j;
  }

  /**
   * A missing enrollment is a unit that exited. A clean, deliberate exit is not undone: the
   * runner asked to stop (stop file) or told by its agent (`.agent-done`), or a systemd unit
   * that is inactive with Result=success (stopped by the operator, or ended by policy) or
   * still (de)activating, is `unknown`, not `unhealthy`.
   */
  private async refineMissing(target: Target, j: UnitJudgement): Promise<UnitJudgement> {
    if (j.verdict !== 'unhealthy' || j.reasons.length !== 1 || j.reasons[0] !== 'enrollment_missing') return j;
    const unknown = (why: string): UnitJudgement => ({ ...j, verdict: 'unknown', reasons: ['not_expected'], evidence: [...j.evidence, why], signature: '' });
    const clean = cleanExitReason(this.d.paths, target);
    if (clean !== undefined) return unknown(clean);
    if (this.d.systemdState === undefined) return j;
    const seen = (this.d.ledger.watchdog.getHealState(target)?.lastVerifiedIdentity ?? null) as SeenIdentity | null;
    const st = await this.d.systemdState(this.d.systemdUnit(target), seen?.cgroup?.user ?? readCgroupUnit(this.d.selfPid, this.d.procRoot)?.user ?? false);
    if (st === undefined) return j;
    if (st.active === 'inactive' && st.result === 'success') return unknown(`${this.d.systemdUnit(target)} is inactive (exited cleanly or stopped): not restarting it`);
    if (st.active === 'activating' || st.active === 'deactivating' || st.active === 'reloading') return unknown(`${this.d.systemdUnit(target)} is ${st.active}`);
    return { ...j, evidence: [...j.evidence, `${this.d.systemdUnit(target)} is ${st.active} (result ${st.result})`] };
  }

  private noteVerdict(target: Target, v: ShownVerdict, j: UnitJudgement): void {
    const key = `watchdog.verdict.${target}`;
    let prev = this.verdicts.get(target);
    if (prev === undefined) prev = (this.d.ledger.kv.get(key) as ShownVerdict | undefined) ?? 'unknown';
    this.verdicts.set(target, v);
    if (prev === v) return;
    this.d.ledger.kv.set('watchdog', key, v);
    const reason = v === 'circuit_broken' ? 'circuit breaker open' : (j.evidence.join('; ') || v).slice(0, 500);
    this.d.events.emit('heal_verdict_changed', { target, from: prev, to: v, reason });
    this.d.log(v === 'healthy' ? 'notice' : 'warning', `${target}: ${prev} -> ${v}: ${reason}`);
  }

  private notify(key: string, severity: Severity, title: string, body: string, payload: unknown): void {
    this.d.ledger.outbox.enqueue({ idempotencyKey: key, kind: 'heal_action', severity, title: `[${this.d.project}] ${title}`, body, payload });
  }

  private applyReset(st: HealStateInput, r: HealResetRequest): HealStateInput {
    const wasOpen = st.breaker === 'open';
    const out = this.d.ledger.atomically(() => {
      const s = this.save({
        ...st, tier: 0, breaker: 'closed', consecutiveFailures: 0, failureSignature: null, signatureRepeats: 0,
        breakerOpenedAtMs: null, pendingVerification: null, nonceInFlight: null,
      });
      this.d.ledger.watchdog.recordHealAction({
        target: r.target, tier: (st.tier ?? 0) as HealTier, action: 'breaker-reset', result: 'succeeded', reason: r.reason,
        actor: r.requested_by, nonce: r.nonce, detail: { was_open: wasOpen, requested_at: r.requested_at },
      });
      this.notify(`heal:${r.target}:reset:${r.nonce}`, 'info', `${r.target}: heal breaker reset by ${r.requested_by}`, r.reason, { target: r.target, by: r.requested_by, reason: r.reason, was_open: wasOpen });
      return s;
    });
    this.d.events.emit('heal_breaker_reset', { target: r.target, by: r.requested_by, reason: r.reason.slice(0, 500), was_open: wasOpen });
    this.d.log('notice', `${r.target}: breaker reset by ${r.requested_by}: ${r.reason}`);
    return out;
  }

  private verify(target: Target, p: Pending, j: UnitJudgement, now: Stamp): 'wait' | { result: 'succeeded' | 'failed'; reason: string } {
    const el = elapsedMs(p, now);
    const s = this.d.settings;
    if (p.tier === 1) {
      if (j.alive && j.record !== undefined && j.record.started_at_ms >= p.atMs) {
        return { result: 'succeeded', reason: `new enrollment: pid ${j.record.pid} started at ${j.record.started_at}` };
      }
      if (el < s.cooldownMs) return 'wait';
      const still = peekRestartRequest(this.d.paths, target)?.nonce === p.nonce;
      return { result: 'failed', reason: `no new enrollment ${Math.round(el / 1000)} s after the request${still ? ' (marker never consumed)' : ''}` };
    }
    if (p.tier === 2) {
      if (p.record === null) return { result: 'succeeded', reason: `no signal needed: ${p.skipped ?? 'already gone'}` };
      const v = verifyIdentity(p.record, { bootId: this.d.bootId, ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}) });
      if (v.verdict !== 'same' && v.verdict !== 'unknown') return { result: 'succeeded', reason: `pid ${p.record.pid} ${v.verdict} after SIGTERM` };
      if (el < s.termGraceMs) return 'wait';
      return { result: 'failed', reason: `pid ${p.record.pid} still alive ${Math.round(el / 1000)} s after SIGTERM` };
    }
    if (p.respawn !== undefined && !p.respawn.ok) return { result: 'failed', reason: `respawn failed: ${p.respawn.detail}` };
    if (j.verdict === 'healthy') {
      p.healthySinceMs ??= now.atMs;
      if (now.atMs - p.healthySinceMs >= s.verifyWindowMs) {
        return { result: 'succeeded', reason: `healthy for ${Math.round((now.atMs - p.healthySinceMs) / 1000)} s after respawn (pid ${j.record?.pid})` };
      }
      return 'wait';
    }
    if (j.verdict === 'unhealthy' && p.healthySinceMs != null) {
      return { result: 'failed', reason: `unhealthy again within the verification window: ${j.reasons.join(', ')}` };
    }
    p.healthySinceMs = null;
    if (el < s.cooldownMs + (j.verdict === 'unknown' ? s.verifyWindowMs : 0)) return 'wait';
    return { result: 'failed', reason: `not healthy ${Math.round(el / 1000)} s after respawn: ${j.reasons.join(', ') || j.verdict}` };
  }

  private finishVerification(
    target: Target,
    st: HealStateInput,
    p: Pending,
    out: { result: 'succeeded' | 'failed'; reason: string },
    now: Stamp,
  ): HealStateInput {
    const failedT3 = p.tier === 3 && out.result === 'failed' ? st.consecutiveFailures + 1 : p.tier === 3 ? 0 : st.consecutiveFailures;
    const healed = p.tier === 3 && out.result === 'succeeded';
    const next = this.d.ledger.atomically(() => {
      const s = this.save({
        ...st, pendingVerification: null, nonceInFlight: null, consecutiveFailures: failedT3,
        ...(healed ? { tier: 0 as HealTier, lastHealthyAtMs: now.atMs } : {}),
      });
      this.d.ledger.watchdog.recordHealAction({
        target, tier: p.tier, action: `verify-t${p.tier}`, result: out.result, reason: out.reason, actor: 'watchdog', nonce: p.nonce,
      });
      if (p.tier === 3) {
        this.notify(`heal:${target}:T3:verify:${p.nonce}`, out.result === 'succeeded' ? 'info' : 'error',
          `${target}: respawn ${out.result === 'succeeded' ? 'verified healthy' : 'failed'}`, out.reason, { target, tier: 3, result: out.result });
      }
      return s;
    });
    this.d.events.emit('heal_verified', {
      target, tier: p.tier, result: out.result, reason: out.reason.slice(0, 500), nonce: p.nonce,
      ...(p.tier === 3 ? { failed_t3: failedT3 } : {}),
    });
    this.d.log(out.result === 'succeeded' ? 'notice' : 'warning', `${target}: T${p.tier} ${out.result}: ${out.reason}`);
    if (p.tier === 3 && out.result === 'failed' && failedT3 >= this.d.settings.breakerAfterFailedT3) {
      return this.openBreaker(target, next, `${failedT3} failed T3 (SIGKILL + respawn) in a row`, now);
    }
    return next;
  }

  private openBreaker(target: Target, st: HealStateInput, why: string, now: Stamp): HealStateInput {
    const out = this.d.ledger.atomically(() => {
      const s = this.save({
        ...st, tier: 4, breaker: 'open', breakerOpenedAtMs: now.atMs, lastAlertAtMs: now.atMs, pendingVerification: null,
        nonceInFlight: null, lastActionAtMs: now.atMs, lastActionMonoMs: now.monoMs, bootId: now.bootId,
      });
      this.d.ledger.watchdog.recordHealAction({ target, tier: 4, action: 'breaker-open', result: 'succeeded', reason: why, actor: 'watchdog' });
      this.notify(`heal:${target}:T4:open:${now.atMs}`, 'critical', `${target}: circuit broken, the watchdog stopped healing it`,
        `${why}. Fix the cause, then: agent-runner heal reset ${target} --reason "..."`, { target, tier: 4, reason: why });
      return s;
    });
    this.d.events.emit('heal_action', { target, tier: 4, action: 'circuit_break', reason: why.slice(0, 500), pid: null });
    this.noteVerdict(target, 'circuit_broken', { unit: target, verdict: 'unhealthy', reasons: [], evidence: [why], signature: '', alive: false });
    this.d.log('err', `${target}: circuit broken: ${why}`);
    return out;
  }

  private maybeAlert(target: Target, st: HealStateInput, j: UnitJudgement, now: Stamp): void {
    if (st.lastAlertAtMs != null && now.atMs - st.lastAlertAtMs < this.d.settings.alertIntervalMs) return;
    this.d.ledger.atomically(() => {
      this.save({ ...st, lastAlertAtMs: now.atMs });
      this.notify(`heal:${target}:T4:alert:${st.breakerOpenedAtMs ?? 0}:${now.atMs}`, 'critical', `${target}: circuit still broken`,
        `The watchdog is not healing ${target} (${j.verdict}: ${j.evidence.join('; ')}). agent-runner heal reset ${target} --reason "..."`,
        { target, tier: 4, verdict: j.verdict });
    });
  }

  /** Persists the intent, then takes tier `tier` (one per probe). */
  private async act(target: Target, tier: 1 | 2 | 3, st: HealStateInput, j: UnitJudgement, now: Stamp): Promise<void> {
    const nonce = newNonce();
    const reason = j.reasons.join(',');
    const p: Pending = { ...now, tier, nonce, phase: 'intent', record: j.alive && j.record ? j.record : null, reason, signature: j.signature };
    st = this.save({
      ...st, tier, pendingVerification: p, nonceInFlight: nonce, lastActionAtMs: now.atMs, lastActionMonoMs: now.monoMs, bootId: now.bootId,
    });
    if (tier === 3) {
      await this.continueT3(target, st, p);
      return;
    }
    let pid: number | null = null;
    let detail: string;
    if (tier === 1) {
      requestRestart(this.d.paths, target, { by: 'watchdog', reason: `${reason}: ${j.evidence.slice(1).join('; ')}`.slice(0, 500), nowMs: now.atMs, nonce });
      detail = `restart marker ${nonce} written`;
      p.phase = 'sent';
    } else {
      const rec = p.record;
      const r = rec === null
        ? { sent: false, verdict: 'gone', reason: 'no live process proven to be the unit' }
        : signalIfSame(rec, 'SIGTERM', this.d.kill, { bootId: this.d.bootId, ...(this.d.procRoot !== undefined ? { procRoot: this.d.procRoot } : {}) });
      if (r.sent) {
        pid = rec?.pid ?? null;
        detail = `SIGTERM sent to pid ${pid} (${r.reason})`;
      } else {
        detail = `no SIGTERM: identity ${r.verdict}: ${r.reason}`;
        p.skipped = detail;
        p.record = null;
      }
      p.phase = 'sent';
    }
    this.recordAction(target, tier, st, p, pid, detail, tier === 1 ? 'restart_marker' : 'sigterm');
  }

  private recordAction(target: Target, tier: 1 | 2 | 3, st: HealStateInput, p: Pending, pid: number | null, detail: string, action: string): void {
    const attempt = st.signatureRepeats ?? 1;
    this.d.ledger.atomically(() => {
      this.save({ ...st, pendingVerification: p });
      this.d.ledger.watchdog.recordHealAction({
        target, tier, action: action.replace('_', '-'), result: p.skipped ? 'skipped' : p.respawn && !p.respawn.ok ? 'failed' : 'requested',
        reason: p.reason, actor: 'watchdog', nonce: p.nonce, detail: { detail, pid, signature: p.signature },
      });
      this.notify(`heal:${target}:T${tier}:${action}:${p.nonce}`, tier >= 3 ? 'error' : 'warning', `${target}: T${tier} ${TIER_ACTION[tier]}`,
        `${p.reason}. ${detail}`, { target, tier, action, pid, reason: p.reason, nonce: p.nonce });
    });
    this.d.events.emit('heal_action', {
      target, tier, action, reason: p.reason.slice(0, 500) || 'unhealthy', pid, nonce: p.nonce, attempt,
    });
    this.d.log('warning', `${target}: T${tier} ${TIER_ACTION[tier]}: ${detail} (${p.reason})`);
  }

  /**
   * T3 from wherever it stopped: SIGKILL (identity re-verified) unless already done, wait for
   * the process to go, then respawn unless a respawn was already started.
   */
  private async continueT3(target: Target, st: HealStateInput, p: Pending): Promise<void> {
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
        selfCgroup: readCgroupUnit(this.d.selfPid, this.d.procRoot),
        selfUnderSystemd: this.d.underSystemd,
        respawnArgv: this.d.respawnArgv(target),
      });
      p.phase = 'respawn_intent';
      st = this.save({ ...st, pendingVerification: p });
      const res = await executeRespawn(plan, { env: this.d.env, logFile: join(this.d.paths.logDir, `respawn-${target}.log`) });
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
