import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { OstreeRepo } from '../../../src/store/repo.js';
import { pullImage, readImage } from '../../../src/app/images/pull.js';
import { metaString } from '../../../src/image/stored-image.js';
import { StoreImageDestination } from '../../../src/image/store-destination.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { tarOf } from '../../helpers/tar.js';
import type { Checksum, Digest } from '../../../src/store/types.js';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every object file under objects/ as "xx/rest.ext". */
function objectSet(repo: string): Set<string> {
  const out = new Set<string>();
  const root = path.join(repo, 'objects');
  for (const d of fs.readdirSync(root)) for (const f of fs.readdirSync(path.join(root, d))) out.add(`${d}/${f}`);
  return out;
}
const objName = (c: string, ext: string): string => `${c.slice(0, 2)}/${c.slice(2)}.${ext}`;

/** All objects reachable from a commit (commit, dirtrees, dirmetas, files). */
async function reachable(repo: OstreeRepo, commit: Checksum): Promise<Set<string>> {
  const out = new Set<string>([objName(commit, 'commit')]);
  const c = await repo.readCommit(commit);
  const walk = async (tree: Checksum, meta: Checksum): Promise<void> => {
    out.add(objName(tree, 'dirtree'));
    out.add(objName(meta, 'dirmeta'));
    const t = await repo.readDirTree(tree);
    for (const f of t.files) out.add(objName(f.checksum, 'file'));
    for (const d of t.dirs) await walk(d.tree, d.meta);
  };
  await walk(c.rootTree, c.rootMeta);
  return out;
}

