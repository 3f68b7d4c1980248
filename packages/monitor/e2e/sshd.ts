/**
 * A real OpenSSH server (Debian `openssh-server`, /usr/sbin/sshd) on 127.0.0.1 and a high
 * port, with its own config, host key and authorized key, plus the client side the monitor
 * reads: `~/.ssh/config` (alias `testhost`), a private key and a known_hosts written here.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '@agent-runner/testkit/loopback';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** A running test sshd and the client files that reach it. */
export interface TestSshd {
  dir: string;
  port: number;
  /** HOME for the monitor process (holds .ssh/config). */
  home: string;
  sshConfig: string;
  knownHosts: string;
  /** The host key blob the server presents (base64, as in known_hosts). */
  hostKeyB64: string;
  start(): Promise<void>;
  /** Kills the listener and every session process it forked (the host "dies"). */
  stop(): void;
  /** Writes known_hosts with the real key (default) or another. */
  trust(keyB64?: string): void;
  /** A fresh key (base64 blob) that is not the server's. */
  otherKey(): string;
  cleanup(): void;
}

function keygen(path: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').split(' ')[1] as string;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e), ...childrenOf(Number(e)));
    } catch {
      // gone
    }
  }
  return out;
}

/** Sets up (not yet started) an sshd for `alias` `testhost`. */
export async function testSshd(): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'ar-sshd-'));
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const port = await freePort();
  const hostKeyB64 = keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'client_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')));
  writeFileSync(
    join(dir, 'sshd_config'),
    `Port ${port}
ListenAddress 127.0.0.1
HostKey ${join(dir, 'host_ed25519')}
PidFile ${join(dir, 'sshd.pid')}
AuthorizedKeysFile ${join(dir, 'authorized_keys')}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel ERROR
`,
  );
  const knownHosts = join(dir, 'known_hosts');
  const sshConfig = join(home, '.ssh', 'config');
  writeFileSync(
    sshConfig,
    `Host testhost
  HostName 127.0.0.1
  Port ${port}
  User ${userInfo().username}
  IdentityFile ${join(dir, 'client_ed25519')}
  UserKnownHostsFile ${knownHosts}
  StrictHostKeyChecking yes
`,
  );
  let child: ChildProcess | undefined;
  const api: TestSshd = {
    dir,
    port,
    home,
    sshConfig,
    knownHosts,
    hostKeyB64,
    async start() {
      if (child && child.exitCode === null) return;
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
      const end = Date.now() + 10_000;
      for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
          const s = createServer();
          s.once('error', () => resolve(true)); // in use: sshd listens
          s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
        });
        if (ok) return;
        if (child.exitCode !== null || Date.now() > end) throw new Error(`sshd did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop() {
      if (!child?.pid) return;
      for (const pid of childrenOf(child.pid).reverse()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      child.kill('SIGKILL');
      child = undefined;
    },
    trust(keyB64 = hostKeyB64) {
      writeFileSync(knownHosts, `[127.0.0.1]:${port} ssh-ed25519 ${keyB64}\n`);
    },
    otherKey() {
      const p = join(dir, `other_${Date.now()}`);
      return keygen(p);
    },
    cleanup() {
      api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return api;
}
