/** `atomic images tag SRC DEST` (§1.9): a new `ociimage/<enc DEST>` ref on the same commit. */
import type { AppContext } from '../context.js';
import { resolveImages } from '../../image/stored-image.js';
import { imageRef } from '../../image/stored-image.js';

export async function imagesTag(ctx: AppContext, src: string, dest: string): Promise<{ ref: string }> {
  const repo = await ctx.repo();
  const [img] = await resolveImages(repo, src);
  const ref = imageRef(dest);
  const tx = await repo.beginTransaction();
  try {
    tx.setRef(ref, img.commit);
    await tx.commit();
  } catch (e) {
    await tx.abort();
    throw e;
  }
  return { ref };
}
