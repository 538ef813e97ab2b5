/**
 * Dirtree objects as a checkout reads them (checkout.ts loads every dirtree of every layer: ~950
 * for a Debian rootfs, in a process that has not run the decoder before):
 * - read into one reused buffer (open, read, close) instead of a new Buffer per object
 *   (readFileSync also fstats), then, when verifying, hashed against the checksum unless the
 *   checkout's markers record the signature the object had when opened (object-verify.ts
 *   acceptMetaObject, the rule readVerifiedMetaSync applies too; a hashed object that did not
 *   change while read gets a fresh marker);
 * - decoded by a decoder for the one type `(a(say)a(sayay))`: the generic GVariant decoder
 *   (gvariant.ts, through object-codec.ts's decodeDirTree) walks the type tree for every entry
 *   and copies every checksum into a Buffer of its own before converting it to hex.
 * Whatever the fast path does not accept exactly (framing it does not expect, a checksum that is
 * not 32 bytes, a name that is not clean UTF-8 or not a valid entry name, an object larger than
 * the buffer, any read error, bytes that do not hash to the checksum) goes to the generic path,
 * which then returns the same result or throws the error it always threw.
 */
import * as fs from 'node:fs';
import type { Checksum, DirTree } from './types.js';
import { decodeDirTree, dirtreeNameProblem } from './object-codec.js';
import { acceptMetaObject, readVerifiedMetaSync, type MetaMarkers } from './object-verify.js';
import { signature } from './verified-markers.js';
import type { OstreeRepo } from './repo.js';

const BUF_SIZE = 1024 * 1024;
let shared: Buffer | null = null;

function width(total: number): number {
  return total <= 0xff ? 1 : total <= 0xffff ? 2 : 4;
}

function offset(b: Buffer, p: number, w: number): number {
  return w === 1 ? b[p]! : w === 2 ? b.readUInt16LE(p) : b.readUInt32LE(p);
}

/** A NUL-terminated name in b[s, e) (e: after the NUL), or null when the generic decoder must judge it. */
function name(b: Buffer, s: number, e: number): string | null {
  if (e <= s || b[e - 1] !== 0) return null;
  const str = b.toString('utf8', s, e - 1);
  if (str.includes('\0') || str.includes('\uFFFD') || dirtreeNameProblem(str) !== null) return null;
  return str;
}

/**
 * The entries of an array of variable-size tuples `(s ay...)` in b[s, e) with `sums` trailing
 * 32-byte checksums each, or null. `each` gets the name and the start of the first checksum.
 */
function entries(b: Buffer, s: number, e: number, sums: number, each: (n: string, at: number) => void): boolean {
  const len = e - s;
  if (len === 0) return true;
  const w = width(len);
  if (len < w) return false;
  const lastEnd = offset(b, e - w, w);
  if (lastEnd > len || (len - lastEnd) % w !== 0) return false;
  const n = (len - lastEnd) / w;
  let start = 0;
  for (let k = 0; k < n; k++) {
    const end = offset(b, s + lastEnd + k * w, w);
    if (end < start || end > lastEnd) return false;
    // one element: name, then `sums` checksums; the name's end and all but the last checksum's end are framing offsets, from the end backwards
    const es = s + start;
    const elen = end - start;
    const ew = width(elen);
    if (elen < sums * ew + 1) return false;
    const nameEnd = offset(b, es + elen - ew, ew);
    let pos = nameEnd;
    for (let m = 1; m <= sums; m++) {
      const sumEnd = m === sums ? elen - sums * ew : offset(b, es + elen - (m + 1) * ew, ew);
      if (sumEnd - pos !== 32 || sumEnd > elen - sums * ew) return false;
      pos = sumEnd;
    }
    const nm = name(b, es, es + nameEnd);
    if (nm === null) return false;
    each(nm, es + nameEnd);
    start = end;
  }
  return true;
}

/** Decode a dirtree, or null when the generic decoder must (see the module comment). */
export function decodeDirTreeFast(b: Buffer): DirTree | null {
  const len = b.length;
  if (len === 0) return null;
  const w = width(len);
  if (len < w) return null;
  const filesEnd = offset(b, len - w, w);
  if (filesEnd > len - w) return null;
  const t: DirTree = { files: [], dirs: [] };
  const okFiles = entries(b, 0, filesEnd, 1, (n, at) => t.files.push({ name: n, checksum: b.toString('hex', at, at + 32) as Checksum }));
  if (!okFiles) return null;
  const okDirs = entries(b, filesEnd, len - w, 2, (n, at) =>
    t.dirs.push({ name: n, tree: b.toString('hex', at, at + 32) as Checksum, meta: b.toString('hex', at + 32, at + 64) as Checksum }),
  );
  return okDirs ? t : null;
}

/**
 * Bytes of object `c` of `repo` in the shared buffer (valid until the next call), or null when
 * the generic path must read it: unreadable, too large, or (when `verify`) not accepted by
 * acceptMetaObject (with `markers`: the signature of the opened object before the read, and
 * whether it was the same after it, from the open file).
 */
function readShared(repo: OstreeRepo, c: Checksum, verify: boolean, markers: MetaMarkers | null): Buffer | null {
  shared ??= Buffer.allocUnsafe(BUF_SIZE);
  let fd: number;
  try {
    fd = fs.openSync(`${repo.path}/objects/${c.slice(0, 2)}/${c.slice(2)}.dirtree`, 'r');
  } catch {
    return null;
  }
  try {
    const sig = markers !== null ? signature(fs.fstatSync(fd)) : null;
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, shared, n, BUF_SIZE - n, null);
      if (r === 0) break;
      n += r;
      if (n === BUF_SIZE) return null;
      // verified: one read (a local file's read returns less than asked only at its end; a
      // short read otherwise does not hash to the checksum, and the generic path reads again)
      if (verify) break;
    }
    const raw = shared.subarray(0, n);
    if (verify && !acceptMetaObject(c, raw, sig, markers, () => signature(fs.fstatSync(fd)) === sig)) return null;
    return raw;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The dirtree `c` of `repo`, checked against its checksum when `verify` (STORE_CORRUPT otherwise),
 * unless `markers` (a verifying checkout's, see readVerifiedMetaSync) records its signature.
 */
export function readDirTreeForCheckout(repo: OstreeRepo, c: Checksum, verify: boolean, markers: MetaMarkers | null = null): DirTree {
  const m = verify ? markers : null;
  const raw = /^[0-9a-f]{64}$/.test(c) ? readShared(repo, c, verify, m) : null;
  if (raw !== null) {
    const t = decodeDirTreeFast(raw);
    if (t !== null) return t;
  }
  return decodeDirTree(verify ? readVerifiedMetaSync(repo, c, 'dirtree', m) : repo.readObjectBytesSync(c, 'dirtree'));
}
