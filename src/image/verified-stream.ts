/**
 * A Transform that passes a blob through while checking its exact size and digest
 * (umoci `pkg/hardening/verified_reader.go`). Growing past the expected size fails at once
 * (SIZE_MISMATCH) so a hostile source cannot stream forever; at the end a short blob fails with
 * SIZE_MISMATCH and a wrong one with DIGEST_MISMATCH. Errors name the blob digest,
 * the expected and the actual value (image/digest.ts).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AtomicError } from '../util/errors.js';
import { digestMismatch, parseDigest, sizeMismatch } from './digest.js';

export class VerifiedStream extends Transform {
  readonly digest: string;
  readonly expectedSize: number;
  private readonly hash: Hash;
  private readonly algorithm: string;
  private seen = 0;
  private readonly what: string;

  constructor(digest: string, size: number, what = 'blob') {
    super();
    const { algorithm } = parseDigest(digest, what);
    if (!Number.isSafeInteger(size) || size < 0) throw new AtomicError('IMAGE_INVALID', `${what} ${digest} has an invalid size ${size}`, { ref: digest });
    this.digest = digest;
    this.expectedSize = size;
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
    this.what = what;
  }

  /** Bytes passed through so far. */
  get bytesSeen(): number {
    return this.seen;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expectedSize) {
      cb(sizeMismatch(this.digest, this.expectedSize, `more than that (${this.seen} bytes so far)`, this.what));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.expectedSize) {
      cb(sizeMismatch(this.digest, this.expectedSize, this.seen, this.what));
      return;
    }
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      cb(digestMismatch(this.digest, actual, this.what));
      return;
    }
    cb();
  }
}

/**
 * Pipe `input` through a VerifiedStream; errors of `input` are forwarded to the result
 * (and destroying the result destroys the input).
 */
export function verifyStream(input: NodeJS.ReadableStream, digest: string, size: number, what = 'blob'): VerifiedStream {
  const v = new VerifiedStream(digest, size, what);
  input.on('error', (e) => v.destroy(e));
  v.on('close', () => {
    const d = (input as { destroy?: () => void }).destroy;
    if (typeof d === 'function') d.call(input);
  });
  input.pipe(v);
  return v;
}
