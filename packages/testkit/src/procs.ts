import { readdirSync, readFileSync } from 'node:fs';

/** pid → parent pid of every process, and which of them `mark` selects, from /proc. */
function scan(mark: (pid: number, cmdline: () => string) => boolean): { parent: Map<number, number>; marked: Set<number> } {
  const parent = new Map<number, number>();
  const marked = new Set<number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
      if (mark(Number(d), () => readFileSync(`/proc/${d}/cmdline`, 'utf8'))) marked.add(Number(d));
    } catch {
      /* raced */
    }
  }
  return { parent, marked };
}

/** SIGKILLs (by pid) the marked processes and all their descendants; returns how many. */
function killDescendants(mark: (pid: number, cmdline: () => string) => boolean, extra: number[] = []): number {
  const { parent, marked } = scan(mark);
  const doomed = [...parent.keys()].filter((pid) => {
    for (let p: number | undefined = pid, i = 0; p !== undefined && p > 1 && i < 64; p = parent.get(p), i++) if (marked.has(p)) return true;
    return false;
  });
  for (const pid of [...extra, ...doomed]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return doomed.length;
}

/** Kills (SIGKILL, by pid) every process whose command line contains `marker`, and their descendants. */
export function killMarked(marker: string): number {
  return killDescendants((_pid, cmdline) => cmdline().includes(marker));
}

/**
 * SIGKILLs `root`'s process group and every descendant of `root` (by parent pid), including
 * those that started sessions of their own (Claude Code's Bash tool does). Call it while
 * `root` is alive: after its death its children are re-parented and no longer found.
 */
export function killTree(root: number): void {
  killDescendants((pid) => pid === root, [-root]);
}

/** States (`R`, `S`, `Z`, ...) of the processes in process group `pgid`, from /proc. */
export function groupStates(pgid: number): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid) out.push(f[0] ?? '?');
    } catch {
      /* raced */
    }
  }
  return out;
}
