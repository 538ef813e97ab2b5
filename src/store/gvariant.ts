/**
 * GVariant serialization (normal form), generic over type strings: fixed-size basic types
 * (b y n q i u h x t d), strings (s o g), arrays (a…, `ay` as Buffer), dict entries ({…}),
 * tuples ((…)), variants (v) and maybes (m…).
 *
 * Integers are big-endian by default: ostree byte-swaps every integer it puts into its
 * metadata variants (uid/gid/mode, timestamps) before handing them to GLib on little-endian
 * hosts. Framing offsets are always little-endian (GVariant's own format).
 *
 * JS representation: b → boolean; y n q i u h d → number; x t → bigint; s o g → string;
 * ay → Buffer; a<T> → T[]; {KV} and (…) → arrays of members; v → { type, value }; m<T> → null | T.
 */
import { isUtf8 } from 'node:buffer';

export class GVariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GVariantError';
  }
}

export interface GType {
  readonly sig: string;
  readonly code: string; // first character
  readonly fixedSize: number | null;
  readonly align: number;
  readonly elem?: GType; // a, m
  readonly members?: GType[]; // (, {
}

export interface GVariantOptions {
  /** Integer byte order inside values (default false: big-endian, the ostree convention). */
  littleEndian?: boolean;
}

export interface GVariantValue {
  type: string;
  value: unknown;
}

const FIXED: Record<string, number> = { b: 1, y: 1, n: 2, q: 2, i: 4, u: 4, h: 4, x: 8, t: 8, d: 8 };

const typeCache = new Map<string, GType>();

/** Parse one complete type string (cached). */
export function parseType(sig: string): GType {
  let t = typeCache.get(sig);
  if (t) return t;
  const [parsed, end] = parseAt(sig, 0);
  if (end !== sig.length) throw new GVariantError(`invalid GVariant type string "${sig}"`);
  t = parsed;
  typeCache.set(sig, t);
  return t;
}

function parseAt(sig: string, i: number): [GType, number] {
  const c = sig[i];
  if (c === undefined) throw new GVariantError(`truncated GVariant type string "${sig}"`);
  if (c in FIXED) return [{ sig: c, code: c, fixedSize: FIXED[c]!, align: FIXED[c]! }, i + 1];
  if (c === 's' || c === 'o' || c === 'g') return [{ sig: c, code: c, fixedSize: null, align: 1 }, i + 1];
  if (c === 'v') return [{ sig: c, code: c, fixedSize: null, align: 8 }, i + 1];
  if (c === 'a' || c === 'm') {
    const [elem, end] = parseAt(sig, i + 1);
    return [{ sig: sig.slice(i, end), code: c, fixedSize: null, align: elem.align, elem }, end];
  }
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    const members: GType[] = [];
    let j = i + 1;
    while (sig[j] !== close) {
      if (j >= sig.length) throw new GVariantError(`unterminated container in GVariant type "${sig}"`);
      const [m, end] = parseAt(sig, j);
      members.push(m);
      j = end;
    }
    if (c === '{' && members.length !== 2) throw new GVariantError(`dict entry must have 2 members in "${sig}"`);
    const align = members.reduce((a, m) => Math.max(a, m.align), 1);
    let fixedSize: number | null = 0;
    for (const m of members) {
      if (m.fixedSize === null) {
        fixedSize = null;
        break;
      }
      fixedSize = alignUp(fixedSize, m.align) + m.fixedSize;
    }
    if (fixedSize !== null) fixedSize = fixedSize === 0 ? 1 : alignUp(fixedSize, align);
    return [{ sig: sig.slice(i, j + 1), code: c, fixedSize, align, members }, j + 1];
  }
  throw new GVariantError(`unsupported GVariant type character "${c}" in "${sig}"`);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function offsetWidthFor(bodyLen: number, count: number): number {
  for (const [w, lim] of [[1, 0xff], [2, 0xffff], [4, 0xffffffff]] as const) {
    if (bodyLen + count * w <= lim) return w;
  }
  return 8;
}