function fsck(repo: string): void {
  const out = execFileSync('ostree', ['fsck', `--repo=${repo}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /no errors found/);
}

/** An OCI layout reusing the fixture's base image, with two manifests whose digests share the first hex digit. */
function ambiguousLayout(fx: string, dir: string): { dir: string } {
  const base = JSON.parse(fs.readFileSync(path.join(fx, 'expected', 'base.manifest.json'), 'utf8')) as Record<string, unknown>;
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const blobs = [(base.config as { digest: string }).digest, ...(base.layers as Array<{ digest: string }>).map((l) => l.digest)];
  for (const d of blobs) fs.copyFileSync(path.join(fx, 'oci', 'blobs', 'sha256', d.slice(7)), path.join(dir, 'blobs', 'sha256', d.slice(7)));
  const seen = new Map<string, { digest: string; size: number }>();
  for (let i = 0; ; i++) {
    const raw = Buffer.from(JSON.stringify({ ...base, annotations: { n: String(i) } }));
    const digest = sha256(raw);
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), raw);
    const prev = seen.get(digest[7]!);
    if (prev) {
      const entry = (d: { digest: string; size: number }, tag: string) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...d,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      });
      fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry(prev, 't1'), entry({ digest, size: raw.length }, 't2')] }));
      fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      return { dir };
    }
    seen.set(digest[7]!, { digest, size: raw.length });
  }
}

describe('integration: pull from local transports', function () {
  this.timeout(120_000);
  let fx: string;
  let tmp: string;
  before(() => {
    fx = fixtureImages();
    tmp = makeTempDir('atomic-pull-');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const sources = (): Array<{ label: string; src: string; name: string }> => [
    { label: 'oci (gzip)', src: `oci:${fx}/oci:systest`, name: 'systest:latest' },
    { label: 'oci-uncompressed', src: `oci:${fx}/oci-uncompressed:systest`, name: 'systest:latest' },
    { label: 'oci-zstd', src: `oci:${fx}/oci-zstd:systest`, name: 'systest:latest' },
    { label: 'oci-archive', src: `oci-archive:${fx}/systest.oci.tar`, name: 'systest:latest' },
    { label: 'dockertar', src: `dockertar:/${fx}/systest.docker.tar`, name: 'localhost/systest:1.0' },
  ];

  it('every transport gives identical layer trees, the documented refs and metadata, and a clean fsck', async () => {
    const config = fs.readFileSync(path.join(fx, 'expected', 'systest.config.json'));
    const diffIds = (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    const trees: Record<string, string[]> = {};
    for (const s of sources()) {
      const dir = path.join(tmp, `repo-${s.label.replace(/\W+/g, '-')}`);
      const repo = await OstreeRepo.openOrCreate(dir, 'bare');
      const lines: string[] = [];
      const r = await pullImage(repo, s.src, { onLine: (l) => lines.push(l) });
      assert.equal(r.imageName, s.name, s.label);
      assert.equal(r.layersImported, 2);
      assert.equal(r.layersSkipped, 0);
      assert.equal(lines.filter((l) => l.startsWith('Copying blob sha256:')).length, 4, lines.join('\n'));

      const img = await readImage(repo, s.name);
      assert.equal(img.ref, r.ref);
      assert.equal(img.commit, r.commit);
      assert.equal(img.manifestDigest, r.manifestDigest);
      // image commit: /manifest/manifest.json + docker.manifest / docker.digest / signatures
      const ic = await repo.readCommit(r.commit);
      const manifest = metaString(ic.metadata, 'docker.manifest')!;
      assert.equal(sha256(manifest), r.manifestDigest);
      assert.equal(metaString(ic.metadata, 'docker.digest'), r.manifestDigest);
      assert.equal(metaString(ic.metadata, 'signatures'), '0');
      const manifestFile = execFileSync('ostree', ['cat', `--repo=${dir}`, r.ref, '/manifest/manifest.json']);
      assert.equal(manifestFile.toString(), manifest);
      // config commit: /content = the config bytes, docker.size
      const cfgRef = `ociimage/${img.manifest.config.digest.slice(7)}`;
      const cfgBytes = execFileSync('ostree', ['cat', `--repo=${dir}`, cfgRef, '/content']);
      assert.equal(sha256(cfgBytes), img.manifest.config.digest);
      assert.deepEqual(img.config, JSON.parse(cfgBytes.toString()));
      const cc = await repo.readCommit((await repo.resolveRef(cfgRef))!);
      assert.equal(metaString(cc.metadata, 'docker.size'), String(cfgBytes.length));
      // layer commits
      const roots: string[] = [];
      for (const [i, l] of img.layers.entries()) {
        assert.ok(l.commit, `layer ${l.digest} has a ref`);
        assert.equal(l.ref, `ociimage/${l.digest.slice(7)}`);
        const lc = await repo.readCommit(l.commit!);
        assert.equal(lc.parent, null);
        assert.equal(metaString(lc.metadata, 'docker.size'), String(img.manifest.layers[i]!.size));
        assert.equal(metaString(lc.metadata, 'docker.uncompressed_digest'), diffIds[i]);
        assert.match(metaString(lc.metadata, 'docker.uncompressed_size') ?? '', /^\d+$/);
        roots.push(`${lc.rootTree}/${lc.rootMeta}`);
      }
      trees[s.label] = roots;
      const refs = [...(await repo.listRefs('ociimage/')).keys()].sort();
      assert.equal(refs.length, 4, refs.join(' ')); // image + config + 2 layers
      fsck(dir);
    }
    const labels = Object.keys(trees);
    for (const l of labels) assert.deepEqual(trees[l], trees[labels[0]!], `${l} vs ${labels[0]}`);
    // the docker archive and the uncompressed layout share layer blobs; the gzip/zstd ones don't
    assert.notEqual(trees['oci (gzip)']![1], undefined);
  });

  it('systest then systest-update adds only the new layer, config and image objects; a re-pull imports nothing', async () => {
    const dir = path.join(tmp, 'repo-update');
    const repo = await OstreeRepo.openOrCreate(dir, 'bare');
    const first = await pullImage(repo, `oci:${fx}/oci:systest`);
    const before = objectSet(dir);

    const lines: string[] = [];
    // one layer missing: it and the image are committed in one transaction (one syncfs, not two)
    const trace = path.join(tmp, 'update.trace');
    const savedWorkers = process.env.ATOMIC_LAYER_WORKERS;
    process.env.ATOMIC_FAULT_TRACE = trace;
    delete process.env.ATOMIC_LAYER_WORKERS;
    let upd;
    try {
      upd = await pullImage(repo, `oci:${fx}/oci:systest-update`, { onLine: (l) => lines.push(l) });
    } finally {
      delete process.env.ATOMIC_FAULT_TRACE;
      if (savedWorkers !== undefined) process.env.ATOMIC_LAYER_WORKERS = savedWorkers;
    }
    assert.deepEqual(
      fs
        .readFileSync(trace, 'utf8')
        .split('\n')
        .filter((n) => n === 'store:commit:after-syncfs'),
      ['store:commit:after-syncfs'],
    );
    // the output is that of two transactions: the blob's lines, then the config and manifest lines
    assert.match(lines.at(-3)!, /^Copying blob sha256:[0-9a-f]{12} done$/, lines.join('\n'));
    assert.match(lines.at(-2)!, /^Copying config sha256:[0-9a-f]{12}$/);
    assert.equal(lines.at(-1), 'Writing manifest to image destination');
    assert.equal(upd.imageName, 'systest-update:latest');
    assert.equal(upd.layersSkipped, 1);
    assert.equal(upd.layersImported, 1);
    assert.ok(
      lines.some((l) => /^Skipping blob sha256:55e972a5e0e2\S* \(already present\)$/.test(l)),
      lines.join('\n'),
    );
    const after = objectSet(dir);
    const added = [...after].filter((o) => !before.has(o));
    assert.ok([...before].every((o) => after.has(o)));

    const img = await readImage(repo, 'systest-update');
    const newLayer = img.layers[1]!;
    const cfgCommit = (await repo.resolveRef(`ociimage/${img.manifest.config.digest.slice(7)}`))!;
    const expected = new Set<string>();
    for (const c of [newLayer.commit!, cfgCommit, upd.commit]) for (const o of await reachable(repo, c)) if (!before.has(o)) expected.add(o);
    assert.deepEqual(added.sort(), [...expected].sort());
    const layerNew = [...(await reachable(repo, newLayer.commit!))].filter((o) => !before.has(o));
    assert.ok(layerNew.length > 0 && layerNew.length <= 12, `new layer objects: ${layerNew.length}`);
    assert.ok(added.length < 25, `added ${added.length} objects`);
    // the changed file is among the new objects
    const changes = execFileSync('ostree', ['cat', `--repo=${dir}`, newLayer.ref, '/usr/share/systest/CHANGES']).toString();
    assert.ok(changes.length > 0);

    // a second pull of the same image imports and writes nothing
    const again = await pullImage(repo, `oci:${fx}/oci:systest`);
    assert.equal(again.layersImported, 0);
    assert.equal(again.layersSkipped, 2);
    assert.equal(again.commit, first.commit);
    assert.deepEqual([...objectSet(dir)].sort(), [...after].sort());
    fsck(dir);
  });

  it('readImage resolves names, name:latest and ImageId prefixes', async () => {
    const dir = path.join(tmp, 'repo-read');
    const repo = await OstreeRepo.openOrCreate(dir, 'bare');
    const a = await pullImage(repo, `oci:${fx}/oci:systest`);
    const b = await pullImage(repo, `dockertar:/${fx}/systest-update.docker.tar`);
    const c = await pullImage(repo, `oci:${fx}/oci:systest`, { name: 'copy:2' });
    assert.equal(c.layersImported, 0);
    assert.equal((await readImage(repo, 'systest')).ref, a.ref);
    assert.equal((await readImage(repo, 'systest:latest')).commit, a.commit);
    assert.equal((await readImage(repo, 'oci:systest')).commit, a.commit);
    assert.equal((await readImage(repo, b.imageName)).commit, b.commit);
    assert.equal(b.imageName, 'localhost/systest:2.0');
    assert.equal((await readImage(repo, b.manifestDigest.slice(7, 19))).commit, b.commit);
    const byId = await readImage(repo, a.manifestDigest.slice(7, 17).toUpperCase());
    assert.equal(byId.manifestDigest, a.manifestDigest); // systest:latest and copy:2 share the id
    let err: unknown;
    // Two images whose ImageIds share a first hex digit → an ambiguous prefix.
    const amb = ambiguousLayout(fx, path.join(tmp, 'ambiguous'));
    const p1 = await pullImage(repo, `oci:${amb.dir}:t1`);
    const p2 = await pullImage(repo, `oci:${amb.dir}:t2`);
    assert.equal(p1.manifestDigest.slice(7, 8), p2.manifestDigest.slice(7, 8));
    assert.equal(p2.layersImported, 0);
    await readImage(repo, p1.manifestDigest.slice(7, 8)).catch((e) => (err = e));
    assert.ok(isAtomicError(err));
    assert.equal(err.code, 'USAGE');
    assert.match(err.message, /more images matching prefix/);
    assert.equal((await readImage(repo, p2.manifestDigest.slice(7, 30))).name, 't2:latest');
    err = undefined;
    await readImage(repo, 'nosuchimage').catch((e) => (err = e));
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_NOT_FOUND');
    // layer refs are not images
    err = undefined;
    await readImage(repo, a.manifestDigest.slice(7, 9) === '55' ? 'ffff' : '55e972a5e0e2').catch((e) => (err = e));
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_NOT_FOUND');
  });

  it('docker-archive: NAME:TAG selection, and the newer OCI-layout docker save format', async () => {
    const dir = path.join(tmp, 'repo-docker');
    const repo = await OstreeRepo.openOrCreate(dir, 'bare');
    const legacy = await pullImage(repo, `docker-archive:${fx}/systest.docker.tar:localhost/systest:latest`);
    assert.equal(legacy.imageName, 'localhost/systest:latest');
    let err: unknown;
    await pullImage(repo, `docker-archive:${fx}/systest.docker.tar:localhost/other:1`).catch((e) => (err = e));
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_NOT_FOUND');
    assert.match((err as Error).message, /localhost\/systest:1\.0/);

    // docker >= 25 `docker save`: an OCI layout plus manifest.json pointing into blobs/sha256/
    const src = path.join(tmp, 'newsave');
    fs.cpSync(path.join(fx, 'oci-uncompressed'), src, { recursive: true });
    const m = JSON.parse(fs.readFileSync(path.join(fx, 'expected', 'systest.manifest.json'), 'utf8')) as { config: { digest: string } };
    const un = JSON.parse(fs.readFileSync(path.join(src, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    const entry = un.manifests.find((x) => x.annotations['org.opencontainers.image.ref.name'] === 'systest')!;
    const um = JSON.parse(fs.readFileSync(path.join(src, 'blobs', 'sha256', entry.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    assert.equal(um.config.digest, m.config.digest);
    fs.writeFileSync(
      path.join(src, 'manifest.json'),
      JSON.stringify([{ Config: `blobs/sha256/${um.config.digest.slice(7)}`, RepoTags: null, Layers: um.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }]),
    );
    fs.writeFileSync(path.join(src, 'repositories'), JSON.stringify({ 'example.com/newsave': { v1: 'x' } }));
    const tarFile = path.join(tmp, 'newsave.tar');
    execFileSync('tar', ['-C', src, '-cf', tarFile, '.']);
    const lines: string[] = [];
    const r = await pullImage(repo, `dockertar:/${tarFile}`, { onLine: (l) => lines.push(l) });
    assert.equal(r.imageName, 'example.com/newsave:latest'); // no RepoTags → first key of repositories
    assert.equal(r.layersImported, 0, lines.join('\n')); // same uncompressed layers as the legacy save
    assert.equal(r.layersSkipped, 2);
    const a = await readImage(repo, 'localhost/systest:latest');
    const b = await readImage(repo, 'example.com/newsave');
    assert.deepEqual(
      b.layers.map((l) => l.commit),
      a.layers.map((l) => l.commit),
    );
    assert.equal(b.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.deepEqual(
      b.manifest.layers.map((l) => l.mediaType),
      ['application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.docker.image.rootfs.diff.tar'],
    );
    // no RepoTags, no repositories → the basename
    fs.rmSync(path.join(src, 'repositories'));
    const tar2 = path.join(tmp, 'plain-name.tar');
    execFileSync('tar', ['-C', src, '-cf', tar2, '.']);
    assert.equal((await pullImage(repo, `docker-archive:${tar2}`)).imageName, 'plain-name:latest');
    fsck(dir);
  });

  it('an OCI index is resolved for the requested platform', async () => {
    const dir = path.join(tmp, 'repo-index');
    const repo = await OstreeRepo.openOrCreate(dir, 'bare');
    const arm = await pullImage(repo, `oci:${fx}/oci-index:multi`, { platform: { os: 'linux', architecture: 'arm64' }, name: 'multi:arm64' });
    assert.equal(arm.manifestDigest, 'sha256:84cf3d87cfb7ec85bca445d155fac9b4a5c8b989dde631cc6226b55cf22b783c');
    const amd = await pullImage(repo, `oci:${fx}/oci-index:multi`, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(amd.imageName, 'multi:latest');
    assert.equal(amd.manifestDigest, 'sha256:0654102e924377f8817bd54cea2a638986d881aa1fa8466db7e2176b597335df');
    assert.equal(amd.layersSkipped, 1); // same base layer
    let err: unknown;
    await pullImage(repo, `oci:${fx}/oci-index:multi`, { platform: { os: 'linux', architecture: 'riscv64' } }).catch((e) => (err = e));
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_NOT_FOUND');
    fsck(dir);
  });

  it('a layout with several tags and no tag chosen is a usage error listing the tags', async () => {
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo-usage'), 'bare');
    let err: unknown;
    await pullImage(repo, `oci:${fx}/oci`).catch((e) => (err = e));
    assert.ok(isAtomicError(err));
    assert.equal(err.code, 'USAGE');
    assert.match(err.message, /"systest-update"/);
    err = undefined;
    await pullImage(repo, `oci:${fx}/oci:nosuchtag`).catch((e) => (err = e));
    assert.ok(isAtomicError(err) && err.code === 'IMAGE_NOT_FOUND');
    assert.equal((await repo.listRefs()).size, 0);
  });
});

describe('integration: the image commit in the last layer transaction (putLayerAndImage)', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => (tmp = makeTempDir('atomic-layer-and-image-')));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('asks for the image once the layer is imported: null stores the layer alone, parts store both and move the name', async () => {
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
    const dest = new StoreImageDestination(repo, 'two:latest');
    const layer = async (content: string) => {
      const gz = zlib.gzipSync(await tarOf([[{ name: 'f', type: 'file' }, content]]));
      return { d: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(gz) as Digest, size: gz.length }, open: async () => Readable.from([gz]) };
    };
    const a = await layer('a\n');
    const b = await layer('b\n');
    const asked: string[] = [];
    const first = await dest.putLayerAndImage(a.d, a.open, {}, () => {
      asked.push(String(fs.existsSync(path.join(repo.path, 'refs', 'heads', 'ociimage'))));
      return null;
    });
    assert.equal(first.image, null);
    assert.deepEqual(asked, ['false'], 'asked once the layer was imported, before its ref was written');
    assert.equal(await repo.resolveRef(dest.ref), null, 'no image yet');
    assert.equal(await repo.resolveRef(`ociimage/${a.d.digest.slice(7)}`), first.layer);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [a.d, b.d] }));
    const trust = { v: 1 as const, transport: 'oci', scopes: [], dockerRef: null, description: 'test', topDigest: sha256(manifest), gpg: [], sigstore: [], decision: null };
    const second = await dest.putLayerAndImage(b.d, b.open, {}, () => ({
      config: { d: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config) as Digest, size: config.length }, raw: config },
      manifest: { raw: manifest, digest: sha256(manifest) },
      trust,
    }));
    assert.ok(second.image !== null);
    assert.equal(await repo.resolveRef(dest.ref), second.image);
    assert.equal(await repo.resolveRef(`ociimage/${b.d.digest.slice(7)}`), second.layer);
    execFileSync('ostree', ['fsck', `--repo=${repo.path}`], { stdio: 'pipe' });
  });
});
