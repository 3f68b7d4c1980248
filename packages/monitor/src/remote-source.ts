import { AgentRunnerError, EXIT } from '@agent-runner/core/errors';
import { parseEventLine, type EventRecord } from '@agent-runner/core/events';
import { redactText } from '@agent-runner/core/redact';
import { BOOTSTRAP_EVENTS, type HostSource, type PollResult, type StopResult } from './source.js';
import { snapshotProblem, type HostSnapshot } from './snapshot.js';
import { SshConnection, type SshOptions } from './ssh.js';

/** Options of {@link RemoteSource}. */
export interface RemoteSourceOptions {
  /** The host's name in alerts and status lines (default: `alias`). */
  name?: string;
  /** SSH alias or host name (resolved through ~/.ssh/config). */
  alias: string;
  ssh: SshOptions;
  /**
   * The agent-runner command on the host, as a shell prefix (`agent-runner`, or e.g.
   * `agent-runner --config /srv/p/agent-runner.toml`). Verbs are appended to it.
   */
  remoteCommand: string;
  /** Limit of one poll (connect + commands), ms; past it the session counts as hung. */
  timeoutMs: number;
  /** Events fetched per poll at most; the rest follow on the next polls. */
  maxEventsPerPoll?: number;
}

/** What POSIX shells exit with for a command they cannot find (sh(1) "Exit Status"). */
const EXIT_NOT_FOUND = 127;

/**
 * The words of a failed command's output: a `--json` failure (`{"ok":false,"error":{…}}`,
 * docs/errors.md) as `message (file:line)` and its hint, else its last three lines.
 */
function errorMessage(output: string): { text: string; hint?: string } {
  const lines = output.trim().split('\n').filter(Boolean);
  try {
    const e = (JSON.parse(lines.at(-1) ?? '') as { error?: { message?: unknown; file?: unknown; line?: unknown; hint?: unknown } }).error;
    if (typeof e?.message === 'string') {
      const at = typeof e.file === 'string' ? ` (${e.file}${typeof e.line === 'number' ? `:${e.line}` : ''})` : '';
      return { text: `${e.message}${at}`, hint: typeof e.hint === 'string' ? e.hint : undefined };
    }
  } catch {
    // not JSON: plain text, quoted as it is
  }
  return { text: lines.slice(-3).join(' | ') };
}

/** Separates `peek` output from `events` output in one remote command (ASCII record separator). */
const SEP = '\u001e';

/**
 * A remote host polled over one long-lived SSH connection (reconnected after any failure).
 * Each poll runs one command: `peek --json`, then `events --json --since <last ts seen>`
 * (existing verbs: the newest {@link BOOTSTRAP_EVENTS} on the first poll), so a cycle moves
 * the snapshot plus only the new events. Events stamped exactly at the cursor's time are
 * fetched again and dropped by content, so nothing at the boundary is lost or doubled.
 */
export class RemoteSource implements HostSource {
  readonly host: string;
  readonly origin: string;
  private conn: SshConnection | undefined;
  private lastTs: string | undefined;
  private boundary = new Set<string>();

  constructor(private readonly opts: RemoteSourceOptions) {
    this.host = opts.name ?? opts.alias;
    this.origin = this.host;
  }

  private async connection(): Promise<SshConnection> {
    if (this.conn && !this.conn.isClosed) return this.conn;
    this.conn = undefined;
    const opening = SshConnection.open(this.opts.alias, this.opts.ssh);
    const c = await withTimeout(
      opening,
      this.opts.timeoutMs,
      `ssh ${this.opts.alias}: connect gave no answer within ${Math.round(this.opts.timeoutMs / 1000)} s`,
      (late) => late.close(),
    );
    this.conn = c;
    return c;
  }

  private eventsCommand(): string {
    const limit = this.opts.maxEventsPerPoll ?? 2000;
    const cmd = this.opts.remoteCommand;
    return this.lastTs === undefined
      ? `${cmd} events --json --limit ${BOOTSTRAP_EVENTS}`
      : `${cmd} events --json --since ${this.lastTs} --limit ${limit}`;
  }