function offsetWidthOfTotal(total: number): number {
  if (total === 0) return 0;
  if (total <= 0xff) return 1;
  if (total <= 0xffff) return 2;
  if (total <= 0xffffffff) return 4;
  return 8;
}

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.pos);
    this.buf = nb;
  }
  pad(align: number): void {
    while (this.pos % align !== 0) {
      this.ensure(1);
      this.buf[this.pos++] = 0;
    }
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  utf8z(s: string): void {
    const len = Buffer.byteLength(s);
    this.ensure(len + 1);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += len;
    this.buf[this.pos++] = 0;
  }
  uint(v: number, w: number): void {
    this.ensure(w);
    if (w === 8) this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    else this.buf.writeUIntLE(v, this.pos, w);
    this.pos += w;
  }
}

/** Serialize `value` as type `sig`. */
export function serialize(sig: string, value: unknown, opts: GVariantOptions = {}): Buffer {
  const w = new Writer();
  write(parseType(sig), value, w, opts.littleEndian === true);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

function bad(t: GType, v: unknown): GVariantError {
  const shown = typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)?.slice(0, 60);
  return new GVariantError(`value ${shown} does not fit GVariant type "${t.sig}"`);
}

function writeFixed(t: GType, v: unknown, w: Writer, le: boolean): void {
  const c = t.code;
  w.ensure(t.fixedSize!);
  const b = w.buf;
  const p = w.pos;
  if (c === 'b') {
    if (typeof v !== 'boolean') throw bad(t, v);
    b[p] = v ? 1 : 0;
  } else if (c === 'x' || c === 't') {
    if (typeof v !== 'bigint' && typeof v !== 'number') throw bad(t, v);
    const bv = BigInt(v);
    if (c === 't') le ? b.writeBigUInt64LE(bv, p) : b.writeBigUInt64BE(bv, p);
    else le ? b.writeBigInt64LE(bv, p) : b.writeBigInt64BE(bv, p);
  } else if (c === 'd') {
    if (typeof v !== 'number') throw bad(t, v);
    le ? b.writeDoubleLE(v, p) : b.writeDoubleBE(v, p);
  } else {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(t, v);
    const size = t.fixedSize!;
    const signed = c === 'n' || c === 'i' || c === 'h';
    try {
      if (signed) le ? b.writeIntLE(v, p, size) : b.writeIntBE(v, p, size);
      else le ? b.writeUIntLE(v, p, size) : b.writeUIntBE(v, p, size);
    } catch {
      throw bad(t, v);
    }
  }
  w.pos += t.fixedSize!;
}

function write(t: GType, v: unknown, w: Writer, le: boolean): void {
  switch (t.code) {
    case 's':
    case 'o':
    case 'g':
      if (typeof v !== 'string') throw bad(t, v);
      if (v.includes('\0')) throw new GVariantError(`string for GVariant "${t.sig}" contains a NUL byte`);
      w.utf8z(v);
      return;
    case 'v': {
      const vv = v as GVariantValue;
      if (!vv || typeof vv.type !== 'string') throw bad(t, v);
      write(parseType(vv.type), vv.value, w, le);
      w.ensure(1 + vv.type.length);
      w.buf[w.pos++] = 0;
      w.pos += w.buf.write(vv.type, w.pos, 'latin1');
      return;
    }
    case 'm': {
      if (v === null || v === undefined) return;
      write(t.elem!, v, w, le);
      if (t.elem!.fixedSize === null) {
        w.ensure(1);
        w.buf[w.pos++] = 0;
      }
      return;
    }
    case 'a': {
      const et = t.elem!;
      if (et.code === 'y') {
        if (!(v instanceof Uint8Array)) throw bad(t, v);
        w.bytes(v);
        return;
      }
      if (!Array.isArray(v)) throw bad(t, v);
      const start = w.pos;
      const ends: number[] = [];
      for (const e of v) {
        w.pad(et.align);
        write(et, e, w, le);
        ends.push(w.pos - start);
      }
      if (et.fixedSize !== null || v.length === 0) return;
      const ow = offsetWidthFor(w.pos - start, ends.length);
      for (const e of ends) w.uint(e, ow);
      return;
    }
    case '(':
    case '{': {
      const members = t.members!;
      if (!Array.isArray(v) || v.length !== members.length) throw bad(t, v);
      if (members.length === 0) {
        w.ensure(1);
        w.buf[w.pos++] = 0;
        return;
      }
      const start = w.pos;
      const ends: number[] = [];
      members.forEach((mt, k) => {
        w.pad(mt.align);
        write(mt, v[k], w, le);
        if (mt.fixedSize === null && k !== members.length - 1) ends.push(w.pos - start);
      });
      if (t.fixedSize !== null) {
        w.pad(t.align);
        return;
      }
      if (ends.length) {
        const ow = offsetWidthFor(w.pos - start, ends.length);
        for (let k = ends.length - 1; k >= 0; k--) w.uint(ends[k]!, ow);
      }
      return;
    }
    default:
      writeFixed(t, v, w, le);
  }
}

