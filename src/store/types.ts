/**
 * Types shared by the OSTree-format store. The store is byte-compatible with libostree:
 * the real `ostree` CLI must fsck, ls and checkout every repo we write.
 *
 * Two identifier kinds are kept apart: `Checksum` is a bare 64-hex ostree object id,
 * `Digest` is an OCI `sha256:<hex>` content digest.
 */
export type Checksum = string & { readonly __brand: 'Checksum' };
export type Digest = string & { readonly __brand: 'Digest' };

export type RepoMode = 'bare' | 'bare-user' | 'bare-user-only' | 'archive';
export type ObjectType = 'file' | 'dirtree' | 'dirmeta' | 'commit' | 'commitmeta';

/** One extended attribute. `name` is the attribute name without trailing NUL. */
export interface Xattr {
  name: string;
  value: Buffer;
}

/** Metadata of a content object (regular file or symlink). `mode` is the full st_mode (S_IFREG|0644, S_IFLNK|0777). */
export interface FileMeta {
  uid: number;
  gid: number;
  mode: number;
  /** Symlink target exactly as written (absolute stays absolute); '' for regular files. */
  symlinkTarget: string;
  /** Sorted by name when serialized (the serializer sorts). */
  xattrs: Xattr[];
}

/** A `.dirmeta` object. `mode` includes S_IFDIR. */
export interface DirMeta {
  uid: number;
  gid: number;
  mode: number;
  xattrs: Xattr[];
}

export interface DirTreeFile {
  name: string;
  checksum: Checksum;
}
export interface DirTreeDir {
  name: string;
  tree: Checksum;
  meta: Checksum;
}
/** A `.dirtree` object. The serializer sorts both lists by the raw UTF-8 bytes of the name. */
export interface DirTree {
  files: DirTreeFile[];
  dirs: DirTreeDir[];
}

/** A GVariant value with its type, as stored in `a{sv}` commit metadata. */
export type Variant =
  | { type: 's'; value: string }
  | { type: 't' | 'x'; value: bigint }
  | { type: 'u' | 'i'; value: number }
  | { type: 'b'; value: boolean }
  | { type: 'as'; value: string[] }
  | { type: 'ay'; value: Buffer }
  | { type: string; value: unknown };

/** `a{sv}` metadata, in insertion order (GVariant dictionaries are not sorted). */
export type Metadata = Array<[string, Variant]>;

export interface Commit {
  metadata: Metadata;
  /** Parent commit checksum, or null for none (serialized as an empty `ay`). */
  parent: Checksum | null;
  /** `a(say)` related objects; almost always empty. */
  related: Array<{ name: string; checksum: Checksum }>;
  subject: string;
  body: string;
  /** Seconds since the epoch, UTC. */
  timestamp: number;
  rootTree: Checksum;
  rootMeta: Checksum;
}

/** Result of reading a content object. */
export interface FileObject {
  meta: FileMeta;
  /** Size of the content in bytes (0 for symlinks). */
  size: number;
  /** Path to the object on disk (for hardlink checkout in bare/bare-user modes). */
  path: string;
}

/**
 * The part of an open repository that the transaction writer and the object verifier use
 * (`OstreeRepo` implements it). Declared here so neither module imports `repo.ts`, which
 * imports them: no import cycle.
 */
export interface RepoObjects {
  /** Repository root directory. */
  readonly path: string;
  readonly mode: RepoMode;
  /** Path of an object file (it may not exist). */
  objectPath(checksum: Checksum, type: ObjectType): string;
  /** The raw bytes of a (metadata) object; throws STORE_OBJECT_MISSING when absent. */
  readObjectBytesSync(c: Checksum, type: ObjectType): Buffer;
  /** Owner, mode, xattrs and size of a content object. */
  readFileMeta(c: Checksum): Promise<FileObject>;
  /** A stream of a content object's bytes (regular files). */
  openFileContent(c: Checksum): Promise<NodeJS.ReadableStream>;
}
