#!/usr/bin/env node
// gen-bundle.mjs: bundles the compiled CLI entry (dist/src/cli/main.js) and every module it reaches,
// statically or through import(), into one CommonJS file, dist/bundle/main.cjs (esbuild), and
// writes a V8 code cache of it (dist/bundle/main.cjs.cache). Node 20 has no module compile cache:
// resolving, reading and linking each ES module costs ~0.5-1 ms and an ES module entry alone
// ~15-20 M instructions (its loader); `vm.Script` takes a code cache for a CommonJS-style script,
// which then needs no parsing nor compiling of the functions the cache holds (docs/benchmarks.md,
// "Start-up"). The import() boundaries stay lazy: each bundled module's body runs when first
// imported, as before. npm packages stay external (require()d from node_modules; all of them are
// CommonJS), and so do the oclif command files: the oclif path (any command or flag the fast path
// does not handle) runs the unbundled dist/src as before.
//
// `import.meta.url` inside a bundled module is rewritten to the URL of its original file in
// dist/src (relative to the bundle, so the package can move), because a few modules find files
// next to themselves (generated validators, schemas, the store's worker script).
//
// The code cache is made by running `images list` and `containers list -a` through the bundle on
// an empty sysroot (bin/run.js writeCodeCache): it holds the functions those compile, so the
// start-up fast path runs without compiling; any other command compiles what else it needs.
// `install --system`, `containers update --rebase`, `containers rollback` and `uninstall` get a
// cache each (main.cjs.install.cache, .update.cache, .rollback.cache, .uninstall.cache), made the
// same way by running them on a scratch sysroot with two tiny images built from
// exports-examples/hello-web (no busybox layer), under a signature policy of their own (the host
// may have none yet); without them each deploy call compiled ~60 M instructions of our code (docs/benchmarks.md,
// "Install / update / rollback, sixth session"). They need root (--system) and the tools an
// install runs; when the warm-up install fails they are not written (the commands then compile
// as they run: slower, never wrong).
// `pull` gets one too (main.cjs.pull.cache), made by a cold and then a no-op pull of the first
// warm-up image into a store of its own, with V8's default flags (ATOMIC_V8_DEFAULTS=1): a pull
// sets the lean-heap flags while it imports (cli/lean-heap.ts), those change V8's flag hash, and
// V8 rejects a cache written under another hash in every process that loads it - which then
// compiles everything (a no-op registry pull 262 -> 342 M instructions instead of -> 237 M).
// It holds the import and the OCI-layout transport; the registry client compiles as it runs.
//
// bin/run.js uses the bundle only while dist/bundle/source.json matches the size and mtime of
// dist/src/cli/main.js (tsc rewrites every output file on each build: after a bare `tsc` the bundle
// is stale and bin/run.js loads dist/src instead - slower, never wrong). Run by `npm run build`.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'dist', 'src');
const out = path.join(root, 'dist', 'bundle');
const entry = path.join(src, 'cli', 'main.js');
const bundle = path.join(out, 'main.cjs');
// bin/run.js's HEAD and TAIL: the bundle becomes the body of a CommonJS module's function
const HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const TAIL = '\n})';

// the URL of a bundled module's original file, from its path relative to the bundle's directory
const BANNER = `"use strict";
const __atomicModuleUrl = (rel) => require("node:url").pathToFileURL(require("node:path").join(__dirname, rel)).href;`;

const relocate = {
  name: 'relocate-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, async (args) => {
      let text = await fs.promises.readFile(args.path, 'utf8');
      if (text.includes('import.meta.url')) {
        const rel = path.relative(out, args.path).split(path.sep).join('/');
        text = text.replaceAll('import.meta.url', `__atomicModuleUrl(${JSON.stringify(rel)})`);
      }
      return { contents: text, loader: 'js' };
    });
  },
};

