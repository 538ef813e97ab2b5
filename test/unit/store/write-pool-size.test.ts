/**
 * The store's automatic choice of I/O workers (store/write-pool.ts autoPoolSize): two while a core
 * is idle by the 1-minute load average or by the other processes' runnable tasks right now (the
 * average lags: after a heavy command it reports that command's own past work), none otherwise.
 */
import { strict as assert } from 'node:assert';
import { autoPoolSize } from '../../../src/store/write-pool.js';

describe('unit: store I/O workers, the automatic choice', () => {
  it('one CPU: none, whatever the load', () => {
    assert.equal(autoPoolSize(1, 0, 0), 0);
  });
  it('a low 1-minute load: two', () => {
    assert.equal(autoPoolSize(2, 0.2, null), 2);
    assert.equal(autoPoolSize(2, 1.49, 5), 2);
    assert.equal(autoPoolSize(8, 7.4, null), 2);
  });
  it('a high 1-minute load but nothing else runnable now (our own past work): two', () => {
    assert.equal(autoPoolSize(2, 1.6, 0), 2);
    assert.equal(autoPoolSize(4, 9, 2), 2);
  });
  it('a high load and other runnable tasks now, or nothing known about now: none', () => {
    assert.equal(autoPoolSize(2, 1.6, 1), 0);
    assert.equal(autoPoolSize(2, 10, 9), 0);
    assert.equal(autoPoolSize(2, 1.5, null), 0);
    assert.equal(autoPoolSize(4, 9, 3), 0);
  });
});
