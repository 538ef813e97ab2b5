import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { checksumOk, decodeNumber, parsePaxList, readHeader } from '../../../src/store/tar-header.js';
import { TarReader } from '../../../src/store/tar-reader.js';
import { TarIndex } from '../../../src/image/tar-index.js';
import { makeTempDir } from '../../helpers/fixtures.js';
import { TAR_END, fixChecksum, padded, paxBody, rawHeader, tarOf } from '../../helpers/tar.js';

const field = (text: string | number[], len = 12): Buffer => {
  const b = Buffer.alloc(len);
  if (typeof text === 'string') b.write(text, 'latin1');
  else Buffer.from(text).copy(b);
  return b;
};

describe('store/tar-header', () => {
  it('numeric fields: octal with spaces and NULs around it, GNU base-256, garbage as NaN', () => {
    assert.equal(decodeNumber(field('00000001750\0'), 0, 12), 0o1750);
    assert.equal(decodeNumber(field('   1750 \0'), 0, 12), 0o1750);
    assert.equal(decodeNumber(field('\0\0\0\0\0\0\0\0\0\0\0\0'), 0, 12), 0);
    assert.equal(decodeNumber(field([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]), 0, 12), 65536);
    assert.ok(Number.isNaN(decodeNumber(field([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), 0, 12)), 'negative base-256');
    assert.ok(Number.isNaN(decodeNumber(field([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 0, 12)), 'not a safe integer');
    assert.ok(Number.isNaN(decodeNumber(field('zzz\0'), 0, 12)));
  });

  it('the ustar prefix joins the name only for the POSIX magic', () => {
    const posix = rawHeader({ name: 'name', prefix: 'a/b', type: '2', linkname: 'target' });
    assert.deepEqual(
      { ...readHeader(posix), name: readHeader(posix).name.toString(), linkname: readHeader(posix).linkname.toString() },
      { typeflag: '2', size: 0, name: 'a/b/name', linkname: 'target' },
    );
    const gnu = Buffer.from(posix);
    gnu.write('ustar  \0', 257, 'latin1'); // GNU magic: the prefix bytes mean something else
    assert.equal(readHeader(fixChecksum(gnu)).name.toString(), 'name');
  });

  it('checksums: unsigned and signed sums are accepted, anything else is not', () => {
    const h = rawHeader({ name: 'f', size: 3 });
    assert.ok(checksumOk(h));
    assert.equal(checksumOk(rawHeader({ name: 'f', size: 3, badSum: true })), false);
    const high = rawHeader({ name: 'caf\u00e9' }); // bytes > 127: the signed sum differs
    let signed = 0;
    for (let i = 0; i < 512; i++) signed += i >= 148 && i < 156 ? 0x20 : high[i]! > 127 ? high[i]! - 256 : high[i]!;
    high.write(signed.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    assert.ok(checksumOk(high));
  });

  it('PAX records: repeated keys kept in order, binary values; malformed records go to the caller', () => {
    const recs = parsePaxList(Buffer.concat([paxBody({ a: '1' }), paxBody({ a: '2' }), Buffer.alloc(7)]), () => new Error('x'));
    assert.deepEqual(
      recs.map(([k, v]) => [k, v.toString()]),
      [
        ['a', '1'],
        ['a', '2'],
      ],
    );
    const problems: string[] = [];
    for (const bad of ['5 a=b\n', '9 path=a', '6 =ab\n', 'x']) {
      assert.throws(() => parsePaxList(Buffer.from(bad), (p) => (problems.push(p), new Error(p))));
    }
    assert.deepEqual(problems, ['record', 'record', 'key', 'record']);
  });

  it('the layer reader and the archive index read the same names and sizes from one archive', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(80)}`;
    const archive = Buffer.concat([
      await tarOf(
        [
          [{ name: 'plain' }, 'abc'],
          [{ name: long }, 'long name (ustar prefix)'],
          [{ name: 'x', pax: { path: 'pax/named' } }, 'pax path'],
          [{ name: 'link', type: 'symlink', linkname: 'plain' }],
        ],
        { noEof: true },
      ),
      rawHeader({ name: 'prefixed', prefix: 'by/hand', size: 5 }),
      padded('hello'),
      TAR_END,
    ]);
    const dir = makeTempDir('atomic-tar-header-');
    try {
      const file = path.join(dir, 'a.tar');
      fs.writeFileSync(file, archive);
      const idx = await TarIndex.open(file);
      const fromIndex = [...idx.entries.values()].map((e) => `${e.name} ${e.type} ${e.size} ${e.linkname}`);
      // the layer path
      const fromLayer: string[] = [];
      const reader = new TarReader(Readable.from([archive]), () => undefined);
      for (let h = await reader.next(); h !== null; h = await reader.next()) {
        fromLayer.push(`${h.name} ${h.type === 'directory' ? 'dir' : h.type === 'symlink' ? 'symlink' : 'file'} ${h.size} ${h.linkname ?? ''}`);
      }
      assert.deepEqual(fromLayer, fromIndex);
      assert.deepEqual(
        fromIndex.map((l) => l.split(' ')[0]),
        ['plain', long, 'pax/named', 'link', 'by/hand/prefixed'],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
