/**
 * types.ts restates the schema by hand: this test is what notices when the two drift. It reads
 * packages/core/src/config/types.ts with the TypeScript compiler and compares every table
 * interface with the node of CONFIG_SCHEMA it describes: the same keys, and a key that the
 * schema gives a `default` or lists in `required` is a required property (always present after
 * loading) while any other key is optional; a key the schema gives an `enum` of strings is a
 * union of exactly those literals; and each key holds the JSON kinds its schema admits (number,
 * string, boolean, object, array of …). The only exceptions are the keys normalisation
 * (core/config/load.ts) adds, resolves, reshapes or folds away, each listed below with why.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { CONFIG_SCHEMA, NOTIFY_TYPES } from '../src/config/schema.js';

type Schema = Record<string, unknown>;

/** How normalisation changes one key of a table (see load.ts `normalise`). */
interface Normalised {
  /**
   * `added`: not a key of the table; `resolved`: a key without a default that loading always
   * fills in; `dropped`: folded into another key; `reshaped`: its value becomes another kind.
   */
  is: 'added' | 'resolved' | 'dropped' | 'reshaped';
  why: string;
}

const TYPES_FILE = fileURLToPath(new URL('../src/config/types.ts', import.meta.url));

const program = ts.createProgram([TYPES_FILE], {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: [],
});
const checker = program.getTypeChecker();

/** The exported type `name` of types.ts, then the type of its property path `props` (dotted in messages). */
function typeAt(name: string, ...props: string[]): ts.Type {
  const file = program.getSourceFile(TYPES_FILE);
  const mod = file && checker.getSymbolAtLocation(file);
  const sym = mod && checker.getExportsOfModule(mod).find((s) => s.name === name);
  if (!sym) throw new Error(`types.ts exports no ${name}`);
  let type = checker.getDeclaredTypeOfSymbol(sym);
  for (const [i, p] of props.entries()) {
    const prop = type.getProperty(p);
    if (!prop) throw new Error(`${[name, ...props.slice(0, i)].join('.')} has no property ${p}`);
    type = checker.getNonNullableType(checker.getTypeOfSymbol(prop));
  }
  return type;
}

/** Property name → optional, of an interface or object type (inherited properties included). */
function shapeOfType(type: ts.Type): Map<string, boolean> {
  return new Map(checker.getPropertiesOfType(type).map((p) => [p.name, (p.flags & ts.SymbolFlags.Optional) !== 0]));
}

/** The string literals of property `key` of `type` (of its elements when `elements`), sorted; undefined when it is not a union of string literals. */
function literalsOf(type: ts.Type, key: string, elements: boolean): string[] | undefined {
  const prop = type.getProperty(key);
  if (!prop) return undefined;
  let t = checker.getNonNullableType(checker.getTypeOfSymbol(prop));
  if (elements) {
    const [element] = checker.isArrayType(t) ? checker.getTypeArguments(t as ts.TypeReference) : [];
    if (!element) return undefined;
    t = element;
  }
  const parts = t.isUnion() ? t.types : [t];
  return parts.every((x) => x.isStringLiteral()) ? parts.map((x) => (x as ts.StringLiteralType).value).sort() : undefined;
}

/** The string `enum` of a schema key (of its items for an array), sorted, and whether it is the items'. */
function enumOf(node: Schema): { values: string[]; elements: boolean } | undefined {
  const items = node['items'] as Schema | undefined;
  const values = (node['enum'] ?? items?.['enum']) as unknown[] | undefined;
  if (!values?.every((v) => typeof v === 'string')) return undefined;
  return { values: [...values].sort(), elements: node['enum'] === undefined };
}

/** The node at `keys` below `node` (a path of schema keywords and key names). */
function at(node: Schema, ...keys: string[]): Schema {
  let n: unknown = node;
  for (const [i, k] of keys.entries()) {
    n = n && typeof n === 'object' ? (n as Schema)[k] : undefined;
    if (!n || typeof n !== 'object') throw new Error(`the config schema has no ${keys.slice(0, i + 1).join('.')}`);
  }
  return n as Schema;
}

