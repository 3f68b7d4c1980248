import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { EventWriter } from '@agent-runner/core/events';
import { createEnrollment, readEnrollment, removeEnrollment, verifyIdentity, writeEnrollment } from '@agent-runner/core/identity';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import { removeHeartbeat, takeRestartRequest, writeHeartbeat } from '@agent-runner/core/markers';
import { redactText } from '@agent-runner/core/redact';
import { VERSION } from '@agent-runner/core/version';
import { consumeCommands } from './consume.js';
import { buildDigest } from './digest.js';
import { Dispatcher, type LogPriority } from './dispatcher.js';
import { HttpClient } from './http.js';
import { runInbound } from './inbound.js';
import { localDate, localOffset, nextDigestAt, type OffsetFn } from './schedule.js';
import type { Transport } from './transport.js';
import { createTransport } from './transports/index.js';
import { Waker } from './waker.js';

/** What the bridge needs from its process; the CLI verb builds it. */
export interface BridgeDeps {
  pid: number;
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
 * - Unit duties: refuses to start next to a live bridge of the same project (exit 75), enrolls
 *   as unit `bridge`, writes a heartbeat every 5 s, consumes its restart marker between loop
 *   turns (exit 75), removes enrollment and heartbeat on a clean exit.
 *
 * @returns the exit code: 0 stopped by signal, 75 restart requested / ledger unavailable /
 *   another bridge running.
 */
export async function start(cfg: AgentRunnerConfig, deps: BridgeDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const startedAtMs = now();
  const paths = configPaths(cfg);
  const events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'bridge', now });
  const log = deps.log;
  let ledger: Ledger;
  try {
    ledger = openLedger(paths.ledgerPath, { now });
  } catch (e) {
    if (!isAgentRunnerError(e)) throw e;
    log('err', `cannot open the ledger ${paths.ledgerPath}: ${e.message}`);
    return EXIT.TEMPFAIL;
  }
  const verify = deps.procRoot ? { procRoot: deps.procRoot } : {};
  const other = readEnrollment(paths, 'bridge');
  if (other && other.pid !== deps.pid && verifyIdentity(other, verify).verdict === 'same') {
    log('err', `another bridge of project ${cfg.project} is running (pid ${other.pid}); not starting a second one`);
    ledger.close();
    return EXIT.TEMPFAIL;
  }
  const enrollment = createEnrollment('bridge', deps.pid, { version: VERSION, project: cfg.project, nowMs: startedAtMs, ...verify });
  writeEnrollment(paths, enrollment);

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
    claimant: `bridge:${deps.pid}:${enrollment.nonce.slice(0, 8)}`,
    now,
    startedAtMs,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.offsetMin ? { offsetMin: deps.offsetMin } : {}),
    log,
    wake,
    onDeadLetter: (row, error) => {
      try {
        events.emit('notification_dead_lettered', { notification_id: row.id, transport: row.transport ?? '', attempts: row.attempts, last_error: error.slice(0, 500), idempotency_key: row.idempotencyKey });
      } catch (e) {
        log('warning', `event not written: ${(e as Error).message}`);
      }
    },
  });

  // Every commit of any process appends to the -wal file: a cheap "something changed" hint.
  let watcher: FSWatcher | undefined;
  const walName = `${basename(paths.ledgerPath)}-wal`;
  try {
    watcher = watch(dirname(paths.ledgerPath), { persistent: false }, (_type, file) => {
      if (file === null || file === walName) wake();
    });
    watcher.on('error', () => watcher?.close());
  } catch (e) {
    log('info', `no file watch on the ledger (${(e as Error).message}); polling every ${cfg.bridge.poll_interval_s} s`);
  }

  const inner = new AbortController();
  const onStop = (): void => inner.abort();
  deps.stop.addEventListener('abort', onStop, { once: true });
  if (deps.stop.aborted) inner.abort();
  const pollers: Array<Promise<void>> = [];
  for (const t of transports.values()) {
    const allowed = (t.config['allowed_user_ids'] as unknown[] | undefined) ?? [];
    if (!t.poll || allowed.length === 0) continue;
    pollers.push(
      runInbound({
        ledger,
        transport: t,
        now,
        log,
        signal: inner.signal,
        wake,
        emit: (p) => {
          try {
            events.emit('command_received', p);
          } catch (e) {
            log('warning', `event not written: ${(e as Error).message}`);
          }
        },
      }),
    );
  }

  let state = 'starting';
  const beat = (): void => {
    try {
      writeHeartbeat(paths, 'bridge', { nowMs: now(), pid: deps.pid, nonce: enrollment.nonce, state, detail: { ...dispatcher.stats, in_flight: dispatcher.pending } });
    } catch (e) {
      log('warning', `heartbeat not written: ${(e as Error).message}`);
    }
  };
  beat();
  const heartbeat = setInterval(beat, deps.heartbeatIntervalMs ?? 5000);
  log('notice', `bridge for ${cfg.project} started: transports ${[...transports.keys()].join(', ') || '(none)'}; commands via ${pollers.length} transport(s)`);
  deps.onReady?.({ transports: [...transports.keys()], dispatcher });

  const offset = deps.offsetMin ?? localOffset;
  const digestTime = cfg.bridge.digest_time;
  let nextDigest = digestTime ? nextDigestAt(digestTime, startedAtMs, offset) : Infinity;
  let restartCheckedAt = 0;
  let exit: number = EXIT.OK;
  const pollMs = cfg.bridge.poll_interval_s * 1000;
  const replyTargets = new Set(transports.keys());
  try {
    while (!inner.signal.aborted) {
      const t = now();
      if (t - restartCheckedAt >= 500) {
        restartCheckedAt = t;
        const req = takeRestartRequest(paths, 'bridge', { startedAtMs, onDiscard: (why, detail) => log('info', `restart marker discarded (${why}): ${detail}`) });
        if (req) {
          log('notice', `restart requested by ${req.requested_by}: ${req.reason}`);
          exit = EXIT.TEMPFAIL;
          break;
        }
      }
      if (t >= nextDigest && digestTime) {
        const d = buildDigest(ledger, nextDigest - 86_400_000, t, cfg.project);
        ledger.outbox.enqueue({ idempotencyKey: `digest:${localDate(nextDigest, offset)}`, kind: 'digest', severity: 'info', title: d.title, body: d.body, payload: d.payload });
        nextDigest = nextDigestAt(digestTime, t, offset);
      }
      consumeCommands({ ledger, paths, now, transports: replyTargets, log });
      const claimed = dispatcher.pump();
      state = dispatcher.pending > 0 ? 'sending' : 'idle';
      if (claimed === 0) await waker.wait(Math.min(pollMs, Math.max(1, nextDigest - now())), inner.signal);
    }
  } catch (e) {
    log('err', `bridge loop failed: ${redactText((e as Error).message)}`);
    exit = isAgentRunnerError(e) ? e.exitCode : EXIT.SOFTWARE;
  } finally {
    inner.abort();
    deps.stop.removeEventListener('abort', onStop);
    clearInterval(heartbeat);
    watcher?.close();
    await dispatcher.stop().catch(() => undefined);
    await Promise.allSettled(pollers);
    await Promise.allSettled([...transports.values()].map((t) => t.close?.()));
    await http.close();
    removeHeartbeat(paths, 'bridge', enrollment.nonce);
    removeEnrollment(paths, 'bridge', enrollment.nonce);
    ledger.close();
    events.close();
  }
  log('notice', `bridge stopped (exit ${exit}): ${dispatcher.stats.sent} sent, ${dispatcher.stats.failed} failed attempts, ${dispatcher.stats.dead} dead-lettered`);
  return exit;
}
