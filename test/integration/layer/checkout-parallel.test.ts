/**
 * checkoutLayers split into parts run by the store's I/O workers (checkout.ts, checkout-part.ts):
 * the rootfs equals the one made on the calling thread alone and `umoci unpack` of the same
 * layers (whiteouts, opaque directories, type changes and hardlinks to lower layers across
 * layers, directories whose metadata is set last), every regular file a hardlink to its object
 * (or a copy when the object is writable by group or others); objects without a current marker
 * are verified before they are linked; a part that fails aborts the checkout and leaves no tree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { OstreeRepo } from '../../../src/store/repo.js';
import { importLayerTar } from '../../../src/store/layer-import.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import { checkoutPartsSentToWorkers } from '../../../src/store/checkout-runner.js';
import { verifiedMarkerPath } from '../../../src/store/object-verify.js';
import { configureWritePool, writePool } from '../../../src/store/write-pool.js';
import type { Checksum } from '../../../src/store/types.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { compareRootfs, rootfsManifest } from '../../helpers/rootfs-compare.js';
import { tarOf, type TarHeader } from '../../helpers/tar.js';

type Entries = Array<[TarHeader, string?]>;

/** ~2,000 files in ~300 directories, with varied modes and owners; "shared" has one object everywhere. */
function baseLayer(): Entries {
  const e: Entries = [[{ name: './', type: 'directory', mode: 0o755 }]];
  for (let d = 0; d < 60; d++) {
    const top = `d${String(d).padStart(3, '0')}`;
    const dirMode = d % 10 === 3 ? 0o555 : d % 10 === 5 ? 0o2775 : d % 10 === 7 ? 0o700 : 0o755;
    e.push([{ name: `${top}/`, type: 'directory', mode: dirMode, uid: d % 10 === 3 ? 7 : 0, gid: d % 10 === 3 ? 8 : 0 }]);
    for (let s = 0; s < 4; s++) {
      e.push([{ name: `${top}/s${s}/`, type: 'directory', mode: s === 2 ? 0o1777 : 0o755 }]);
      for (let f = 0; f < 8; f++) {
        const mode = f === 1 ? 0o755 : f === 2 ? 0o600 : f === 3 ? 0o4755 : f === 4 ? 0o664 : 0o644;
        e.push([{ name: `${top}/s${s}/f${f}`, mode, uid: f === 5 ? 1000 : 0, gid: f === 5 ? 100 : 0 }, f === 6 ? 'same content\n' : `${top} ${s} ${f}\n`]);
      }
      e.push([{ name: `${top}/s${s}/shared`, mode: 0o644 }, 'shared\n']);
      e.push([{ name: `${top}/s${s}/sym`, type: 'symlink', linkname: 'f0' }]);
      e.push([{ name: `${top}/s${s}/hl`, type: 'link', linkname: `${top}/s${s}/f1` }]);
    }
  }
  return e;
}

const upperLayer: Entries = [
  [{ name: '.wh.d001', mode: 0o644 }],
  [{ name: 'd002/', type: 'directory', mode: 0o755 }],
  [{ name: 'd002/.wh.s1', mode: 0o644 }],
  [{ name: 'd004/', type: 'directory', mode: 0o750, uid: 3, gid: 4 }],
  [{ name: 'd004/.wh..wh..opq', mode: 0o644 }],
  [{ name: 'd004/new', mode: 0o644 }, 'new in an opaque dir\n'],
  [{ name: 'd005', mode: 0o644 }, 'a file where a directory was\n'],
  [{ name: 'd006/', type: 'directory', mode: 0o755 }],
  [{ name: 'd006/s0/', type: 'directory', mode: 0o755 }],
  [{ name: 'd006/s0/f0/', type: 'directory', mode: 0o711 }],
  [{ name: 'd006/s0/f0/inside', mode: 0o644 }, 'a directory where a file was\n'],
  [{ name: 'd007/', type: 'directory', mode: 0o755 }],
  [{ name: 'd007/s0/', type: 'directory', mode: 0o755 }],
  [{ name: 'd007/s0/.wh.f3', mode: 0o644 }],
  [{ name: 'd007/s0/lower-link', type: 'link', linkname: 'd000/s0/f1' }],
  ...Array.from({ length: 20 }, (_, i): Entries => [
    [{ name: `u${i}/`, type: 'directory', mode: 0o755 }],
    ...Array.from({ length: 12 }, (_, f): [TarHeader, string] => [{ name: `u${i}/g${f}`, mode: 0o644 }, `upper ${i} ${f}\n`]),
  ]).flat(),
];

