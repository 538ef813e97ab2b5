/** util/promise-pool: the one bounded pool (store checkout, object verification, repo walks, transaction fsyncs). */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { runPool } from '../../../src/util/promise-pool.js';

describe('util/promise-pool', () => {
  it('runs every item with at most `limit` in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    await runPool(
      Array.from({ length: 25 }, (_, i) => i),
      4,
      async (i) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await sleep(i % 3);
        seen.push(i);
        inFlight--;
      },
    );
    assert.equal(most, 4);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i),
    );
  });

  it('takes any iterable and resolves on an empty one', async () => {
    const got: string[] = [];
    await runPool(new Set(['a', 'b']), 8, async (s) => void got.push(s));
    assert.deepEqual(got.sort(), ['a', 'b']);
    await runPool([], 8, async () => assert.fail('called'));
  });

  it('after the first failure starts nothing new, waits for the calls in flight, then rejects with that failure', async () => {
    const started: number[] = [];
    let finished = 0;
    const boom = new Error('boom at 2');
    await assert.rejects(
      runPool([0, 1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
        started.push(i);
        if (i === 2) throw boom;
        await sleep(20);
        if (i === 5) throw new Error('later failure');
        finished++;
      }),
      (e) => e === boom,
    );
    assert.deepEqual(started, [0, 1, 2], 'no item started after the failure');
    assert.equal(finished, 2, 'the calls in flight were awaited');
  });
});
