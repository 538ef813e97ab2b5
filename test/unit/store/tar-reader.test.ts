import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TarReader, type TarEntry } from '../../../src/store/tar-reader.js';
import { isAtomicError } from '../../../src/util/errors.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { fixChecksum, paxBody, rawHeader } from '../../helpers/tar.js';

const header = (name: string, type: string, size: number): Buffer => rawHeader({ name, type, size });
const pad = (n: number): Buffer => Buffer.alloc(Math.ceil(n / 512) * 512);
/** A PAX 'x' header block and its padded body. */
const paxHeader = (records: Record<string, string>): Buffer => {
  const body = paxBody(records);
  return Buffer.concat([header('PaxHeader', 'x', body.length), body, pad(body.length).subarray(body.length)]);
};

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

type Read = Omit<TarEntry, 'pax'> & { data: string; pax: Record<string, string> };

/** Every entry of `data` fed in chunks of `chunk` bytes, with its data; `seen` = bytes passed to onBytes. */
async function read(data: Buffer, chunk = 100): Promise<{ entries: Read[]; seen: number }> {
  let seen = 0;
  let last = -1;
  const r = new TarReader(chunked(data, chunk), (c) => {
    assert.ok(c.length > 0);
    seen += c.length;
    last = seen;
  });
  const entries: Read[] = [];
  for (let e = await r.next(); e !== null; e = await r.next()) {
    const body = Buffer.concat(entries.length % 2 === 0 ? await r.bodyAll() : (r.bodyNow() ?? (await r.bodyAll())));
    entries.push({ ...e, data: body.toString('latin1'), pax: Object.fromEntries([...e.pax].map(([k, v]) => [k, v.toString('latin1')])) });
  }
  await r.drain();
  assert.equal(last, seen);
  return { entries, seen };
}

async function refusal(data: Buffer, chunk = 100): Promise<string> {
  try {
    await read(data, chunk);
  } catch (e) {
    assert.ok(isAtomicError(e), String(e));
    assert.equal(e.code, 'LAYER_INVALID');
    assert.ok(e.suggestions.length > 0);
    return e.message;
  }
  assert.fail('not refused');
}

