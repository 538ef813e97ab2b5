/**
 * Pulls from a real registry (CNCF distribution via shared/fixtures/registry.sh) match the same
 * images pulled from their OCI layouts; failures (unknown manifest, altered blob) leave the
 * store unchanged; a current image is re-pulled without fetching any blob.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OstreeRepo } from '../../../src/store/repo.js';
import { pullImage, readImage, type PullProgressEvent } from '../../../src/app/images/pull.js';
import { metaString } from '../../../src/image/stored-image.js';
import { MT } from '../../../src/image/manifest.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { blobRequests, registryBlobPath, startRegistry, type TestRegistry } from '../../helpers/registry-server.js';
import { storeProblems } from '../../helpers/invariants.js';
import { execFileSync } from 'node:child_process';
import { layerRef } from '../../../src/image/stored-image.js';
import type { Platform } from '../../../src/image/source.js';

interface LayerShape {
  rootTree: string;
  rootMeta: string;
  uncompressed: string | undefined;
}

/** Per layer (in order): the root dirtree/dirmeta and the uncompressed digest of its commit. */
async function layerShapes(repo: OstreeRepo, name: string): Promise<{ shapes: LayerShape[]; mediaType: string; digests: string[] }> {
  const img = await readImage(repo, name);
  const shapes: LayerShape[] = [];
  for (const l of img.layers) {
    assert.ok(l.commit, `layer ${l.digest} of ${name} has a commit`);
    const c = await repo.readCommit(l.commit);
    shapes.push({ rootTree: c.rootTree, rootMeta: c.rootMeta, uncompressed: metaString(c.metadata, 'docker.uncompressed_digest') });
  }
  return { shapes, mediaType: img.manifest.mediaType, digests: img.layers.map((l) => l.digest) };
}

