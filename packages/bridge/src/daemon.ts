import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { isNoSpace } from '@agent-runner/core/disk';
import { EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { EventWriter, type EventKind, type EventPayload } from '@agent-runner/core/events';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import { enrolUnit, type ExitReason, type LogPriority, type SdNotify, type Unit } from '@agent-runner/core/unit';
import { VERSION } from '@agent-runner/core/version';
import { consumeCommands } from './consume.js';
import { buildDigest } from './digest.js';
import { Dispatcher } from './dispatcher.js';
import { HttpClient } from './http.js';
import { runInbound } from './inbound.js';
import { NoSpaceGuard } from './no-space.js';
import { localDate, localOffset, nextDigestAt, type OffsetFn } from './schedule.js';
import { allowedUserIds, type Transport } from './transport.js';
import { createTransport } from './transports/index.js';
import { Waker } from './waker.js';

/** What the bridge needs from its process; the CLI verb builds it. */
export interface BridgeDeps {
  pid: number;
  /** A full garbage collection (`gc()` under `--expose-gc`), run by the lifecycle when idle. */
  collectGarbage?: () => void;
  /** Environment: `*_env` secrets and `CREDENTIALS_DIRECTORY` are read from it at send time. */
  env: Record<string, string | undefined>;
  /** Aborted on SIGTERM/SIGINT: finish the sends in progress, release the rest, exit 0. */
  stop: AbortSignal;
  /** One line for the journal / terminal (never holds a secret). */
  log: (priority: LogPriority, line: string) => void;
  /** Wall clock, ms since epoch (default Date.now). */
  now?: () => number;
  random?: () => number;
  /** Local time zone offset for quiet hours and the digest (default: the process's). */
  offsetMin?: OffsetFn;
  procRoot?: string;
  /** Between heartbeats, ms (default 5000). */
  heartbeatIntervalMs?: number;
  /** This process's whole command line and working directory (enrollment; the watchdog respawns with them). */
  argv?: string[];
  cwd?: string;
  /** sd_notify sender (default: `systemd-notify` when `$NOTIFY_SOCKET` is set); tests record. */
  notify?: SdNotify;
  /** Opens the ledger (default core's `openLedger`); tests wrap it to inject write failures. */
  openLedger?: (path: string, opts: { now: () => number }) => Ledger;
  /** Told about the transports built (tests, benchmarks). */
  onReady?: (info: { transports: string[]; dispatcher: Dispatcher }) => void;
}

/**
 * `agent-runner bridge`: the only process that talks to chat, webhook and email platforms.
 *
 * - Outbox: wakes on every ledger commit (inotify on the ledger's directory, filtered to the
 *   `-wal` file) and in any case every `bridge.poll_interval_s`, so a notification enqueued
 *   while idle leaves within milliseconds; never gated on file mtimes (the watch is only a
 *   hint, the poll is the guarantee). Delivery: see {@link Dispatcher}.
 * - Commands: one long-poll loop per transport that supports it (Telegram `getUpdates`, Matrix
 *   `/sync`) and has `allowed_user_ids`; allowed commands become inbox rows with the cursor in
 *   the same transaction, then run here through markers and are acknowledged in the chat.
 * - Lifecycle (`@agent-runner/core/unit`): refuses to start next to a live bridge of the same
 *   project (exit 75), enrols as unit `bridge`, writes its first heartbeat and then tells
 *   systemd `READY=1`, consumes its restart marker between loop turns (exit 75), and on
 *   SIGTERM exits 75 when the watchdog's restart of this incarnation is pending, else 0;
 *   leaves a clean-exit record.
 * - A full disk never stops it: ledger writes that fail for lack of space are logged once and
 *   retried on later turns; it resumes by itself once space is free.
 *
 * @returns the exit code: 0 stopped by signal, 75 restart requested / ledger unavailable /
 *   another bridge running / no space to enrol.
 */
export async function start(cfg: AgentRunnerConfig, deps: BridgeDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const paths = configPaths(cfg);
  const log = deps.log;
  const opened = openAndEnrol(cfg, deps, paths, now);
  if (typeof opened === 'number') return opened;
  const { ledger, unit } = opened;
  const startedAtMs = unit.startedAtMs;
  const events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'bridge', now });
  const emit = <K extends EventKind>(kind: K, p: EventPayload<K>): void => {
    try {
      events.emit(kind, p);
    } catch (e) {
      log('warning', `event not written: ${(e as Error).message}`);
    }
  };
  const guard = new NoSpaceGuard(log);

  const http = new HttpClient({ now });
  const tctx = { http, env: deps.env, now };
  const transports = new Map<string, Transport>();
  for (const n of cfg.notify) if (n.enabled) transports.set(n.name, createTransport(n, tctx));
  const waker = new Waker();
  const wake = (): void => waker.wake();
  const dispatcher = new Dispatcher({
    ledger,
    transports,
    config: cfg.bridge,
    claimant: `bridge:${deps.pid}:${unit.record.nonce.slice(0, 8)}`,
    now,
    startedAtMs,
    guard,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.offsetMin ? { offsetMin: deps.offsetMin } : {}),
    log,
    wake,
    onDeadLetter: (row, error) =>
      emit('notification_dead_lettered', {
        notification_id: row.id,
        transport: row.transport ?? '',
        attempts: row.attempts,
        last_error: error.slice(0, 500),
        idempotency_key: row.idempotencyKey,
      }),
  });
  const watcher = watchLedger(paths.ledgerPath, wake, log, cfg.bridge.poll_interval_s);

  const inner = new AbortController();
  const onStop = (): void => inner.abort();
  deps.stop.addEventListener('abort', onStop, { once: true });
  if (deps.stop.aborted) inner.abort();
  // Commands: one long-poll loop per transport that can take them and allows someone to.
  const pollers = [...transports.values()]
    .filter((t) => t.poll && allowedUserIds(t.config).length > 0)
    .map((t) => runInbound({ ledger, transport: t, now, log, signal: inner.signal, wake, emit: (p) => emit('command_received', p) }));

  const names = [...transports.keys()];
  unit.start({
    heartbeatMs: deps.heartbeatIntervalMs ?? 5000,
    state: 'starting',
    detail: () => ({ ...dispatcher.stats, in_flight: dispatcher.pending, ...(guard.full ? { ledger_full: true } : {}) }),
    status: `delivering to ${names.join(', ') || '(no transport)'}`,
    ...(deps.collectGarbage ? { collectGarbage: deps.collectGarbage } : {}),
  });
  log(
    'notice',
    `bridge for ${cfg.project} started: transports ${names.join(', ') || '(none)'}; commands via ${pollers.length} transport(s)`,
  );
  deps.onReady?.({ transports: names, dispatcher });

  let end: Ending;
  try {
    end = await deliveryLoop({
      cfg,
      ledger,
      unit,
      dispatcher,
      guard,
      waker,
      paths,
      now,
      log,
      offset: deps.offsetMin ?? localOffset,
      replyTargets: new Set(names),
      signal: inner.signal,
    });
  } catch (e) {
    log('err', `bridge loop failed: ${redactText((e as Error).message)}`);
    end = { code: isAgentRunnerError(e) ? e.exitCode : EXIT.SOFTWARE, reason: 'error', detail: redactText((e as Error).message) };
  } finally {
    inner.abort();
    deps.stop.removeEventListener('abort', onStop);
    watcher?.close();
    // Releasing the claimed rows writes the ledger: a full disk fails it, and the leases expire by themselves.
    await dispatcher
      .stop()
      .catch((e: unknown) => log('warning', `claimed notifications not released: ${redactText((e as Error).message)}`));
    await Promise.allSettled(pollers);
    await Promise.allSettled([...transports.values()].map((t) => t.close?.()));
    await http.close();
  }
  unit.close(end.code, end.reason, end.detail);
  ledger.close();
  events.close();
  log(
    'notice',
    `bridge stopped (exit ${end.code}): ${dispatcher.stats.sent} sent, ${dispatcher.stats.failed} failed attempts, ${dispatcher.stats.dead} dead-lettered`,
  );
  return end.code;
}

