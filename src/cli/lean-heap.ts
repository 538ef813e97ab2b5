/**
 * V8 settings for the commands that import layers (`pull`): a one-shot process that streams
 * 100+ MiB through zlib, sha256 and the file system, whose own JavaScript data is ~10-20 MiB.
 * With V8's defaults the young generation grows to 32 MiB (16 MiB semi-spaces) and TurboFan
 * keeps optimized code and compiler zones: measured on the Debian pull (docs/benchmarks.md),
 * peak RSS 123-143 MiB with the defaults, 104-110 MiB with the young generation kept at its
 * initial size, 77-86 MiB with also `--optimize-for-size --no-opt`, at the same CPU time (the hot
 * paths are native: zlib, sha256, syscalls; optimizing the JS parts costs about what it saves in
 * a process that lives a few seconds). These flags can be changed while running (unlike
 * `--max-semi-space-size`, which V8 reads once at start-up); Node resets them while a worker thread
 * boots, so the store's I/O workers set them again (util/v8-flags.ts). ATOMIC_V8_DEFAULTS=1 keeps the defaults.
 */
import { atomicEnv } from '../util/env.js';
import { setV8Flags } from '../util/v8-flags.js';

const FLAGS = ['--semi-space-growth-factor=1', '--optimize-for-size', '--no-opt'];

export function useLeanHeap(): void {
  if (atomicEnv('ATOMIC_V8_DEFAULTS') === '1') return;
  setV8Flags(FLAGS);
}