/** Deserialize `data` as type `sig` (strict: malformed framing throws GVariantError). */
export function deserialize(sig: string, data: Uint8Array, opts: GVariantOptions = {}): unknown {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return read(parseType(sig), b, 0, b.length, opts.littleEndian === true);
}

function readOffset(b: Buffer, p: number, w: number): number {
  if (w === 8) return Number(b.readBigUInt64LE(p));
  return b.readUIntLE(p, w);
}

function corrupt(t: GType, why: string): GVariantError {
  return new GVariantError(`malformed GVariant "${t.sig}": ${why}`);
}

/** Read the value of type `t` framed as b[s, e) (one case per GVariant type class, below). */
function read(t: GType, b: Buffer, s: number, e: number, le: boolean): unknown {
  const len = e - s;
  if (len < 0) throw corrupt(t, 'negative length');
  switch (t.code) {
    case 'b':
    case 'y':
    case 'n':
    case 'q':
    case 'i':
    case 'u':
    case 'h':
    case 'x':
    case 't':
    case 'd':
      return readNumber(t, b, s, len, le);
    case 's':
    case 'o':
    case 'g':
      return readString(t, b, s, e);
    case 'v':
      return readVariant(t, b, s, e, le);
    case 'm':
      return readMaybe(t, b, s, e, le);
    case 'a':
      return readArray(t, b, s, e, le);
    case '(':
    case '{':
      return readTuple(t, b, s, e, le);
    default:
      throw corrupt(t, 'unsupported type');
  }
}

/** Booleans and the fixed-size numbers: the frame must be exactly the type's size. */
function readNumber(t: GType, b: Buffer, s: number, len: number, le: boolean): unknown {
  switch (t.code) {
    case 'b':
      if (len !== 1) throw corrupt(t, `size ${len}`);
      return b[s] !== 0;
    case 'x':
      if (len !== 8) throw corrupt(t, `size ${len}`);
      return le ? b.readBigInt64LE(s) : b.readBigInt64BE(s);
    case 't':
      if (len !== 8) throw corrupt(t, `size ${len}`);
      return le ? b.readBigUInt64LE(s) : b.readBigUInt64BE(s);
    case 'd':
      if (len !== 8) throw corrupt(t, `size ${len}`);
      return le ? b.readDoubleLE(s) : b.readDoubleBE(s);
    default: {
      // y n q i u h
      if (len !== t.fixedSize) throw corrupt(t, `size ${len}`);
      const signed = t.code === 'n' || t.code === 'i' || t.code === 'h';
      if (signed) return le ? b.readIntLE(s, len) : b.readIntBE(s, len);
      return le ? b.readUIntLE(s, len) : b.readUIntBE(s, len);
    }
  }
}

