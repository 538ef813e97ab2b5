/**
 * Digest checks of blobs: parsing an OCI digest (sha256/sha512 only), checking a whole buffer
 * against a digest and size, and the SIZE_MISMATCH / DIGEST_MISMATCH errors that name the blob,
 * the expected and the actual value. Streams are checked by verified-stream.ts, which loads
 * `node:stream`; this file does not, so a deploy that only parses digests does not load it.
 */
import { createHash } from 'node:crypto';
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
