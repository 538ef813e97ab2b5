/**
 * Start-up: the oclif manifest written by the build, and the fast path that runs `--version`,
 * `images list` and `containers list` without loading oclif. The fast path must be invisible:
 * same stdout, stderr and exit code as oclif's path (ATOMIC_NO_FAST_PATH=1), and a stale
 * manifest must be ignored, never trusted.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, PROJECT_ROOT, fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { loadFreshManifest, distFingerprint, manifestSources, MANIFEST_FILE } from '../../../src/cli/manifest.js';
import { parseFastFlags } from '../../../src/cli/fast-path.js';

/**
 * Preloaded into the CLI: reports on stderr whether @oclif/core was loaded, and whether bin/run.js
 * compiled dist/bundle/main.cjs (vm.Script) and what became of its code cache, and which of the
 * modules a deploy command of a sysroot has no use for were loaded (http, https, tls, v8, crypto,
 * stream, fs/promises - util/fs-async.ts says why -, xattr).
 */
const PROBE = `const vm = require('node:vm');
const Script = vm.Script;
let bundle = '';
let cacheBytes = 0;
vm.Script = class extends Script {
  constructor(src, o) {
    super(src, o);
    if (o && String(o.filename).includes('/dist/bundle/')) {
      bundle = !o.cachedData ? 'none' : this.cachedDataRejected ? 'rejected' : 'used';
      cacheBytes = o.cachedData ? o.cachedData.length : 0;
    }
  }
};
process.on('exit', () => {
  // read first: the probe's own writes create process.stderr, which on a pipe loads the stream modules
  const heavy = process.moduleLoadList.filter((m) => /^NativeModule (http|https|tls|v8|crypto|stream|fs\\/promises)$/.test(m)).map((m) => m.slice(13));
  if (Object.keys(require.cache).some((k) => k.includes('@oclif/core'))) process.stderr.write('[oclif loaded]\\n');
  if (bundle) process.stderr.write('[bundle loaded, code cache ' + bundle + ' ' + cacheBytes + ']\\n');
  if (Object.keys(require.cache).some((k) => k.includes('@napi-rs/xattr'))) heavy.push('@napi-rs/xattr');
  if (heavy.length) process.stderr.write('[heavy: ' + heavy.join(',') + ']\\n');
});
`;

