import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Ledger, InboxRecord } from '@agent-runner/core/ledger';
import { readHeartbeat, readStopRequest, requestRestart, requestStop, assertUnitName } from '@agent-runner/core/markers';
import { isErrno } from '@agent-runner/core/errors';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { redactText } from '@agent-runner/core/redact';
import { renderTranscript } from '@agent-runner/core/transcript';
import { clearPause, readPause, requestHealReset, requestPause } from '@agent-runner/core/requests';

/** Commands the bridge accepts, with their help lines. */
export const COMMANDS: Record<string, string> = {
  status: '/status — runner state, last round, pause/stop requests, outbox',
  pause: '/pause [duration] — no new round until /resume or the duration (30m, 2h, 1d) ends',
  resume: '/resume — end a pause',
  stop: '/stop — stop the runner after the current round',
  restart: '/restart — restart the runner (after the current round)',
  tail: '/tail [n] — last n lines of the current round log (default 20, max 100)',
  heal: '/heal reset <unit> — reset the watchdog circuit breaker of runner, bridge or monitor',
  help: '/help — this list',
};

/** A chat text parsed as a command. */
export interface ParsedCommand {
  command: string;
  args: string[];
  /** The bot a `/name@BotName` command is addressed to, as typed; absent for a bare `/name`. */
  addressee?: string;
}

/**
 * Parses `/name arg...` (Telegram's `/name@BotName` form too: the addressee is kept, see
 * {@link addressedToUs}). Any `/word` parses, known or not, so unknown commands from allowed
 * senders get a help reply.
 * @returns undefined when the text is not a command.
 */
export function parseCommand(text: string): ParsedCommand | undefined {
  const m = /^\/([A-Za-z][A-Za-z0-9_]{0,31})(?:@([A-Za-z0-9_]+))?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return undefined;
  return {
    command: (m[1] as string).toLowerCase(),
    args: (m[3] ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 8)
      .map((a) => a.slice(0, 64)),
    ...(m[2] !== undefined ? { addressee: m[2] } : {}),
  };
}

/**
 * Whether a parsed command is for this bot: a bare `/name` is (a private chat, or a group
 * where it is the only bot), `/name@BotName` only when BotName is our own username, compared
 * case-insensitively as Telegram does. In a group several bots see every command, so
 * `/pause@otherbot` from an allowed user is the other bot's and must not pause us. When our
 * username is not known (`ownName` undefined: a transport without bot usernames, or Telegram
 * `getMe` gave none), no addressed command is ours: it is ignored rather than run.
 */
export function addressedToUs(parsed: ParsedCommand, ownName: string | undefined): boolean {
  if (parsed.addressee === undefined) return true;
  return ownName !== undefined && ownName !== '' && parsed.addressee.toLowerCase() === ownName.toLowerCase();
}

/**
 * Parses `90s`, `30m`, `2h`, `1d`, or bare minutes (`45`).
 * @returns ms, or undefined when malformed or longer than 30 days.
 */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/i.exec(s.trim());
  if (!m) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, '': 60_000 }[(m[2] ?? '').toLowerCase() as 's' | 'm' | 'h' | 'd' | ''];
  const ms = Number(m[1]) * unit;
  return ms > 0 && ms <= 30 * 86_400_000 ? Math.round(ms) : undefined;
}

/** What the consumer needs to act on a command. */
export interface CommandContext {
  ledger: Ledger;
  paths: ProjectPaths;
  now: () => number;
}

