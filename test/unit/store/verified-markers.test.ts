/**
 * The marker file as a checkout's parts read it (MarkerIndex) says the same as loadMarkers, the
 * reading of every other user: the last line for a checksum wins, a torn last line, short or
 * malformed lines and CR line ends match nothing they would not match there.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MarkerIndex, loadMarkers } from '../../../src/store/verified-markers.js';
import { makeTempDir } from '../../helpers/fixtures.js';

const sum = (ch: string) => ch.repeat(64);
const SIG = '2049 123 17 33188 0 0 1700000000000.5';

describe('store: verified-object marker file', () => {
  const dir = makeTempDir('atomic-markers-');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, string]> = [
    ['one marker', `${sum('a')} ${SIG}\n`],
    ['the last line for a checksum wins', `${sum('a')} ${SIG}\n${sum('b')} 1 2 3\n${sum('a')} 9 9 9 9 9 9 9\n`],
    ['a torn last line (no newline) holds a prefix', `${sum('a')} ${SIG}\n${sum('b')} ${SIG.slice(0, 12)}`],
    ['a complete last line without its newline', `${sum('a')} ${SIG}\n${sum('b')} ${SIG}`],
    ['short and malformed lines', `${sum('a')}\n${sum('b')}x${SIG}\nshort\n\n${sum('c')} \n${sum('d')} x\n`],
    ['CR line ends', `${sum('a')} ${SIG}\r\n${sum('b')} ${SIG}\n`],
    ['empty file', ''],
  ];
  const probes = ['a', 'b', 'c', 'd', 'e'].map(sum);
  const sigs = [SIG, `${SIG}\r`, SIG.slice(0, 12), '1 2 3', '9 9 9 9 9 9 9', 'x', '', `${SIG} `];

  for (const [what, text] of cases) {
    it(`${what}: the same answers as loadMarkers`, () => {
      const file = path.join(dir, `m-${what.replace(/\W+/g, '-')}`);
      fs.writeFileSync(file, text);
      const map = loadMarkers(file);
      const index = new MarkerIndex(file);
      let hits = 0;
      for (const c of probes) {
        for (const s of sigs) {
          const want = map.get(c) === s;
          assert.equal(index.matches(c, s), want, `${c.slice(0, 4)}… ${JSON.stringify(s)}`);
          if (want) hits++;
        }
      }
      if (text !== '') assert.ok(hits > 0 || what.startsWith('short'), 'some marker matches');
    });
  }

  it('a missing file: no marker matches', () => {
    const index = new MarkerIndex(path.join(dir, 'absent'));
    assert.equal(index.matches(sum('a'), SIG), false);
    assert.equal(loadMarkers(path.join(dir, 'absent')).size, 0);
  });
});
