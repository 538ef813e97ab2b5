import { strict as assert } from 'node:assert';
import { convertSize, pad, row, parseFilters } from '../../../src/util/format.js';
import { normalizeArgv, exitCodeFor } from '../../../src/cli/main.js';
import { AtomicError } from '../../../src/util/errors.js';

describe('output formatting like atomic', () => {
  it('convert_size: base 1000, Python rounding repr', () => {
    const cases: Array<[number, string]> = [
      [0, '0B'],
      [999, '999.0 B'],
      [1850, '1.85 KB'],
      [1000, '1.0 KB'],
      [429170000, '429.17 MB'],
      [1105525, '1.11 MB'],
      [1e9, '1.0 GB'],
    ];
    for (const [n, s] of cases) assert.equal(convertSize(n), s, String(n));
  });
  it('pads like str.format and never truncates', () => {
    assert.equal(pad('ab', 4), 'ab  ');
    assert.equal(pad('abcdef', 4), 'abcdef');
    assert.equal(
      row([
        ['>', 2],
        ['busybox', 9],
      ]),
      '>  busybox  ',
    );
  });
  it('filters: atomic messages for bad keys and malformed filters', () => {
    assert.deepEqual(parseFilters(['repo=x=y'], ['repo']), [['repo', 'x=y']]);
    assert.throws(() => parseFilters(['repo'], ['repo']), /The filter repo is not formatted correctly\. {2}It should be VAR=VALUE/);
    assert.throws(() => parseFilters(['x=1'], ['repo', 'tag']), /The filter x is not valid\. {2}Please choose from \['repo', 'tag'\]/);
  });
  it('moves atomic-style leading global options into the environment', () => {
    delete process.env.ATOMIC_ASSUME_YES;
    assert.deepEqual(normalizeArgv(['-y', 'images', 'delete', 'x']), ['images', 'delete', 'x']);
    assert.equal(process.env.ATOMIC_ASSUME_YES, '1');
    delete process.env.ATOMIC_ASSUME_YES;
    assert.deepEqual(normalizeArgv(['-v']), ['--version']);
  });
  it('maps errors to distinct exit codes', () => {
    assert.equal(exitCodeFor(new AtomicError('USAGE', 'x')), 2);
    assert.equal(exitCodeFor(new AtomicError('IMAGE_NOT_FOUND', 'x')), 3);
    assert.equal(exitCodeFor(new AtomicError('LOCK_BUSY', 'x')), 4);
    assert.equal(exitCodeFor(new AtomicError('DIGEST_MISMATCH', 'x')), 5);
    assert.equal(exitCodeFor(new AtomicError('UNSAFE_PATH', 'x')), 6);
    assert.equal(exitCodeFor(new Error('boom')), 1);
  });
});
