/**
 * `containers rollback --dry-run`: prints the unified diff of the files the rollback would switch
 * and the value changes, and leaves the sysroot byte-identical (a hash of every path, mode, link
 * target and file content before and after).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';

function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      h.update(`${path.relative(root, p)}\0${st.mode}\0${st.uid}\0${st.size}\0${st.mtimeMs}\0`);
      if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
      else if (st.isFile()) h.update(fs.readFileSync(p));
      else if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return h.digest('hex');
}

describe('containers rollback --dry-run', function () {
  this.timeout(120_000);
  let work: string;
  let S: string;
  const a = (args: string[]) => atomicSysroot(S, args);

  before(() => {
    const fx = fixtureImages();
    work = makeTempDir('atomic-dryrun-');
    S = path.join(work, 'sysroot');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    assert.equal(a(['install', '--system', '--name', 'dr', '--set', 'PORT=8101', `oci:${fx}/oci:systest`]).status, 0);
    assert.equal(a(['containers', 'update', '--set', 'PORT=8102', 'dr']).status, 0);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('shows the diff and the value changes, and writes nothing (sysroot hash unchanged)', () => {
    const before = treeHash(S);
    const r = a(['containers', 'rollback', '--dry-run', 'dr']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Dry run: containers rollback dr would switch from \/var\/lib\/containers\/atomic\/dr\.1 \(\S+, [0-9a-f]{12}\) to \/var\/lib\/containers\/atomic\/dr\.0 .*nothing was changed\.$/m);
    assert.match(r.stdout, /^--- \S+\/etc\/systemd\/system\/dr\.service \(live\)$/m);
    assert.match(r.stdout, /^-Description=.*port 8102\)$/m);
    assert.match(r.stdout, /^\+Description=.*port 8101\)$/m);
    assert.match(r.stdout, /^--- \/var\/lib\/containers\/atomic\/dr\.1\/config\.json \(live\)$/m);
    assert.match(r.stdout, /^ {2}PORT: "8102" -> "8101"$/m);
    assert.equal(treeHash(S), before, 'the sysroot is byte-identical');
    assert.equal(fs.readlinkSync(path.join(S, 'var/lib/containers/atomic/dr')), '/var/lib/containers/atomic/dr.1');
    const none = a(['containers', 'rollback', '--dry-run', 'nope']);
    assert.equal(none.status, 3);
  });
});
