/**
 * What an OCI layout directory and an oci-archive have in common: `index.json`, blobs addressed by
 * digest, tag selection by the `org.opencontainers.image.ref.name` annotation, nested indexes
 * resolved for a platform. The two transports only provide an `OciBlobStore`.
 */
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';
import { LIMITS, readStreamAtMost, tooLarge } from '../../util/bounded-read.js';
import { parseManifest, selectPlatform, type ImageIndex, type PlatformDescriptor } from '../manifest.js';
import { parseDigest, verifyBuffer } from '../digest.js';
import { verifyStream } from '../verified-stream.js';
import { normalizeImageName } from '../name.js';
import type { Descriptor, ImageSource, Platform, SourceManifest } from '../source.js';
import type { Digest } from '../../store/types.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const MAX_INDEX_DEPTH = 4;

export interface OciBlobStore {
  /** For messages: the directory or archive path. */
  readonly location: string;
  /** `index.json`, bounded by LIMITS.ociIndex. */
  readIndexJson(): Promise<Buffer>;
  /** The blob's bytes, at most `max` of them; IMAGE_NOT_FOUND if the blob is absent. */
  openBlob(digest: Digest, max: number): Promise<NodeJS.ReadableStream>;
  close(): Promise<void>;
}

/** containerd / nerdctl / BuildKit put the image's full name here (index entry or manifest). */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** A ref.name that is only a version-like tag (`1.0`, `v2.3.1`, `latest`), as `buildah push IMG oci:DIR:1.0` writes. */
const VERSION_TAG = /^(?:latest|v?[0-9][A-Za-z0-9_.-]*)$/;

/**
 * The name an image from a layout (or oci-archive) is stored under, first match:
 * 1. the image's full name in `io.containerd.image.name`;
 * 2. the `org.opencontainers.image.ref.name` (the TAG asked for, or the selected entry's) when it
 *    is a full name (`localhost/app:1.0`, `app:1.0`) or a plain name (`systest` → `systest:latest`);
 * 3. a ref.name that is only a version tag (`1.0`) is the tag of the layout's own name: the
 *    directory's (or archive's, without `.tar`) basename (`buildah push app oci:/srv/app:1.0` → `app:1.0`,
 *    never `1.0:latest`);
 * 4. the basename alone (`:latest`).
 */
export function imageNameFor(tag: string | undefined, location: string, fullName?: string): string {
  const base = path.basename(location).replace(/\.tar$/, '');
  const cands: (string | undefined)[] = [fullName];
  if (tag !== undefined && VERSION_TAG.test(tag)) cands.push(`${base}:${tag}`);
  else cands.push(tag);
  cands.push(base);
  for (const cand of cands) {
    if (cand === undefined || cand === '') continue;
    try {
      return normalizeImageName(cand);
    } catch {
      /* try the next candidate */
    }
  }
  return 'image:latest';
}

