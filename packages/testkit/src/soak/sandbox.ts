/**
 * The real systemd of scripts/systemd-sandbox.sh (PID 1 of private PID + mount namespaces on an
 * overlay of /), driven without blocking the event loop: the soak's receivers and chat stub
 * live in the same process and must keep answering while commands run inside.
 *
 * Files inside are reached from the host through `/proc/<pid>/root` (the sandbox's root as its
 * PID 1 sees it; root only), so reading the event stream or flipping a control file costs no
 * process spawn.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of scripts/systemd-sandbox.sh in this checkout. */
export const SANDBOX_SCRIPT = fileURLToPath(new URL('../../../../scripts/systemd-sandbox.sh', import.meta.url));

/** PATH of a root login on Debian. */
const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What a command inside printed and how it ended. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` on the host (stdin closed), resolving when it exits (killed after `timeoutMs`). */
export function run(argv: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0] ?? 'false', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A booted sandbox. */
export class Sandbox {
  private constructor(readonly pid: number) {}

  /**
   * Boots systemd with `dirs` bind-mounted at the same paths inside.
   * @throws Error when it does not come up.
   */
  static async start(dirs: string[]): Promise<Sandbox> {
    const r = await run([SANDBOX_SCRIPT, 'start', ...dirs], 120_000);
    const pid = Number(r.stdout.trim());
    if (r.code !== 0 || !Number.isInteger(pid) || pid <= 1) throw new Error(`systemd sandbox did not start: ${r.stderr.trim()}`);
    return new Sandbox(pid);
  }

  /** The host path of `path` inside the sandbox. */
  path(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  /**
   * Runs a shell script inside as root, with the environment of a root login (not the
   * caller's: an npx PATH would put the repository's own agent CLIs first).
   */
  sh(script: string, timeoutMs?: number): Promise<Run> {
    return run(
      [SANDBOX_SCRIPT, 'exec', String(this.pid), 'env', '-i', `PATH=${ROOT_PATH}`, 'HOME=/root', 'LANG=C.UTF-8', 'sh', '-c', script],
      timeoutMs,
    );
  }

  /** Runs a shell script inside as `user`, with a login's HOME and XDG_RUNTIME_DIR. */
  as(user: string, script: string, timeoutMs?: number): Promise<Run> {
    return run([SANDBOX_SCRIPT, 'user', String(this.pid), user, 'sh', '-c', script], timeoutMs);
  }

  /** `systemctl show` of `units`: unit → property → value. */
  async show(units: string[], props: string[]): Promise<Map<string, Record<string, string>>> {
    const r = await this.sh(`systemctl show ${units.map((u) => `'${u}'`).join(' ')} -p Id,${props.join(',')}`, 30_000);
    const out = new Map<string, Record<string, string>>();
    for (const block of r.stdout.split('\n\n')) {
      const rec: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) rec[line.slice(0, i)] = line.slice(i + 1);
      }
      if (rec['Id']) out.set(rec['Id'], rec);
    }
    return out;
  }

  /** Kills the sandbox and everything in it (synchronous: usable from exit handlers). */
  stop(): void {
    spawnSync(SANDBOX_SCRIPT, ['stop', String(this.pid)]);
  }
}