/** The one schema of `[phases.NAME]` (its `patternProperties` has a single pattern). */
function phaseSchema(): Schema {
  const patterns = Object.values(at(CONFIG_SCHEMA, 'properties', 'phases', 'patternProperties')) as Schema[];
  if (patterns.length !== 1 || !patterns[0])
    throw new Error(`phases.patternProperties has ${patterns.length} patterns, this test knows one`);
  return patterns[0];
}

/** The schemas of the transports' tables (`notify`'s `additionalProperties.oneOf`), by their `type` const. */
function transportSchemas(): Map<string, Schema> {
  const tables = at(CONFIG_SCHEMA, 'properties', 'notify', 'additionalProperties')['oneOf'] as Schema[];
  return new Map(tables.map((s) => [at(s, 'properties', 'type')['const'] as string, s]));
}

/** Key → whether it is always present after loading (a `default`, or listed in `required`), of a schema object node. */
function shapeOfSchema(node: Schema): Map<string, boolean> {
  const required = new Set((node['required'] as string[] | undefined) ?? []);
  return new Map(Object.entries(at(node, 'properties')).map(([k, v]) => [k, (v as Schema)['default'] !== undefined || required.has(k)]));
}

/**
 * What is wrong between interface `name` (its type `type`) and the schema `node` at `where`,
 * one line each naming the interface and key; empty when they agree.
 */
function drift(name: string, type: ts.Type, node: Schema, where: string, normalised: Record<string, Normalised> = {}): string[] {
  const got = shapeOfType(type);
  const want = shapeOfSchema(node);
  const out: string[] = [];
  for (const [key, n] of Object.entries(normalised)) {
    const inSchema = want.has(key);
    const inType = got.has(key);
    if (n.is === 'added' && inSchema)
      out.push(`${name}.${key} is listed as added by normalisation, but ${where} has the key: drop it from the list`);
    if (n.is !== 'added' && !inSchema) out.push(`${name}.${key} is listed as ${n.is} by normalisation, but ${where} has no such key`);
    if (n.is === 'resolved' && want.get(key))
      out.push(`${name}.${key} is listed as resolved by normalisation, but ${where}.${key} has a default: drop it from the list`);
    if (n.is === 'dropped' && inType) out.push(`${name}.${key} is listed as dropped by normalisation, but the interface has it`);
    if (n.is !== 'dropped' && !inType) out.push(`${name} lacks \`${key}\` (listed as ${n.is} by normalisation: ${n.why})`);
    if (n.is !== 'dropped' && got.get(key))
      out.push(`${name}.${key} is optional, but normalisation always sets it (${n.why}): make it required`);
  }
  for (const [key, optional] of got) {
    if (normalised[key]) continue;
    if (!want.has(key)) out.push(`${name}.${key} is not a key of ${where} (add it to the schema, or remove it from the interface)`);
    else if (optional && want.get(key))
      out.push(`${name}.${key} is optional, but ${where}.${key} has a default or is required, so it is always present: make it required`);
    else if (!optional && !want.get(key))
      out.push(`${name}.${key} is required, but ${where}.${key} has no default and is not required: make it optional`);
  }
  for (const key of want.keys()) {
    if (!got.has(key) && !normalised[key]) out.push(`${name} lacks \`${key}\`, a key of ${where}`);
  }
  for (const [key, spec] of Object.entries(at(node, 'properties')) as Array<[string, Schema]>) {
    const e = enumOf(spec);
    if (!e || !got.has(key)) continue;
    const lits = literalsOf(type, key, e.elements);
    const what = e.elements ? 'elements' : 'values';
    if (lits === undefined)
      out.push(
        `${name}.${key}: ${where}.${key} enumerates its ${what} (${e.values.join(', ')}), the interface's are not a union of string literals`,
      );
    else if (lits.join() !== e.values.join())
      out.push(`${name}.${key} allows ${lits.join(', ')} but ${where}.${key} enumerates ${e.values.join(', ')}`);
  }
  for (const [key, spec] of Object.entries(at(node, 'properties')) as Array<[string, Schema]>) {
    const prop = type.getProperty(key);
    if (!prop || normalised[key]) continue;
    const want = schemaKinds(spec).join(' | ');
    const got = typeKinds(checker.getTypeOfSymbol(prop)).join(' | ');
    if (want !== got) out.push(`${name}.${key} is ${got}, but ${where}.${key} is ${want}`);
  }
  return out;
}

