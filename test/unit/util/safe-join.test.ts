/** util/safe-join: paths below a sysroot never leave it, whatever symlinks the sysroot holds. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { secureJoin, secureJoinParent, mkdirsExact } from '../../../src/util/safe-join.js';

describe('util/safe-join', () => {
  let root: string;
  let hostile = 0;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-safejoin-'));
    fs.mkdirSync(path.join(root, 'etc/systemd'), { recursive: true });
    fs.mkdirSync(path.join(root, 'run'));
    fs.symlinkSync('/etc', path.join(root, 'etc/systemd/system')); // absolute: re-rooted
    fs.symlinkSync('../../../../../../..', path.join(root, 'up')); // climbs: clamped at root
    fs.symlinkSync('../run', path.join(root, 'etc/varrun'));
    fs.symlinkSync('loop2', path.join(root, 'loop1'));
    fs.symlinkSync('loop1', path.join(root, 'loop2'));
  });
  after(() => {
    console.log(`      safe-join: ${hostile} hostile paths kept below the root`);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const inside = (p: string) => assert.ok(p === root || p.startsWith(`${root}/`), `${p} is below ${root}`);
  const cases: Array<[string, string]> = [
    ['/etc/systemd/system/x.service', 'etc/x.service'],
    ['/up/etc/passwd', 'etc/passwd'],
    ['/../../etc/passwd', 'etc/passwd'],
    ['/etc/varrun/a', 'run/a'],
    ['/missing/../../x', 'x'],
  ];
  for (const [p, want] of cases) {
    it(`${p} → <root>/${want}`, () => {
      hostile++;
      const r = secureJoin(root, p);
      inside(r);
      assert.equal(r, path.join(root, want));
    });
  }
  it('the last component is not followed by secureJoinParent', () => {
    assert.equal(secureJoinParent(root, '/etc/systemd/system'), path.join(root, 'etc/systemd/system'));
    assert.equal(secureJoinParent(root, '/etc/systemd/system/u.service'), path.join(root, 'etc/u.service'));
  });
  it('a symlink loop is an error, not a hang', () => {
    hostile++;
    assert.throws(() => secureJoin(root, '/loop1/x'), /too many levels of symbolic links/);
  });
  it('mkdirsExact makes each level with the exact mode and refuses to pass a symlink', () => {
    hostile++;
    const old = process.umask(0o077);
    try {
      const made = mkdirsExact(root, path.join(root, 'a/b/c'), 0o755);
      assert.equal(made.length, 3);
      for (const d of made) assert.equal(fs.statSync(d).mode & 0o777, 0o755);
    } finally {
      process.umask(old);
    }
    assert.throws(() => mkdirsExact(root, path.join(root, 'up/x')), /symbolic link/);
  });
});
