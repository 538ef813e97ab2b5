/**
 * The one model of an image stored in the OSTree store (reference §1.6, §2.3, §2.4), in the
 * layout of atomic + skopeo's `ostree:` transport, so stores written by either read the same:
 *
 * - refs: `ociimage/<enc name:tag>` is an image (name encoding: name.ts), `ociimage/<blob hex>`
 *   is a layer or a config blob (hidden from `images list`);
 * - commit metadata (`META`): a layer commit carries `docker.size`, `docker.uncompressed_size`,
 *   `docker.uncompressed_digest`; the config commit holds `/content` and `docker.size`; the image
 *   commit holds `/manifest/manifest.json` and `docker.manifest`, `docker.digest`;
 * - the image ID (`imageIdOf`), the one rule every command shows and resolves by;
 * - whiteouts: kept as ordinary files in layer commits, applied on a union read (the rules live
 *   in store/whiteout.ts, below the checkout that applies them, and are re-exported here).
 *
 * Reading: `listImages`/`resolveImages` (ImageEntry rows for the commands), `readImage`
 * (StoredImage, the parsed manifest and config). Writing: image/store-destination.ts, the image
 * destination pull copies into.
 */
import { createHash } from 'node:crypto';
import { AtomicError, isAtomicError } from '../util/errors.js';
import { LIMITS, isJsonObject, parseJson, readStreamAtMost } from '../util/bounded-read.js';
import { decodeRefName, encodeRefName, imageRefName, normalizeImageName, tryDecodeRefName, validateImageName } from './name.js';
import { parseManifest, type ImageManifest } from './manifest.js';
import type { OstreeRepo } from '../store/repo.js';
import { readDirect } from '../store/commit-path.js';
import type { Checksum, Digest, Metadata } from '../store/types.js';

export { OPAQUE, WH, META_PREFIX, whiteoutTarget, isOpaqueDir } from '../store/whiteout.js';

/** Every image, layer and config ref lives under this prefix. */
export const REF_PREFIX = 'ociimage/';

/** The commit metadata keys of the layout (atomic + skopeo's names). */
export const META = {
  /** layer and config commits: the blob's (compressed) size */
  size: 'docker.size',
  /** layer commits: size and digest of the uncompressed tar (the config's diff_id) */
  uncompressedSize: 'docker.uncompressed_size',
  uncompressedDigest: 'docker.uncompressed_digest',
  /** image commits: the manifest JSON and its digest */
  manifest: 'docker.manifest',
  digest: 'docker.digest',
} as const;

/** The ref tail parses as a base-16 number (layers and config blobs; hidden from `images list`). */
export function isHexRef(refTail: string): boolean {
  return /^[0-9a-fA-F]+$/.test(refTail);
}

/** The ref of a layer or config blob: `ociimage/<digest hex>`. */
export function layerRef(d: Digest | string): string {
  const m = /^(?:sha256:)?([0-9a-f]{64})$/.exec(d);
  if (!m) throw new AtomicError('IMAGE_INVALID', `"${d}" is not a sha256 digest`, { ref: String(d) });
  return REF_PREFIX + m[1];
}

/** The image ref for a name: `ociimage/` + encode(normalized name with tag). */
export function imageRef(name: string): string {
  return REF_PREFIX + imageRefName(name);
}

