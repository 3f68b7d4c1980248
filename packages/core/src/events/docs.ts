import { EVENT_CATALOGUE } from './catalogue.js';
import type { KindSpec } from './types.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function kindSection(kind: string, spec: KindSpec): string[] {
  const rows = Object.entries(spec.fields).map(([name, f]) => {
    const limit = f.maxLength === undefined ? '' : ` (at most ${f.maxLength} characters)`;
    return `| \`${name}\` | \`${cell(f.type)}\` | ${f.required ? 'yes' : 'no'} | ${cell(f.description)}${limit} |`;
  });
  return [
    `### \`${kind}\``,
    '',
    spec.description,
    '',
    `- version: ${spec.version}`,
    `- emitted by: ${spec.units.map((u) => `\`${u}\``).join(', ')}`,
    `- severity: \`${spec.severity}\``,
    '',
    ...(rows.length === 0 ? ['No payload fields.'] : ['| field | type | required | description |', '|---|---|---|---|', ...rows]),
    '',
  ];
}

/**
 * Renders `docs/events.md` from the event catalogue: the line format, then one section per
 * kind (version, emitting units, severity, description, payload table). Deterministic, so a
 * test can compare it with the committed file.
 */
export function renderEventsDoc(): string {
  const catalogue: Record<string, KindSpec> = EVENT_CATALOGUE;
  const index = Object.entries(catalogue).map(
    ([kind, s]) => `| [\`${kind}\`](#${kind}) | ${s.units.join(', ')} | ${s.severity} | ${cell(s.description)} |`,
  );
  return [
    '# Events',
    '',
    '<!-- Generated from packages/core/src/events/catalogue.ts by `npm run docs`; do not edit. -->',
    '',
    'Every agent-runner process appends typed events to one JSONL stream per project: the',
    'narrative of what happened, cheap to append and easy to tail. The SQLite ledger is the',
    'durable record; events may lose their last lines in a power cut, the ledger does not.',
    '',
    '## Files',
    '',
    '- `<log_dir>/events/events-YYYY-MM-DD.jsonl`, one file per UTC day of the `ts` of its events;',
    '  files are 0600, the directory 0700.',
    '- One event per line, compact JSON, UTF-8, terminated by `\\n`. Each line is written with a',
    '  single `write(2)` on a file opened with `O_APPEND`, so lines of concurrent processes never',
    '  interleave. Within a file, lines are in append order, which is `ts` order up to small',
    '  cross-process skew.',
    '- A final fragment without `\\n` is a line being written (or torn by a crash); readers skip',
    '  unparseable lines and count them.',
    '- Retention deletes whole files by age and total size, never the current day.',
    '',
    '## Envelope',
    '',
    'Every line starts with the envelope; the payload fields of the kind follow, flattened into',
    'the same object. Payload fields never reuse an envelope name.',
    '',
    '```json',
    '{"v":1,"ts":"2026-05-01T12:00:00.000Z","kind":"round_start","unit":"runner","project":"demo","round":42,"phase":"default","prompt_bytes":5120,"log_file":"/var/log/agent-runner/demo/rounds/R42-20260501T120000Z.log"}',
    '```',
    '',
    '| field | type | description |',
    '|---|---|---|',
    '| `v` | integer | Version of the kind (below); bumped for compatible additions. |',
    '| `ts` | string | ISO-8601 UTC time with milliseconds, e.g. `2026-05-01T12:00:00.000Z`. |',
    '| `kind` | string | Event kind (below). A kind is never renamed; a breaking change gets a new kind. |',
    '| `unit` | string | Emitting process: `runner`, `bridge`, `watchdog`, `monitor` or `cli`. |',
    '| `project` | string | Project name (the systemd instance name). |',
    '| `round` | integer | Round the event belongs to; absent when it belongs to none. |',
    '',
    'Fields of type `T|null` are always present when required, `null` meaning known-absent;',
    'optional fields may be omitted. Readers must ignore fields they do not know.',
    '',
    'Examples:',
    '',
    '```sh',
    'jq -c \'select(.kind == "round_end") | {round, classification, duration_s}\' events-*.jsonl',
    'grep -h \'"kind":"crash_loop"\' events-*.jsonl | jq .',
    '```',
    '',
    '## Kinds',
    '',
    '| kind | units | severity | description |',
    '|---|---|---|---|',
    ...index,
    '',
    ...Object.entries(catalogue).flatMap(([kind, spec]) => kindSection(kind, spec)),
  ].join('\n');
}
