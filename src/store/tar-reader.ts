/**
 * TarReader: the one pass over a layer's uncompressed tar. It walks the raw blocks as they arrive
 * (any chunking: a header may be split over chunks of one byte), applies the structural rules
 * below, and yields the entries with their data as slices of the incoming chunks (no copy).
 *
 * Rules (the layer's block structure; names are judged by tar-safety.ts):
 * - Numeric fields as tar-header.ts reads them; an invalid size is refused. The header checksum
 *   must equal the unsigned byte sum (the checksum field read as spaces) of every header block,
 *   the extended ones included; a block that is all zeros but for its checksum field is skipped.
 * - PAX ('x', 'g') and GNU long-name ('L', 'K') headers are capped at MAX_LONG_HEADER; two PAX
 *   headers in a row, a global PAX header setting path/linkpath/size, an extended header followed
 *   by an empty block or by the end of the stream are refused. PAX values are kept as bytes
 *   (binary xattrs such as security.capability); global records are merged into every entry's.
 * - Entry types: regular ('0', '\0', '7'), hardlink, symlink, character/block device, directory,
 *   FIFO; data on anything but a regular file, and any other type (GNU dump directories,
 *   multi-volume continuations, volume labels, old long names) are refused. A '\0' entry is a
 *   directory iff its final name (PAX path, GNU long name, ustar name) ends in '/' (Go's
 *   archive/tar, used by umoci and containers/storage); a '0' entry is always a file.
 * - Names: the ustar prefix is used only with the POSIX magic "ustar\0"; a GNU long name replaces
 *   the header's name and a PAX path replaces both (when not empty); likewise K / linkpath for the
 *   link target. Names are decoded as UTF-8 (invalid bytes become U+FFFD, which tar-safety.ts
 *   refuses).
 * - Sparse files (GNU 'S' with extension blocks, PAX GNU.sparse 0.0 / 0.1 / 1.0) are one entry
 *   of their stored bytes, with the real name, real size and the map (validated: in order, within
 *   the real size, covering exactly the stored bytes); the importer expands them dense.
 * - The end: two zero blocks (bytes after them are read but ignored); a stream that ends without
 *   them, or after the last entry's data without its padding (umoci), is complete; one that ends
 *   inside a header block, an entry's data or a sparse map is truncated.
 * Every byte of the input, the ignored tail included, is passed to `onBytes` in order (the
 * diff_id is computed over them).
 */
import { AtomicError } from '../util/errors.js';
import { cstring, decodeNumber } from './tar-header.js';
import { MAX_LONG_HEADER, layerInvalid, parsePaxList, parsePaxRecords } from './tar-safety.js';

const MAX_SPARSE_SEGMENTS = 1_000_000;
const BLOCK = 512;

/** One data segment of a sparse file: `length` stored bytes that belong at `offset`. */
export interface SparseSegment {
  offset: number;
  length: number;
}

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarEntry {
  /** Final name (PAX path, GNU long name or ustar prefix/name), decoded as UTF-8. */
  name: string;
  type: TarEntryType;
  /** Final link target (PAX linkpath, GNU long link or the header's), null when there is none. */
  linkname: string | null;
  /** Header fields (PAX uid/gid are in `pax`). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data stored in the archive (for a sparse file: the stored bytes, not the real size). */
  size: number;
  /** Raw PAX records (global merged with local), values as bytes. Do not modify. */
  pax: Map<string, Buffer>;
  /** Sparse files: the real size and where the stored bytes go. */
  sparse?: { realSize: number; map: SparseSegment[] };
}

const REGULAR_FLAGS = new Set(['0', '\0', '7']);
const NO_DATA_TYPES: Record<string, TarEntryType> = { '1': 'link', '2': 'symlink', '3': 'character-device', '4': 'block-device', '5': 'directory', '6': 'fifo' };
const LONG_FLAGS = new Set(['x', 'g', 'L', 'K']);
const FLAG_NAMES: Record<string, string> = { D: 'GNU dump directory', M: 'GNU multi-volume continuation', V: 'volume label', N: 'GNU old long name' };
const EMPTY_PAX: Map<string, Buffer> = new Map();
const SLASH = 47;

