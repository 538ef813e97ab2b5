/**
 * What existing scripts and Ansible's atomic modules rely on (issue 11), through the CLI in a
 * scratch --sysroot: the ostree storage installs a system container for any image (--storage
 * ostree, or default_storage in atomic.conf); `run IMAGE` without a command never runs a service
 * image in the foreground; a no-op rebase in any spelling; no "Copying blob"/"Extracting" when
 * nothing is fetched or written; `--all` updates with atomic's Checking lines and SUMMARY;
 * "Unable to find" for absent containers; and (root + runc) `install --system` of an
 * atomic.run=once image runs it once with the --set values.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../../helpers/fixtures.js';
import { atomicSysroot } from '../../helpers/cli.js';
import { buildExampleImage } from '../../helpers/example-image.js';
import { requireRootAndRuntime } from '../../helpers/runtime-required.js';

/** exports-examples/hello-web stored as `TAG:latest` with the given labels (and optional edits). */
function helloWeb(work: string, tag: string, labels: Record<string, string>, edit?: (dir: string) => void): string {
  return buildExampleImage('hello-web', work, tag, (d) => {
    const f = path.join(d, 'image.json');
    const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { name: string; tag: string; config: Record<string, unknown> };
    j.name = tag;
    j.tag = 'latest';
    j.config = { ...j.config, Labels: labels };
    fs.writeFileSync(f, JSON.stringify(j));
    edit?.(d);
  });
}

