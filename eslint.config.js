// ESLint (flat config): typescript-eslint's recommended rules, and the import graph the
// architecture fixes — core ← daemons (runner, bridge, monitor, watchdog) ← cli, no daemon
// importing another, no package reaching into another's files by a relative path. Run by
// .ci/run (`npx eslint .`); Prettier owns formatting.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const DAEMONS = ['runner', 'bridge', 'monitor', 'watchdog'];

/** `no-restricted-imports` allowing only these `@agent-runner/*` packages, and no relative path out of the package. */
function importsOnly(allowed, why) {
  const ok = allowed.length ? `(?!(${allowed.join('|')})(/|$))` : '';
  return {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          { regex: `^@agent-runner/${ok}`, message: why },
          {
            regex: '^(\\.\\./)+(core|runner|bridge|monitor|watchdog|cli|testkit)/',
            message:
              'Import another package by its name and exports (`@agent-runner/<pkg>/<module>`), not by a relative path into its files.',
          },
        ],
      },
    ],
  };
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.cache/**', 'bench/.data/**', 'tap-snapshots/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    rules: {
      // `_name` marks what a signature or a destructuring must name but does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Terminal output and file names are parsed for control characters (ESC sequences, NUL) on purpose.
      'no-control-regex': 'off',
    },
  },
  { files: ['packages/core/src/**'], rules: importsOnly([], 'core depends on no other agent-runner package (core ← daemons ← cli).') },
  { files: ['packages/core/test/**'], rules: importsOnly(['core', 'testkit'], "core's tests use core and testkit only.") },
  ...DAEMONS.map((d) => ({
    files: [`packages/${d}/src/**`],
    rules: importsOnly(['core'], `a daemon imports only core (core ← daemons ← cli); what two daemons share belongs in core.`),
  })),
  ...DAEMONS.map((d) => ({
    files: [`packages/${d}/test/**`, `packages/${d}/e2e/**`],
    rules: importsOnly(['core', 'testkit', d], `${d}'s tests use core, testkit and ${d} itself; a test of another package belongs there.`),
  })),
  {
    files: ['packages/testkit/**'],
    rules: importsOnly(
      ['core', 'testkit'],
      'testkit builds on core only: it stands in for the world around the product, not for its daemons.',
    ),
  },
  { files: ['packages/cli/src/**'], rules: importsOnly(['core', ...DAEMONS], 'the CLI uses core and the daemons, never the testkit.') },
);
