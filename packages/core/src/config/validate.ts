import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { CONFIG_FORMATS } from './formats.js';
import { AgentRunnerError, type ErrorCode } from '../errors.js';
import { CONFIG_SCHEMA, NO_NUL } from './schema.js';
import { clampLine, REASON_MAX, showText } from './show.js';
import { formatKeyPath, type KeyLocator } from './locate.js';
import { didYouMean, extensionsOf } from './suggest.js';

const require = createRequire(import.meta.url);
let compiled: ValidateFunction | undefined;

/** The ajv instance the schema is compiled with; `code` options are for the build's precompile. */
export function configAjv(code?: Options['code']): Ajv {
  // Loaded on demand: a built install validates with the precompiled code and never needs ajv.
  const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
  // strictNumbers: TOML has `nan` and `inf`, and without it a `number` key accepts them (NaN
  // passes every minimum and maximum).
  const ajv = new AjvClass({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: true,
    strictNumbers: true,
    allowUnionTypes: true,
    discriminator: true,
    ...(code ? { code } : {}),
  });
  ajv.addVocabulary(['x-path', 'x-secret', 'x-unit']);
  for (const [name, format] of Object.entries(CONFIG_FORMATS)) ajv.addFormat(name, format);
  return ajv;
}

/** Identifies the schema a precompiled validator was generated from. */
export function schemaHash(): string {
  return createHash('sha256').update(JSON.stringify(CONFIG_SCHEMA)).digest('hex');
}

/** The build's precompiled validator, beside this module in dist/ (absent when running from source). */
export const PRECOMPILED_FILE = fileURLToPath(new URL('./schema-validator.cjs', import.meta.url));

/** The V8 code cache the build records for a precompiled validator file. */
export function codeCacheOf(file: string): string {
  return file.replace(/\.cjs$/, '.v8cache');
}

/**
 * Loads the precompiled validator (ajv standalone code, a CommonJS module) through `vm.Script`
 * with the V8 code cache the build recorded after validating the examples: the generated
 * function is one ~270 KB body, and compiling it costs ~20 ms of every cold `peek`; with the
 * cache ~5 ms. V8 rejects a cache made by another V8 version or for other source
 * (`cachedDataRejected`) and compiles as usual, so a stale or missing cache only costs time.
 * @returns the validator, and the script (the build calls `createCachedData()` on it).
 * @throws when the file is missing or does not evaluate (not built).
 */