/** s, o, g: NUL-terminated valid UTF-8 without an embedded NUL. */
function readString(t: GType, b: Buffer, s: number, e: number): string {
  if (e - s === 0 || b[e - 1] !== 0) throw corrupt(t, 'string not NUL-terminated');
  const str = b.toString('utf8', s, e - 1);
  if (str.includes('\0')) throw corrupt(t, 'embedded NUL in string');
  // GVariant strings are UTF-8 (a non-normal variant otherwise); toString() would hide bad bytes as U+FFFD
  if (str.includes('\uFFFD') && !isUtf8(b.subarray(s, e - 1))) throw corrupt(t, 'string is not valid UTF-8');
  return str;
}

/** v: the value, a NUL, then its type signature. */
function readVariant(t: GType, b: Buffer, s: number, e: number, le: boolean): GVariantValue {
  const z = b.lastIndexOf(0, e - 1);
  if (z < s) throw corrupt(t, 'variant without type separator');
  const vt = b.toString('latin1', z + 1, e);
  return { type: vt, value: read(parseType(vt), b, s, z, le) } satisfies GVariantValue;
}

/** m: empty is Nothing; a variable-size element carries a trailing NUL. */
function readMaybe(t: GType, b: Buffer, s: number, e: number, le: boolean): unknown {
  if (e - s === 0) return null;
  const et = t.elem!;
  if (et.fixedSize !== null) return read(et, b, s, e, le);
  if (b[e - 1] !== 0) throw corrupt(t, 'maybe without trailing NUL');
  return read(et, b, s, e - 1, le);
}

/** a: `ay` as a Buffer; fixed-size elements back to back; else framing offsets at the end. */
function readArray(t: GType, b: Buffer, s: number, e: number, le: boolean): unknown {
  const len = e - s;
  const et = t.elem!;
  if (et.code === 'y') return Buffer.from(b.subarray(s, e));
  if (len === 0) return [];
  if (et.fixedSize !== null) {
    if (len % et.fixedSize !== 0) throw corrupt(t, `size ${len} not a multiple of ${et.fixedSize}`);
    const out: unknown[] = [];
    for (let p = s; p < e; p += et.fixedSize) out.push(read(et, b, p, p + et.fixedSize, le));
    return out;
  }
  const w = offsetWidthOfTotal(len);
  const lastEnd = readOffset(b, e - w, w);
  if (lastEnd > len || (len - lastEnd) % w !== 0) throw corrupt(t, 'bad framing offset');
  const n = (len - lastEnd) / w;
  const out: unknown[] = [];
  let start = 0;
  for (let k = 0; k < n; k++) {
    const end = readOffset(b, s + lastEnd + k * w, w);
    start = alignUp(start, et.align);
    if (end < start || end > lastEnd) throw corrupt(t, 'element offset out of range');
    out.push(read(et, b, s + start, s + end, le));
    start = end;
  }
  return out;
}

/** ( ) and { }: members aligned in order; each variable-size member but the last has an offset, from the end backwards. */
function readTuple(t: GType, b: Buffer, s: number, e: number, le: boolean): unknown[] {
  const len = e - s;
  const members = t.members!;
  if (members.length === 0) {
    if (len !== 1) throw corrupt(t, 'unit tuple must be 1 byte');
    return [];
  }
  if (t.fixedSize !== null && len !== t.fixedSize) throw corrupt(t, `size ${len}, expected ${t.fixedSize}`);
  const w = offsetWidthOfTotal(len);
  const out: unknown[] = [];
  let pos = 0;
  let oi = 0;
  members.forEach((mt, k) => {
    pos = alignUp(pos, mt.align);
    let end: number;
    if (mt.fixedSize !== null) end = pos + mt.fixedSize;
    else if (k === members.length - 1) end = len - oi * w;
    else {
      oi++;
      if (oi * w > len) throw corrupt(t, 'missing framing offsets');
      end = readOffset(b, e - oi * w, w);
    }
    if (end < pos || end > len - oi * w) throw corrupt(t, `member ${k} out of range`);
    out.push(read(mt, b, s + pos, s + end, le));
    pos = end;
  });
  return out;
}
