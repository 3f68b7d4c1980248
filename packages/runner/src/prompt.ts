/**
 * Prompt assembly: the prompt files of a round concatenated with a separator, YAML front
 * matter stripped from the first file ({@link assemblePromptFiles}; what `pre_round` hooks see
 * and may replace), and an optional context block (round, phase, last round's outcome, the
 * hooks' context fields) prepended to the prompt or written to a file the agent reads
 * ({@link applyContext}).
 */
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { isAbsolute, resolve } from 'node:path';
import { writeFileAtomic } from '@agent-runner/core/atomic';
import { AgentRunnerError, errnoCode } from '@agent-runner/core/errors';

/** The previous round, as far as the agent needs to know it. */
export interface LastOutcome {
  round: number;
  /** Failure class (`ok`, `rate_limit`, `crash`, ...). */
  class: string;
  exitCode?: number | null;
  signal?: string | null;
  durationMs?: number;
  /** One line for humans, e.g. the verdict summary. */
  summary?: string;
  /** How the work tree was left (`stash <sha>`, `commit <sha>`, `clean`). */
  vcs?: string;
}

/** Where the context block goes. */
export interface PromptContext {
  /** `off`: none; `prepend`: before the prompt; `file`: written to `file`, prompt unchanged. */
  mode: 'off' | 'prepend' | 'file';
  /** Target of `file` mode; a name ending in `.json` gets JSON, anything else Markdown. */
  file?: string;
  round: number;
  phase?: string;
  lastOutcome?: LastOutcome;
  /** The context fields hooks answered (`[hooks.NAME]`, see docs/hooks.md); none when empty. */
  fields?: Readonly<Record<string, unknown>>;
}

/** Options of {@link assemblePrompt}. */
export interface AssemblePromptOptions {
  /** Prompt files in order; relative paths resolve against `baseDir`. */
  files: string[];
  /** Put between two files (e.g. `"\n\n"`). */
  separator: string;
  /** Strip a leading `---` YAML front matter block from the first file only. */
  stripFrontMatter: boolean;
  context?: PromptContext;
  /** Base of relative paths in `files` and `context.file` (usually the config's directory). */
  baseDir?: string;
}

/** One file that went into the prompt. */
export interface PromptSource {
  path: string;
  /** Bytes of the file as read. */
  bytes: number;
  /** Front matter was removed from it. */
  frontMatterStripped: boolean;
}

/** The assembled prompt. */
export interface AssembledPrompt {
  /** What the agent receives. */
  text: string;
  /** UTF-8 size of `text`. */
  bytes: number;
  sources: PromptSource[];
  /** The context block as rendered (also when written to a file); undefined when off. */
  context?: string;
  /** Path the context block was written to, in `file` mode. */
  contextFile?: string;
}

/**
 * Removes a YAML front matter block: `---` on the very first line, up to the next line that
 * is exactly `---` (LF or CRLF line ends; a UTF-8 BOM before it is dropped too). Text without
 * a closing `---` line is returned unchanged, since it is then not front matter.
 */
