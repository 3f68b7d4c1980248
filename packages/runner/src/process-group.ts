/**
 * The agent's process group: listing its members from /proc and ending all of them.
 *
 * The agent is started as a session and process-group leader (pgid = sid = its pid), so
 * "the round's processes" are every process whose process group OR session is that id,
 * plus — transitively — the children of those and the groups and sessions such children
 * lead. The session part catches job-control groups an interactive shell in a PTY creates
 * (`setpgid` for each pipeline); the descendant part catches tools that call `setsid()`
 * (Claude Code runs every Bash tool command in a session of its own). Only a process that
 * left its session AND lost its parent (re-parented to init) escapes; systemd's cgroup
 * (`KillMode=mixed` at unit stop) is the backstop for those.
 *
 * Zombies are listed but flagged: they are already dead, cannot be signalled away, and on
 * hosts whose PID 1 does not reap orphans (some containers) they never disappear, so
 * "the group is empty" always means "no non-zombie member".
 */
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { AgentRunnerError, errnoCode } from '@agent-runner/core/errors';
import { readCmdline, readProcStat } from '@agent-runner/core/identity';

/** One process of the round's group, from `/proc/<pid>/stat` and `/proc/<pid>/cmdline`. */
export interface GroupMember {
  pid: number;
  ppid: number;
  /** Its process group; differs from the round's pgid for job-control groups in the session. */
  pgrp: number;
  session: number;
  /** `comm` (at most 15 bytes). */
  comm: string;
  /** argv joined by spaces; `[comm]` for zombies, whose cmdline is empty. */
  cmdline: string;
  /** One-letter state from proc(5) (R, S, D, T, Z, ...). */
  state: string;
  /** State Z or X: dead, waiting to be reaped; never counts as live. */
  zombie: boolean;
  /** Field 22 of its stat: start time after boot, clock ticks. */
  starttimeTicks: number;
}

/** A process's stat, or undefined when it is gone or unreadable mid-scan (not ours to judge). */
function statOrUndefined(pid: number, procRoot: string): ReturnType<typeof readProcStat> {
  try {
    return readProcStat(pid, procRoot);
  } catch {
    return undefined; // gone or unreadable mid-scan, as documented
  }
}

/**
 * Lists the processes of the round: members of process group `pgid`, of the session `pgid`
 * leads, and their descendants with the groups and sessions those lead (see the module
 * comment), including zombies (flagged). Costs one small read per process on
 * the host (a few ms for hundreds of processes) plus one cmdline read per member.
 *
 * @param pgid process group id of the agent (= its pid, since it is a session leader).
 * @param procRoot procfs mount point, for tests.
 * @returns members sorted by pid; [] when the group is gone.
 */
