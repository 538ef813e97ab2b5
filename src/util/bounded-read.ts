/**
 * Bounded reads of outside data (like containers/image `internal/iolimits`): every manifest,
 * config, index and docker `manifest.json` is read through one of these with a named limit,
 * so a hostile source cannot make us buffer gigabytes. Over the limit → IMAGE_TOO_LARGE.
 */
import { promises as fsp, readSync } from 'node:fs';
import { AtomicError, isAtomicError, isErrno, wrapError } from './errors.js';

const MiB = 1024 * 1024;

/** Named maximum sizes, in bytes. */
export const LIMITS = {
  /** An image manifest, OCI index or Docker manifest list. */
  manifest: 4 * MiB,
  /** An image config blob. */
  config: 4 * MiB,
  /** An OCI layout `index.json`. */
  ociIndex: 4 * MiB,
  /** `manifest.json` of a `docker save` tarball. */
  dockerManifestJson: 1 * MiB,
  /** `repositories` of a legacy `docker save` tarball. */
  dockerRepositories: 1 * MiB,
} as const;

export function formatLimit(bytes: number): string {
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

export function tooLarge(what: string, limit: number, actual?: number): AtomicError {
  const got = actual === undefined ? 'more than that' : `${actual} bytes`;
  return new AtomicError('IMAGE_TOO_LARGE', `${what} is too large: the limit is ${formatLimit(limit)} (${limit} bytes), got ${got}`, {
    suggestions: ['The image source is probably corrupt or hostile; use a different image.'],
    ref: what,
  });
}

/**
 * Read a whole stream into a Buffer, failing with IMAGE_TOO_LARGE (naming `what`) as soon as more
 * than `limit` bytes arrive; the stream is then destroyed. Stream errors are passed through.
 */
export function readStreamAtMost(stream: NodeJS.ReadableStream, limit: number, what: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: unknown, value?: Buffer): void => {
      if (done) return;
      done = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      // Keep swallowing late errors of a stream we gave up on.
      stream.on('error', () => {});
      if (err) reject(err);
      else resolve(value as Buffer);
    };
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += b.length;
      if (total > limit) {
        finish(tooLarge(what, limit));
        const d = (stream as { destroy?: () => void }).destroy;
        if (typeof d === 'function') d.call(stream);
        return;
      }
      chunks.push(b);
    };
    const onEnd = (): void => finish(null, Buffer.concat(chunks, total));
    const onError = (e: unknown): void => finish(isAtomicError(e) ? e : wrapError(`read ${what}`, e));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}

/**
 * At most `limit` + 1 bytes of open file `fd` from its current offset, read synchronously: more
 * than `limit` bytes back means the file is too large (the caller decides what that is). The first
 * buffer is sized by `sizeHint` (the file's size when it was looked at), grown if it grew since.
 */
export function readFdAtMostSync(fd: number, limit: number, sizeHint: number): Buffer {
  let buf = Buffer.allocUnsafe(Math.min(limit, Math.max(0, sizeHint)) + 1);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (n > limit) break;
      const bigger = Buffer.allocUnsafe(Math.min(limit + 1, n * 2));
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    const r = readSync(fd, buf, n, buf.length - n, null);
    if (r === 0) break;
    n += r;
  }
  return buf.subarray(0, n);
}

/**
 * Read a file of at most `limit` bytes (never reads more than limit+1 bytes).
 * A missing file → IMAGE_NOT_FOUND naming `what` and the path.
 */
export async function readFileAtMost(file: string, limit: number, what: string): Promise<Buffer> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) {
      throw new AtomicError('IMAGE_NOT_FOUND', `${what} not found: ${file}`, { ref: file, cause: e });
    }
    throw wrapError(`open ${what} ${file}`, e);
  }
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size > limit) throw tooLarge(what, limit, st.size);
    const buf = Buffer.alloc(Math.min(limit + 1, st.isFile() ? st.size + 1 : limit + 1));
    let off = 0;
    for (;;) {
      if (off === buf.length) break;
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    if (off > limit) throw tooLarge(what, limit);
    return buf.subarray(0, off);
  } catch (e) {
    if (isAtomicError(e)) throw e;
    throw wrapError(`read ${what} ${file}`, e);
  } finally {
    await fh.close();
  }
}

/** Parse JSON, failing with IMAGE_INVALID naming the file (`what`). */
export function parseJson<T = unknown>(data: Buffer | string, what: string): T {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new AtomicError('IMAGE_INVALID', `${what} is not valid JSON: ${msg}`, {
      ref: what,
      cause: e,
      suggestions: ['The image source is corrupt; rebuild or re-export the image.'],
    });
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
