#!/usr/bin/env bash
# Packs the CLI as the single npm tarball users install (`npm install -g agent-runner-X.tgz`),
# everything bundled. Why staging: npm does not bundle workspace packages (symlinks in a
# workspace) listed in bundleDependencies, and it counts the dependencies of bundled packages
# as part of the bundle (it never fetches them at install time). So this copies the CLI, the
# internal @agent-runner/* packages (package.json + dist/) and the closure of their runtime
# dependencies from the workspace's node_modules into a staging directory, lists them all in
# bundleDependencies and packs that. The tarball carries no compiled code: `npm install -g`
# runs the install scripts of better-sqlite3 and node-pty (and of ssh2's optional crypto
# binding), which compile for the installing host (python3, make, g++). It is for Linux hosts
# only (x64, arm64, armv7), so the deps' files for other OSes are left out too.
#
#   scripts/pack-cli.sh [DEST_DIR]      prints the tarball path; run `npx tsc -b` first
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$(cd "${1:-.}" && pwd)
stage=$(mktemp -d "${TMPDIR:-/tmp}/ar-pack.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -r "$root/packages/cli/package.json" "$root/packages/cli/bin" "$root/packages/cli/dist" "$stage/"
node - "$stage" "$root" <<'JS'
const fs = require('fs'), path = require('path');
const [stage, root] = process.argv.slice(2);
const pkgFile = path.join(stage, 'package.json');
const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
const internal = new Set(pkg.bundleDependencies || []);
const wsDir = { '@agent-runner/core': 'core', '@agent-runner/runner': 'runner', '@agent-runner/bridge': 'bridge', '@agent-runner/monitor': 'monitor', '@agent-runner/watchdog': 'watchdog' };
const copied = new Set();
function copyDir(src, dst, keep) {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name), d = path.join(dst, e.name);
    const st = fs.statSync(s);
    if (!keep(src, e.name, st.isDirectory()) || /\.test\./.test(e.name)) continue;
    if (st.isDirectory()) copyDir(s, d, keep);
    else fs.copyFileSync(s, d), fs.chmodSync(d, st.mode);
  }
}
// Whether a dep's file is needed to build and run it on Linux; npm then applies the dep's own
// "files". Without this the tarball was 20.9 MB, most of it node-pty's win32 .pdb files.
function forLinux(dir, name, isDir) {
  // Windows executables, DLLs and debug symbols (node-pty's conpty, ssh2's pagent.exe)
  if (!isDir) return !/\.(exe|dll|pdb)$/i.test(name);
  // prebuildify's <platform>-<arch>/ binaries: node-pty has none for Linux, it compiles there
  if (path.basename(dir) === 'prebuilds') return name.startsWith('linux-');
  // node-gyp's output on this host (its arch, its paths): the install script rebuilds it
  if (name === 'build') return !fs.existsSync(path.join(dir, 'binding.gyp'));
  // node-pty's binding.gyp builds these sources only if OS=="win"
  if (name === 'winpty') return false;
  // the deps' own tests and CI, never loaded at run time
  return !['test', 'tests', '.github'].includes(name);
}
function add(name) {
  if (copied.has(name)) return;
  copied.add(name);
  const dst = path.join(stage, 'node_modules', name);
  let src;
  if (internal.has(name)) {
    src = path.join(root, 'packages', wsDir[name]);
    copyDir(src, dst, (dir, n) => dir !== src || n === 'package.json' || n === 'dist');
  } else {
    src = fs.realpathSync(path.join(root, 'node_modules', name));
    // A dep's own node_modules holds the versions npm could not hoist (cli-table3's string-width
    // 4 beside yargs' 7 at the top): copied with it, so each resolves what it resolves here.
    copyDir(src, dst, forLinux);
  }
  follow(src, src);
}
// Adds the top-level packages that `dir` (a package inside `top`) resolves as node does: its
// own node_modules, then each parent's up to `top`'s (copied with `top`), then the root's.
function follow(dir, top) {
  const dep = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const n of Object.keys({ ...dep.dependencies, ...dep.optionalDependencies })) {
    let nested;
    for (let d = dir; !nested && d.startsWith(top); d = path.dirname(d)) {
      if (fs.existsSync(path.join(d, 'node_modules', n, 'package.json'))) nested = path.join(d, 'node_modules', n);
    }
    if (nested) follow(nested, top);
    else if (fs.existsSync(path.join(root, 'node_modules', n)) || internal.has(n)) add(n);
  }
}
for (const n of Object.keys(pkg.dependencies)) add(n);
// Every copied package is hoisted to the top of the bundle; list the direct ones too so
// npm's view of the tree matches what is on disk.
for (const n of copied) if (!(n in pkg.dependencies)) {
  pkg.dependencies[n] = JSON.parse(fs.readFileSync(path.join(stage, 'node_modules', n, 'package.json'), 'utf8')).version;
}
pkg.bundleDependencies = Object.keys(pkg.dependencies);
fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
JS
name=$(cd "$stage" && npm pack --pack-destination "$dest" --silent 2>/dev/null | tail -1)
echo "$dest/$name"