export function listGroup(pgid: number, procRoot = '/proc'): GroupMember[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch (e) {
    throw new AgentRunnerError('ERR_AR_IO', `cannot list ${procRoot}: ${(e as Error).message}`, { cause: e });
  }
  const all: NonNullable<ReturnType<typeof readProcStat>>[] = [];
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const st = statOrUndefined(Number(name), procRoot);
    if (st) all.push(st);
  }
  // Fixpoint: start from the agent's group and session, then add children of members and
  // members of groups/sessions that members lead, until nothing changes.
  const ids = new Set([pgid]);
  const inRound = new Set<number>();
  for (let changed = true; changed;) {
    changed = false;
    for (const st of all) {
      if (inRound.has(st.pid)) continue;
      if (ids.has(st.pgid) || ids.has(st.sid) || inRound.has(st.ppid)) {
        inRound.add(st.pid);
        ids.add(st.pid);
        changed = true;
      }
    }
  }
  const out: GroupMember[] = [];
  for (const st of all) {
    if (!inRound.has(st.pid)) continue;
    const zombie = st.state === 'Z' || st.state === 'X';
    const cmdline = zombie ? '' : readCmdline(st.pid, procRoot);
    out.push({
      pid: st.pid,
      ppid: st.ppid,
      pgrp: st.pgid,
      session: st.sid,
      comm: st.comm,
      cmdline: cmdline === '' ? `[${st.comm}]` : cmdline,
      state: st.state,
      zombie,
      starttimeTicks: st.starttimeTicks,
    });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** Non-zombie members of the round's group (see {@link listGroup}). */
export function liveMembers(pgid: number, procRoot = '/proc'): GroupMember[] {
  return listGroup(pgid, procRoot).filter((m) => !m.zombie);
}

/** Options of {@link killGroup}. */
export interface KillGroupOptions {
  /** How long to wait after the first signal for the group to empty before SIGKILL, ms. */
  graceMs: number;
  /** First signal; default SIGTERM. */
  signal?: NodeJS.Signals;
  /** /proc polling interval while waiting, ms (default 20). */
  pollMs?: number;
  /** How long to wait after SIGKILL for the kernel to finish the members, ms (default 2000). */
  confirmMs?: number;
  procRoot?: string;
  /** Sends a signal (`process.kill`, passed in by the process's entry point). */
  kill: (pid: number, signal: NodeJS.Signals) => void;
}

/** What {@link killGroup} did. */
export interface KillReport {
  /** The first signal reached at least one member. */
  termSent: boolean;
  /** Members outlived the grace and got SIGKILL. */
  killSent: boolean;
  /** Non-zombie members still present at the end (uninterruptible sleep, or escaped re-forks). */
  survivors: GroupMember[];
  /** Members present when the kill began. */
  initial: GroupMember[];
  /** From the first signal to the group being empty (or giving up), ms. */
  durationMs: number;
  /** From SIGKILL to the group being empty (or giving up), ms; absent without SIGKILL. */
  killPhaseMs?: number;
}

/**
 * Signals every process group among `members`.
 * @returns true when at least one group was signalled.
 */
function signalGroups(members: GroupMember[], signal: NodeJS.Signals, kill: KillGroupOptions['kill']): boolean {
  const groups = new Set(members.map((m) => m.pgrp));
  let sent = false;
  for (const g of groups) {
    // kill(-1) would hit every process we may signal, kill(-0) our own group.
    if (g <= 1) continue;
    try {
      kill(-g, signal);
      sent = true;
    } catch (e) {
      // ESRCH: gone meanwhile. EPERM: a member changed credentials (setuid); it stays in
      // the survivors list rather than aborting the kill of everything else.
      const code = errnoCode(e);
      if (code !== 'ESRCH' && code !== 'EPERM') throw e;
    }
  }
  return sent;
}

async function waitEmpty(pgid: number, deadline: number, pollMs: number, procRoot: string): Promise<GroupMember[]> {
  for (;;) {
    const live = liveMembers(pgid, procRoot);
    if (live.length === 0 || performance.now() >= deadline) return live;
    await sleep(Math.min(pollMs, Math.max(1, deadline - performance.now())));
  }
}

/**
 * Ends the whole round group: `signal` (SIGTERM) plus SIGCONT (so stopped members can act
 * on it) to every process group in it, a wait of up to `graceMs` for it to empty, then
 * SIGKILL to whatever is left, then a wait of up to `confirmMs` for the kernel to finish.
 * Works when the leader is already gone: members are found by group/session id, and
 * signals go to groups (`kill(-pgrp)`), never to a single recyclable pid. Nothing is sent
 * when the group has no live member, so a recycled id cannot be hit.
 *
 * @param pgid process group id of the agent (> 1).
 * @throws AgentRunnerError ERR_AR_INTERNAL for pgid <= 1 (would signal everything).
 */
export async function killGroup(pgid: number, opts: KillGroupOptions): Promise<KillReport> {
  if (!Number.isInteger(pgid) || pgid <= 1) {
    throw new AgentRunnerError('ERR_AR_INTERNAL', `refusing to signal process group ${pgid}`);
  }
  const procRoot = opts.procRoot ?? '/proc';
  const pollMs = opts.pollMs ?? 20;
  const t0 = performance.now();
  const initial = liveMembers(pgid, procRoot);
  if (initial.length === 0) {
    return { termSent: false, killSent: false, survivors: [], initial, durationMs: 0 };
  }
  const termSent = signalGroups(initial, opts.signal ?? 'SIGTERM', opts.kill);
  signalGroups(initial, 'SIGCONT', opts.kill);
  let live = await waitEmpty(pgid, t0 + Math.max(0, opts.graceMs), pollMs, procRoot);
  if (live.length === 0) {
    return { termSent, killSent: false, survivors: [], initial, durationMs: performance.now() - t0 };
  }
  const tk = performance.now();
  let killSent = false;
  const confirmDeadline = tk + (opts.confirmMs ?? 2000);
  // Re-list and re-signal until empty: a member may fork between our listing and the signal.
  while (live.length > 0) {
    killSent = signalGroups(live, 'SIGKILL', opts.kill) || killSent;
    live = await waitEmpty(pgid, Math.min(confirmDeadline, performance.now() + 100), pollMs, procRoot);
    if (performance.now() >= confirmDeadline) break;
  }
  const end = performance.now();
  return { termSent, killSent, survivors: live, initial, durationMs: end - t0, killPhaseMs: end - tk };
}

/** Options of {@link liveWorkers}. */
export interface LiveWorkersOptions {
  /** Regexes tested against each member's cmdline; a match marks a known idle helper. */
  ignorePatterns: RegExp[];
  /** Pids that never count (besides the leader, which is always excluded). */
  excludePids?: number[];
  procRoot?: string;
}

/** Live members other than the leader, split into workers and ignored helpers. */
export interface LiveWorkers {
  /** Non-zombie members that do not match an ignore pattern: real work still running. */
  live: GroupMember[];
  /** Non-zombie members whose cmdline matched an ignore pattern. */
  ignored: GroupMember[];
}

/**
 * Splits the non-zombie members of the group other than the leader (pid = pgid) into live
 * workers and ignored helpers, for the post-result grace decision.
 */
export function liveWorkers(pgid: number, opts: LiveWorkersOptions): LiveWorkers {
  const exclude = new Set(opts.excludePids ?? []);
  exclude.add(pgid);
  const live: GroupMember[] = [];
  const ignored: GroupMember[] = [];
  for (const m of liveMembers(pgid, opts.procRoot)) {
    if (exclude.has(m.pid)) continue;
    const hit = opts.ignorePatterns.some((re) => {
      // A /g or /y regex keeps lastIndex between calls; reset it so test() is pure.
      re.lastIndex = 0;
      return re.test(m.cmdline);
    });
    (hit ? ignored : live).push(m);
  }
  return { live, ignored };
}

/** A round's agent group as the ledger recorded it at spawn (`rounds.agent_pgid`, `agent_starttime_ticks`). */
export interface RecordedGroup {
  /** Process group (and session) id: the agent leader's pid. */
  pgid: number;
  /** The leader's start time, field 22 of /proc/PID/stat, clock ticks after boot. */
  starttimeTicks: number;
}

/** Options of {@link endOrphanGroup}. */
export interface EndOrphanGroupOptions {
  /** Sends a signal (`process.kill`, passed in by the process's entry point). */
  kill: KillGroupOptions['kill'];
  procRoot?: string;
  /** Between SIGTERM and SIGKILL, ms. */
  graceMs: number;
}

/** What {@link endOrphanGroup} found and did. */
export interface OrphanGroupResult {
  /** Live processes were proven to be the recorded round's (see {@link endOrphanGroup}). */
  found: boolean;
  /** SIGTERM reached at least one member. */
  signalled: boolean;
  /** Members outlived `graceMs` and got SIGKILL. */
  killSent: boolean;
  /** Live members when the kill began; [] when not found. */
  members: GroupMember[];
  /** Non-zombie members still present at the end (uninterruptible sleep); [] when not found. */
  remaining: GroupMember[];
}

/**
 * Whether live processes are still the recorded round's. The leader alive (not a zombie) with
 * the recorded start time proves it; a leader with another start time is a recycled pid, and
 * the kernel never hands out a pid that is still a group or session id, so nothing of the old
 * round can be left then. With the leader gone, a live member of the group or session whose
 * start time is not before the leader's proves it: only the round's processes (or their later
 * children) can hold that id.
 */
function provenOrphan(group: RecordedGroup, procRoot: string): boolean {
  const leader = statOrUndefined(group.pgid, procRoot);
  if (leader && leader.starttimeTicks !== group.starttimeTicks) return false;
  if (leader && leader.state !== 'Z' && leader.state !== 'X') return true;
  return liveMembers(group.pgid, procRoot).some(
    (m) => (m.pgrp === group.pgid || m.session === group.pgid) && m.starttimeTicks >= group.starttimeTicks,
  );
}

/**
 * Ends the process group of a round whose serve died without ending it (SIGKILL, OOM kill),
 * for the next serve to call before it starts a round: proves the group is still that round's
 * (see {@link provenOrphan}: same leader start time, or a member started no earlier than the
 * leader), then ends it as {@link killGroup} ends a round — SIGTERM to every group of the
 * round (setsid'd tool commands included), `graceMs`, SIGKILL to what is left. Nothing is
 * signalled when the proof fails.
 *
 * @throws AgentRunnerError ERR_AR_INTERNAL for pgid <= 1 (would signal everything);
 *   ERR_AR_IO when `procRoot` cannot be listed (unproven: nothing is signalled).
 */
export async function endOrphanGroup(group: RecordedGroup, opts: EndOrphanGroupOptions): Promise<OrphanGroupResult> {
  if (!Number.isInteger(group.pgid) || group.pgid <= 1) {
    throw new AgentRunnerError('ERR_AR_INTERNAL', `refusing to signal process group ${group.pgid}`);
  }
  const procRoot = opts.procRoot ?? '/proc';
  if (!provenOrphan(group, procRoot)) return { found: false, signalled: false, killSent: false, members: [], remaining: [] };
  const r = await killGroup(group.pgid, { graceMs: opts.graceMs, procRoot, kill: opts.kill });
  return { found: true, signalled: r.termSent, killSent: r.killSent, members: r.initial, remaining: r.survivors };
}