describe('start-up: oclif manifest and fast path', function () {
  this.timeout(180_000);
  let work: string;
  let probe: string;
  let S: string;
  let empty: string;

  /** What became of the bundle's code cache in the last run() (none: no cache given). */
  let lastCache = '';
  /** The size of the code cache given to V8 in the last run(). */
  let lastCacheBytes = 0;
  /** The unneeded modules the last run() loaded ('' when none). */
  let lastHeavy = '';
  const run = (args: string[], env: Record<string, string> = {}, bin = BIN) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const k of ['ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF', 'ATOMIC_NO_FAST_PATH', 'ATOMIC_NO_BUNDLE', 'ATOMIC_SYSROOT']) if (!(k in env)) delete e[k];
    const r = spawnSync(process.execPath, ['-r', probe, bin, ...args], { encoding: 'utf8', env: e, timeout: 120_000 });
    const oclif = r.stderr.includes('[oclif loaded]\n');
    const b = /\[bundle loaded, code cache (\w+) (\d+)\]\n/.exec(r.stderr);
    lastCache = b ? b[1]! : '';
    lastCacheBytes = b ? Number(b[2]) : 0;
    const h = /\[heavy: ([^\]]*)\]\n/.exec(r.stderr);
    lastHeavy = h ? h[1]! : '';
    const stderr = r.stderr
      .replace('[oclif loaded]\n', '')
      .replace(b ? b[0] : '', '')
      .replace(h ? h[0] : '', '');
    return { status: r.status, stdout: r.stdout, stderr, oclif, bundle: !!b };
  };

  before(() => {
    // the build writes the manifest; regenerate it in case only tsc ran since
    execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'gen-manifest.mjs')], { stdio: 'ignore' });
    work = makeTempDir('atomic-fast-');
    probe = path.join(work, 'probe.cjs');
    fs.writeFileSync(probe, PROBE);
    empty = path.join(work, 'empty');
    S = path.join(work, 'sysroot');
    fs.mkdirSync(empty);
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    const fx = fixtureImages();
    assert.equal(run(['pull', `oci:${fx}/oci:systest`, '--sysroot', S]).status, 0);
    const r = run(['install', '--system', '--name', 'hello', '--sysroot', S, `oci:${fx}/oci:systest`]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('the build leaves a manifest that matches the compiled commands', () => {
    const m = loadFreshManifest(PROJECT_ROOT);
    assert.ok(m, `${MANIFEST_FILE} missing or stale after gen-manifest`);
    const files: string[] = [];
    const walk = (d: string, rel: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name), rel ? `${rel}:${e.name}` : e.name);
        else if (e.name.endsWith('.js')) files.push(rel ? `${rel}:${e.name.slice(0, -3)}` : e.name.slice(0, -3));
      }
    };
    walk(path.join(PROJECT_ROOT, 'dist', 'src', 'commands'), '');
    assert.deepEqual(Object.keys(m.commands).sort(), files.sort());
    assert.ok(m.commands['images:list'].flags.filter.multiple);
    assert.equal(m.commands['images:list'].flags.sysroot.env, 'ATOMIC_SYSROOT');
  });

  it('a manifest whose fingerprint does not match dist/src is ignored', () => {
    const root = path.join(work, 'pkg');
    fs.mkdirSync(path.join(root, 'dist', 'src', 'commands'), { recursive: true });
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ version: '1.2.3' }));
    const js = path.join(root, 'dist', 'src', 'commands', 'x.js');
    fs.writeFileSync(js, 'export default 1;\n');
    fs.mkdirSync(path.join(root, 'dist', 'src', 'cli'));
    const base = path.join(root, 'dist', 'src', 'cli', 'base.js');
    fs.writeFileSync(base, "import { Flags } from '@oclif/core';\n");
    fs.writeFileSync(path.join(root, 'dist', 'src', 'cli', 'other.js'), 'export {};\n');
    const write = (version: string) => {
      const files = manifestSources(root);
      assert.deepEqual(
        files,
        ['cli/base.js', 'commands/x.js'].filter((f) => fs.existsSync(path.join(root, 'dist', 'src', f))),
      );
      fs.writeFileSync(path.join(root, MANIFEST_FILE), JSON.stringify({ version, commands: {}, atomic: { fingerprint: distFingerprint(root, files), files } }));
    };
    write('1.2.3');
    assert.ok(loadFreshManifest(root));
    write('1.2.4');
    assert.equal(loadFreshManifest(root), null, 'other version');
    write('1.2.3');
    fs.writeFileSync(js, 'export default 22;\n');
    assert.equal(loadFreshManifest(root), null, 'a rebuilt command file');
    write('1.2.3');
    fs.writeFileSync(base, "import { Flags } from '@oclif/core';\nexport const f = 1;\n");
    assert.equal(loadFreshManifest(root), null, 'a rebuilt flag-defining file');
    write('1.2.3');
    fs.writeFileSync(path.join(root, 'dist', 'src', 'commands', 'y.js'), '');
    assert.equal(loadFreshManifest(root), null, 'a new command file');
    fs.rmSync(path.join(root, 'dist', 'src', 'commands', 'y.js'));
    assert.ok(loadFreshManifest(root), 'back as it was');
    fs.rmSync(js);
    assert.equal(loadFreshManifest(root), null, 'a removed command file');
    fs.writeFileSync(path.join(root, MANIFEST_FILE), '{');
    assert.equal(loadFreshManifest(root), null, 'garbage');
  });

  const cases: string[][] = [
    ['--version'],
    ['-v'],
    ['images', 'list'],
    ['images', 'list', '-a', '--no-trunc', '--json'],
    ['images', 'list', '-f', 'repo=systest', '--filter=tag=latest', '-n', '-q'],
    ['images', 'list', '-f', 'nosuchkey=1'],
    ['images', 'list', '--storage', 'docker'],
    ['images', 'list', '--storage=ostree', '--debug'],
    ['containers', 'list'],
    ['containers', 'list', '-a'],
    ['containers', 'list', '-a', '--json', '--no-trunc'],
    ['containers', 'list', '-a', '-f', 'container=hel', '--noheading'],
  ];
  for (const args of cases) {
    it(`atomic ${args.join(' ')}: same output as through oclif, without loading oclif`, () => {
      for (const env of (args[0] === '--version' || args[0] === '-v' ? [{}] : [{ ATOMIC_SYSROOT: S }, { ATOMIC_SYSROOT: empty }]) as Record<string, string>[]) {
        const fast = run(args, env);
        const slow = run(args, { ...env, ATOMIC_NO_FAST_PATH: '1' });
        const unbundled = run(args, { ...env, ATOMIC_NO_BUNDLE: '1' });
        assert.equal(fast.oclif, false, `${args.join(' ')} loaded oclif`);
        assert.equal(unbundled.bundle, false);
        // --version/-v are answered by bin/run.js itself (atomic's bare version line, as cli/main.ts prints it)
        const version = args[0] === '--version' || args[0] === '-v';
        assert.equal(fast.bundle, !version, `${args.join(' ')}: bundle loaded ${fast.bundle}`);
        if (!version) assert.equal(slow.oclif, true);
        assert.deepEqual({ ...fast, oclif: 0 }, { ...slow, oclif: 0, bundle: !version });
        assert.deepEqual({ ...fast, bundle: 0 }, { ...unbundled, bundle: 0 });
      }
    });
  }

  it('the list commands really list (installed container, pulled image)', () => {
    const c = run(['containers', 'list', '-a', '--sysroot', S]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /hello/);
    const i = run(['images', 'list', '--sysroot', S]);
    assert.match(i.stdout, /systest/);
  });

  const oclifCases: string[][] = [
    ['images', 'list', '--help'],
    ['images', 'list', '-an'],
    ['images', 'list', '--bogus'],
    ['images', 'list', '--storage', 'nosuch'],
    ['containers', 'list', '-f'],
  ];
  for (const args of oclifCases) {
    it(`atomic ${args.join(' ')}: left to oclif, same result either way`, () => {
      const fast = run(args, { ATOMIC_SYSROOT: S });
      const slow = run(args, { ATOMIC_SYSROOT: S, ATOMIC_NO_FAST_PATH: '1' });
      assert.equal(fast.oclif, true);
      assert.equal(fast.bundle, true);
      assert.deepEqual(fast, slow);
    });
  }

  it("ATOMIC_CONTENT_TYPE=json (oclif's --json for every command that has it): left to oclif, the same JSON as --json", () => {
    for (const args of [
      ['images', 'list'],
      ['containers', 'list', '-a'],
    ]) {
      const viaEnv = run(args, { ATOMIC_SYSROOT: S, ATOMIC_CONTENT_TYPE: 'json' });
      const viaFlag = run([...args, '--json'], { ATOMIC_SYSROOT: S });
      assert.equal(viaEnv.oclif, true, args.join(' '));
      assert.equal(viaEnv.status, 0, viaEnv.stderr);
      assert.deepEqual({ ...viaEnv, oclif: 0 }, { ...viaFlag, oclif: 0 }, args.join(' '));
      const rows = JSON.parse(viaEnv.stdout) as Array<{ id: string }>;
      assert.ok(rows.length > 0 && rows.every((r) => typeof r.id === 'string'), viaEnv.stdout);
    }
  });

  it('install --system, containers update and rollback: same output and files as through oclif, without loading oclif', () => {
    // twin sysroots: the same sequence through each path, outputs compared with the sysroot path masked
    const fx = fixtureImages();
    const roots = ['fast', 'slow', 'unbundled'].map((k) => {
      const r = path.join(work, `deploy-${k}`);
      for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(r, d), { recursive: true });
      for (const img of ['systest', 'systest-update']) assert.equal(run(['pull', `oci:${fx}/oci:${img}`, '--sysroot', r]).status, 0);
      return r;
    });
    const policy = path.join(work, 'accept-policy.json');
    fs.writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const steps: string[][] = [
      ['install', '--system', '--name', 'dep', '--set', 'RECEIVER=fast path', 'systest:latest'],
      ['install', '--system', '-n', 'dep', 'systest:latest'],
      ['install', '--system', '--name', 'other', 'nosuch:latest'],
      ['containers', 'update', '--set', 'RECEIVER=again', 'dep'],
      ['containers', 'update', '--rebase', 'systest-update:latest', 'dep'],
      ['containers', 'update', 'nosuch'],
      ['containers', 'rollback', 'dep'],
      ['containers', 'rollback', 'nosuch'],
      // the trust flags (gen-bundle.mjs makes the deploy code caches with --signature-policy)
      ['containers', 'update', '--signature-policy', policy, '--registries.d', path.join(work, 'no-registries.d'), 'dep'],
      ['containers', 'rollback', '--signature-policy', path.join(work, 'no-policy.json'), 'dep'],
      ['containers', 'rollback', '--signature-policy', policy, 'dep'],
    ];
    for (const args of steps) {
      let heavy = '';
      const [fast, slow, unbundled] = roots.map((r, i) => {
        const o = run(args, { ATOMIC_SYSROOT: r, ...(i === 1 ? { ATOMIC_NO_FAST_PATH: '1' } : i === 2 ? { ATOMIC_NO_BUNDLE: '1' } : {}) });
        if (i === 0) heavy = lastHeavy;
        return { ...o, stdout: o.stdout.split(r).join('S'), stderr: o.stderr.split(r).join('S') };
      });
      assert.equal(fast.oclif, false, `${args.join(' ')} loaded oclif`);
      // a deploy of a stored image (a bare store) needs no HTTP client nor the xattr native module
      // (an image that is not stored is pulled: that one may), nor node:fs/promises (util/fs-async.ts),
      // nor node:crypto (nor the stream modules it loads): the dirtrees and dirmetas of a pulled
      // image have markers (object-verify.ts), except in the first install in a sysroot, which
      // proves the enable links against systemctl once (host/enable-verify.ts hashes there)
      if (args === steps[0]) heavy = heavy.replace(/(^|,)(crypto|stream)(?=,|$)/g, '').replace(/^,/, '');
      if (fast.status === 0) assert.equal(heavy, '', `${args.join(' ')} loaded ${heavy}`);
      assert.equal(fast.bundle, true, `${args.join(' ')} did not use the bundle`);
      assert.equal(slow.oclif, true);
      assert.equal(unbundled.bundle, false);
      assert.deepEqual({ ...fast, oclif: 0 }, { ...slow, oclif: 0 }, args.join(' '));
      assert.deepEqual({ ...fast, bundle: 0 }, { ...unbundled, bundle: 0 }, args.join(' '));
    }
    const read = (r: string, f: string) => fs.readFileSync(path.join(r, f), 'utf8');
    for (const r of roots.slice(1)) for (const f of ['etc/systemd/system/dep.service', 'etc/tmpfiles.d/dep.conf']) assert.equal(read(roots[0]!, f), read(r, f), f);
    assert.match(read(roots[0]!, 'etc/systemd/system/dep.service'), /hello again/, 'the rollback went back to the --set deployment');
    // flags the fast path does not take go to oclif
    const viaOclif = run(['containers', 'rollback', '--dry-run', 'dep'], { ATOMIC_SYSROOT: roots[0]! });
    assert.equal(viaOclif.oclif, true);
    assert.equal(viaOclif.status, 0, viaOclif.stderr);

    // uninstall NAME of a system container: the fast path; a name that is no system container, or
    // words after the name (an UNINSTALL label's arguments), or --name/--display/--opt1: oclif
    for (const r of roots) for (const n of ['gone', 'gone2']) assert.equal(run(['install', '--system', '--name', n, 'systest:latest'], { ATOMIC_SYSROOT: r }).status, 0);
    const uninstallSteps: Array<{ args: string[]; oclif: boolean }> = [
      { args: ['uninstall', '--storage=ostree', 'dep'], oclif: false },
      { args: ['uninstall', 'dep'], oclif: true },
      { args: ['uninstall', 'nosuch'], oclif: true },
      { args: ['uninstall', '-f', 'gone'], oclif: false },
      { args: ['uninstall', 'gone2', 'extra-word'], oclif: true },
      { args: ['uninstall', '--display', 'gone2'], oclif: true },
      // hostile names are no system container: oclif, its name check and its message
      { args: ['uninstall', '../etc'], oclif: true },
      { args: ['uninstall', '..'], oclif: true },
      { args: ['uninstall', 'gone2/../dep'], oclif: true },
      { args: ['uninstall', '/etc/systemd/system'], oclif: true },
    ];
    for (const { args, oclif } of uninstallSteps) {
      const [fast, slow, unbundled] = roots.map((r, i) => {
        const o = run(args, { ATOMIC_SYSROOT: r, ...(i === 1 ? { ATOMIC_NO_FAST_PATH: '1' } : i === 2 ? { ATOMIC_NO_BUNDLE: '1' } : {}) });
        return { ...o, stdout: o.stdout.split(r).join('S'), stderr: o.stderr.split(r).join('S') };
      });
      assert.equal(fast.oclif, oclif, `${args.join(' ')}: oclif loaded ${fast.oclif}, expected ${oclif}`);
      assert.equal(slow.oclif, true);
      assert.deepEqual({ ...fast, oclif: 0 }, { ...slow, oclif: 0 }, args.join(' '));
      assert.deepEqual({ ...fast, bundle: 0, oclif: 0 }, { ...unbundled, bundle: 0, oclif: 0 }, args.join(' '));
    }
    for (const r of roots) {
      for (const n of ['dep', 'gone', 'gone2']) assert.equal(fs.existsSync(path.join(r, 'etc/systemd/system', `${n}.service`)), false, `${n} was not uninstalled in ${r}`);
      assert.ok(fs.statSync(path.join(r, 'etc/systemd/system')).isDirectory(), 'the hostile names removed nothing');
      assert.deepEqual(JSON.parse(run(['containers', 'list', '-a', '--json'], { ATOMIC_SYSROOT: r }).stdout), []);
    }
  });

  it('pull IMAGE: same output and stored images as through oclif, without loading oclif', () => {
    const fx = fixtureImages();
    const roots = ['fast', 'slow'].map((k) => path.join(work, `pull-${k}`));
    for (const r of roots) fs.mkdirSync(r);
    const steps: string[][] = [
      ['pull', `oci:${fx}/oci:layered`],
      ['pull', `oci:${fx}/oci:layered`],
      ['pull', '--name', 'renamed:v1', `oci:${fx}/oci:systest`],
      ['pull', '--storage', 'docker', `oci:${fx}/oci:systest`],
      ['pull', `oci:${fx}/oci:nosuchtag`],
      ['images', 'list', '--no-trunc'],
    ];
    for (const args of steps) {
      const [fast, slow] = roots.map((r, i) => {
        const o = run(args, { ATOMIC_SYSROOT: r, ...(i === 1 ? { ATOMIC_NO_FAST_PATH: '1' } : {}) });
        return { ...o, stdout: o.stdout.split(r).join('S'), stderr: o.stderr.split(r).join('S') };
      });
      if (args[0] === 'pull') {
        assert.equal(fast.oclif, false, `${args.join(' ')} loaded oclif`);
        assert.equal(slow.oclif, true);
      }
      assert.deepEqual({ ...fast, oclif: 0 }, { ...slow, oclif: 0 }, args.join(' '));
    }
    const list = run(['images', 'list'], { ATOMIC_SYSROOT: roots[0]! });
    assert.match(list.stdout, /layered/);
    assert.match(list.stdout, /renamed/);
    // flags the fast path does not take go to oclif
    const viaOclif = run(['pull', '--registries.d', path.join(work, 'none'), `oci:${fx}/oci:systest`], { ATOMIC_SYSROOT: roots[0]! });
    assert.equal(viaOclif.oclif, true);
    assert.equal(viaOclif.status, 0, viaOclif.stderr);
  });

  it('bin/run.js uses dist/bundle only while it was built from the current dist/src/cli/main.js', () => {
    // a copy of the package whose dist/src is the real one and whose bundle record is fresh, then stale
    const pkg = path.join(work, 'pkg-bundle');
    fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(pkg, 'dist'));
    fs.copyFileSync(BIN, path.join(pkg, 'bin', 'run.js'));
    fs.copyFileSync(path.join(PROJECT_ROOT, 'bin', 'package.json'), path.join(pkg, 'bin', 'package.json'));
    fs.copyFileSync(path.join(PROJECT_ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.copyFileSync(path.join(PROJECT_ROOT, MANIFEST_FILE), path.join(pkg, MANIFEST_FILE));
    fs.symlinkSync(path.join(PROJECT_ROOT, 'dist', 'src'), path.join(pkg, 'dist', 'src'));
    fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    fs.symlinkSync(path.join(PROJECT_ROOT, 'schemas'), path.join(pkg, 'schemas'));
    fs.cpSync(path.join(PROJECT_ROOT, 'dist', 'bundle'), path.join(pkg, 'dist', 'bundle'), { recursive: true });
    const bin = path.join(pkg, 'bin', 'run.js');
    const fresh = run(['containers', 'list', '-a'], { ATOMIC_SYSROOT: S }, bin);
    assert.equal(fresh.bundle, true, fresh.stderr);
    assert.equal(lastCache, 'used', 'the code cache written by the build was not taken');
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout, /hello/);
    // install, update, rollback and uninstall take the caches the build made by running them (as root), and
    // print what they print without the bundle
    if (process.getuid?.() === 0) {
      const fx = fixtureImages();
      const S2 = path.join(work, 'sysroot-code-cache');
      for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S2, d), { recursive: true });
      for (const i of ['systest', 'systest-update']) assert.equal(run(['pull', `oci:${fx}/oci:${i}`, '--sysroot', S2]).status, 0);
      for (const [key, args] of [
        ['install', ['install', '--system', '--name', 'cachetest', '--sysroot', S2, 'systest:latest']],
        ['update', ['containers', 'update', '--rebase', 'systest-update:latest', '--sysroot', S2, 'cachetest']],
        ['rollback', ['containers', 'rollback', '--sysroot', S2, 'cachetest']],
        ['uninstall', ['uninstall', '--sysroot', S2, 'cachetest']],
      ] as const) {
        const file = path.join(pkg, 'dist', 'bundle', `main.cjs.${key}.cache`);
        assert.ok(fs.existsSync(file), `the build wrote no code cache for ${key}`);
        const c = fs.readFileSync(file);
        const r = run([...args], {}, bin);
        assert.equal(r.status, 0, r.stderr + r.stdout);
        assert.equal(r.bundle, true, r.stderr);
        assert.equal(lastCache, 'used', `the code cache the build wrote for ${key} was not taken`);
        assert.equal(lastCacheBytes, c.length - c.indexOf(10) - 1, `${key} was given another code cache than main.cjs.${key}.cache`);
        assert.match(
          r.stdout,
          {
            install: /^Extracting to .*\/cachetest\.0$/m,
            update: /^Extracting to .*\/cachetest\.1$/m,
            rollback: /^Rolling back container cachetest to the checkout at .*\/cachetest\.0$/m,
            uninstall: /disable cachetest\.service/,
          }[key],
        );
      }
      // pull: its own cache (made with V8's default flags, so not rejected), for a cold and a
      // no-op pull; without that file (a build not run as root) the lists' cache
      const pullCache = path.join(pkg, 'dist', 'bundle', 'main.cjs.pull.cache');
      const pc = fs.readFileSync(pullCache);
      for (const what of ['cold', 'no-op']) {
        const r = run(['pull', `oci:${fx}/oci:layered`, '--sysroot', S2], {}, bin);
        assert.equal(r.status, 0, r.stderr + r.stdout);
        assert.equal(lastCache, 'used', `the code cache the build wrote for a ${what} pull was not taken`);
        assert.equal(lastCacheBytes, pc.length - pc.indexOf(10) - 1, `a ${what} pull was given another code cache than main.cjs.pull.cache`);
        assert.match(r.stdout, what === 'cold' ? /pulled \([1-9]\d* layer\(s\) imported/ : /pulled \(0 layer\(s\) imported/);
      }
      fs.rmSync(pullCache);
      const lists = fs.readFileSync(path.join(pkg, 'dist', 'bundle', 'main.cjs.cache'));
      const r = run(['pull', `oci:${fx}/oci:layered`, '--sysroot', S2], {}, bin);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.equal(lastCache, 'used', "without its own cache a pull did not take the lists' cache");
      assert.equal(lastCacheBytes, lists.length - lists.indexOf(10) - 1);
    }
    // a code cache made for another build (its header names another id) is not given to V8;
    // one V8 rejects (other bytes) changes nothing either
    const cache = path.join(pkg, 'dist', 'bundle', 'main.cjs.cache');
    const good = fs.readFileSync(cache);
    const nl = good.indexOf(10);
    assert.deepEqual(JSON.parse(good.subarray(0, nl).toString()), {
      build: (JSON.parse(fs.readFileSync(path.join(pkg, 'dist', 'bundle', 'source.json'), 'utf8')) as { build: string }).build,
    });
    fs.writeFileSync(cache, Buffer.concat([Buffer.from(JSON.stringify({ build: 'another' }) + '\n'), good.subarray(nl + 1)]));
    assert.deepEqual(run(['containers', 'list', '-a'], { ATOMIC_SYSROOT: S }, bin), fresh);
    assert.equal(lastCache, 'none');
    fs.writeFileSync(cache, Buffer.concat([good.subarray(0, nl + 1), Buffer.alloc(good.length - nl - 1, 7)]));
    assert.deepEqual(run(['containers', 'list', '-a'], { ATOMIC_SYSROOT: S }, bin), fresh);
    assert.equal(lastCache, 'rejected');
    fs.rmSync(cache);
    assert.deepEqual(run(['containers', 'list', '-a'], { ATOMIC_SYSROOT: S }, bin), fresh);
    assert.equal(lastCache, 'none');
    const rec = path.join(pkg, 'dist', 'bundle', 'source.json');
    const { size, mtimeMs } = JSON.parse(fs.readFileSync(rec, 'utf8')) as { size: number; mtimeMs: number };
    fs.writeFileSync(rec, JSON.stringify({ size, mtimeMs: mtimeMs - 1000 }));
    const stale = run(['containers', 'list', '-a'], { ATOMIC_SYSROOT: S }, bin);
    assert.equal(stale.bundle, false, 'a bundle built from another main.js was loaded');
    assert.deepEqual({ ...stale, bundle: 0 }, { ...fresh, bundle: 0 });
    fs.rmSync(path.join(pkg, 'dist', 'bundle'), { recursive: true });
    const none = run(['containers', 'list', '-a'], { ATOMIC_SYSROOT: S }, bin);
    assert.deepEqual({ ...none, bundle: 0 }, { ...fresh, bundle: 0 });
  });

  it('parseFastFlags: defaults, environment and repeated options', () => {
    const defs = {
      all: { name: 'all', type: 'boolean' as const, char: 'a' },
      filter: { name: 'filter', type: 'option' as const, char: 'f', multiple: true },
      storage: { name: 'storage', type: 'option' as const, options: ['ostree', 'docker'], default: 'ostree' },
      sysroot: { name: 'sysroot', type: 'option' as const, env: 'ATOMIC_TEST_FAST_ENV' },
    };
    process.env.ATOMIC_TEST_FAST_ENV = '/sr';
    try {
      assert.deepEqual(parseFastFlags(['-a', '-f', 'x=1', '--filter=y=2'], defs), { all: true, filter: ['x=1', 'y=2'], storage: 'ostree', sysroot: '/sr' });
      assert.deepEqual(parseFastFlags(['--sysroot', '/other'], defs), { all: false, storage: 'ostree', sysroot: '/other' });
    } finally {
      delete process.env.ATOMIC_TEST_FAST_ENV;
    }
    assert.equal(parseFastFlags(['--all=yes'], defs), null);
    assert.equal(parseFastFlags(['-f', '-a'], defs), null);
    assert.equal(parseFastFlags(['--storage', 'zfs'], defs), null);
  });
});
