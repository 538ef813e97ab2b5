/**
 * One bad item never breaks the others (issue 12, item 12): a dangling image ref (its commit
 * missing) and broken container links / info files are reported, skipped, and can be removed,
 * while images list/delete/prune/pull and containers list keep working for everything else.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { atomicSysroot } from '../../helpers/cli.js';
import { CK } from '../../helpers/deploy-state.js';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';

describe('a broken image or container is reported and skipped', function () {
  this.timeout(300_000);
  let root: string;
  let fx: string;
  let hostile = 0;
  const refDir = () => path.join(root, CK, '.storage/ostree/refs/heads/ociimage');

  before(() => {
    fx = fixtureImages();
    root = makeTempDir('atomic-broken-');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(root, d), { recursive: true });
    for (const a of [['pull', `oci:${fx}/oci:systest`], ['pull', `oci:${fx}/oci:systest-update`], ['install', '--system', '--name', 'c1', 'systest']]) {
      const r = atomicSysroot(root, a);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
    console.log(`      broken items: ${hostile} hostile cases`);
  });

  it('a dangling image ref: list/prune skip it with a warning, info names it and the fix, pull replaces it, delete removes it', () => {
    hostile++;
    const dangling = () => fs.writeFileSync(path.join(refDir(), 'systest-update_3Alatest'), `${'0'.repeat(61)}abc\n`);
    dangling();
    const list = atomicSysroot(root, ['images', 'list']);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /systest\s+latest/);
    assert.match(list.stderr, /Skipping: Image systest-update:latest is damaged: its ref ociimage\/systest-update_3Alatest points at commit 0+abc, which is missing from the store\. Delete it with: atomic images delete systest-update:latest/);
    const info = atomicSysroot(root, ['images', 'info', 'systest-update']);
    assert.notEqual(info.status, 0);
    assert.match(info.stderr, /Error: Image systest-update:latest is damaged/);
    assert.match(info.stderr, /atomic images delete systest-update/);
    // the suggested fixes work
    const pull = atomicSysroot(root, ['pull', `oci:${fx}/oci:systest-update`]);
    assert.equal(pull.status, 0, pull.stderr);
    assert.equal(atomicSysroot(root, ['images', 'verify', 'systest-update']).status, 0);
    dangling();
    const del = atomicSysroot(root, ['images', 'delete', '-y', 'systest-update']);
    assert.equal(del.status, 0, del.stderr);
    assert.equal(fs.existsSync(path.join(refDir(), 'systest-update_3Alatest')), false);
    dangling();
    const prune = atomicSysroot(root, ['images', 'prune']);
    assert.equal(prune.status, 0, prune.stderr);
    assert.match(prune.stderr, /Skipping: Image systest-update:latest is damaged/);
    fs.rmSync(path.join(refDir(), 'systest-update_3Alatest'));
    execFileSync('ostree', ['fsck', '--quiet', `--repo=${path.join(root, CK, '.storage/ostree')}`], { stdio: 'ignore' });
    assert.equal(atomicSysroot(root, ['images', 'verify', 'systest']).status, 0, 'the image a container uses survived');
  });

  it('broken container links and info files: containers list reports each and lists the others', () => {
    const ck = path.join(root, CK);
    fs.symlinkSync('gone.0', path.join(ck, 'gone'));
    fs.symlinkSync('/etc', path.join(ck, 'foreign'));
    fs.symlinkSync('loop', path.join(ck, 'loop'));
    execFileSync('cp', ['-a', path.join(ck, 'c1.0'), path.join(ck, 'junk.0')]);
    fs.symlinkSync('junk.0', path.join(ck, 'junk'));
    fs.writeFileSync(path.join(ck, 'junk.0', 'info'), 'garbage');
    hostile += 4;
    for (const args of [['containers', 'list', '-a'], ['containers', 'list', '-a', '--json']]) {
      const r = atomicSysroot(root, args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /c1/);
      assert.match(r.stderr, /Skipping container gone: its link points at gone\.0, which does not exist; remove it with: atomic uninstall gone/);
      assert.match(r.stderr, /Skipping container foreign: .*\/etc, which is not a deployment slot/);
      assert.match(r.stderr, /Skipping container loop: /);
      assert.match(r.stderr, /Skipping container junk: its deployment info .*junk\.0\/info is unreadable/);
      if (args.includes('--json')) assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
    }
    for (const n of ['gone', 'junk']) {
      const u = atomicSysroot(root, ['uninstall', n]);
      assert.equal(u.status, 0, `${n}: ${u.stderr}`);
      assert.equal(fs.existsSync(path.join(ck, n)), false);
    }
    assert.ok(fs.existsSync('/etc/passwd'), 'nothing outside the sysroot was touched');
  });
});
