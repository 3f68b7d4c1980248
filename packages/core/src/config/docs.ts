import { CONFIG_SCHEMA, NO_NUL } from './schema.js';

type Node = Record<string, unknown>;

function typeOf(n: Node): string {
  if (n['const'] !== undefined) return `\`${JSON.stringify(n['const'])}\``;
  if (Array.isArray(n['enum'])) return (n['enum'] as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  const t = n['type'];
  const base = Array.isArray(t) ? t.join(' \\| ') : String(t ?? 'any');
  if (base === 'array') {
    const items = (n['items'] ?? {}) as Node;
    return `array of ${typeOf(items)}`;
  }
  if (base === 'object' && n['additionalProperties'] && typeof n['additionalProperties'] === 'object')
    return `table of ${typeOf(n['additionalProperties'] as Node)}`;
  return base;
}

function range(n: Node): string {
  const parts: string[] = [];
  if (n['minimum'] !== undefined) parts.push(`>= ${String(n['minimum'])}`);
  if (n['maximum'] !== undefined) parts.push(`<= ${String(n['maximum'])}`);
  // NO_NUL guards spawn and open from a `\u0000` escape; no one writes one by accident, so the
  // tables do not repeat it on every path.
  if (n['pattern'] && n['pattern'] !== NO_NUL) parts.push(`matches \`/${String(n['pattern'])}/\``);
  if (n['format']) parts.push(`${String(n['format'])}`);
  if (n['minItems']) parts.push(`at least ${String(n['minItems'])} item(s)`);
  if (n['x-unit']) parts.push(`unit: ${String(n['x-unit'])}`);
  if (n['x-path']) parts.push(`path (relative to the ${n['x-path'] === 'work_dir' ? 'work dir' : 'config file'})`);
  return parts.join('; ');
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The schema of each `[TABLE.NAME]` when a table holds tables by name, all of one shape (`[hooks.NAME]`). */
function namedTable(n: Node): Node | undefined {
  const add = n['additionalProperties'];
  // A `oneOf` of shapes (`[notify.NAME]`, one per `type`) is rendered per branch instead.
  return add && typeof add === 'object' && (add as Node)['properties'] && !(add as Node)['oneOf'] ? (add as Node) : undefined;
}

/** A node rendered as a section of its own, not as a row. */
const isSection = (n: Node): boolean => n['type'] === 'object' && Boolean(n['properties'] || namedTable(n));

function table(prefix: string, node: Node, required: string[], out: string[]): void {
  const props = (node['properties'] ?? {}) as Record<string, Node>;
  const leaves = Object.entries(props).filter(([, n]) => !isSection(n));
  if (leaves.length) {
    out.push('| key | type | default | constraints | description |', '|---|---|---|---|---|');
    for (const [k, n] of leaves) {
      const def = n['default'] === undefined ? (required.includes(k) ? '**required**' : '') : `\`${JSON.stringify(n['default'])}\``;
      out.push(`| \`${k}\` | ${typeOf(n)} | ${cell(def)} | ${cell(range(n))} | ${cell(String(n['description'] ?? ''))} |`);
    }
    out.push('');
  }
  for (const [k, n] of Object.entries(props)) {
    if (isSection(n)) section(`${prefix}${prefix ? '.' : ''}${k}`, n, out);
  }
}

function section(name: string, node: Node, out: string[]): void {
  out.push(`## \`[${name}]\``, '', String(node['description'] ?? ''), '');
  table(name, node, (node['required'] as string[] | undefined) ?? [], out);
  const pattern = node['patternProperties'] as Record<string, Node> | undefined;
  for (const [re, n] of Object.entries(pattern ?? {})) {
    out.push(`### \`[${name}.NAME]\` (NAME matches \`/${re}/\`)`, '', String(n['description'] ?? ''), '');
    table(`${name}.NAME`, n, [], out);
  }
  const named = namedTable(node);
  if (named) {
    const re = (node['propertyNames'] as Node | undefined)?.['pattern'];
    out.push(
      `### \`[${name}.NAME]\`${typeof re === 'string' ? ` (NAME matches \`/${re}/\`)` : ''}`,
      '',
      String(named['description'] ?? ''),
      '',
    );
    table(`${name}.NAME`, named, (named['required'] as string[] | undefined) ?? [], out);
  }
  const add = node['additionalProperties'];
  if (add && typeof add === 'object' && Array.isArray((add as Node)['oneOf'])) {
    for (const branch of (add as Node)['oneOf'] as Node[]) {
      const t = ((branch['properties'] as Record<string, Node>)['type'] as Node)['const'];
      out.push(`### \`[${name}.NAME]\` with \`type = "${String(t)}"\``, '', String(branch['description'] ?? ''), '');
      table(`${name}.NAME`, branch, (branch['required'] as string[]) ?? [], out);
    }
  }
}

/** Renders docs/configuration.md from the schema, so the reference can never drift. */
export function renderConfigDoc(): string {
  const out: string[] = [
    '# Configuration reference: `agent-runner.toml`',
    '',
    '<!-- Generated from packages/core/src/config/schema.ts by `npm run docs`; do not edit. -->',
    '',
    'agent-runner reads one TOML file per project (`--config PATH`, `$AGENT_RUNNER_CONFIG`, or',
    '`agent-runner.toml` in the current directory or a parent). Unknown keys are errors (with a',
    'did-you-mean), as are wrong types and out-of-range values; every error names the file, line,',
    'column and key, and `agent-runner config check` exits 78 on any of them.',
    '',
    "Paths may use `~` and `{project}`; relative paths resolve against the config file's",
    'directory (or the work dir where noted). Durations are seconds, sizes bytes. Secrets are',
    'never written in this file: `*_env` names an environment variable and `*_file` a file',
    '(for systemd `LoadCredential=`, `${CREDENTIALS_DIRECTORY}/NAME`).',
    '',
    '## Top level',
    '',
  ];
  const top = CONFIG_SCHEMA as Node;
  const props = top['properties'] as Record<string, Node>;
  out.push('| key | type | default | constraints | description |', '|---|---|---|---|---|');
  for (const [k, n] of Object.entries(props)) {
    if (n['type'] !== 'object') out.push(`| \`${k}\` | ${typeOf(n)} | | ${cell(range(n))} | ${cell(String(n['description'] ?? ''))} |`);
  }
  out.push('');
  for (const [k, n] of Object.entries(props)) if (n['type'] === 'object') section(k, n, out);
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
