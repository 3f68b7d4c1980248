/**
 * One SSH connection (ssh2) to a host resolved from `~/.ssh/config`, with the host key
 * checked against known_hosts before authentication, optional ProxyJump hops, and commands
 * run with a time limit (a hung session is closed, not waited on).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { appendKnownHost, checkHostKey, fingerprint, keyTypeOf, knownHostName } from './known-hosts.js';
import { parseJump, resolveSshHost, type SshConfigEnv, type SshHostConfig } from './ssh-config.js';

/** How to reach and trust a host. */
export interface SshOptions {
  /** Path of the ssh client config (default `~/.ssh/config`). */
  configFile: string;
  env: SshConfigEnv & { authSock?: string | undefined };
  /** Accept (and record in the first known_hosts file) the key of a host never seen before. */
  acceptNewHostKey: boolean;
  /** Handshake limit in ms (default: ConnectTimeout, else 15 000). */
  readyTimeoutMs?: number;
}

/** Output of one remote command. */
export interface ExecResult {
  /** Exit status; null when the command was killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

const DEFAULT_HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** Host key algorithms with those known_hosts has for the host first, as OpenSSH orders them. */
function hostKeyOrder(known: readonly string[]): string[] {
  const first = known
    .flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]))
    .filter((t) => DEFAULT_HOST_KEY_ALGOS.includes(t));
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGOS])];
}

function identityKeys(cfg: SshHostConfig, home: string): Buffer[] {
  const files = cfg.identityFiles.length ? cfg.identityFiles : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(home, '.ssh', f));
  const keys: Buffer[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    try {
      keys.push(readFileSync(f));
    } catch {
      // Unreadable key: the next one (or the agent) may do.
    }
  }
  return keys;
}

/** An open SSH session to one host (through its ProxyJump hops, if any). */
export class SshConnection {
  readonly target: SshHostConfig;
  private readonly clients: Client[] = [];
  private socket: Socket | undefined;
  private closed = false;

  private constructor(target: SshHostConfig) {
    this.target = target;
  }

