/**
 * On-disk names of an OSTree repository (libostree layout) plus the names this project adds
 * (lock directory, staging prefix). Everything that builds a repo path uses these.
 */
import type { ObjectType } from './types.js';

export const CONFIG_FILE = 'config';
export const OBJECTS_DIR = 'objects';
export const REFS_DIR = 'refs';
export const REFS_HEADS_DIR = 'refs/heads';
export const REFS_REMOTES_DIR = 'refs/remotes';
export const REFS_MIRRORS_DIR = 'refs/mirrors';
export const TMP_DIR = 'tmp';
export const TMP_CACHE_DIR = 'tmp/cache';
export const STATE_DIR = 'state';
/** state/<commit>.commitpartial: a commit whose objects may not all be there (ostree's marker). */
export function commitPartialRel(commit: string): string {
  return `${STATE_DIR}/${commit}.commitpartial`;
}
export const EXTENSIONS_DIR = 'extensions';
/** libostree's flock file; we never flock it (Node has no flock) but do not delete it either. */
export const OSTREE_LOCK_FILE = '.lock';
/** Our lock directory (see repo-lock.ts). */
export const LOCK_DIR = '.atomic-lock.d';
export const EXCLUSIVE_LOCK_NAME = 'exclusive';
export const SHARED_LOCK_PREFIX = 'shared-';
/** Staging directories live in tmp/: `staging-<pid>-<random>`. */
export const STAGING_PREFIX = 'staging-';
/**
 * Emptied staging directories kept in tmp/ for the next transaction (transaction.ts): ostree
 * keeps its staging directory too. Not `staging-*`: those are swept when their process is gone.
 */
export const STAGING_FREE_PREFIX = 'atomic-staging-free-';
/** At most this many are kept (parallel layer imports use up to 3 transactions at once). */
export const STAGING_FREE_MAX = 4;

/** Directories `ostree init` creates (in this order), relative to the repo root. */
export const INIT_DIRS = [OBJECTS_DIR, REFS_DIR, REFS_HEADS_DIR, REFS_MIRRORS_DIR, REFS_REMOTES_DIR, STATE_DIR, TMP_DIR, TMP_CACHE_DIR, EXTENSIONS_DIR];

/** File name extension of each object type (archive content objects use `.filez`). */
export const OBJECT_EXT: Record<ObjectType, string> = {
  file: 'file',
  dirtree: 'dirtree',
  dirmeta: 'dirmeta',
  commit: 'commit',
  commitmeta: 'commitmeta',
};
export const ARCHIVE_FILE_EXT = 'filez';

/** Extension -> object type, for walking objects/ (prune). */
export const EXT_TO_TYPE: Record<string, ObjectType> = {
  file: 'file',
  filez: 'file',
  dirtree: 'dirtree',
  dirmeta: 'dirmeta',
  commit: 'commit',
  commitmeta: 'commitmeta',
};

/** Files up to this size are hashed from memory and skipped before touching the disk when present. */
export const SMALL_FILE_MAX = 1024 * 1024;

/** Mode bits. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** bare-user: the xattr holding `(uuua(ayay))` with the real uid/gid/mode/xattrs. */
export const BAREUSER_XATTR = 'user.ostreemeta';

export const CHECKSUM_RE = /^[0-9a-f]{64}$/;

export function configText(mode: string): string {
  return `[core]\nrepo_version=1\nmode=${mode}\n`;
}

/** Commit metadata key (`as`): directories of the layer tree that had no tar entry ('.' = root). */
export const UNION_IMPLICIT_DIRS = 'atomic.layer.implicit-dirs';
/** Commit metadata key (`a(ss)`): hardlinks (path, target) whose target is a file of a lower layer. */
export const UNION_LOWER_LINKS = 'atomic.layer.lower-hardlinks';
