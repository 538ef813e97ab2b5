/**
 * Store integrity and resource bounds (issue 12, items 8-10): a checkout never deploys an object
 * that does not match its checksum; zstd frames are bounded like `zstd -d` (the real zstd is the
 * oracle); an object shared by more files than the filesystem's link limit is copied, as
 * `ostree checkout -H` does (the real ostree is the oracle). Every hostile input is built here.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { OstreeRepo } from '../../../src/store/repo.js';
import { checkoutLayers } from '../../../src/store/checkout.js';
import { configureWritePool, writePool } from '../../../src/store/write-pool.js';
import { decompressLayer, ZSTD_MAX_WINDOW, ZstdFrameGuard } from '../../../src/store/decompress.js';
import { verifiedMarkerPath, verifyContentObjects } from '../../../src/store/object-verify.js';
import type { Checksum, FileMeta } from '../../../src/store/types.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { importLayerTar } from '../../../src/store/layer-import.js';
import { renderTmpfilesTemplate, renderUnitTemplate } from '../../../src/render/render-files.js';
import * as tar from 'tar-stream';
import { makeTempDir } from '../../helpers/fixtures.js';

let hostileCases = 0;

const FILE = (mode = 0o644): FileMeta => ({ uid: 0, gid: 0, mode: 0o100000 | mode, symlinkTarget: '', xattrs: [] });
const DIR = { uid: 0, gid: 0, mode: 0o040755, xattrs: [] };

/** A one-layer commit of `files` (name -> content) built with the store API. */
async function commitOf(repo: OstreeRepo, ref: string, files: Record<string, string>): Promise<Checksum> {
  const tx = await repo.beginTransaction();
  const entries = [];
  for (const [name, content] of Object.entries(files)) entries.push({ name, checksum: await tx.writeRegularFile(FILE(), Buffer.from(content), Buffer.byteLength(content)) });
  const meta = await tx.writeDirMeta(DIR);
  const sub = await tx.writeDirTree({ files: entries.slice(1), dirs: [] });
  const tree = await tx.writeDirTree({ files: entries.slice(0, 1), dirs: [{ name: 'sub', tree: sub, meta }] });
  const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: tree, rootMeta: meta });
  tx.setRef(ref, c);
  await tx.commit();
  return c;
}

/** Run the enclosing describe's tests with `n` store I/O workers (not the load-dependent automatic choice). */
function storeWorkers(n: number): void {
  let saved = 0;
  before(() => {
    saved = writePool().size;
    configureWritePool(n);
  });
  after(() => configureWritePool(saved));
}

