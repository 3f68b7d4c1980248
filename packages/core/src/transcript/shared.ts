/** One parsed JSON event line. */
export type Json = Record<string, unknown>;

/** A CLI's renderer: the event's lines, or undefined when the event is not of its vocabulary. */
export type Render = (ev: Json) => string[] | undefined;

export const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The first line of `text`, with how many more there were: `first (+N lines)`. */
export function firstLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines.length > 1 ? `${lines[0]} (+${lines.length - 1} lines)` : (lines[0] ?? '');
}

// The input field that says what a tool call does, in the order tools name it (Bash's
// command, Read/Edit/Write's file_path, Grep's pattern, WebFetch's url, Task's description...).
const GIST_KEYS = [
  'command',
  'file_path',
  'path',
  'notebook_path',
  'pattern',
  'url',
  'query',
  'description',
  'prompt',
  'absolute_path',
  'dir_path',
];

/** One line on a tool call: `tool: NAME gist`, the gist its main input or its input as JSON. */
export function toolLine(name: string, input: unknown): string {
  const i = obj(input);
  const key = GIST_KEYS.find((k) => typeof i[k] === 'string' && i[k] !== '');
  const gist = key ? firstLine(i[key] as string) : Object.keys(i).length ? JSON.stringify(i) : '';
  return `tool: ${name}${gist ? ` ${gist}` : ''}`;
}

/** A tool's result as one indented line (`  ⎿ first line`, `  ⎿ error: …`). */
export function resultLine(text: string, error = false): string {
  return `  ⎿ ${error ? 'error: ' : ''}${firstLine(text) || '(no output)'}`;
}

/** `tokens in 5 (+17806 cached, +12234 written to cache), out 6`, leaving out what is absent. */
export function tokens(input: number | undefined, output: number | undefined, cached?: number, cacheWrite?: number): string | undefined {
  if (input === undefined && output === undefined) return undefined;
  const extra = [cached ? `+${cached} cached` : '', cacheWrite ? `+${cacheWrite} written to cache` : ''].filter(Boolean).join(', ');
  return `tokens in ${input ?? 0}${extra ? ` (${extra})` : ''}, out ${output ?? 0}`;
}

/** Seconds from ms, one decimal: `6.7 s`. */
export const seconds = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : `${(ms / 1000).toFixed(1)} s`);

/** A text of several lines as `label: first` and indented continuation lines, at most 12. */
export function textBlock(label: string, text: string): string[] {
  const lines = text.trim().split('\n');
  const shown = lines.slice(0, 12).map((l, i) => (i === 0 ? `${label}: ${l}` : `  ${l}`));
  if (lines.length > 12) shown.push(`  … (+${lines.length - 12} lines)`);
  return shown;
}