export function blobPathOf(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

export class OciSource implements ImageSource {
  readonly description: string;
  readonly imageName: string;
  private readonly store: OciBlobStore;
  private readonly tag?: string;
  private readonly platform: Partial<Platform>;
  private resolved?: Promise<SourceManifest>;

  private constructor(store: OciBlobStore, description: string, imageName: string, tag: string | undefined, platform: Partial<Platform>) {
    this.store = store;
    this.description = description;
    this.imageName = imageName;
    this.tag = tag;
    this.platform = platform;
  }

  /** Read index.json and pick the tag now, so usage errors show before any pull work. */
  static async create(store: OciBlobStore, description: string, tag: string | undefined, platform: Partial<Platform> = {}): Promise<OciSource> {
    const index = await readIndex(store);
    const entry = selectTag(index, tag, store.location, platform);
    const effectiveTag = tag ?? entry.annotations?.[REF_NAME_ANNOTATION];
    const src = new OciSource(store, description, imageNameFor(effectiveTag, store.location, entry.annotations?.[CONTAINERD_NAME_ANNOTATION]), tag, platform);
    src.resolved = src.resolve(entry);
    src.resolved.catch(() => {}); // reported by getManifest()
    return src;
  }

  getManifest(): Promise<SourceManifest> {
    return this.resolved!;
  }

  private async resolve(first: PlatformDescriptor): Promise<SourceManifest> {
    let desc: PlatformDescriptor = first;
    for (let depth = 0; depth < MAX_INDEX_DEPTH; depth++) {
      const what = `manifest ${desc.digest} in ${this.store.location}`;
      const raw = await this.readManifestBlob(desc, what);
      const m = parseManifest(raw, what, desc.mediaType);
      if (m.kind === 'manifest') {
        return { raw, digest: desc.digest, mediaType: m.mediaType, config: m.config, layers: m.layers };
      }
      desc = selectPlatform(m, this.platform, what);
    }
    throw new AtomicError('IMAGE_INVALID', `${this.store.location}: indexes nested more than ${MAX_INDEX_DEPTH} deep`, { ref: this.store.location });
  }

  private async readManifestBlob(desc: Descriptor, what: string): Promise<Buffer> {
    if (desc.size > LIMITS.manifest) throw tooLarge(what, LIMITS.manifest, desc.size);
    const stream = await this.store.openBlob(desc.digest, desc.size + 1);
    const raw = await readStreamAtMost(stream, LIMITS.manifest, what);
    verifyBuffer(raw, desc.digest, desc.size, what);
    return raw;
  }

  async getBlob(d: Descriptor): Promise<NodeJS.ReadableStream> {
    const stream = await this.store.openBlob(d.digest, d.size + 1);
    return verifyStream(stream, d.digest, d.size, `blob in ${this.store.location}`);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

async function readIndex(store: OciBlobStore): Promise<ImageIndex> {
  const what = `${store.location}/index.json`;
  const raw = await store.readIndexJson();
  const idx = parseManifest(raw, what, undefined);
  if (idx.kind !== 'index') {
    throw new AtomicError('IMAGE_INVALID', `${what} is not an image index (it has no "manifests" list)`, { ref: what });
  }
  return idx;
}

function tagsOf(index: ImageIndex): string[] {
  return index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter((t): t is string => t !== undefined);
}

/** Pick the index.json entry for `tag`; with no tag the only entry, else a USAGE error listing tags. */
export function selectTag(index: ImageIndex, tag: string | undefined, location: string, platform: Partial<Platform> = {}): PlatformDescriptor {
  const tags = tagsOf(index);
  const list = tags.length ? tags.map((t) => `"${t}"`).join(', ') : '(none)';
  if (tag === undefined) {
    if (index.manifests.length === 1) return index.manifests[0]!;
    if (index.manifests.length === 0) throw new AtomicError('IMAGE_NOT_FOUND', `${location} contains no images`, { ref: location });
    throw new AtomicError('USAGE', `${location} contains ${index.manifests.length} images; choose one by tag: ${list}`, {
      ref: location,
      suggestions: [`Append the tag, e.g. ${location}:${tags[0] ?? 'TAG'}`],
    });
  }
  const matches = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (matches.length === 0) {
    throw new AtomicError('IMAGE_NOT_FOUND', `No image tagged "${tag}" in ${location}; available tags: ${list}`, { ref: `${location}:${tag}` });
  }
  if (matches.length === 1) return matches[0]!;
  // Several manifests under one tag (one per platform): choose like an index.
  const pseudo: ImageIndex = { kind: 'index', mediaType: 'application/vnd.oci.image.index.v1+json', manifests: matches };
  if (matches.every((m) => m.platform)) return selectPlatform(pseudo, platform, `${location}:${tag}`);
  throw new AtomicError('IMAGE_INVALID', `${location}: tag "${tag}" names ${matches.length} manifests without platforms`, { ref: `${location}:${tag}` });
}
