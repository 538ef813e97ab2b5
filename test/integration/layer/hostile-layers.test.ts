import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { OstreeRepo } from '../../../src/store/repo.js';
import { importLayerTar } from '../../../src/store/layer-import.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { fixChecksum, rawHeader, tarOf as buildTar, type TarHeader } from '../../helpers/tar.js';

/** Layers of this file: mode 0644 unless an entry sets it (directories too). */
const tarOf = (entries: Array<[TarHeader, (Buffer | string)?]>): Promise<Buffer> => buildTar(entries, { defaults: { mode: 0o644 } });

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('hostile layers are refused and leave no trace', function () {
  this.timeout(60_000);
  let tmp: string;
  let repo: OstreeRepo;
  let sentinel: string;
  let objectsBefore: string[];

  before(async () => {
    tmp = makeTempDir('atomic-hostile-');
    repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
    sentinel = path.join(tmp, 'sentinel');
    fs.mkdirSync(sentinel);
    // One honest layer first, so objects/ is not empty.
    const tx = await repo.beginTransaction();
    const r = await importLayerTar(tx, Readable.from([await tarOf([[{ name: 'ok', mode: 0o644 }, 'fine']])]));
    tx.setRef('honest', await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: r.rootTree, rootMeta: r.rootMeta }));
    await tx.commit();
    objectsBefore = listFiles(path.join(repo.path, 'objects'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Each case: the layer bytes, the expected code, and a pattern the message must contain. */
  const cases: Array<[string, () => Promise<Buffer>, string, RegExp]> = [
    ['a ".." path', () => tarOf([[{ name: 'first' }, 'x'], [{ name: '../sentinel/pwned' }, 'owned']]), 'UNSAFE_PATH', /"\.\.\/sentinel\/pwned".*path traversal/],
    ['a nested ".." path', () => tarOf([[{ name: 'a/b/../../../sentinel/pwned' }, 'owned']]), 'UNSAFE_PATH', /path traversal/],
    ['a file written through an absolute symlink', () => tarOf([[{ name: 'evil', type: 'symlink', linkname: sentinel }], [{ name: 'evil/pwned' }, 'owned']]), 'UNSAFE_PATH', /through the symlink "evil"/],
    ['a file written through a relative symlink', () => tarOf([[{ name: 'd/', type: 'directory', mode: 0o755 }], [{ name: 'd/up', type: 'symlink', linkname: '../..' }], [{ name: 'd/up/x/pwned' }, 'owned']]), 'UNSAFE_PATH', /through the symlink "d\/up"/],
    ['a directory created through a symlink', () => tarOf([[{ name: 'evil', type: 'symlink', linkname: '/etc' }], [{ name: 'evil/cron.d/', type: 'directory', mode: 0o755 }]]), 'UNSAFE_PATH', /through the symlink/],
    ['a hardlink out of the layer', () => tarOf([[{ name: 'first' }, 'x'], [{ name: 'pw', type: 'link', linkname: '../../etc/passwd' }]]), 'UNSAFE_PATH', /hardlink target.*"\.\."/],
    ['a hardlink through ".." after an absolute prefix', () => tarOf([[{ name: 'pw', type: 'link', linkname: '/../etc/shadow' }]]), 'UNSAFE_PATH', /hardlink target.*"\.\."/],
    ['a hardlink to a directory', () => tarOf([[{ name: 'd/', type: 'directory', mode: 0o755 }], [{ name: 'h', type: 'link', linkname: 'd' }]]), 'UNSAFE_PATH', /hardlink to the directory "d"/],
    ['a name with NUL (PAX path)', () => tarOf([[{ name: 'first' }, 'x'], [{ name: 'a\0b', pax: {} }, 'owned']]), 'UNSAFE_PATH', /NUL/],
    ['a non-UTF-8 name', async () => { const t = await tarOf([[{ name: 'abc' }, 'x']]); t[1] = 0xff; fixChecksum(t.subarray(0, 512)); return t; }, 'LAYER_INVALID', /UTF-8/],
    ['a huge PAX header', async () => Buffer.concat([rawHeader({ name: 'PaxHeader', type: 'x', size: 3 * 1024 * 1024 }), Buffer.alloc(4096)]), 'LAYER_INVALID', /PAX header of 3145728 bytes/],
    ['a PAX size that lies', async () => tarOf([[{ name: 'f', pax: { size: '999999' } }, 'short']]), 'LAYER_INVALID', /truncated|inconsistent|announced/],
    ['a truncated gzip stream', async () => { const z = zlib.gzipSync(await tarOf([[{ name: 'f' }, Buffer.alloc(200_000, 7)]])); return z.subarray(0, z.length - 40); }, 'LAYER_INVALID', /gzip.*truncated or corrupt/],
    ['a corrupt gzip stream', async () => { const z = zlib.gzipSync(await tarOf([[{ name: 'f' }, Buffer.from('x'.repeat(5000))]])); z.fill(0x55, 20, 60); return z; }, 'LAYER_INVALID', /not a valid gzip stream/],
    ['a truncated zstd stream', async () => { const z = zstdLayer(); return z.subarray(0, Math.floor(z.length / 2)); }, 'LAYER_INVALID', /zstd.*truncated or corrupt/],
    ['a truncated plain tar', async () => { const t = await tarOf([[{ name: 'f' }, Buffer.alloc(5000, 1)]]); return t.subarray(0, 2048); }, 'LAYER_INVALID', /truncated: it ends in the middle of an entry/],
    ['a tar cut inside a header block', async () => Buffer.from([0x41]), 'LAYER_INVALID', /middle of a header block/],
    ['garbage input', async () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251)), 'LAYER_INVALID', /Layer tar (is invalid|has an invalid)/],
  ];

  for (const [what, build, code, re] of cases) {
    it(`refuses ${what} (${code})`, async () => {
      const data = await build();
      const tx = await repo.beginTransaction();
      let err: unknown = null;
      try {
        await importLayerTar(tx, Readable.from([data]));
      } catch (e) {
        err = e;
      } finally {
        await tx.abort();
      }
      assert.ok(isAtomicError(err), `expected an AtomicError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, re);
      assert.ok(err.suggestions.length > 0, 'the error says what to do');
      assert.deepEqual(listFiles(path.join(repo.path, 'objects')), objectsBefore, 'no new objects');
      assert.deepEqual([...(await repo.listRefs()).keys()], ['honest'], 'no new refs');
      assert.deepEqual(listFiles(sentinel), [], 'nothing written outside the repo');
      assert.deepEqual(listFiles(path.join(repo.path, 'tmp')).filter((n) => n.startsWith('staging-')), [], 'staging removed');
    });
  }
});

function zstdLayer(): Buffer {
  const fx = fixtureImages();
  const idx = JSON.parse(fs.readFileSync(path.join(fx, 'oci-zstd/index.json'), 'utf8'));
  const man = JSON.parse(fs.readFileSync(path.join(fx, 'oci-zstd/blobs/sha256', idx.manifests[0].digest.slice(7)), 'utf8'));
  return fs.readFileSync(path.join(fx, 'oci-zstd/blobs/sha256', man.layers[0].digest.slice(7)));
}
