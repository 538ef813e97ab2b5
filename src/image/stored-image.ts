/**
 * Reading pulled images back from the store (reference §2.3 name resolution, §2.4 layout):
 * image ref `ociimage/<enc name:tag>` → commit with `docker.manifest` / `docker.digest` metadata;
 * layers and the config under `ociimage/<blob hex>`.
 */
import { createHash } from 'node:crypto';
import { AtomicError } from '../util/errors.js';
import { LIMITS, isJsonObject, parseJson, readStreamAtMost } from '../util/bounded-read.js';
import { REF_PREFIX, encodeRefName, isHexRef, layerRef, normalizeImageName, tryDecodeRefName, validateImageName } from './name.js';
import { parseManifest, type ImageManifest } from './manifest.js';
import type { OstreeRepo } from '../store/repo.js';
import type { Checksum, Digest, Metadata } from '../store/types.js';

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

/** An `s` string of commit metadata, if present. */
export function metaString(meta: Metadata, key: string): string | undefined {
  for (const [k, v] of meta) if (k === key && v.type === 's' && typeof v.value === 'string') return v.value;
  return undefined;
}

/** atomic's ImageId: `docker.digest` minus `sha256:`, else the commit checksum. */
export function imageIdOf(meta: Metadata, commit: Checksum): string {
  const d = metaString(meta, 'docker.digest');
  return d ? d.replace(/^sha256:/, '') : commit;
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
  const m = metaString(meta, 'docker.manifest');
  if (m !== undefined) return Buffer.from(m, 'utf8');
  const c = await repo.readCommit(commit);
  const root = await repo.readDirTree(c.rootTree);
  const dir = root.dirs.find((d) => d.name === 'manifest');
  const file = dir ? (await repo.readDirTree(dir.tree)).files.find((f) => f.name === 'manifest.json') : undefined;
  if (!file) {
    throw new AtomicError('IMAGE_INVALID', `Internal error for image: ${ref}.  Please pull the image again`, { ref, suggestions: ['The image commit has no manifest; pull the image again.'] });
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
  const raw = await readStreamAtMost(await repo.openFileContent(file.checksum), LIMITS.config, what);
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
  const digest = metaString(c.metadata, 'docker.digest');
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
