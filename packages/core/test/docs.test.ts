import t from 'tap';
import { readFileSync } from 'node:fs';
import { renderErrorsDoc, ERROR_CODES, EXIT } from '../src/errors.js';
import { renderHooksDoc } from '../src/hooks.js';

const root = new URL('../../../', import.meta.url).pathname;

t.test('docs/errors.md is generated from the error catalogue and current', async (t) => {
  t.equal(readFileSync(`${root}docs/errors.md`, 'utf8'), renderErrorsDoc(), 'docs/errors.md is stale: run `npm run docs`');
});

t.test('docs/hooks.md is generated from the hook formats and current', async (t) => {
  t.equal(readFileSync(`${root}docs/hooks.md`, 'utf8'), renderHooksDoc(), 'docs/hooks.md is stale: run `npm run docs`');
});

t.test('every error code maps to a sysexits code and has a hint', async (t) => {
  const exits = new Set<number>(Object.values(EXIT));
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    t.match(code, /^ERR_AR_[A-Z_]+$/);
    t.ok(exits.has(spec.exit), `${code} exits with a known code`);
    t.ok(spec.hint.length > 10, `${code} has a hint`);
  }
  t.equal(ERROR_CODES.ERR_AR_CONFIG_SYNTAX.exit, 78, 'config errors exit 78 (RestartPreventExitStatus)');
});