/** An `s` string of commit metadata, if present. */
export function metaString(meta: Metadata, key: string): string | undefined {
  for (const [k, v] of meta) if (k === key && v.type === 's' && typeof v.value === 'string') return v.value;
  return undefined;
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

/** The stored manifest JSON of an image commit's metadata, or null (absent or not JSON). */
function metaManifest(meta: Metadata): Record<string, unknown> | null {
  const raw = metaString(meta, META.manifest);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/**
 * atomic's ImageId: the manifest digest (`docker.digest`) minus `sha256:`, else a legacy
 * manifest's `Digest`, else the config digest, else the commit checksum.
 */
export function imageIdOf(meta: Metadata, commit: Checksum, manifest: Record<string, unknown> | null = metaManifest(meta)): string {
  const digest = metaString(meta, META.digest);
  if (digest) return hexOf(digest);
  if (typeof manifest?.Digest === 'string' && manifest.Digest) return hexOf(manifest.Digest);
  const cfg = (manifest?.config as { digest?: string } | undefined)?.digest;
  return cfg ? hexOf(cfg) : commit;
}

export interface StoredImageLayer {
  digest: Digest;
  ref: string;
  /** null when the layer ref is missing (image needs pulling again). */
  commit: Checksum | null;
}

export interface StoredImage {
  /** Decoded name of the image ref, e.g. "systest:latest". */
  name: string;
  ref: string;
  commit: Checksum;
  manifest: ImageManifest;
  manifestDigest: Digest;
  /** The parsed config JSON from the config commit's /content, or null if that ref is missing. */
  config: Record<string, unknown> | null;
  layers: StoredImageLayer[];
}

function notFound(input: string): AtomicError {
  return new AtomicError('IMAGE_NOT_FOUND', `Image ${input} not found`, {
    ref: input,
    suggestions: [`Pull it first: atomic pull --storage ostree ${input}`, 'List the pulled images with: atomic images list'],
  });
}

/** Resolve a user's image argument to an image ref: exact name, then name:latest, then an ImageId prefix. */
export async function resolveImageRef(repo: OstreeRepo, input: string): Promise<{ ref: string; commit: Checksum }> {
  validateImageName(input);
  const candidates: string[] = [];
  const exact = encodeRefName(input);
  if (!isHexRef(exact)) candidates.push(REF_PREFIX + exact);
  try {
    const norm = REF_PREFIX + encodeRefName(normalizeImageName(input));
    if (!candidates.includes(norm)) candidates.push(norm);
  } catch {
    /* not a valid image name: only an ID prefix can match */
  }
  for (const ref of candidates) {
    const c = await repo.resolveRef(ref);
    if (c) return { ref, commit: c };
  }
  if (/^[0-9a-f]+$/i.test(input)) {
    const prefix = input.toLowerCase();
    const hits = new Map<string, { ref: string; commit: Checksum }>();
    const refs = [...(await repo.listRefs(REF_PREFIX))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, commit] of refs) {
      const full = name.startsWith(REF_PREFIX) ? name : REF_PREFIX + name;
      const tail = full.slice(REF_PREFIX.length);
      if (isHexRef(tail) || tryDecodeRefName(tail) === null) continue;
      let c;
      try {
        c = await repo.readCommit(commit);
      } catch {
        continue; // a dangling image ref: not a candidate (images list reports it)
      }
      const id = imageIdOf(c.metadata, commit);
      if (id.startsWith(prefix) && !hits.has(id)) hits.set(id, { ref: full, commit });
    }
    if (hits.size > 1) {
      throw new AtomicError('USAGE', `more images matching prefix \`${input}\``, {
        ref: input,
        suggestions: [`Use a longer prefix or a name; candidates: ${[...hits.keys()].map((k) => k.slice(0, 12)).join(', ')}`],
      });
    }
    const hit = [...hits.values()][0];
    if (hit) return hit;
  }
  throw notFound(input);
}

async function readManifestOf(repo: OstreeRepo, commit: Checksum, meta: Metadata, ref: string): Promise<Buffer> {
  const m = metaString(meta, META.manifest);
  if (m !== undefined) return Buffer.from(m, 'utf8');
  const c = await repo.readCommit(commit);
  const root = await repo.readDirTree(c.rootTree);
  const dir = root.dirs.find((d) => d.name === 'manifest');
  const file = dir ? (await repo.readDirTree(dir.tree)).files.find((f) => f.name === 'manifest.json') : undefined;
  if (!file) {
    throw new AtomicError('IMAGE_INVALID', `Internal error for image: ${ref}.  Please pull the image again`, {
      ref,
      suggestions: ['The image commit has no manifest; pull the image again.'],
    });
  }
  return readStreamAtMost(await repo.openFileContent(file.checksum), LIMITS.manifest, `${ref}: manifest.json`);
}

/** Read the config JSON stored under the config digest's ref, or null if absent. */
export async function readStoredConfig(repo: OstreeRepo, digest: Digest): Promise<Record<string, unknown> | null> {
  const ref = layerRef(digest);
  const commit = await repo.resolveRef(ref);
  if (!commit) return null;
  const c = await repo.readCommit(commit);
  const root = await repo.readDirTree(c.rootTree);
  const file = root.files.find((f) => f.name === 'content');
  if (!file) return null;
  const what = `config ${digest}`;
  // a bare store's object read directly (store/commit-path.ts readDirect), else streamed
  const direct = readDirect(repo, file.checksum, LIMITS.config);
  const raw = direct ?? (await readStreamAtMost(await repo.openFileContent(file.checksum), LIMITS.config, what));
  const doc = parseJson<unknown>(raw, what);
  if (!isJsonObject(doc)) throw new AtomicError('IMAGE_INVALID', `${what} is not a JSON object`, { ref: digest });
  return doc;
}

/** Resolve and read a pulled image (the CLI and checkout use it). */
export async function readImage(repo: OstreeRepo, nameOrIdPrefix: string): Promise<StoredImage> {
  const { ref, commit } = await resolveImageRef(repo, nameOrIdPrefix);
  const c = await repo.readCommit(commit);
  const raw = await readManifestOf(repo, commit, c.metadata, ref);
  const parsed = parseManifest(raw, `${ref}: docker.manifest`);
  if (parsed.kind !== 'manifest') throw new AtomicError('IMAGE_INVALID', `${ref}: the stored manifest is an index, not an image manifest`, { ref });
  const digest = metaString(c.metadata, META.digest);
  const manifestDigest = (digest ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`) as Digest;
  const layers: StoredImageLayer[] = [];
  for (const l of parsed.layers) {
    const lref = layerRef(l.digest);
    layers.push({ digest: l.digest, ref: lref, commit: await repo.resolveRef(lref) });
  }
  const config = await readStoredConfig(repo, parsed.config.digest);
  const name = tryDecodeRefName(ref.slice(REF_PREFIX.length)) ?? ref.slice(REF_PREFIX.length);
  return { name, ref, commit, manifest: parsed, manifestDigest, config, layers };
}

// ---- the catalog: ImageEntry rows for the commands ----

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

async function layerSize(repo: OstreeRepo, digest: string): Promise<number | null> {
  const c = await repo.resolveRef(REF_PREFIX + hexOf(digest));
  if (!c) return null;
  const commit = await repo.readCommit(c);
  const s = metaString(commit.metadata, META.size);
  return s === undefined || !/^\d+$/.test(s) ? null : Number(s);
}

export async function readImageEntry(repo: OstreeRepo, ref: string, commit: Checksum): Promise<ImageEntry> {
  const tail = ref.slice(REF_PREFIX.length);
  const c = await repo.readCommit(commit);
  const isLayer = isHexRef(tail);
  const manifest = metaManifest(c.metadata);
  const layers = manifestLayers(manifest);
  const cfg = (manifest?.config as { digest?: string } | undefined)?.digest ?? null;
  const id = imageIdOf(c.metadata, commit, manifest);
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
    const s = metaString(c.metadata, META.size);
    virtualSize = s && /^\d+$/.test(s) ? Number(s) : null;
  }
  const name = isLayer ? '<none>' : decodeRefName(tail);
  const { repo: r, tag } = isLayer ? { repo: '<none>', tag: '<none>' } : splitRepoTag(name);
  return { name, repo: r, tag, ref, commit, id, created: new Date(c.timestamp * 1000), virtualSize, layers, configDigest: cfg, manifest, isLayer };
}

/** The error for an image ref whose commit cannot be read (dangling ref, damaged commit). */
export function brokenImageError(ref: string, commit: Checksum, cause: unknown): AtomicError {
  const tail = ref.slice(REF_PREFIX.length);
  const name = isHexRef(tail) ? tail : (tryDecodeRefName(tail) ?? tail);
  const why =
    isAtomicError(cause) && cause.code === 'STORE_OBJECT_MISSING'
      ? 'which is missing from the store'
      : `which cannot be read (${cause instanceof Error ? cause.message : String(cause)})`;
  return new AtomicError('STORE_OBJECT_MISSING', `Image ${name} is damaged: its ref ${ref} points at commit ${commit}, ${why}`, {
    cause,
    ref,
    suggestions: [`Delete it with: atomic images delete ${name}`, `then pull it again: atomic pull --storage ostree ${isHexRef(tail) ? 'IMAGE' : name}`],
  });
}

/** An entry for an image whose commit cannot be read: enough to list it in errors and delete its ref. */
function brokenEntry(ref: string, commit: Checksum): ImageEntry {
  const tail = ref.slice(REF_PREFIX.length);
  const name = isHexRef(tail) ? '<none>' : (tryDecodeRefName(tail) ?? tail);
  const { repo, tag } = splitRepoTag(name);
  return { name, repo, tag, ref, commit, id: commit, created: new Date(0), virtualSize: null, layers: [], configDigest: null, manifest: null, isLayer: isHexRef(tail) };
}

/**
 * All images (and with `all`, layer/config refs too), sorted by name. An image whose commit
 * cannot be read (a dangling ref) is skipped and reported through `onBroken` (the others are
 * still listed).
 */
export async function listImages(repo: OstreeRepo, opts: { all?: boolean; onBroken?: (e: AtomicError) => void } = {}): Promise<ImageEntry[]> {
  const refs = await repo.listRefs(REF_PREFIX);
  const out: ImageEntry[] = [];
  for (const [ref, commit] of [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const full = ref.startsWith(REF_PREFIX) ? ref : REF_PREFIX + ref;
    const tail = full.slice(REF_PREFIX.length);
    if (!opts.all && isHexRef(tail)) continue;
    try {
      out.push(await readImageEntry(repo, full, commit));
    } catch (e) {
      if (!isAtomicError(e) || !/^STORE_/.test(e.code)) throw e;
      opts.onBroken?.(brokenImageError(full, commit, e));
    }
  }
  return out;
}

/** `onBroken` for commands that list images: a warning line naming the image and the fix. */
export function warnBrokenImage(warn: (msg: string) => void): (e: AtomicError) => void {
  return (e) => warn(`Skipping: ${e.message}. ${e.suggestions.join(', ')}`);
}

/**
 * Resolve a user-given image (§2.3) with the image layer's resolver (exact name, name:latest,
 * then an ImageId prefix of a tagged image). With `multiple`, an id prefix may name several
 * images (images delete), as atomic allowed.
 */
export async function resolveImages(repo: OstreeRepo, input: string, multiple = false, opts: { allowBroken?: boolean } = {}): Promise<ImageEntry[]> {
  if (multiple && /^[0-9a-f]+$/i.test(input)) {
    const hits = (await listImages(repo)).filter((e) => e.id.startsWith(input.toLowerCase()));
    if (hits.length > 1) return hits;
  }
  const { ref, commit } = await resolveImageRef(repo, input);
  try {
    return [await readImageEntry(repo, ref, commit)];
  } catch (e) {
    if (!isAtomicError(e) || !/^STORE_/.test(e.code)) throw e;
    // a dangling image ref: images delete removes it; everything else says what to do
    if (opts.allowBroken) return [brokenEntry(ref, commit)];
    throw brokenImageError(ref, commit, e);
  }
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
