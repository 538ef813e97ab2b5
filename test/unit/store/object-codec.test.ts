import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  bareUserDiskMode, decodeArchiveHeader, decodeBareUserMeta, decodeCommit, decodeDirMeta, decodeDirTree, decodeFileHeader,
  decodeMetadata, encodeArchiveHeader, encodeBareUserMeta, encodeCommit, encodeDirMeta, encodeDirTree, encodeMetadata,
  fileChecksum, fileChecksumPrefix, sha256Hex,
} from '../../../src/store/object-codec.js';
import type { Checksum, Commit, FileMeta, Metadata, Variant, Xattr } from '../../../src/store/types.js';
import { extractInputTree, loadVectors, metaOf, type VecCommit, type VecObject } from '../../integration/store/vector-helpers.js';

const oct = (s: string) => parseInt(s.replace(/^0o/, ''), 8);
const xattrsFrom = (x: unknown): Xattr[] =>
  (x as Array<[string, string]>).map(([n, v]) => ({ name: Buffer.from(n, 'hex').toString('utf8').replace(/\0$/, ''), value: Buffer.from(v, 'hex') }));

function fileMetaFrom(o: VecObject): FileMeta {
  return { uid: o.uid as number, gid: o.gid as number, mode: oct(o.mode as string), symlinkTarget: o.symlink_target as string, xattrs: xattrsFrom(o.xattrs) };
}

function metadataFrom(md: Record<string, [string, unknown]>, order: string[]): Metadata {
  return order.map((k) => [k, { type: md[k]![0], value: md[k]![1] } as Variant]);
}

function commitFrom(c: VecCommit): Commit {
  return {
    metadata: metadataFrom(c.metadata, c.metadata_key_order), parent: (c.parent || null) as Checksum | null,
    related: [], subject: c.subject, body: c.body, timestamp: c.timestamp,
    rootTree: c.root_dirtree as Checksum, rootMeta: c.root_dirmeta as Checksum,
  };
}

