/**
 * Encoding, decoding and checksumming of OSTree objects, byte-compatible with libostree:
 *  - content objects: checksum = sha256(u32be(len) ‖ 4×0 ‖ `(uuuusa(ayay))` header ‖ content)
 *  - dirmeta `(uuua(ayay))`, dirtree `(a(say)a(sayay))`, commit `(a{sv}aya(say)sstayay)`,
 *    commitmeta `a{sv}`; metadata objects are named by sha256 of their bytes
 *  - bare-user `user.ostreemeta` xattr `(uuua(ayay))`; archive `.filez` header `(tuuuusa(ayay))`
 * uid/gid/mode/size/timestamp are big-endian, as ostree writes them.
 */
import { createHash, hash, type Hash } from 'node:crypto';
import { deserialize, serialize, GVariantError } from './gvariant.js';
import { AtomicError } from '../util/errors.js';
import { CHECKSUM_RE, S_IFMT, S_IFLNK, S_IFREG } from './constants.js';
import type { Checksum, Commit, DirMeta, DirTree, FileMeta, Metadata, Variant, Xattr } from './types.js';

export const FILE_HEADER_TYPE = '(uuuusa(ayay))';
export const ARCHIVE_HEADER_TYPE = '(tuuuusa(ayay))';
export const DIRMETA_TYPE = '(uuua(ayay))';
export const DIRTREE_TYPE = '(a(say)a(sayay))';
export const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';
export const METADATA_TYPE = 'a{sv}';

export function sha256Hex(data: Uint8Array): Checksum {
  // one-shot: Node 20's createHash looks the digest up again for every Hash object (~6x the
  // CPU of this call for a small dirtree/dirmeta, measured in a fresh process)
  return hash('sha256', data, 'hex') as Checksum;
}

export function isChecksum(s: string): s is Checksum {
  return CHECKSUM_RE.test(s);
}

export function checksumToBytes(c: Checksum | string): Buffer {
  if (!CHECKSUM_RE.test(c)) throw new AtomicError('STORE_CORRUPT', `invalid object checksum "${c}"`);
  return Buffer.from(c, 'hex');
}

function bytesToChecksum(b: Buffer, what: string): Checksum {
  if (b.length !== 32) throw new AtomicError('STORE_CORRUPT', `${what}: checksum has ${b.length} bytes, expected 32`);
  return b.toString('hex') as Checksum;
}

/** Compare two byte strings like strcmp/memcmp (the order ostree uses for names). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Xattrs as `a(ayay)` members: name with its trailing NUL, sorted by name bytes. */
function xattrsToVariant(xattrs: readonly Xattr[]): Array<[Buffer, Buffer]> {
  if (xattrs.length === 0) return [];
  const out = xattrs.map((x) => [Buffer.from(x.name + '\0', 'utf8'), Buffer.from(x.value)] as [Buffer, Buffer]);
  out.sort((a, b) => Buffer.compare(a[0], b[0]));
  return out;
}

function xattrsFromVariant(v: Array<[Buffer, Buffer]>): Xattr[] {
  return v.map(([n, value]) => {
    const name = n.length && n[n.length - 1] === 0 ? n.subarray(0, n.length - 1) : n;
    return { name: name.toString('utf8'), value };
  });
}

function decodeOrCorrupt<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GVariantError)
      throw new AtomicError('STORE_CORRUPT', `${what}: ${e.message}`, { cause: e, suggestions: ['Run `ostree fsck` on the repository; remove the image and pull it again.'] });
    throw e;
  }
}

// ---------------------------------------------------------------- content objects

/** The serialized `(uuuusa(ayay))` file header (no length prefix). */
export function encodeFileHeader(meta: FileMeta): Buffer {
  const isLink = (meta.mode & S_IFMT) === S_IFLNK;
  return serialize(FILE_HEADER_TYPE, [meta.uid >>> 0, meta.gid >>> 0, meta.mode >>> 0, 0, isLink ? meta.symlinkTarget : '', xattrsToVariant(meta.xattrs)]);
}

/** u32be length ‖ 4 zero bytes ‖ body: how ostree frames file headers for checksums and archive objects. */
export function sizePrefixed(body: Buffer): Buffer {
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 8);
  return out;
}

/** Prefixes of regular files without xattrs, by uid:gid:mode (a layer has few distinct ones). */
const plainPrefixes = new Map<string, Buffer>();

