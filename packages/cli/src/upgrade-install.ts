import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

/** How this agent-runner was installed, found from the path of the running CLI. */
export type InstallKind =
  | { kind: 'npm-global'; prefix: string; pkgDir: string }
  | { kind: 'checkout'; root: string; pkgDir: string }
  | { kind: 'unknown'; pkgDir: string };

/**
 * Detects the install kind from the CLI entry script (`<pkg>/dist/bin.js`):
 * - `npm-global`: `<prefix>/lib/node_modules/agent-runner` (what `npm i -g [--prefix P]` makes);
 * - `checkout`: `<root>/packages/cli` of a git checkout of the workspace;
 * - anything else (a project-local `node_modules`, a copy) is `unknown`.
 */
export function detectInstall(binPath: string): InstallKind {
  const pkgDir = dirname(dirname(binPath));
  const nm = dirname(pkgDir);
  if (basename(pkgDir) === 'agent-runner' && basename(nm) === 'node_modules' && basename(dirname(nm)) === 'lib') {
    return { kind: 'npm-global', prefix: dirname(dirname(nm)), pkgDir };
  }
  const root = dirname(dirname(pkgDir));
  if (
    basename(pkgDir) === 'cli' &&
    basename(dirname(pkgDir)) === 'packages' &&
    existsSync(join(root, '.git')) &&
    existsSync(join(root, 'package.json'))
  ) {
    try {
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces?: unknown };
      if (Array.isArray(pkg.workspaces)) return { kind: 'checkout', root, pkgDir };
    } catch {
      /* unreadable or not JSON: not our workspace */
    }
  }
  return { kind: 'unknown', pkgDir };
}

/** The version in `<pkgDir>/package.json`, or undefined. */
export function installedVersion(pkgDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined; // missing or not JSON: the caller names the version it asked for instead
  }
}

/**
 * The npm package spec for `--target`: a bare version or dist-tag becomes `agent-runner@X`; a
 * relative path to a tarball or directory (`./x.tgz`, `../dir`, `x.tgz`) is made absolute
 * against `cwd`, as npm runs elsewhere (in the prefix); an absolute path or any other spec
 * (`agent-runner@X`, `user/repo`, a URL) is passed as given.
 */
export function npmSpec(target: string | undefined, cwd: string): string {
  if (!target) return 'agent-runner@latest';
  const local = /^\.\.?\//.test(target) || (/\.(tgz|tar\.gz)$/.test(target) && !target.includes(':'));
  if (local && !isAbsolute(target)) return resolve(cwd, target);
  if (target.includes('/') || target.endsWith('.tgz') || target.startsWith('agent-runner@')) return target;
  return `agent-runner@${target}`;
}

/** True when `target` names an exact version (then the smoke check requires it). */
export function exactVersion(target: string | undefined): string | undefined {
  if (!target) return undefined;
  const v = target.replace(/^agent-runner@/, '').replace(/^v/, '');
  return /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(v) ? v : undefined;
}
