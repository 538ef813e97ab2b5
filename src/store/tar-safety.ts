/**
 * Validation of layer tar entry names (and the PAX record reader shared with tar-reader.ts,
 * which applies the block-structure rules of a layer tar).
 *
 * Name rules (normalizeEntryPath): leading `/` (repeated) and `./` (repeated) are dropped, as GNU
 * tar, bsdtar, umoci and containers/storage do, and trailing slashes are ignored; `/`, `.` and
 * `./` name the layer root. What remains must be a relative path of ordinary components: `..`,
 * `.` or empty components (`a//b`), NUL, invalid UTF-8 (ostree stores names as UTF-8 strings),
 * names over 4096 bytes, components over 255 bytes and paths deeper than MAX_DEPTH are refused
 * with UNSAFE_PATH (LAYER_INVALID for invalid UTF-8). Newline, CR and tab are ordinary bytes of a
 * name (ostree stores them; messages print names JSON-escaped).
 */
import { AtomicError } from '../util/errors.js';
import { parsePaxList as parsePax } from './tar-header.js';

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
    throw new AtomicError('LAYER_INVALID', `Refusing tar entry ${printable(name)}: its ${what} is not valid UTF-8, and an ostree store can only hold UTF-8 names`, {
      suggestions: ['Rename the file in the image to a UTF-8 name and rebuild it.'],
      ref: name,
    });
  }
  // (a UTF-16 code unit is at most 3 UTF-8 bytes: short strings need no byte count)
  if (name.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(name) > MAX_PATH_BYTES) throw unsafe(name, `its ${what} is longer than ${MAX_PATH_BYTES} bytes`);
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
    if (c.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(c) > MAX_NAME_BYTES) throw unsafe(name, `a component of its ${what} is longer than ${MAX_NAME_BYTES} bytes`);
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

/** PAX records in order, repeated keys kept (GNU sparse 0.0 repeats offset/numbytes). */
export function parsePaxList(buf: Buffer): Array<[string, Buffer]> {
  return parsePax(buf, (why) =>
    layerInvalid(why === 'key' ? 'Layer tar has a malformed PAX extended header record (no key)' : 'Layer tar has a malformed PAX extended header record'),
  );
}

export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  return new Map(parsePaxList(buf));
}
