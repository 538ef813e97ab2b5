#!/usr/bin/env node
'use strict';
// Entry point of the `atomic` CLI. A CommonJS file (bin/package.json): an ES module entry costs
// Node ~15-20 M instructions more than a CommonJS one (its ESM loader), a sixth of what a list
// command adds to `node -e 0` (docs/benchmarks.md, "Start-up").
//
// `npm run build` bundles the CLI into one CommonJS file, dist/bundle/main.cjs, plus a V8 code
// cache of it (scripts/gen-bundle.mjs). It is used while dist/bundle/source.json matches the size
// and mtime of dist/src/cli/main.js (a bare `tsc` rewrites that file: then dist/src is loaded,
// slower, never wrong; ATOMIC_NO_BUNDLE=1 does the same), and the cache only while its header
// names the build that source.json names (a random id per build; V8 itself also rejects a cache
// made by another V8 version, with other flags or for a source of another length: then it
// compiles as usual).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const BUNDLE = path.join(root, 'dist', 'bundle', 'main.cjs');
const CACHE = `${BUNDLE}.cache`;

/** The bundle's exports and its compiled script, or null when there is no fresh bundle. */
function loadBundle(useCache) {
  let fd;
  let rec;
  try {
    rec = JSON.parse(fs.readFileSync(path.join(root, 'dist', 'bundle', 'source.json'), 'utf8'));
    const st = fs.statSync(path.join(root, 'dist', 'src', 'cli', 'main.js'));
    if (st.size !== rec.size || st.mtimeMs !== rec.mtimeMs || process.env.ATOMIC_NO_BUNDLE === '1') return null;
    fd = fs.openSync(BUNDLE, 'r');
  } catch {
    return null; // no bundle (or unreadable): the unbundled modules
  }
  // gen-bundle.mjs writes it in ASCII (latin1 decodes it as UTF-8 would, without the UTF-8 pass),
  // as the function a CommonJS module's body runs in (it is an expression: nothing to wrap)
  const src = fs.readFileSync(fd, 'latin1');
  fs.closeSync(fd);
  let cachedData;
  if (useCache) {
    try {
      const c = fs.readFileSync(CACHE);
      const nl = c.indexOf(10);
      const h = JSON.parse(c.subarray(0, nl).toString('latin1'));
      if (h.build === rec.build) cachedData = c.subarray(nl + 1);
    } catch {
      // no cache: V8 compiles the bundle as it runs
    }
  }
  const vm = require('node:vm');
  const script = new vm.Script(src, { filename: BUNDLE, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require('node:module').createRequire(BUNDLE), mod, BUNDLE, path.dirname(BUNDLE));
  return { exports: mod.exports, script, build: rec.build, fast: rec.fast };
}

/**
 * Run by gen-bundle.mjs at build time: runs the list commands through the bundle on an empty
 * sysroot (they print nothing there) and writes the V8 code cache of every function they
 * compiled, behind a header naming the build (source.json's id).
 */
async function writeCodeCache(sysroot) {
  const b = loadBundle(false);
  if (!b) throw new Error('writeCodeCache: no fresh dist/bundle/main.cjs');
  process.env.ATOMIC_SYSROOT = sysroot;
  const url = require('node:url').pathToFileURL(__filename).href;
  for (const args of [
    ['images', 'list'],
    ['containers', 'list', '-a'],
  ])
    await b.exports.main(args, url, b.fast);
  const data = b.script.createCachedData();
  const tmp = `${CACHE}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([Buffer.from(JSON.stringify({ build: b.build }) + '\n', 'latin1'), data]));
  fs.renameSync(tmp, CACHE);
  return data.length;
}

async function run() {
  const argv = process.argv.slice(2);
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    // atomic's `-v/--version` (argparse action='version'): the bare version number, as cli/main.ts prints it
    let version = '0.0.0';
    try {
      version = String(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version ?? '0.0.0');
    } catch {
      // as cli/main.ts: no package.json, 0.0.0
    }
    // one write(2) to fd 1: creating process.stdout alone costs ~11 M instructions
    let line = `${version}\n`;
    try {
      line = line.slice(fs.writeSync(1, line)); // ASCII: bytes are characters
    } catch {
      // EAGAIN on a non-blocking pipe, ...: through the stream as before
    }
    if (line) process.stdout.write(line);
    return;
  }
  const url = require('node:url').pathToFileURL(__filename).href;
  const b = loadBundle(true);
  if (b) return b.exports.main(argv, url, b.fast);
  const { main } = await import(require('node:url').pathToFileURL(path.join(root, 'dist', 'src', 'cli', 'main.js')).href);
  await main(argv, url);
}

if (require.main === module) {
  run().catch((err) => {
    process.exitCode = 1;
    throw err;
  });
}
module.exports = { writeCodeCache };