  async poll(): Promise<PollResult> {
    let conn: SshConnection;
    try {
      conn = await this.connection();
    } catch (e) {
      this.conn = undefined;
      throw e;
    }
    const before = conn.bytes();
    const cmd = `${this.opts.remoteCommand} peek --json && printf '\\n${SEP}\\n' && ${this.eventsCommand()}`;
    let r;
    try {
      r = await conn.exec(cmd, this.opts.timeoutMs);
    } catch (e) {
      this.drop();
      throw e;
    }
    const bytes = conn.bytes() - before;
    const cut = r.stdout.indexOf(`\n${SEP}\n`);
    if (r.code !== 0 || cut < 0) throw await this.remoteFailure(conn, r.code, r.stderr || r.stdout);
    let snapshot: unknown;
    try {
      snapshot = JSON.parse(r.stdout.slice(0, cut));
    } catch (e) {
      throw new AgentRunnerError('ERR_AR_REMOTE', `ssh ${this.host}: peek --json output is not JSON`, { cause: e });
    }
    const problem = snapshotProblem(snapshot);
    if (problem) throw new AgentRunnerError('ERR_AR_REMOTE', `ssh ${this.host}: unusable peek --json output: ${problem}`);
    const events = this.fresh(r.stdout.slice(cut + 3));
    return { snapshot: snapshot as HostSnapshot, events, bytes };
  }

  /**
   * What a failed remote command means, in the operator's terms: 127 is the shell not finding
   * the command (a non-interactive ssh shell does not read the login files that put
   * `~/.npm-global/bin` and the like on PATH: its PATH is asked and quoted), 78 the remote
   * project's config (missing or invalid: its own first line says which), anything else quoted.
   */
  private async remoteFailure(conn: SshConnection, code: number | null, output: string): Promise<AgentRunnerError> {
    const said = errorMessage(output);
    const text = redactText(said.text).slice(0, 400);
    const cmd = this.opts.remoteCommand;
    if (code === EXIT_NOT_FOUND) {
      const path = await conn.exec('printf %s "$PATH"', this.opts.timeoutMs).then(
        (p) => p.stdout.trim(),
        () => '?',
      );
      return new AgentRunnerError(
        'ERR_AR_REMOTE',
        `ssh ${this.host}: \`${cmd.split(' ')[0]}\` not found on ${this.host} (PATH of a non-interactive shell: ${path}); set its full path as \`remote_command\` in [monitor.hosts.${this.host}] (or --remote-command)`,
        { found: String(code) },
      );
    }
    if (code === EXIT.CONFIG) {
      // The remote's own hint speaks to someone at its shell; without --config the fix is here.
      const hint = /--config/.test(cmd)
        ? said.hint
          ? `; ${redactText(said.hint)}`
          : ''
        : `; the remote command has no --config, so agent-runner looked from the ssh session's directory (the home directory): set \`config\` in [monitor.hosts.${this.host}] to the project's config path there (or --remote-command 'agent-runner --config PATH')`;
      return new AgentRunnerError('ERR_AR_REMOTE', `ssh ${this.host}: remote config broken: ${text}${hint}`, { found: String(code) });
    }
    return new AgentRunnerError('ERR_AR_REMOTE', `ssh ${this.host}: remote agent-runner exited ${code ?? 'by a signal'}: ${text}`, {
      found: String(code),
    });
  }

  /** Parses event lines and drops those already seen at the cursor's time stamp. */
  private fresh(text: string): EventRecord[] {
    const out: EventRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const e = parseEventLine(line);
      if (!e) continue;
      if (this.lastTs !== undefined) {
        if (e.ts < this.lastTs) continue;
        if (e.ts === this.lastTs && this.boundary.has(line)) continue;
      }
      if (e.ts !== this.lastTs) {
        this.lastTs = e.ts;
        this.boundary = new Set();
      }
      this.boundary.add(line);
      out.push(e);
    }
    return out;
  }

  /** Runs `agent-runner stop --timeout 60` on the host. */
  async stop(reason: string): Promise<StopResult> {
    try {
      const conn = await this.connection();
      const r = await conn.exec(`${this.opts.remoteCommand} stop --timeout 60`, 90_000);
      const text = redactText(`${r.stderr}${r.stdout}`.trim()).slice(-400);
      if (r.code !== 0) return { result: 'failed', detail: `exit ${r.code ?? 'signal'}: ${text}` };
      return { result: /not running/.test(text) ? 'not_running' : 'stopped', detail: `${reason}: ${text}` };
    } catch (e) {
      this.drop();
      return { result: 'failed', detail: (e as Error).message };
    }
  }

  private drop(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  close(): void {
    this.drop();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string, onLate: (v: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      reject(new AgentRunnerError('ERR_AR_REMOTE', message));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        if (timedOut) onLate(v);
        else resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
