/** `atomic images delete [-y] IMAGE...` (§1.7): removes only the image refs; layers stay until prune. */
import type { AppContext } from '../context.js';
import { listImages, resolveImages, type ImageEntry } from '../../image/stored-image.js';
import { AtomicError } from '../../util/errors.js';

export async function planImagesDelete(ctx: AppContext, images: string[], all = false): Promise<ImageEntry[]> {
  if ((images.length > 0 && all) || (images.length === 0 && !all)) {
    throw new AtomicError('USAGE', 'You must select --all or provide a list of images to delete.', { suggestions: ['atomic images delete IMAGE... or atomic images delete --all'] });
  }
  const repo = await ctx.repoIfExists();
  if (all) {
    // every named image (atomic: the backend's images); their layers stay until `images prune`
    const every = repo ? await listImages(repo) : [];
    if (every.length === 0) throw new AtomicError('IMAGE_NOT_FOUND', 'No images to delete.', { exitCode: 1 });
    return every;
  }
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${images[0]} not found`, { suggestions: ['List the images with: atomic images list'] });
  const seen = new Map<string, ImageEntry>();
  for (const i of images) for (const e of await resolveImages(repo, i, true, { allowBroken: true })) seen.set(e.ref, e);
  return [...seen.values()];
}

export async function imagesDelete(ctx: AppContext, targets: ImageEntry[]): Promise<void> {
  const repo = await ctx.repo();
  await repo.deleteRefs(targets.map((t) => t.ref));
}