/** The bytes fed to sha256 before the content when computing a content checksum. Do not modify. */
export function fileChecksumPrefix(meta: FileMeta): Buffer {
  if (meta.xattrs.length !== 0 || (meta.mode & S_IFMT) !== S_IFREG) return sizePrefixed(encodeFileHeader(meta));
  const key = `${meta.uid}:${meta.gid}:${meta.mode}`;
  let p = plainPrefixes.get(key);
  if (p === undefined) {
    p = sizePrefixed(encodeFileHeader(meta));
    if (plainPrefixes.size < 4096) plainPrefixes.set(key, p);
  }
  return p;
}

/** A sha256 already fed with the file header; update() it with the content, then digest('hex'). */
export function createContentHasher(meta: FileMeta): Hash {
  return createHash('sha256').update(fileChecksumPrefix(meta));
}

/** Content checksum of a regular file (`content`) or symlink (content empty). */
export function fileChecksum(meta: FileMeta, content: Uint8Array = Buffer.alloc(0)): Checksum {
  return createContentHasher(meta).update(content).digest('hex') as Checksum;
}

export function decodeFileHeader(data: Buffer): FileMeta {
  return decodeOrCorrupt('file header', () => {
    const [uid, gid, mode, rdev, target, xattrs] = deserialize(FILE_HEADER_TYPE, data) as [number, number, number, number, string, Array<[Buffer, Buffer]>];
    if (rdev !== 0) throw new GVariantError(`invalid rdev ${rdev}`);
    return { uid, gid, mode, symlinkTarget: target, xattrs: xattrsFromVariant(xattrs) };
  });
}

/** archive `.filez` header `(tuuuusa(ayay))`, size-prefixed, as stored before the raw-deflate body. */
export function encodeArchiveHeader(meta: FileMeta, size: number): Buffer {
  const isLink = (meta.mode & S_IFMT) === S_IFLNK;
  return sizePrefixed(
    serialize(ARCHIVE_HEADER_TYPE, [BigInt(size), meta.uid >>> 0, meta.gid >>> 0, meta.mode >>> 0, 0, isLink ? meta.symlinkTarget : '', xattrsToVariant(meta.xattrs)]),
  );
}

/** Parse the head of a `.filez` object; `headerEnd` is where the deflate stream starts. */
export function decodeArchiveHeader(data: Buffer): { meta: FileMeta; size: number; headerEnd: number } {
  return decodeOrCorrupt('archive file header', () => {
    if (data.length < 8) throw new GVariantError('truncated size prefix');
    const hlen = data.readUInt32BE(0);
    if (data.length < 8 + hlen) throw new GVariantError(`truncated header (${hlen} bytes announced)`);
    const [size, uid, gid, mode, rdev, target, xattrs] = deserialize(ARCHIVE_HEADER_TYPE, data.subarray(8, 8 + hlen)) as [
      bigint,
      number,
      number,
      number,
      number,
      string,
      Array<[Buffer, Buffer]>,
    ];
    if (rdev !== 0) throw new GVariantError(`invalid rdev ${rdev}`);
    return { meta: { uid, gid, mode, symlinkTarget: target, xattrs: xattrsFromVariant(xattrs) }, size: Number(size), headerEnd: 8 + hlen };
  });
}

/** bare-user `user.ostreemeta` xattr value: `(uuua(ayay))` with the real uid/gid/mode/xattrs. */
export function encodeBareUserMeta(meta: FileMeta): Buffer {
  return serialize(DIRMETA_TYPE, [meta.uid >>> 0, meta.gid >>> 0, meta.mode >>> 0, xattrsToVariant(meta.xattrs)]);
}

export function decodeBareUserMeta(data: Buffer): Omit<FileMeta, 'symlinkTarget'> {
  return decodeOrCorrupt('user.ostreemeta xattr', () => {
    const [uid, gid, mode, xattrs] = deserialize(DIRMETA_TYPE, data) as [number, number, number, Array<[Buffer, Buffer]>];
    return { uid, gid, mode, xattrs: xattrsFromVariant(xattrs) };
  });
}

/** On-disk mode of a bare-user content object (ostree: `(mode & (S_IFREG|0775)) | S_IRUSR`; symlinks 0644). */
export function bareUserDiskMode(mode: number): number {
  if ((mode & S_IFMT) === S_IFREG) return (mode & 0o775) | 0o400;
  return 0o644;
}

// ---------------------------------------------------------------- metadata objects

export function encodeDirMeta(m: DirMeta): Buffer {
  return serialize(DIRMETA_TYPE, [m.uid >>> 0, m.gid >>> 0, m.mode >>> 0, xattrsToVariant(m.xattrs)]);
}