describe('integration: registry pull', function () {
  this.timeout(180_000);
  let fx: string;
  let reg: TestRegistry;
  let tmp: string;
  let n = 0;
  const freshRepo = (): Promise<OstreeRepo> => OstreeRepo.openOrCreate(path.join(tmp, `repo-${n++}`), 'bare');

  before(async () => {
    fx = fixtureImages();
    tmp = makeTempDir('atomic-regpull-');
    reg = await startRegistry();
  });
  after(() => {
    reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const cases = (): Array<{ label: string; remote: string; local: string; mediaType: string; platform?: Partial<Platform>; layers: number }> => [
    { label: 'OCI manifest (base)', remote: 'fixtures/base:latest', local: `oci:${fx}/oci:base`, mediaType: MT.ociManifest, layers: 1 },
    { label: 'OCI manifest, 3 layers with whiteouts (layered)', remote: 'fixtures/layered', local: `oci:${fx}/oci:layered`, mediaType: MT.ociManifest, layers: 3 },
    { label: 'OCI manifest (systest:1.0)', remote: 'fixtures/systest:1.0', local: `oci:${fx}/oci:systest`, mediaType: MT.ociManifest, layers: 2 },
    { label: 'OCI manifest (systest:2.0)', remote: 'fixtures/systest:2.0', local: `oci:${fx}/oci:systest-update`, mediaType: MT.ociManifest, layers: 2 },
    { label: 'Docker v2s2 manifest (systest-docker:1.0)', remote: 'fixtures/systest-docker:1.0', local: `oci:${fx}/oci:systest`, mediaType: MT.dockerManifest, layers: 2 },
    { label: 'Docker v2s2 manifest (systest-docker:2.0)', remote: 'fixtures/systest-docker:2.0', local: `oci:${fx}/oci:systest-update`, mediaType: MT.dockerManifest, layers: 2 },
    { label: 'pushed from a docker save tarball (from-dockertar:1.0)', remote: 'fixtures/from-dockertar:1.0', local: `dockertar:/${fx}/systest.docker.tar`, mediaType: MT.dockerManifest, layers: 2 },
    { label: 'zstd layers (systest-zstd)', remote: 'fixtures/systest-zstd:latest', local: `oci:${fx}/oci-zstd:systest`, mediaType: MT.ociManifest, layers: 2 },
    { label: 'OCI index, host platform (amd64)', remote: 'fixtures/multi:latest', local: `oci:${fx}/oci-index:multi`, mediaType: MT.ociManifest, layers: 1 },
    { label: 'OCI index, --arch arm64', remote: 'fixtures/multi:latest', local: `oci:${fx}/oci-index:multi`, mediaType: MT.ociManifest, platform: { architecture: 'arm64' }, layers: 1 },
    { label: 'Docker manifest list, host platform (amd64)', remote: 'fixtures/multi-docker:latest', local: `oci:${fx}/oci-index:multi`, mediaType: MT.dockerManifest, layers: 1 },
    { label: 'Docker manifest list, --platform linux/arm64', remote: 'fixtures/multi-docker:latest', local: `oci:${fx}/oci-index:multi`, mediaType: MT.dockerManifest, platform: { os: 'linux', architecture: 'arm64' }, layers: 1 },
  ];

  for (const i of Array.from({ length: 12 }, (_, k) => k)) {
    it(`pulls ${i}: matches the OCI layout pull`, async function () {
      const c = cases()[i]!;
      this.test!.title = `${c.label}: same layer trees as the local pull`;
      const rRepo = await freshRepo();
      const lRepo = await freshRepo();
      const remote = await pullImage(rRepo, `docker://${reg.host}/${c.remote}`, { platform: c.platform });
      await pullImage(lRepo, c.local, { platform: c.platform, name: 'local:latest' });
      assert.equal(remote.imageName, `${reg.host}/${c.remote.includes(':') ? c.remote : `${c.remote}:latest`}`);
      assert.equal(remote.layersImported, c.layers);
      const r = await layerShapes(rRepo, remote.imageName);
      const l = await layerShapes(lRepo, 'local:latest');
      assert.equal(r.mediaType, c.mediaType);
      assert.equal(r.shapes.length, c.layers);
      assert.deepEqual(r.shapes, l.shapes);
      // The config (architecture) is the one for the platform asked for.
      const cfg = (await readImage(rRepo, remote.imageName)).config!;
      assert.equal(cfg.architecture, c.platform?.architecture ?? 'amd64');
    });
  }

  it('pulls by digest (docker://HOST/REPO@sha256:...) and checks the manifest digest', async () => {
    const repo = await freshRepo();
    const first = await pullImage(repo, `docker://${reg.host}/fixtures/systest:1.0`);
    const repo2 = await freshRepo();
    const byDigest = await pullImage(repo2, `docker://${reg.host}/fixtures/systest@${first.manifestDigest}`);
    assert.equal(byDigest.manifestDigest, first.manifestDigest);
    assert.equal(byDigest.imageName, `${reg.host}/fixtures/systest:latest`);
    let err: unknown;
    await pullImage(await freshRepo(), `docker://${reg.host}/fixtures/systest@sha256:${'0'.repeat(64)}`).catch((e) => (err = e));
    assert.ok(isAtomicError(err));
    assert.equal(err.code, 'IMAGE_NOT_FOUND');
  });

  it('reports byte progress while a blob streams, and skips blobs already in the store', async () => {
    const repo = await freshRepo();
    const events: PullProgressEvent[] = [];
    const lines: string[] = [];
    await pullImage(repo, `docker://${reg.host}/fixtures/systest:1.0`, { onProgress: (e) => events.push(e), onLine: (l) => lines.push(l) });
    const copying = events.filter((e) => e.status === 'copying' && typeof e.bytes === 'number');
    assert.ok(copying.length >= 2, JSON.stringify(events));
    for (const e of copying) assert.ok(e.bytes! <= e.size!);
    const big = copying.filter((e) => e.size! > 1_000_000);
    assert.ok(big.some((e) => e.bytes === e.size), 'the final byte count is reported');
    assert.equal(lines.filter((l) => /^Copying blob sha256:[0-9a-f]{12}$/.test(l)).length, 2, lines.join('\n'));

    // systest:2.0 shares the base layer: only the other layer and the config are fetched.
    const before = blobRequests(reg).length;
    const lines2: string[] = [];
    const r = await pullImage(repo, `docker://${reg.host}/fixtures/systest:2.0`, { onLine: (l) => lines2.push(l) });
    assert.equal(r.layersSkipped, 1);
    assert.equal(r.layersImported, 1);
    assert.ok(lines2.some((l) => /^Skipping blob sha256:[0-9a-f]{12} \(already present\)$/.test(l)), lines2.join('\n'));
    assert.equal(blobRequests(reg).length - before, 2, 'one layer + the config fetched');
  });

  it('re-pulling a present, current image fetches no blob (only the manifest)', async () => {
    const repo = await freshRepo();
    const src = `docker://${reg.host}/fixtures/layered:latest`;
    const first = await pullImage(repo, src);
    const before = blobRequests(reg).length;
    assert.ok(before > 0, 'the registry log records blob requests');
    const lines: string[] = [];
    const again = await pullImage(repo, src, { onLine: (l) => lines.push(l) });
    assert.equal(blobRequests(reg).length, before);
    assert.equal(again.commit, first.commit);
    assert.equal(again.layersImported, 0);
    assert.ok(lines.some((l) => /^Skipping config sha256:[0-9a-f]{12} \(already present\)$/.test(l)), lines.join('\n'));
    assert.ok(lines.includes(`Image ${reg.host}/fixtures/layered:latest is up to date`), lines.join('\n'));
  });

  it('an unknown tag or repository is "manifest unknown", naming the image; nothing is stored', async () => {
    const repo = await freshRepo();
    for (const ref of [`docker://${reg.host}/fixtures/systest:9.9`, `docker://${reg.host}/fixtures/nope:1`]) {
      let err: unknown;
      await pullImage(repo, ref).catch((e) => (err = e));
      assert.ok(isAtomicError(err), ref);
      assert.equal(err.code, 'IMAGE_NOT_FOUND');
      assert.match(err.message, /manifest unknown/);
      assert.ok(err.message.includes(ref.slice('docker://'.length)), err.message);
    }
    assert.equal((await repo.listRefs()).size, 0);
  });

  it('a blob altered in the registry storage is refused (digest mismatch) and nothing is committed', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(fx, 'expected', 'systest-update.manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
    const target = manifest.layers[1]!.digest;
    const file = registryBlobPath(reg, target);
    const orig = fs.readFileSync(file);
    const bad = Buffer.from(orig);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bad);
    try {
      const repo = await freshRepo();
      let err: unknown;
      await pullImage(repo, `docker://${reg.host}/fixtures/systest-update:latest`).catch((e) => (err = e));
      assert.ok(isAtomicError(err), String(err));
      assert.equal(err.code, 'DIGEST_MISMATCH', err.message);
      assert.match(err.message, new RegExp(target));
      const refs = [...(await repo.listRefs()).keys()];
      assert.ok(!refs.some((r) => r.endsWith(target.slice(7))), 'no ref for the altered layer');
      assert.ok(!refs.some((r) => r.includes('systest')), 'no image ref');
    } finally {
      fs.writeFileSync(file, orig);
    }
  });

  it("a 3-layer pull with one altered or missing blob fails with that blob's error; layers in flight are aborted; nothing partial is left (ostree fsck, invariants)", async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(fx, 'expected', 'layered.manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
    const digests = manifest.layers.map((l) => l.digest);
    const src = `docker://${reg.host}/fixtures/layered:latest`;
    // layer 0 (1 MiB) is still streaming when the small layer 1 or 2 fails
    for (const [how, target] of [
      ['altered', digests[1]!],
      ['missing', digests[2]!],
    ] as const) {
      const file = registryBlobPath(reg, target);
      const orig = fs.readFileSync(file);
      if (how === 'altered') {
        const bad = Buffer.from(orig);
        bad[Math.floor(bad.length / 2)] ^= 0xff;
        fs.writeFileSync(file, bad);
      } else fs.rmSync(file);
      const repo = await freshRepo();
      const lines: string[] = [];
      let err: unknown;
      try {
        await pullImage(repo, src, { onLine: (l) => lines.push(l) }).catch((e) => (err = e));
      } finally {
        fs.writeFileSync(file, orig);
      }
      assert.ok(isAtomicError(err), `${how}: ${String(err)}`);
      if (how === 'altered') assert.equal(err.code, 'DIGEST_MISMATCH', err.message);
      assert.ok(err.message.includes(target), `${how}: the error names the blob: ${err.message}`);
      const refs = [...(await repo.listRefs()).keys()];
      assert.ok(!refs.some((r) => r.endsWith(target.slice(7))), `${how}: no ref for the broken layer`);
      assert.ok(!refs.some((r) => r.includes('layered')), `${how}: no image ref`);
      // a layer aborted in flight leaves nothing; one that finished first is kept whole
      assert.deepEqual(storeProblems(repo.path), [], how);
      assert.deepEqual(
        fs.readdirSync(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('staging-')),
        [],
        `${how}: no staging left`,
      );
      const fsck = execFileSync('ostree', ['fsck', `--repo=${repo.path}`], { env: { ...process.env, LC_ALL: 'C.UTF-8' }, encoding: 'utf8' });
      assert.match(fsck, /no errors found/);
      // the lines stay in manifest order and never report the broken layer as done
      const order = lines.filter((l) => l.startsWith('Copying blob')).map((l) => digests.findIndex((d) => l.includes(d.slice(7, 19))));
      assert.deepEqual(order, [...order].sort(), lines.join('\n'));
      assert.ok(!lines.includes(`Copying blob ${target.slice(0, 19)} done`), lines.join('\n'));
      // with the blob back, the pull completes from what was kept
      const again = await pullImage(repo, src);
      assert.equal(again.layersImported + again.layersSkipped, 3);
      assert.ok(again.layersImported >= 1);
      assert.deepEqual(storeProblems(repo.path), []);
      assert.ok(await repo.resolveRef(layerRef(target)));
    }
  });
});
