/** `atomic images version IMAGE`: the layer chain with digests, sizes and commits. */
import type { AppContext } from '../context.js';
import { resolveImages, imageLabels, META, metaString, REF_PREFIX } from '../../image/stored-image.js';
import { row, convertSize } from '../../util/format.js';
import { AtomicError } from '../../util/errors.js';

export async function imagesVersion(ctx: AppContext, image: string): Promise<{ lines: string[]; json: Record<string, unknown> }> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`);
  const [img] = await resolveImages(repo, image);
  const labels = await imageLabels(repo, img);
  const version = labels.version ?? labels.Version ?? '';
  const lines = [row([['IMAGE ID', 14], ['NAME', 40], ['VERSION', 10]]), row([[img.id.slice(0, 12), 14], [img.name, 40], [version, 10]]), ''];
  lines.push(row([['LAYER', 20], ['SIZE', 12], ['COMMIT', 14]]));
  const layers: Array<Record<string, unknown>> = [];
  for (const l of img.layers) {
    const c = await repo.resolveRef(REF_PREFIX + l.replace(/^sha256:/, ''));
    let size = '';
    if (c) size = metaString((await repo.readCommit(c)).metadata, META.size) ?? '';
    layers.push({ digest: l, commit: c, size: size ? Number(size) : null });
    lines.push(row([[l.replace(/^sha256:/, '').slice(0, 19), 20], [size ? convertSize(Number(size)) : '-', 12], [c ? c.slice(0, 12) : 'missing', 14]]));
  }
  return { lines, json: { id: img.id, name: img.name, version, layers } };
}
