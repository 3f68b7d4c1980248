// Module hooks for the tests (`node-arg` in .taprc, after tsx). Plain JavaScript, as it is what
// points at the build rather than a part of it.
//
// A test imports the code under test as `../src/x.js`; this hook hands it `dist/x.js` instead,
// tsc's build of the same file. The tests then run the code that ships, one module instance
// per file (a test's `../src` import and a package import of the same module are the same
// instance), and coverage maps back to the source through tsc's source maps. Through tsx the
// source itself would read as covered whatever ran: tsx minifies the whitespace of what it
// loads and leaves the source text out of its source maps, which the coverage report needs.
import { statSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';

if (isMainThread) register(import.meta.url);

const SOURCE = /^(.*\/packages\/[^/]+\/)src\/(.+)\.ts$/;

/** When `tsc -b` last built each package (its tsconfig.tsbuildinfo), ms; undefined: never. */
const builtAt = new Map();
function lastBuild(pkg) {
  if (!builtAt.has(pkg)) builtAt.set(pkg, statSync(`${pkg}tsconfig.tsbuildinfo`, { throwIfNoEntry: false })?.mtimeMs);
  return builtAt.get(pkg);
}

/**
 * Resolves as the next hook does (tsx: `../src/x.js` to `src/x.ts`), then swaps a package's
 * source file for its build. Fresh means built after the source's last change: tsc leaves an
 * output file alone when its text would not change (a reformatted source), so the package's
 * build info is the clock, not the output file.
 * @throws Error when the build is missing or older than the source: `npx tsc -b` first.
 */
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const m = resolved.url.startsWith('file:') ? SOURCE.exec(fileURLToPath(resolved.url)) : null;
  if (!m) return resolved;
  const src = fileURLToPath(resolved.url);
  const built = `${m[1]}dist/${m[2]}.js`;
  const at = lastBuild(m[1]);
  const missing = at === undefined || !statSync(built, { throwIfNoEntry: false });
  if (missing || at < statSync(src).mtimeMs) {
    throw new Error(
      `${src} ${missing ? 'is not built' : 'changed after the last build'} (${built}): the tests run the built code, so run \`npx tsc -b\` first`,
    );
  }
  return { ...resolved, url: pathToFileURL(built).href, format: 'module' };
}
