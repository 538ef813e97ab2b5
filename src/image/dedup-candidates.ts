/**
 * Which stored images the large files of a pulled image are compared with before they are
 * written (store/large-dedup.ts): the images stored under the same repository name as the one
 * being pulled, whatever their tag (`atomic pull reg/etcd:3.5.10` after `reg/etcd:3.5.9`, an
 * update of `reg/etcd:latest`, `containers update --rebase` to a new tag), plus any image the
 * caller names (`also`: e.g. the image a container runs before a rebase to another repository).
 * The image at the pulled name itself comes first, then the others, newest commit first, at most
 * MAX_IMAGES in all; within an image its layers top-most first. A large file's candidate is the
 * object at the same path with the same size in the first of those layers that has one.
 *
 * Lazy: nothing is listed or read until a large file shows up (TreeCandidates), and a pull with
 * no large file costs nothing. The candidate only saves writes; the stream's checksum names the
 * object, always.
 */
import { atomicEnv } from '../util/env.js';
import { TreeCandidates, type LargeFileCandidates } from '../store/large-dedup.js';
import type { OstreeRepo } from '../store/repo.js';
import type { Checksum, Commit } from '../store/types.js';
import { parseImageName, tryDecodeRefName } from './name.js';
import { parseManifest } from './manifest.js';
import { META, REF_PREFIX, imageRef, isHexRef, layerRef, metaString } from './stored-image.js';

/** Images whose layers are searched, at most (each costs a few dirtree reads per large file). */
const MAX_IMAGES = 4;

function repositoryOf(name: string): string | null {
  try {
    return parseImageName(name).repository;
  } catch {
    return null;
  }
}

/** The candidates for image `name` (normalized, with tag) pulled into `repo`; see the module comment (none with ATOMIC_LARGE_DEDUP=0). */
export function likelyObjects(repo: OstreeRepo, name: string, also: readonly string[] = []): LargeFileCandidates | undefined {
  if (atomicEnv('ATOMIC_LARGE_DEDUP') === '0') return undefined;
  return new TreeCandidates(repo, () => candidateLayerCommits(repo, name, also));
}

/** The layer commits searched for image `name`, in search order. */
export async function candidateLayerCommits(repo: OstreeRepo, name: string, also: readonly string[] = []): Promise<Checksum[]> {
  const self = imageRef(name);
  const want = repositoryOf(name);
  const extra = new Set<string>();
  for (const n of also) {
    try {
      extra.add(n.startsWith(REF_PREFIX) ? n : imageRef(n));
    } catch {
      /* not an image name: no candidate from it */
    }
  }
  const images: Array<{ ref: string; metadata: Commit['metadata']; time: number }> = [];
  for (const [r, commit] of await repo.listRefs(REF_PREFIX)) {
    const ref = r.startsWith(REF_PREFIX) ? r : REF_PREFIX + r;
    const tail = ref.slice(REF_PREFIX.length);
    if (isHexRef(tail)) continue;
    const decoded = tryDecodeRefName(tail);
    if (decoded === null) continue;
    if (ref !== self && !extra.has(ref) && (want === null || repositoryOf(decoded) !== want)) continue;
    const c = await repo.readCommit(commit).catch(() => null);
    if (c === null) continue;
    images.push({ ref, metadata: c.metadata, time: ref === self ? Infinity : c.timestamp });
  }
  images.sort((a, b) => b.time - a.time || (a.ref < b.ref ? -1 : 1));
  const out: Checksum[] = [];
  for (const img of images.slice(0, MAX_IMAGES)) {
    // the commit read above (each image's commit is read once)
    const raw = metaString(img.metadata, META.manifest);
    if (raw === undefined) continue;
    let m;
    try {
      m = parseManifest(raw, `${img.ref}: docker.manifest`);
    } catch {
      continue;
    }
    if (m.kind !== 'manifest') continue;
    for (const l of [...m.layers].reverse()) {
      const lc = await Promise.resolve()
        .then(() => repo.resolveRef(layerRef(l.digest)))
        .catch(() => null);
      if (lc !== null && !out.includes(lc)) out.push(lc);
    }
  }
  return out;
}
