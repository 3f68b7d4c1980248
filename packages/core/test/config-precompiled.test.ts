import t from 'tap';
import { existsSync } from 'node:fs';
import { CONFIG_SCHEMA } from '../src/config/schema.js';
import { fileURLToPath } from 'node:url';
import { configAjv, loadPrecompiled, schemaHash } from '../src/config/validate.js';

const file = fileURLToPath(new URL('../dist/config/schema-validator.cjs', import.meta.url));

t.test("the build's precompiled validator matches the schema and validates like a fresh compile", async (t) => {
  t.ok(existsSync(file), 'npm run build wrote dist/config/schema-validator.cjs');
  const { validate, script } = loadPrecompiled(file);
  t.equal(script.cachedDataRejected, false, "the build's V8 code cache is accepted by this node");
  const pre = validate as unknown as ((d: unknown) => boolean) & { errors?: Array<Record<string, unknown>>; schemaHash: string };
  t.equal(pre.schemaHash, schemaHash(), 'generated from the current schema (run `npm run build`)');
  const fresh = configAjv().compile(CONFIG_SCHEMA);
  const samples: unknown[] = [
    { agent: { command: ['x'] }, prompt: { file: 'p' } },
    { agent: { command: 'x', bogus: 1 }, prompt: {}, runtime: { restart_delay_s: -1, grace_kill_ignore_patterns: ['('] } },
    {
      agent: { command: ['x'] },
      prompt: { file: 'p' },
      notify: {
        a: { type: 'email', smtp_host: 'h', from: 'x', to: ['nope'] },
        b: { type: 'pager' },
        c: { type: 'webhook', url: 'ftp:/x' },
      },
    },
  ];
  for (const s of samples) {
    const a = structuredClone(s);
    const b = structuredClone(s);
    t.equal(pre(a), fresh(b));
    t.same(a, b, 'same defaults applied');
    const strip = (errs: Array<Record<string, unknown>> | null | undefined) =>
      (errs ?? []).map((e) => [e['keyword'], e['instancePath'], e['params']]);
    // ajv's ErrorObject is a plain record; compared field by field like the precompiled one's.
    t.same(strip(pre.errors), strip(fresh.errors as unknown as Array<Record<string, unknown>>), 'same errors');
  }
});