/** The JSON kinds (`number` for `integer`) a schema node admits, sorted; its items' too for an array. */
function schemaKinds(node: Schema): string[] {
  const alternatives = (node['oneOf'] ?? node['anyOf']) as Schema[] | undefined;
  if (alternatives) return [...new Set(alternatives.flatMap(schemaKinds))].sort();
  const c = node['const'] ?? (node['enum'] as unknown[] | undefined)?.[0];
  const types = node['type'] === undefined ? (c === undefined ? [] : [Array.isArray(c) ? 'array' : typeof c]) : [node['type']].flat();
  return [
    ...new Set(
      (types as string[]).map((k) => {
        if (k === 'integer') return 'number';
        const items = node['items'] as Schema | undefined;
        return k === 'array' && items ? `array of ${schemaKinds(items).join(' | ')}` : k;
      }),
    ),
  ].sort();
}

/** The JSON kinds a TypeScript type holds (`undefined` and `null` left out), sorted, as {@link schemaKinds} names them. */
function typeKinds(type: ts.Type): string[] {
  const parts = type.isUnion() ? type.types : [type];
  const kinds = parts.flatMap((p): string[] => {
    const f = p.getFlags();
    if (f & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)) return [];
    if (f & ts.TypeFlags.NumberLike) return ['number'];
    if (f & ts.TypeFlags.StringLike) return ['string'];
    if (f & ts.TypeFlags.BooleanLike) return ['boolean'];
    if (checker.isArrayType(p) || checker.isTupleType(p)) {
      const elements = checker.getTypeArguments(p as ts.TypeReference);
      return [`array of ${[...new Set(elements.flatMap(typeKinds))].sort().join(' | ')}`];
    }
    return ['object'];
  });
  return [...new Set(kinds)].sort();
}

const props = (...path: string[]): Schema => at(CONFIG_SCHEMA, ...path.flatMap((p) => ['properties', p]));

// The keys normalisation adds, resolves or reshapes: the only places the loaded config differs from the
// schema's defaults. Anything else in types.ts must be what the schema says.
const ADDED_NAME: Normalised = { is: 'added', why: "the table's name, `NAME` of `[… .NAME]`" };
const RESHAPED_NAMED: Normalised = { is: 'reshaped', why: 'its `[… .NAME]` tables become a list, each with its `name`' };

