/**
 * bin/run.js as npm links it (executed, so its first line runs in sh): node's eager parse of the
 * NODE_EXTRA_CA_CERTS file is moved to the first TLS connection (util/extra-ca.ts), arguments and
 * the exit status pass through unchanged, and a symlink to it (npm's bin link) works.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, makeTempDir } from '../../helpers/fixtures.js';

describe('integration: the bin/run.js launcher', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => {
    tmp = makeTempDir('atomic-launcher-');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const envWith = (extra: Record<string, string>): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, ATOMIC_SYSROOT: path.join(tmp, 'sysroot'), ...extra };
    for (const k of ['ATOMIC_OSTREE_REPO', 'ATOMIC_OSTREE_CHECKOUT_PATH', 'ATOMIC_CONF', 'ATOMIC_NODE_EXTRA_CA_CERTS', 'NODE_EXTRA_CA_CERTS']) if (!(k in extra)) delete env[k];
    return env;
  };

  it('node would parse NODE_EXTRA_CA_CERTS at start-up; the launcher defers it (no warning for a missing file)', () => {
    const env = envWith({ NODE_EXTRA_CA_CERTS: path.join(tmp, 'missing.pem') });
    const direct = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env });
    assert.equal(direct.status, 0);
    assert.match(direct.stderr, /Ignoring extra certs from `.*missing\.pem`/, 'node itself loads the file when started directly');
    const launched = spawnSync(BIN, ['--version'], { encoding: 'utf8', env });
    assert.equal(launched.status, 0, launched.stderr);
    assert.equal(launched.stderr, '');
    assert.equal(launched.stdout, direct.stdout);
    assert.match(launched.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('through a symlink (npm bin link), with arguments that need quoting, and the exit status passed on', () => {
    const link = path.join(tmp, 'atomic');
    fs.symlinkSync(BIN, link);
    const env = envWith({});
    const list = spawnSync(link, ['images', 'list', '--json'], { encoding: 'utf8', env });
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
    const bad = spawnSync(link, ['images', 'info', 'no such image; $(true) "x"'], { encoding: 'utf8', env });
    const direct = spawnSync(process.execPath, [BIN, 'images', 'info', 'no such image; $(true) "x"'], { encoding: 'utf8', env });
    assert.notEqual(bad.status, 0);
    assert.equal(bad.status, direct.status);
    assert.equal(bad.stderr, direct.stderr);
    assert.match(bad.stderr, /no such image; \$\(true\) "x"/);
  });
});
