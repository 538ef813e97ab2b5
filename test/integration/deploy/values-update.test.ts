/**
 * Values across updates, through the CLI in a scratch --sysroot: --set values persist, values that
 * came from the image's defaults follow the new image's defaults on --rebase, --reset KEY returns a
 * value to the image default, a --set KEY no template uses is warned about, and install of an
 * installed name keeps `already present` (exit 0) with a warning naming the differences.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { CK } from '../../helpers/deploy-state.js';

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

describe('values across updates (--set persists, defaults follow --rebase, --reset, warnings)', function () {
  this.timeout(180_000);
  let work: string;
  let S: string;
  let img: string;
  const a = (args: string[]) => atomicSysroot(S, args);
  const values = (): Record<string, string> => {
    const link = fs.readlinkSync(path.join(S, CK, 'v'));
    return (JSON.parse(fs.readFileSync(path.join(S, CK, path.basename(link), 'info'), 'utf8')) as { values: Record<string, string> }).values;
  };

  before(() => {
    const fx = fixtureImages();
    work = makeTempDir('atomic-values-');
    S = path.join(work, 'sysroot');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    img = path.join(work, 'oci');
    sh('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${fx}/oci:systest`, `oci:${img}:v1`]);
    // v2: the image changes its RECEIVER default and adds a new default
    const b = path.join(work, 'b');
    sh('umoci', ['unpack', '--rootless', '--image', `${img}:v1`, b]);
    const mf = path.join(b, 'rootfs/exports/manifest.json');
    const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as { defaultValues: Record<string, string> };
    m.defaultValues.RECEIVER = 'Venus';
    m.defaultValues.EXTRA = 'new';
    fs.writeFileSync(mf, JSON.stringify(m));
    sh('umoci', ['repack', '--image', `${img}:v2`, b]);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('install: a --set KEY that nothing uses is warned about by name', () => {
    const r = a(['install', '--system', '--name', 'v', '--set', 'PORT=9001', '--set', 'PROT=1', `oci:${img}:v1`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Warning: --set PROT is not used by any template of /);
    assert.doesNotMatch(r.stderr, /--set PORT is not used/);
    assert.equal(values().RECEIVER, 'World');
  });

  it('install of the installed name with another image or values: `v already present`, exit 0, a warning naming the differences', () => {
    assert.equal(a(['pull', `oci:${img}:v2`]).status, 0);
    const r = a(['install', '--system', '--name', 'v', '--set', 'PORT=9002', 'v2:latest']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^v already present$/m);
    assert.match(r.stderr, /Warning: v is installed already and was not changed; this install asked for image v2:latest \(installed: v1:latest\), PORT=9002 \(installed: PORT=9001\)/);
    assert.match(r.stderr, /atomic containers update --rebase v2:latest --set PORT=9002 v/);
    const same = a(['install', '--system', '--name', 'v', '--set', 'PORT=9001', 'v1:latest']);
    assert.equal(same.status, 0);
    assert.doesNotMatch(same.stderr, /Warning/);
    assert.equal(values().PORT, '9001');
  });

  it('--rebase: --set values persist, image defaults follow the new image (a changed default applies, a new one appears)', () => {
    const r = a(['containers', 'update', '--rebase', `oci:${img}:v2`, 'v']);
    assert.equal(r.status, 0, r.stderr);
    const v = values();
    assert.equal(v.PORT, '9001', '--set persists');
    assert.equal(v.RECEIVER, 'Venus', 'the new default applies');
    assert.equal(v.EXTRA, 'new');
  });

  it('--set then --reset KEY returns the value to the image default; --reset of an unknown key warns', () => {
    assert.equal(a(['containers', 'update', '--set', 'RECEIVER=Mars', 'v']).status, 0);
    assert.equal(values().RECEIVER, 'Mars');
    const r = a(['containers', 'update', '--reset', 'RECEIVER', '--reset', 'NOPE', 'v']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(values().RECEIVER, 'Venus');
    assert.match(r.stderr, /Warning: --reset NOPE: v has no value NOPE/);
    // a --set value is kept on a later rebase back to v1
    assert.equal(a(['containers', 'update', '--set', 'RECEIVER=Mars', 'v']).status, 0);
    assert.equal(a(['containers', 'update', '--rebase', `oci:${img}:v1`, 'v']).status, 0);
    assert.equal(values().RECEIVER, 'Mars');
  });
});
