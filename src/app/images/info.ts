/**
 * `atomic images info IMAGE` / `atomic info IMAGE` (§1.8): name, labels, template variables and the
 * trust record of a stored image. The commands print it (cli/image-info.ts).
 */
import type { AppContext } from '../context.js';
import { resolveImages, imageLabels, layerCommits } from '../../image/stored-image.js';
import { templateVariables, type TemplateVariables } from '../../image/exports.js';
import { AtomicError } from '../../util/errors.js';
import { readTrustRecord } from '../../image/trust/check.js';
import type { TrustRecord } from '../../image/trust/stored.js';

export interface ImageInfo {
  name: string;
  id: string;
  labels: Record<string, string>;
  /** null: no templates in /exports, or their objects are missing (warned). */
  templateVariables: TemplateVariables | null;
  /** What was checked when the image was pulled; null: no record (pulled before trust existed). */
  trust: TrustRecord | null;
}

export async function imagesInfo(ctx: AppContext, image: string): Promise<ImageInfo> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`, { suggestions: [`Pull it first: atomic pull --storage ostree ${image}`] });
  const [img] = await resolveImages(repo, image);
  const labels = await imageLabels(repo, img);
  let vars: TemplateVariables | null = null;
  try {
    vars = await templateVariables(repo, await layerCommits(repo, img));
  } catch (e) {
    if ((e as AtomicError).code !== 'STORE_OBJECT_MISSING') throw e;
    ctx.out.warn(`Warning: ${(e as Error).message}; template variables are not shown`);
  }
  return { name: img.name, id: img.id, labels, templateVariables: vars, trust: await readTrustRecord(repo, img.commit) };
}
