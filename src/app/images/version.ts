/** `atomic images version IMAGE`: the layer chain with digests, sizes and commits. */
import type { AppContext } from '../context.js';
import { resolveImages, imageLabels, META, metaString, REF_PREFIX } from '../../image/stored-image.js';
import { AtomicError } from '../../util/errors.js';

export interface ImageVersion {
  id: string;
  name: string;
  /** The `version` (or `Version`) label; '' without one. */
  version: string;
  /** Bottom layer first; `commit` null when the layer's commit is missing, `size` (compressed) null when unknown. */
  layers: Array<{ digest: string; commit: string | null; size: number | null }>;
}

export async function imagesVersion(ctx: AppContext, image: string): Promise<ImageVersion> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`);
  const [img] = await resolveImages(repo, image);
  const labels = await imageLabels(repo, img);
  const version = labels.version ?? labels.Version ?? '';
  const layers: ImageVersion['layers'] = [];
  for (const l of img.layers) {
    const c = await repo.resolveRef(REF_PREFIX + l.replace(/^sha256:/, ''));
    let size = '';
    if (c) size = metaString((await repo.readCommit(c)).metadata, META.size) ?? '';
    layers.push({ digest: l, commit: c, size: size ? Number(size) : null });
  }
  return { id: img.id, name: img.name, version, layers };
}
