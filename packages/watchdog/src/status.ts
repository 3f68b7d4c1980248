/**
 * What `agent-runner heal status` shows: per target, the verdict and its evidence, the heal
 * state from the ledger and the next action the watchdog may take. Read-only.
 */
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import { configPaths } from '@agent-runner/core/config';
import { type EnrollmentRecord, readBootId, readEnrollment, verifyIdentity } from '@agent-runner/core/identity';
import type { HealActionRecord, HealState } from '@agent-runner/core/ledger';
import { probeUnit, readInstalledVersion } from '@agent-runner/core/health';
import type { Stance } from './assess.js';
import { assessTarget, type RespawnStamp } from './evidence.js';
import { readCgroupUnit } from './respawn.js';
import type { SystemdShow } from './systemd.js';
import { describeNext, healSettings, TARGETS, type Stamp } from './tiers.js';

/** One target's line of `heal status --json`. */
export interface TargetStatus {
  target: string;
  /** False when the unit is not installed, not wanted, or not in `[watchdog] targets`. */
  expected: boolean;
  /** Where it stands for the watchdog (see the watchdog's assess: judged, starting, busy, stopped, ...). */
  stance: Stance;
  verdict: 'healthy' | 'unhealthy' | 'unknown' | 'circuit_broken';
  reasons: string[];
  evidence: string[];
  pid: number | null;
  version: string | null;
  tier: number;
  breaker: 'closed' | 'open';
  failed_t3: number;
  failure_signature: string | null;
  signature_repeats: number;
  last_action_at: string | null;
  last_healthy_at: string | null;
  breaker_opened_at: string | null;
  pending: unknown;
  next_action: string;
  recent_actions: Array<{ at: string; tier: number; action: string; result: string; actor: string; reason: string | null }>;
}

/** The whole `heal status --json` document. */
export interface HealStatus {
  project: string;
  installed_version: string | null;
  /** The watchdog itself, judged like the others (the runner watches it). */
  watchdog: { verdict: string; evidence: string[]; pid: number | null };
  targets: TargetStatus[];
}

const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

/**
 * Builds the status, judging each target as the running watchdog does: with systemd's view
 * when the watchdog runs in a systemd service (or, when it is not running, when systemd has
 * the target's unit installed), else from the files, exit records and the start-up grace.
 * @param heal heal state, recent actions and last respawns per target (from a read-only
 *   ledger; empty when there is no ledger yet).
 */
