import { strict as assert } from 'node:assert';
import { deserialize, GVariantError, parseType, serialize } from '../../../src/store/gvariant.js';
import { loadVectors } from '../../integration/store/vector-helpers.js';

function roundtrip(sig: string, hex: string): unknown {
  const bytes = Buffer.from(hex, 'hex');
  const v = deserialize(sig, bytes);
  assert.equal(serialize(sig, v).toString('hex'), hex, `round-trip of ${sig}`);
  return v;
}

describe('store/gvariant', () => {
  describe('type strings', () => {
    it('computes alignment and fixed sizes', () => {
      assert.deepEqual([parseType('(yu)').fixedSize, parseType('(yu)').align], [8, 4]);
      assert.equal(parseType('(uy)').fixedSize, 8); // trailing padding to alignment
      assert.equal(parseType('()').fixedSize, 1);
      assert.equal(parseType('(uuuusa(ayay))').fixedSize, null);
      assert.equal(parseType('v').align, 8);
      assert.equal(parseType('a{sv}').align, 8);
      assert.equal(parseType('(tuuuusa(ayay))').align, 8);
    });
    it('rejects malformed type strings', () => {
      assert.throws(() => parseType('(uu'), GVariantError);
      assert.throws(() => parseType('a'), GVariantError);
      assert.throws(() => parseType('z'), GVariantError);
      assert.throws(() => parseType('{s}'), GVariantError);
    });
  });

  describe('serialization rules', () => {
    it('writes integers big-endian by default and little-endian on request', () => {
      assert.equal(serialize('u', 0x81a4).toString('hex'), '000081a4');
      assert.equal(serialize('u', 0x81a4, { littleEndian: true }).toString('hex'), 'a4810000');
      assert.equal(serialize('t', 1600000000n).toString('hex'), '000000005f5e1000');
      assert.equal(deserialize('x', Buffer.from('ffffffffffffffff', 'hex')), -1n);
      assert.equal(deserialize('n', Buffer.from('fffe', 'hex')), -2);
    });
    it('frames strings, arrays and tuples like GLib', () => {
      assert.equal(serialize('s', 'ab').toString('hex'), '616200');
      assert.equal(serialize('as', ['a', 'bc']).toString('hex'), '61006263000205'); // element ends 2 and 5 as 1-byte offsets
      assert.equal(serialize('()', []).toString('hex'), '00');
      assert.equal(serialize('(sy)', ['a', 7]).toString('hex'), '61000702');
      assert.equal(serialize('ay', Buffer.from([1, 2])).toString('hex'), '0102');
      assert.equal(serialize('a(ayay)', []).length, 0);
    });
    it('handles maybes and variants', () => {
      assert.equal(serialize('ms', null).length, 0);
      assert.equal(serialize('ms', 'x').toString('hex'), '780000');
      assert.equal(serialize('mu', 5).toString('hex'), '00000005');
      assert.deepEqual(deserialize('mu', Buffer.from('00000005', 'hex')), 5);
      assert.equal(deserialize('ms', Buffer.alloc(0)), null);
      const v = serialize('v', { type: 'as', value: ['vec/main'] });
      assert.deepEqual(deserialize('v', v), { type: 'as', value: ['vec/main'] });
    });
    it('uses 2-byte framing offsets once a container exceeds 255 bytes', () => {
      const long = ['x'.repeat(200), 'y'.repeat(200)];
      const b = serialize('as', long);
      assert.equal(b.length, 201 + 201 + 4);
      assert.equal(b.readUInt16LE(402), 201);
      assert.deepEqual(deserialize('as', b), long);
      const t = serialize('(sss)', ['a'.repeat(300), 'b', 'c']);
      assert.deepEqual(deserialize('(sss)', t), ['a'.repeat(300), 'b', 'c']);
    });
    it('round-trips nested dictionaries of every basic type', () => {
      const md = [
        ['b', { type: 'b', value: true }], ['y', { type: 'y', value: 255 }], ['q', { type: 'q', value: 65535 }],
        ['i', { type: 'i', value: -5 }], ['t', { type: 't', value: 2n ** 63n }], ['d', { type: 'd', value: 1.5 }],
        ['nested', { type: 'a{sv}', value: [['k', { type: 'ay', value: Buffer.from('zz') }]] }],
        ['maybe', { type: 'mas', value: ['q'] }],
      ];
      const b = serialize('a{sv}', md);
      assert.deepEqual(deserialize('a{sv}', b), md);
      assert.equal(serialize('a{sv}', deserialize('a{sv}', b)).toString('hex'), b.toString('hex'));
    });
    it('rejects values that do not fit and malformed data', () => {
      assert.throws(() => serialize('u', -1), GVariantError);
      assert.throws(() => serialize('y', 256), GVariantError);
      assert.throws(() => serialize('s', 5), GVariantError);
      assert.throws(() => serialize('s', 'a\0b'), GVariantError);
      assert.throws(() => serialize('(ss)', ['a']), GVariantError);
      assert.throws(() => deserialize('s', Buffer.from('6162', 'hex')), GVariantError);
      assert.throws(() => deserialize('u', Buffer.from('0102', 'hex')), GVariantError);
      assert.throws(() => deserialize('as', Buffer.from('6100ff', 'hex')), GVariantError);
      assert.throws(() => deserialize('(uu)', Buffer.alloc(7)), GVariantError);
    });
  });

  describe('every serialized object in vectors.json round-trips byte-for-byte', () => {
    const v = loadVectors();
    for (const [mode, repo] of Object.entries(v.repos)) {
      it(`${mode}: commits, commitmeta, dirtree, dirmeta, file headers`, () => {
        let n = 0;
        for (const [, c] of Object.entries(repo.commits)) {
          const parsed = roundtrip('(a{sv}aya(say)sstayay)', c.hex) as unknown[];
          assert.equal(parsed[3], c.subject);
          assert.equal(parsed[5], BigInt(c.timestamp));
          n++;
          if (c.commitmeta) {
            roundtrip('a{sv}', c.commitmeta.hex);
            n++;
          }
        }
        for (const [, o] of Object.entries(repo.objects)) {
          if (o.type === 'dirmeta') roundtrip('(uuua(ayay))', o.hex as string);
          else if (o.type === 'dirtree' && o.hex) roundtrip('(a(say)a(sayay))', o.hex);
          else if (o.type === 'file') {
            const hdr = o.checksum_header_hex as string;
            assert.equal(parseInt(hdr.slice(0, 8), 16), hdr.length / 2 - 8);
            roundtrip('(uuuusa(ayay))', hdr.slice(16));
            if (o['user.ostreemeta_hex']) roundtrip('(uuua(ayay))', o['user.ostreemeta_hex'] as string);
            if (o.zheader_hex) roundtrip('(tuuuusa(ayay))', o.zheader_hex as string);
          } else continue;
          n++;
        }
        assert.ok(n > 20, `only ${n} objects checked`);
      });
    }
  });
});
