/**
 * `oci-archive:PATH[:TAG]` — a tar of an OCI layout, read in place through TarIndex (never extracted).
 */
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { LIMITS, isJsonObject, parseJson } from '../../util/bounded-read.js';
import { TarIndex } from '../tar-index.js';
import { OciSource, blobPathOf, type OciBlobStore } from './oci-common.js';
import type { OciArchiveReference } from '../reference.js';
import type { Platform } from '../source.js';
import type { Digest } from '../../store/types.js';

class TarBlobStore implements OciBlobStore {
  readonly location: string;
  private readonly tar: TarIndex;
  constructor(file: string, tar: TarIndex) {
    this.location = file;
    this.tar = tar;
  }

  readIndexJson(): Promise<Buffer> {
    return this.tar.readFile('index.json', LIMITS.ociIndex, `${this.location}/index.json`);
  }

  async openBlob(digest: Digest, max: number): Promise<NodeJS.ReadableStream> {
    const rel = blobPathOf(digest);
    let e;
    try {
      e = this.tar.requireFile(rel, `blob ${digest}`);
    } catch (err) {
      if (isAtomicError(err) && err.code === 'IMAGE_NOT_FOUND') {
        throw new AtomicError('IMAGE_NOT_FOUND', `blob ${digest} is missing from ${this.location} (${rel})`, { ref: digest, cause: err });
      }
      throw err;
    }
    return this.tar.openEntry(e, max);
  }

  async close(): Promise<void> {}
}

export async function openOciArchive(ref: OciArchiveReference, opts: { platform?: Partial<Platform> } = {}): Promise<OciSource> {
  const tar = await TarIndex.open(ref.path);
  const layout = tar.resolve('oci-layout');
  if (layout && layout.type === 'file') {
    const doc = parseJson<unknown>(await tar.readFile('oci-layout', 64 * 1024, `${ref.path}/oci-layout`), `${ref.path}/oci-layout`);
    const v = isJsonObject(doc) ? doc.imageLayoutVersion : undefined;
    if (typeof v !== 'string' || !/^1\.\d+\.\d+$/.test(v)) {
      throw new AtomicError('IMAGE_UNSUPPORTED', `${ref.path}: oci-layout has unsupported imageLayoutVersion ${JSON.stringify(v)}`, { ref: ref.path });
    }
  }
  const store = new TarBlobStore(ref.path, tar);
  const description = `oci-archive:${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}`;
  return OciSource.create(store, description, ref.tag, opts.platform);
}
