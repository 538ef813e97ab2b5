/** The image a container use case deploys: the stored one (its signatures re-checked) or a fresh pull. */
import type { AppContext } from '../context.js';
import { resolveImages, type ImageEntry } from '../../image/stored-image.js';
import { recheckStoredTrust } from '../../image/trust/check.js';
import { trustSettings } from '../../image/trust/policy.js';
import { isAtomicError } from '../../util/errors.js';
import { stripTransport } from '../../image/reference.js';

/** Whether `ref` names an image the store is asked for first (a name), rather than a source that is always read again (a path transport or an archive). */
export function storeFirst(ref: string): boolean {
  return !/^[a-z-]+:\//.test(ref) && !ref.startsWith('dockertar:') && !ref.startsWith('oci-archive:') && !ref.startsWith('docker-archive:');
}

/**
 * The image in the store for `ref`, pulling it first when it is not there (any pull source);
 * `likeImages`: stored images the pulled one probably shares large files with (PullOptions).
 */
export async function ensureImage(ctx: AppContext, ref: string, likeImages?: readonly string[]): Promise<{ image: ImageEntry; name: string }> {
  const repo = await ctx.repo();
  const bare = stripTransport(ref);
  if (storeFirst(ref)) {
    try {
      const [image] = await resolveImages(repo, bare);
      // The stored image is used as it is: its signatures are checked again, offline, against the current policy.
      await recheckStoredTrust(repo, image.commit, image.name, { settings: trustSettings(ctx), onLine: (l) => ctx.out.line(l), what: `use of ${image.name}` });
      return { image, name: bare };
    } catch (e) {
      if (!isAtomicError(e) || e.code !== 'IMAGE_NOT_FOUND') throw e;
    }
  }
  const { pullImage } = await import('./pull.js'); // the import pipeline only when the image is not stored yet
  const r = await pullImage(repo, ref, { trust: trustSettings(ctx), onLine: (l) => ctx.out.line(l), onWarning: (w) => ctx.out.warn(w), likeImages });
  const [image] = await resolveImages(repo, r.imageName);
  return { image, name: r.imageName };
}
