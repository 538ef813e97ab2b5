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
 *   and seventh sessions): the worker takes ~2 s of CPU off the main thread of the 4-layer pull,
 *   but adds CPU in all and ~20-25 MiB of peak RSS (a second isolate and malloc arena: 90-101 MiB
 *   against podman's 61-70 MiB, over the 1.5x bound) and was slower at load 4-7.5, so it is not the
 *   default.
 */
export function layerWorkerSlots(missingLayers: number): number {
  const env = atomicEnv('ATOMIC_LAYER_WORKERS');
  if (env === '1') return Infinity;
  if (env !== 'one' || missingLayers < 2 || availableParallelism() < 2) return 0;
  return 1;
}