/** How the bridge ends. */
interface Ending {
  code: number;
  reason: ExitReason;
  detail?: string;
}

/**
 * Opens the ledger and enrols the unit; an exit code (75) when either cannot be done now: the
 * ledger unavailable, the state file system full, another bridge of the project running.
 * @throws what enrolment throws for anything but a full disk.
 */
function openAndEnrol(
  cfg: AgentRunnerConfig,
  deps: BridgeDeps,
  paths: ProjectPaths,
  now: () => number,
): { ledger: Ledger; unit: Unit } | number {
  const log = deps.log;
  let ledger: Ledger;
  try {
    ledger = (deps.openLedger ?? openLedger)(paths.ledgerPath, { now });
  } catch (e) {
    if (!isAgentRunnerError(e)) throw e;
    log('err', `cannot open the ledger ${paths.ledgerPath}: ${e.message}`);
    return EXIT.TEMPFAIL;
  }
  let enrolled: ReturnType<typeof enrolUnit>;
  try {
    enrolled = enrolUnit({
      paths,
      unit: 'bridge',
      project: cfg.project,
      version: VERSION,
      pid: deps.pid,
      now,
      env: deps.env,
      log,
      ...(deps.argv ? { argv: deps.argv } : {}),
      ...(deps.cwd ? { cwd: deps.cwd } : {}),
      ...(deps.procRoot ? { procRoot: deps.procRoot } : {}),
      ...(deps.notify ? { notify: deps.notify } : {}),
    });
  } catch (e) {
    ledger.close();
    if (!isNoSpace(e)) throw e;
    log('err', `cannot enrol the bridge: the state file system is full (${(e as Error).message})`);
    return EXIT.TEMPFAIL;
  }
  if (enrolled.other) {
    log('err', `another bridge of project ${cfg.project} is running (pid ${enrolled.other.pid}); not starting a second one`);
    ledger.close();
    return EXIT.TEMPFAIL;
  }
  return { ledger, unit: enrolled.unit };
}