export async function healStatus(
  cfg: AgentRunnerConfig,
  heal: { states: HealState[]; actions: (target: string) => HealActionRecord[]; respawns: (target: string) => RespawnStamp | undefined },
  opts: { nowMs: number; monoMs: number; installedPackageJson: string; procRoot?: string; systemdShow: SystemdShow; userMode: boolean },
): Promise<HealStatus> {
  const paths = configPaths(cfg);
  const s = healSettings(cfg.watchdog);
  let bootId = '';
  try {
    bootId = readBootId(opts.procRoot);
  } catch {
    bootId = ''; // procfs unreadable: verifyIdentity then reports `unknown` itself
  }
  const procOpt = opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {};
  const now: Stamp = { atMs: opts.nowMs, monoMs: opts.monoMs, bootId };
  const installed = readInstalledVersion(opts.installedPackageJson);
  const wd = readEnrollment(paths, 'watchdog');
  const wdAlive = wd !== undefined && verifyIdentity(wd, { ...procOpt, ...(bootId ? { bootId } : {}) }).verdict === 'same';
  const wdCgroup = wdAlive ? readCgroupUnit(wd.pid, opts.procRoot) : undefined;
  const targets = await Promise.all(
    TARGETS.map(async (t): Promise<TargetStatus> => {
      const unit = cfg.watchdog.systemd_units[t].replaceAll('{project}', cfg.project);
      let systemd: { show: SystemdShow; user: boolean; unit: string } | undefined;
      if (wdCgroup !== undefined) systemd = { show: opts.systemdShow, user: wdCgroup.user, unit };
      else if (!wdAlive) {
        const v = await opts.systemdShow(unit, opts.userMode);
        const installedUnit =
          v !== undefined &&
          v.loadState === 'loaded' &&
          (v.wantedBy.length > 0 || v.unitFileState.startsWith('enabled') || v.activeState !== 'inactive');
        if (installedUnit) systemd = { show: async () => v, user: opts.userMode, unit };
      }
      const st = heal.states.find((x) => x.target === t);
      const respawned = heal.respawns(t);
      const graceFrom = Math.max(wd?.started_at_ms ?? Number.NEGATIVE_INFINITY, respawned?.atMs ?? Number.NEGATIVE_INFINITY);
      const seen = (st?.lastVerifiedIdentity as { record?: EnrollmentRecord } | null | undefined)?.record;
      const a = await assessTarget(t, {
        paths,
        settings: s,
        targets: cfg.watchdog.targets,
        nowMs: opts.nowMs,
        monoMs: opts.monoMs,
        installedVersion: installed,
        ...(bootId ? { bootId } : {}),
        ...procOpt,
        ...(systemd !== undefined ? { systemd } : {}),
        ...(respawned !== undefined ? { lastRespawn: respawned } : {}),
        ...(seen !== undefined ? { lastSeen: seen } : {}),
        inGrace: opts.nowMs - graceFrom < s.startupGraceMs,
      });
      const { j } = a;
      const expected = a.stance !== 'absent';
      const open = st?.breaker === 'open';
      return {
        target: t,
        expected,
        stance: a.stance,
        verdict: open ? 'circuit_broken' : j.verdict,
        reasons: j.reasons,
        evidence: j.evidence,
        pid: j.record?.pid ?? null,
        version: j.record?.version ?? null,
        tier: st?.tier ?? 0,
        breaker: st?.breaker ?? 'closed',
        failed_t3: st?.consecutiveFailures ?? 0,
        failure_signature: st?.failureSignature ?? null,
        signature_repeats: st?.signatureRepeats ?? 0,
        last_action_at: iso(st?.lastActionAtMs),
        last_healthy_at: iso(st?.lastHealthyAtMs),
        breaker_opened_at: iso(st?.breakerOpenedAtMs),
        pending: st?.pendingVerification ?? null,
        next_action: expected
          ? describeNext(t, st, j.verdict, j.alive, j.signature, now, s)
          : `none: ${j.evidence.at(-1) ?? 'not a target'}`,
        recent_actions: heal.actions(t).map((x) => ({
          at: new Date(x.atMs).toISOString(),
          tier: x.tier,
          action: x.action,
          result: x.result,
          actor: x.actor,
          reason: x.reason,
        })),
      };
    }),
  );
  // The watchdog's own heartbeat is every interval; three intervals (at least 30 s) is stale.
  const wj = probeUnit(paths, 'watchdog', {
    expected: true,
    staleAfterMs: Math.max(30_000, 3 * s.intervalMs),
    nowMs: opts.nowMs,
    installedVersion: installed,
    ...(bootId ? { bootId } : {}),
    ...procOpt,
  });
  return {
    project: cfg.project,
    installed_version: installed ?? null,
    watchdog: { verdict: wj.verdict, evidence: wj.evidence, pid: wj.record?.pid ?? null },
    targets,
  };
}

/** Renders {@link HealStatus} for a terminal. */
export function renderHealStatus(h: HealStatus): string {
  const out: string[] = [`project ${h.project}, installed v${h.installed_version ?? '?'}`];
  out.push(`watchdog: ${h.watchdog.verdict}${h.watchdog.pid ? ` (pid ${h.watchdog.pid})` : ''} — ${h.watchdog.evidence.join('; ')}`);
  for (const t of h.targets) {
    out.push('');
    out.push(
      `${t.target}: ${t.verdict.toUpperCase()}${t.expected ? '' : ' (not a target)'}${t.stance !== 'judged' ? ` (${t.stance})` : ''}${t.pid ? `  pid ${t.pid} v${t.version}` : ''}`,
    );
    for (const e of t.evidence) out.push(`  · ${e}`);
    out.push(
      `  tier ${t.tier}, breaker ${t.breaker}, failed T3 ${t.failed_t3}${t.failure_signature ? `, signature ${t.failure_signature} x${t.signature_repeats}` : ''}`,
    );
    out.push(`  next: ${t.next_action}`);
    for (const a of t.recent_actions.slice(0, 5))
      out.push(`  ${a.at}  T${a.tier} ${a.action} ${a.result} (${a.actor})${a.reason ? `: ${a.reason}` : ''}`);
  }
  return `${out.join('\n')}\n`;
}