/** The outcome of one command: the inbox status and the reply for the chat. */
export interface CommandOutcome {
  status: 'done' | 'rejected';
  reply: string;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Executes an inbox command through markers and the ledger (never by signalling anything):
 * pause/resume via the pause marker, stop via the stop request, restart via the runner's
 * restart marker, heal reset via the watchdog's reset marker; status and tail read the
 * ledger, markers and round log. Every action is idempotent, so re-running a command whose
 * `markHandled` was lost in a crash does no harm.
 */
export function executeCommand(ctx: CommandContext, cmd: InboxRecord): CommandOutcome {
  const args = Array.isArray(cmd.args) ? (cmd.args as unknown[]).map(String) : [];
  const by = `${cmd.transport}:${cmd.sender}`;
  const nowMs = ctx.now();
  const reason = `/${cmd.command} from ${by}`;
  switch (cmd.command) {
    case 'help':
    case 'start':
      return { status: 'done', reply: Object.values(COMMANDS).join('\n') };
    case 'status':
      return { status: 'done', reply: statusText(ctx, nowMs) };
    case 'pause': {
      let durationMs: number | undefined;
      if (args[0] !== undefined) {
        durationMs = parseDuration(args[0]);
        if (durationMs === undefined) return { status: 'rejected', reply: `Cannot read the duration "${args[0]}": use e.g. 30m, 2h, 1d.` };
      }
      const p = requestPause(ctx.paths, { by, reason, nowMs, ...(durationMs !== undefined ? { durationMs } : {}) });
      return {
        status: 'done',
        reply: `Paused${p.until_ms ? ` until ${iso(p.until_ms)}` : ' until /resume'}. A round in progress finishes first.`,
      };
    }
    case 'resume':
      return { status: 'done', reply: clearPause(ctx.paths) ? 'Resumed: the runner starts rounds again.' : 'Not paused.' };
    case 'stop':
      requestStop(ctx.paths, { by, reason, nowMs });
      return { status: 'done', reply: 'Stop requested: the runner stops after the current round.' };
    case 'restart': {
      const r = requestRestart(ctx.paths, 'runner', { by, reason, nowMs });
      return { status: 'done', reply: `Restart requested (nonce ${r.nonce.slice(0, 8)}): the runner restarts at its next safe point.` };
    }
    case 'tail': {
      const n = args[0] === undefined ? 20 : Number(args[0]);
      if (!Number.isInteger(n) || n < 1)
        return { status: 'rejected', reply: `"/tail ${args[0] ?? ''}": give a line count, e.g. /tail 40.` };
      return { status: 'done', reply: tailText(ctx, Math.min(n, 100)) };
    }
    case 'heal': {
      const unit = args[1];
      if (args[0] !== 'reset' || unit === undefined)
        return { status: 'rejected', reply: 'Usage: /heal reset <unit> (runner, bridge or monitor).' };
      try {
        assertUnitName(unit);
      } catch {
        // ERR_AR_USAGE: chat input, answered rather than thrown.
        return { status: 'rejected', reply: `"${unit}" is not a unit name.` };
      }
      requestHealReset(ctx.paths, unit, { by, reason, nowMs });
      return { status: 'done', reply: `Heal reset of ${unit} requested: the watchdog closes its circuit breaker on its next probe.` };
    }
    default:
      return { status: 'rejected', reply: `Unknown command /${cmd.command}.\n${Object.values(COMMANDS).join('\n')}` };
  }
}

function statusText(ctx: CommandContext, nowMs: number): string {
  const { ledger, paths } = ctx;
  const lines: string[] = [`Project ${paths.project} at ${iso(nowMs)}`];
  const hb = readHeartbeat(paths, 'runner', { nowMs });
  lines.push(
    hb
      ? `Runner: ${hb.state ?? 'alive'} (pid ${hb.pid}, heartbeat ${Math.round(hb.age_ms / 1000)} s ago)`
      : 'Runner: no heartbeat (not running?)',
  );
  const running = ledger.runner.runningRounds()[0];
  if (running) lines.push(`Round ${running.round} running since ${iso(running.startedAtMs)}`);
  const last = ledger.runner.lastRounds(3).find((r) => r.status !== 'running');
  if (last) {
    const cost = last.costUsd !== null ? `, $${last.costUsd.toFixed(2)}` : '';
    lines.push(
      `Last round ${last.round}: ${last.classification ?? last.status}, ${Math.round((last.durationMs ?? 0) / 1000)} s${cost}, ended ${iso(last.endedAtMs ?? last.startedAtMs)}`,
    );
  }
  const dayTotals = ledger.runner.totalsSince(nowMs - 86_400_000);
  lines.push(`Last 24 h: ${dayTotals.rounds} round(s), $${dayTotals.costUsd.toFixed(2)}`);
  const pause = readPause(paths, nowMs);
  if (pause) lines.push(`Paused${pause.until_ms ? ` until ${iso(pause.until_ms)}` : ''} by ${pause.requested_by}`);
  const stop = readStopRequest(paths);
  if (stop) lines.push(`Stop requested at ${stop.requested_at} by ${stop.requested_by}`);
  const ob = ledger.outbox.countByStatus();
  lines.push(`Outbox: ${ob.pending} pending, ${ob.sending} sending, ${ob.dead} dead`);
  return lines.join('\n');
}

function tailText(ctx: CommandContext, n: number): string {
  const latest = ctx.ledger.runner.lastRounds(1)[0];
  const file = latest?.logFile ?? ctx.paths.currentRoundLog;
  // Rendered from more raw lines than shown: some events (Claude's partial deltas) render to nothing.
  const raw = readLastLines(file, n * 4);
  if (raw === undefined) return `No round log yet (${file}).`;
  const lines = renderTranscript(raw, { redact: redactText, width: 300 }).slice(-n);
  return `Round ${latest?.round ?? '?'}, last ${lines.length} line(s):\n${lines.join('\n')}`;
}

/**
 * The last `n` lines of a file, reading at most 256 KiB from its end; undefined when it does not
 * exist. @throws NodeJS.ErrnoException for other errors (the command's reply quotes it).
 */
export function readLastLines(path: string, n: number): string[] | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (len < size) lines.shift();
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}
