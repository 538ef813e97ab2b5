#!/bin/sh
':' //; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then ATOMIC_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export ATOMIC_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"
'use strict';
// The two lines above are read by sh, then by node (a comment and a string to JavaScript). Node
// parses the file named by NODE_EXTRA_CA_CERTS when it starts, before any of our code runs: with
// a distribution's whole CA bundle there (as on machines behind a TLS proxy) that is ~40 ms and
// ~400 M instructions, about half of `node -e 0`, for commands that make no TLS connection at
// all. So sh hands the file on as ATOMIC_NODE_EXTRA_CA_CERTS; the registry client adds those
// CAs to the system roots at its first TLS connection (src/util/extra-ca.ts), and the variable
// is put back below for the commands we run. `node bin/run.js` works as before (node loads the
// file itself then). `exec node "$0"`: node resolves the symlink npm makes to this file.
if (process.env.ATOMIC_NODE_EXTRA_CA_CERTS && process.env.NODE_EXTRA_CA_CERTS === undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.ATOMIC_NODE_EXTRA_CA_CERTS;
}
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
// compiles as usual). `install`, `containers update`, `containers rollback`, `uninstall` and `pull`
// have a cache each (main.cjs.KEY.cache, made by running that command at build time), every other
// command the one made by running the list commands: a cache is deserialized whole, so the
// start-up commands do not pay for the deploy code, and a deploy command does not compile its code
// on each call.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const BUNDLE = path.join(root, 'dist', 'bundle', 'main.cjs');
const CACHE = `${BUNDLE}.cache`;
/** The commands with a code cache of their own (KEY: argv words), see writeCodeCache. */
const OWN_CACHE = { install: ['install'], update: ['containers', 'update'], rollback: ['containers', 'rollback'], pull: ['pull'], uninstall: ['uninstall'] };

/** The code cache file for ARGV: its command's own, else the lists' (a wrong guess is only slower). */
function cacheFile(argv) {
  for (const [key, words] of Object.entries(OWN_CACHE)) if (words.every((w, i) => argv[i] === w)) return `${BUNDLE}.${key}.cache`;
  return CACHE;
}

/** The bundle's exports and its compiled script, or null when there is no fresh bundle. */
function loadBundle(cacheFileName) {
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
  // a command's own cache, else (a build not run as root writes none) the lists' cache, which
  // holds the CLI's common code
  const files = !cacheFileName ? [] : cacheFileName === CACHE ? [CACHE] : [cacheFileName, CACHE];
  for (const file of files) {
    try {
      const c = fs.readFileSync(file);
      const nl = c.indexOf(10);
      const h = JSON.parse(c.subarray(0, nl).toString('latin1'));
      if (h.build === rec.build) cachedData = c.subarray(nl + 1);
      break;
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
 * Run by gen-bundle.mjs at build time: runs the ARGVS through the bundle (by default the list
 * commands on the empty SYSROOT: they print nothing there) and writes the V8 code cache of every
 * function they compiled, behind a header naming the build (source.json's id), to the cache of
 * KEY (an OWN_CACHE key; by default the lists' cache). A command that fails is reported on stderr
 * and the cache written anyway (it then holds less: the command compiles the rest when it runs).
 */
async function writeCodeCache(sysroot, argvs, key) {
  const b = loadBundle(null);
  if (!b) throw new Error('writeCodeCache: no fresh dist/bundle/main.cjs');
  const url = require('node:url').pathToFileURL(__filename).href;
  if (!argvs) {
    process.env.ATOMIC_SYSROOT = sysroot;
    argvs = [
      ['images', 'list'],
      ['containers', 'list', '-a'],
    ];
  }
  for (const args of argvs) {
    try {
      await b.exports.main(args, url, b.fast);
    } catch (err) {
      process.exitCode = 1;
      process.stderr.write(`writeCodeCache: ${args.join(' ')}: ${err && err.message}\n`);
    }
    if (process.exitCode) process.stderr.write(`writeCodeCache: ${args.join(' ')} exited with ${process.exitCode}: the code cache covers less of it\n`);
    process.exitCode = 0;
  }
  const data = b.script.createCachedData();
  const file = key ? `${BUNDLE}.${key}.cache` : CACHE;
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([Buffer.from(JSON.stringify({ build: b.build }) + '\n', 'latin1'), data]));
  fs.renameSync(tmp, file);
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
  const b = loadBundle(cacheFile(argv));
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
