/**
 * `dockertar:/PATH` and `docker-archive:PATH[:NAME:TAG]` — a `docker save` tarball, legacy
 * (`<id>/layer.tar`, often symlinks to `<digest>.tar`) or the newer OCI-layout flavour
 * (`blobs/sha256/<hex>`), read in place through TarIndex. The image is described by the
 * `manifest.json` entry list; we synthesize a Docker schema2 manifest like skopeo does:
 * config = the config file (digest = sha256 of its bytes), layers = the layer files
 * (digest = sha256 of the file, media type `...rootfs.diff.tar` or `.tar.gzip` when gzipped).
 * Image name (reference §2.14): the NAME:TAG asked for, else RepoTags[0] of the (last) entry,
 * else the first key of `repositories`, else the archive basename minus `.tar`.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';
import { LIMITS, isJsonObject, parseJson, readStreamAtMost } from '../../util/bounded-read.js';
import { TarIndex, type TarEntry } from '../tar-index.js';
import { MT } from '../manifest.js';
import { normalizeImageName } from '../name.js';
import { verifyStream } from '../verified-stream.js';
import type { DockerArchiveReference } from '../reference.js';
import type { Descriptor, ImageSource, SourceManifest } from '../source.js';
import type { Digest } from '../../store/types.js';

interface SaveEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function invalid(file: string, problem: string): AtomicError {
  return new AtomicError('IMAGE_INVALID', `docker archive ${file}: ${problem}`, { ref: file, suggestions: ['Re-create the archive with docker save / skopeo copy.'] });
}

function parseSaveManifest(raw: Buffer, file: string): SaveEntry[] {
  const doc = parseJson<unknown>(raw, `${file}: manifest.json`);
  if (!Array.isArray(doc)) throw invalid(file, 'manifest.json is not a list');
  return doc.map((e, i) => {
    if (!isJsonObject(e)) throw invalid(file, `manifest.json entry ${i} is not an object`);
    const { Config, RepoTags, Layers } = e;
    if (typeof Config !== 'string' || Config === '') throw invalid(file, `manifest.json entry ${i} has no Config`);
    if (!Array.isArray(Layers) || Layers.some((l) => typeof l !== 'string')) throw invalid(file, `manifest.json entry ${i} has no Layers list`);
    if (RepoTags !== undefined && RepoTags !== null && (!Array.isArray(RepoTags) || RepoTags.some((t) => typeof t !== 'string'))) {
      throw invalid(file, `manifest.json entry ${i} has an invalid RepoTags`);
    }
    return { Config, Layers: Layers as string[], RepoTags: (RepoTags as string[] | null | undefined) ?? [] };
  });
}

function tryNormalize(name: string): string | null {
  try {
    return normalizeImageName(name);
  } catch {
    return null;
  }
}

function selectEntry(entries: SaveEntry[], want: string | undefined, file: string): { entry: SaveEntry; name?: string } {
  if (entries.length === 0) throw invalid(file, 'manifest.json lists no images');
  const all = entries.flatMap((e) => e.RepoTags).map((t) => `"${t}"`).join(', ') || '(none)';
  if (want === undefined) {
    if (entries.length === 1) return { entry: entries[0]! };
    throw new AtomicError('USAGE', `docker archive ${file} contains ${entries.length} images; choose one: ${all}`, {
      ref: file,
      suggestions: [`Use docker-archive:${file}:NAME:TAG (or :@N for the N-th image).`],
    });
  }
  const at = /^@(\d+)$/.exec(want);
  if (at) {
    const e = entries[Number(at[1])];
    if (!e) throw new AtomicError('IMAGE_NOT_FOUND', `docker archive ${file} has no image @${at[1]} (it has ${entries.length})`, { ref: file });
    return { entry: e };
  }
  const norm = tryNormalize(want) ?? want;
  const e = entries.find((x) => x.RepoTags.some((t) => (tryNormalize(t) ?? t) === norm));
  if (!e) throw new AtomicError('IMAGE_NOT_FOUND', `No image "${want}" in docker archive ${file}; it has: ${all}`, { ref: `${file}:${want}` });
  return { entry: e, name: norm };
}

async function repositoriesName(tar: TarIndex, file: string): Promise<string | null> {
  const e = tar.resolve('repositories');
  if (!e || e.type !== 'file') return null;
  const doc = parseJson<unknown>(await tar.readFile('repositories', LIMITS.dockerRepositories, `${file}: repositories`), `${file}: repositories`);
  if (!isJsonObject(doc)) return null;
  const first = Object.keys(doc)[0];
  return first === undefined ? null : tryNormalize(first);
}

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

export class DockerArchiveSource implements ImageSource {
  readonly description: string;
  readonly imageName: string;
  private readonly tar: TarIndex;
  private readonly entry: SaveEntry;
  private readonly blobs = new Map<string, TarEntry>();
  private manifest?: Promise<SourceManifest>;

  constructor(description: string, imageName: string, tar: TarIndex, entry: SaveEntry) {
    this.description = description;
    this.imageName = imageName;
    this.tar = tar;
    this.entry = entry;
  }

  getManifest(): Promise<SourceManifest> {
    this.manifest ??= this.synthesize();
    return this.manifest;
  }

  private async describeFile(name: string, what: string, trustName: boolean): Promise<{ e: TarEntry; digest: Digest; head: Buffer }> {
    const e = this.tar.requireFile(name, what);
    const m = BLOB_PATH.exec(name);
    if (trustName && m) {
      // Newer docker save: the path is the digest; getBlob verifies it while streaming.
      const head = await readStreamAtMost(this.tar.openEntry(e, 4), 4, what);
      return { e, digest: `sha256:${m[1]}` as Digest, head };
    }
    const hash = createHash('sha256');
    let head = Buffer.alloc(0);
    const s = this.tar.openEntry(e);
    for await (const chunk of s as AsyncIterable<Buffer>) {
      if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
      hash.update(chunk);
    }
    return { e, digest: `sha256:${hash.digest('hex')}` as Digest, head };
  }

  private async synthesize(): Promise<SourceManifest> {
    const file = this.tar.file;
    const cfgEntry = this.tar.requireFile(this.entry.Config, 'config');
    const cfgRaw = await this.tar.readFile(this.entry.Config, LIMITS.config, `${file}: config ${this.entry.Config}`);
    const config: Descriptor = { mediaType: MT.dockerConfig, size: cfgRaw.length, digest: `sha256:${createHash('sha256').update(cfgRaw).digest('hex')}` as Digest };
    this.blobs.set(config.digest, cfgEntry);
    const layers: Descriptor[] = [];
    for (const l of this.entry.Layers) {
      const { e, digest, head } = await this.describeFile(l, `layer`, true);
      const gz = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
      const zstd = head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528;
      layers.push({ mediaType: gz ? MT.dockerLayerGzip : zstd ? MT.ociLayerZstd : MT.dockerLayer, size: e.size, digest });
      this.blobs.set(digest, e);
    }
    // Same field order as skopeo's (Go) schema2 serialization.
    const desc = (d: Descriptor): Record<string, unknown> => ({ mediaType: d.mediaType, size: d.size, digest: d.digest });
    const raw = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, config: desc(config), layers: layers.map(desc) }));
    const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}` as Digest;
    return { raw, digest, mediaType: MT.dockerManifest, config, layers };
  }

  async getBlob(d: Descriptor): Promise<NodeJS.ReadableStream> {
    await this.getManifest();
    const e = this.blobs.get(d.digest);
    if (!e) throw new AtomicError('IMAGE_NOT_FOUND', `blob ${d.digest} is not part of ${this.description}`, { ref: d.digest });
    return verifyStream(this.tar.openEntry(e, d.size + 1), d.digest, d.size, `blob in ${this.tar.file}`);
  }

  async close(): Promise<void> {}
}

export async function openDockerArchive(ref: DockerArchiveReference): Promise<DockerArchiveSource> {
  const tar = await TarIndex.open(ref.path);
  const raw = await tar.readFile('manifest.json', LIMITS.dockerManifestJson, `${ref.path}: manifest.json`);
  const entries = parseSaveManifest(raw, ref.path);
  const { entry, name } = selectEntry(entries, ref.image, ref.path);
  const imageName =
    name ??
    (entry.RepoTags.length ? tryNormalize(entry.RepoTags[0]!) : null) ??
    (await repositoriesName(tar, ref.path)) ??
    tryNormalize(path.basename(ref.path).replace(/\.tar$/, '')) ??
    'image:latest';
  const description = ref.form === 'dockertar' ? `dockertar:/${ref.path}` : `docker-archive:${ref.path}${ref.image !== undefined ? `:${ref.image}` : ''}`;
  return new DockerArchiveSource(description, imageName, tar, entry);
}