  /**
   * Connects to `alias`.
   * @throws AgentRunnerError ERR_AR_SSH_HOST_KEY when the host key is changed, revoked, or
   * unknown without `acceptNewHostKey`; ERR_AR_REMOTE for refused connections, timeouts and
   * authentication failures.
   */
  static async open(alias: string, opts: SshOptions): Promise<SshConnection> {
    const target = resolveSshHost(alias, opts.configFile, opts.env);
    const conn = new SshConnection(target);
    try {
      let sock: Duplex | undefined;
      for (const hop of target.proxyJump) {
        const j = parseJump(hop);
        const base = resolveSshHost(j.host, opts.configFile, opts.env);
        const hopCfg: SshHostConfig = { ...base, proxyJump: [], user: j.user ?? base.user, port: j.port ?? base.port };
        const client = await conn.handshake(hopCfg, opts, sock);
        sock = await new Promise<ClientChannel>((resolve, reject) => {
          // The next hop is reached through a direct-tcpip channel of this one.
          const next = target.proxyJump[target.proxyJump.indexOf(hop) + 1];
          const dest = next ? parseJump(next) : undefined;
          const destCfg = dest ? resolveSshHost(dest.host, opts.configFile, opts.env) : target;
          client.forwardOut('127.0.0.1', 0, destCfg.hostName, dest?.port ?? destCfg.port, (err, ch) => (err ? reject(err) : resolve(ch)));
        });
      }
      await conn.handshake(target, opts, sock);
      return conn;
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  private handshake(cfg: SshHostConfig, opts: SshOptions, sock: Duplex | undefined): Promise<Client> {
    const where = `${cfg.user}@${knownHostName(cfg.hostName, cfg.port)}`;
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      this.clients.push(client);
      let refusal: AgentRunnerError | undefined;
      let settled = false;
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        client.end();
        if (refusal) return reject(refusal);
        if (e instanceof AgentRunnerError) return reject(e);
        reject(new AgentRunnerError('ERR_AR_REMOTE', `ssh ${cfg.alias} (${where}): ${e.message}`, { cause: e }));
      };
      const known = checkHostKey(cfg.knownHostsFiles, cfg.hostName, cfg.port, Buffer.alloc(0));
      const keys = identityKeys(cfg, opts.env.home);
      const auth = [
        ...keys.map((key) => ({ type: 'publickey' as const, username: cfg.user, key })),
        ...(opts.env.authSock ? [{ type: 'agent' as const, username: cfg.user, agent: opts.env.authSock }] : []),
      ];
      if (auth.length === 0) {
        return fail(
          new AgentRunnerError('ERR_AR_REMOTE', `ssh ${cfg.alias}: no identity file and no ssh-agent`, {
            hint: 'Set IdentityFile for the host in ~/.ssh/config, or start ssh-agent.',
          }),
        );
      }
      let tcp: Socket | undefined;
      if (!sock) {
        tcp = netConnect({ host: cfg.hostName, port: cfg.port });
        if (!this.socket) this.socket = tcp;
        tcp.on('error', (e) => fail(e));
      }
      client.on('ready', () => {
        if (settled) return;
        settled = true;
        client.on('close', () => (this.closed = true));
        resolve(client);
      });
      client.on('error', (e) => fail(e));
      client.on('close', () => fail(new Error('connection closed during the handshake')));
      client.connect({
        sock: (sock ?? tcp) as Duplex,
        username: cfg.user,
        authHandler: auth as unknown as ConnectConfig['authHandler'],
        readyTimeout: opts.readyTimeoutMs ?? (cfg.connectTimeoutS !== undefined ? cfg.connectTimeoutS * 1000 : 15_000),
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        // zlib: a poll is mostly JSON, which compresses ~5x (OpenSSH servers allow it by default).
        algorithms: { serverHostKey: hostKeyOrder(known.knownTypes) as never, compress: ['zlib@openssh.com', 'zlib', 'none'] as never },
        hostVerifier: (blob: Buffer): boolean => {
          const c = checkHostKey(cfg.knownHostsFiles, cfg.hostName, cfg.port, blob);
          if (c.verdict === 'match') return true;
          const fp = `${keyTypeOf(blob)} ${fingerprint(blob)}`;
          if (c.verdict === 'unknown' && opts.acceptNewHostKey) {
            appendKnownHost(cfg.knownHostsFiles[0] as string, cfg.hostName, cfg.port, blob);
            return true;
          }
          refusal =
            c.verdict === 'mismatch'
              ? new AgentRunnerError(
                  'ERR_AR_SSH_HOST_KEY',
                  `REMOTE HOST KEY CHANGED for ${cfg.alias} (${knownHostName(cfg.hostName, cfg.port)}): it presented ${fp}, which does not match ${c.where}; refusing to connect`,
                  { found: fp },
                )
              : c.verdict === 'revoked'
                ? new AgentRunnerError(
                    'ERR_AR_SSH_HOST_KEY',
                    `host key of ${cfg.alias} is revoked (${c.where}): ${fp}; refusing to connect`,
                    { found: fp },
                  )
                : new AgentRunnerError(
                    'ERR_AR_SSH_HOST_KEY',
                    `host ${cfg.alias} (${knownHostName(cfg.hostName, cfg.port)}) is not in known_hosts (${cfg.knownHostsFiles.join(', ')}); it presented ${fp}; refusing to connect`,
                    {
                      found: fp,
                      hint: 'Check the fingerprint out of band, then connect once with `ssh HOST`, or pass --accept-new-host-key.',
                    },
                  );
          return false;
        },
      });
    });
  }

  /**
   * Runs `command` on the host (through the user's shell there).
   * @param timeoutMs after this the whole connection is closed (a hung session) and the call rejects.
   * @throws AgentRunnerError ERR_AR_REMOTE on timeout or a closed connection.
   */
  exec(command: string, timeoutMs: number): Promise<ExecResult> {
    const client = this.clients[this.clients.length - 1];
    if (!client || this.closed) return Promise.reject(new AgentRunnerError('ERR_AR_REMOTE', `ssh ${this.target.alias}: not connected`));
    return new Promise<ExecResult>((resolve, reject) => {
      let out = '';
      let err = '';
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        client.removeListener('close', onClose);
        this.close();
        reject(
          new AgentRunnerError(
            'ERR_AR_REMOTE',
            `ssh ${this.target.alias}: \`${command.slice(0, 80)}\` gave no answer within ${Math.round(timeoutMs / 1000)} s (hung session); connection closed`,
          ),
        );
      }, timeoutMs);
      const onClose = (): void => finish(new Error('connection closed'));
      const finish = (e: Error | undefined, r?: ExecResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        client.removeListener('close', onClose);
        if (e)
          reject(
            e instanceof AgentRunnerError
              ? e
              : new AgentRunnerError('ERR_AR_REMOTE', `ssh ${this.target.alias}: ${e.message}`, { cause: e }),
          );
        else resolve(r as ExecResult);
      };
      client.once('close', onClose);
      client.exec(command, (e, stream) => {
        if (e) return finish(e);
        stream.setEncoding('utf8');
        stream.stderr.setEncoding('utf8');
        stream.on('data', (d: string) => (out += d));
        stream.stderr.on('data', (d: string) => (err += d));
        stream.on('close', (code: number | null) =>
          finish(undefined, { code: typeof code === 'number' ? code : null, stdout: out, stderr: err }),
        );
      });
    });
  }

  /** Bytes on the wire so far (read + written on the first TCP connection). */
  bytes(): number {
    return (this.socket?.bytesRead ?? 0) + (this.socket?.bytesWritten ?? 0);
  }

  /** True once closed (by {@link close}, a timeout, or the peer). */
  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.reverse()) {
      try {
        c.end();
      } catch {
        // Already gone.
      }
    }
    this.socket?.destroy();
  }
}
