/**
 * `atomic containers update --all` (§1.2): a controlled update of every installed system container
 * with atomic's progress lines (`Checking container NAME...`) and its SUMMARY rows. A container that
 * fails is recorded as `Failed` and the others still run; the command exits 0, as atomic did
 * (update restores the previous deployment of a container whose restart fails).
 * Like atomic, it does not pull: a newer image is pulled first (`atomic images update --all`).
 */
import type { AppContext } from '../context.js';
import { updateContainer } from './update.js';
import { containersList, type ContainerRow } from './list.js';
import { resolveImages } from '../../image/stored-image.js';
import { imageIdFor } from '../../deploy/render-slot.js';
import { stripTransport } from '../../image/reference.js';

export type UpdateAllStatus = 'Failed' | 'Unknown' | 'Updated now' | 'Updated' | 'Not updated';

export interface UpdateAllRow {
  name: string;
  before: string;
  after: string;
  /** The image id of the container's image in the store now; null when it is not there. */
  latest: string | null;
  status: UpdateAllStatus;
  error?: string;
}

/** atomic's get_status. */
export function updateStatus(failed: boolean, pre: string, post: string, latest: string | null): UpdateAllStatus {
  if (failed) return 'Failed';
  if (latest === null) return 'Unknown';
  if (post === latest && latest !== pre) return 'Updated now';
  if (post === latest && latest === pre) return 'Updated';
  return 'Not updated';
}

async function latestImageId(ctx: AppContext, row: ContainerRow | undefined, image: string): Promise<string | null> {
  if (!row) return null;
  const repo = await ctx.repoIfExists();
  if (!repo) return null;
  try {
    const [img] = await resolveImages(repo, stripTransport(image, { docker: true }));
    return imageIdFor(img);
  } catch {
    return null;
  }
}

export async function updateAllContainers(ctx: AppContext): Promise<UpdateAllRow[]> {
  const pre = await containersList(ctx, { all: true });
  const failed = new Map<string, string>();
  for (const c of pre) {
    ctx.out.line(`Checking container ${c.name}...`);
    try {
      await updateContainer(ctx, { name: c.name });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      failed.set(c.name, msg);
      ctx.out.warn(`Could not update ${c.name}: ${msg}`);
    }
  }
  const post = new Map((await containersList(ctx, { all: true })).map((r) => [r.name, r]));
  const rows: UpdateAllRow[] = [];
  for (const c of pre) {
    const after = post.get(c.name);
    const latest = await latestImageId(ctx, after ?? c, c.image_name);
    const postId = after?.image_id ?? '';
    rows.push({ name: c.name, before: c.image_id, after: postId, latest, status: updateStatus(failed.has(c.name), c.image_id, postId, latest), error: failed.get(c.name) });
  }
  return rows;
}
