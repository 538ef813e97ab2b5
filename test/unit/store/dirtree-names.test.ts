/** Dirtree entry names are validated by the decoder (issue 12 item 3): hostile objects built here. */
import { strict as assert } from 'node:assert';
import { decodeDirTree, encodeDirTree } from '../../../src/store/object-codec.js';
import { serialize } from '../../../src/store/gvariant.js';
import { code } from '../../helpers/error-code.js';

const SUM = 'a'.repeat(64);
const raw = (name: Buffer | string, kind: 'file' | 'dir'): Buffer => {
  // build the (a(say)a(sayay)) bytes by hand through the encoder, then patch the name bytes
  const placeholder = 'N'.repeat(Buffer.byteLength(name));
  const t = kind === 'file' ? { files: [{ name: placeholder, checksum: SUM }], dirs: [] } : { files: [], dirs: [{ name: placeholder, tree: SUM, meta: SUM }] };
  const b = encodeDirTree(t as never);
  const i = b.indexOf(Buffer.from(placeholder));
  Buffer.from(name).copy(b, i);
  return b;
};

describe('store: dirtree entry names', () => {
  let hostile = 0;
  after(() => console.log(`      dirtree names: ${hostile} hostile names refused`));
  const bad: Array<[string, Buffer | string]> = [
    ['".."', '..'],
    ['"."', '.'],
    ['"../../x"', '../../x'],
    ['"a/b"', 'a/b'],
    ['"/abs"', '/abs'],
    ['invalid UTF-8 (0xff 0xfe)', Buffer.from([0x61, 0xff, 0xfe])],
    ['a NUL byte inside', Buffer.from([0x61, 0x00, 0x62])],
  ];
  for (const [what, name] of bad) {
    for (const kind of ['file', 'dir'] as const) {
      it(`refuses a ${kind} entry named ${what}`, () => {
        hostile++;
        assert.equal(code(() => decodeDirTree(raw(name, kind))), 'STORE_CORRUPT');
      });
    }
  }
  it('refuses an empty name', () => {
    hostile++;
    const b = Buffer.from(serialize('(a(say)a(sayay))', [[['', Buffer.alloc(32)]], []]));
    assert.equal(code(() => decodeDirTree(b)), 'STORE_CORRUPT');
  });
  it('accepts ordinary names, dots inside names and non-ASCII UTF-8', () => {
    for (const n of ['a', '.hidden', '..a', 'a..b', 'é', '日本', '.wh..wh..opq']) {
      assert.equal(decodeDirTree(raw(n, 'file')).files[0]!.name, n);
    }
  });
});
