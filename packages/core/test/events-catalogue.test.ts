// The catalogue is sound (names, versions, no envelope collisions), its derived TypeScript
// types reject bad payloads at compile time, and docs/events.md is up to date.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { KindSpec } from '../src/events/index.js';
import { ENVELOPE_FIELDS, EVENT_CATALOGUE, EVENT_KINDS, lintCatalogue, renderEventsDoc } from '../src/events/index.js';

t.test('the catalogue lints clean', (t) => {
  t.same(lintCatalogue(), []);
  t.end();
});

t.test('no payload field collides with an envelope field', (t) => {
  const envelope = new Set<string>(ENVELOPE_FIELDS);
  const catalogue: Record<string, KindSpec> = EVENT_CATALOGUE;
  const collisions = Object.entries(catalogue).flatMap(([kind, spec]) =>
    Object.keys(spec.fields)
      .filter((f) => envelope.has(f))
      .map((f) => `${kind}.${f}`),
  );
  t.same(collisions, []);
  // And the lint would catch one.
  const bad: Record<string, KindSpec> = {
    bad_kind: {
      version: 1,
      units: ['runner'],
      severity: 'info',
      description: 'x',
      fields: { round: { type: 'integer', required: true, description: 'collides' } },
    },
  };
  t.match(lintCatalogue(bad), [/bad_kind\.round: payload field collides with the envelope/]);
  t.match(lintCatalogue({ BadName: { version: 0, units: [], severity: 'info', description: 'a\nb', fields: {} } }), [
    /not snake_case/,
    /version/,
    /no emitting unit/,
    /one non-empty line/,
  ]);
  t.end();
});

t.test('the kinds required by issue 2 are catalogued', (t) => {
  const required = [
    'serve_started',
    'serve_stopped',
    'round_start',
    'round_end',
    'round_interrupted',
    'round_grace_extended',
    'round_grace_kill',
    'round_timeout_kill',
    'round_inactivity_kill',
    'stop_file_detected',
    'agent_self_terminated',
    'max_rounds_reached',
    'crash_loop',
    'config_broken',
    'backoff_started',
    'transient_error_detected',
    'transient_error_recovered',
    'vcs_stashed',
    'vcs_committed',
    'vcs_dirty_ignored',
    'restart_marker_consumed',
    'service_upgraded',
    'package_upgraded',
    'service_upgrade_rolled_back',
    'service_upgrade_rollback_failed',
    'monitor_remote_blip',
    'monitor_remote_giveup',
    'heal_action',
    'heal_verdict_changed',
    'notification_dead_lettered',
    'command_received',
  ];
  t.same(
    required.filter((k) => !(EVENT_KINDS as string[]).includes(k)),
    [],
  );
  t.equal(EVENT_CATALOGUE.agent_self_terminated.fields.reason.maxLength, 200);
  t.end();
});

t.test('docs/events.md is generated from the catalogue', (t) => {
  const path = fileURLToPath(new URL('../../../docs/events.md', import.meta.url));
  let onDisk = '';
  try {
    onDisk = readFileSync(path, 'utf8');
  } catch {
    // reported below
  }
  const rendered = renderEventsDoc();
  t.ok(onDisk === rendered, 'docs/events.md is stale or missing: run `npm run docs` and commit the result');
  for (const kind of EVENT_KINDS) t.ok(rendered.includes(`### \`${kind}\``), `section for ${kind}`);
  t.end();
});

t.test('payload types derived from the catalogue reject wrong events at compile time', async (t) => {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve('typescript/bin/tsc');
  const fixture = fileURLToPath(new URL('./fixtures/events-emit-types.ts', import.meta.url));
  const args = [
    tsc,
    '--noEmit',
    '--strict',
    '--noUncheckedIndexedAccess',
    '--verbatimModuleSyntax',
    '--skipLibCheck',
    '--target',
    'es2022',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--types',
    'node',
    fixture,
  ];
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: stdout + stderr }),
    );
  });
  t.equal(out.code, 0, 'valid calls compile and every @ts-expect-error is an error');
  t.equal(out.text.trim(), '', out.text);
});
