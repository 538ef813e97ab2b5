/**
 * Interop corpus: real images from real producers (test/fixtures/interop/make-corpus.sh: GNU tar
 * in every format, bsdtar, busybox tar, Python tarfile, umoci insert/repack, buildah bud/copy,
 * podman build + save, skopeo conversions, an mmdebstrap Debian rootfs with an upper layer) are
 * pulled into our store and checked out; the oracle is `umoci unpack` of the same image (and, for
 * the union cases, podman's storage via `buildah from` + `buildah mount`). Every path is compared
 * (type, mode, uid:gid, size, symlink target, sha256, xattrs, hardlink identity) and the real
 * `ostree fsck` judges the store.
 *
 * The corpus is built once per machine under /var/tmp, keyed by the script; the Debian rootfs
 * (mmdebstrap minbase, from Debian's mirror) is cached there too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import { pullImage } from '../../../src/app/images/pull.js';
import { layerCommits, resolveImages } from '../../../src/image/stored-image.js';
import { PROJECT_ROOT, makeTempDir } from '../../helpers/fixtures.js';
import { compareRootfs, rootfsManifest } from '../../helpers/rootfs-compare.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry-server.js';

const CACHE = '/var/tmp/atomic-interop-cache';
const DEBIAN_TAR = path.join(CACHE, 'debian-bookworm-minbase.tar');
const SCRIPT = path.join(PROJECT_ROOT, 'test', 'fixtures', 'interop', 'make-corpus.sh');
/** Cases also unpacked by podman's storage (buildah from + mount), to cross-check the oracle. */
const BUILDAH_CROSS_CHECK = ['union-implicit-parents-through-symlinks', 'union-explicit-dirs-replace-meta-and-symlink', 'union-replace-and-lower-hardlinks', 'umoci-repack-edits'];

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) =>
  execFileSync(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C.UTF-8' } }).toString();

function debianRootfs(): string {
  if (fs.existsSync(DEBIAN_TAR)) return DEBIAN_TAR;
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = `${DEBIAN_TAR}.tmp-${process.pid}.tar`;
  try {
    run('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', 'bookworm', tmp, 'http://deb.debian.org/debian']);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`mmdebstrap could not build the Debian minbase rootfs (it needs Debian's apt mirror, deb.debian.org): ${String((e as { stderr?: Buffer }).stderr ?? e).slice(-2000)}`);
  }
  fs.renameSync(tmp, DEBIAN_TAR);
  return DEBIAN_TAR;
}