async function expectError(p: Promise<unknown>, code: string, re: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAtomicError(e), `expected an AtomicError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('store integrity: verified checkouts, zstd window bound, link-count exhaustion', function () {
  this.timeout(180_000);
  let tmp: string;
  let repo: OstreeRepo;
  let n = 0;
  const dest = () => path.join(tmp, `co-${n++}`);

  before(async () => {
    tmp = makeTempDir('atomic-integrity-');
    repo = await OstreeRepo.openOrCreate(path.join(tmp, 'repo'), 'bare');
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`      store integrity: ${hostileCases} hostile cases`);
  });

  // both checkout paths, whatever the machine's load (autoPoolSize): on the calling thread, and
  // with the store's I/O workers running (then the dirtrees are hashed, not looked up in markers)
  for (const workers of [0, 2]) {
    const w = `-w${workers}`; // contents differ per round: a corrupted object stays in the store
    describe(`a checkout verifies what it deploys (item 8), ${workers} store workers`, () => {
      storeWorkers(workers);

      it('hashes each object once, records a marker, and only stats it afterwards', async () => {
        const c = await commitOf(repo, `v/ok${w}`, { a: `alpha${w}`, b: 'beta', c: 'gamma' });
        const d = dest();
        await checkoutLayers(repo, [c], d);
        assert.equal(fs.readFileSync(path.join(d, 'a'), 'utf8'), `alpha${w}`);
        assert.ok(fs.existsSync(verifiedMarkerPath(repo)));
        const commit = await repo.readCommit(c);
        const t = await repo.readDirTree(commit.rootTree);
        const again = await verifyContentObjects(repo, [t.files[0].checksum]);
        assert.deepEqual(again, { checked: 1, hashed: 0 });
        assert.equal(fs.statSync(verifiedMarkerPath(repo)).mode & 0o777, 0o600);
      });

      const corruptions: Array<[string, (objectPath: string) => void]> = [
        ['content rewritten in place (same size)', (p) => fs.writeFileSync(p, 'ALPHA')],
        ['content truncated', (p) => fs.truncateSync(p, 1)],
        ['content appended', (p) => fs.appendFileSync(p, 'more')],
        ['mode changed to setuid', (p) => fs.chmodSync(p, 0o4755)],
        ['owner changed', (p) => fs.chownSync(p, 1234, 1234)],
        [
          'object replaced by another file',
          (p) => {
            fs.rmSync(p);
            fs.writeFileSync(p, 'alpha', { mode: 0o644 });
          },
        ],
      ];
      for (const [what, corrupt] of corruptions) {
        it(`refuses an object whose ${what}, naming it and how to repair, and leaves no checkout`, async () => {
          hostileCases++;
          const c = await commitOf(repo, `v/c${n}`, { [`f${n}`]: `payload-${what}${w}`, x: `other${w}` });
          await checkoutLayers(repo, [c], dest()); // verified and marked once
          const t = await repo.readDirTree((await repo.readCommit(c)).rootTree);
          const sum = t.files[0].checksum;
          const obj = repo.objectPath(sum, 'file');
          corrupt(obj);
          const d = dest();
          const e = await expectError(checkoutLayers(repo, [c], d), 'STORE_CORRUPT', new RegExp(`object ${sum}\\.file in .* does not match its checksum`));
          assert.match((e as unknown as { suggestions: string[] }).suggestions.join(' '), /images verify.*\n?.*images delete.*prune.*pull/s);
          assert.equal(fs.existsSync(d), false, 'nothing checked out');
        });
      }

      it('refuses a corrupt dirtree and a missing object with clear errors', async () => {
        hostileCases += 2;
        const c = await commitOf(repo, `v/meta${w}`, { m1: `one${w}`, m2: `two${w}` });
        const commit = await repo.readCommit(c);
        const t = await repo.readDirTree(commit.rootTree);
        const subTree = t.dirs[0].tree;
        fs.appendFileSync(repo.objectPath(subTree, 'dirtree'), Buffer.from([0]));
        await expectError(checkoutLayers(repo, [c], dest()), 'STORE_CORRUPT', new RegExp(`object ${subTree}\\.dirtree .* does not match its checksum`));
        const c2 = await commitOf(repo, `v/missing${w}`, { gone1: `to be removed${w}`, gone2: `two${w}` });
        const t2 = await repo.readDirTree((await repo.readCommit(c2)).rootTree);
        fs.rmSync(repo.objectPath(t2.files[0].checksum, 'file'));
        await expectError(checkoutLayers(repo, [c2], dest()), 'STORE_OBJECT_MISSING', new RegExp(`${t2.files[0].checksum}\\.file is missing`));
      });
    });
  }

  describe('markers of dirtree and dirmeta objects (object-verify.ts)', () => {
    const markerLines = (): string[] => (fs.existsSync(verifiedMarkerPath(repo)) ? fs.readFileSync(verifiedMarkerPath(repo), 'latin1').split('\n') : []);
    const hasMarker = (c: string): boolean => markerLines().some((l) => l.startsWith(`${c} `));

    // with store workers running, the checking-out thread hashes the dirtrees instead of reading
    // markers (checkout.ts); whether they run depends on the machine's load (autoPoolSize): none here
    describe('without store workers', () => {
      storeWorkers(0);
      it('a transaction records its dirtrees and dirmetas; a checkout without I/O workers records the ones it hashed', async () => {
        const c = await commitOf(repo, 'm/recorded', { r1: 'one', r2: 'two' });
        const commit = await repo.readCommit(c);
        const sub = (await repo.readDirTree(commit.rootTree)).dirs[0]!;
        for (const x of [commit.rootTree, sub.tree, commit.rootMeta]) assert.ok(hasMarker(x), `marker of ${x}`);
        // markers dropped (as in a store written by ostree or before markers covered metadata): the checkout hashes and records them
        fs.writeFileSync(
          verifiedMarkerPath(repo),
          markerLines()
            .filter((l) => ![commit.rootTree, sub.tree, commit.rootMeta].some((x) => l.startsWith(`${x} `)))
            .join('\n'),
        );
        const d = dest();
        await checkoutLayers(repo, [c], d);
        assert.equal(fs.readFileSync(path.join(d, 'sub', 'r2'), 'utf8'), 'two');
        for (const x of [commit.rootTree, sub.tree, commit.rootMeta]) assert.ok(hasMarker(x), `marker of ${x} recorded by the checkout`);
      });
    });

    it('a dirtree or dirmeta changed in place after its marker was recorded (same size) is hashed and refused', async () => {
      hostileCases += 2;
      const c = await commitOf(repo, 'm/changed', { c1: 'one', c2: 'two' });
      const commit = await repo.readCommit(c);
      const subTree = (await repo.readDirTree(commit.rootTree)).dirs[0]!.tree;
      assert.ok(hasMarker(subTree));
      await checkoutLayers(repo, [c], dest());
      const flip = (file: string, at: number) => {
        const b = fs.readFileSync(file);
        b[at] ^= 0x01;
        fs.writeFileSync(file, b); // same size; mtime moves (the marker's signature no longer matches)
      };
      const treeFile = repo.objectPath(subTree, 'dirtree');
      const tree = fs.readFileSync(treeFile);
      flip(treeFile, 0); // the first file name's first byte
      let d = dest();
      await expectError(checkoutLayers(repo, [c], d), 'STORE_CORRUPT', new RegExp(`object ${subTree}\\.dirtree .* does not match its checksum`));
      assert.equal(fs.existsSync(d), false, 'nothing checked out');
      fs.writeFileSync(treeFile, tree);
      const metaFile = repo.objectPath(commit.rootMeta, 'dirmeta');
      const meta = fs.readFileSync(metaFile);
      flip(metaFile, 0);
      d = dest();
      await expectError(checkoutLayers(repo, [c], d), 'STORE_CORRUPT', new RegExp(`object ${commit.rootMeta}\\.dirmeta .* does not match its checksum`));
      assert.equal(fs.existsSync(d), false, 'nothing checked out');
      fs.writeFileSync(metaFile, meta); // the other commits here share this dirmeta
      await checkoutLayers(repo, [c], dest());
    });
  });

  describe('zstd window bound, as `zstd -d` (item 9)', () => {
    /** A valid zstd frame: window descriptor `wd` (or single segment with content size), one raw block. */
    function frame(opts: { windowLog?: number; mantissa?: number; single?: bigint; content?: Buffer }): Buffer {
      const content = opts.content ?? Buffer.from('hello zstd\n');
      const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd])];
      if (opts.single !== undefined) {
        // FHD: FCS field 8 bytes (code 3), single segment
        parts.push(Buffer.from([(3 << 6) | (1 << 5)]));
        const fcs = Buffer.alloc(8);
        fcs.writeBigUInt64LE(opts.single);
        parts.push(fcs);
      } else {
        parts.push(Buffer.from([0x00, (((opts.windowLog ?? 20) - 10) << 3) | (opts.mantissa ?? 0)]));
      }
      const bh = (content.length << 3) | 1; // last block, raw
      parts.push(Buffer.from([bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff]), content);
      return Buffer.concat(parts);
    }
    async function decode(data: Buffer): Promise<Buffer> {
      const { stream } = await decompressLayer(Readable.from([data]));
      const out: Buffer[] = [];
      for await (const c of stream) out.push(c as Buffer);
      return Buffer.concat(out);
    }
    function zstdCli(data: Buffer): { ok: boolean; err: string } {
      const r = spawnSync('zstd', ['-d', '-c', '-q'], { input: data });
      return { ok: r.status === 0, err: r.stderr.toString() };
    }

    it('accepts a window of exactly 128 MiB, like zstd -d (and decodes ordinary frames)', async () => {
      const f = frame({ windowLog: 27 });
      assert.equal(zstdCli(f).ok, true, zstdCli(f).err);
      // the guard alone (decoding would allocate the 128 MiB window)
      assert.doesNotThrow(() => new ZstdFrameGuard().push(f));
      assert.equal(ZSTD_MAX_WINDOW, 2 ** 27);
      const small = Buffer.concat([frame({ windowLog: 20 }), frame({ single: 11n })]);
      assert.equal(zstdCli(small).ok, true);
      assert.equal((await decode(small)).toString(), 'hello zstd\nhello zstd\n');
    });

    const huge: Array<[string, () => Buffer]> = [
      ['a 256 MiB window', () => frame({ windowLog: 28 })],
      ['a 128 MiB + 1/8 window (mantissa)', () => frame({ windowLog: 27, mantissa: 1 })],
      ['a 2 GiB window', () => frame({ windowLog: 31 })],
      ['a single-segment frame announcing 1 TiB', () => frame({ single: 1n << 40n })],
      [
        'a huge window in the second frame, after a skippable frame',
        () => Buffer.concat([frame({}), Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]), frame({ windowLog: 30 })]),
      ],
    ];
    for (const [what, build] of huge) {
      it(`refuses ${what} before allocating it, as zstd -d does`, async () => {
        hostileCases++;
        const data = build();
        const cli = zstdCli(data);
        assert.equal(cli.ok, false, 'the oracle refuses it too');
        assert.match(cli.err, /memory|window|too large/i);
        const before = process.memoryUsage().arrayBuffers;
        await expectError(
          decode(data),
          'LAYER_INVALID',
          /zstd stream whose frame \d declares a (window|content size) of [\d.]+ (MiB|bytes), more than the 128 MiB that `zstd -d` accepts/,
        );
        assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'no window was allocated');
      });
    }
  });

  describe('clear errors (item 13)', () => {
    async function importBytes(r: OstreeRepo, data: Buffer): Promise<void> {
      const tx = await r.beginTransaction();
      try {
        await importLayerTar(tx, Readable.from([data]));
        await tx.commit();
      } catch (e) {
        await tx.abort();
        throw e;
      }
    }
    async function xattrTar(size: number): Promise<Buffer> {
      const p = tar.pack();
      p.entry({ name: 'big', mode: 0o644, mtime: new Date(0), pax: { 'SCHILY.xattr.user.big': 'x'.repeat(size) } } as tar.Header, Buffer.from('hi'));
      p.finalize();
      const parts: Buffer[] = [];
      for await (const c of p) parts.push(c as Buffer);
      return Buffer.concat(parts);
    }

    it('accepts a PAX entry (Python tarfile) whose ustar fallback name ends in "/" as the regular file it is', async () => {
      const py = spawnSync('python3', [
        '-c',
        `
import tarfile, io, sys
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    data = b'long path file\\n'
    ti = tarfile.TarInfo('a'*99 + '/' + 'file'); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
sys.stdout.buffer.write(buf.getvalue())`,
      ]);
      assert.equal(py.status, 0, py.stderr.toString());
      const data = py.stdout as Buffer;
      assert.equal(data.subarray(1024 + 99, 1024 + 100).toString(), '/', 'the fallback name really ends in /');
      const tx = await repo.beginTransaction();
      const r = await importLayerTar(tx, Readable.from([data]));
      const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: r.rootTree, rootMeta: r.rootMeta });
      tx.setRef('pax-slash', c);
      await tx.commit();
      const d = dest();
      await checkoutLayers(repo, [c], d);
      assert.equal(fs.readFileSync(path.join(d, 'a'.repeat(99), 'file'), 'utf8'), 'long path file\n');
    });

    it('refuses an xattr larger than Linux allows, and one the filesystem cannot hold, naming it', async () => {
      hostileCases += 2;
      await expectError(
        importBytes(repo, await xattrTar(70_000)),
        'LAYER_INVALID',
        /tar entry "big": its xattr "user.big" has a 8-byte name and a 70000-byte value; Linux allows at most 255 and 65536/,
      );
      // ext4 (here) keeps a file's xattrs in one block: 8 KB is refused by the filesystem
      await expectError(importBytes(repo, await xattrTar(8000)), 'LAYER_INVALID', /refused its extended attributes \(8008 bytes: user\.big \(8000 bytes\)\)/);
    });

    it('refuses a garbage repository config instead of reading it as bare', async () => {
      hostileCases += 3;
      for (const garbage of ['\u0000\u0001garbage', 'mode=bare\n', '[core]\nmode=bare\n']) {
        const r = path.join(tmp, `garbage-${n++}`);
        fs.mkdirSync(path.join(r, 'objects'), { recursive: true });
        fs.writeFileSync(path.join(r, 'config'), garbage);
        await expectError(OstreeRepo.open(r), 'STORE_INVALID', new RegExp(`${r}/config is not a valid OSTree repository config`));
      }
      const ok = path.join(tmp, `ostree-init-${n++}`);
      assert.equal(spawnSync('ostree', ['init', `--repo=${ok}`, '--mode=bare-user']).status, 0);
      assert.equal((await OstreeRepo.open(ok)).mode, 'bare-user');
    });

    it('refuses a 1.5 MB template value (systemd LONG_LINE_MAX) before anything is written', () => {
      hostileCases += 2;
      const big = 'x'.repeat(1_500_000);
      assert.throws(
        () => renderUnitTemplate('[Service]\nEnvironment=A=$VALUE\n', { VALUE: big }, 'service.template'),
        /The value of VALUE cannot be used in the template file 'service.template': it is 1500000 bytes long, and systemd refuses lines of 1048576 bytes or more/,
      );
      assert.throws(() => renderTmpfilesTemplate('d /var/lib/x 0700 - - - $VALUE\n', { VALUE: big }, 'tmpfiles.template'), /1500000 bytes long/);
      // two values under the limit on one line: the rendered line is refused
      const half = 'y'.repeat(600_000);
      assert.throws(
        () => renderUnitTemplate('[Service]\nEnvironment=A=$V B=$V\n', { V: half }, 'service.template'),
        /Line 2 of the file rendered from 'service.template' is 1200017 bytes long/,
      );
    });
  });

  describe('link-count exhaustion (item 10)', () => {
    it('checks out 65,010 identical files (one object) by copying once the link count is exhausted, like ostree checkout does', async () => {
      hostileCases++;
      const tx = await repo.beginTransaction();
      const sum = await tx.writeRegularFile(FILE(0o755), Buffer.from('same\n'), 5);
      const meta = await tx.writeDirMeta(DIR);
      // 65,010 names in 7 directories (ext4 allows 65,000 links per inode)
      const dirs = [];
      for (let d = 0; d < 7; d++) {
        const files = Array.from({ length: d === 6 ? 5010 : 10000 }, (_, i) => ({ name: `f${String(i).padStart(5, '0')}`, checksum: sum }));
        dirs.push({ name: `d${d}`, tree: await tx.writeDirTree({ files, dirs: [] }), meta });
      }
      const root = await tx.writeDirTree({ files: [], dirs });
      const c = await tx.writeCommit({ metadata: [], parent: null, related: [], subject: '', body: '', timestamp: 0, rootTree: root, rootMeta: meta });
      tx.setRef('emlink', c);
      await tx.commit();
      const d = dest();
      const counts = await checkoutLayers(repo, [c], d);
      assert.equal(counts.files, 65_010);
      assert.ok(counts.copies > 0, 'some files had to be copied');
      const last = fs.statSync(path.join(d, 'd6', 'f05009'));
      assert.equal(last.mode & 0o7777, 0o755);
      assert.equal(fs.readFileSync(path.join(d, 'd6', 'f05009'), 'utf8'), 'same\n');
      assert.equal(fs.statSync(path.join(d, 'd0', 'f00000')).ino, fs.statSync(repo.objectPath(sum, 'file')).ino, 'the first ones are hardlinks');
      // (the real ostree behaves the same way without -H: hardlinks, then copies; with -H,
      // "require hardlinks", it fails with "Too many links" - checked by hand, see docs/reliability.md)
      fs.rmSync(d, { recursive: true, force: true });
    });
  });
});
