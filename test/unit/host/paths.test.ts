import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveStorePaths } from '../../../src/host/paths.js';
import { parseAtomicConf } from '../../../src/host/atomic-conf.js';
import { makeTempDir } from '../../helpers/fixtures.js';

describe('store and checkout locations (reference §2.1, §2.2)', () => {
  it('root defaults: CK=/var/lib/containers/atomic, repo CK/.storage/ostree, mode bare', () => {
    const p = resolveStorePaths({ env: { ATOMIC_CONF: '/nonexistent' }, euid: 0, sysroot: '/' });
    assert.equal(p.checkoutRoot, '/var/lib/containers/atomic');
    assert.equal(p.repoMode, 'bare');
    assert.ok(p.repoPath === '/var/lib/containers/atomic/.storage/ostree' || p.repoPath === '/ostree/repo');
    assert.equal(p.unitDir, '/etc/systemd/system');
    assert.equal(p.tmpfilesDir, '/etc/tmpfiles.d');
  });
  it('environment overrides win', () => {
    const p = resolveStorePaths({ env: { ATOMIC_OSTREE_REPO: '/r', ATOMIC_OSTREE_CHECKOUT_PATH: '/c', ATOMIC_CONF: '/nonexistent' }, euid: 0 });
    assert.equal(p.repoPath, '/r');
    assert.equal(p.checkoutRoot, '/c');
  });
  it('user mode uses XDG paths and bare-user', () => {
    const p = resolveStorePaths({ env: { XDG_DATA_HOME: '/home/u/.data', ATOMIC_CONF: '/nonexistent' }, euid: 1000, home: '/home/u' });
    assert.equal(p.repoPath, '/home/u/.data/containers/atomic/repo');
    assert.equal(p.checkoutRoot, '/home/u/.data/containers/atomic');
    assert.equal(p.repoMode, 'bare-user');
    assert.equal(p.unitDir, '/home/u/.config/systemd/user');
    const q = resolveStorePaths({ env: { ATOMIC_CONF: '/nonexistent' }, euid: 1000, home: '/home/u' });
    assert.equal(q.repoPath, '/home/u/.local/share/containers/atomic/repo');
    assert.equal(q.tmpfilesDir, '/home/u/.local/share/containers/tmpfiles');
  });
  it('--sysroot prefixes every host path, and atomic.conf is read from inside it', () => {
    const root = makeTempDir();
    try {
      fs.mkdirSync(path.join(root, 'etc'));
      fs.writeFileSync(path.join(root, 'etc', 'atomic.conf'), '# comment\nostree_repository: /srv/repo\ncheckout_path: "/srv/ck"\n');
      const p = resolveStorePaths({ env: {}, euid: 0, sysroot: root });
      assert.equal(p.repoPath, path.join(root, 'srv/repo'));
      assert.equal(p.checkoutRoot, path.join(root, 'srv/ck'));
      assert.equal(p.unitDir, path.join(root, 'etc/systemd/system'));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
  it('parses atomic.conf key: value lines', () => {
    assert.deepEqual(parseAtomicConf("default_storage: ostree\nruntime: '/usr/bin/crun'\n  # x: y\nbad line\nempty:\n"), { default_storage: 'ostree', runtime: '/usr/bin/crun' });
  });
});
