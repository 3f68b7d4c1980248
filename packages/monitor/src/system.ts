import si from 'systeminformation';
import type { HostSnapshot } from './snapshot.js';

/**
 * Disk use of the file system holding `path` (the mount with the longest matching prefix in
 * systeminformation's `fsSize()`, which reads `df`), or null when it cannot be told.
 * `used_pct` is systeminformation's `use` (used / (used + available), like `df`'s Use%).
 */
export async function diskOf(path: string): Promise<HostSnapshot['system']['disk']> {
  try {
    const all = await si.fsSize();
    let best: (typeof all)[number] | undefined;
    for (const fs of all) {
      const m = fs.mount.endsWith('/') ? fs.mount : `${fs.mount}/`;
      if ((path === fs.mount || `${path}/`.startsWith(m)) && (!best || fs.mount.length > best.mount.length)) best = fs;
    }
    if (!best) return null;
    return { path, free_bytes: best.available, used_pct: Math.round(best.use * 10) / 10 };
  } catch {
    return null;
  }
}

/** Total and available memory (systeminformation `mem()`: MemTotal, MemAvailable), or null. */
export async function memory(): Promise<HostSnapshot['system']['memory']> {
  try {
    const m = await si.mem();
    return { total_bytes: m.total, available_bytes: m.available };
  } catch {
    return null;
  }
}
