import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { OstreeRepo } from '../../../src/store/repo.js';
import { pullImage } from '../../../src/app/images/pull.js';
import { EXIT, isAtomicError } from '../../../src/util/errors.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { tarOf } from '../../helpers/tar.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

/** A tar of files, directories and symlinks (0777; others tar-stream's 0644/0755), owner 0:0, mtime 0. */
function makeTar(entries: Array<{ name: string; content?: string | Buffer; type?: 'file' | 'symlink' | 'directory'; linkname?: string }>): Promise<Buffer> {
  return tarOf(
    entries.map((e) => [
      { name: e.name, type: e.type ?? 'file', mode: e.type === 'symlink' ? 0o777 : undefined, linkname: e.linkname },
      e.type === undefined || e.type === 'file' ? e.content : undefined,
    ]),
  );
}

interface LayoutSpec {
  /** Uncompressed layer tar. */
  layer: Buffer;
  /** Bytes stored as the layer blob (default gzip of `layer`). */
  blob?: Buffer;
  layerMediaType?: string;
  /** Overrides of the layer descriptor as written to the manifest. */
  layerDesc?: Partial<{ digest: string; size: number }>;
  /** Store the blob under this digest file name instead of its own. */
  blobFileDigest?: string;
  diffIds?: string[];
  configPad?: number;
  manifestPad?: number;
  manifestDescSize?: (real: number) => number;
  indexPad?: number;
}

/** Write an OCI layout with one image tagged "t". */
function writeLayout(dir: string, spec: LayoutSpec): void {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer, name = sha(b)): string => {
    fs.writeFileSync(path.join(blobs, name), b);
    return `sha256:${sha(b)}`;
  };
  const blob = spec.blob ?? zlib.gzipSync(spec.layer);
  const blobDigest = `sha256:${sha(blob)}`;
  put(blob, spec.blobFileDigest?.slice(7) ?? sha(blob));
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: spec.diffIds ?? [`sha256:${sha(spec.layer)}`] } }) +
      ' '.repeat(spec.configPad ?? 0),
  );
  const configDigest = put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: spec.layerMediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blobDigest, size: blob.length, ...spec.layerDesc }],
    }) + ' '.repeat(spec.manifestPad ?? 0),
  );
  const manifestDigest = put(manifest);
  const size = spec.manifestDescSize ? spec.manifestDescSize(manifest.length) : manifest.length;
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size, annotations: { 'org.opencontainers.image.ref.name': 't' } }],
    }) + ' '.repeat(spec.indexPad ?? 0),
  );
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(root, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}