describe('store/object-codec', () => {
  const v = loadVectors();
  for (const mode of ['bare', 'bare-user', 'archive', 'bare-user-only']) {
    describe(`vectors of mode ${mode}`, () => {
      const repo = v.repos[mode]!;
      it('reproduces every commit and commitmeta (bytes and checksum)', () => {
        for (const [sum, c] of Object.entries(repo.commits)) {
          const enc = encodeCommit(commitFrom(c));
          assert.equal(enc.toString('hex'), c.hex, `commit ${sum}`);
          assert.equal(sha256Hex(enc), sum);
          assert.deepEqual(decodeCommit(Buffer.from(c.hex, 'hex')), commitFrom(c));
          if (c.commitmeta) {
            const md = metadataFrom(c.commitmeta.value, Object.keys(c.commitmeta.value));
            assert.equal(encodeMetadata(md).toString('hex'), c.commitmeta.hex);
            assert.deepEqual(decodeMetadata(Buffer.from(c.commitmeta.hex, 'hex')), md);
          }
        }
        assert.ok(Object.keys(repo.commits).length >= 5);
      });
      it('reproduces every dirmeta and dirtree (bytes and checksum)', () => {
        let n = 0;
        for (const [sum, o] of Object.entries(repo.objects)) {
          if (o.type === 'dirmeta') {
            const dm = { uid: o.uid as number, gid: o.gid as number, mode: oct(o.mode as string), xattrs: xattrsFrom(o.xattrs) };
            const enc = encodeDirMeta(dm);
            assert.equal(enc.toString('hex'), o.hex);
            assert.equal(sha256Hex(enc), sum);
            assert.deepEqual(decodeDirMeta(enc), dm);
            n++;
          } else if (o.type === 'dirtree') {
            const files = (o.files as Array<[string, string]>).map(([name, checksum]) => ({ name, checksum: checksum as Checksum }));
            const dirs = (o.dirs as Array<[string, string, string]>).map(([name, tree, meta]) => ({ name, tree: tree as Checksum, meta: meta as Checksum }));
            // feed them reversed: the encoder must sort by raw bytes (Zeta < alpha < café)
            const enc = encodeDirTree({ files: [...files].reverse(), dirs: [...dirs].reverse() });
            if (o.hex) assert.equal(enc.toString('hex'), o.hex);
            assert.equal(sha256Hex(enc), sum);
            assert.deepEqual(decodeDirTree(enc), { files, dirs });
            n++;
          }
        }
        assert.ok(n >= 10, `${n} metadata objects`);
      });
      it('reproduces every content object header (checksum header, bare-user xattr, archive header)', () => {
        let n = 0;
        for (const [, o] of Object.entries(repo.objects)) {
          if (o.type !== 'file') continue;
          const meta = fileMetaFrom(o);
          assert.equal(fileChecksumPrefix(meta).toString('hex'), o.checksum_header_hex);
          assert.deepEqual(decodeFileHeader(Buffer.from((o.checksum_header_hex as string).slice(16), 'hex')), meta);
          if (mode === 'bare-user') {
            assert.equal(encodeBareUserMeta(meta).toString('hex'), o['user.ostreemeta_hex']);
            assert.deepEqual(decodeBareUserMeta(Buffer.from(o['user.ostreemeta_hex'] as string, 'hex')), { uid: meta.uid, gid: meta.gid, mode: meta.mode, xattrs: meta.xattrs });
            assert.equal(bareUserDiskMode(meta.mode), oct(o.on_disk_mode as string) & 0o7777, `on-disk mode of ${o.mode}`);
          }
          if (mode === 'archive') {
            const z = encodeArchiveHeader(meta, o.size as number);
            assert.equal(z.subarray(8).toString('hex'), o.zheader_hex);
            const d = decodeArchiveHeader(z);
            assert.deepEqual([d.meta, d.size, d.headerEnd], [meta, o.zheader_size_field, z.length]);
          }
          n++;
        }
        assert.ok(n >= 15, `${n} content objects`);
      });
    });
  }

  describe('content checksums computed from the input tree', () => {
    let tree: string;
    before(() => {
      tree = extractInputTree();
    });
    after(() => fs.rmSync(tree, { recursive: true, force: true }));

    function check(mode: string, ref: string, canon: (m: FileMeta) => FileMeta): number {
      const repo = v.repos[mode]!;
      const listing = repo.commits[repo.refs[`refs/heads/${ref}`]!.trim()]!.listing;
      let n = 0;
      for (const [p, e] of Object.entries(listing)) {
        if (e.type === 'dir') continue;
        const full = path.join(tree, p);
        if (!fs.existsSync(full) && !fs.lstatSync(full, { throwIfNoEntry: false })) continue; // second.txt comes from the overlay dir
        const st = fs.lstatSync(full);
        const meta = canon(metaOf(full, st));
        const sum = fileChecksum(meta, st.isSymbolicLink() ? Buffer.alloc(0) : fs.readFileSync(full));
        assert.equal(sum, e.file, `${mode} ${ref} ${p}`);
        n++;
      }
      return n;
    }
    it('bare and bare-user (vec/fromtar, vec/main, vec/uid1000)', () => {
      for (const mode of ['bare', 'bare-user']) {
        assert.equal(check(mode, 'vec/fromtar', (m) => m), 18);
        assert.equal(check(mode, 'vec/main', (m) => ({ ...m, uid: 0, gid: 0 })), 18);
        assert.equal(check(mode, 'vec/uid1000', (m) => ({ ...m, uid: 1000, gid: 1000 })), 18);
      }
    });
    it('bare-user-only drops ownership and xattrs', () => {
      assert.equal(check('bare-user-only', 'vec/fromtar', (m) => ({ ...m, uid: 0, gid: 0, xattrs: [], mode: (m.mode & 0o170000) === 0o120000 ? m.mode : m.mode & 0o170755 })), 18);
    });
    it('a changed byte, mode or xattr changes the checksum', () => {
      const base: FileMeta = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
      const a = fileChecksum(base, Buffer.from('x'));
      assert.notEqual(fileChecksum(base, Buffer.from('y')), a);
      assert.notEqual(fileChecksum({ ...base, mode: 0o100755 }, Buffer.from('x')), a);
      assert.notEqual(fileChecksum({ ...base, xattrs: [{ name: 'user.a', value: Buffer.from('1') }] }, Buffer.from('x')), a);
      // xattr order does not matter: the header sorts them
      const x1 = [{ name: 'user.zz', value: Buffer.from('1') }, { name: 'user.aa', value: Buffer.from('2') }];
      assert.equal(fileChecksum({ ...base, xattrs: x1 }), fileChecksum({ ...base, xattrs: [...x1].reverse() }));
    });
  });
});