describe('store/tar-reader: TarReader', () => {
  it('reads entries, sizes and data, and passes every byte to onBytes', async () => {
    const tar = Buffer.concat([header('a', '0', 700), Buffer.alloc(700, 0x61), Buffer.alloc(324), header('d/', '5', 0), Buffer.alloc(1024)]);
    const { entries, seen } = await read(tar);
    assert.equal(seen, tar.length);
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.size, e.data.length]),
      [
        ['a', 'file', 700, 700],
        ['d/', 'directory', 0, 0],
      ],
    );
    assert.equal(entries[0].data, 'a'.repeat(700));
  });

  it('stops at the end-of-archive blocks but still reads (and counts) the bytes after them', async () => {
    const tar = Buffer.concat([header('a', '0', 0), Buffer.alloc(1024), Buffer.from('trailing junk')]);
    const { entries, seen } = await read(tar, 7);
    assert.equal(entries.length, 1);
    assert.equal(seen, tar.length);
  });

  it('completes an unpadded last entry and missing end-of-archive blocks (Go archive/tar reads them)', async () => {
    const tar = Buffer.concat([header('a', '0', 700), Buffer.alloc(700, 1)]);
    const { entries, seen } = await read(tar);
    assert.equal(seen, tar.length, 'the diff_id covers the original bytes only');
    assert.equal(entries.length, 1);
    assert.equal(entries[0].size, 700);
    assert.equal(entries[0].data, '\x01'.repeat(700));
  });

  it('makes a type-0 entry whose ustar name ends in "/" a file when its PAX path says so, and a type-\\0 entry a directory by its final name', async () => {
    const rec = '21 path=dir/file.txt\n';
    const pax = Buffer.concat([header('PaxHeader', 'x', rec.length), Buffer.from(rec.padEnd(512, '\0'))]);
    const v7dir = Buffer.concat([paxHeader({ path: 'v7dir/' }), header('v7dir', '\0', 0)]);
    const tar = Buffer.concat([pax, header('dir/', '0', 3), Buffer.from('abc'.padEnd(512, '\0')), header('other/', '0', 0), v7dir, Buffer.alloc(1024)]);
    const { entries } = await read(tar);
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.size, e.data]),
      [
        ['dir/file.txt', 'file', 3, 'abc'],
        ['other/', 'file', 0, ''],
        ['v7dir/', 'directory', 0, ''],
      ],
    );
    assert.equal(entries[0].pax.path, 'dir/file.txt');
  });

  it('skips a block that is all zeros but for its checksum field', async () => {
    const nearNull = Buffer.alloc(512);
    nearNull.write('0000400\0', 148, 'latin1');
    const tar = Buffer.concat([nearNull, header('a', '0', 0), Buffer.alloc(1024)]);
    assert.deepEqual(
      (await read(tar)).entries.map((e) => e.name),
      ['a'],
    );
  });

  it("refuses a stream that ends inside a file's data even without padding", async () => {
    assert.match(await refusal(Buffer.concat([header('a', '0', 700), Buffer.alloc(699, 1)])), /truncated: it ends in the middle of an entry at offset 1211/);
  });

  const refused: Array<[string, Buffer, RegExp]> = [
    ['a PAX header over 1 MiB', Buffer.concat([header('PaxHeader', 'x', 2 * 1024 * 1024)]), /PAX header of 2097152 bytes/],
    ['a GNU long name over 1 MiB', header('././@LongLink', 'L', 5 * 1024 * 1024), /long-name header/],
    ['a directory carrying data', Buffer.concat([header('d', '5', 10), pad(10)]), /directory entry carrying 10 bytes/],
    ['a symlink carrying data', Buffer.concat([header('l', '2', 10), pad(10)]), /carrying 10 bytes/],
    [
      'a GNU sparse map beyond the real size',
      (() => {
        const h = header('s', 'S', 0);
        h.write('00000001000\0', 386, 'latin1');
        h.write('00000000000\0', 398, 'latin1');
        h.write('00000000010\0', 483, 'latin1');
        return fixChecksum(h);
      })(),
      /sparse file whose map/,
    ],
    ['an unknown entry type', Buffer.concat([header('v', 'V', 0)]), /unsupported entry \(volume label\)/],
    ['an entry after one zero block', Buffer.concat([Buffer.alloc(512), header('a', '0', 0)]), /after an end-of-archive block at offset 512/],
    ['a global PAX path', Buffer.concat([header('g', 'g', 512), Buffer.from('11 path=ab\n'.padEnd(512, '\0'))]), /global PAX header setting "path"/],
    ['a header with a wrong checksum', Buffer.concat([rawHeader({ name: 'a', size: 0, badSum: true }), Buffer.alloc(1024)]), /^Layer tar is invalid: Invalid tar header/],
    ['a PAX header with a wrong checksum', Buffer.concat([rawHeader({ name: 'p', type: 'x', size: 12, badSum: true }), pad(12)]), /^Layer tar is invalid: Invalid tar header/],
    ['two PAX headers in a row', Buffer.concat([paxHeader({ uid: '123' }), paxHeader({ uid: '123' })]), /two PAX headers in a row at offset 1024/],
    ['a PAX header followed by an empty block', Buffer.concat([paxHeader({ uid: '123' }), Buffer.alloc(1024)]), /extended header followed by an empty block/],
    ['a PAX header at the end of the stream', paxHeader({ uid: '123' }), /ends inside an extended header/],
    ['a PAX header cut in its body', Buffer.concat([header('p', 'x', 600), Buffer.alloc(300)]), /ends inside an extended header/],
    ['a malformed PAX record', Buffer.concat([header('p', 'x', 9), Buffer.from('9 path=a'.padEnd(512, '\0')), header('a', '0', 0)]), /malformed PAX extended header record/],
    ['an invalid PAX size', Buffer.concat([paxHeader({ size: '-12' }), header('a', '0', 0)]), /invalid PAX size "-12" at offset 1024/],
    [
      'a garbage size field',
      (() => {
        const h = header('a', '0', 0);
        h.write('zzzz', 124, 'latin1');
        return fixChecksum(h);
      })(),
      /invalid size field in the header at offset 0/,
    ],
    ['a stream cut inside a header block', Buffer.concat([header('a', '0', 0), Buffer.from('partial')]), /middle of a header block at offset 512/],
  ];
  for (const [what, data, re] of refused) {
    it(`refuses ${what}`, async () => {
      for (const chunk of [1, 100, 512, 1 << 20]) assert.match(await refusal(data, chunk), re, `chunks of ${chunk}`);
    });
  }

  it('reads the same entries from archives of GNU tar, bsdtar and Python tarfile whatever the chunking (headers, PAX and long names split across chunks)', async function () {
    this.timeout(60_000);
    const dir = makeTempDir('atomic-tar-reader-');
    try {
      const src = path.join(dir, 'src');
      const longDir = `${'d'.repeat(90)}/${'e'.repeat(90)}`;
      fs.mkdirSync(path.join(src, longDir), { recursive: true });
      fs.writeFileSync(path.join(src, longDir, `${'f'.repeat(120)}.txt`), 'long name\n');
      fs.writeFileSync(path.join(src, 'small'), 'x');
      fs.writeFileSync(path.join(src, 'block'), Buffer.alloc(512, 7));
      fs.writeFileSync(path.join(src, 'big'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)));
      fs.writeFileSync(path.join(src, 'empty'), '');
      fs.symlinkSync(`../${'t'.repeat(150)}`, path.join(src, 'longlink'));
      fs.linkSync(path.join(src, 'small'), path.join(src, 'hard'));
      fs.writeFileSync(path.join(src, 'café ünï'), 'utf-8 name');
      const archives: Array<[string, string[]]> = [
        ['gnu', ['tar', '--format=gnu', '-C', src, '-cf', '-', '.']],
        ['oldgnu', ['tar', '--format=oldgnu', '-C', src, '-cf', '-', '.']],
        ['pax', ['tar', '--format=pax', '-C', src, '-cf', '-', '.']],
        ['bsdtar', ['bsdtar', '-C', src, '-cf', '-', '.']],
        [
          'python',
          [
            'python3',
            '-c',
            `import tarfile,sys\nwith tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.PAX_FORMAT) as t: t.add(${JSON.stringify(src)}, arcname='.')`,
          ],
        ],
      ];
      for (const [what, [cmd, ...args]] of archives) {
        const data = execFileSync(cmd!, args, { maxBuffer: 64 * 1024 * 1024 });
        // the oracle: GNU tar's own listing of the archive
        const listed = execFileSync('tar', ['-tf', '-'], { input: data })
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((n) => n.replace(/\/$/, ''));
        const whole = await read(data, data.length);
        assert.deepEqual(
          whole.entries.map((e) => e.name.replace(/\/$/, '')),
          listed,
          `${what}: names`,
        );
        assert.equal(whole.seen, data.length);
        const big = whole.entries.find((e) => e.name.endsWith('big'))!;
        assert.deepEqual(Buffer.from(big.data, 'latin1'), fs.readFileSync(path.join(src, 'big')), `${what}: data`);
        const link = whole.entries.find((e) => e.name.endsWith('longlink'))!;
        assert.equal(link.linkname, `../${'t'.repeat(150)}`, `${what}: long link target`);
        for (const chunk of [1, 3, 511, 512, 513, 4096]) {
          const r = await read(data, chunk);
          assert.deepEqual(r.entries, whole.entries, `${what}: chunks of ${chunk}`);
          assert.equal(r.seen, data.length);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps raw PAX values and merges global records into each entry', async () => {
    const g = paxBody({ 'SCHILY.xattr.user.g': 'global' });
    const tar = Buffer.concat([
      header('g', 'g', g.length),
      g,
      pad(g.length).subarray(g.length),
      paxHeader({ uid: '4000000000', 'SCHILY.xattr.user.l': 'local' }),
      header('f', '0', 0),
      header('h', '0', 0),
      Buffer.alloc(1024),
    ]);
    const { entries } = await read(tar, 5);
    assert.deepEqual(entries[0].pax, { 'SCHILY.xattr.user.g': 'global', uid: '4000000000', 'SCHILY.xattr.user.l': 'local' });
    assert.deepEqual(entries[1].pax, { 'SCHILY.xattr.user.g': 'global' });
  });
});
