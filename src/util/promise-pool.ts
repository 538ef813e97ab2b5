/**
 * The one bounded promise pool: run `fn` over `items` with at most `limit` calls in flight.
 * After the first failure no new item is started; the pool still waits for the calls in flight
 * (nothing may still be writing when the caller cleans up) and then rejects with that first error.
 */
export async function runPool<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failed: { e: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failed === null) {
      const n = it.next();
      if (n.done) return;
      try {
        await fn(n.value);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed !== null) throw (failed as { e: unknown }).e;
}
