/**
 * A Transform that passes a blob through while checking its exact size and digest
 * (umoci `pkg/hardening/verified_reader.go`). Growing past the expected size fails at once
 * (SIZE_MISMATCH) so a hostile source cannot stream forever; at the end a short blob fails with
 * SIZE_MISMATCH and a wrong one with DIGEST_MISMATCH. Errors name the blob digest,
 * the expected and the actual value.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AtomicError } from '../util/errors.js';

const DIGEST_RE = /^(sha256|sha512):([0-9a-f]+)$/;
const HEX_LEN: Record<string, number> = { sha256: 64, sha512: 128 };

/** Split and validate a digest; IMAGE_INVALID for malformed, IMAGE_UNSUPPORTED for other algorithms. */
export function parseDigest(digest: string, what = 'blob'): { algorithm: 'sha256' | 'sha512'; hex: string } {
  const m = DIGEST_RE.exec(digest);
  if (!m) {
    const known = typeof digest === 'string' && /^(sha256|sha512):/.test(digest);
    if (!known && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
      throw new AtomicError('IMAGE_UNSUPPORTED', `${what} digest "${digest}" uses an unsupported algorithm`, { ref: digest, suggestions: ['Only sha256 and sha512 digests are supported.'] });
    }
    throw new AtomicError('IMAGE_INVALID', `${what} digest ${JSON.stringify(digest)} is malformed`, { ref: String(digest) });
  }
  const algorithm = m[1] as 'sha256' | 'sha512';
  if (m[2]!.length !== HEX_LEN[algorithm]) throw new AtomicError('IMAGE_INVALID', `${what} digest "${digest}" has a wrong length`, { ref: digest });
  return { algorithm, hex: m[2]! };
}

export function digestMismatch(digest: string, actual: string, what = 'blob'): AtomicError {
  return new AtomicError('DIGEST_MISMATCH', `${what} ${digest}: digest mismatch: expected ${digest}, got ${actual}`, {
    ref: digest,
    suggestions: ['The image source is corrupt or was tampered with; nothing was stored for this blob.'],
  });
}

export function sizeMismatch(digest: string, expected: number, actual: string | number, what = 'blob'): AtomicError {
  return new AtomicError('SIZE_MISMATCH', `${what} ${digest}: size mismatch: expected ${expected} bytes, got ${actual}`, {
    ref: digest,
    suggestions: ['The image source is corrupt or was tampered with; nothing was stored for this blob.'],
  });
}

/** Check a whole buffer against a digest and size (manifests read in one piece). */
export function verifyBuffer(buf: Buffer, digest: string, size: number | undefined, what = 'blob'): void {
  const { algorithm } = parseDigest(digest, what);
  if (size !== undefined && buf.length !== size) throw sizeMismatch(digest, size, buf.length, what);
  const actual = `${algorithm}:${createHash(algorithm).update(buf).digest('hex')}`;
  if (actual !== digest) throw digestMismatch(digest, actual, what);
}

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