const topLayer: Entries = [
  [{ name: 'd001/', type: 'directory', mode: 0o755 }],
  [{ name: 'd001/back', mode: 0o644 }, 'recreated after a whiteout\n'],
  [{ name: '.wh.u3', mode: 0o644 }],
  [{ name: 'd008', type: 'symlink', linkname: 'd009' }],
  [{ name: 'd010/s0/deep/', type: 'directory', mode: 0o755 }],
  [{ name: 'd010/s0/deep/x', mode: 0o644 }, 'implicit parents\n'],
];

/** An OCI image layout with these uncompressed layers, for `umoci unpack`. */
function ociLayout(dir: string, layers: Buffer[]): void {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer | string) => {
    const d = createHash('sha256').update(b).digest('hex');
    fs.writeFileSync(path.join(blobs, d), b);
    return { digest: `sha256:${d}`, size: Buffer.byteLength(b) };
  };
  const config = put(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${createHash('sha256').update(l).digest('hex')}`) },
    }),
  );
  const ls = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(l) }));
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: ls,
    }),
  );
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'test' } }],
    }),
  );
}

describe('checkoutLayers in parallel parts', function () {
  this.timeout(180_000);
  let tmp: string;
  let tars: Buffer[];
  let n = 0;

  before(async () => {
    tmp = makeTempDir('atomic-checkout-parallel-');
    tars = [await tarOf(baseLayer()), await tarOf(upperLayer), await tarOf(topLayer)];
  });
  after(() => {
    configureWritePool(Number(process.env.ATOMIC_STORE_WORKERS ?? 0));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function importLayers(name: string, mode: 'bare' | 'bare-user' = 'bare'): Promise<{ repo: OstreeRepo; commits: Checksum[] }> {
    const repo = await OstreeRepo.openOrCreate(path.join(tmp, name), mode);
    const commits: Checksum[] = [];
    for (const t of tars) {
      const tx = await repo.beginTransaction();
      const res = await importLayerTar(tx, Readable.from([t]));
      const c = await tx.writeCommit({
        metadata: res.unionMetadata,
        parent: null,
        related: [],
        subject: '',
        body: '',
        timestamp: 0,
        rootTree: res.rootTree,
        rootMeta: res.rootMeta,
      });
      tx.setRef(`test/l${n++}`, c);
      await tx.commit();
      commits.push(c);
    }
    return { repo, commits };
  }

  /** A checkout with 2 running workers: asserts that it sent them parts (which one runs a part is not fixed: see runParts). */
  async function withWorkers<T>(run: () => Promise<T>): Promise<T> {
    configureWritePool(2);
    assert.ok(writePool().warm(), 'the workers start');
    const before = checkoutPartsSentToWorkers();
    const r = await run();
    assert.ok(checkoutPartsSentToWorkers() > before, 'parts of the checkout were sent to the workers');
    return r;
  }

  const objectInodes = (repo: OstreeRepo) =>
    new Set(execFileSync('find', ['objects', '-name', '*.file', '-printf', '%i\n'], { cwd: repo.path }).toString().trim().split('\n').map(Number));

  it('equals the checkout made on one thread and umoci unpack of the same layers; files are hardlinks to their objects', async () => {
    const { repo, commits } = await importLayers('repo');
    const par = path.join(tmp, 'co-parallel');
    const one = path.join(tmp, 'co-one');
    const countsPar = await withWorkers(() => checkoutLayers(repo, commits, par));
    configureWritePool(0);
    const countsOne = await checkoutLayers(repo, commits, one);
    assert.deepEqual(countsPar, countsOne, 'same counts');
    assert.ok(countsPar.files > 1500 && countsPar.dirs > 250, JSON.stringify(countsPar));

    const layout = path.join(tmp, 'oci');
    ociLayout(layout, tars);
    const bundle = path.join(tmp, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:test`, bundle], { stdio: 'pipe' });
    const oracle = rootfsManifest(path.join(bundle, 'rootfs'));
    assert.deepEqual(compareRootfs(oracle, rootfsManifest(par)), [], 'parallel checkout = umoci unpack');
    assert.deepEqual(compareRootfs(oracle, rootfsManifest(one)), [], 'one-thread checkout = umoci unpack');

    const inodes = objectInodes(repo);
    for (const co of [par, one]) {
      const files = execFileSync('find', ['.', '-type', 'f', '-printf', '%m %i %p\n'], { cwd: co }).toString().trim().split('\n');
      let copies = 0;
      for (const l of files) {
        const [mode, ino, p] = l.split(' ');
        const writable = (parseInt(mode!, 8) & 0o022) !== 0;
        if (writable) copies++;
        assert.equal(inodes.has(Number(ino)), !writable, `${co}: ${p} is ${writable ? 'a copy' : 'a hardlink to its object'}`);
      }
      assert.ok(copies > 200, `${copies} group-writable files`);
      assert.equal(countsPar.copies, copies, 'the group-writable files are the copies');
    }
    assert.ok(fs.lstatSync(path.join(par, 'd007/s0/lower-link')).ino === fs.lstatSync(path.join(par, 'd000/s0/f1')).ino, 'hardlink to a lower layer');
  });

  it('bare-user repository in user mode: the same tree with and without workers, real symlinks', async () => {
    const { repo, commits } = await importLayers('repo-bu', 'bare-user');
    const par = path.join(tmp, 'co-bu-parallel');
    const one = path.join(tmp, 'co-bu-one');
    const countsPar = await withWorkers(() => checkoutLayers(repo, commits, par, { userMode: true }));
    configureWritePool(0);
    assert.deepEqual(await checkoutLayers(repo, commits, one, { userMode: true }), countsPar);
    assert.deepEqual(compareRootfs(rootfsManifest(one), rootfsManifest(par)), []);
    assert.equal(fs.readlinkSync(path.join(par, 'd000/s0/sym')), 'f0');
    assert.ok(countsPar.symlinks >= 200, `${countsPar.symlinks} symlinks`);
  });

  it('verifies the objects that have no marker before linking them (markers lost), with the same result', async () => {
    const { repo, commits } = await importLayers('repo-nomarkers');
    const want = rootfsManifest(
      await (async () => {
        const d = path.join(tmp, 'co-marked');
        await checkoutLayers(repo, commits, d);
        return d;
      })(),
    );
    fs.rmSync(verifiedMarkerPath(repo));
    const par = path.join(tmp, 'co-unmarked');
    await withWorkers(() => checkoutLayers(repo, commits, par));
    assert.deepEqual(compareRootfs(want, rootfsManifest(par)), []);
    assert.ok(fs.readFileSync(verifiedMarkerPath(repo), 'utf8').split('\n').length > 1000, 'the markers are recorded again');
  });

  it('each checkout compares with the markers as they are when it starts, not those its workers read for an earlier one', async () => {
    const { repo, commits } = await importLayers('repo-remarked');
    const second = path.join(tmp, 'co-remarked-2');
    await withWorkers(async () => {
      await checkoutLayers(repo, commits, path.join(tmp, 'co-remarked-1')); // the workers read the markers
      fs.rmSync(verifiedMarkerPath(repo));
      await checkoutLayers(repo, commits, second); // the same workers: none of their markers holds now
    });
    const marked = new Set(
      fs
        .readFileSync(verifiedMarkerPath(repo), 'utf8')
        .split('\n')
        .map((l) => l.slice(0, 64)),
    );
    // inode -> checksum of every content object (objects/xx/rest.file)
    const objectOfInode = new Map(
      execFileSync('find', ['objects', '-name', '*.file', '-printf', '%i %P\n'], { cwd: repo.path })
        .toString()
        .trim()
        .split('\n')
        .map((l) => {
          const [ino, p] = l.split(' ') as [string, string];
          return [ino, p.replace('/', '').slice(0, -'.file'.length)];
        }),
    );
    const linked = execFileSync('find', ['.', '-type', 'f', '-links', '+1', '-printf', '%i\n'], { cwd: second }).toString().trim().split('\n');
    assert.ok(linked.length > 1000, 'the checkout hardlinked its files');
    const unverified = linked.map((i) => objectOfInode.get(i)!).filter((c) => !marked.has(c));
    assert.deepEqual(unverified, [], 'every object the second checkout linked was verified again (and got its marker back)');
  });

  /** The content object holding `content`. */
  const objectOf = (repo: OstreeRepo, content: string): string => {
    const files = execFileSync('find', ['objects', '-name', '*.file', '-type', 'f', '-size', `${Buffer.byteLength(content)}c`], { cwd: repo.path })
      .toString()
      .trim()
      .split('\n');
    const hit = files.map((p) => path.join(repo.path, p)).find((p) => fs.readFileSync(p, 'utf8') === content);
    assert.ok(hit, `the object of ${JSON.stringify(content)}`);
    return hit;
  };

  it('a part that fails (on the worker that takes the first part) aborts the checkout and leaves no tree', async () => {
    const { repo, commits } = await importLayers('repo-broken');
    // d000/s0/f0 is in the first part, which goes to a worker; its object becomes a directory
    const victim = objectOf(repo, 'd000 0 0\n');
    fs.rmSync(victim);
    fs.mkdirSync(victim);
    const dest = path.join(tmp, 'co-broken', 'rootfs');
    configureWritePool(2);
    assert.ok(writePool().warm());
    // link() of a directory: EPERM
    await assert.rejects(
      checkoutLayers(repo, commits, dest, { verify: false }),
      (e: unknown) => isAtomicError(e) && e.code === 'PERMISSION' && e.message.includes(`${dest}/d000/s0/f0`),
    );
    assert.equal(fs.existsSync(dest), false, 'no partial tree');
    const empty = path.join(tmp, 'co-broken-empty');
    fs.mkdirSync(empty);
    await assert.rejects(checkoutLayers(repo, commits, empty, { verify: false }), (e: unknown) => isAtomicError(e) && e.code === 'PERMISSION');
    assert.deepEqual(fs.readdirSync(empty), [], 'an existing empty destination is emptied again');
    // verified: the directory does not match the object's marker, so no part links it; its check fails
    await assert.rejects(checkoutLayers(repo, commits, dest), (e: unknown) => isAtomicError(e) && e.code === 'STORE_CORRUPT');
    assert.equal(fs.existsSync(dest), false, 'no partial tree (verified checkout)');
  });

  it('an object changed in place (used in every part) is caught before anything is linked to it', async () => {
    const { repo, commits } = await importLayers('repo-tampered');
    const victim = objectOf(repo, 'shared\n');
    fs.writeFileSync(victim, 'SHARED\n'); // same size, new content and mtime
    const dest = path.join(tmp, 'co-tampered');
    await withWorkers(() =>
      assert.rejects(checkoutLayers(repo, commits, dest), (e: unknown) => isAtomicError(e) && e.code === 'STORE_CORRUPT' && e.message.includes(path.basename(victim, '.file'))),
    );
    assert.equal(fs.existsSync(dest), false, 'no partial tree');
  });
});
