/**
 * The image commands end to end through the real CLI binary, on the shared fixtures:
 * pull, images list/info/tag/delete/verify/version/prune, mount/umount; plus error exits.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { atomic, cliEnvFor, type CliEnv } from '../../helpers/cli.js';
import { rootfsListing } from '../../helpers/rootfs-listing.js';

interface ListRow { repo: string; tag: string; id: string; used: boolean; virtual_size: string; backend: string }

function listJson(env: CliEnv): ListRow[] {
  const r = atomic(env, ['images', 'list', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ListRow[];
}

function ostree(args: string[]): string {
  return execFileSync('ostree', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
}

describe('CLI: image commands on local sources', function () {
  this.timeout(120_000);
  let dir: string;
  let env: CliEnv;
  let fx: string;
  let systest: ListRow;

  before(() => {
    fx = fixtureImages();
    dir = makeTempDir('atomic-cli-');
    env = cliEnvFor(dir);
  });
  after(() => {
    for (const m of fs.readdirSync(dir)) {
      try {
        execFileSync('umount', [path.join(dir, m)], { stdio: 'ignore' });
      } catch {
        /* not mounted */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pulls an OCI layout image and prints Copying blob lines', () => {
    const r = atomic(env, ['pull', '--storage', 'ostree', `oci:${fx}/oci:systest`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Copying blob sha256:[0-9a-f]+/);
    const rows = listJson(env);
    assert.equal(rows.length, 1);
    systest = rows[0];
    assert.equal(systest.backend, 'ostree');
    assert.match(systest.id, /^[0-9a-f]{64}$/);
    assert.equal(systest.id, '90f354a469e21c3135511c2e8fd20891ddefaca1ca5c9c443390bcea1059a319', 'image id is the manifest digest');
  });

  it('a second pull imports nothing and says the blobs are present, without "Copying blob" or "Extracting" (Ansible: changed=false)', () => {
    const r = atomic(env, ['pull', '--storage', 'ostree', `oci:${fx}/oci:systest`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Skipping blob sha256:[0-9a-f]{12} \(already present\)$/m);
    assert.doesNotMatch(r.stdout, /Copying blob|Extracting/);
  });

  it('images list prints atomic\'s columns', () => {
    const r = atomic(env, ['images', 'list']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ {3}REPOSITORY +TAG +IMAGE ID +CREATED +VIRTUAL SIZE +TYPE/);
    assert.equal(lines.length, 2);
    assert.ok(lines[1].startsWith(`   ${systest.repo}`), lines[1]);
    assert.match(lines[1], new RegExp(` ${systest.id.slice(0, 12)} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +[\\d.]+ (KB|MB) +ostree`));
    const q = atomic(env, ['images', 'list', '-q']);
    assert.equal(q.stdout, `${systest.id.slice(0, 12)}\n`);
    const n = atomic(env, ['images', 'list', '-n', '--no-trunc']);
    assert.ok(n.stdout.includes(systest.id));
    assert.ok(!n.stdout.includes('REPOSITORY'));
    const all = atomic(env, ['images', 'list', '-a', '-q']);
    assert.equal(all.stdout.trim().split('\n').length, 4, 'image + config + 2 layers');
    // atomic: filters only pick the rows; the header (widths from every image) is still printed
    const f = atomic(env, ['images', 'list', '-f', 'repo=NOPE']);
    assert.equal(f.stdout.trimEnd(), lines[0].trimEnd());
    assert.equal(lines[0].indexOf('TAG'), 3 + Math.max('REPOSITORY'.length, systest.repo.length + 2) + 1, 'REPOSITORY width: longest name + 2 (the header may overflow it)');
    const bad = atomic(env, ['images', 'list', '-f', 'colour=red']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /The filter colour is not valid\. {2}Please choose from/);
  });

  it('images info shows labels and template variables', () => {
    const r = atomic(env, ['images', 'info', `${systest.repo}:${systest.tag}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Image Name: /);
    assert.match(r.stdout, /\natomic\.type: system\n/);
    assert.match(r.stdout, /Template variables with default value, but overridable with --set:\n/);
    assert.match(r.stdout, /\nPORT: 8081\n/);
    assert.match(r.stdout, /\nRECEIVER: World\n/);
    assert.match(r.stdout, /\nRUN_DIRECTORY: \{SET_BY_OS\}\n/);
    assert.doesNotMatch(r.stdout, /\nNAME: /, 'forced variables are not listed');
    const byId = atomic(env, ['info', systest.id.slice(0, 10)]);
    assert.equal(byId.status, 0, byId.stderr);
    assert.equal(byId.stdout, r.stdout);
  });

  it('images tag, version and delete', () => {
    const t = atomic(env, ['images', 'tag', `${systest.repo}:${systest.tag}`, 'example.com/apps/copy:7']);
    assert.equal(t.status, 0, t.stderr);
    const rows = listJson(env);
    const copy = rows.find((r) => r.repo === 'example.com/apps/copy' && r.tag === '7');
    assert.ok(copy, JSON.stringify(rows));
    assert.equal(copy.id, systest.id);
    const v = atomic(env, ['images', 'version', 'example.com/apps/copy:7']);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /55e972a5e0e2417e9b0/);
    const d = atomic(env, ['images', 'delete', '-y', 'example.com/apps/copy:7']);
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /The following images will be deleted\./);
    assert.equal(listJson(env).length, 1);
    const no = atomic(env, ['images', 'delete', `${systest.repo}:${systest.tag}`], 'n\n');
    assert.equal(no.status, 2);
    assert.equal(listJson(env).length, 1, 'answering no keeps the image');
  });

  it('images verify passes, then detects a corrupted object', () => {
    const ok = atomic(env, ['images', 'verify', systest.id.slice(0, 12)]);
    assert.equal(ok.status, 0, ok.stderr + ok.stdout);
    // corrupt a copy of the repo so the main one stays clean for the next tests
    const copyDir = path.join(dir, 'corrupt');
    execFileSync('cp', ['-a', env.checkout, copyDir]);
    const cenv: CliEnv = { repo: path.join(copyDir, '.storage', 'ostree'), checkout: copyDir };
    const objects = path.join(cenv.repo, 'objects');
    const victim = execFileSync('sh', ['-c', `find ${objects} -name '*.file' -type f -size +1k | head -1`], { encoding: 'utf8' }).trim();
    assert.ok(victim);
    fs.rmSync(victim);
    fs.writeFileSync(victim, 'tampered');
    const bad = atomic(cenv, ['images', 'verify', systest.id.slice(0, 12)]);
    assert.equal(bad.status, 5, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /failed verification/);
  });

  it('mount of the layered fixture reproduces the golden rootfs with hardlinks; umount removes it', () => {
    const p = atomic(env, ['pull', `oci:${fx}/oci:layered`]);
    assert.equal(p.status, 0, p.stderr);
    const name = listJson(env).find((r) => r.repo.includes('layered') || r.tag.includes('layered'));
    assert.ok(name, 'layered image listed');
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const m = atomic(env, ['mount', `${name.repo}:${name.tag}`, mnt]);
    assert.equal(m.status, 0, m.stderr);
    assert.equal(rootfsListing(mnt), fs.readFileSync(path.join(fx, 'expected', 'layered.rootfs.txt'), 'utf8'));
    const st = fs.statSync(path.join(mnt, 'bin', 'busybox'));
    assert.ok(st.nlink >= 2, 'busybox is a hardlink into the store');
    const objs = execFileSync('sh', ['-c', `find ${env.repo}/objects -inum ${st.ino}`], { encoding: 'utf8' }).trim();
    assert.match(objs, /\.file$/);
    const again = atomic(env, ['mount', `${name.repo}:${name.tag}`, mnt]);
    assert.notEqual(again.status, 0);
    const u = atomic(env, ['umount', mnt]);
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(fs.readdirSync(mnt), []);
  });

  it('prune keeps what images use, removes the rest, and ostree fsck stays clean', () => {
    const before = atomic(env, ['images', 'list', '-a', '-q']).stdout.trim().split('\n').length;
    const r = atomic(env, ['images', 'prune']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(atomic(env, ['images', 'list', '-a', '-q']).stdout.trim().split('\n').length, before, 'nothing unused yet');
    const layered = listJson(env).find((x) => x.repo.includes('layered') || x.tag.includes('layered'));
    assert.ok(layered);
    assert.equal(atomic(env, ['images', 'delete', '-y', `${layered.repo}:${layered.tag}`]).status, 0);
    const r2 = atomic(env, ['images', 'prune']);
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stdout, /Deleting ociimage\/26959dbd041cce4102c22033ef6463db9c1d5ff3d1ee4e7707f919fb797e3b3c/);
    assert.doesNotMatch(r2.stdout, /Deleting ociimage\/55e972a5/, 'the base layer is still used by systest');
    ostree(['fsck', `--repo=${env.repo}`]);
    const ok = atomic(env, ['images', 'verify', systest.id.slice(0, 12)]);
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('reports errors with codes, suggestions and distinct exit statuses', () => {
    const nf = atomic(env, ['images', 'info', 'no-such-image']);
    assert.equal(nf.status, 3);
    assert.match(nf.stderr, /^Error: Image no-such-image not found\n/);
    assert.match(nf.stderr, /Try this: /);
    assert.doesNotMatch(nf.stderr, /at .*\.js:\d+/, 'no stack trace without --debug');
    const dbg = atomic(env, ['--debug', 'images', 'info', 'no-such-image']);
    assert.match(dbg.stderr, /Code: IMAGE_NOT_FOUND/);
    const usage = atomic(env, ['images', 'list', '--no-such-flag']);
    assert.equal(usage.status, 2);
    const storage = atomic(env, ['pull', '--storage', 'docker', `oci:${fx}/oci:systest`]);
    assert.equal(storage.status, 2);
    assert.match(storage.stderr, /only the 'ostree' storage/);
    const reg = atomic(env, ['pull', 'oci:no-such-local-dir-or-registry-name']);
    assert.notEqual(reg.status, 0);
    assert.match(reg.stderr, /not fully qualified/i);
  });
});