export function loadPrecompiled(file = PRECOMPILED_FILE): { validate: ValidateFunction & { schemaHash?: string }; script: Script } {
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(codeCacheOf(file));
  } catch {
    // ENOENT: no cache (not generated yet). Any unreadable cache only costs the compile, as a stale one does.
  }
  const script = new Script(`(function (exports, require, module) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  const mod = { exports: {} as ValidateFunction };
  (script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown) => void)(mod.exports, createRequire(file), mod);
  return { validate: mod.exports, script };
}

/**
 * The schema's validator, once per process: the build's precompiled one when it was generated
 * from this very schema (its hash), else the schema compiled here (running from source: ~150 ms).
 */
function validator(): ValidateFunction {
  if (compiled) return compiled;
  try {
    const pre = loadPrecompiled().validate;
    if (pre.schemaHash === schemaHash()) return (compiled = pre);
  } catch {
    // Not built (running from source): compile below.
  }
  compiled = configAjv().compile(CONFIG_SCHEMA);
  return compiled;
}

/** Every key path the schema defines, for "did you mean" across sections. */
function allKeyPaths(node: Record<string, unknown>, prefix: string[] = [], out: string[][] = []): string[][] {
  const props = node['properties'] as Record<string, Record<string, unknown>> | undefined;
  for (const [k, child] of Object.entries(props ?? {})) {
    out.push([...prefix, k]);
    allKeyPaths(child, [...prefix, k], out);
  }
  return out;
}

/**
 * Renders a found value briefly, on one line, for messages (values are never secrets: the
 * schema has none inline); a long string is cut and its length named.
 */
export function renderValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `string ${showText(v)}`;
  if (typeof v === 'number')
    return Number.isFinite(v)
      ? `${Number.isInteger(v) ? 'integer' : 'float'} ${v}`
      : `float ${Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf'}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'date' : `date ${v.toISOString()}`;
  if (v && typeof v === 'object') return 'table';
  return String(v);
}

function pathOf(err: ErrorObject): Array<string | number> {
  return err.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

interface Problem {
  code: ErrorCode;
  path: Array<string | number>;
  message: string;
  expected?: string;
  found?: string;
  hint?: string;
}

/** Patterns whose regex says less to an operator than words do. */
const PATTERN_WORDS: Record<string, string> = {
  [NO_NUL]: 'text without NUL characters (\\u0000)',
  '^[^=\\u0000]+$': 'a variable name: not empty, no `=` and no NUL',
};

function describe(err: ErrorObject, data: unknown): Problem | undefined {
  const path = pathOf(err);
  const key = formatKeyPath(path);
  const params = err.params as Record<string, unknown>;
  const found = renderValue(err.data);
  switch (err.keyword) {
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const full = [...path, extra];
      const siblings = Object.keys((err.parentSchema?.['properties'] as object | undefined) ?? {});
      const suggestion = didYouMean(extra, siblings);
      const extended = extensionsOf(extra, siblings);
      let hint: string | undefined;
      if (extended.length) {
        hint = `did you mean ${extended.map((k) => `\`${formatKeyPath([...path, k])}\``).join(' or ')}?${extended.some((k) => /_(env|file)$/.test(k)) ? ' Secrets are never written in the config: name an environment variable or a file.' : ''}`;
      } else if (suggestion) hint = `did you mean \`${formatKeyPath([...path, suggestion])}\`?`;
      else {
        const elsewhere = allKeyPaths(CONFIG_SCHEMA).find((p) => p[p.length - 1] === extra);
        if (elsewhere) hint = `\`${extra}\` belongs in \`[${elsewhere.slice(0, -1).join('.')}]\`: did you mean \`${elsewhere.join('.')}\`?`;
      }
      return {
        code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
        path: full,
        message: `unknown key \`${formatKeyPath(full)}\``,
        expected: siblings.length ? `one of ${siblings.join(', ')}` : 'no keys here',
        found: extra,
        ...(hint ? { hint } : {}),
      };
    }
    case 'propertyNames':
      return undefined; // reported by the `pattern` error on the name itself
    case 'required': {
      const missing = String(params['missingProperty']);
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path: [...path, missing],
        message: `missing required key \`${formatKeyPath([...path, missing])}\``,
        expected: String(
          (err.parentSchema?.['properties'] as Record<string, { description?: string }> | undefined)?.[missing]?.description ?? 'a value',
        ),
        found: 'nothing',
      };
    }
    case 'type':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` has the wrong type`,
        expected: String(params['type']).replace(',', ' or '),
        found,
      };
    case 'enum':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` is not an accepted value`,
        expected: `one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
        found,
      };
    case 'const':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` is not an accepted value`,
        expected: JSON.stringify(params['allowedValue']),
        found,
      };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` is out of range`,
        expected: `a number ${String(params['comparison'])} ${String(params['limit'])}`,
        found,
      };
    case 'minItems':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` has too few items`,
        expected: `at least ${String(params['limit'])} item(s)`,
        found,
      };
    case 'minLength':
      return { code: 'ERR_AR_CONFIG_INVALID', path, message: `\`${key}\` is empty`, expected: 'a non-empty string', found };
    case 'uniqueItems':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` has duplicate items`,
        expected: 'unique items',
        found: `duplicates at positions ${String(params['j'])} and ${String(params['i'])}`,
      };
    case 'pattern': {
      const isName = err.propertyName !== undefined;
      const shown = isName ? [...path, err.propertyName as string] : path;
      const pattern = String(params['pattern']);
      const expected = PATTERN_WORDS[pattern] ?? `text matching /${pattern}/`;
      return {
        code: isName ? 'ERR_AR_CONFIG_UNKNOWN_KEY' : 'ERR_AR_CONFIG_INVALID',
        path: shown,
        message: isName ? `invalid name \`${formatKeyPath(shown)}\`` : `\`${key}\` has an invalid format`,
        expected,
        found: isName ? showText(err.propertyName as string) : found,
      };
    }
    case 'format':
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path,
        message: `\`${key}\` is not a valid ${String(params['format'])}`,
        expected:
          ({ regex: 'a JavaScript regular expression', email: 'an email address', uri: 'an absolute URL' } as Record<string, string>)[
            String(params['format'])
          ] ?? String(params['format']),
        found,
      };
    case 'discriminator': {
      const types = ((err.parentSchema?.['oneOf'] as Array<{ properties: { type: { const: string } } }>) ?? []).map(
        (b) => b.properties.type.const,
      );
      return {
        code: 'ERR_AR_CONFIG_INVALID',
        path: [...path, 'type'],
        message: `\`${formatKeyPath([...path, 'type'])}\` is not a known transport`,
        expected: `one of ${types.map((t) => JSON.stringify(t)).join(', ')}`,
        found: renderValue((err.data as Record<string, unknown> | undefined)?.['type']),
      };
    }
    case 'oneOf':
      return undefined; // the chosen branch reports the real problem
    default:
      return { code: 'ERR_AR_CONFIG_INVALID', path, message: `\`${key}\`: ${err.message ?? 'invalid'}`, found: renderValue(data) };
  }
}