/**
 * Every commit of any process appends to the ledger's -wal file: a cheap "something changed"
 * hint that wakes the loop. Undefined when the directory cannot be watched (the poll remains).
 */
function watchLedger(ledgerPath: string, wake: () => void, log: BridgeDeps['log'], pollS: number): FSWatcher | undefined {
  const walName = `${basename(ledgerPath)}-wal`;
  try {
    const watcher = watch(dirname(ledgerPath), { persistent: false }, (_type, file) => {
      if (file === null || file === walName) wake();
    });
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch (e) {
    log('info', `no file watch on the ledger (${(e as Error).message}); polling every ${pollS} s`);
    return undefined;
  }
}

/**
 * The loop: the restart marker (checked at most every 500 ms), the daily digest, operator
 * commands, one dispatch pump; then sleep until woken, the poll interval or the digest.
 * @returns how it ended: the restart marker (75), or the stop signal (0, or 75 when the
 * watchdog's restart of this incarnation is pending).
 */
async function deliveryLoop(s: {
  cfg: AgentRunnerConfig;
  ledger: Ledger;
  unit: Unit;
  dispatcher: Dispatcher;
  guard: NoSpaceGuard;
  waker: Waker;
  paths: ProjectPaths;
  now: () => number;
  log: BridgeDeps['log'];
  offset: OffsetFn;
  replyTargets: Set<string>;
  signal: AbortSignal;
}): Promise<Ending> {
  const { cfg, ledger, unit, dispatcher, guard, now, log, offset } = s;
  const digestTime = cfg.bridge.digest_time;
  let nextDigest = digestTime ? nextDigestAt(digestTime, unit.startedAtMs, offset) : Infinity;
  let restartCheckedAt = 0;
  const pollMs = cfg.bridge.poll_interval_s * 1000;
  while (!s.signal.aborted) {
    const t = now();
    if (t - restartCheckedAt >= 500) {
      restartCheckedAt = t;
      const req = unit.takeRestart((why, d) => log('info', `restart marker discarded (${why}): ${d}`));
      if (req) {
        log('notice', `restart requested by ${req.requested_by}: ${req.reason}`);
        return { code: EXIT.TEMPFAIL, reason: 'restart_marker', detail: `requested by ${req.requested_by}: ${req.reason}` };
      }
    }
    if (t >= nextDigest && digestTime) {
      const d = buildDigest(ledger, nextDigest - 86_400_000, t, cfg.project);
      const queued = guard.run('enqueue the digest', () =>
        ledger.outbox.enqueue({
          idempotencyKey: `digest:${localDate(nextDigest, offset)}`,
          kind: 'digest',
          severity: 'info',
          title: d.title,
          body: d.body,
          payload: d.payload,
        }),
      );
      if (queued) {
        guard.ok();
        nextDigest = nextDigestAt(digestTime, t, offset);
      }
    }
    if ((guard.run('handle commands', () => consumeCommands({ ledger, paths: s.paths, now, transports: s.replyTargets, log })) ?? 0) > 0)
      guard.ok();
    const claimed = dispatcher.pump();
    unit.setState(dispatcher.pending > 0 ? 'sending' : 'idle');
    if (claimed === 0) await s.waker.wait(Math.min(pollMs, Math.max(1, nextDigest - now())), s.signal);
  }
  const code = unit.signalExitCode();
  return code === EXIT.OK ? { code, reason: 'signal' } : { code, reason: 'restart_marker', detail: 'SIGTERM after a restart request' };
}