function corpus(): string {
  // A corpus built by hand (make-corpus.sh OUT [DEBIAN_TAR]), for working on a single case.
  if (process.env.ATOMIC_INTEROP_CORPUS) return process.env.ATOMIC_INTEROP_CORPUS;
  const deb = debianRootfs();
  const key = createHash('sha256').update(fs.readFileSync(SCRIPT)).update(String(fs.statSync(deb).size)).digest('hex').slice(0, 12);
  const dir = `/var/tmp/atomic-interop-corpus-${key}`;
  if (!fs.existsSync(path.join(dir, 'cases.tsv'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    try {
      run('bash', [SCRIPT, tmp, deb]);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw new Error(`make-corpus.sh failed: ${String((e as { stderr?: Buffer }).stderr ?? e).slice(-3000)}`);
    }
    // The cases name absolute paths: rewrite them for the final directory.
    const tsv = fs.readFileSync(path.join(tmp, 'cases.tsv'), 'utf8').split(tmp).join(dir);
    fs.writeFileSync(path.join(tmp, 'cases.tsv'), tsv);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  return dir;
}

/** GNU tar's extraction of a single-layer image (`DIR:TAG`), as root with owners, modes and xattrs. */
function gnuTarView(ref: string, dest: string): ReturnType<typeof rootfsManifest> {
  const [dir, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  const blob = (d: string) => path.join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const m = index.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
  const manifest = JSON.parse(fs.readFileSync(blob(m.digest), 'utf8')) as { layers: Array<{ digest: string }> };
  if (manifest.layers.length !== 1) throw new Error(`GNU tar oracle: ${ref} has ${manifest.layers.length} layers (only single-layer images)`);
  fs.mkdirSync(dest);
  run('tar', ['--same-owner', '--numeric-owner', '-p', '--xattrs', "--xattrs-include=*", '-xf', blob(manifest.layers[0].digest), '-C', dest]);
  const out = new Map([...rootfsManifest(dest)].filter(([p]) => p !== '/'));
  fs.rmSync(dest, { recursive: true, force: true });
  return out;
}

describe('interop corpus: real producers, checked out exactly as umoci unpacks them', function () {
  this.timeout(20 * 60_000);
  let tmp: string;
  let cases: Array<{ name: string; source: string; oracle: string }>;
  let registry: TestRegistry | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) throw new Error('the interop corpus needs root (chown, xattrs, buildah/podman vfs storage)');
    const dir = corpus();
    cases = fs
      .readFileSync(path.join(dir, 'cases.tsv'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [name, source, oracle] = l.split('\t');
        return { name, source, oracle };
      });
    tmp = makeTempDir('atomic-interop-');
    // Registry round trips: skopeo pushes v2s2 (gzip) and OCI (zstd) manifests to the CNCF registry.
    registry = await startRegistry({ push: false });
    for (const [name, oracle, fmt] of [
      ['skopeo-registry-v2s2-union', 'union-implicit-parents-through-symlinks', ['--format', 'v2s2']],
      ['skopeo-registry-oci-zstd-buildah', 'buildah-bud-chmod-chown-rm', ['--format', 'oci', '--dest-compress-format', 'zstd']],
    ] as const) {
      const o = cases.find((c) => c.name === oracle)!;
      const dst = `${registry.host}/interop/${name}:latest`;
      run('skopeo', ['copy', '-q', '--dest-tls-verify=false', ...fmt, `oci:${o.oracle}`, `docker://${dst}`]);
      cases.push({ name, source: `docker://${dst}`, oracle: o.oracle });
    }
  });
  after(() => {
    registry?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('has at least 40 cases, every one identical to umoci unpack, and a store ostree fsck accepts', async () => {
    assert.ok(cases.length >= 40, `only ${cases.length} cases`);
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
    const failures: string[] = [];
    const cross: string[] = [];
    const byOracle = { umoci: 0, buildah: 0, gnutar: 0 };
    const umociCannot: string[] = [];
    let crossIdentical = 0;
    // Device nodes are skipped with a warning (the store cannot hold them; runc's /dev replaces them).
    const warnings: string[] = [];
    let devices = 0;
    const st = path.join(tmp, 'containers');
    const ba = ['--root', `${st}/root`, '--runroot', `${st}/run`, '--storage-driver', 'vfs'];
    /** podman's storage view of an image (its rootfs directory itself is made by containers/storage: dropped). */
    const buildahView = <T>(ref: string, fn: (m: ReturnType<typeof rootfsManifest>) => T): T => {
      const ctr = run('buildah', [...ba, 'from', '-q', `oci:${ref}`]).trim();
      try {
        const mnt = run('buildah', [...ba, 'mount', ctr]).trim();
        return fn(new Map([...rootfsManifest(mnt)].filter(([p]) => p !== '/')));
      } finally {
        run('buildah', [...ba, 'rm', ctr]);
      }
    };
    for (const [i, c] of cases.entries()) {
      const bundle = path.join(tmp, `umoci-${i}`);
      const ours = path.join(tmp, `ours-${i}`);
      let kind: 'umoci' | 'buildah' | 'gnutar' = 'umoci';
      let oracle: ReturnType<typeof rootfsManifest>;
      try {
        run('umoci', ['unpack', '--image', c.oracle, bundle]);
        oracle = rootfsManifest(path.join(bundle, 'rootfs'));
      } catch (e) {
        // umoci refuses some valid tars (GNU 'S' sparse): podman's storage is the oracle there.
        umociCannot.push(`${c.name}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').pop()}`);
        try {
          kind = 'buildah';
          oracle = buildahView(c.oracle, (m) => m);
        } catch (e2) {
          // Neither reads it (GNU 'S' sparse headers): GNU tar itself, the format's own reader.
          umociCannot.push(`  and podman storage cannot either: ${String((e2 as { stderr?: Buffer }).stderr ?? e2).trim().split('\n').pop()}`);
          kind = 'gnutar';
          oracle = gnuTarView(c.oracle, path.join(tmp, `gnutar-${i}`));
        }
      }
      const oracleFull = new Map(oracle);
      let diffs: string[];
      const diffs0: string[] = [];
      try {
        const res = await pullImage(repo, c.source, { name: `localhost/interop/case${i}:latest`, registry: { tlsVerify: false }, onWarning: (w) => warnings.push(w) });
        const [img] = await resolveImages(repo, res.imageName);
        await checkoutLayers(repo, await layerCommits(repo, img), ours);
        const mine = rootfsManifest(ours);
        if (kind !== 'umoci') mine.delete('/');
        const special = [...oracle].filter(([, e]) => e.line.startsWith('?')).map(([p]) => p);
        for (const p of special) {
          devices++;
          oracle.delete(p);
          if (!warnings.some((w) => w.includes(`${p.slice(1)} `))) diffs0.push(`device node ${JSON.stringify(p)} skipped without a warning`);
        }
        diffs = [...diffs0, ...compareRootfs(oracle, mine)];
      } catch (e) {
        diffs = [`error: ${e instanceof Error ? e.message : String(e)}`];
      }
      if (diffs.length === 0) byOracle[kind]++;
      else failures.push(`${c.name} (${c.source}, oracle ${kind}):\n    ${diffs.slice(0, 15).join('\n    ')}${diffs.length > 15 ? `\n    ... ${diffs.length - 15} more` : ''}`);
      if (kind === 'umoci' && BUILDAH_CROSS_CHECK.includes(c.name)) {
        oracleFull.delete('/');
        const d = buildahView(c.oracle, (m) => compareRootfs(oracleFull, m));
        if (d.length === 0) crossIdentical++;
        else cross.push(`${c.name}: buildah vs umoci:\n    ${d.slice(0, 10).join('\n    ')}`);
      }
      fs.rmSync(bundle, { recursive: true, force: true });
      fs.rmSync(ours, { recursive: true, force: true });
    }
    run('ostree', ['fsck', `--repo=${repo.path}`]);
    const identical = byOracle.umoci + byOracle.buildah + byOracle.gnutar;
    console.log(`      interop: ${cases.length} cases, ${identical} identical (${byOracle.umoci} to umoci unpack, ${byOracle.buildah} to podman storage where umoci cannot read the image, ${byOracle.gnutar} to GNU tar -x where neither can); ${devices} device nodes skipped with a warning; umoci cross-checked with podman storage on ${crossIdentical}/${BUILDAH_CROSS_CHECK.filter((n) => cases.some((c) => c.name === n)).length} union cases; ostree fsck clean`);
    for (const u of umociCannot) console.log(`        umoci cannot read ${u}`);
    assert.deepEqual(cross, [], 'umoci and podman storage disagree (oracle problem)');
    assert.equal(identical, cases.length, `not identical to the oracle:\n  ${failures.join('\n  ')}`);
  });
});