export function decodeDirMeta(data: Buffer): DirMeta {
  return decodeOrCorrupt('dirmeta', () => {
    const [uid, gid, mode, xattrs] = deserialize(DIRMETA_TYPE, data) as [number, number, number, Array<[Buffer, Buffer]>];
    return { uid, gid, mode, xattrs: xattrsFromVariant(xattrs) };
  });
}

/** Serialize a dirtree; both lists are sorted by the raw UTF-8 bytes of the name. */
export function encodeDirTree(t: DirTree): Buffer {
  const files = t.files.map((f) => [Buffer.from(f.name, 'utf8'), f] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  const dirs = t.dirs.map((d) => [Buffer.from(d.name, 'utf8'), d] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  return serialize(DIRTREE_TYPE, [files.map(([, f]) => [f.name, checksumToBytes(f.checksum)]), dirs.map(([, d]) => [d.name, checksumToBytes(d.tree), checksumToBytes(d.meta)])]);
}

/**
 * Why `name` cannot be a dirtree entry (ostree's `ot_util_filename_validate`: not empty, not `.`
 * or `..`, no `/`; NUL and invalid UTF-8 are refused by the GVariant decoder), or null.
 */
export function dirtreeNameProblem(name: string): string | null {
  if (name === '') return 'an empty name';
  if (name === '.' || name === '..') return `the name "${name}"`;
  if (name.includes('/')) return `the name ${JSON.stringify(name)} contains "/"`;
  if (name.includes('\0')) return `the name ${JSON.stringify(name)} contains a NUL byte`;
  return null;
}

export function decodeDirTree(data: Buffer): DirTree {
  return decodeOrCorrupt('dirtree', () => {
    const [files, dirs] = deserialize(DIRTREE_TYPE, data) as [Array<[string, Buffer]>, Array<[string, Buffer, Buffer]>];
    // every name becomes a path component of a checkout: refuse what would leave the directory
    for (const [name] of [...files, ...dirs]) {
      const why = dirtreeNameProblem(name);
      if (why) throw new GVariantError(`invalid entry name: ${why}`);
    }
    return {
      files: files.map(([name, c]) => ({ name, checksum: bytesToChecksum(c, `dirtree entry "${name}"`) })),
      dirs: dirs.map(([name, tree, meta]) => ({ name, tree: bytesToChecksum(tree, `dirtree entry "${name}"`), meta: bytesToChecksum(meta, `dirtree entry "${name}"`) })),
    };
  });
}

function variantToGv(v: Variant): { type: string; value: unknown } {
  return { type: v.type, value: v.value };
}

export function encodeMetadata(md: Metadata): Buffer {
  return serialize(
    METADATA_TYPE,
    md.map(([k, v]) => [k, variantToGv(v)]),
  );
}

export function decodeMetadata(data: Buffer): Metadata {
  return decodeOrCorrupt('metadata a{sv}', () => {
    const entries = deserialize(METADATA_TYPE, data) as Array<[string, { type: string; value: unknown }]>;
    return entries.map(([k, v]) => [k, v as Variant]);
  });
}

export function encodeCommit(c: Commit): Buffer {
  return serialize(COMMIT_TYPE, [
    c.metadata.map(([k, v]) => [k, variantToGv(v)]),
    c.parent ? checksumToBytes(c.parent) : Buffer.alloc(0),
    c.related.map((r) => [r.name, checksumToBytes(r.checksum)]),
    c.subject,
    c.body,
    BigInt(c.timestamp),
    checksumToBytes(c.rootTree),
    checksumToBytes(c.rootMeta),
  ]);
}

export function decodeCommit(data: Buffer): Commit {
  return decodeOrCorrupt('commit', () => {
    const [md, parent, related, subject, body, ts, rootTree, rootMeta] = deserialize(COMMIT_TYPE, data) as [
      Array<[string, { type: string; value: unknown }]>,
      Buffer,
      Array<[string, Buffer]>,
      string,
      string,
      bigint,
      Buffer,
      Buffer,
    ];
    return {
      metadata: md.map(([k, v]) => [k, v as Variant]),
      parent: parent.length === 0 ? null : bytesToChecksum(parent, 'commit parent'),
      related: related.map(([name, c]) => ({ name, checksum: bytesToChecksum(c, `related "${name}"`) })),
      subject,
      body,
      timestamp: Number(ts),
      rootTree: bytesToChecksum(rootTree, 'commit root dirtree'),
      rootMeta: bytesToChecksum(rootMeta, 'commit root dirmeta'),
    };
  });
}