fs.rmSync(out, { recursive: true, force: true });
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // a worktree whose node_modules predate the dev dependency: the CLI runs unbundled (bin/run.js)
  console.log('gen-bundle: esbuild is not installed (run npm ci): no dist/bundle, the CLI loads dist/src');
  process.exit(0);
}
const r = await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outfile: bundle,
  // import() of an npm package or node: module becomes require() (vm.Script code has no ES module loader)
  supported: { 'dynamic-import': false },
  charset: 'ascii',
  banner: { js: BANNER },
  plugins: [relocate],
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
});
// bin/run.js reads the bundle as latin1 (no UTF-8 decoding pass): it must be ASCII. esbuild
// escapes every other character in code (charset: ascii) but leaves comments as they are: those
// characters become '?', and the bundle minus its comments must be exactly what esbuild wrote.
const text = fs.readFileSync(bundle, 'utf8');
let ascii = text.replace(/[^\p{ASCII}]/gu, '?');
if (ascii !== text) {
  const strip = async (t) => (await esbuild.transform(t, { minify: true, charset: 'ascii', format: 'cjs', legalComments: 'none' })).code;
  if ((await strip(ascii)) !== (await strip(text))) throw new Error('gen-bundle: non-ASCII characters outside comments in dist/bundle/main.cjs');
}
// `import * as fs from 'node:fs'` becomes `__toESM(require("node:fs"), 1)` in each of the ~60
// modules that say it: a fresh object with a getter per export (~100 for node:fs) each time. ES
// modules share one namespace object per module: so do these (the getters read the module live).
const TO_ESM = /var __toESM ?= ?\(mod, ?isNodeMode, ?target\) ?=>/g;
if ((ascii.match(TO_ESM) ?? []).length !== 1) throw new Error(`gen-bundle: esbuild's helper ${TO_ESM} not found once in the bundle (esbuild changed?)`);
ascii = ascii.replace(
  TO_ESM,
  'var __toESMSeen = new WeakMap();\n' +
    'var __toESM = (mod, isNodeMode) => {\n' +
    '  if (mod === null || (typeof mod !== "object" && typeof mod !== "function")) return __toESMFresh(mod, isNodeMode);\n' +
    '  let seen = __toESMSeen.get(mod);\n' +
    '  if (!seen) __toESMSeen.set(mod, (seen = []));\n' +
    '  return (seen[isNodeMode ? 1 : 0] ??= __toESMFresh(mod, isNodeMode));\n' +
    '};\n' +
    'var __toESMFresh = (mod, isNodeMode, target) =>',
);
// `import { spawnSync } from 'node:child_process'` (or `{ Worker } from 'node:worker_threads'`) at
// the top of a module loads that built-in when the module is first imported, used or not: an
// install loaded both (child_process brings net, dgram and their streams: ~11 M instructions;
// worker_threads ~15-20 M) and, on its quiet path, spawns no process and starts no worker. These
// two are required on first use instead (a Proxy that loads the module at its first property
// access; esbuild leaves named imports as `mod.name` accesses, so every use goes through it).
// @napi-rs/xattr too (seventh session): loading the native module (dlopen, N-API set-up) cost
// ~13 M instructions, and an install, update or rollback of a bare store's image reads no xattr.
// node:stream (eleventh session): ~30 internal modules (~3 ms here) that an install, update or
// rollback of a stored image never uses (it reads small objects whole); a module whose class
// extends Transform loads it when that module is first imported, i.e. in pulls.
const LAZY_BUILTINS = ['node:child_process', 'node:worker_threads', '@napi-rs/xattr', 'node:v8', 'node:crypto', 'node:stream', 'node:stream/promises'];
for (const id of LAZY_BUILTINS) {
  const plain = `require(${JSON.stringify(id)})`;
  if (ascii.includes(`__toESM(${plain}`)) throw new Error(`gen-bundle: ${id} is imported as a namespace somewhere: __toESM would load it at once (use named imports)`);
  ascii = ascii.replaceAll(plain, `__atomicLazyRequire(${JSON.stringify(id)})`);
}
ascii = ascii.replace(
  BANNER,
  BANNER +
    ' const __atomicLazyRequire = (id) => { let m; const load = () => (m ??= require(id)); return new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load(), ownKeys: () => Reflect.ownKeys(load()), getOwnPropertyDescriptor: (_, k) => { const d = Object.getOwnPropertyDescriptor(load(), k); return d && { ...d, configurable: true }; } }); };',
);
// the bundle is stored as the function bin/run.js runs it as (a CommonJS module's wrapper, on the
// banner's line: line numbers unchanged), so that it reaches V8 as read, without a copy
fs.writeFileSync(bundle, `${HEAD}${ascii}${TAIL}`);
const st = fs.statSync(entry);
// the manifest entries of the fast path's commands, while the manifest describes this build
// (main.ts then does not read nor check the manifest for them: bin/run.js passes these)
const { loadFreshManifest } = await import(pathToFileURL(path.join(src, 'cli', 'manifest.js')).href);
const { FAST_PATH_COMMANDS } = await import(pathToFileURL(path.join(src, 'cli', 'fast-path.js')).href);
const manifest = loadFreshManifest(root);
const fast = manifest
  ? {
      version: manifest.version,
      commands: Object.fromEntries(FAST_PATH_COMMANDS.filter((c) => manifest.commands[c]).map((c) => [c, { flags: manifest.commands[c].flags, args: manifest.commands[c].args }])),
    }
  : undefined;
