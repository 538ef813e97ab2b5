/**
 * `oci:PATH[:TAG]` — an OCI image layout directory (index.json, blobs/<alg>/<hex>).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { AtomicError, isErrno, wrapError } from '../../util/errors.js';
import { LIMITS, isJsonObject, parseJson, readFileAtMost } from '../../util/bounded-read.js';
import { OciSource, blobPathOf, type OciBlobStore } from './oci-common.js';
import type { OciLayoutReference } from '../reference.js';
import type { Platform } from '../source.js';
import type { Digest } from '../../store/types.js';

class DirBlobStore implements OciBlobStore {
  readonly location: string;
  constructor(dir: string) {
    this.location = dir;
  }

  readIndexJson(): Promise<Buffer> {
    return readFileAtMost(path.join(this.location, 'index.json'), LIMITS.ociIndex, `${this.location}/index.json`);
  }

  async openBlob(digest: Digest, max: number): Promise<NodeJS.ReadableStream> {
    const rel = blobPathOf(digest);
    const file = path.join(this.location, rel);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) {
        throw new AtomicError('IMAGE_NOT_FOUND', `blob ${digest} is missing from ${this.location} (${rel})`, { ref: digest, suggestions: ['The layout is incomplete; re-create it.'] });
      }
      throw wrapError(`open blob ${digest}`, e);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new AtomicError('IMAGE_INVALID', `blob ${digest} in ${this.location} is not a regular file`, { ref: digest });
    }
    if (max <= 0) {
      await fh.close();
      return Readable.from([]);
    }
    // 1 MiB reads: with the default 64 KiB, dispatching the reads costs the importer more than parsing
    return fh.createReadStream({ start: 0, end: max - 1, autoClose: true, highWaterMark: 1024 * 1024 });
  }

  async close(): Promise<void> {}
}

/** Check `oci-layout` when present (containers/image requires 1.0.0). */
async function checkLayoutVersion(dir: string): Promise<void> {
  let raw: Buffer;
  try {
    raw = await readFileAtMost(path.join(dir, 'oci-layout'), 64 * 1024, `${dir}/oci-layout`);
  } catch (e) {
    if ((e as AtomicError).code === 'IMAGE_NOT_FOUND') return;
    throw e;
  }
  const doc = parseJson<unknown>(raw, `${dir}/oci-layout`);
  const v = isJsonObject(doc) ? doc.imageLayoutVersion : undefined;
  if (typeof v !== 'string' || !/^1\.\d+\.\d+$/.test(v)) {
    throw new AtomicError('IMAGE_UNSUPPORTED', `${dir}/oci-layout has unsupported imageLayoutVersion ${JSON.stringify(v)}`, { ref: dir });
  }
}

export async function openOciLayout(ref: OciLayoutReference, opts: { platform?: Partial<Platform> } = {}): Promise<OciSource> {
  await checkLayoutVersion(ref.path);
  const store = new DirBlobStore(ref.path);
  const description = `oci:${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}`;
  return OciSource.create(store, description, ref.tag, opts.platform);
}
