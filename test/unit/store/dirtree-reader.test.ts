/**
 * The checkout's dirtree decoder (store/dirtree-reader.ts) against the generic GVariant one
 * (object-codec.ts decodeDirTree): the same result for every dirtree it accepts - small and large
 * (1-, 2- and 4-byte framing offsets), UTF-8 names - and, for damaged bytes, either the same
 * result or a refusal (null), so that the generic decoder gives its error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeDirTree, encodeDirTree } from '../../../src/store/object-codec.js';
import { decodeDirTreeFast } from '../../../src/store/dirtree-reader.js';
import type { Checksum, DirTree } from '../../../src/store/types.js';

const sum = (s: string) => createHash('sha256').update(s).digest('hex') as Checksum;

function tree(files: number, dirs: number, nameOf: (i: number) => string): DirTree {
  return {
    files: Array.from({ length: files }, (_, i) => ({ name: `f-${nameOf(i)}`, checksum: sum(`f${i}`) })),
    dirs: Array.from({ length: dirs }, (_, i) => ({ name: `d-${nameOf(i)}`, tree: sum(`t${i}`), meta: sum(`m${i}`) })),
  };
}

/** Deterministic pseudo-random numbers (the failing case can be replayed). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function generic(b: Buffer): DirTree | Error {
  try {
    return decodeDirTree(b);
  } catch (e) {
    return e as Error;
  }
}

const samples: Array<[string, DirTree]> = [
  ['empty', { files: [], dirs: [] }],
  ['one file', tree(1, 0, String)],
  ['one dir', tree(0, 1, String)],
  ['small (1-byte offsets)', tree(2, 1, String)],
  ['medium (2-byte offsets)', tree(40, 12, String)],
  ['large (4-byte offsets)', tree(900, 200, (i) => `${i}-${'x'.repeat(i % 40)}`)],
  ['long names (2-byte element offsets)', tree(3, 3, (i) => 'n'.repeat(250 + i * 100))],
  ['UTF-8 names', tree(5, 5, (i) => ['é', '日本語', '🙂', 'ß', 'a b'][i]!)],
];

describe('dirtree-reader: decodeDirTreeFast', function () {
  // CPU-bound loops (1,600 damaged samples): mocha's 2 s default is not enough at the load average of a shared machine (~10)
  this.timeout(120_000);
  for (const [what, t] of samples) {
    it(`decodes ${what} exactly like the generic decoder`, () => {
      const b = encodeDirTree(t);
      const want = decodeDirTree(b);
      const got = decodeDirTreeFast(b);
      // an empty dirtree is 1 byte of... nothing to decode fast: the generic path handles it
      if (got === null) assert.equal(b.length <= 1, true, `refused a valid ${what} dirtree`);
      else assert.deepEqual(got, want);
    });
  }

  it('on damaged bytes: the same result as the generic decoder, or a refusal - never a different tree', () => {
    const next = rng(17);
    let refused = 0;
    let same = 0;
    for (const [, t] of samples) {
      const good = encodeDirTree(t);
      for (let k = 0; k < 400; k++) {
        const b = Buffer.from(good);
        const kind = k % 4;
        if (kind === 0)
          b[Math.floor(next() * b.length)] = Math.floor(next() * 256); // one byte
        else if (kind === 1 && b.length > 1) {
          // a framing offset near the end
          b[b.length - 1 - Math.floor(next() * Math.min(8, b.length))] = Math.floor(next() * 256);
        } else if (kind === 2) {
          const cut = Math.floor(next() * b.length);
          const fast = decodeDirTreeFast(b.subarray(0, cut));
          const gen = generic(b.subarray(0, cut));
          if (fast === null) refused++;
          else {
            assert.ok(!(gen instanceof Error), `accepted a truncation the generic decoder refuses: ${String(gen)}`);
            assert.deepEqual(fast, gen);
            same++;
          }
          continue;
        } else b[Math.floor(next() * b.length)] = [0, 0x2f, 0xff, 0x2e][Math.floor(next() * 4)]!; // NUL, '/', bad UTF-8, '.'
        const fast = decodeDirTreeFast(b);
        const gen = generic(b);
        if (fast === null) {
          refused++;
          continue;
        }
        assert.ok(!(gen instanceof Error), `accepted bytes the generic decoder refuses: ${String(gen)}`);
        assert.deepEqual(fast, gen);
        same++;
      }
    }
    assert.ok(refused > 100 && same > 100, `refused ${refused}, same ${same}`);
  });

  it('refuses names that are no valid entry (".", "..", "/" inside, NUL inside)', () => {
    for (const bad of ['.', '..', 'a/b', 'a\0b']) {
      // the encoder refuses a NUL: encode "a_b" and put the NUL in its place
      const b = encodeDirTree({ files: [{ name: bad.replace('\0', '_'), checksum: sum('x') }], dirs: [] });
      if (bad.includes('\0')) b[b.indexOf('a_b') + 1] = 0;
      assert.equal(decodeDirTreeFast(b), null, JSON.stringify(bad));
      assert.throws(() => decodeDirTree(b));
    }
  });
});
