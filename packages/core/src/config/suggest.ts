/** Levenshtein edit distance (insert, delete, substitute, adjacent transposition). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * Candidates that extend `word` with a suffix (`bot_token` → `bot_token_env`, `bot_token_file`):
 * the usual mistake when a secret must be referenced instead of written inline.
 */
export function extensionsOf(word: string, candidates: Iterable<string>): string[] {
  return [...candidates].filter((c) => c.startsWith(`${word}_`));
}

/**
 * The candidate closest to `word`, when close enough to be a plausible typo
 * (distance at most a third of the word's length, and at least 1..2 edits allowed).
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    // The distance is at least the length difference: skipping such candidates changes no
    // answer, and spares a table of word.length x c.length cells for a megabyte-long key.
    if (Math.abs(word.length - c.length) > limit) continue;
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return bestD <= limit ? best : undefined;
}
