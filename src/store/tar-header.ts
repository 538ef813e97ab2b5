/**
 * The one reader of tar header fields (POSIX ustar, GNU, PAX), shared by the layer reader
 * (store/tar-reader.ts, streaming) and the archive index
 * (image/tar-index.ts, positioned reads of oci-archive / docker-archive files).
 *
 * Rules (written down because readers disagree; POSIX.1-2001 pax, GNU tar, Go's archive/tar):
 * - Numeric fields: octal text, leading spaces and NULs skipped, ended by a space or NUL (as
 *   tar-stream reads them), or GNU base-256 when the first byte is exactly 0x80 (a negative 0xff, or a value that is not a safe
 *   integer, is NaN).
 * - The name is the ustar `prefix` + '/' + `name` only for the POSIX magic "ustar\0" (GNU tar
 *   writes "ustar  " and uses the prefix bytes for other fields).
 * - The checksum is the sum of the header bytes with the checksum field read as spaces, unsigned
 *   or (old Sun tars) signed.
 * - PAX records are "LEN key=value\n": LEN decimal (at most 9 digits) counting the whole record,
 *   which ends in a newline; the key is not empty; NUL bytes after the last record are padding.
 *   Values are bytes (binary xattrs); repeated keys are kept in order (GNU sparse 0.0).
 */

export const BLOCK = 512;

/** The bytes before the first NUL. */
export function cstring(b: Buffer): Buffer {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/** A numeric header field (see the rules above); NaN when it is not a number. */
export function decodeNumber(buf: Buffer, off: number, len: number): number {
  const end = Math.min(off + len, buf.length);
  if ((buf[off] ?? 0) & 0x80) {
    if (buf[off] !== 0x80) return NaN;
    let sum = 0;
    for (let i = off + 1; i < end; i++) sum = sum * 256 + buf[i]!;
    return Number.isSafeInteger(sum) ? sum : NaN;
  }
  // fast path: octal digits (after spaces) ended by a space, a NUL or the end of the field
  let i = off;
  while (i < end && buf[i] === 32) i++;
  let n = 0;
  let j = i;
  for (; j < end; j++) {
    const c = buf[j]!;
    if (c < 48 || c > 55) break;
    n = n * 8 + (c - 48);
  }
  if (j > i && (j === end || buf[j] === 32 || buf[j] === 0)) return n;
  const v = buf.subarray(off, end);
  let s = 0;
  while (s < v.length && v[s] === 32) s++;
  let e = v.indexOf(32, s);
  if (e < 0) e = v.length;
  while (s < e && v[s] === 0) s++;
  const z = v.indexOf(0, s);
  if (z >= 0 && z < e) e = z;
  if (e === s) return 0;
  return parseInt(v.subarray(s, e).toString('latin1'), 8);
}

/** The fields of one header block that both readers use. */
export interface TarHeader {
  /** The typeflag character ('\0' for old V7 files). */
  typeflag: string;
  /** The size field (NaN when garbage); PAX `size` overrides it. */
  size: number;
  /** `prefix/name` for POSIX ustar, else `name`; bytes up to the first NUL. */
  name: Buffer;
  linkname: Buffer;
}

export function readHeader(block: Buffer): TarHeader {
  const isUstar = block.subarray(257, 263).toString('latin1') === 'ustar\0';
  const name = cstring(block.subarray(0, 100));
  const prefix = isUstar ? cstring(block.subarray(345, 500)) : Buffer.alloc(0);
  return {
    typeflag: String.fromCharCode(block[156]),
    size: decodeNumber(block, 124, 12),
    name: prefix.length ? Buffer.concat([prefix, Buffer.from('/'), name]) : name,
    linkname: cstring(block.subarray(157, 257)),
  };
}

/** Whether the stored checksum matches the block (unsigned or signed sum). */
export function checksumOk(block: Buffer): boolean {
  const stored = decodeNumber(block, 148, 8);
  if (Number.isNaN(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** Write the checksum of a header block we changed or made. */
export function setChecksum(block: Buffer): void {
  block.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

/** Why a PAX extended header was refused: a bad record length or terminator, or a record without a key. */
export type PaxProblem = 'record' | 'key';

/** PAX records in order, repeated keys kept; `fail` makes the caller's error for a malformed header. */
export function parsePaxList(buf: Buffer, fail: (problem: PaxProblem) => Error): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0) break; // NUL padding
    const sp = buf.indexOf(32, i);
    const lenStr = sp < 0 ? '' : buf.subarray(i, sp).toString('latin1');
    const len = /^[0-9]{1,9}$/.test(lenStr) ? parseInt(lenStr, 10) : NaN;
    if (!(len > 0) || i + len > buf.length || buf[i + len - 1] !== 10) throw fail('record');
    const rec = buf.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(61);
    if (eq <= 0) throw fail('key');
    out.push([rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1))]);
    i += len;
  }
  return out;
}
