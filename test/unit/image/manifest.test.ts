import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostPlatform, layerCompression, MT, parseManifest, selectPlatform, type ImageIndex } from '../../../src/image/manifest.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { code } from '../../helpers/error-code.js';
import { fixtureImages } from '../../helpers/fixtures.js';
import type { Descriptor } from '../../../src/image/source.js';

const D = (c: string): string => 'sha256:' + c.repeat(64);
const cfg = { mediaType: MT.ociConfig, digest: D('a'), size: 10 };
const lay = (mt: string, c = 'b'): Descriptor => ({ mediaType: mt, digest: D(c), size: 20 } as Descriptor);
const buf = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

describe('image/manifest', () => {
  it('parses the umoci fixture manifest (no mediaType)', () => {
    const fx = fixtureImages();
    const raw = fs.readFileSync(path.join(fx, 'expected', 'systest.manifest.json'));
    const m = parseManifest(raw, 'systest');
    assert.equal(m.kind, 'manifest');
    if (m.kind !== 'manifest') return;
    assert.equal(m.mediaType, MT.ociManifest);
    assert.equal(m.layers.length, 2);
    assert.equal(m.config.mediaType, MT.ociConfig);
  });
  it('parses the fixture OCI index and picks a platform', () => {
    const fx = fixtureImages();
    const top = parseManifest(fs.readFileSync(path.join(fx, 'oci-index', 'index.json')), 'index.json');
    assert.equal(top.kind, 'index');
    const inner = (top as ImageIndex).manifests[0]!;
    const idx = parseManifest(fs.readFileSync(path.join(fx, 'oci-index', 'blobs', 'sha256', inner.digest.slice(7))), 'multi', inner.mediaType) as ImageIndex;
    assert.equal(idx.kind, 'index');
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'arm64' }).digest, 'sha256:84cf3d87cfb7ec85bca445d155fac9b4a5c8b989dde631cc6226b55cf22b783c');
    assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'amd64' }).digest, 'sha256:0654102e924377f8817bd54cea2a638986d881aa1fa8466db7e2176b597335df');
    assert.equal(code(() => selectPlatform(idx, { os: 'linux', architecture: 's390x' })), 'IMAGE_NOT_FOUND');
  });
  it('docker schema2 manifest and manifest list', () => {
    const m = parseManifest(buf({ schemaVersion: 2, mediaType: MT.dockerManifest, config: { ...cfg, mediaType: MT.dockerConfig }, layers: [lay(MT.dockerLayerGzip)] }));
    assert.equal(m.kind, 'manifest');
    assert.equal(m.mediaType, MT.dockerManifest);
    const l = parseManifest(buf({ schemaVersion: 2, mediaType: MT.dockerManifestList, manifests: [{ mediaType: MT.dockerManifest, digest: D('c'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] }));
    assert.equal(l.kind, 'index');
  });
  it('mediaType is optional: shape or descriptor decides', () => {
    assert.equal(parseManifest(buf({ schemaVersion: 2, manifests: [] })).kind, 'index');
    assert.equal(parseManifest(buf({ schemaVersion: 2, config: cfg, layers: [] }), 'm', MT.ociManifest).kind, 'manifest');
  });
  it('layer media types', () => {
    assert.equal(layerCompression(lay(MT.ociLayer)), 'none');
    assert.equal(layerCompression(lay(MT.ociLayerGzip)), 'gzip');
    assert.equal(layerCompression(lay(MT.ociLayerZstd)), 'zstd');
    assert.equal(layerCompression(lay(MT.dockerLayerGzip)), 'gzip');
    assert.equal(code(() => layerCompression(lay(MT.dockerForeignLayerGzip))), 'IMAGE_UNSUPPORTED');
    assert.equal(code(() => layerCompression(lay(MT.ociLayerNondistGzip))), 'IMAGE_UNSUPPORTED');
    assert.equal(code(() => layerCompression(lay('application/x-whatever'))), 'IMAGE_UNSUPPORTED_MEDIATYPE');
  });
  const bad: Array<[string, unknown, string, string?]> = [
    ['unknown manifest media type', { schemaVersion: 2, mediaType: 'application/vnd.example+json', config: cfg, layers: [] }, 'IMAGE_UNSUPPORTED_MEDIATYPE'],
    ['unknown layer media type', { schemaVersion: 2, config: cfg, layers: [lay('application/x-tar+lzma')] }, 'IMAGE_UNSUPPORTED_MEDIATYPE'],
    ['unknown config media type', { schemaVersion: 2, config: { ...cfg, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [] }, 'IMAGE_UNSUPPORTED_MEDIATYPE'],
    ['foreign layer', { schemaVersion: 2, mediaType: MT.dockerManifest, config: { ...cfg, mediaType: MT.dockerConfig }, layers: [lay(MT.dockerForeignLayerGzip)] }, 'IMAGE_UNSUPPORTED'],
    ['schema1', { schemaVersion: 1, fsLayers: [] }, 'IMAGE_UNSUPPORTED'],
    ['schemaVersion 3', { schemaVersion: 3, config: cfg, layers: [] }, 'IMAGE_INVALID'],
    ['not an object', [1, 2], 'IMAGE_INVALID'],
    ['bad digest', { schemaVersion: 2, config: { ...cfg, digest: 'sha256:xyz' }, layers: [] }, 'IMAGE_INVALID'],
    ['md5 digest', { schemaVersion: 2, config: { ...cfg, digest: 'md5:abcdef' }, layers: [] }, 'IMAGE_UNSUPPORTED'],
    ['negative size', { schemaVersion: 2, config: { ...cfg, size: -1 }, layers: [] }, 'IMAGE_INVALID'],
    ['fractional size', { schemaVersion: 2, config: { ...cfg, size: 1.5 }, layers: [] }, 'IMAGE_INVALID'],
    ['missing layers', { schemaVersion: 2, config: cfg }, 'IMAGE_INVALID'],
    ['neither', { schemaVersion: 2 }, 'IMAGE_INVALID'],
    ['descriptor disagrees', { schemaVersion: 2, mediaType: MT.ociManifest, config: cfg, layers: [] }, 'IMAGE_INVALID', MT.dockerManifest],
    ['bad annotations', { schemaVersion: 2, config: cfg, layers: [], annotations: { a: 1 } }, 'IMAGE_INVALID'],
  ];
  for (const [name, doc, want, dmt] of bad) {
    it(`refuses: ${name} (${want})`, () => assert.equal(code(() => parseManifest(buf(doc), 'm', dmt)), want));
  }
  it('invalid JSON names the file', () => {
    try {
      parseManifest(Buffer.from('{nope'), '/x/index.json');
      assert.fail('no error');
    } catch (e) {
      assert.ok(isAtomicError(e));
      assert.equal(e.code, 'IMAGE_INVALID');
      assert.match(e.message, /\/x\/index\.json/);
    }
  });
  describe('selectPlatform', () => {
    const entry = (arch: string, variant?: string, c = 'e', mt: string = MT.ociManifest) => ({
      mediaType: mt, digest: D(c), size: 1, platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) },
    }) as ImageIndex['manifests'][number];
    const idx: ImageIndex = {
      kind: 'index', mediaType: MT.ociIndex,
      manifests: [entry('arm', 'v6', '1'), entry('arm', 'v7', '2'), entry('arm64', 'v8', '3'), entry('amd64', undefined, '4'), entry('amd64', undefined, '5', 'application/vnd.in-toto+json')],
    };
    it('host default', () => {
      const h = hostPlatform();
      assert.equal(h.os, 'linux');
      if (h.architecture === 'amd64') assert.equal(selectPlatform(idx).digest, D('4'));
    });
    it('variants', () => {
      assert.equal(selectPlatform(idx, { architecture: 'arm', variant: 'v6' }).digest, D('1'));
      assert.equal(selectPlatform(idx, { architecture: 'arm', variant: 'v7' }).digest, D('2'));
      assert.equal(selectPlatform(idx, { architecture: 'arm64' }).digest, D('3'));
      assert.equal(code(() => selectPlatform(idx, { architecture: 'arm', variant: 'v5' })), 'IMAGE_NOT_FOUND');
      assert.equal(code(() => selectPlatform(idx, { os: 'windows', architecture: 'amd64' })), 'IMAGE_NOT_FOUND');
    });
    it('maps process.arch to OCI names', () => {
      const want: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
      if (want[process.arch]) assert.equal(hostPlatform().architecture, want[process.arch]);
    });
  });
});
