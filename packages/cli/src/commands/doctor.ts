import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createRequire } from 'node:module';
import { isDiskFull, tightestDisk } from '@agent-runner/core/disk';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import { inspectLedger } from '@agent-runner/core/ledger';
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import type { CliContext, GlobalArgs } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out, outJson } from '../output.js';
import { table } from '../table.js';

/** One doctor finding. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

const MIN_NODE: [number, number] = [20, 19];

function nodeVersion(version: string): Check {
  const [maj = 0, min = 0] = version.replace(/^v/, '').split('.').map(Number);
  const ok = maj > MIN_NODE[0] || (maj === MIN_NODE[0] && min >= MIN_NODE[1]);
  return ok
    ? { name: 'node', status: 'ok', detail: `node ${version}` }
    : {
        name: 'node',
        status: 'fail',
        detail: `node ${version} is older than ${MIN_NODE.join('.')}`,
        fix: 'Install Node.js 20.19 or newer (Debian: NodeSource or the nodejs package of a newer release).',
      };
}

function nativeModule(name: string, probe: (m: unknown) => void): Check {
  try {
    const require = createRequire(import.meta.url);
    probe(require(name));
    return { name: `native:${name}`, status: 'ok', detail: `${name} loads` };
  } catch (e) {
    return {
      name: `native:${name}`,
      status: 'fail',
      detail: `${name} does not load: ${(e as Error).message.split('\n')[0]}`,
      fix: `Rebuild it for this node: \`npm rebuild ${name}\` (needs python3, make and g++).`,
    };
  }
}

function onPath(exe: string, env: CliContext['env']): string | undefined {
  if (exe.includes('/')) return existsSync(exe) ? exe : undefined;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    const p = join(dir, exe);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* ENOENT, EACCES: not here, try the next PATH entry */
    }
  }
  return undefined;
}

function dirCheck(name: string, dir: string): Check {
  if (!existsSync(dir))
    return {
      name,
      status: 'warn',
      detail: `${dir} does not exist yet`,
      fix: 'It is created (mode 0700) by the first `agent-runner serve`.',
    };
  const st = statSync(dir);
  const mode = st.mode & 0o777;
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    // EACCES, EROFS: the check's finding, not doctor's failure.
    return {
      name,
      status: 'fail',
      detail: `${dir} is not writable by this user`,
      fix: `chown the directory to the service user, or run as its owner (uid ${st.uid}).`,
    };
  }
  if (mode & 0o077)
    return {
      name,
      status: 'warn',
      detail: `${dir} has mode ${mode.toString(8)}; state must not be readable by others`,
      fix: `chmod 700 ${dir}`,
    };
  return { name, status: 'ok', detail: `${dir} (mode ${mode.toString(8)})` };
}

/**
 * The fuller of the state and log file systems (core/disk: the figure peek and the monitor's
 * detectors and /metrics show), judged by the monitor's thresholds: fail where `disk_critical`
 * fires or where the runner would hold rounds for a full disk, warn where `disk_warning` does.
 */
function diskCheck(cfg: AgentRunnerConfig): Check {
  const u = tightestDisk([cfg.runtime.state_dir, cfg.runtime.log_dir]);
  if (!u)
    return {
      name: 'disk',
      status: 'warn',
      detail: `cannot measure the file system of ${cfg.runtime.state_dir}`,
      fix: 'Check that the directory (or its parent) is readable.',
    };
  const detail = `${(u.free_bytes / 2 ** 30).toFixed(1)} GiB free (${u.used_pct}% used) at ${u.path}`;
  if (isDiskFull(u) || u.used_pct >= cfg.monitor.disk_critical_pct)
    return {
      name: 'disk',
      status: 'fail',
      detail,
      fix: 'Free disk space: old round logs and event files can go (see RUNBOOK.md, "Disk pressure").',
    };
  if (u.used_pct >= cfg.monitor.disk_warning_pct)
    return {
      name: 'disk',
      status: 'warn',
      detail,
      fix: `Disk is over ${cfg.monitor.disk_warning_pct}% full; lower runtime.round_log_max_bytes / events_max_bytes.`,
    };
  return { name: 'disk', status: 'ok', detail };
}

function configChecks(cfg: AgentRunnerConfig, env: CliContext['env']): Check[] {
  const checks: Check[] = [{ name: 'config', status: 'ok', detail: `${cfg.source} is valid (project ${cfg.project})` }];
  const exe = cfg.agent.command[0] ?? '';
  const found = onPath(exe, env);
  checks.push(
    found
      ? { name: 'agent', status: 'ok', detail: `${exe} → ${found}` }
      : {
          name: 'agent',
          status: 'fail',
          detail: `agent executable not found on PATH: ${exe}`,
          fix: `Install ${exe}, or set agent.command to its absolute path (systemd units have a minimal PATH).`,
        },
  );
  checks.push(dirCheck('state_dir', cfg.runtime.state_dir), dirCheck('log_dir', cfg.runtime.log_dir));
  const ledger = join(cfg.runtime.state_dir, 'ledger.sqlite3');
  if (existsSync(ledger)) {
    const r = inspectLedger(ledger);
    checks.push(
      r.ok
        ? { name: 'ledger', status: 'ok', detail: `${ledger}: integrity ok, schema v${r.schemaVersion}` }
        : {
            name: 'ledger',
            status: 'fail',
            detail: `${ledger}: ${r.problems.join('; ')}`,
            fix: 'Stop the units, move the ledger aside and restart (a new one is created); keep the old file for inspection.',
          },
    );
  } else
    checks.push({
      name: 'ledger',
      status: 'warn',
      detail: `${ledger} does not exist yet`,
      fix: 'It is created by the first `agent-runner serve`.',
    });
  checks.push(diskCheck(cfg));
  return checks;
}

/**
 * The checks as doctor prints them: status, name, then the detail with the fix (of a warn or
 * fail) on its own line below it, all fitted to `width` columns when given (see `table`).
 */
export function renderChecks(checks: readonly Check[], width?: number): string[] {
  return table(
    checks.map((c) => [c.status, c.name, c.fix && c.status !== 'ok' ? `${c.detail}\nfix: ${c.fix}` : c.detail]),
    { width },
  );
}

/**
 * `agent-runner doctor [--json]`: checks this host for running agent-runner — node version,
 * native modules, config, agent executable, state dir permissions, ledger integrity, free
 * disk. Each check is ok / warn / fail with a fix; exits 1 when any check fails.
 */
export function doctor(ctx: CliContext, args: GlobalArgs): number {
  const checks: Check[] = [
    nodeVersion(ctx.nodeVersion),
    nativeModule('better-sqlite3', (m) => new (m as new (p: string) => { close(): void })(':memory:').close()),
    nativeModule('node-pty', (m) => {
      if (typeof (m as { spawn?: unknown }).spawn !== 'function') throw new Error('no spawn()');
    }),
  ];
  try {
    checks.push(...configChecks(loadProjectConfig(ctx, args), ctx.env));
  } catch (e) {
    if (!isAgentRunnerError(e)) throw e;
    checks.push({ name: 'config', status: 'fail', detail: `${e.where() ? `${e.where()}: ` : ''}${e.message}`, fix: e.hint });
  }
  const failed = checks.filter((c) => c.status === 'fail').length;
  if (args.json) outJson(ctx, { ok: failed === 0, checks });
  else {
    renderChecks(checks, ctx.columns).forEach((l) => out(ctx, l));
    out(ctx, failed ? `${failed} check(s) failed` : 'all checks passed');
  }
  return failed ? 1 : 0;
}
