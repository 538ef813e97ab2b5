/**
 * Random access into an uncompressed tar file (oci-archive, `docker save`) without extracting it:
 * walk the 512-byte headers with positioned reads, skip data by offset, and keep
 * name → {offset, size, type, linkname}. Handles ustar `prefix`, GNU long names ('L'/'K'),
 * PAX extended headers ('x' per entry, 'g' global) for path/linkpath/size, base-256 sizes.
 * In-archive symlinks (legacy `docker save` `<id>/layer.tar -> ../<digest>.tar`) are resolved
 * inside the archive namespace only: absolute targets and `..` above the root are refused,
 * and at most 40 links are followed.
 */
import { promises as fsp, createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { AtomicError, isAtomicError, wrapError } from '../util/errors.js';
import { readStreamAtMost } from '../util/bounded-read.js';
import { BLOCK, checksumOk, cstring, parsePaxList, readHeader } from '../store/tar-header.js';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Normalized name: no leading './' or '/', no trailing '/', no empty components. */
  name: string;
  /** Byte offset of the entry's data in the archive. */
  offset: number;
  size: number;
  type: TarEntryType;
  linkname: string;
}

const MAX_META = 1024 * 1024; // PAX / GNU long-name payload cap
const MAX_ENTRIES = 1_000_000;
const MAX_LINKS = 40;

function invalid(file: string, problem: string): AtomicError {
  return new AtomicError('IMAGE_INVALID', `tar archive ${file}: ${problem}`, { ref: file, suggestions: ['The archive is corrupt or truncated; re-create it.'] });
}

const utf8 = (b: Buffer): string => b.toString('utf8');

/** PAX records as strings (path, linkpath and size are what the index reads). */
function parsePax(data: Buffer, file: string): Map<string, string> {
  const records = parsePaxList(data, (why) => invalid(file, why === 'key' ? 'malformed PAX record' : 'malformed PAX record length'));
  return new Map(records.map(([k, v]) => [k, utf8(v)]));
}

/** Normalize an in-archive name: strip './' and '/' prefixes, collapse '//' and '.' components. */
export function normalizeTarName(name: string): string {
  return name
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
}

const TYPES: Record<string, TarEntryType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '5': 'dir' };

export class TarIndex {
  readonly file: string;
  readonly entries: Map<string, TarEntry>;
  private constructor(file: string, entries: Map<string, TarEntry>) {
    this.file = file;
    this.entries = entries;
  }

  /** Index `file`; IMAGE_INVALID for a corrupt or truncated archive. */
  static async open(file: string): Promise<TarIndex> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (e) {
      throw wrapError(`open archive ${file}`, e);
    }
    try {
      return new TarIndex(file, await walk(fh, file));
    } catch (e) {
      if (isAtomicError(e)) throw e;
      throw wrapError(`read archive ${file}`, e);
    } finally {
      await fh.close();
    }
  }

  /**
   * Find an entry by name, following symlinks and hardlinks (also in parent components) inside the
   * archive. A link leaving the archive root → UNSAFE_PATH; missing → null; a loop or more than 40
   * links → UNSAFE_PATH.
   */
  resolve(name: string): TarEntry | null {
    let hops = 0;
    let pending = normalizeTarName(name).split('/').filter(Boolean);
    const done: string[] = [];
    while (pending.length > 0) {
      const comp = pending.shift()!;
      if (comp === '..') {
        if (done.length === 0) throw this.escape(name);
        done.pop();
        continue;
      }
      const cur = [...done, comp].join('/');
      const e = this.entries.get(cur);
      if (e && (e.type === 'symlink' || (e.type === 'hardlink' && pending.length === 0))) {
        if (++hops > MAX_LINKS) throw new AtomicError('UNSAFE_PATH', `tar archive ${this.file}: too many levels of links resolving "${name}"`, { ref: name });
        const target = e.linkname;
        if (target === '' ) throw invalid(this.file, `link "${cur}" has an empty target`);
        if (e.type === 'symlink' && target.startsWith('/')) throw this.escape(name, target);
        const parts = target.split('/').filter((c) => c !== '' && c !== '.');
        if (e.type === 'hardlink') {
          // hardlink names are relative to the archive root
          if (parts.includes('..')) throw this.escape(name, target);
          done.length = 0;
        }
        pending = [...parts, ...pending];
        continue;
      }
      if (pending.length > 0 && e && e.type !== 'dir') return null;
      done.push(comp);
    }
    const final = this.entries.get(done.join('/'));
    return final ?? null;
  }

  private escape(name: string, target?: string): AtomicError {
    return new AtomicError('UNSAFE_PATH', `tar archive ${this.file}: "${name}"${target !== undefined ? ` (link to "${target}")` : ''} points outside the archive`, {
      ref: name,
      suggestions: ['The archive is hostile or broken; do not use it.'],
    });
  }

  /** Resolve to a regular file entry or fail with IMAGE_INVALID / IMAGE_NOT_FOUND naming `what`. */
  requireFile(name: string, what: string): TarEntry {
    const e = this.resolve(name);
    if (!e) throw new AtomicError('IMAGE_NOT_FOUND', `${what} "${name}" is missing from archive ${this.file}`, { ref: name });
    if (e.type !== 'file') throw invalid(this.file, `${what} "${name}" is not a regular file`);
    return e;
  }

  /** Stream `length` bytes (default: all) of a file entry's data. */
  openEntry(e: TarEntry, length = e.size): NodeJS.ReadableStream {
    const n = Math.min(length, e.size);
    if (n <= 0) return Readable.from([]);
    return createReadStream(this.file, { start: e.offset, end: e.offset + n - 1, highWaterMark: 1024 * 1024 });
  }

  /** Read a whole (resolved) file entry, bounded by `limit` (IMAGE_TOO_LARGE naming `what`). */
  async readFile(name: string, limit: number, what: string): Promise<Buffer> {
    const e = this.requireFile(name, what);
    if (e.size > limit) {
      return readStreamAtMost(this.openEntry(e, limit + 1), limit, what);
    }
    return readStreamAtMost(this.openEntry(e), limit, what);
  }
}