describe('drop-in behaviour for scripts and Ansible (sysroot)', function () {
  this.timeout(300_000);
  let work: string;
  let S: string;
  let plainSrc: string;
  const a = (args: string[], extra: Record<string, string> = {}) => atomicSysroot(S, args, extra);
  const ck = (...p: string[]) => path.join(S, 'var/lib/containers/atomic', ...p);
  const unit = (n: string) => path.join(S, 'etc/systemd/system', `${n}.service`);

  before(() => {
    work = makeTempDir('atomic-dropin-');
    S = path.join(work, 'sysroot');
    for (const d of ['etc/systemd/system', 'etc/tmpfiles.d', 'run', 'var/lib']) fs.mkdirSync(path.join(S, d), { recursive: true });
    // no atomic.type label and an INSTALL label that must not run with the ostree storage
    plainSrc = helloWeb(work, 'plain', { INSTALL: `/bin/sh -c 'touch $HOST/install-label-ran'` });
    const r = a(['pull', plainSrc]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('install --storage ostree IMAGE (no --system, as Ansible without `mode`): a system container for an unlabelled image; the INSTALL label does not run', () => {
    const r = a(['install', '--storage=ostree', '--name=viaflag', 'plain']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Extracting to \S+viaflag\.0$/m);
    assert.ok(fs.existsSync(unit('viaflag')));
    assert.ok(fs.lstatSync(ck('viaflag')).isSymbolicLink());
    assert.ok(!fs.existsSync(path.join(S, 'install-label-ran')), 'the INSTALL label is for the docker backend only');
    const again = a(['install', '--storage=ostree', '--name=viaflag', 'plain']);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /^viaflag already present$/m);
    assert.doesNotMatch(again.stdout, /Extracting|Copying blob/);
    const set = a(['install', '--storage=ostree', '--set', 'PORT=1', 'plain']);
    assert.equal(set.status, 2);
    assert.match(set.stderr, /--set is valid only when used with --system or --user/);
  });

  it('default_storage: ostree in /etc/atomic.conf makes `install IMAGE` a system install; without it the INSTALL label runs', () => {
    fs.writeFileSync(path.join(S, 'etc/atomic.conf'), '# atomic.conf\ndefault_storage: ostree\n');
    try {
      const r = a(['install', '--name=viaconf', 'plain']);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.ok(fs.existsSync(unit('viaconf')));
      assert.ok(!fs.existsSync(path.join(S, 'install-label-ran')));
    } finally {
      fs.rmSync(path.join(S, 'etc/atomic.conf'));
    }
    const l = a(['install', '--name=vialabel', 'plain']);
    assert.equal(l.status, 0, l.stderr + l.stdout);
    assert.ok(fs.existsSync(path.join(S, 'install-label-ran')), 'docker storage (the default): the INSTALL label ran');
    assert.ok(!fs.existsSync(unit('vialabel')));
  });

  it('run --storage ostree IMAGE without a command, IMAGE not installed: fails at once (exit 1), runs nothing', () => {
    const t0 = Date.now();
    const r = a(['run', '--storage=ostree', 'plain']);
    assert.equal(r.status, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /Unable to start 'plain': it is not an installed system container/);
    assert.ok(Date.now() - t0 < 60_000);
    const missing = a(['run', '--storage=ostree', 'no-such-image']);
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /Unable to start 'no-such-image'/);
  });

  it('containers update --rebase to the deployed image in any spelling: "Latest version already installed.", nothing redeployed', () => {
    const before = fs.readlinkSync(ck('viaflag'));
    for (const spelling of ['plain', 'plain:latest', 'oci:plain:latest']) {
      const r = a(['containers', 'update', '--rebase', spelling, 'viaflag']);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.equal(r.stdout, 'Latest version already installed.\n', spelling);
    }
    const same = a(['containers', 'update', '--set', 'PORT=8080', 'viaflag']);
    assert.equal(same.stdout, 'Latest version already installed.\n', 'setting a value to what it is changes nothing');
    assert.equal(fs.readlinkSync(ck('viaflag')), before);
    assert.ok(!fs.existsSync(ck('viaflag.1')));
  });

  it('a second pull of a present image prints neither "Copying blob" nor "Extracting"', () => {
    const r = a(['pull', plainSrc]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Skipping blob sha256:[0-9a-f]{12} \(already present\)$/m);
    assert.doesNotMatch(r.stdout, /Copying blob|Extracting/);
  });

  it('containers update --all: a Checking line per container, then the SUMMARY table; exit 0', () => {
    const r = a(['containers', 'update', '--all']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const lines = r.stdout.split('\n');
    assert.ok(lines.includes('Checking container viaconf...'), r.stdout);
    assert.ok(lines.includes('Checking container viaflag...'), r.stdout);
    const i = lines.indexOf('SUMMARY');
    assert.ok(i > 0 && lines[i - 1] === '' && lines[i + 1] === '', r.stdout);
    assert.equal(lines[i + 2], `${'Container'.padEnd(15)} ${'Image ID before update'.padEnd(32)} ${'Image ID after update'.padEnd(32)} ${'Latest image ID'.padEnd(32)} Status         `);
    const row = lines.find((l) => l.startsWith('viaflag '))!;
    assert.match(row, /^viaflag {9}[0-9a-f]{32} [0-9a-f]{32} [0-9a-f]{32} Updated {8}$/);
  });

  it('containers update --all records a failing container as Failed and still exits 0', () => {
    // break one deployment's info: its update fails, the other is still checked
    const info = ck(path.basename(fs.readlinkSync(ck('viaconf'))), 'info'); // the link target is the path as the target system sees it
    const saved = fs.readFileSync(info);
    const j = JSON.parse(saved.toString()) as Record<string, unknown>;
    fs.writeFileSync(info, JSON.stringify({ ...j, image: 'gone-image:1' }));
    try {
      const r = a(['containers', 'update', '--all']);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^viaconf {9}[0-9a-f]{32} [0-9a-f]{32} <NOT FOUND> {22}Failed {9}$/m);
      assert.match(r.stdout, /^viaflag .* Updated {8}$/m);
      assert.match(r.stderr, /Could not update viaconf/);
    } finally {
      fs.writeFileSync(info, saved);
    }
  });

  it('uninstall / containers delete of a missing container: "Unable to find \'NAME\'" on stderr, exit 1', () => {
    const u = a(['uninstall', 'nosuch']);
    assert.equal(u.status, 1);
    assert.match(u.stderr, /Unable to find 'nosuch' in the following backends: ostree/);
    const d = a(['containers', 'delete', '-y', 'nosuch']);
    assert.equal(d.status, 1);
    assert.match(d.stderr, /Unable to find 'nosuch'/);
    assert.ok(fs.existsSync(unit('viaflag')), 'nothing else was touched');
  });

  it('uninstall -n NAME with a system container: atomic\'s message; plain uninstall removes it', () => {
    const n = a(['uninstall', '-n', 'viaflag', 'plain']);
    assert.notEqual(n.status, 0);
    assert.match(n.stderr, /System containers do not support --name\. Please use atomic uninstall NAME/);
    assert.ok(fs.existsSync(unit('viaflag')));
    for (const c of ['viaflag', 'viaconf']) {
      const r = a(['uninstall', c]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!fs.existsSync(unit(c)));
    }
  });

  it('install --system of an atomic.run=once image runs it once with --set (streamed output, its exit status, nothing left)', () => {
    requireRootAndRuntime();
    const once = helloWeb(work, 'onceexp', { 'atomic.run': 'once' }, (d) => {
      const f = path.join(d, 'rootfs', 'exports', 'config.json.template');
      const cfg = JSON.parse(fs.readFileSync(f, 'utf8')) as { process: { args: string[] }; mounts: Array<{ destination: string }> };
      cfg.process.args = ['/bin/sh', '-c', 'echo "HI $RECEIVER from $NAME"; exit 4'];
      cfg.mounts = cfg.mounts.filter((m) => m.destination !== '/var/run');
      fs.writeFileSync(f, JSON.stringify(cfg).replace('"NAME=$NAME"', '"NAME=$NAME", "RECEIVER=$RECEIVER"'));
      fs.rmSync(path.join(d, 'rootfs', 'exports', 'tmpfiles.template'));
    });
    assert.equal(a(['pull', once]).status, 0);
    const r = a(['install', '--system', '--name=Saturn', '--set', 'RECEIVER=Pluto', 'onceexp']);
    assert.equal(r.status, 4, r.stderr + r.stdout);
    assert.match(r.stdout, /^HI Pluto from Saturn$/m);
    assert.ok(!fs.existsSync(unit('Saturn')));
    assert.ok(!fs.existsSync(ck('Saturn')) && !fs.existsSync(ck('Saturn.0')));
    // `run` without a command: a run-once image runs (once)
    const run = a(['run', '--storage=ostree', '--set', 'RECEIVER=Mars', 'onceexp']);
    assert.equal(run.status, 4, run.stderr + run.stdout);
    assert.match(run.stdout, /^HI Mars from run-once-\d+$/m);
  });
});
