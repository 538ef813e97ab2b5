/**
 * Validation of layer tar entry names, and a structural guard that walks the raw tar blocks
 * in front of the tar-stream parser.
 *
 * Name rules (normalizeEntryPath): leading `/` (repeated) and `./` (repeated) are dropped, as GNU
 * tar, bsdtar, umoci and containers/storage do, and trailing slashes are ignored; `/`, `.` and
 * `./` name the layer root. What remains must be a relative path of ordinary components: `..`,
 * `.` or empty components (`a//b`), NUL, invalid UTF-8 (ostree stores names as UTF-8 strings),
 * names over 4096 bytes, components over 255 bytes and paths deeper than MAX_DEPTH are refused
 * with UNSAFE_PATH (LAYER_INVALID for invalid UTF-8). Newline, CR and tab are ordinary bytes of a
 * name (ostree stores them; messages print names JSON-escaped).
 *
 * The guard (TarGuard) walks the raw tar blocks in front of the tar-stream parser. It tracks where
 * every header is, caps PAX / GNU long-name headers (MAX_LONG_HEADER), refuses entry types and
 * sizes where tar readers disagree (data on non-file entries, unknown types), stops at the
 * end-of-archive marker (two zero blocks), keeps the raw PAX records of each entry so that binary
 * xattr values (security.capability) survive (tar-stream decodes PAX values as UTF-8), and
 * normalizes what Go's archive/tar reads but tar-stream does not (see TarGuard).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { AtomicError } from '../util/errors.js';
import { cstring, decodeNumber, parsePaxList as parsePax, readHeader, setChecksum } from './tar-header.js';

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
  if (name.includes('\uFFFD')) {
    throw new AtomicError('LAYER_INVALID', `Refusing tar entry ${printable(name)}: its ${what} is not valid UTF-8, and an ostree store can only hold UTF-8 names`, { suggestions: ['Rename the file in the image to a UTF-8 name and rebuild it.'], ref: name });
  }
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) throw unsafe(name, `its ${what} is longer than ${MAX_PATH_BYTES} bytes`);
  let p = name;
  // Absolute names are taken relative to the image root (GNU tar "Removing leading `/'").
  while (p.startsWith('/') || p.startsWith('./')) p = p.startsWith('/') ? p.slice(1) : p.slice(2);
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

/** One data segment of a sparse file: `length` stored bytes that belong at `offset`. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** What the guard learned about one entry, keyed by the offset of its data in the guard's output. */
export interface GuardedEntry {
  /** Data size after PAX `size` (for a sparse file: the stored bytes, not the real size). */
  size: number;
  /** Raw PAX records (global merged with local), values as bytes. */
  pax: Map<string, Buffer>;
  /** Sparse files (GNU 'S', PAX 0.0/0.1/1.0): the real size and where the stored bytes go. */
  sparse?: { realSize: number; map: SparseSegment[] };
}

const REGULAR_FLAGS = new Set(['0', '\0', '7']);
const NO_DATA_FLAGS = new Set(['1', '2', '3', '4', '5', '6']);
const LONG_FLAGS = new Set(['x', 'g', 'L', 'K']);
const FLAG_NAMES: Record<string, string> = { D: 'GNU dump directory', M: 'GNU multi-volume continuation', V: 'volume label', N: 'GNU old long name' };
const MAX_SPARSE_SEGMENTS = 1_000_000;

/** PAX records in order, repeated keys kept (GNU sparse 0.0 repeats offset/numbytes). */
export function parsePaxList(buf: Buffer): Array<[string, Buffer]> {
  return parsePax(buf, (why) => layerInvalid(why === 'key' ? 'Layer tar has a malformed PAX extended header record (no key)' : 'Layer tar has a malformed PAX extended header record'));
}