// Every case twice: layers imported on the main thread, and on worker threads (image/layer-worker.ts),
// where the errors cross the thread boundary and must keep their code, message and exit code.
for (const workers of ['0', '1'])
  describe(`integration: hostile images are refused${workers === '1' ? ' (layers imported on worker threads)' : ''}`, function () {
    this.timeout(60_000);
    const savedWorkers = process.env.ATOMIC_LAYER_WORKERS;
    before(() => {
      process.env.ATOMIC_LAYER_WORKERS = workers;
    });
    after(() => {
      if (savedWorkers === undefined) delete process.env.ATOMIC_LAYER_WORKERS;
      else process.env.ATOMIC_LAYER_WORKERS = savedWorkers;
    });
    let tmp: string;
    let repoDir: string;
    let repo: OstreeRepo;
    let victimLayer: Buffer;
    let victimCommit: string;
    /** A small valid layer unique to each case (a layer already in the repo would be skipped, not read). */
    const layerFor = (name: string): Promise<Buffer> =>
      makeTar([
        { name: 'etc/', type: 'directory' },
        { name: `etc/${name}`, content: `${name}\n` },
      ]);
    before(async () => {
      tmp = makeTempDir('atomic-hostile-');
      repoDir = path.join(tmp, 'repo');
      repo = await OstreeRepo.openOrCreate(repoDir, 'bare');
      victimLayer = await layerFor('victim');
      writeLayout(path.join(tmp, 'good'), { layer: victimLayer });
      const r = await pullImage(repo, `oci:${path.join(tmp, 'good')}:t`, { name: 'victim:1' });
      victimCommit = r.commit;
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    /** Pull `src` as the existing image "victim:1": must fail with `code`, leaving refs, objects and the work dir as they were. */
    async function refused(src: string, code: string, msg?: RegExp): Promise<void> {
      const refsBefore = [...(await repo.listRefs())].sort();
      const outside = listTree(tmp).filter((p) => !p.startsWith('repo'));
      const objectsBefore = listTree(path.join(repoDir, 'objects'));
      const stagingBefore = fs.readdirSync(path.join(repoDir, 'tmp'));
      let err: unknown;
      await pullImage(repo, src, { name: 'victim:1' }).then(
        () => assert.fail(`pull of ${src} succeeded`),
        (e) => (err = e),
      );
      assert.ok(isAtomicError(err), `not an AtomicError: ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (msg) assert.match(err.message, msg);
      assert.deepEqual([...(await repo.listRefs())].sort(), refsBefore, 'refs changed');
      assert.equal(await repo.resolveRef('ociimage/victim_3A1'), victimCommit);
      assert.deepEqual(
        listTree(tmp).filter((p) => !p.startsWith('repo')),
        outside,
        'something was written outside the repo',
      );
      assert.deepEqual(listTree(path.join(repoDir, 'objects')), objectsBefore, 'objects were added');
      const staging = fs.readdirSync(path.join(repoDir, 'tmp')).filter((n) => n.startsWith('staging-') && !stagingBefore.includes(n));
      assert.deepEqual(staging, [], 'staging dirs left behind');
    }

    it('blob digest mismatch → DIGEST_MISMATCH', async () => {
      const goodLayer = await layerFor('blob-digest-mismatch-digest-mi');
      const dir = path.join(tmp, 'digest');
      const blob = zlib.gzipSync(goodLayer);
      const tampered = Buffer.from(blob);
      tampered[tampered.length - 9] ^= 0xff; // same size, other bytes
      writeLayout(dir, { layer: goodLayer, blob: tampered, layerDesc: { digest: `sha256:${sha(blob)}`, size: blob.length }, blobFileDigest: `sha256:${sha(blob)}` });
      await refused(`oci:${dir}:t`, 'DIGEST_MISMATCH', new RegExp(`sha256:${sha(blob)}.*expected.*got sha256:${sha(tampered)}`));
    });

    it('blob size mismatch (larger and smaller than declared) → SIZE_MISMATCH', async () => {
      const goodLayer = await layerFor('blob-size-mismatch-larger-and');
      const blob = zlib.gzipSync(goodLayer);
      writeLayout(path.join(tmp, 'size-big'), { layer: goodLayer, layerDesc: { size: blob.length - 10 } });
      await refused(`oci:${path.join(tmp, 'size-big')}:t`, 'SIZE_MISMATCH', /expected \d+ bytes/);
      writeLayout(path.join(tmp, 'size-small'), { layer: goodLayer, layerDesc: { size: blob.length + 10 } });
      await refused(`oci:${path.join(tmp, 'size-small')}:t`, 'SIZE_MISMATCH', new RegExp(`expected ${blob.length + 10} bytes, got ${blob.length}`));
    });

    it('huge manifest, config and index.json → IMAGE_TOO_LARGE; a huge manifest declared small → SIZE_MISMATCH', async () => {
      const goodLayer = await layerFor('huge-manifest-config-and-index');
      writeLayout(path.join(tmp, 'big-manifest'), { layer: goodLayer, manifestPad: 5 * MiB });
      await refused(`oci:${path.join(tmp, 'big-manifest')}:t`, 'IMAGE_TOO_LARGE', /4 MiB/);
      writeLayout(path.join(tmp, 'big-config'), { layer: goodLayer, configPad: 5 * MiB });
      await refused(`oci:${path.join(tmp, 'big-config')}:t`, 'IMAGE_TOO_LARGE', /config/);
      writeLayout(path.join(tmp, 'big-index'), { layer: goodLayer, indexPad: 5 * MiB });
      await refused(`oci:${path.join(tmp, 'big-index')}:t`, 'IMAGE_TOO_LARGE', /index\.json/);
      writeLayout(path.join(tmp, 'lying-manifest'), { layer: goodLayer, manifestPad: 5 * MiB, manifestDescSize: () => 300 });
      await refused(`oci:${path.join(tmp, 'lying-manifest')}:t`, 'SIZE_MISMATCH');
    });

    it('unknown layer media type → IMAGE_UNSUPPORTED_MEDIATYPE', async () => {
      const goodLayer = await layerFor('unknown-layer-media-type-image');
      writeLayout(path.join(tmp, 'mediatype'), { layer: goodLayer, layerMediaType: 'application/vnd.example.layer.v1.tar+lzma' });
      await refused(`oci:${path.join(tmp, 'mediatype')}:t`, 'IMAGE_UNSUPPORTED_MEDIATYPE', /application\/vnd\.example\.layer\.v1\.tar\+lzma/);
    });

    it('truncated gzip layer → LAYER_INVALID', async () => {
      const big = await makeTar([{ name: 'data.bin', content: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)) }]);
      const gz = zlib.gzipSync(big);
      writeLayout(path.join(tmp, 'truncated'), { layer: big, blob: gz.subarray(0, Math.floor(gz.length / 2)) });
      await refused(`oci:${path.join(tmp, 'truncated')}:t`, 'LAYER_INVALID');
    });

    it('a layer entry outside the layer root → UNSAFE_PATH with its exit code', async () => {
      const evil = await makeTar([
        { name: 'etc/', type: 'directory' },
        { name: '../../escape-unsafe-path-layer', content: 'x\n' },
      ]);
      writeLayout(path.join(tmp, 'escape'), { layer: evil });
      await refused(`oci:${path.join(tmp, 'escape')}:t`, 'UNSAFE_PATH', /escape-unsafe-path-layer/);
      const err = await pullImage(repo, `oci:${path.join(tmp, 'escape')}:t`, { name: 'victim:1' }).catch((e: unknown) => e);
      assert.ok(isAtomicError(err));
      assert.equal(err.exitCode, EXIT.UNSAFE_INPUT);
      assert.ok(err.suggestions.length > 0, 'the suggestion is kept');
    });

    it('diff_id mismatch → DIGEST_MISMATCH', async () => {
      const goodLayer = await layerFor('diff-id-mismatch-digest-mismat');
      writeLayout(path.join(tmp, 'diffid'), { layer: goodLayer, diffIds: [`sha256:${'0'.repeat(64)}`] });
      await refused(`oci:${path.join(tmp, 'diffid')}:t`, 'DIGEST_MISMATCH', /diff_id/);
    });

    it('docker save tarball whose layer.tar symlink escapes the archive → UNSAFE_PATH', async () => {
      const goodLayer = await layerFor('docker-save-tarball-whose-laye');
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(goodLayer)}`] } }));
      const archive = await makeTar([
        { name: 'cfg.json', content: config },
        { name: 'abc/', type: 'directory' },
        { name: 'abc/layer.tar', type: 'symlink', linkname: '../../../../etc/passwd' },
        { name: 'manifest.json', content: JSON.stringify([{ Config: 'cfg.json', RepoTags: ['evil:1'], Layers: ['abc/layer.tar'] }]) },
      ]);
      const file = path.join(tmp, 'evil.docker.tar');
      fs.writeFileSync(file, archive);
      await refused(`dockertar:/${file}`, 'UNSAFE_PATH', /outside the archive/);
    });

    it('docker save tarball with an oversized manifest.json → IMAGE_TOO_LARGE', async () => {
      const archive = await makeTar([{ name: 'manifest.json', content: '[]' + ' '.repeat(MiB + 10) }]);
      const file = path.join(tmp, 'big.docker.tar');
      fs.writeFileSync(file, archive);
      await refused(`docker-archive:${file}`, 'IMAGE_TOO_LARGE', /manifest\.json.*1 MiB/);
    });

    it('a missing blob → IMAGE_NOT_FOUND', async () => {
      const goodLayer = await layerFor('a-missing-blob-image-not-found');
      const dir = path.join(tmp, 'missing');
      writeLayout(dir, { layer: goodLayer });
      fs.unlinkSync(path.join(dir, 'blobs', 'sha256', sha(zlib.gzipSync(goodLayer))));
      await refused(`oci:${dir}:t`, 'IMAGE_NOT_FOUND', /missing/);
    });

    it('the victim image is still intact', async () => {
      assert.equal(await repo.resolveRef('ociimage/victim_3A1'), victimCommit);
      assert.deepEqual(await repo.verifyCommit(victimCommit as never), []);
    });
  });
