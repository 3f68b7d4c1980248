/**
 * What `agent-runner heal status` shows: per target, the verdict and its evidence, the heal
 * state from the ledger and the next action the watchdog may take. Read-only.
 */
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import { configPaths } from '@agent-runner/core/config';
import { readBootId } from '@agent-runner/core/identity';
import type { HealActionRecord, HealState } from '@agent-runner/core/ledger';
import { probeUnit, readInstalledVersion } from '@agent-runner/core/health';
import { cleanExitReason } from './heal.js';
import { describeNext, healSettings, TARGETS, type Stamp } from './tiers.js';

/** One target's line of `heal status --json`. */
export interface TargetStatus {
  target: string;
  expected: boolean;
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
 * Builds the status.
 * @param heal heal state and recent actions per target (from a read-only ledger; empty when
 * there is no ledger yet).
 */
export function healStatus(
  cfg: AgentRunnerConfig,
  heal: { states: HealState[]; actions: (target: string) => HealActionRecord[] },
  opts: { nowMs: number; monoMs: number; installedPackageJson: string; procRoot?: string },
): HealStatus {
  const paths = configPaths(cfg);
  const s = healSettings(cfg.watchdog);
  let bootId = '';
  try {
    bootId = readBootId(opts.procRoot);
  } catch {
    bootId = '';
  }
  const now: Stamp = { atMs: opts.nowMs, monoMs: opts.monoMs, bootId };
  const installed = readInstalledVersion(opts.installedPackageJson);
  const probe = (unit: string, expected: boolean, staleAfterMs: number) =>
    probeUnit(paths, unit, {
      expected, staleAfterMs, nowMs: opts.nowMs, installedVersion: installed,
      ...(bootId ? { bootId } : {}), ...(opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {}),
    });
  const targets = TARGETS.map((t): TargetStatus => {
    const expected = cfg.watchdog.targets.includes(t);
    let j = probe(t, expected, s.staleAfterMs[t]);
    const clean = j.reasons.length === 1 && j.reasons[0] === 'enrollment_missing' ? cleanExitReason(paths, t) : undefined;
    if (clean !== undefined) j = { ...j, verdict: 'unknown', reasons: ['not_expected'], evidence: [...j.evidence, clean], signature: '' };
    const st = heal.states.find((x) => x.target === t);
    const open = st?.breaker === 'open';
    return {
      target: t,
      expected,
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
      next_action: expected ? describeNext(t, st, j.verdict, j.alive, now, s) : 'none: not in watchdog.targets',
      recent_actions: heal.actions(t).map((a) => ({ at: new Date(a.atMs).toISOString(), tier: a.tier, action: a.action, result: a.result, actor: a.actor, reason: a.reason })),
    };
  });
  // The watchdog's own heartbeat is every interval; three intervals (at least 30 s) is stale.
  const wj = probe('watchdog', true, Math.max(30_000, 3 * s.intervalMs));
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
    out.push(`${t.target}: ${t.verdict.toUpperCase()}${t.expected ? '' : ' (not a target)'}${t.pid ? `  pid ${t.pid} v${t.version}` : ''}`);
    for (const e of t.evidence) out.push(`  · ${e}`);
    out.push(`  tier ${t.tier}, breaker ${t.breaker}, failed T3 ${t.failed_t3}${t.failure_signature ? `, signature ${t.failure_signature} x${t.signature_repeats}` : ''}`);
    out.push(`  next: ${t.next_action}`);
    for (const a of t.recent_actions.slice(0, 5)) out.push(`  ${a.at}  T${a.tier} ${a.action} ${a.result} (${a.actor})${a.reason ? `: ${a.reason}` : ''}`);
  }
  return `${out.join('\n')}\n`;
}