export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  return new Map(parsePaxList(buf));
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A PAX 'x' header (block + padded body) carrying `records`. */
function paxHeader(records: Array<[string, Buffer]>): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const h = Buffer.alloc(512);
  h.write('PaxHeader', 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(body.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write('x', 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  setChecksum(h);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([h, body, pad]);
}

type GuardState = 'header' | 'long' | 'data' | 'sparse-ext' | 'sparse-map' | 'end';

interface Held {
  flag: string;
  raw: Buffer[];
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

/**
 * Transform over the uncompressed tar in front of tar-stream: validates the block structure,
 * records each entry's raw PAX records in `entries`, and normalizes what tar-stream would read
 * differently from Go's archive/tar (umoci, containers/storage) or cannot read:
 * - a type-'\0' entry is a directory iff its FINAL name (PAX path, GNU long name, ustar name)
 *   ends in '/'; a '0' entry is always a file (tar-stream looks at the ustar name only);
 * - sparse files (GNU 'S', PAX GNU.sparse 0.0/0.1/1.0) become a plain entry of the stored bytes
 *   with the real name; the map is in `entries` and the importer expands it to a dense file;
 * - a last entry without its padding and a missing end-of-archive marker are completed.
 * onBytes sees the original bytes (the diff_id is computed over them).
 */
export class TarGuard extends Transform {
  readonly entries = new Map<number, GuardedEntry>();
  private buf: Buffer = Buffer.alloc(0);
  private offset = 0; // absolute input offset of buf[0]
  private outOffset = 0;
  private out: Buffer[] = [];
  private state: GuardState = 'header';
  private remaining = 0; // bytes of data (incl. padding) or long header still to pass
  private pad = 0; // padding bytes included in `remaining` (data state)
  private longFlag = '';
  private longParts: Buffer[] = [];
  private longSize = 0;
  private localPax: Array<[string, Buffer]> | null = null;
  private longName: Buffer | null = null;
  private held: Held[] = [];
  private globalPax = new Map<string, Buffer>();
  private zeroBlocks = 0;
  private sparse: PendingSparse | null = null;

  constructor(private readonly onBytes: (chunk: Buffer) => void) {
    super();
  }

  private emit1(b: Buffer): void {
    this.out.push(b);
    this.outOffset += b.length;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.onBytes(chunk);
      if (this.state === 'end') return cb();
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      let pos = 0;
      while (pos < this.buf.length && (this.state as GuardState) !== 'end') {
        if (this.state === 'data') {
          const n = Math.min(this.remaining, this.buf.length - pos);
          this.emit1(this.buf.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'header';
        } else if (this.state === 'long') {
          const n = Math.min(this.remaining, this.buf.length - pos);
          this.longParts.push(this.buf.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finishLong();
        } else {
          if (this.buf.length - pos < 512) break;
          const block = this.buf.subarray(pos, pos + 512);
          const at = this.offset + pos;
          pos += 512;
          if (this.state === 'sparse-ext') this.sparseExt(block, at);
          else if (this.state === 'sparse-map') this.sparseMap(block, at);
          else this.header(block, at);
        }
      }
      this.offset += pos;
      this.buf = pos < this.buf.length ? Buffer.from(this.buf.subarray(pos)) : Buffer.alloc(0);
      if ((this.state as GuardState) === 'end') this.buf = Buffer.alloc(0);
      this.flushOut();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  private flushOut(): void {
    for (const b of this.out) this.push(b);
    this.out = [];
  }

  override _flush(cb: TransformCallback): void {
    const truncated = (msg: string) => cb(layerInvalid(`Layer tar is truncated: it ends ${msg}`, 'Pull the image again; the blob may be truncated.'));
    if (this.state === 'end') return cb();
    if (this.state === 'long' || this.localPax || this.longName || this.held.some((h) => h.flag !== 'g')) return cb(layerInvalid('Layer tar ends inside an extended header (truncated layer)', 'Pull the image again; the blob may be truncated.'));
    if (this.state === 'sparse-ext' || this.state === 'sparse-map') return truncated(`inside the header of a sparse file at offset ${this.offset}`);
    if (this.state === 'data') {
      // Complete data without its padding (umoci's last entry): pad it, as Go's reader accepts it.
      if (this.remaining > this.pad) return truncated(`in the middle of an entry at offset ${this.offset}`);
      this.emit1(Buffer.alloc(this.remaining));
      this.remaining = 0;
      this.state = 'header';
    }
    if (this.buf.length > 0 && !this.buf.every((b) => b === 0)) return truncated(`in the middle of a header block at offset ${this.offset}`);
    for (const h of this.held) for (const b of h.raw) this.emit1(b);
    this.held = [];
    // Missing end-of-archive blocks (or only one): supply them.
    this.emit1(Buffer.alloc(512 * Math.max(0, 2 - this.zeroBlocks)));
    this.flushOut();
    cb();
  }

  private header(block: Buffer, at: number): void {
    if (block.every((b) => b === 0)) {
      if (this.localPax || this.longName || this.held.some((h) => h.flag !== 'g')) throw layerInvalid('Layer tar has an extended header followed by an empty block');
      for (const h of this.held) for (const b of h.raw) this.emit1(b);
      this.held = [];
      this.zeroBlocks++;
      this.emit1(block);
      if (this.zeroBlocks >= 2) this.state = 'end';
      return;
    }
    if (this.zeroBlocks > 0) throw layerInvalid(`Layer tar has data after an end-of-archive block at offset ${at}`);
    const header = readHeader(block);
    const flag = header.typeflag;
    const size = header.size;
    if (!Number.isSafeInteger(size) || size < 0) throw layerInvalid(`Layer tar has an invalid size field in the header at offset ${at}`);
    if (LONG_FLAGS.has(flag)) {
      if (size > MAX_LONG_HEADER) {
        throw layerInvalid(`Layer tar has a ${flag === 'x' || flag === 'g' ? 'PAX' : 'GNU long-name'} header of ${size} bytes at offset ${at} (limit ${MAX_LONG_HEADER})`);
      }
      if (flag === 'x' && this.localPax) throw layerInvalid(`Layer tar has two PAX headers in a row at offset ${at}`);
      this.longFlag = flag;
      this.longSize = size;
      this.longParts = [];
      this.held.push({ flag, raw: [Buffer.from(block)] });
      this.remaining = Math.ceil(size / 512) * 512;
      this.state = this.remaining > 0 ? 'long' : 'header';
      if (this.remaining === 0) this.finishLong();
      return;
    }
    this.longFlag = '';
    const localList = this.localPax ?? [];
    const pax = new Map([...this.globalPax, ...localList]);
    this.localPax = null;
    const longName = this.longName;
    this.longName = null;
    let dataSize = size;
    const paxSize = pax.get('size');
    if (paxSize !== undefined) {
      const s = paxSize.toString('latin1');
      if (!/^[0-9]{1,15}$/.test(s)) throw layerInvalid(`Layer tar has an invalid PAX size ${JSON.stringify(s.slice(0, 40))} at offset ${at}`);
      dataSize = parseInt(s, 10);
    }
    const ustarName = header.name;
    const finalName = pax.get('path') ?? longName ?? ustarName;

    // Sparse files.
    const paxSparse = [...pax.keys()].some((k) => k.startsWith('GNU.sparse.'));
    if (flag === 'S' || paxSparse) {
      if (flag === 'S') return this.gnuSparse(block, at, pax, finalName, dataSize);
      if (!REGULAR_FLAGS.has(flag)) throw layerInvalid(`Layer tar has GNU sparse records on a non-file entry at offset ${at}`);
      return this.paxSparse(block, at, pax, localList, finalName, dataSize);
    }

    // Go's rule: only a type-'\0' entry is a directory by its (final) name.
    const ourDir = flag === '\0' && finalName.length > 0 && finalName[finalName.length - 1] === 47;
    const tsDir = (flag === '\0' || flag === '0') && ustarName.length > 0 && ustarName[ustarName.length - 1] === 47;
    let hdr = block;
    if (ourDir !== tsDir) {
      hdr = Buffer.from(block);
      hdr[156] = ourDir ? 0x35 /* '5' */ : 0x37; /* '7': a regular file tar-stream will not call a directory */
      setChecksum(hdr);
    }
    if (REGULAR_FLAGS.has(flag) && !ourDir) {
      this.remaining = Math.ceil(dataSize / 512) * 512;
      this.pad = this.remaining - dataSize;
    } else if (NO_DATA_FLAGS.has(flag) || ourDir) {
      if (dataSize !== 0) throw layerInvalid(`Layer tar has a ${ourDir || flag === '5' ? 'directory' : 'link or special'} entry carrying ${dataSize} bytes of data at offset ${at}`);
      this.remaining = 0;
    } else {
      const what = FLAG_NAMES[flag] ?? `type ${JSON.stringify(flag)}`;
      throw layerInvalid(`Layer tar has an unsupported entry (${what}) at offset ${at}`);
    }
    for (const h of this.held) for (const b of h.raw) this.emit1(b);
    this.held = [];
    this.emit1(hdr);
    this.entries.set(this.outOffset, { size: dataSize, pax });
    this.state = this.remaining > 0 ? 'data' : 'header';
  }

  /** Old GNU sparse ('S'): 4 map slots in the header, more in extension blocks. */
  private gnuSparse(block: Buffer, at: number, pax: Map<string, Buffer>, name: Buffer, dataSize: number): void {
    const realSize = decodeNumber(block, 483, 12);
    if (!Number.isSafeInteger(realSize) || realSize < 0) throw layerInvalid(`Layer tar has a GNU sparse file with an invalid real size at offset ${at}`);
    this.sparse = { block: Buffer.from(block), at, pax, name, realSize, map: [], dataSize, mapText: [], mapBytes: 0 };
    this.readSlots(block, 386, 4, at);
    if (block[482] !== 0) this.state = 'sparse-ext';
    else this.emitSparse();
  }

  private readSlots(block: Buffer, off: number, n: number, at: number): void {
    for (let i = 0; i < n; i++) {
      const o = off + i * 24;
      if (block[o] === 0) continue;
      const offset = decodeNumber(block, o, 12);
      const length = decodeNumber(block, o + 12, 12);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
      this.sparse!.map.push({ offset, length });
    }
    if (this.sparse!.map.length > MAX_SPARSE_SEGMENTS) throw layerInvalid(`Layer tar has a sparse file with more than ${MAX_SPARSE_SEGMENTS} segments at offset ${at}`);
  }

  private sparseExt(block: Buffer, at: number): void {
    this.readSlots(block, 0, 21, at);
    if (block[504] === 0) this.emitSparse();
  }

  /** PAX GNU.sparse 0.0 (repeated offset/numbytes), 0.1 (map) or 1.0 (map at the start of the data). */
  private paxSparse(block: Buffer, at: number, pax: Map<string, Buffer>, local: Array<[string, Buffer]>, name: Buffer, dataSize: number): void {
    const str = (k: string) => pax.get(k)?.toString('latin1');
    const num = (s: string | undefined, what: string): number => {
      if (s === undefined || !/^[0-9]{1,15}$/.test(s)) throw layerInvalid(`Layer tar has a sparse file with an invalid ${what} at offset ${at}`);
      return parseInt(s, 10);
    };
    const major = str('GNU.sparse.major');
    const minor = str('GNU.sparse.minor');
    const realName = pax.get('GNU.sparse.name') ?? name;
    const realSize = num(str('GNU.sparse.realsize') ?? str('GNU.sparse.size'), 'real size');
    this.sparse = { block: Buffer.from(block), at, pax, name: realName, realSize, map: [], dataSize, mapText: [], mapBytes: 0 };
    if (major === '1' && minor === '0') {
      this.state = 'sparse-map';
      this.remaining = Math.ceil(dataSize / 512) * 512;
      return;
    }
    if (major !== undefined && !(major === '0' && (minor === '0' || minor === '1'))) throw layerInvalid(`Layer tar has a sparse file in the unknown format ${major}.${minor ?? '?'} at offset ${at}`);
    const nums: number[] = [];
    const map = str('GNU.sparse.map');
    if (map !== undefined) {
      if (map !== '') for (const x of map.split(',')) nums.push(num(x, 'map'));
    } else {
      for (const [k, v] of local) if (k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes') nums.push(num(v.toString('latin1'), 'map'));
    }
    this.setMap(nums, at);
    this.emitSparse();
  }

  private setMap(nums: number[], at: number): void {
    if (nums.length % 2 !== 0 || nums.length / 2 > MAX_SPARSE_SEGMENTS) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
    for (let i = 0; i < nums.length; i += 2) this.sparse!.map.push({ offset: nums[i], length: nums[i + 1] });
  }

  /** PAX 1.0: decimal numbers, one per line (count, then offset/length pairs), padded to a block. */
  private sparseMap(block: Buffer, at: number): void {
    const sp = this.sparse!;
    sp.mapText.push(block);
    sp.mapBytes += 512;
    this.remaining -= 512;
    if (sp.mapBytes > MAX_LONG_HEADER || this.remaining < 0) throw layerInvalid(`Layer tar has a sparse map that is too large or longer than its entry at offset ${sp.at}`);
    const text = Buffer.concat(sp.mapText).toString('latin1');
    const lines = text.split('\n');
    lines.pop(); // incomplete (or padding)
    if (lines.length === 0) return;
    if (!/^[0-9]{1,9}$/.test(lines[0])) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
    const count = parseInt(lines[0], 10);
    if (lines.length < 1 + 2 * count) return;
    const nums = lines.slice(1, 1 + 2 * count).map((l) => {
      if (!/^[0-9]{1,15}$/.test(l)) throw layerInvalid(`Layer tar has a corrupt sparse map at offset ${at}`);
      return parseInt(l, 10);
    });
    this.setMap(nums, at);
    sp.dataSize -= sp.mapBytes;
    if (sp.dataSize < 0) throw layerInvalid(`Layer tar has a sparse map longer than its entry at offset ${sp.at}`);
    this.emitSparse();
  }

  /** Validate the map and emit a plain entry of the stored bytes (a PAX header with the real name). */
  private emitSparse(): void {
    const sp = this.sparse!;
    this.sparse = null;
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
    // Global records are already with tar-stream; the held local ones are replaced.
    for (const h of this.held) if (h.flag === 'g') for (const b of h.raw) this.emit1(b);
    this.held = [];
    this.emit1(paxHeader([['path', sp.name], ['size', Buffer.from(String(stored))]]));
    const hdr = sp.block;
    hdr[156] = 0x30; // '0'
    hdr.write('00000000000\0', 124, 'latin1');
    setChecksum(hdr);
    this.emit1(hdr);
    this.entries.set(this.outOffset, { size: stored, pax, sparse: { realSize: sp.realSize, map: sp.map } });
    const left = Math.ceil(sp.dataSize / 512) * 512;
    // PAX 1.0: `remaining` already counts the map blocks out; 'S' / 0.x: the data follows.
    this.remaining = left;
    this.pad = left - sp.dataSize;
    this.state = left > 0 ? 'data' : 'header';
  }

  private finishLong(): void {
    const body = Buffer.concat(this.longParts).subarray(0, this.longSize);
    const held = this.held[this.held.length - 1];
    held.raw.push(...this.longParts);
    this.longParts = [];
    this.state = 'header';
    if (this.longFlag === 'x') this.localPax = parsePaxList(body);
    else if (this.longFlag === 'g') {
      const g = parsePaxRecords(body);
      for (const k of ['path', 'linkpath', 'size']) {
        if (g.has(k)) throw layerInvalid(`Layer tar has a global PAX header setting "${k}", which is not supported`);
      }
      for (const [k, v] of g) this.globalPax.set(k, v);
    } else if (this.longFlag === 'L') this.longName = Buffer.from(cstring(body));
    // K bodies are applied by tar-stream; the guard only enforced their size.
  }
}