/** Problems reported in full; more are counted (a file of 100,000 bad keys is one mistake). */
export const MAX_PROBLEMS = 20;

/**
 * Builds located {@link AgentRunnerError}s for problems at key paths, first problem first
 * with the rest in `more`: at most {@link MAX_PROBLEMS}, the rest summed up in a last entry.
 * Every message, expected and found text is one line of at most {@link REASON_MAX}
 * characters, whatever the config holds.
 */
export function problemsToError(file: string, locator: KeyLocator, problems: Problem[]): AgentRunnerError {
  // Positions first, errors only for the problems shown: each error captures a stack trace.
  const located = problems.map((p) => ({ p, pos: locator.find(p.path) }));
  located.sort((a, b) => (a.pos?.line ?? Infinity) - (b.pos?.line ?? Infinity));
  const errs = located.slice(0, MAX_PROBLEMS).map(
    ({ p, pos }) =>
      new AgentRunnerError(p.code, clampLine(p.message), {
        location: { file, ...(pos ? { line: pos.line, column: pos.column } : {}) },
        key: formatKeyPath(p.path),
        // Expected texts come from the schema (the keys of a table): longer, but never input.
        ...(p.expected !== undefined ? { expected: clampLine(p.expected, 3 * REASON_MAX) } : {}),
        ...(p.found !== undefined ? { found: clampLine(p.found) } : {}),
        ...(p.hint !== undefined ? { hint: clampLine(p.hint, 2 * REASON_MAX) } : {}),
      }),
  );
  const [first, ...rest] = errs as [AgentRunnerError, ...AgentRunnerError[]];
  const left = located.length - errs.length;
  if (left > 0)
    rest.push(new AgentRunnerError(first.code, `and ${left} more problem${left === 1 ? '' : 's'} not shown`, { location: { file } }));
  if (rest.length === 0) return first;
  return new AgentRunnerError(first.code, first.message, {
    ...(first.location ? { location: first.location } : {}),
    ...(first.key !== undefined ? { key: first.key } : {}),
    ...(first.expected !== undefined ? { expected: first.expected } : {}),
    ...(first.found !== undefined ? { found: first.found } : {}),
    hint: first.hint,
    more: rest,
  });
}

export type { Problem };

/**
 * Validates the parsed TOML against {@link CONFIG_SCHEMA}, filling defaults in place.
 * @throws AgentRunnerError (ERR_AR_CONFIG_UNKNOWN_KEY / ERR_AR_CONFIG_INVALID) naming the
 * file, line, column and key of every problem found.
 */
export function validateSchema(file: string, locator: KeyLocator, data: Record<string, unknown>): void {
  const validate = validator();
  if (validate(data)) return;
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const err of validate.errors ?? []) {
    const p = describe(err, data);
    if (!p) continue;
    // The raw path, not formatKeyPath: that one cuts long keys, and two cut alike.
    const id = `${p.path.join('\u0000')}|${p.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    problems.push(p);
  }
  if (problems.length === 0) problems.push({ code: 'ERR_AR_CONFIG_INVALID', path: [], message: 'the config does not match the schema' });
  throw problemsToError(file, locator, problems);
}
