/** `atomic images delete [-y] IMAGE...` (§1.7): removes only the image refs; layers stay until prune. */
import type { AppContext } from '../context.js';
import { resolveImages, type ImageEntry } from '../../image/catalog.js';
import { row } from '../../cli/format.js';
import { AtomicError } from '../../util/errors.js';

export async function planImagesDelete(ctx: AppContext, images: string[]): Promise<ImageEntry[]> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${images[0]} not found`, { suggestions: ['List the images with: atomic images list'] });
  const seen = new Map<string, ImageEntry>();
  for (const i of images) for (const e of await resolveImages(repo, i, true)) seen.set(e.ref, e);
  return [...seen.values()];
}

export function describeDelete(targets: ImageEntry[], assumeYes: boolean): string[] {
  const lines = [assumeYes ? 'The following images will be deleted.' : 'Do you wish to delete the following images?', ''];
  lines.push(row([['   IMAGE', 50], ['STORAGE', 10]]).trimEnd());
  for (const t of targets) lines.push(row([[`   ${t.name}`, 50], ['ostree', 10]]).trimEnd());
  return lines;
}

export async function imagesDelete(ctx: AppContext, targets: ImageEntry[]): Promise<void> {
  const repo = await ctx.repo();
  await repo.deleteRefs(targets.map((t) => t.ref));
}
