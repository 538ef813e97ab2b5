/**
 * Host safety (issue 12 items 1-7, issue 11 item 3), through the real CLI in scratch sysroots with
 * the real `systemctl --root` and `systemd-tmpfiles --root`. Every hostile input is built here:
 * hand-written units, names that read like host units, a store whose dirtree names `..`, images
 * whose /exports files are symlinks to root-only host files, sysroots whose etc/systemd/system or
 * var/run are symlinks out of the sysroot, foreign slot directories, planted journals, umask 000,
 * world-writable image files. The suite prints how many hostile cases it ran.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTempDir, BIN } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { deployState, CK } from '../../helpers/deploy-state.js';
import { buildExampleImage } from '../../helpers/example-image.js';
import { OstreeRepo } from '../../../src/store/repo.js';
import { resolveImages, layerCommits } from '../../../src/image/stored-image.js';
import { encodeCommit, encodeDirTree, sha256Hex } from '../../../src/store/object-codec.js';

describe('host safety: uninstall, unit names, store paths, /exports, slots, journal, umask, shared objects', function () {
  this.timeout(600_000);
  let work: string;
  let S: string;
  let outside: string;
  let hostile = 0;
  const a = (args: string[], extra: Record<string, string> = {}) => atomicSysroot(S, args, extra);
  const unit = (n: string) => path.join(S, 'etc/systemd/system', `${n}.service`);
  const ck = (...p: string[]) => path.join(S, CK, ...p);
  const repoPath = () => ck('.storage', 'ostree');
  let web: string; // oci:DIR of example.com/atomic/hello-web:1.0

  before(() => {
    work = makeTempDir('atomic-host-safety-');
    S = path.join(work, 'sysroot');
    outside = path.join(work, 'outside');
    fs.mkdirSync(outside);
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    fs.symlinkSync('../run', path.join(S, 'var/run'));
    web = buildExampleImage('hello-web', work, 'web');
    const r = a(['pull', web]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => {
    console.log(`      host safety: ${hostile} hostile cases`);
    fs.rmSync(work, { recursive: true, force: true });
  });
  afterEach(() => {
    // nothing of ours ever lands outside the sysroot
    assert.deepEqual(fs.readdirSync(outside).filter((n) => !n.startsWith('keep-')), [], 'nothing written outside the sysroot');
  });

  function fails(r: { status: number; stderr: string; stdout: string }, re: RegExp): void {
    assert.notEqual(r.status, 0, `expected a failure: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^Error: /m);
    assert.match(r.stderr, re);
  }

  // ------------------------------------------------------------------ item 1
  describe('1. uninstall removes only what atomic wrote', () => {
    it('a hand-written unit with no container: left alone, clear error, exit != 0', () => {
      hostile++;
      const text = '[Unit]\nDescription=handmade\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n';
      fs.writeFileSync(unit('handmade'), text);
      const r = a(['uninstall', 'handmade']);
      fails(r, /handmade is not a system container installed by atomic: .*handmade\.service was not written by atomic and was left alone/);
      assert.equal(fs.readFileSync(unit('handmade'), 'utf8'), text);
      assert.doesNotMatch(r.stdout, /systemctl/, 'no systemctl call on a unit we did not install');
      fs.rmSync(unit('handmade'));
    });
    it('a container whose unit was edited by hand: uninstall refused, nothing changed', () => {
      hostile++;
      assert.equal(a(['install', '--system', '--name', 'edited', 'example.com/atomic/hello-web:1.0']).status, 0);
      fs.appendFileSync(unit('edited'), '# local change\n');
      const edited = fs.readFileSync(unit('edited'), 'utf8');
      const r = a(['uninstall', 'edited']);
      fails(r, /Cannot uninstall edited: .*edited\.service differs from what atomic installed/);
      assert.equal(fs.readFileSync(unit('edited'), 'utf8'), edited);
      assert.equal(deployState(S, 'edited').kind, 'installed');
      // restored: the uninstall goes through and removes everything
      fs.copyFileSync(ck('edited.0', 'edited.service'), unit('edited'));
      assert.equal(a(['uninstall', 'edited']).status, 0);
      assert.equal(deployState(S, 'edited').kind, 'absent');
      assert.equal(fs.existsSync(ck('edited.0')), false);
    });
  });

  // ------------------------------------------------------------------ item 2 + issue 11 item 3
  describe('2. names: NAME.service always, one rule, .0/.1 names and real collisions', () => {
    it('systemctl is called with NAME.service; a name derived from a unit-like image name is refused', () => {
      hostile++;
      assert.equal(a(['images', 'tag', 'example.com/atomic/hello-web:1.0', 'example.com/evil/precious.service']).status, 0, 'tag');
      const r = a(['install', '--system', 'example.com/evil/precious.service']);
      fails(r, /invalid container name "precious\.service": it ends in "\.service", a systemd unit type/);
      assert.equal(fs.existsSync(ck('precious.service')), false);
      for (const n of ['foo.target', 'x.socket', 'svc@1']) {
        hostile++;
        fails(a(['install', '--system', '--name', n, 'example.com/atomic/hello-web:1.0']), /invalid container name/);
        fails(a(['uninstall', n]), /invalid container name/);
      }
    });
    it('hello-web-1.0 (derived from the tag) and container.0 install, list, update, roll back and uninstall', () => {
      const i1 = a(['install', '--system', 'example.com/atomic/hello-web:1.0']);
      assert.equal(i1.status, 0, i1.stderr);
      assert.match(i1.stdout, /enable hello-web-1\.0\.service$/m);
      const i2 = a(['install', '--system', '--name', 'container.0', 'example.com/atomic/hello-web:1.0']);
      assert.equal(i2.status, 0, i2.stderr);
      assert.equal(fs.readlinkSync(ck('container.0')).endsWith('/container.0.0'), true);
      const list = a(['containers', 'list', '-a', '--no-trunc', '-q']);
      assert.equal(list.status, 0, list.stderr);
      assert.deepEqual(list.stdout.trim().split('\n').sort(), ['container.0', 'hello-web-1.0']);
      for (const n of ['container.0', 'hello-web-1.0']) {
        const u = a(['containers', 'update', '--set', 'GREETING=Hi', n]);
        assert.equal(u.status, 0, u.stderr);
        assert.equal(deployState(S, n).slot, `${n}.1`);
        assert.deepEqual(deployState(S, n).problems, []);
        const rb = a(['containers', 'rollback', n]);
        assert.equal(rb.status, 0, rb.stderr);
        assert.equal(deployState(S, n).slot, `${n}.0`);
      }
      const st = a(['stop', 'container.0']);
      assert.match(st.stderr, /no running systemd/); // offline sysroot: stop is refused clearly, by name
    });
    it('a real collision is refused both ways: `container` while container.0 exists, `hello-web-1.0.1` while hello-web-1.0 exists', () => {
      hostile += 2;
      const r1 = a(['install', '--system', '--name', 'container', 'example.com/atomic/hello-web:1.0']);
      fails(r1, /Cannot install container: it collides with the installed container container\.0/);
      const r2 = a(['install', '--system', '--name', 'hello-web-1.0.1', 'example.com/atomic/hello-web:1.0']);
      fails(r2, /Cannot install hello-web-1\.0\.1: it collides with the installed container hello-web-1\.0 /);
      assert.equal(deployState(S, 'container.0').kind, 'installed');
      assert.deepEqual(deployState(S, 'hello-web-1.0').problems, []);
      for (const n of ['container.0', 'hello-web-1.0']) {
        const u = a(['uninstall', n]);
        assert.equal(u.status, 0, u.stderr);
        assert.match(u.stdout, new RegExp(`disable ${n.replace(/\./g, '\\.')}\\.service`));
        assert.equal(deployState(S, n).kind, 'absent');
        for (const s of ['0', '1']) assert.equal(fs.existsSync(ck(`${n}.${s}`)), false);
      }
    });
  });

  // ------------------------------------------------------------------ item 3
  describe('3. names read from a store are validated', () => {
    it('a dirtree entry named ".." (tampered store): images verify fails, install fails, nothing written outside the rootfs', async () => {
      hostile++;
      assert.equal(a(['images', 'tag', 'example.com/atomic/hello-web:1.0', 'example.com/evil/tree:1']).status, 0);
      const repo = await OstreeRepo.open(repoPath());
      const [img] = await resolveImages(repo, 'example.com/evil/tree:1');
      const layers = await layerCommits(repo, img!);
      const top = layers[layers.length - 1]!;
      const commit = await repo.readCommit(top);
      const root = await repo.readDirTree(commit.rootTree);
      const sub = root.dirs[0]!; // e.g. exports/ or usr/: its files land in the rootfs' parent
      const evil = encodeDirTree({ files: root.files, dirs: [...root.dirs, { name: '..', tree: sub.tree, meta: sub.meta }] });
      const put = (bytes: Buffer, type: string): string => {
        const sum = sha256Hex(bytes);
        const dir = path.join(repoPath(), 'objects', sum.slice(0, 2));
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `${sum.slice(2)}.${type}`), bytes);
        return sum;
      };
      const treeSum = put(evil, 'dirtree');
      const newCommit = put(encodeCommit({ ...commit, rootTree: treeSum as never }), 'commit');
      // point the (shared) top layer ref at the tampered commit, remember the original
      const refFile = path.join(repoPath(), 'refs', 'heads', 'ociimage', img!.layers[img!.layers.length - 1]!.replace(/^sha256:/, ''));
      const original = fs.readFileSync(refFile, 'utf8');
      fs.writeFileSync(refFile, `${newCommit}\n`);
      try {
        const v = a(['images', 'verify', 'example.com/evil/tree:1']);
        fails(v, /failed verification/);
        assert.match(v.stderr, /invalid entry name: the name "\.\."/);
        const before = fs.readdirSync(ck());
        const r = a(['install', '--system', '--name', 'tree', 'example.com/evil/tree:1']);
        fails(r, /invalid entry name: the name "\.\."/);
        assert.deepEqual(fs.readdirSync(ck()), before, 'nothing left in the checkout root');
        assert.equal(deployState(S, 'tree').kind, 'absent');
      } finally {
        fs.writeFileSync(refFile, original);
      }
    });
  });

  // ------------------------------------------------------------------ item 4
  describe('4. /exports read from the store, symlinks refused, host paths kept below the sysroot', () => {
    let secret: string;
    before(() => {
      secret = path.join(outside, 'keep-secret');
      fs.writeFileSync(secret, 'root-only-secret\n', { mode: 0o600 });
    });
    const cases: Array<[string, (root: string) => void, RegExp]> = [
      ['/exports/service.template is a symlink to a root-only host file', (root) => {
        fs.rmSync(path.join(root, 'exports/service.template'));
      }, /service\.template in the image is a symbolic link/],
      ['/exports/config.json is a symlink', (root) => {
        fs.symlinkSync('/etc/shadow', path.join(root, 'exports/config.json'));
      }, /\/exports\/config\.json in the image is a symbolic link/],
      ['/exports itself is a symlink', (root) => {
        fs.renameSync(path.join(root, 'exports'), path.join(root, 'real-exports'));
        fs.symlinkSync('/real-exports', path.join(root, 'exports'));
      }, /\/exports in the image is a symbolic link/],
    ];
    for (const [what, edit, re] of cases) {
      it(`${what} → refused, nothing of the host read or written`, () => {
        hostile++;
        const label = `sym${hostile}`;
        const src = buildExampleImage('hello-web', work, label, (dir) => {
          const meta = JSON.parse(fs.readFileSync(path.join(dir, 'image.json'), 'utf8')) as Record<string, unknown>;
          fs.writeFileSync(path.join(dir, 'image.json'), JSON.stringify({ ...meta, name: `example.com/evil/${label}`, tag: 'latest' }));
          edit(path.join(dir, 'rootfs'));
          if (what.startsWith('/exports/service.template')) fs.symlinkSync(secret, path.join(dir, 'rootfs/exports/service.template'));
        });
        const r = a(['install', '--system', '--name', label, src]);
        fails(r, re);
        assert.equal(deployState(S, label).kind, 'absent');
        assert.equal(fs.existsSync(unit(label)), false);
        for (const f of fs.readdirSync(path.join(S, 'etc/systemd/system'))) {
          const p = path.join(S, 'etc/systemd/system', f);
          if (fs.lstatSync(p).isFile()) assert.doesNotMatch(fs.readFileSync(p, 'utf8'), /root-only-secret/);
        }
      });
    }
    it('hostfs + renameFiles into a sysroot whose var/run is an absolute symlink out of the sysroot: written inside it', () => {
      hostile++;
      const S2 = path.join(work, 'sysroot2');
      for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'var/lib', 'run']) fs.mkdirSync(path.join(S2, d), { recursive: true });
      fs.symlinkSync(outside, path.join(S2, 'var/run')); // absolute: on the target system it means <sysroot><outside>
      const src = buildExampleImage('hello-web', work, 'hostfs', (dir) => {
        const meta = JSON.parse(fs.readFileSync(path.join(dir, 'image.json'), 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(path.join(dir, 'image.json'), JSON.stringify({ ...meta, name: 'example.com/evil/hostfs', tag: 'latest' }));
        const hostfs = path.join(dir, 'rootfs/exports/hostfs');
        fs.mkdirSync(path.join(hostfs, 'var/run'), { recursive: true });
        fs.writeFileSync(path.join(hostfs, 'var/run/pwned'), 'x\n');
        fs.mkdirSync(path.join(hostfs, 'etc'), { recursive: true });
        fs.writeFileSync(path.join(hostfs, 'etc/renamed'), 'y\n');
        const mf = path.join(dir, 'rootfs/exports/manifest.json');
        const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(mf, JSON.stringify({ ...m, renameFiles: { '/etc/renamed': '/var/run/renamed' } }));
      });
      const r = atomicSysroot(S2, ['install', '--system', '--name', 'hostfs', src]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(S2, outside, 'pwned'), 'utf8'), 'x\n', 'below the sysroot, where the link points on the target system');
      assert.equal(fs.readFileSync(path.join(S2, outside, 'renamed'), 'utf8'), 'y\n');
      const u = atomicSysroot(S2, ['uninstall', 'hostfs']);
      assert.equal(u.status, 0, u.stderr);
      assert.equal(fs.existsSync(path.join(S2, outside, 'pwned')), false);
      fs.rmSync(S2, { recursive: true, force: true });
    });
    for (const [kind, target] of [['an absolute', (o: string) => o], ['a relative (climbing above the sysroot)', (o: string) => `../../..${'/..'.repeat(12)}${o}`]] as const) {
      it(`a sysroot whose etc/systemd/system is ${kind} symlink out of it: nothing is written outside`, () => {
        hostile++;
        const S3 = path.join(work, 'sysroot3');
        const outUnits = path.join(outside, 'units');
        for (const d of ['etc/systemd', 'etc/tmpfiles.d', 'var/lib', 'run']) fs.mkdirSync(path.join(S3, d), { recursive: true });
        fs.symlinkSync(target(outUnits), path.join(S3, 'etc/systemd/system'));
        const r = atomicSysroot(S3, ['install', '--system', '--name', 'u3', web]);
        assert.equal(fs.existsSync(outUnits), false, 'no unit written through the link to the build host');
        if (r.status === 0) {
          assert.match(fs.readFileSync(path.join(S3, outUnits, 'u3.service'), 'utf8'), /ExecStart/);
        } else {
          // systemctl --root may refuse a unit dir that leaves the root: then the install is undone
          assert.match(r.stderr, /^Error: /m);
          assert.equal(deployState(S3, 'u3').kind, 'absent');
        }
        fs.rmSync(S3, { recursive: true, force: true });
      });
    }
  });

  // ------------------------------------------------------------------ item 5
  describe('5. a foreign CK/NAME.0 is never deleted', () => {
    it('non-empty CK/foreign.0 → install refused naming the directory, its content intact', () => {
      hostile++;
      fs.mkdirSync(ck('foreign.0'), { recursive: true });
      fs.writeFileSync(ck('foreign.0', 'data'), 'admin data\n');
      const r = a(['install', '--system', '--name', 'foreign', 'example.com/atomic/hello-web:1.0']);
      fails(r, /Cannot install foreign: .*foreign\.0 already exists and is not empty/);
      assert.equal(fs.readFileSync(ck('foreign.0', 'data'), 'utf8'), 'admin data\n');
      assert.equal(deployState(S, 'foreign').kind, 'absent');
      fs.rmSync(ck('foreign.0'), { recursive: true });
    });
  });

  // ------------------------------------------------------------------ item 6
  describe('6. umask and a trusted journal', () => {
    const umask000 = (args: string[]) => {
      const r = spawnSync('sh', ['-c', 'umask 000; exec "$@"', 'sh', process.execPath, BIN, ...args], { encoding: 'utf8', env: { ...process.env, ATOMIC_SYSROOT: S } });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    it('under umask 000 nothing atomic creates is group/world-writable', () => {
      hostile++;
      const r = umask000(['install', '--system', '--name', 'um', 'example.com/atomic/hello-web:1.0']);
      assert.equal(r.status, 0, r.stderr);
      const check = (p: string) => {
        const st = fs.lstatSync(p);
        if (st.isSymbolicLink()) return;
        assert.equal(st.mode & 0o022, 0, `${p} is group/world-writable (${(st.mode & 0o7777).toString(8)})`);
      };
      for (const p of [ck(), ck('.atomic'), ck('.atomic/journal'), ck('.atomic/locks'), ck('.atomic/locks/um'), ck('um.0'), ck('um.0/info'), ck('um.0/config.json'), ck('um.0/um.service'), unit('um'), path.join(S, 'etc/tmpfiles.d/um.conf')]) {
        if (fs.existsSync(p)) check(p);
      }
      for (const p of [ck('.atomic'), ck('.atomic/journal')]) assert.equal(fs.statSync(p).mode & 0o077, 0, `${p} is private`);
      assert.equal(fs.statSync(path.join(repoPath(), 'objects')).mode & 0o077, 0, 'objects/ is closed');
    });
    const plant = (name: string, entry: Record<string, unknown>, mode: number, uid: number) => {
      const f = ck('.atomic/journal', `${name}.json`);
      fs.writeFileSync(f, JSON.stringify(entry));
      fs.chmodSync(f, mode);
      fs.chownSync(f, uid, uid);
      return f;
    };
    const victim = () => {
      const v = path.join(S, 'etc/victim');
      fs.writeFileSync(v, 'precious\n');
      return v;
    };
    const journals: Array<[string, number, number, (n: string) => Record<string, unknown>]> = [
      ['owned by another user (uid 65534)', 0o600, 65534, (n) => ({ op: 'install', name: n, to: 0, from: null, phase: 'host', wasActive: false, created: ['/etc/victim'], pid: 1, time: 0 })],
      ['root-owned but world-writable (0666)', 0o666, 0, (n) => ({ op: 'install', name: n, to: 0, from: null, phase: 'host', wasActive: false, created: ['/etc/victim'], pid: 1, time: 0 })],
      ['root-owned 0600 naming a host file that is not the container\'s', 0o600, 0, (n) => ({ op: 'install', name: n, to: 0, from: null, phase: 'host', wasActive: false, created: ['/etc/victim'], pid: 1, time: 0 })],
      ['root-owned 0600 with a path escaping via ..', 0o600, 0, (n) => ({ op: 'update', name: n, to: 1, from: 0, phase: 'host', wasActive: false, created: ['/run/../etc/victim'], pid: 1, time: 0 })],
    ];
    for (const [what, mode, uid, entry] of journals) {
      it(`a planted journal ${what}: containers list does not obey it`, () => {
        hostile++;
        const v = victim();
        const f = plant('um', entry('um'), mode, uid);
        const r = a(['containers', 'list', '-a']);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /not replaying the journal .*um\.json/);
        assert.equal(fs.readFileSync(v, 'utf8'), 'precious\n', 'the victim file is intact');
        assert.deepEqual(deployState(S, 'um').problems, []);
        fs.rmSync(f);
        fs.rmSync(v);
      });
    }
    it('a journal of our own (root, 0600, our files) is still replayed', () => {
      const j = ck('.atomic/journal', 'um.json');
      fs.writeFileSync(j, JSON.stringify({ op: 'uninstall', name: 'um', to: 0, from: 0, phase: 'host', wasActive: false, created: [], pid: 1, time: 0 }), { mode: 0o600 });
      const r = a(['containers', 'list', '-a']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /completed the interrupted uninstall of um/);
      assert.equal(deployState(S, 'um').kind, 'absent');
    });
  });

  // ------------------------------------------------------------------ item 7
  describe('7. group/other-writable image files are copies, not store objects', () => {
    it('a 0666 file in the image: the checkout has a private copy; a write to it does not reach the store', async () => {
      hostile++;
      const src = buildExampleImage('hello-web', work, 'ww', (dir) => {
        const meta = JSON.parse(fs.readFileSync(path.join(dir, 'image.json'), 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(path.join(dir, 'image.json'), JSON.stringify({ ...meta, name: 'example.com/evil/ww', tag: 'latest' }));
        const f = path.join(dir, 'rootfs/usr/share-me');
        fs.writeFileSync(f, 'shared\n');
        fs.chmodSync(f, 0o666);
        fs.writeFileSync(path.join(dir, 'rootfs/usr/normal'), 'normal\n');
        fs.chmodSync(path.join(dir, 'rootfs/usr/normal'), 0o644);
      });
      for (const n of ['ww1', 'ww2']) assert.equal(a(['install', '--system', '--name', n, src]).status, 0);
      const f1 = ck('ww1.0/rootfs/usr/share-me');
      const f2 = ck('ww2.0/rootfs/usr/share-me');
      const st1 = fs.statSync(f1);
      assert.equal(st1.mode & 0o777, 0o666, 'the image mode is kept');
      assert.equal(st1.nlink, 1, 'a copy, not a hardlink to the store object');
      assert.notEqual(st1.ino, fs.statSync(f2).ino);
      assert.ok(fs.statSync(ck('ww1.0/rootfs/usr/normal')).nlink >= 3, 'an ordinary file is still hardlinked');
      fs.writeFileSync(f1, 'corrupted\n');
      assert.equal(fs.readFileSync(f2, 'utf8'), 'shared\n', 'the other deployment is untouched');
      const v = a(['images', 'verify', 'example.com/evil/ww']);
      assert.equal(v.status, 0, v.stderr);
      assert.equal(fs.statSync(path.join(repoPath(), 'objects')).mode & 0o077, 0, 'objects/ is closed to non-root');
      for (const n of ['ww1', 'ww2']) assert.equal(a(['uninstall', n]).status, 0);
    });
  });
});