function truncatedError(msg: string): AtomicError {
  return layerInvalid(`Layer tar is truncated: it ends ${msg}`, 'Pull the image again; the blob may be truncated.');
}

function badHeader(): AtomicError {
  return new AtomicError('LAYER_INVALID', 'Layer tar is invalid: Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?', {
    suggestions: ['Pull the image again; if it keeps failing, the layer in the registry is damaged or not a tar archive.'],
  });
}

/** A mode/uid/gid field: octal, or base-256 (0x80 positive, 0xff negative), as tar readers decode them. */
function octField(b: Buffer, off: number, len: number): number {
  const first = b[off]!;
  if (first & 0x80) {
    if (first !== 0x80 && first !== 0xff) return NaN;
    const neg = first === 0xff;
    let sum = 0;
    for (let i = off + len - 1, m = 1; i > off; i--, m *= 256) sum += (neg ? 0xff - b[i]! : b[i]!) * m;
    return neg ? -sum : sum;
  }
  return decodeNumber(b, off, len);
}

/** The unsigned byte sum of a header block with its checksum field read as spaces. */
function headerSum(b: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < BLOCK; i++) sum += b[i]!;
  return sum;
}

/** Bytes [off, off+len) up to the first NUL, as a string. */
function field(b: Buffer, off: number, len: number): string {
  let end = off;
  const stop = off + len;
  while (end < stop && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}

function isPosixUstar(b: Buffer): boolean {
  return b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72 && b[262] === 0;
}

/** The header's own name: ustar prefix + '/' + name (POSIX magic only), decoded. */
function headerName(b: Buffer): string {
  const name = field(b, 0, 100);
  return isPosixUstar(b) && b[345] !== 0 ? `${field(b, 345, 155)}/${name}` : name;
}

/** The header's own name as bytes (to test its last byte without decoding). */
function headerNameEndsInSlash(b: Buffer): boolean {
  const z = b.indexOf(0, 0);
  const end = z < 0 || z > 100 ? 100 : z;
  if (end > 0) return b[end - 1] === SLASH;
  // empty name field: with a prefix the name is "prefix/", else empty
  return isPosixUstar(b) && b[345] !== 0;
}

function isZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** Entry being assembled across blocks (GNU 'S' extension blocks, PAX 1.0 map). */
interface PendingSparse {
  block: Buffer;
  at: number;
  pax: Map<string, Buffer>;
  name: Buffer;
  realSize: number;
  map: SparseSegment[];
  /** Bytes of the data area (map blocks + stored data, unpadded) still ahead, as declared. */
  dataSize: number;
  mapText: Buffer[];
  mapBytes: number;
}

export class TarReader {
  private readonly it: AsyncIterator<Buffer>;
  /** Unread input: chunks[ci] from offset co on, then chunks[ci+1..]. */
  private chunks: Buffer[] = [];
  private ci = 0;
  private co = 0;
  private avail = 0;
  private eof = false;
  /** Absolute input offset of the next unread byte. */
  private pos = 0;
  /** Data of the current entry not read yet, then its padding. */
  private dataLeft = 0;
  private padLeft = 0;
  private done = false;
  private zeroBlocks = 0;
  private globalPax: Map<string, Buffer> = EMPTY_PAX;
  private localPax: Array<[string, Buffer]> | null = null;
  private longName: Buffer | null = null;
  private longLink: Buffer | null = null;
  /** Extended headers ('x', 'L', 'K') read since the last entry. */
  private pendingExt = 0;

  constructor(
    source: AsyncIterable<Buffer>,
    private readonly onBytes: (chunk: Buffer) => void,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Pull input until `n` bytes are buffered; false when the input ended first. */
  private async fill(n: number): Promise<boolean> {
    while (this.avail < n) {
      if (this.eof) return false;
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
        return false;
      }
      const c = r.value;
      if (c.length === 0) continue;
      this.onBytes(c);
      if (this.ci > 64) {
        this.chunks = this.chunks.slice(this.ci);
        this.ci = 0;
      }
      this.chunks.push(c);
      this.avail += c.length;
    }
    return true;
  }

  /** Up to `n` buffered bytes, as one slice (no copy). */
  private takeSome(n: number): Buffer {
    const c = this.chunks[this.ci]!;
    const k = Math.min(n, c.length - this.co);
    const out = c.subarray(this.co, this.co + k);
    this.co += k;
    if (this.co === c.length) {
      this.chunks[this.ci++] = undefined as unknown as Buffer;
      this.co = 0;
    }
    this.avail -= k;
    this.pos += k;
    return out;
  }

  /** `n` buffered bytes as one Buffer (a copy only when they span chunks). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.takeSome(n);
    if (first.length === n) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const p = this.takeSome(n - got);
      parts.push(p);
      got += p.length;
    }
    return Buffer.concat(parts, n);
  }

  private skip(n: number): void {
    while (n > 0) n -= this.takeSome(n).length;
  }

  /** The data of the current entry still unread, if it is all buffered now (slices, no copy); else null. */
  bodyNow(): Buffer[] | null {
    if (this.avail < this.dataLeft) return null;
    const out: Buffer[] = [];
    while (this.dataLeft > 0) {
      const p = this.takeSome(this.dataLeft);
      this.dataLeft -= p.length;
      out.push(p);
    }
    return out;
  }

  /** The data of the current entry still unread, whole (as slices). */
  async bodyAll(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for await (const p of this.body()) out.push(p);
    return out;
  }

  /** The data of the current entry still unread, as it arrives. */
  async *body(): AsyncGenerator<Buffer> {
    while (this.dataLeft > 0) {
      if (this.avail === 0 && !(await this.fill(1))) throw truncatedError(`in the middle of an entry at offset ${this.pos}`);
      const p = this.takeSome(this.dataLeft);
      this.dataLeft -= p.length;
      yield p;
    }
  }

  /** Skip what is left of the current entry: data (must be complete) and padding (may be missing at the end). */
  private async skipRest(): Promise<void> {
    while (this.dataLeft > 0) {
      if (this.avail === 0 && !(await this.fill(1))) throw truncatedError(`in the middle of an entry at offset ${this.pos}`);
      this.dataLeft -= this.takeSome(this.dataLeft).length;
    }
    while (this.padLeft > 0) {
      if (this.avail === 0 && !(await this.fill(1))) {
        // complete data without its padding (umoci's last entry): as if padded, like Go's reader
        this.padLeft = 0;
        break;
      }
      this.padLeft -= this.takeSome(this.padLeft).length;
    }
  }

  /** Read (and hash) the rest of the input after the end of the archive. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.ci = 0;
    this.co = 0;
    this.avail = 0;
    while (await this.fill(1)) {
      this.chunks = [];
      this.avail = 0;
    }
  }

  /** The next entry, or null at the end of the archive. Unread data of the previous entry is skipped. */
  async next(): Promise<TarEntry | null> {
    if (this.done) return null;
    await this.skipRest();
    for (;;) {
      if (this.avail < BLOCK && !(await this.fill(BLOCK))) return this.atEnd();
      const at = this.pos;
      const block = this.take(BLOCK);
      const e = await this.header(block, at);
      if (e !== null) return e;
      if (this.done) return null;
    }
  }

  /** The input ended where a header block was expected. */
  private atEnd(): null {
    if (this.pendingExt > 0) throw layerInvalid('Layer tar ends inside an extended header (truncated layer)', 'Pull the image again; the blob may be truncated.');
    const start = this.pos;
    while (this.avail > 0) {
      const p = this.takeSome(this.avail);
      if (!p.every((b) => b === 0)) throw truncatedError(`in the middle of a header block at offset ${start}`);
    }
    this.done = true;
    return null;
  }

  /** A header block; an entry, or null when the block was an extended header, a skipped block or the end. */
  private async header(block: Buffer, at: number): Promise<TarEntry | null> {
    const sum = headerSum(block);
    if (sum === 8 * 32 && isZero(block, 148, 156)) {
      if (this.pendingExt > 0) throw layerInvalid('Layer tar has an extended header followed by an empty block');
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.done = true;
      return null;
    }
    if (this.zeroBlocks > 0) throw layerInvalid(`Layer tar has data after an end-of-archive block at offset ${at}`);
    if (sum === 8 * 32) {
      // all zero but the checksum field: no header at all (tar-stream's reading, kept)
      if (this.pendingExt > 0) throw layerInvalid('Layer tar has an extended header followed by an empty block');
      return null;
    }
    const flag = String.fromCharCode(block[156]!);
    const size = decodeNumber(block, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw layerInvalid(`Layer tar has an invalid size field in the header at offset ${at}`);
    if (LONG_FLAGS.has(flag)) {
      await this.longHeader(block, flag, size, at);
      return null;
    }
    const localList = this.localPax;
    const pax = localList === null ? this.globalPax : this.globalPax.size === 0 ? new Map(localList) : new Map([...this.globalPax, ...localList]);
    this.localPax = null;
    const longName = this.longName;
    this.longName = null;
    const longLink = this.longLink;
    this.longLink = null;
    let dataSize = size;
    const paxSize = pax.size === 0 ? undefined : pax.get('size');
    if (paxSize !== undefined) {
      const s = paxSize.toString('latin1');
      if (!/^[0-9]{1,15}$/.test(s)) throw layerInvalid(`Layer tar has an invalid PAX size ${JSON.stringify(s.slice(0, 40))} at offset ${at}`);
      dataSize = parseInt(s, 10);
    }
    const paxPath = pax.size === 0 ? undefined : pax.get('path');

    // Sparse files.
    let paxSparse = false;
    if (pax.size !== 0) for (const k of pax.keys()) if (k.startsWith('GNU.sparse.')) paxSparse = true;
    if (flag === 'S' || paxSparse) {
      const finalName = paxPath ?? longName ?? Buffer.from(headerName(block), 'utf8');
      if (flag === 'S') return this.gnuSparse(block, at, pax, finalName, dataSize);
      if (!REGULAR_FLAGS.has(flag)) throw layerInvalid(`Layer tar has GNU sparse records on a non-file entry at offset ${at}`);
      return this.paxSparse(block, at, pax, localList ?? [], finalName, dataSize);
    }

    // Only a type-'\0' entry is a directory by its (final) name (Go's rule).
    let dir = false;
    if (flag === '\0') {
      const last = paxPath !== undefined ? paxPath[paxPath.length - 1] : longName !== null ? longName[longName.length - 1] : headerNameEndsInSlash(block) ? SLASH : 0;
      dir = last === SLASH;
    }
    let type: TarEntryType;
    if (REGULAR_FLAGS.has(flag) && !dir) {
      type = 'file';
    } else if (flag in NO_DATA_TYPES || dir) {
      if (dataSize !== 0) throw layerInvalid(`Layer tar has a ${dir || flag === '5' ? 'directory' : 'link or special'} entry carrying ${dataSize} bytes of data at offset ${at}`);
      type = dir ? 'directory' : NO_DATA_TYPES[flag]!;
    } else {
      const what = FLAG_NAMES[flag] ?? `type ${JSON.stringify(flag)}`;
      throw layerInvalid(`Layer tar has an unsupported entry (${what}) at offset ${at}`);
    }
    if (sum !== decodeNumber(block, 148, 8)) throw badHeader();
    const name = paxPath !== undefined && paxPath.length > 0 ? paxPath.toString('utf8') : longName !== null && longName.length > 0 ? longName.toString('utf8') : headerName(block);
    const paxLink = pax.size === 0 ? undefined : pax.get('linkpath');
    const linkname =
      paxLink !== undefined && paxLink.length > 0
        ? paxLink.toString('utf8')
        : longLink !== null && longLink.length > 0
          ? longLink.toString('utf8')
          : block[157] === 0
            ? null
            : field(block, 157, 100);
    this.pendingExt = 0;
    this.startData(type === 'file' ? dataSize : 0);
    return { name, type, linkname, mode: octField(block, 100, 8), uid: octField(block, 108, 8), gid: octField(block, 116, 8), size: type === 'file' ? dataSize : 0, pax };
  }

  private startData(size: number): void {
    this.dataLeft = size;
    this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  /** Read the body of a PAX / GNU long-name header and apply it to the next entry. */
  private async longHeader(block: Buffer, flag: string, size: number, at: number): Promise<void> {
    if (size > MAX_LONG_HEADER) {
      throw layerInvalid(`Layer tar has a ${flag === 'x' || flag === 'g' ? 'PAX' : 'GNU long-name'} header of ${size} bytes at offset ${at} (limit ${MAX_LONG_HEADER})`);
    }
    if (flag === 'x' && this.localPax) throw layerInvalid(`Layer tar has two PAX headers in a row at offset ${at}`);
    if (headerSum(block) !== decodeNumber(block, 148, 8)) throw badHeader();
    if (flag !== 'g') this.pendingExt++;
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (this.avail < padded && !(await this.fill(padded))) {
      this.skip(this.avail);
      throw layerInvalid('Layer tar ends inside an extended header (truncated layer)', 'Pull the image again; the blob may be truncated.');
    }
    const body = this.take(padded).subarray(0, size);
    if (flag === 'x') this.localPax = parsePaxList(body);
    else if (flag === 'g') {
      const g = parsePaxRecords(body);
      for (const k of ['path', 'linkpath', 'size']) {
        if (g.has(k)) throw layerInvalid(`Layer tar has a global PAX header setting "${k}", which is not supported`);
      }
      this.globalPax = new Map([...this.globalPax, ...g]);
    } else if (flag === 'L') this.longName = Buffer.from(cstring(body));
    else this.longLink = Buffer.from(cstring(body));
  }

  /** Old GNU sparse ('S'): 4 map slots in the header, more in extension blocks. */
  private async gnuSparse(block: Buffer, at: number, pax: Map<string, Buffer>, name: Buffer, dataSize: number): Promise<TarEntry> {
    const realSize = decodeNumber(block, 483, 12);
    if (!Number.isSafeInteger(realSize) || realSize < 0) throw layerInvalid(`Layer tar has a GNU sparse file with an invalid real size at offset ${at}`);
    const sp: PendingSparse = { block, at, pax, name, realSize, map: [], dataSize, mapText: [], mapBytes: 0 };
    this.readSlots(sp, block, 386, 4, at);
    if (headerSum(block) !== decodeNumber(block, 148, 8)) throw badHeader();
    let more = block[482] !== 0;
    while (more) {
      if (this.avail < BLOCK && !(await this.fill(BLOCK))) throw this.endInSparse();
      const ext = this.take(BLOCK);
      this.readSlots(sp, ext, 0, 21, this.pos - BLOCK);
      more = ext[504] !== 0;
    }
    return this.emitSparse(sp);
  }

  private endInSparse(): AtomicError {
    if (this.pendingExt > 0) return layerInvalid('Layer tar ends inside an extended header (truncated layer)', 'Pull the image again; the blob may be truncated.');
    return truncatedError(`inside the header of a sparse file at offset ${this.pos}`);
  }

  private readSlots(sp: PendingSparse, block: Buffer, off: number, n: number, at: number): void {
    for (let i = 0; i < n; i++) {
      const o = off + i * 24;
      if (block[o] === 0) continue;
      const offset = decodeNumber(block, o, 12);
      const length = decodeNumber(block, o + 12, 12);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
      sp.map.push({ offset, length });
    }
    if (sp.map.length > MAX_SPARSE_SEGMENTS) throw layerInvalid(`Layer tar has a sparse file with more than ${MAX_SPARSE_SEGMENTS} segments at offset ${at}`);
  }

  /** PAX GNU.sparse 0.0 (repeated offset/numbytes), 0.1 (map) or 1.0 (map at the start of the data). */
  private async paxSparse(block: Buffer, at: number, pax: Map<string, Buffer>, local: Array<[string, Buffer]>, name: Buffer, dataSize: number): Promise<TarEntry> {
    const str = (k: string) => pax.get(k)?.toString('latin1');
    const num = (s: string | undefined, what: string): number => {
      if (s === undefined || !/^[0-9]{1,15}$/.test(s)) throw layerInvalid(`Layer tar has a sparse file with an invalid ${what} at offset ${at}`);
      return parseInt(s, 10);
    };
    const major = str('GNU.sparse.major');
    const minor = str('GNU.sparse.minor');
    const realName = pax.get('GNU.sparse.name') ?? name;
    const realSize = num(str('GNU.sparse.realsize') ?? str('GNU.sparse.size'), 'real size');
    const sp: PendingSparse = { block, at, pax, name: realName, realSize, map: [], dataSize, mapText: [], mapBytes: 0 };
    if (major === '1' && minor === '0') {
      if (headerSum(block) !== decodeNumber(block, 148, 8)) throw badHeader();
      await this.sparseMap(sp);
      return this.emitSparse(sp);
    }
    if (major !== undefined && !(major === '0' && (minor === '0' || minor === '1')))
      throw layerInvalid(`Layer tar has a sparse file in the unknown format ${major}.${minor ?? '?'} at offset ${at}`);
    const nums: number[] = [];
    const map = str('GNU.sparse.map');
    if (map !== undefined) {
      if (map !== '') for (const x of map.split(',')) nums.push(num(x, 'map'));
    } else {
      for (const [k, v] of local) if (k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes') nums.push(num(v.toString('latin1'), 'map'));
    }
    this.setMap(sp, nums, at);
    if (headerSum(block) !== decodeNumber(block, 148, 8)) throw badHeader();
    return this.emitSparse(sp);
  }

  private setMap(sp: PendingSparse, nums: number[], at: number): void {
    if (nums.length % 2 !== 0 || nums.length / 2 > MAX_SPARSE_SEGMENTS) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
    for (let i = 0; i < nums.length; i += 2) sp.map.push({ offset: nums[i]!, length: nums[i + 1]! });
  }

  /** PAX 1.0: decimal numbers, one per line (count, then offset/length pairs), padded to a block, at the start of the data. */
  private async sparseMap(sp: PendingSparse): Promise<void> {
    let remaining = Math.ceil(sp.dataSize / BLOCK) * BLOCK;
    for (;;) {
      if (this.avail < BLOCK && !(await this.fill(BLOCK))) throw this.endInSparse();
      const at = this.pos;
      sp.mapText.push(this.take(BLOCK));
      sp.mapBytes += BLOCK;
      remaining -= BLOCK;
      if (sp.mapBytes > MAX_LONG_HEADER || remaining < 0) throw layerInvalid(`Layer tar has a sparse map that is too large or longer than its entry at offset ${sp.at}`);
      const lines = Buffer.concat(sp.mapText).toString('latin1').split('\n');
      lines.pop(); // incomplete (or padding)
      if (lines.length === 0) continue;
      if (!/^[0-9]{1,9}$/.test(lines[0]!)) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
      const count = parseInt(lines[0]!, 10);
      if (lines.length < 1 + 2 * count) continue;
      const nums = lines.slice(1, 1 + 2 * count).map((l) => {
        if (!/^[0-9]{1,15}$/.test(l)) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
        return parseInt(l, 10);
      });
      this.setMap(sp, nums, at);
      sp.dataSize -= sp.mapBytes;
      if (sp.dataSize < 0) throw layerInvalid(`Layer tar has a sparse map longer than its entry at offset ${sp.at}`);
      return;
    }
  }

  /** Validate the map; the entry is the stored bytes, under the real name. */
  private emitSparse(sp: PendingSparse): TarEntry {
    let end = 0;
    let stored = 0;
    for (const s of sp.map) {
      if (s.offset < end || s.offset + s.length > sp.realSize) throw layerInvalid(`Layer tar has a sparse file whose map is out of order or beyond its size at offset ${sp.at}`);
      end = s.offset + s.length;
      stored += s.length;
    }
    if (stored !== sp.dataSize) throw layerInvalid(`Layer tar has a sparse file whose map covers ${stored} bytes but which stores ${sp.dataSize} at offset ${sp.at}`);
    const pax = new Map([...sp.pax].filter(([k]) => !k.startsWith('GNU.sparse.')));
    pax.set('path', sp.name);
    pax.set('size', Buffer.from(String(stored)));
    const b = sp.block;
    const name = sp.name.length > 0 ? sp.name.toString('utf8') : headerName(b);
    let type: TarEntryType = 'file';
    if (headerNameEndsInSlash(b)) {
      // read as a directory by its header's name: refused unless it stores nothing
      if (stored > 0) throw layerInvalid(`Layer tar is inconsistent at entry ${JSON.stringify(name)} (parsers disagree about its size or position)`);
      type = 'directory';
    }
    this.pendingExt = 0;
    this.startData(stored);
    return {
      name,
      type,
      linkname: b[157] === 0 ? null : field(b, 157, 100),
      mode: octField(b, 100, 8),
      uid: octField(b, 108, 8),
      gid: octField(b, 116, 8),
      size: stored,
      pax,
      sparse: { realSize: sp.realSize, map: sp.map },
    };
  }
}
