import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DROP_IN, type RenderedFile } from './systemd-render.js';
import { TEMPLATES } from './systemd-templates.js';

/**
 * Writes unit files under `dir` atomically (temp + rename), mode 0644: systemd and
 * `systemd-analyze` read them, and they hold no secrets (those are in EnvironmentFile=).
 */
export function writeUnitFiles(dir: string, files: RenderedFile[]): string[] {
  const written: string[] = [];
  for (const f of files) {
    const path = join(dir, f.rel);
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, f.text, { mode: 0o644 });
    renameSync(tmp, path);
    written.push(path);
  }
  return written;
}

/** Removes agent-runner's drop-in of `unit` (and its `.d` directory when left empty). */
export function removeDropIn(dir: string, unit: string): boolean {
  const d = join(dir, `${unit}.d`);
  const f = join(d, DROP_IN);
  const had = existsSync(f);
  rmSync(f, { force: true });
  try {
    if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
  } catch {
    /* ENOTEMPTY: someone else's drop-in is there, keep the directory; ENOENT: gone already */
  }
  return had;
}

/** Projects with an agent-runner target drop-in in `dir` (installed projects of this mode). */
export function installedProjects(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^agent-runner@(.+)\.target\.d$/.exec(n)?.[1])
    .filter((p): p is string => p !== undefined && existsSync(join(dir, `agent-runner@${p}.target.d`, DROP_IN)));
}

/** Removes the five templates from `dir`. */
export function removeTemplates(dir: string): string[] {
  const removed: string[] = [];
  for (const t of Object.values(TEMPLATES)) {
    const p = join(dir, t.file);
    if (existsSync(p)) {
      rmSync(p, { force: true });
      removed.push(p);
    }
  }
  return removed;
}
