/**
 * `--dry-run` of `install --system`, `containers update` and `containers rollback`: the unified
 * diff of the files the operation would write, the value changes with their origin, the layers
 * and the bytes to download, as text and as JSON; and every one leaves the sysroot (store,
 * deployments, /etc) exactly as it was: a snapshot of every path with its inode, link count,
 * mode, size, mtime, ctime and content hash is taken before and after.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureImages } from '../../helpers/fixtures.js';
import { atomicSysroot, makeSysroot } from '../../helpers/cli.js';
import { treeSnapshot } from '../../helpers/deploy-state.js';

interface Report {
  schemaVersion: number;
  operation: string;
  action: string;
  summary: string;
  current: { slot: number; image: string } | null;
  target: { slot: number; path: string; image: string; imageId: string | null } | null;
  files: { path: string; change: string; diff: string }[] | null;
  filesNote: string | null;
  values: { key: string; old: string | null; new: string | null; source: string | null }[] | null;
  valuesNote: string | null;
  layers: { digest: string; size: number | null; present: boolean }[];
  download: { layers: number; bytes: number | null };
  unpackedBytes: null;
}

function manifestOf(fx: string, image: string): { layers: { digest: string; size: number }[] } {
  return JSON.parse(fs.readFileSync(path.join(fx, 'expected', `${image}.manifest.json`), 'utf8')) as { layers: { digest: string; size: number }[] };
}

describe('--dry-run (install, containers update, containers rollback)', function () {
  this.timeout(180_000);
  let fx: string;
  let work: string;
  let S: string;
  const a = (args: string[]) => atomicSysroot(S, args);
  const json = (args: string[]): Report => {
    const r = a(args);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Report;
  };
  /** Runs `args`, asserts exit 0 and that nothing below the sysroot changed; returns stdout. */
  const unchanged = (args: string[]): string => {
    const before = treeSnapshot(S);
    const r = a(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.deepEqual(treeSnapshot(S), before, `${args.join(' ')} changed the sysroot`);
    return r.stdout;
  };

  before(() => {
    fx = fixtureImages();
    ({ work, S } = makeSysroot('atomic-dryrun-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('install --dry-run of an image not in the store: its layers and sizes, a line that the files need the image, exit 0, no store created', () => {
    const out = unchanged(['install', '--system', '--dry-run', '--name', 'dr', '--set', 'PORT=8101', `oci:${fx}/oci:systest`]);
    assert.equal(fs.existsSync(path.join(S, 'ostree')), false, 'no store was created');
    assert.equal(fs.existsSync(path.join(S, 'var/lib/containers')), false, 'no checkout root was created');
    const m = manifestOf(fx, 'systest');
    assert.match(
      out,
      /^Dry run: install dr would deploy systest:latest \([0-9a-f]{12}\) into \/var\/lib\/containers\/atomic\/dr\.0 and enable dr\.service; nothing was changed\.$/m,
    );
    assert.match(out, /^Files: Not rendered: the image oci:\S+ is not in the store.*Pull it first \(atomic pull oci:\S+\), then run the same install --system --dry-run again/m);
    assert.match(out, new RegExp(`^Layers: ${m.layers.length} \\(0 present in the store, ${m.layers.length} to download\\)$`, 'm'));
    for (const l of m.layers) assert.match(out, new RegExp(`^  sha256:${l.digest.slice(7, 19)}  ${l.size} bytes.*  to download$`, 'm'));
    const total = m.layers.reduce((n, l) => n + l.size, 0);
    assert.match(out, new RegExp(`^Disk space: ${total} bytes .* to download \\(compressed, ${m.layers.length} layers\\); the unpacked size is not known from a manifest`, 'm'));
    assert.match(out, /^Value changes \(only the values given on the command line.*\):\n {2}PORT: \(unset\) -> "8101" \(--set\)$/m);
    const r = json(['install', '--system', '--dry-run', '--json', '--name', 'dr', `oci:${fx}/oci:systest`]);
    assert.equal(r.schemaVersion, 1);
    assert.equal(r.files, null);
    assert.match(r.filesNote ?? '', /atomic pull/);
    assert.deepEqual(
      r.layers,
      m.layers.map((l) => ({ digest: l.digest, size: l.size, present: false })),
    );
    assert.deepEqual(r.download, { layers: m.layers.length, bytes: total });
    assert.equal(r.unpackedBytes, null);
  });

  it('install --dry-run of a pulled image: the unit, config.json and tmpfiles as added files, every value with its origin; --json the same', () => {
    assert.equal(a(['pull', `oci:${fx}/oci:systest`]).status, 0);
    const out = unchanged(['install', '--system', '--dry-run', '--name', 'dr', '--set', 'PORT=8101', 'systest:latest']);
    assert.match(out, /^--- \S+\/etc\/systemd\/system\/dr\.service \(absent\)\n\+\+\+ \/var\/lib\/containers\/atomic\/dr\.0\/dr\.service$/m);
    assert.match(out, /^\+Description=.*port 8101\)$/m);
    assert.match(out, /^\+ {12}"PORT=8101",$/m);
    assert.match(out, /^\+\+\+ \/var\/lib\/containers\/atomic\/dr\.0\/tmpfiles-dr\.conf$/m);
    assert.match(out, /^ {2}PORT: \(unset\) -> "8101" \(--set\)$/m);
    assert.match(out, /^ {2}RECEIVER: \(unset\) -> "World" \(image default\)$/m);
    assert.match(out, /^ {2}RUN_DIRECTORY: \(unset\) -> "\/run" \(set by the OS\)$/m);
    assert.match(out, /^Layers: 2 \(2 present in the store, 0 to download\)$/m);
    assert.match(out, /^Disk space: nothing to download/m);
    const r = json(['install', '--system', '--dry-run', '--json', '--name', 'dr', '--set', 'PORT=8101', 'systest:latest']);
    assert.equal(r.action, 'install');
    assert.deepEqual(
      r.files?.map((f) => [path.basename(f.path), f.change]),
      [
        ['dr.service', 'added'],
        ['config.json', 'added'],
        ['dr.conf', 'added'],
      ],
    );
    assert.deepEqual(
      r.values?.find((v) => v.key === 'PORT'),
      { key: 'PORT', old: null, new: '8101', source: 'set' },
    );
    assert.deepEqual(r.download, { layers: 0, bytes: 0 });
    assert.ok(r.layers.every((l) => l.present));
  });

  it('containers update --dry-run --set: the diff of the unit and config.json, the value change, nothing written', () => {
    assert.equal(a(['install', '--system', '--name', 'dr', '--set', 'PORT=8101', 'systest:latest']).status, 0);
    const out = unchanged(['containers', 'update', '--dry-run', '--set', 'PORT=8102', 'dr']);
    assert.match(
      out,
      /^Dry run: containers update dr would deploy systest:latest \([0-9a-f]{12}\) into \/var\/lib\/containers\/atomic\/dr\.1 and switch from \/var\/lib\/containers\/atomic\/dr\.0 .*nothing was changed\.$/m,
    );
    assert.match(out, /^--- \S+\/etc\/systemd\/system\/dr\.service \(live\)$/m);
    assert.match(out, /^-Description=.*port 8101\)$/m);
    assert.match(out, /^\+Description=.*port 8102\)$/m);
    assert.match(out, /^--- \/var\/lib\/containers\/atomic\/dr\.0\/config\.json \(live\)$/m);
    assert.match(out, /^- {12}"PORT=8101",\n\+ {12}"PORT=8102",$/m);
    assert.match(out, /^Value changes:\n {2}PORT: "8101" -> "8102" \(--set\)$/m);
    const r = json(['containers', 'update', '--dry-run', '--json', '--set', 'PORT=8102', 'dr']);
    assert.equal(r.operation, 'update');
    assert.deepEqual(r.values, [{ key: 'PORT', old: '8101', new: '8102', source: 'set' }]);
    assert.deepEqual(
      r.files?.map((f) => [path.basename(f.path), f.change]),
      [
        ['dr.service', 'changed'],
        ['config.json', 'changed'],
        ['dr.conf', 'unchanged'],
      ],
    );
    assert.equal(r.current?.slot, 0);
    assert.equal(r.target?.slot, 1);
    // nothing to do is said as the update says it
    const same = unchanged(['containers', 'update', '--dry-run', 'dr']);
    assert.match(same, /Latest version already installed/);
    // install of an installed name: upstream's answer, nothing else
    assert.match(unchanged(['install', '--system', '--dry-run', '--name', 'dr', 'systest:latest']), /dr already present: install would change nothing/);
  });

  it('containers update --dry-run --rebase to an image not in the store: present and missing layers with sizes, the files need the image', () => {
    const m = manifestOf(fx, 'systest-update');
    const base = manifestOf(fx, 'systest');
    const missing = m.layers.filter((l) => !base.layers.some((b) => b.digest === l.digest));
    assert.ok(missing.length > 0 && missing.length < m.layers.length, 'the fixture shares its base layer');
    const out = unchanged(['containers', 'update', '--dry-run', '--rebase', `oci:${fx}/oci:systest-update`, '--set', 'PORT=8103', 'dr']);
    assert.match(out, new RegExp(`^Layers: ${m.layers.length} \\(${m.layers.length - missing.length} present in the store, ${missing.length} to download\\)$`, 'm'));
    for (const l of missing) assert.match(out, new RegExp(`^  sha256:${l.digest.slice(7, 19)}  ${l.size} bytes.*  to download$`, 'm'));
    assert.match(out, /^Files: Not rendered: the image oci:\S+ is not in the store/m);
    assert.match(out, /^ {2}PORT: "8101" -> "8103" \(--set\)$/m);
    const r = json(['containers', 'update', '--dry-run', '--json', '--rebase', `oci:${fx}/oci:systest-update`, 'dr']);
    assert.deepEqual(r.download, { layers: missing.length, bytes: missing.reduce((n, l) => n + l.size, 0) });
    assert.equal(r.target?.image, 'systest-update:latest');
  });

  it("containers update --dry-run --rebase to a pulled image: the new image's files and its changed defaults", () => {
    assert.equal(a(['pull', `oci:${fx}/oci:systest-update`]).status, 0);
    const out = unchanged(['containers', 'update', '--dry-run', '--rebase', 'systest-update:latest', 'dr']);
    assert.match(out, /^\+\+\+ \/var\/lib\/containers\/atomic\/dr\.1\/dr\.service$/m);
    assert.match(out, /^ {2}IMAGE_NAME: "systest:latest" -> "systest-update:latest" \(set by the OS\)$/m);
    assert.match(out, /^Layers: 2 \(2 present in the store, 0 to download\)$/m);
  });

  it('containers rollback --dry-run: the diff back to the other deployment and the value changes; --json', () => {
    assert.equal(a(['containers', 'update', '--set', 'PORT=8102', 'dr']).status, 0);
    const out = unchanged(['containers', 'rollback', '--dry-run', 'dr']);
    assert.match(
      out,
      /^Dry run: containers rollback dr would switch from \/var\/lib\/containers\/atomic\/dr\.1 \(\S+, [0-9a-f]{12}\) to \/var\/lib\/containers\/atomic\/dr\.0 .*nothing was changed\.$/m,
    );
    assert.match(out, /^--- \S+\/etc\/systemd\/system\/dr\.service \(live\)$/m);
    assert.match(out, /^-Description=.*port 8102\)$/m);
    assert.match(out, /^\+Description=.*port 8101\)$/m);
    assert.match(out, /^--- \/var\/lib\/containers\/atomic\/dr\.1\/config\.json \(live\)$/m);
    assert.match(out, /^ {2}PORT: "8102" -> "8101" \(--set\)$/m);
    assert.doesNotMatch(out, /^Layers:/m);
    const r = json(['containers', 'rollback', '--dry-run', '--json', 'dr']);
    assert.equal(r.action, 'switch');
    assert.deepEqual(r.values, [{ key: 'PORT', old: '8102', new: '8101', source: 'set' }]);
    assert.equal(fs.readlinkSync(path.join(S, 'var/lib/containers/atomic/dr')), '/var/lib/containers/atomic/dr.1');
    assert.equal(a(['containers', 'rollback', '--dry-run', 'nope']).status, 3);
  });

  it('--json needs --dry-run; --dry-run with --all is refused', () => {
    const j = a(['containers', 'update', '--json', 'dr']);
    assert.notEqual(j.status, 0);
    assert.match(j.stderr, /--dry-run/);
    const all = a(['containers', 'update', '--all', '--dry-run']);
    assert.equal(all.status, 2, all.stderr);
    assert.match(all.stderr, /--dry-run previews one container/);
  });
});
