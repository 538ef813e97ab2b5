/**
 * util/random: temporary names, lock tokens and the UUID template value come from /dev/urandom
 * without node:crypto. The UUIDs have crypto.randomUUID()'s form (version 4, RFC 9562 variant),
 * and values do not repeat across calls nor across processes.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { randomBytes, randomHex, randomUUID } from '../../../src/util/random.js';
import { PROJECT_ROOT } from '../../helpers/fixtures.js';

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('util/random', () => {
  it('randomHex gives 2N lowercase hex digits, all different over many calls (pool refills included)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const h = randomHex(8);
      assert.match(h, /^[0-9a-f]{16}$/);
      seen.add(h);
    }
    assert.equal(seen.size, 2000);
    assert.equal(randomHex(0), '');
    assert.match(randomHex(300), /^[0-9a-f]{600}$/, 'more than the pool: served too');
  });

  it('randomBytes are not constant: every bit position takes both values', () => {
    let or = 0;
    let and = 0xff;
    for (let i = 0; i < 512; i++) {
      for (const b of randomBytes(16)) {
        or |= b;
        and &= b;
      }
    }
    assert.equal(or, 0xff);
    assert.equal(and, 0);
  });

  it('randomUUID has the form of crypto.randomUUID() (uuid4) and does not repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const u = randomUUID();
      assert.match(u, UUID4);
      seen.add(u);
    }
    assert.equal(seen.size, 500);
  });

  it('two processes get different values (nothing is seeded from the build or the clock)', () => {
    const mod = path.join(PROJECT_ROOT, 'dist', 'src', 'util', 'random.js');
    const run = () =>
      execFileSync(process.execPath, ['--input-type=module', '-e', `import { randomUUID, randomHex } from ${JSON.stringify(mod)}; console.log(randomUUID(), randomHex(8));`], {
        encoding: 'utf8',
      });
    const a = run();
    const b = run();
    assert.match(a, /^\S+ [0-9a-f]{16}\n$/);
    assert.notEqual(a, b);
  });
});
