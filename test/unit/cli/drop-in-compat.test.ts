/**
 * Drop-in details of issue 11 (items 9-12) that need no store: error headlines, --optN expansion,
 * ALL_PROCESS_CAPABILITIES from the kernel's cap_last_cap, default names from OCI layouts,
 * a mistyped relative oci: directory, and the docker: transport's missing-CLI error.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { headline } from '../../../src/cli/print-error.js';
import { expandVars } from '../../../src/cli/opt-flags.js';
import { allProcessCapabilities } from '../../../src/render/values.js';
import { kernelCapLastCap } from '../../../src/host/capabilities.js';
import { imageNameFor } from '../../../src/image/transports/oci-common.js';
import { parseImageReference } from '../../../src/image/reference.js';
import { findEngineCli } from '../../../src/image/transports/docker-daemon.js';
import { code } from '../../helpers/error-code.js';
import { makeTempDir } from '../../helpers/fixtures.js';

describe('drop-in compatibility details (issue 11)', () => {
  let dir: string;
  before(() => (dir = makeTempDir('atomic-dropin-')));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('error headline: one "Error:" prefix, atomic pull\'s "Failed:" kept', () => {
    assert.equal(headline('Error: Error: podman save x failed'), 'Error: podman save x failed');
    assert.equal(headline('image not known'), 'Error: image not known');
    assert.equal(headline('Failed: Image x not found'), 'Failed: Image x not found');
  });

  it('--optN values expand $VAR and ${VAR} like os.path.expandvars; unknown variables stay', () => {
    assert.equal(expandVars('-v $HOME:/h ${UNSET_X_11B} $UNSET_Y', { HOME: '/root' }), '-v /root:/h ${UNSET_X_11B} $UNSET_Y');
  });

  it('ALL_PROCESS_CAPABILITIES follows cap_last_cap: 40 adds CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE', () => {
    const f = path.join(dir, 'cap_last_cap');
    fs.writeFileSync(f, '40\n');
    const caps = allProcessCapabilities(kernelCapLastCap(f)).trim().split(',\n');
    assert.equal(caps.length, 41);
    assert.deepEqual(caps.slice(-3), ['"CAP_PERFMON"', '"CAP_BPF"', '"CAP_CHECKPOINT_RESTORE"']);
    fs.writeFileSync(f, '37\n');
    assert.equal(allProcessCapabilities(kernelCapLastCap(f)).trim().split(',\n').length, 38);
    assert.equal(kernelCapLastCap(path.join(dir, 'missing')), undefined);
    // the running kernel's value is what installs use
    const live = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    assert.equal(kernelCapLastCap(), live);
  });

  it('default names of OCI layouts: full names kept, a version-only ref.name tags the directory name', () => {
    assert.equal(imageNameFor('1.0', '/srv/images/myapp'), 'myapp:1.0');
    assert.equal(imageNameFor('latest', '/srv/images/myapp.tar'), 'myapp:latest');
    assert.equal(imageNameFor('localhost/systest:1.0', '/srv/oci'), 'localhost/systest:1.0');
    assert.equal(imageNameFor('systest', '/srv/oci'), 'systest:latest');
    assert.equal(imageNameFor(undefined, '/tmp/etcd.tar'), 'etcd:latest');
    assert.equal(imageNameFor('1.0', '/srv/oci', 'docker.io/library/app:1.0'), 'docker.io/library/app:1.0');
  });

  it('oci:REL/PATH whose first directory exists but the layout does not: a missing directory, not a registry name', () => {
    fs.mkdirSync(path.join(dir, 'build'), { recursive: true });
    assert.equal(code(() => parseImageReference('oci:build/app:1.0', { cwd: dir })), 'IMAGE_NOT_FOUND');
    assert.match(String((() => { try { parseImageReference('oci:build/app:1.0', { cwd: dir }); } catch (e) { return (e as Error).message; } })()), /OCI layout directory .*build\/app" does not exist/);
    // an image name stays a registry reference (atomic's oci:NAME)
    assert.equal(parseImageReference('oci:atomic-test-system', { cwd: dir }).transport, 'registry');
    assert.equal(parseImageReference('oci:fedora/etcd:1.0', { cwd: dir }).transport, 'registry');
  });

  it('docker:NAME with neither docker nor podman installed says what to install', () => {
    const old = process.env.PATH;
    process.env.PATH = dir;
    try {
      let msg = '';
      try {
        findEngineCli('docker:app:1.0');
      } catch (e) {
        msg = `${(e as Error).message} ${((e as { suggestions?: string[] }).suggestions ?? []).join(' ')}`;
      }
      assert.match(msg, /needs the docker or podman command .* neither is installed/);
      assert.match(msg, /apt-get install podman/);
    } finally {
      process.env.PATH = old;
    }
  });
});
