/**
 * Body of `atomic pull IMAGE`, shared by its oclif command and the start-up fast path
 * (cli/fast-path.ts), which runs it without loading oclif (~0.25 s of CPU per call: most of a
 * no-op re-pull).
 */
import { contextFromFlags, checkStorage } from './command-context.js';
import { trustSettingsFromFlags, type TrustFlagValues } from './trust-settings.js';
import { ProgressPrinter, pullEventsFor } from './progress.js';
import { useLeanHeap } from './lean-heap.js';
import { registryOptionsFromFlags, type RegistryFlagValues } from '../image/registry/flag-values.js';
import { AtomicError, isAtomicError } from '../util/errors.js';

export interface PullFlags extends TrustFlagValues, RegistryFlagValues {
  storage?: string;
  name?: string;
  type?: string;
  sysroot?: string;
  debug?: boolean;
}

export async function runPull(flags: PullFlags, image: string): Promise<void> {
  checkStorage(flags.storage);
  const ctx = contextFromFlags(flags);
  const repo = await ctx.repo();
  const progress = new ProgressPrinter(ctx.out);
  const { registry, platform } = registryOptionsFromFlags(flags);
  const { pullImage } = await import('../app/images/pull.js');
  const events = pullEventsFor(progress);
  // The lean V8 settings from the first layer to import on (before its worker, if any, starts):
  // a pull with nothing to import runs with V8's defaults, which cost it ~60 M instructions less
  // (callgrind, no-op re-pull: 707 M instead of 768 M; node:v8 alone is ~7 M of that).
  let lean = false;
  try {
    const r = await pullImage(repo, image, {
      name: flags.name,
      registry,
      platform,
      trust: trustSettingsFromFlags(flags, ctx.paths.userMode),
      ...events,
      onProgress: (ev) => {
        if (!lean && ev.phase === 'layer' && ev.status === 'copying') {
          lean = true;
          useLeanHeap();
        }
        events.onProgress(ev);
      },
    });
    progress.line(`Image ${r.imageName} pulled (${r.layersImported} layer(s) imported, ${r.layersSkipped} already present)`);
  } catch (e) {
    // atomic pull: ValueError("Failed: {}".format(e))
    if (isAtomicError(e) && !e.message.startsWith('Failed: ')) {
      throw new AtomicError(e.code, `Failed: ${e.message}`, { suggestions: e.suggestions, cause: e, exitCode: e.exitCode, ref: e.ref });
    }
    throw e;
  } finally {
    progress.done();
  }
}
