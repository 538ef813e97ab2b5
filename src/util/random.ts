/**
 * Random hex strings (temporary names, lock tokens) and version-4 UUIDs (the `UUID` template
 * value) from the kernel's random pool, /dev/urandom, read 256 bytes at a time - without
 * node:crypto. An install, update or rollback needs randomness only for those, and loading
 * node:crypto for them (with its OpenSSL random state) was ~13-20 M instructions, 5-7% of such a
 * call (docs/benchmarks.md, "Install / update / rollback, eighth session"). /dev/urandom is what
 * Python's uuid.uuid4() (upstream atomic's UUID) and OpenSSL's seeding read. When it cannot be
 * read (an unusual chroot), node:crypto serves as before.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';

const POOL_SIZE = 256;
let pool: Buffer | undefined;
let used = POOL_SIZE;

/** A fresh pool from /dev/urandom, or undefined when it cannot be read in full. */
function readPool(): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync('/dev/urandom', 'r');
    const buf = Buffer.allocUnsafe(POOL_SIZE);
    let got = 0;
    while (got < POOL_SIZE) {
      const n = readSync(fd, buf, got, POOL_SIZE - got, null);
      if (n <= 0) return undefined;
      got += n;
    }
    return buf;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** N random bytes (a copy: the pool is never handed out). */
export function randomBytes(n: number): Buffer {
  if (n > POOL_SIZE) return cryptoRandomBytes(n);
  if (!pool || used + n > POOL_SIZE) {
    pool = readPool();
    used = 0;
    if (!pool) return cryptoRandomBytes(n);
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  pool.fill(0, used, used + n); // handed out: not kept in memory
  used += n;
  return out;
}

/** 2*N lowercase hex digits from N random bytes. */
export function randomHex(n: number): string {
  return randomBytes(n).toString('hex');
}

/** A random (version 4, RFC 9562 variant) UUID in the 8-4-4-4-12 lowercase form of crypto.randomUUID(). */
export function randomUUID(): string {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
