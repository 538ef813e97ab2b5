/**
 * The images held in the store, read from `ociimage/` refs the way atomic reads them (§1.6, §2.3,
 * §2.4): named refs are images, hex refs are layers or config blobs. Works on repos written by us
 * and by atomic+skopeo.
 */
import type { OstreeRepo } from '../store/repo.js';
import type { Checksum, Digest } from '../store/types.js';
import { decodeRefName, isHexRef } from './name.js';
import { metaString, resolveImageRef, readStoredConfig } from './stored-image.js';

export { metaString };
import { AtomicError } from '../util/errors.js';

export const REF_PREFIX = 'ociimage/';

export interface ImageEntry {
  /** Full name with tag, e.g. "localhost/systest:1.0". Layer rows: "<none>". */
  name: string;
  repo: string;
  tag: string;
  ref: string;
  commit: Checksum;
  /** Image id: the manifest digest hex (docker.digest), else config digest, else commit checksum. */
  id: string;
  created: Date;
  /** Sum of the layers' docker.size, or null if a layer lacks it. */
  virtualSize: number | null;
  layers: string[];
  configDigest: string | null;
  manifest: Record<string, unknown> | null;
  isLayer: boolean;
}

/** Layer digests of a stored manifest: schema2/OCI `layers`, schema1 `fsLayers` reversed, legacy `Layers`. */
export function manifestLayers(m: Record<string, unknown> | null): string[] {
  if (!m) return [];
  if (Array.isArray(m.layers)) return (m.layers as Array<{ digest: string }>).map((l) => l.digest);
  if (Array.isArray(m.fsLayers)) return (m.fsLayers as Array<{ blobSum: string }>).map((l) => l.blobSum).reverse();
  if (Array.isArray(m.Layers)) return (m.Layers as string[]).map((l) => (l.includes(':') ? l : `sha256:${l}`));
  return [];
}

export function splitRepoTag(name: string): { repo: string; tag: string } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) return { repo: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repo: name, tag: 'latest' };
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

async function layerSize(repo: OstreeRepo, digest: string): Promise<number | null> {
  const c = await repo.resolveRef(REF_PREFIX + hexOf(digest));
  if (!c) return null;
  const commit = await repo.readCommit(c);
  const s = metaString(commit.metadata, 'docker.size');
  return s === undefined || !/^\d+$/.test(s) ? null : Number(s);
}

export async function readImageEntry(repo: OstreeRepo, ref: string, commit: Checksum): Promise<ImageEntry> {
  const tail = ref.slice(REF_PREFIX.length);
  const c = await repo.readCommit(commit);
  const isLayer = isHexRef(tail);
  let manifest: Record<string, unknown> | null = null;
  const raw = metaString(c.metadata, 'docker.manifest');
  if (raw) {
    try {
      manifest = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      manifest = null;
    }
  }
  const layers = manifestLayers(manifest);
  const cfg = (manifest?.config as { digest?: string } | undefined)?.digest ?? null;
  const digest = metaString(c.metadata, 'docker.digest');
  const id = digest ? hexOf(digest) : (manifest?.Digest as string | undefined) ? hexOf(manifest!.Digest as string) : cfg ? hexOf(cfg) : commit;
  let virtualSize: number | null = layers.length ? 0 : null;
  for (const l of layers) {
    const s = await layerSize(repo, l);
    if (s === null) {
      virtualSize = null;
      break;
    }
    virtualSize = (virtualSize ?? 0) + s;
  }
  if (isLayer) {
    const s = metaString(c.metadata, 'docker.size');
    virtualSize = s && /^\d+$/.test(s) ? Number(s) : null;
  }
  const name = isLayer ? '<none>' : decodeRefName(tail);
  const { repo: r, tag } = isLayer ? { repo: '<none>', tag: '<none>' } : splitRepoTag(name);
  return { name, repo: r, tag, ref, commit, id, created: new Date(c.timestamp * 1000), virtualSize, layers, configDigest: cfg, manifest, isLayer };
}

/** All images (and with `all`, layer/config refs too), sorted by name. */
export async function listImages(repo: OstreeRepo, opts: { all?: boolean } = {}): Promise<ImageEntry[]> {
  const refs = await repo.listRefs(REF_PREFIX);
  const out: ImageEntry[] = [];
  for (const [ref, commit] of [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const full = ref.startsWith(REF_PREFIX) ? ref : REF_PREFIX + ref;
    const tail = full.slice(REF_PREFIX.length);
    if (!opts.all && isHexRef(tail)) continue;
    out.push(await readImageEntry(repo, full, commit));
  }
  return out;
}

/**
 * Resolve a user-given image (§2.3) with the image layer's resolver (exact name, name:latest,
 * then an ImageId prefix of a tagged image). With `multiple`, an id prefix may name several
 * images (images delete), as atomic allowed.
 */
export async function resolveImages(repo: OstreeRepo, input: string, multiple = false): Promise<ImageEntry[]> {
  if (multiple && /^[0-9a-f]+$/i.test(input)) {
    const hits = (await listImages(repo)).filter((e) => e.id.startsWith(input.toLowerCase()));
    if (hits.length > 1) return hits;
  }
  const { ref, commit } = await resolveImageRef(repo, input);
  return [await readImageEntry(repo, ref, commit)];
}

/** The image config JSON (from the config blob commit `/content`), or null when not stored. */
export async function readImageConfig(repo: OstreeRepo, img: ImageEntry): Promise<Record<string, unknown> | null> {
  return img.configDigest ? readStoredConfig(repo, img.configDigest as Digest) : null;
}

/** Labels of an image: config.Labels (or manifest Labels for legacy atomic imports). */
export async function imageLabels(repo: OstreeRepo, img: ImageEntry): Promise<Record<string, string>> {
  if (img.manifest && typeof img.manifest.Labels === 'object' && img.manifest.Labels) return img.manifest.Labels as Record<string, string>;
  const cfg = await readImageConfig(repo, img);
  const labels = (cfg?.config as { Labels?: Record<string, string> } | undefined)?.Labels;
  return labels ?? {};
}

/** Layer commits of an image, bottom first; STORE_OBJECT_MISSING names a missing layer (§2.5 message). */
export async function layerCommits(repo: OstreeRepo, img: ImageEntry): Promise<Checksum[]> {
  const out: Checksum[] = [];
  for (const l of img.layers) {
    const c = await repo.resolveRef(REF_PREFIX + hexOf(l));
    if (!c) {
      throw new AtomicError('STORE_OBJECT_MISSING', `Layer not found: ${hexOf(l)}.  Please pull the image again`, {
        suggestions: [`atomic pull --storage ostree ${img.name}`],
      });
    }
    out.push(c);
  }
  if (out.length === 0) out.push(img.commit);
  return out;
}