export function stripYamlFrontMatter(text: string): { text: string; stripped: boolean } {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const m = /^---[ \t]*\r?\n/.exec(body);
  if (!m) return { text, stripped: false };
  const close = /^---[ \t]*(?:\r?\n|$)/m;
  const rest = body.slice(m[0].length);
  const c = close.exec(rest);
  if (!c) return { text, stripped: false };
  return { text: rest.slice(c.index + c[0].length), stripped: true };
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Renders the context block as Markdown (the form prepended to the prompt). */
export function renderContextBlock(ctx: Omit<PromptContext, 'mode' | 'file'>): string {
  const lines = ['## agent-runner context', '', `- round: ${ctx.round}`];
  if (ctx.phase !== undefined) lines.push(`- phase: ${ctx.phase}`);
  const o = ctx.lastOutcome;
  if (o) {
    const how = o.signal != null ? `killed by ${o.signal}` : o.exitCode != null ? `exit ${o.exitCode}` : 'exit unknown';
    let s = `- last round: #${o.round} ended ${o.class} (${how}`;
    if (o.durationMs !== undefined) s += `, after ${formatDuration(o.durationMs)}`;
    s += ')';
    if (o.summary) s += `: ${o.summary.replace(/\s+/g, ' ').trim()}`;
    lines.push(s);
    if (o.vcs) lines.push(`- work tree after it: ${o.vcs}`);
  } else {
    lines.push('- last round: none');
  }
  const fields = Object.entries(ctx.fields ?? {});
  if (fields.length) {
    lines.push('- from hooks:');
    for (const [k, v] of fields) {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      if (!text.includes('\n')) lines.push(`  - ${k}: ${text}`);
      else
        lines.push(
          `  - ${k}:`,
          ...text
            .replace(/\n+$/, '')
            .split('\n')
            .map((l) => `    ${l}`.trimEnd()),
        );
    }
  }
  return lines.join('\n') + '\n';
}

function renderContextJson(ctx: PromptContext): string {
  const body: Record<string, unknown> = { round: ctx.round };
  if (ctx.phase !== undefined) body.phase = ctx.phase;
  body.last_round = ctx.lastOutcome
    ? {
        round: ctx.lastOutcome.round,
        class: ctx.lastOutcome.class,
        exit_code: ctx.lastOutcome.exitCode ?? null,
        signal: ctx.lastOutcome.signal ?? null,
        duration_ms: ctx.lastOutcome.durationMs ?? null,
        summary: ctx.lastOutcome.summary ?? null,
        vcs: ctx.lastOutcome.vcs ?? null,
      }
    : null;
  if (ctx.fields && Object.keys(ctx.fields).length) body.hook_context = ctx.fields;
  return JSON.stringify(body, null, 2) + '\n';
}

function semantic(message: string, file?: string, cause?: unknown): AgentRunnerError {
  return new AgentRunnerError('ERR_AR_CONFIG_SEMANTIC', message, {
    ...(file !== undefined ? { location: { file } } : {}),
    key: 'prompt',
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** The prompt files assembled, before any context block. */
export interface PromptFiles {
  text: string;
  sources: PromptSource[];
}

/**
 * Reads and joins the prompt files: what the agent would get without a context block (and
 * what `pre_round` hooks see and may replace).
 *
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC when a file is missing or unreadable (the
 *   message names it), when no files are given, or when the prompt is empty or
 *   whitespace-only after assembly.
 */
export function assemblePromptFiles(opts: Omit<AssemblePromptOptions, 'context'>): PromptFiles {
  const abs = (p: string): string => (opts.baseDir !== undefined && !isAbsolute(p) ? resolve(opts.baseDir, p) : p);
  if (opts.files.length === 0) throw semantic('no prompt file configured');
  const sources: PromptSource[] = [];
  const texts: string[] = [];
  opts.files.forEach((f, i) => {
    const path = abs(f);
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      const code = errnoCode(e);
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (e as Error).message;
      throw semantic(`prompt file ${path} ${why}`, path, e);
    }
    let text = buf.toString('utf8');
    let stripped = false;
    if (i === 0 && opts.stripFrontMatter) ({ text, stripped } = stripYamlFrontMatter(text));
    texts.push(text);
    sources.push({ path, bytes: buf.length, frontMatterStripped: stripped });
  });
  const text = texts.join(opts.separator);
  if (text.trim() === '') {
    throw semantic(`prompt is empty after assembling ${sources.map((s) => s.path).join(', ')}`, sources[0]?.path);
  }
  return { text, sources };
}

/**
 * Adds the context block to assembled prompt text: prepended (`prepend`), written to the
 * context file (`file`, relative to `baseDir`; the text unchanged), or nothing (`off`).
 *
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC when `file` mode has no file; ERR_AR_IO
 *   when the context file cannot be written.
 */
export function applyContext(files: PromptFiles, ctx: PromptContext | undefined, baseDir?: string): AssembledPrompt {
  let text = files.text;
  const result: AssembledPrompt = { text, bytes: 0, sources: files.sources };
  if (ctx && ctx.mode !== 'off') {
    const block = renderContextBlock(ctx);
    result.context = block;
    if (ctx.mode === 'prepend') {
      text = `${block}\n${text}`;
    } else {
      if (!ctx.file) throw semantic('context mode "file" needs a context file path');
      const target = baseDir !== undefined && !isAbsolute(ctx.file) ? resolve(baseDir, ctx.file) : ctx.file;
      try {
        writeFileAtomic(target, target.endsWith('.json') ? renderContextJson(ctx) : block, 0o600);
      } catch (e) {
        throw new AgentRunnerError('ERR_AR_IO', `cannot write context file ${target}: ${(e as Error).message}`, {
          location: { file: target },
          cause: e,
        });
      }
      result.contextFile = target;
    }
  }
  result.text = text;
  result.bytes = Buffer.byteLength(text, 'utf8');
  return result;
}

/**
 * Builds the round's prompt: {@link assemblePromptFiles}, then {@link applyContext}.
 *
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC when a file is missing or unreadable (the
 *   message names it), when no files are given, when the prompt is empty or whitespace-only
 *   after assembly (context block not counted), or when `file` mode has no file;
 *   ERR_AR_IO when the context file cannot be written.
 */
export function assemblePrompt(opts: AssemblePromptOptions): AssembledPrompt {
  return applyContext(assemblePromptFiles(opts), opts.context, opts.baseDir);
}

/** A problem with one prompt file found by {@link checkPromptFile}. */
export interface PromptFileProblem {
  path: string;
  problem: 'missing' | 'unreadable' | 'empty' | 'truncated_utf8' | 'invalid_utf8';
  /** One line for humans. */
  detail: string;
}

/**
 * Index where an incomplete UTF-8 sequence at the end of `buf` starts, or -1 when the
 * buffer ends on a character boundary.
 */
function incompleteTail(buf: Buffer): number {
  // Look back at most 3 bytes for the lead byte of the last sequence.
  for (let i = buf.length - 1; i >= 0 && i >= buf.length - 4; i--) {
    const b = buf[i] as number;
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return buf.length - i < need ? i : -1;
  }
  return -1;
}

/**
 * Checks one prompt file for the start-up checks: it must exist, be readable, hold
 * something other than whitespace, and be valid UTF-8 — in particular not end in the middle
 * of a multi-byte character, the mark of a copy or write cut short.
 * @returns undefined when the file is fine.
 */
export function checkPromptFile(path: string): PromptFileProblem | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT') return { path, problem: 'missing', detail: `prompt file ${path} does not exist` };
    return { path, problem: 'unreadable', detail: `prompt file ${path} cannot be read: ${(e as Error).message}` };
  }
  if (buf.toString('utf8').trim() === '') {
    return { path, problem: 'empty', detail: `prompt file ${path} is empty (${buf.length} bytes of whitespace)` };
  }
  if (!isUtf8(buf)) {
    const at = incompleteTail(buf);
    if (at >= 0 && isUtf8(buf.subarray(0, at))) {
      return {
        path,
        problem: 'truncated_utf8',
        detail: `prompt file ${path} ends inside a multi-byte UTF-8 character (byte ${at} of ${buf.length}): it looks truncated`,
      };
    }
    return { path, problem: 'invalid_utf8', detail: `prompt file ${path} is not valid UTF-8` };
  }
  return undefined;
}

/** {@link checkPromptFile} over several files (relative ones against `baseDir`). */
export function checkPromptFiles(files: string[], baseDir?: string): PromptFileProblem[] {
  const out: PromptFileProblem[] = [];
  for (const f of files) {
    const p = checkPromptFile(baseDir !== undefined && !isAbsolute(f) ? resolve(baseDir, f) : f);
    if (p) out.push(p);
  }
  return out;
}