const TABLES: Array<{ name: string; path?: string[]; node: Schema; where: string; normalised?: Record<string, Normalised> }> = [
  {
    name: 'AgentRunnerConfig',
    node: CONFIG_SCHEMA,
    where: "the schema's top level",
    normalised: {
      source: { is: 'added', why: 'the absolute path of the file it was read from' },
      project: { is: 'resolved', why: "the work dir's basename when not written" },
      phases: RESHAPED_NAMED,
      hooks: RESHAPED_NAMED,
      notify: RESHAPED_NAMED,
    },
  },
  { name: 'AgentConfig', node: props('agent'), where: '[agent]' },
  { name: 'PatternConfig', node: props('agent', 'patterns'), where: '[agent.patterns]' },
  {
    name: 'RuntimeConfig',
    node: props('runtime'),
    where: '[runtime]',
    normalised: {
      state_dir: { is: 'resolved', why: "the mode's default state directory of the project when not written" },
      log_dir: { is: 'resolved', why: "`<state_dir>/logs` or the mode's default log directory when not written" },
      stop_file: { is: 'resolved', why: '`<state_dir>/run/stop-requested` when not written' },
    },
  },
  { name: 'RuntimeConfig', path: ['backoff'], node: props('runtime', 'backoff'), where: '[runtime.backoff]' },
  { name: 'RuntimeConfig', path: ['crash_loop'], node: props('runtime', 'crash_loop'), where: '[runtime.crash_loop]' },
  { name: 'RuntimeConfig', path: ['auth'], node: props('runtime', 'auth'), where: '[runtime.auth]' },
  {
    name: 'PromptConfig',
    node: props('prompt'),
    where: '[prompt]',
    normalised: {
      file: { is: 'dropped', why: 'folded into `files`' },
      files: { is: 'resolved', why: "`[file]` when `file` is given; a phase's falls back to `[prompt]`" },
    },
  },
  {
    name: 'PhaseConfig',
    node: phaseSchema(),
    where: '[phases.NAME]',
    normalised: {
      name: ADDED_NAME,
      prompt: { is: 'resolved', why: 'falls back to `[prompt]`' },
    },
  },
  { name: 'VcsConfig', node: props('vcs'), where: '[vcs]' },
  {
    name: 'HookConfig',
    node: at(props('hooks'), 'additionalProperties'),
    where: '[hooks.NAME]',
    normalised: {
      name: ADDED_NAME,
      on_failure: { is: 'resolved', why: 'the default of its `on` event (HOOK_FAILURE_DEFAULT) when not written' },
    },
  },
  {
    name: 'MonitorConfig',
    node: props('monitor'),
    where: '[monitor]',
    normalised: { supervisor_stale_threshold_s: { is: 'resolved', why: '1.5 x `runtime.round_timeout_s` when not written' } },
  },
  { name: 'MonitorHostConfig', node: at(props('monitor', 'hosts'), 'additionalProperties'), where: '[monitor.hosts.NAME]' },
  { name: 'BridgeConfig', node: props('bridge'), where: '[bridge]' },
  { name: 'WatchdogConfig', node: props('watchdog'), where: '[watchdog]' },
  { name: 'WatchdogConfig', path: ['stale_after_s'], node: props('watchdog', 'stale_after_s'), where: '[watchdog.stale_after_s]' },
  { name: 'WatchdogConfig', path: ['systemd_units'], node: props('watchdog', 'systemd_units'), where: '[watchdog.systemd_units]' },
  { name: 'WatchdogConfig', path: ['respawn_command'], node: props('watchdog', 'respawn_command'), where: '[watchdog.respawn_command]' },
];

t.test('types.ts type-checks on its own (what the checker reads is what tsc sees)', async (t) => {
  const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
  t.same(diags, []);
});

for (const { name, path = [], node, where, normalised } of TABLES) {
  const label = [name, ...path].join('.');
  t.test(`${label} has the keys of ${where}`, async (t) => {
    t.same(drift(label, typeAt(name, ...path), node, where, normalised), [], `${label} and ${where} disagree (types.ts vs schema.ts)`);
  });
}

t.test('NotifyConfig is one interface per transport, each with the keys of its table', async (t) => {
  const schemas = transportSchemas();
  t.same([...schemas.keys()].sort(), [...NOTIFY_TYPES].sort(), 'the schema has a table per NOTIFY_TYPES entry');
  const union = typeAt('NotifyConfig');
  const members = union.isUnion() ? union.types : [union];
  const byType = new Map<string, ts.Type>();
  for (const m of members) {
    const name = m.getSymbol()?.name ?? checker.typeToString(m);
    const typeProp = m.getProperty('type');
    const literal = typeProp && checker.getTypeOfSymbol(typeProp);
    if (!literal?.isStringLiteral()) {
      t.fail(`${name}: its \`type\` is not a string literal, so NotifyConfig does not narrow on it`);
      continue;
    }
    if (byType.has(literal.value)) t.fail(`NotifyConfig has two members of type "${literal.value}"`);
    byType.set(literal.value, m);
  }
  t.same([...byType.keys()].sort(), [...NOTIFY_TYPES].sort(), 'NotifyConfig has a member per transport type');
  for (const [type, m] of byType) {
    const schema = schemas.get(type);
    if (!schema) continue;
    const name = m.getSymbol()?.name ?? type;
    const where = `[notify.NAME] of type "${type}"`;
    t.same(drift(name, m, schema, where, { name: ADDED_NAME }), [], `${name} and ${where} disagree (types.ts vs schema.ts)`);
  }
});