if (!manifest) console.log('gen-bundle: oclif.manifest.json is missing or stale: the fast path reads it at run time');
fs.writeFileSync(path.join(out, 'source.json'), JSON.stringify({ size: st.size, mtimeMs: st.mtimeMs, build: randomUUID(), fast }) + '\n');
const inputs = Object.keys(r.metafile.inputs).length;
const env = { ...process.env };
for (const k of Object.keys(env)) if (k.startsWith('ATOMIC_') || k === 'NODE_OPTIONS') delete env[k];
const runJs = path.join(root, 'bin', 'run.js');
/** Runs writeCodeCache(SYSROOT, ARGVS, KEY) of bin/run.js in a fresh node (its output dropped); returns the cache's size. */
const writeCache = (sysroot, argvs, key, extraEnv = {}) => {
  const code = `require(${JSON.stringify(runJs)}).writeCodeCache(${JSON.stringify(sysroot)}, ${JSON.stringify(argvs)}, ${JSON.stringify(key)})`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  process.stderr.write(r.stderr);
  // a warm-up command that fails makes a cache that covers less than it should: a bug here, not a warning
  if (r.status !== 0 || r.stderr.includes('writeCodeCache:')) throw new Error(`gen-bundle: the ${key ?? 'start-up'} code cache warm-up failed (exit ${r.status})`);
  return fs.statSync(key ? `${bundle}.${key}.cache` : `${bundle}.cache`).size;
};
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-bundle-cache-'));
let cache;
const deploy = [];
try {
  fs.mkdirSync(path.join(work, 'empty'));
  cache = writeCache(path.join(work, 'empty'), null, null);
  if (process.getuid?.() === 0) deploy.push(...deployCaches(work));
  else console.log('gen-bundle: not root: no code caches for install/update/rollback/uninstall/pull (they compile as they run)');
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`wrote dist/bundle (${inputs} modules in main.cjs, ${fs.statSync(bundle).size} bytes; code cache ${cache} bytes${deploy.map((d) => `, ${d}`).join('')})`);

/** The deploy commands' caches, made on a scratch sysroot in WORK: their descriptions ("install N bytes"), none when the warm-up fails. */
function deployCaches(work) {
  const S = path.join(work, 'sysroot');
  for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
  const images = [];
  for (const tag of ['1', '2']) {
    const ex = path.join(work, `example-${tag}`);
    fs.cpSync(path.join(root, 'exports-examples', 'hello-web'), ex, { recursive: true });
    const meta = JSON.parse(fs.readFileSync(path.join(ex, 'image.json'), 'utf8'));
    fs.writeFileSync(path.join(ex, 'image.json'), JSON.stringify({ ...meta, name: 'localhost/atomic-bundle-warmup', tag, busybox: false }));
    // the second image differs in one file, as an update's does
    if (tag === '2') fs.appendFileSync(path.join(ex, 'rootfs', 'usr', 'bin', 'hello-web'), '# 2\n');
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build-example-image.mjs'), ex, path.join(work, `oci-${tag}`)], { stdio: 'ignore' });
    images.push(`localhost/atomic-bundle-warmup:${tag}`);
  }
  // the warm-up's own signature policy: the host's /etc/containers/policy.json may not exist yet
  // (a fresh machine gets it with podman or skopeo; `npm run bench` builds before it installs
  // them), and without a policy every pull and install is refused (image/trust/policy.ts)
  const policy = path.join(work, 'policy.json');
  fs.writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const trust = ['--signature-policy', policy];
  const cli = (args) => spawnSync(process.execPath, [runJs, ...args, ...trust, '--sysroot', S], { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  // pulled, then installed once uncached: the first install in a sysroot also proves the enable
  // links against systemctl (host/enable-verify.ts), which the calls measured later do not
  for (const args of [
    ['pull', `oci:${path.join(work, 'oci-1')}`],
    ['pull', `oci:${path.join(work, 'oci-2')}`],
    ['install', '--system', '--name', 'warmup', images[0]],
  ]) {
    const r = cli(args);
    if (r.status !== 0) {
      console.log(`gen-bundle: ${args.join(' ')} failed (${r.status}): no code caches for install/update/rollback/uninstall/pull\n${r.stderr}`);
      return [];
    }
  }
  const out = [];
  const opts = [...trust, '--sysroot', S];
  for (const [key, argv] of [
    ['install', ['install', '--system', '--name', 'cached', images[0], ...opts]],
    ['update', ['containers', 'update', '--rebase', images[1], 'cached', ...opts]],
    ['rollback', ['containers', 'rollback', 'cached', ...opts]],
    // NAME last: words after it are the UNINSTALL label's arguments, as in atomic (and no trust flags)
    ['uninstall', ['uninstall', '--sysroot', S, 'cached']],
  ])
    out.push(`${key} ${writeCache(S, [argv], key)} bytes`);
  const P = path.join(work, 'pull-sysroot');
  fs.mkdirSync(path.join(P, 'var', 'lib'), { recursive: true });
  const pull = ['pull', `oci:${path.join(work, 'oci-1')}`, ...trust, '--sysroot', P];
  out.push(`pull ${writeCache(P, [pull, pull], 'pull', { ATOMIC_V8_DEFAULTS: '1' })} bytes`);
  return out;
}
