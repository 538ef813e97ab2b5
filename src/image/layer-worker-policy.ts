/**
 * How many layers of a pull are imported on worker threads (image/layer-worker.ts): a module of
 * its own, so that deciding does not load worker_threads (a pull with nothing to import never
 * does).
 */
import { availableParallelism } from 'node:os';
import { atomicEnv } from '../util/env.js';

/**
 * How many layers of a pull may be imported on worker threads at once (app/images/pull.ts):
 * - ATOMIC_LAYER_WORKERS=1: every layer in flight (the opt-in of the fifth session);
 * - ATOMIC_LAYER_WORKERS=one: one worker beside the main thread, when at least two layers are
 *   missing and there is a second core: the main thread imports one layer while the worker
 *   imports another (instead of the layers in flight sharing the main thread), and the main
 *   thread's imports run without the store's I/O workers;
 * - otherwise none: every layer on the main thread. Measured (docs/benchmarks.md, "Pull", sixth
 *   session): the worker takes ~1.5 s of CPU off the main thread of the 4-layer pull, but its
 *   isolate and second import heap cost ~25-40 MiB of peak RSS (97-121 MiB against podman's
 *   64-70 MiB: over the 1.5x bound), so it is not the default yet.
 */
export function layerWorkerSlots(missingLayers: number): number {
  const env = atomicEnv('ATOMIC_LAYER_WORKERS');
  if (env === '1') return Infinity;
  if (env !== 'one' || missingLayers < 2 || availableParallelism() < 2) return 0;
  return 1;
}
