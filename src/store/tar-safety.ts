/**
 * Validation of layer tar entry names, and a structural guard that walks the raw tar blocks
 * in front of the tar-stream parser.
 *
 * Name rules (normalizeEntryPath): a leading `./` (repeated) is dropped and trailing slashes
 * are ignored; `/`, `.` and `./` name the layer root. Everything else must be a relative path of
 * ordinary components: absolute names (`/etc/x`), `..`, `.` or empty components (`a//b`), NUL or
 * newline, invalid UTF-8, names over 4096 bytes, components over 255 bytes and paths deeper than
 * MAX_DEPTH are refused with UNSAFE_PATH (LAYER_INVALID for invalid UTF-8).
 *
 * The guard (TarGuard) sees exactly the bytes tar-stream sees. It tracks where every header
 * is, caps PAX / GNU long-name headers (MAX_LONG_HEADER), refuses entry types and sizes where
 * tar readers disagree (data on non-file entries, sparse files, unknown types), stops at the
 * end-of-archive marker (two zero blocks) and keeps the raw PAX records of each entry so that
 * binary xattr values (security.capability) survive; tar-stream decodes PAX values as UTF-8.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { AtomicError } from '../util/errors.js';

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_DEPTH = 512;
export const MAX_LONG_HEADER = 1024 * 1024;

const FIX = 'The layer is malformed or hostile; do not use this image, or rebuild it with a standard tool (docker, buildah, umoci).';

function printable(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
}

function unsafe(name: string, why: string): AtomicError {
  return new AtomicError('UNSAFE_PATH', `Refusing tar entry ${printable(name)}: ${why}`, { suggestions: [FIX], ref: name });
}

export function layerInvalid(msg: string, ...suggestions: string[]): AtomicError {
  return new AtomicError('LAYER_INVALID', msg, { suggestions: suggestions.length ? suggestions : [FIX] });
}

/** Split and validate an entry name; [] is the layer root. */
export function normalizeEntryPath(name: string, what = 'name'): string[] {
  if (name.includes('\0')) throw unsafe(name, `its ${what} contains a NUL byte`);
  if (name.includes('\n')) throw unsafe(name, `its ${what} contains a newline`);
  if (name.includes('\uFFFD')) {
    throw new AtomicError('LAYER_INVALID', `Refusing tar entry ${printable(name)}: its ${what} is not valid UTF-8`, { suggestions: [FIX], ref: name });
  }
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) throw unsafe(name, `its ${what} is longer than ${MAX_PATH_BYTES} bytes`);
  let p = name;
  if (/^\/+$/.test(p)) return [];
  if (p.startsWith('/')) throw unsafe(name, `absolute ${what}s are not allowed in a layer (it would be written outside the image root)`);
  while (p.startsWith('./')) p = p.slice(2);
  p = p.replace(/\/+$/, '');
  if (p === '' || p === '.') return [];
  const parts = p.split('/');
  if (parts.length > MAX_DEPTH) throw unsafe(name, `it is nested deeper than ${MAX_DEPTH} directories`);
  for (const c of parts) {
    if (c === '..') throw unsafe(name, `its ${what} contains a ".." component (path traversal)`);
    if (c === '' || c === '.') throw unsafe(name, `its ${what} contains an empty or "." component`);
    if (Buffer.byteLength(c) > MAX_NAME_BYTES) throw unsafe(name, `a component of its ${what} is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return parts;
}

/** Validate a symlink target (kept exactly as written). */
export function checkSymlinkTarget(entry: string, target: string): void {
  if (target === '') throw layerInvalid(`Refusing tar entry ${printable(entry)}: symlink with an empty target`);
  if (target.includes('\0')) throw unsafe(entry, 'its symlink target contains a NUL byte');
  if (target.includes('\uFFFD')) throw layerInvalid(`Refusing tar entry ${printable(entry)}: its symlink target is not valid UTF-8`);
  if (Buffer.byteLength(target) >= MAX_PATH_BYTES) throw unsafe(entry, `its symlink target is ${MAX_PATH_BYTES} bytes or longer`);
}

export { unsafe as unsafePathError, printable as printableName };

/** What the guard learned about one entry, keyed by the offset of its data (header offset + 512). */
/** Recompute a header block's checksum field (sum of the bytes with the field as spaces). */
function setHeaderChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

export interface GuardedEntry {
  /** Data size after PAX `size`. */
  size: number;
  /** Raw PAX records (global merged with local), values as bytes. */
  pax: Map<string, Buffer>;
}

const REGULAR_FLAGS = new Set(['0', '\0', '7']);
const NO_DATA_FLAGS = new Set(['1', '2', '3', '4', '5', '6']);
const LONG_FLAGS = new Set(['x', 'g', 'L', 'K']);
const FLAG_NAMES: Record<string, string> = { S: 'GNU sparse file', D: 'GNU dump directory', M: 'GNU multi-volume continuation', V: 'volume label', N: 'GNU old long name' };

/** tar-stream's numeric field decoding (octal, or base-256 when the high bit is set). */
function decodeNumber(buf: Buffer, off: number, len: number): number {
  const v = buf.subarray(off, off + len);
  if (v[0] & 0x80) {
    if (v[0] !== 0x80) return NaN;
    let sum = 0;
    for (let i = 1; i < v.length; i++) sum = sum * 256 + v[i];
    return sum;
  }
  let s = 0;
  while (s < v.length && v[s] === 32) s++;
  let e = v.indexOf(32, s);
  if (e < 0) e = v.length;
  while (s < e && v[s] === 0) s++;
  if (e === s) return 0;
  return parseInt(v.subarray(s, e).toString('latin1'), 8);
}

export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0) break; // NUL padding
    const sp = buf.indexOf(32, i);
    const lenStr = sp < 0 ? '' : buf.subarray(i, sp).toString('latin1');
    const len = /^[0-9]{1,9}$/.test(lenStr) ? parseInt(lenStr, 10) : NaN;
    if (!(len > 0) || i + len > buf.length || buf[i + len - 1] !== 10) throw layerInvalid('Layer tar has a malformed PAX extended header record');
    const rec = buf.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(61);
    if (eq <= 0) throw layerInvalid('Layer tar has a malformed PAX extended header record (no key)');
    out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    i += len;
  }
  return out;
}

type GuardState = 'header' | 'long' | 'data' | 'end';

/**
 * Pass-through Transform over the uncompressed tar: hashes/counts nothing itself (see onBytes),
 * validates the block structure and records each entry's raw PAX records in `entries`.
 */
export class TarGuard extends Transform {
  readonly entries = new Map<number, GuardedEntry>();
  private buf: Buffer = Buffer.alloc(0);
  private offset = 0; // absolute offset of buf[0]
  private state: GuardState = 'header';
  private remaining = 0; // bytes of data (incl. padding) or long header still to pass
  private longFlag = '';
  private hadLongName = false;
  private longParts: Buffer[] = [];
  private longSize = 0;
  private localPax: Map<string, Buffer> | null = null;
  private globalPax = new Map<string, Buffer>();
  private zeroBlocks = 0;

  constructor(private readonly onBytes: (chunk: Buffer) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.onBytes(chunk);
      if (this.state === 'end') return cb();
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      let pos = 0;
      const out: Buffer[] = [];
      while (pos < this.buf.length && (this.state as GuardState) !== 'end') {
        if (this.state === 'data') {
          const n = Math.min(this.remaining, this.buf.length - pos);
          out.push(this.buf.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'header';
        } else if (this.state === 'long') {
          const n = Math.min(this.remaining, this.buf.length - pos);
          out.push(this.buf.subarray(pos, pos + n));
          this.longParts.push(this.buf.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finishLong();
        } else {
          if (this.buf.length - pos < 512) break;
          const block = this.buf.subarray(pos, pos + 512);
          out.push(this.header(block, this.offset + pos) ?? block);
          pos += 512;
        }
      }
      this.offset += pos;
      this.buf = pos < this.buf.length ? Buffer.from(this.buf.subarray(pos)) : Buffer.alloc(0);
      if ((this.state as GuardState) === 'end') this.buf = Buffer.alloc(0);
      for (const b of out) this.push(b);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.state === 'long' || this.localPax) return cb(layerInvalid('Layer tar ends inside an extended header (truncated layer)', 'Pull the image again; the blob may be truncated.'));
    const truncated = (this.state === 'data' && this.remaining > 0) || (this.state === 'header' && this.buf.length > 0);
    if (truncated) return cb(layerInvalid(`Layer tar is truncated: it ends in the middle of ${this.state === 'data' ? 'an entry' : 'a header block'} at offset ${this.offset + this.buf.length}`, 'Pull the image again; the blob may be truncated.'));
    cb();
  }

  /** Checks one header block; returns a replacement block when the parser must see another one. */
  private header(block: Buffer, at: number): Buffer | undefined {
    if (block.every((b) => b === 0)) {
      if (this.localPax || this.longFlag) throw layerInvalid('Layer tar has an extended header followed by an empty block');
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = 'end';
      return;
    }
    if (this.zeroBlocks > 0) throw layerInvalid(`Layer tar has data after an end-of-archive block at offset ${at}`);
    const flag = String.fromCharCode(block[156]);
    const size = decodeNumber(block, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw layerInvalid(`Layer tar has an invalid size field in the header at offset ${at}`);
    if (LONG_FLAGS.has(flag)) {
      if (size > MAX_LONG_HEADER) {
        throw layerInvalid(`Layer tar has a ${flag === 'x' || flag === 'g' ? 'PAX' : 'GNU long-name'} header of ${size} bytes at offset ${at} (limit ${MAX_LONG_HEADER})`);
      }
      if (flag === 'x' && this.localPax) throw layerInvalid(`Layer tar has two PAX headers in a row at offset ${at}`);
      this.longFlag = flag;
      this.longSize = size;
      this.longParts = [];
      this.remaining = Math.ceil(size / 512) * 512;
      this.state = this.remaining > 0 ? 'long' : 'header';
      if (this.remaining === 0) this.finishLong();
      return;
    }
    this.longFlag = '';
    const pax = new Map([...this.globalPax, ...(this.localPax ?? [])]);
    this.localPax = null;
    let dataSize = size;
    const paxSize = pax.get('size');
    if (paxSize !== undefined) {
      const s = paxSize.toString('latin1');
      if (!/^[0-9]{1,15}$/.test(s)) throw layerInvalid(`Layer tar has an invalid PAX size ${JSON.stringify(s.slice(0, 40))} at offset ${at}`);
      dataSize = parseInt(s, 10);
    }
    for (const k of pax.keys()) {
      if (k.startsWith('GNU.sparse.')) throw layerInvalid(`Layer tar contains a GNU sparse file at offset ${at}; sparse files are not supported`, 'Rebuild the image without sparse files (tar --sparse is not supported by container runtimes either).');
    }
    // tar-stream turns a type-0 entry whose header name ends in '/' into a directory (no data).
    let nameLen = block.subarray(0, 100).indexOf(0);
    if (nameLen < 0) nameLen = 100;
    const ustarPrefix = block.subarray(257, 263).toString('latin1') === 'ustar\0' && block[345] !== 0;
    let dirByName = (flag === '\0' || flag === '0') && (nameLen > 0 ? block[nameLen - 1] === 47 : ustarPrefix);
    // GNU tar and Python's tarfile write a truncated ustar fallback name for long paths, which
    // may end in '/' on a regular file; the PAX path (or GNU long name) is the real name. The
    // parser would take the entry for a directory: it gets the fallback name without the '/'.
    let replaced: Buffer | undefined;
    if (dirByName && (pax.has('path') || this.hadLongName)) {
      dirByName = false;
      replaced = Buffer.from(block);
      if (nameLen > 0) replaced[nameLen - 1] = 0;
      else replaced[0] = 0x5f; // '_': name was empty (prefix only)
      setHeaderChecksum(replaced);
    }
    this.hadLongName = false;
    if (REGULAR_FLAGS.has(flag) && !dirByName) {
      this.remaining = Math.ceil(dataSize / 512) * 512;
    } else if (NO_DATA_FLAGS.has(flag) || dirByName) {
      if (dataSize !== 0) throw layerInvalid(`Layer tar has a ${dirByName || flag === '5' ? 'directory' : 'link or special'} entry carrying ${dataSize} bytes of data at offset ${at}`);
      this.remaining = 0;
    } else {
      const what = FLAG_NAMES[flag] ?? `type ${JSON.stringify(flag)}`;
      throw layerInvalid(`Layer tar has an unsupported entry (${what}) at offset ${at}`);
    }
    this.entries.set(at + 512, { size: dataSize, pax });
    this.state = this.remaining > 0 ? 'data' : 'header';
    return replaced;
  }

  private finishLong(): void {
    const body = Buffer.concat(this.longParts).subarray(0, this.longSize);
    this.longParts = [];
    this.state = 'header';
    if (this.longFlag === 'L') this.hadLongName = true;
    if (this.longFlag === 'x') this.localPax = parsePaxRecords(body);
    else if (this.longFlag === 'g') {
      const g = parsePaxRecords(body);
      for (const k of ['path', 'linkpath', 'size']) {
        if (g.has(k)) throw layerInvalid(`Layer tar has a global PAX header setting "${k}", which is not supported`);
      }
      for (const [k, v] of g) this.globalPax.set(k, v);
    }
    // L/K bodies are applied by tar-stream; the guard only enforced their size.
  }
}
