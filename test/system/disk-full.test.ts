/**
 * Disk full: install and update into a sysroot on a small tmpfs (size=6m, mounted in the
 * harness' private mount namespace) that is filled up so that the operation runs out of space
 * mid-way. The error must say "no space left on device" and name a path on that filesystem; the
 * previous state must be intact (install: the container entirely absent; update: the old
 * deployment, unit and tmpfiles as they were), the store must fsck clean, and the same command
 * must succeed once space is freed.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../helpers/fixtures.js';
import { atomicSysroot } from '../helpers/cli.js';
import { deployState, CK } from '../helpers/deploy-state.js';
import { underSystemd, ostreeFsck, sh } from '../helpers/system.js';

const MNT = '/tmp/atomic-diskfull';

describe('system: disk full during install and update (sysroot on a 6 MiB tmpfs)', function () {
  this.timeout(300_000);
  let fx: string;
  const S = path.join(MNT, 'root');
  const filler = path.join(MNT, 'filler');
  const outcomes: string[] = [];

  /** Leave about `kib` KiB free on the tmpfs. */
  function fillLeaving(kib: number): void {
    fs.rmSync(filler, { force: true });
    const st = fs.statfsSync(MNT);
    const avail = st.bavail * st.bsize;
    const size = Math.max(0, avail - kib * 1024);
    const fd = fs.openSync(filler, 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024, 0x55);
      let left = size;
      while (left > 0) {
        try {
          left -= fs.writeSync(fd, chunk, 0, Math.min(chunk.length, left));
        } catch {
          break; // full already
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  const a = (args: string[]) => atomicSysroot(S, args);
  const repo = () => path.join(S, CK, '.storage', 'ostree');

  before(function () {
    assert.ok(underSystemd(), 'the system suite runs only inside the systemd harness: use `npm run test:system` (npm test runs it)');
    fx = fixtureImages();
    fs.mkdirSync(MNT, { recursive: true });
    const m = sh('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'atomic-diskfull', MNT]);
    assert.equal(m.status, 0, m.stderr);
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
  });
  after(() => {
    if (outcomes.length) console.log(`      disk full: ${outcomes.join('; ')}`);
    sh('umount', [MNT]);
  });

  it('install that runs out of space: clear error naming the path, container absent, store clean, re-run works', () => {
    let failed = 0;
    for (const kib of [0, 32, 256, 1024, 1600, 3500]) {
      fillLeaving(kib);
      const r = a(['install', '--system', '--name', 'd1', `oci:${fx}/oci:systest`]);
      if (r.status === 0) {
        outcomes.push(`install with ${kib} KiB free: fit`);
        fs.rmSync(filler, { force: true });
        assert.equal(a(['uninstall', 'd1']).status, 0);
        continue;
      }
      failed++;
      outcomes.push(`install with ${kib} KiB free: ENOSPC, exit ${r.status} (${r.stderr.split('\n')[0].slice(0, 160)})`);
      assert.match(r.stderr, /no space left on device/, r.stderr);
      assert.ok(r.stderr.includes(MNT), `the error names a path on the full filesystem: ${r.stderr}`);
      const st = deployState(S, 'd1');
      assert.deepEqual([st.kind, st.problems], ['absent', []], `install with ${kib} KiB free`);
      assert.ok(!fs.existsSync(path.join(S, CK, 'd1.0')), 'no half deployment');
      fs.rmSync(filler, { force: true });
      if (fs.existsSync(path.join(repo(), 'config'))) {
        const f = ostreeFsck(repo());
        assert.equal(f.status, 0, f.stderr);
      }
    }
    assert.ok(failed >= 2, `expected the small-space installs to fail: ${outcomes.join('; ')}`);
    fs.rmSync(filler, { force: true });
    const again = a(['install', '--system', '--name', 'd1', `oci:${fx}/oci:systest`]);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(deployState(S, 'd1'), { kind: 'installed', slot: 'd1.0', problems: [] });
  });

  it('update that runs out of space: clear error, the previous deployment intact, re-run works', () => {
    const unitBefore = fs.readFileSync(path.join(S, 'etc/systemd/system/d1.service'), 'utf8');
    let failed = 0;
    for (const kib of [0, 4, 12, 64, 1024]) {
      fillLeaving(kib);
      const r = a(['containers', 'update', '--rebase', `oci:${fx}/oci:systest-update`, 'd1']);
      if (r.status === 0) {
        outcomes.push(`update with ${kib} KiB free: fit`);
        fs.rmSync(filler, { force: true });
        assert.equal(a(['containers', 'rollback', 'd1']).status, 0);
        continue;
      }
      failed++;
      outcomes.push(`update with ${kib} KiB free: ENOSPC, exit ${r.status} (${r.stderr.split('\n')[0].slice(0, 160)})`);
      assert.match(r.stderr, /no space left on device/, r.stderr);
      assert.ok(r.stderr.includes(MNT), `the error names a path on the full filesystem: ${r.stderr}`);
      fs.rmSync(filler, { force: true });
      // still the old deployment, untouched
      assert.equal(fs.readlinkSync(path.join(S, CK, 'd1')), `/${CK}/d1.0`);
      assert.deepEqual(deployState(S, 'd1'), { kind: 'installed', slot: 'd1.0', problems: [] });
      assert.equal(fs.readFileSync(path.join(S, 'etc/systemd/system/d1.service'), 'utf8'), unitBefore);
      const info = JSON.parse(fs.readFileSync(path.join(S, CK, 'd1.0', 'info'), 'utf8')) as { image: string };
      assert.match(info.image, /systest/);
      const f = ostreeFsck(repo());
      assert.equal(f.status, 0, f.stderr);
    }
    assert.ok(failed >= 1, `expected the small-space update to fail: ${outcomes.join('; ')}`);
    fs.rmSync(filler, { force: true });
    const again = a(['containers', 'update', '--rebase', `oci:${fx}/oci:systest-update`, 'd1']);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(deployState(S, 'd1'), { kind: 'installed', slot: 'd1.1', problems: [] });
    assert.equal(ostreeFsck(repo()).status, 0);
  });
});
