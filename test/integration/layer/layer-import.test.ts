import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { OstreeRepo } from '../../../src/store/repo.js';
import { importLayerTar, type LayerImportResult } from '../../../src/store/layer-import.js';
import type { Checksum, DirTree } from '../../../src/store/types.js';
import { VECTORS_DIR, fixtureImages, makeTempDir } from '../../helpers/fixtures.js';
import { tarOf as buildTar, type TarHeader } from '../../helpers/tar.js';

type Entry = { header: tar.Header | (Partial<tar.Header> & { name: string; pax?: Record<string, string> }); data?: Buffer | string };

/** The tests' layers: entries as {header, data}. */
const tarOf = (entries: Entry[], opts: { noEof?: boolean } = {}): Promise<Buffer> => buildTar(entries.map((e): [TarHeader, (Buffer | string)?] => [e.header as TarHeader, e.data]), opts);

const ostree = (args: string[]) => execFileSync('ostree', args, { env: { ...process.env, LC_ALL: 'C.UTF-8' } }).toString();

describe('layer import (importLayerTar)', function () {
  this.timeout(60_000);
  let tmp: string;
  let repo: OstreeRepo;
  let refN = 0;

  before(async () => {
    tmp = makeTempDir('atomic-layer-import-');
    repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function importAndCommit(input: Buffer | NodeJS.ReadableStream, r: OstreeRepo = repo, warnings: string[] = []): Promise<LayerImportResult & { commit: Checksum; ref: string }> {
    const tx = await r.beginTransaction();
    try {
      const res = await importLayerTar(tx, Buffer.isBuffer(input) ? Readable.from([input]) : input, { onWarning: (m) => warnings.push(m) });
      const commit = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: 'layer', body: '', timestamp: 1600000000, rootTree: res.rootTree, rootMeta: res.rootMeta });
      const ref = `test/layer${refN++}`;
      tx.setRef(ref, commit);
      await tx.commit();
      return { ...res, commit, ref };
    } catch (e) {
      await tx.abort();
      throw e;
    }
  }

  async function lookup(root: Checksum, p: string): Promise<{ file?: Checksum; tree?: DirTree; meta?: Checksum }> {
    let tree = await repo.readDirTree(root);
    const parts = p.split('/').filter(Boolean);
    let meta: Checksum | undefined;
    for (let i = 0; i < parts.length; i++) {
      const f = tree.files.find((x) => x.name === parts[i]);
      if (f && i === parts.length - 1) return { file: f.checksum };
      const d = tree.dirs.find((x) => x.name === parts[i]);
      if (!d) return {};
      tree = await repo.readDirTree(d.tree);
      meta = d.meta;
    }
    return { tree, meta };
  }

  it('reproduces the vec/fromtar root dirtree/dirmeta byte-exactly from input-tree.tar', async () => {
    const vectors = JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, 'vectors.json'), 'utf8'));
    const bare = vectors.repos.bare;
    const fromtar = bare.refs['refs/heads/vec/fromtar'].trim();
    const want = bare.commits[fromtar];
    const res = await importAndCommit(fs.createReadStream(path.join(VECTORS_DIR, 'input-tree.tar')));
    assert.equal(res.rootTree, want.root_dirtree);
    assert.equal(res.rootMeta, want.root_dirmeta);
    // The dirtree object bytes themselves equal ostree's.
    assert.equal(fs.readFileSync(repo.objectPath(res.rootTree, 'dirtree')).toString('hex'), bare.objects[want.root_dirtree].hex);
    // Every content checksum of the vector listing is present with the same metadata.
    const listing = typeof want.listing === 'string' ? null : want.listing;
    if (listing) {
      for (const [p, ent] of Object.entries<{ type: string; file?: string }>(listing)) {
        if (ent.file) assert.equal((await lookup(res.rootTree, p)).file, ent.file, p);
      }
    }
    assert.equal((await lookup(res.rootTree, '/hl1')).file, (await lookup(res.rootTree, '/hl2')).file);
    const xf = await repo.readFileMeta((await lookup(res.rootTree, '/xattr-file')).file!);
    assert.deepEqual(xf.meta.xattrs.map((x) => [x.name, x.value.toString('latin1')]).sort(), [['user.aa', 'first\0with-nul'], ['user.zz', 'last']]);
    const digest = execFileSync('sha256sum', [path.join(VECTORS_DIR, 'input-tree.tar')]).toString().split(' ')[0];
    assert.equal(res.uncompressedDigest, `sha256:${digest}`);
    assert.equal(res.uncompressedSize, fs.statSync(path.join(VECTORS_DIR, 'input-tree.tar')).size);
    assert.deepEqual(res.stats, { entries: 25, files: 14, dirs: 7, symlinks: 3, hardlinks: 1, skipped: 0 });
    // The real ostree accepts what we wrote.
    ostree(['fsck', `--repo=${repo.path}`]);
    const ls = ostree(['ls', '-R', `--repo=${repo.path}`, res.ref]);
    assert.match(ls, /l00777 0 0\s+0 \/a\/link-abs -> \/etc\/os-release/);
    assert.match(ls, /-04755 0 0\s+7 \/a\/setuid-bin/);
    assert.match(ls, /d01777 0 0\s+0 \/sticky/);
  });

  it('stores GNU tar sparse files (gnu S headers, PAX 0.0/0.1/1.0) dense, and V7 / absolute-name (tar -P) archives', async () => {
    const src = makeTempDir('atomic-sparse-');
    try {
      const f = path.join(src, 'sparse');
      fs.writeFileSync(f, '');
      fs.truncateSync(f, 3 * 1024 * 1024);
      const fd = fs.openSync(f, 'r+');
      fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
      fs.writeSync(fd, Buffer.from('middle'), 0, 6, 1024 * 1024 + 7);
      fs.closeSync(fd);
      const dense = fs.readFileSync(f);
      const expect = await importAndCommit(await tarOf([{ header: { name: 'sparse', mode: 0o644, mtime: fs.statSync(f).mtime }, data: dense }]));
      const want = (await lookup(expect.rootTree, 'sparse')).file;
      for (const args of [['--format=gnu'], ['--format=oldgnu'], ['--format=pax', '--sparse-version=0.0'], ['--format=pax', '--sparse-version=0.1'], ['--format=pax', '--sparse-version=1.0']]) {
        const t = path.join(src, 'out.tar');
        execFileSync('tar', ['-C', src, ...args, '--sparse', '--numeric-owner', '--owner=0', '--group=0', '--mode=0644', '-cf', t, 'sparse']);
        const r = await importAndCommit(fs.readFileSync(t));
        const fo = await repo.readFileMeta((await lookup(r.rootTree, 'sparse')).file!);
        assert.equal(fo.size, dense.length, args.join(' '));
        assert.equal((await lookup(r.rootTree, 'sparse')).file, want, `${args.join(' ')}: the same object as the dense file`);
      }
      execFileSync('tar', ['-C', src, '--format=v7', '--owner=0', '--group=0', '-cf', path.join(src, 'v7.tar'), 'sparse']);
      assert.equal((await lookup((await importAndCommit(fs.readFileSync(path.join(src, 'v7.tar')))).rootTree, 'sparse')).file, want, 'V7');
      execFileSync('tar', ['-P', '--format=gnu', '--owner=0', '--group=0', '-cf', path.join(src, 'abs.tar'), f]);
      const abs = await importAndCommit(fs.readFileSync(path.join(src, 'abs.tar')));
      assert.equal((await lookup(abs.rootTree, `${f.slice(1)}`)).file, want, 'tar -P: the leading / is dropped');
      ostree(['fsck', `--repo=${repo.path}`]);
    } finally {
      fs.rmSync(src, { recursive: true, force: true });
    }
  });

  it('gives the same tree for a gzip, a plain and a truncated-end (no EOF blocks) tar, and refuses gzip trailing garbage', async () => {
    const plain = fs.readFileSync(path.join(VECTORS_DIR, 'input-tree.tar'));
    const a = await importAndCommit(plain);
    const b = await importAndCommit(zlib.gzipSync(plain));
    const noEof = await tarOf([{ header: { name: 'x', type: 'file', mode: 0o644 }, data: 'x' }], { noEof: true });
    const withEof = await tarOf([{ header: { name: 'x', type: 'file', mode: 0o644 }, data: 'x' }]);
    const c = await importAndCommit(noEof);
    const d = await importAndCommit(withEof);
    assert.equal(b.rootTree, a.rootTree);
    assert.equal(b.uncompressedDigest, a.uncompressedDigest);
    assert.equal(c.rootTree, d.rootTree);
    // Two gzip members are one stream (gzip -c a b); garbage after the last member is refused.
    const half = plain.length / 2;
    const multi = await importAndCommit(Buffer.concat([zlib.gzipSync(plain.subarray(0, half)), zlib.gzipSync(plain.subarray(half))]));
    assert.equal(multi.rootTree, a.rootTree);
    await assert.rejects(importAndCommit(Buffer.concat([zlib.gzipSync(plain), Buffer.from('trailing garbage')])), { code: 'LAYER_INVALID' });
  });

  it('gives the same trees and diff_ids for the gzip, zstd and uncompressed fixture layers', async () => {
    const fx = fixtureImages();
    const layersOf = (layout: string, tag: string) => {
      const idx = JSON.parse(fs.readFileSync(path.join(fx, layout, 'index.json'), 'utf8'));
      const m = idx.manifests.find((x: { annotations: Record<string, string> }) => x.annotations['org.opencontainers.image.ref.name'] === tag);
      const man = JSON.parse(fs.readFileSync(path.join(fx, layout, 'blobs/sha256', m.digest.slice(7)), 'utf8'));
      const cfg = JSON.parse(fs.readFileSync(path.join(fx, layout, 'blobs/sha256', man.config.digest.slice(7)), 'utf8'));
      return { files: man.layers.map((l: { digest: string }) => path.join(fx, layout, 'blobs/sha256', l.digest.slice(7))), diffIds: cfg.rootfs.diff_ids as string[] };
    };
    const results: Record<string, string[]> = {};
    for (const layout of ['oci', 'oci-zstd', 'oci-uncompressed']) {
      const { files, diffIds } = layersOf(layout, 'systest');
      results[layout] = [];
      for (let i = 0; i < files.length; i++) {
        const r = await importAndCommit(fs.createReadStream(files[i]));
        assert.equal(r.uncompressedDigest, diffIds[i], `${layout} layer ${i}`);
        results[layout].push(r.rootTree);
      }
    }
    assert.deepEqual(results['oci-zstd'], results.oci);
    assert.deepEqual(results['oci-uncompressed'], results.oci);
  });

  it('creates implicit parents 0:0 0755, never stamps an entry\'s owner on existing directories or the root, and records them', async () => {
    // ostree --tar-autocreate-parents would give / x x/y x/y/z the uid of f3 (9:10) and d the uid of d/f;
    // the OCI image-spec / umoci rule is followed instead (docs/store-format.md).
    const meta = async (root: Checksum, p: string) => {
      const m = p === '' ? null : (await lookup(root, p)).meta!;
      return m === null ? null : await repo.readDirMeta(m);
    };
    const r1 = await importAndCommit(await tarOf([
      { header: { name: 'x/y/f1', uid: 5, gid: 6, mode: 0o644 }, data: 'a' },
      { header: { name: 'x/', type: 'directory', uid: 1, gid: 2, mode: 0o700 } },
      { header: { name: 'x/y/z/f3', uid: 9, gid: 10, mode: 0o644 }, data: 'c' },
    ]));
    assert.deepEqual(await repo.readDirMeta(r1.rootMeta), { uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
    assert.deepEqual(await meta(r1.rootTree, 'x'), { uid: 1, gid: 2, mode: 0o40700, xattrs: [] });
    assert.deepEqual(await meta(r1.rootTree, 'x/y'), { uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
    assert.deepEqual(await meta(r1.rootTree, 'x/y/z'), { uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
    assert.deepEqual(r1.unionMetadata, [
      ['atomic.layer.implicit-dirs', { type: 'as', value: ['.', 'x/y', 'x/y/z'] }],
      ['atomic.layer.lower-hardlinks', { type: 'a(ss)', value: [] }],
    ]);
    const r2 = await importAndCommit(await tarOf([
      { header: { name: './', type: 'directory', uid: 3, gid: 3, mode: 0o750 } },
      { header: { name: 'deep/er/file', uid: 11, gid: 12, mode: 0o640 }, data: 'q' },
      { header: { name: 'lnk', type: 'link', linkname: 'lower/file' } },
    ]));
    assert.deepEqual(await repo.readDirMeta(r2.rootMeta), { uid: 3, gid: 3, mode: 0o40750, xattrs: [] });
    assert.deepEqual(r2.unionMetadata[0][1].value, ['deep', 'deep/er']);
    assert.deepEqual(r2.unionMetadata[1][1].value, [['lnk', 'lower/file']]);
    // The record is ordinary commit metadata: the real ostree accepts it.
    const tx = await repo.beginTransaction();
    tx.setRef('test/with-record', await tx.writeCommit({ metadata: r2.unionMetadata, parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: r2.rootTree, rootMeta: r2.rootMeta }));
    await tx.commit();
    ostree(['fsck', `--repo=${repo.path}`]);
    assert.match(ostree(['show', `--repo=${repo.path}`, '--print-metadata-key=atomic.layer.implicit-dirs', 'test/with-record']), /\['deep', 'deep\/er'\]/);
  });

  it('preserves PAX xattrs (SCHILY raw bytes and LIBARCHIVE base64), uid/gid and mode bits', async () => {
    const bin = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x41]);
    const pax = paxRecords([['SCHILY.xattr.user.bin', bin], ['uid', Buffer.from('4000000000')], ['LIBARCHIVE.xattr.user.b%3Dx', Buffer.from(Buffer.from('b64 value').toString('base64'))]]);
    const buf = Buffer.concat([
      rawEntry('PaxHeader', 'x', pax),
      rawEntry('f', '0', Buffer.from('content'), { mode: 0o6755, uid: 1, gid: 2 }),
      rawEntry('sticky/', '5', Buffer.alloc(0), { mode: 0o1777 }),
      Buffer.alloc(1024),
    ]);
    const r = await importAndCommit(buf);
    const fo = await repo.readFileMeta((await lookup(r.rootTree, 'f')).file!);
    assert.equal(fo.meta.uid, 4000000000);
    assert.equal(fo.meta.gid, 2);
    assert.equal(fo.meta.mode, 0o106755);
    const xs = new Map(fo.meta.xattrs.map((x) => [x.name, x.value]));
    assert.deepEqual(xs.get('user.bin'), bin);
    assert.equal(xs.get('user.b=x')?.toString(), 'b64 value');
    const st = await lookup(r.rootTree, 'sticky');
    assert.equal((await repo.readDirMeta(st.meta!)).mode, 0o41777);
    ostree(['fsck', `--repo=${repo.path}`]);
  });

  it('stores hardlinks with the checksum of their target (file or symlink), as it was at that point', async () => {
    const buf = await tarOf([
      { header: { name: 'a', mode: 0o644 }, data: 'one' },
      { header: { name: 'l', type: 'symlink', linkname: '/etc/os-release' } },
      { header: { name: 'h1', type: 'link', linkname: 'a' } },
      { header: { name: 'sub/h2', type: 'link', linkname: './a' } },
      { header: { name: 'hl', type: 'link', linkname: 'l' } },
      { header: { name: 'a', mode: 0o644 }, data: 'two' },
    ]);
    const r = await importAndCommit(buf);
    const [a, h1, h2, l, hl] = await Promise.all(['a', 'h1', 'sub/h2', 'l', 'hl'].map(async (p) => (await lookup(r.rootTree, p)).file));
    assert.equal(h1, h2);
    assert.notEqual(a, h1, 'a later entry replaces "a" but not its earlier hardlinks');
    assert.equal(hl, l);
    assert.equal(r.stats.hardlinks, 3);
  });

  it('skips device nodes and FIFOs with a warning, stores whiteouts as plain files, and later entries replace earlier ones', async () => {
    const warnings: string[] = [];
    const buf = await tarOf([
      { header: { name: 'dev/', type: 'directory', mode: 0o755 } },
      { header: { name: 'dev/loop1', type: 'character-device', mode: 0o660, devmajor: 7, devminor: 1 } },
      { header: { name: 'dev/sda', type: 'block-device', mode: 0o660, devmajor: 8, devminor: 0 } },
      { header: { name: 'dev/fifo', type: 'fifo', mode: 0o600 } },
      { header: { name: 'data/.wh.remove-me', mode: 0 } },
      { header: { name: 'opq/.wh..wh..opq', mode: 0 } },
      { header: { name: 'x/', type: 'directory', mode: 0o755 } },
      { header: { name: 'x/inner', mode: 0o644 }, data: 'i' },
      { header: { name: 'x', mode: 0o644 }, data: 'now a file' },
      { header: { name: 'y', mode: 0o644 }, data: 'was a file' },
      { header: { name: 'y/', type: 'directory', mode: 0o700 } },
    ]);
    const r = await importAndCommit(buf, repo, warnings);
    assert.deepEqual(warnings, [
      'Skipping device node dev/loop1 (character device): not supported in the store',
      'Skipping device node dev/sda (block device): not supported in the store',
      'Skipping FIFO dev/fifo (FIFO): not supported in the store',
    ]);
    assert.equal(r.stats.skipped, 3);
    assert.deepEqual((await lookup(r.rootTree, 'dev')).tree, { files: [], dirs: [] });
    assert.ok((await lookup(r.rootTree, 'data/.wh.remove-me')).file);
    assert.ok((await lookup(r.rootTree, 'opq/.wh..wh..opq')).file);
    assert.ok((await lookup(r.rootTree, 'x')).file, 'x was replaced by a file');
    const y = await lookup(r.rootTree, 'y');
    assert.ok(y.tree && (await repo.readDirMeta(y.meta!)).mode === 0o40700, 'y was replaced by a directory');
    ostree(['fsck', `--repo=${repo.path}`]);
    ostree(['ls', '-R', `--repo=${repo.path}`, r.ref]);
  });

  it('stores the mode-0000 whiteouts of the layered fixture as plain files', async () => {
    const fx = fixtureImages();
    const idx = JSON.parse(fs.readFileSync(path.join(fx, 'oci/index.json'), 'utf8'));
    const m = idx.manifests.find((x: { annotations: Record<string, string> }) => x.annotations['org.opencontainers.image.ref.name'] === 'layered');
    const man = JSON.parse(fs.readFileSync(path.join(fx, 'oci/blobs/sha256', m.digest.slice(7)), 'utf8'));
    const r = await importAndCommit(fs.createReadStream(path.join(fx, 'oci/blobs/sha256', man.layers[2].digest.slice(7))));
    for (const p of ['data/.wh.remove-me', 'opq/.wh..wh..opq']) {
      const fo = await repo.readFileMeta((await lookup(r.rootTree, p)).file!);
      assert.equal(fo.meta.mode, 0o100000, p);
      assert.equal(fo.size, 0, p);
    }
    assert.ok((await lookup(r.rootTree, 'opq/c')).file);
  });

  it('imports into a bare-user repository that ostree fsck accepts', async () => {
    const r2 = await OstreeRepo.openOrCreate(path.join(tmp, 'repo-bu'), 'bare-user');
    const res = await importAndCommit(fs.createReadStream(path.join(VECTORS_DIR, 'input-tree.tar')), r2);
    const vectors = JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, 'vectors.json'), 'utf8'));
    const want = vectors.repos['bare-user'].commits[vectors.repos['bare-user'].refs['refs/heads/vec/fromtar'].trim()];
    assert.equal(res.rootTree, want.root_dirtree);
    ostree(['fsck', `--repo=${r2.path}`]);
  });
});

function paxRecords(recs: Array<[string, Buffer]>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of recs) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out.push(Buffer.from(String(len)), body);
  }
  return Buffer.concat(out);
}

function rawEntry(name: string, flag: string, data: Buffer, o: { mode?: number; uid?: number; gid?: number } = {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'utf8');
  b.write((o.mode ?? 0o644).toString(8).padStart(7, '0') + '\0', 100, 'latin1');
  b.write((o.uid ?? 0).toString(8).padStart(7, '0') + '\0', 108, 'latin1');
  b.write((o.gid ?? 0).toString(8).padStart(7, '0') + '\0', 116, 'latin1');
  b.write(data.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('00000000000\0', 136, 'latin1');
  b.write(flag, 156, 'latin1');
  b.write('ustar\0' + '00', 257, 'latin1');
  b.fill(32, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return Buffer.concat([b, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}
