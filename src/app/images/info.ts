/** `atomic images info IMAGE` / `atomic info IMAGE` (§1.8): name, labels, template variables. */
import type { AppContext } from '../context.js';
import { resolveImages, imageLabels, layerCommits } from '../../image/stored-image.js';
import { templateVariables } from '../../image/exports.js';
import { AtomicError } from '../../util/errors.js';
import { readTrustRecord } from '../../image/trust/check.js';
import { describeSigners } from '../../image/trust/describe.js';

export async function imagesInfo(ctx: AppContext, image: string): Promise<{ lines: string[]; json: Record<string, unknown> }> {
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Image ${image} not found`, { suggestions: [`Pull it first: atomic pull --storage ostree ${image}`] });
  const [img] = await resolveImages(repo, image);
  const labels = await imageLabels(repo, img);
  const lines = [`Image Name: ${img.name}`];
  for (const k of Object.keys(labels).sort()) lines.push(`${k}: ${labels[k]}`);
  let vars = null;
  try {
    vars = await templateVariables(repo, await layerCommits(repo, img));
  } catch (e) {
    if ((e as AtomicError).code !== 'STORE_OBJECT_MISSING') throw e;
    ctx.out.warn(`Warning: ${(e as Error).message}; template variables are not shown`);
  }
  // atomic (Atomic/info.py): each section only when it has variables; both sorted by name
  const withDefault = Object.keys(vars?.withDefault ?? {}).sort();
  const withoutDefault = [...(vars?.withoutDefault ?? [])].sort();
  if (vars && withDefault.length > 0) {
    lines.push('', '', 'Template variables with default value, but overridable with --set:');
    for (const k of withDefault) lines.push(`${k}: ${vars.withDefault[k]}`);
  }
  if (withoutDefault.length > 0) {
    lines.push('', '', 'Template variables that has no default value, and must be set with --set:');
    for (const k of withoutDefault) lines.push(`${k}: {DEF_VALUE}`);
  }
  const record = await readTrustRecord(repo, img.commit);
  const signers = describeSigners(record);
  if (record) lines.push('', '', 'Signatures (verified when pulled):', ...signers.lines);
  return { lines, json: { name: img.name, id: img.id, labels, templateVariables: vars, signatures: signers.json } };
}
