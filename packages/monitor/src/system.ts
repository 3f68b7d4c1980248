import si from 'systeminformation';
import type { HostSnapshot } from './snapshot.js';

/**
 * Total and available memory (systeminformation `mem()`: MemTotal, MemAvailable), or null.
 * Disk figures do not come from systeminformation: its `fsSize()` lists only `/dev/*` file
 * systems, so they come from statfs of the state and log directories (core/disk).
 */
export async function memory(): Promise<HostSnapshot['system']['memory']> {
  try {
    const m = await si.mem();
    return { total_bytes: m.total, available_bytes: m.available };
  } catch {
    // systeminformation could not read /proc/meminfo: memory unknown, detectors skip it
    return null;
  }
}