async function walk(fh: fsp.FileHandle, file: string): Promise<Map<string, TarEntry>> {
  const { size: fileSize } = await fh.stat();
  const entries = new Map<string, TarEntry>();
  const header = Buffer.alloc(BLOCK);
  const global = new Map<string, string>();
  let pax: Map<string, string> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  let pos = 0;
  let count = 0;

  const readAt = async (buf: Buffer, at: number): Promise<number> => {
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, at + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off;
  };

  for (;;) {
    if (pos + BLOCK > fileSize) {
      // EOF without end-of-archive blocks, or right after an unpadded last entry, is tolerated
      // (umoci writes such archives; Go's archive/tar reads them) unless mid-header
      if (pos >= fileSize) break;
      throw invalid(file, `truncated header at offset ${pos}`);
    }
    await readAt(header, pos);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    if (!checksumOk(header)) throw invalid(file, `bad header checksum at offset ${pos}`);
    const h = readHeader(header);
    const typeflag = h.typeflag;
    let size = h.size;
    if (!Number.isSafeInteger(size) || size < 0) throw invalid(file, `bad size field at offset ${pos}`);
    const dataStart = pos + BLOCK;
    const ext = pax ?? new Map<string, string>();
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META) throw invalid(file, `extended header of ${size} bytes at offset ${pos} is too large`);
      if (dataStart + size > fileSize) throw invalid(file, `truncated extended header at offset ${pos}`);
      const data = Buffer.alloc(size);
      await readAt(data, dataStart);
      if (typeflag === 'x') pax = parsePax(data, file);
      else if (typeflag === 'g') for (const [k, v] of parsePax(data, file)) global.set(k, v);
      else if (typeflag === 'L') longName = utf8(cstring(data));
      else longLink = utf8(cstring(data));
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
      continue;
    }
    const attr = (k: string): string | undefined => ext.get(k) ?? global.get(k);
    let name = utf8(h.name);
    if (longName !== null) name = longName;
    const paxPath = attr('path');
    if (paxPath !== undefined) name = paxPath;
    let linkname = longLink ?? utf8(h.linkname);
    const paxLink = attr('linkpath');
    if (paxLink !== undefined) linkname = paxLink;
    const paxSize = attr('size');
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw invalid(file, `bad PAX size "${paxSize}" at offset ${pos}`);
      size = Number(paxSize);
    }
    pax = null;
    longName = null;
    longLink = null;
    // Go's rule (archive/tar): a type-'\0' entry whose final name ends in '/' is a directory.
    const type = typeflag === '\0' && name.endsWith('/') ? 'dir' : (TYPES[typeflag] ?? 'other');
    const dataSize = type === 'file' || type === 'other' ? size : 0;
    if (type === 'file' && dataStart + size > fileSize) throw invalid(file, `entry "${name}" is truncated (needs ${size} bytes at offset ${dataStart}, archive has ${fileSize})`);
    const norm = normalizeTarName(name);
    if (norm !== '') {
      if (++count > MAX_ENTRIES) throw invalid(file, `more than ${MAX_ENTRIES} entries`);
      entries.set(norm, { name: norm, offset: dataStart, size: type === 'file' ? size : 0, type, linkname });
    }
    pos = dataStart + Math.ceil(dataSize / BLOCK) * BLOCK;
  }
  return entries;
}
