/**
 * Verified-object markers: what a checkout hardlinks must match its checksum.
 *
 * A content object is re-hashed (header + content, as `ostree fsck` does) the first time a
 * checkout uses it; then a marker is recorded in `extensions/atomic/verified-objects`: one line
 * `<checksum> <dev> <ino> <size> <mode> <uid> <gid> <mtimeMs>` per object. Later checkouts
 * only lstat the object and compare: a write or truncation (mtime, size), chmod, chown or
 * replacement of the object (inode) makes it hashed again. ctime is not part of the signature:
 * every hardlink a checkout makes or an uninstall removes changes it, so it would invalidate
 * every marker. What a marker cannot see: a change below the filesystem (bit rot, a raw write to
 * the block device), or a write by the file's owner who then resets mtime with utimensat (only
 * root or the file's uid can) - `atomic images verify` re-hashes everything. fs-verity would be
 * the kernel-level answer; it is not used: it needs a filesystem created with the verity
 * feature (not the ext4 here) and makes files immutable, which ostree's bare mode does not expect.
 *
 * The file is append-only (one write per checkout; a torn last line after a crash is ignored),
 * rewritten without the entries of deleted objects by `images prune` (compactVerifiedObjects).
 * It is owned by the repository owner and mode 0600: whoever could forge it could write the
 * objects themselves.
 *
 * Metadata objects (dirtree, dirmeta) read by a checkout follow the same rule (eleventh session;
 * before, they were hashed on every checkout): a transaction records a marker for each one it
 * wrote, and a checkout (MetaMarkers) trusts a dirtree or dirmeta whose marker records the
 * signature it has when opened, hashes the others and records those that did not change while
 * read. Hashing them cost little (~1 MB for a Debian rootfs), but it was the only use of
 * `node:crypto` in an install or update of a stored image: loading that module (and the ~30 stream
 * modules it loads) was ~5% of such a command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AtomicError, isAtomicError, wrapError } from '../util/errors.js';
import { atomicWrite } from '../util/atomic-write.js';
import { runPool } from '../util/promise-pool.js';
import { createContentHasher, sha256Hex } from './object-codec.js';
import { EXTENSIONS_DIR, S_IFMT, S_IFREG } from './constants.js';
import type { Checksum, ObjectType, RepoObjects } from './types.js';
import { loadMarkers, signature, type MarkerIndex } from './verified-markers.js';

const MARKER_FILE = 'atomic/verified-objects';
const CONCURRENCY = 16;

export function verifiedMarkerPath(repo: RepoObjects): string {
  return path.join(repo.path, EXTENSIONS_DIR, MARKER_FILE);
}

/**
 * Append markers (`<checksum> <signature>\n` lines) for objects whose content was just hashed
 * by the caller (a transaction, for the objects it wrote). Best effort, like the markers a
 * checkout records: without them the next checkout hashes the objects itself.
 */
export function recordVerifiedObjects(repo: RepoObjects, lines: string[]): void {
  if (lines.length === 0) return;
  const file = verifiedMarkerPath(repo);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.appendFileSync(file, lines.join(''), { mode: 0o600 });
  } catch {
    /* read-only or full: nothing recorded */
  }
}

/** How to repair a store whose object does not match its checksum. */
export function corruptObjectSuggestions(repo: RepoObjects): string[] {
  return [
    `Run \`atomic images verify IMAGE\` (or \`ostree fsck --repo=${repo.path}\`) to list every damaged object.`,
    'Repair: `atomic images delete IMAGE`, `atomic images prune` (uninstall the containers using the image first: their rootfs shares the damaged files), then pull the image again.',
  ];
}

export function corruptObjectError(repo: RepoObjects, c: Checksum, type: ObjectType, detail: string): AtomicError {
  return new AtomicError('STORE_CORRUPT', `object ${c}.${type} in ${repo.path} does not match its checksum (${detail}); refusing to deploy it`, {
    ref: c,
    suggestions: corruptObjectSuggestions(repo),
  });
}

/**
 * One checkout's view of the markers for metadata objects (see the module comment): `index`
 * holds the markers as the checkout read them, `fresh` the lines of the objects it hashed (the
 * caller records them with recordVerifiedObjects).
 */
export interface MetaMarkers {
  index: MarkerIndex;
  fresh: string[];
}

/**
 * The rule for a metadata object read with markers, in one place (readVerifiedMetaSync and the
 * checkout's dirtree reader, dirtree-reader.ts, both apply it): `raw` may be used when the
 * object's signature when opened (`sig`, null: not taken) is the one its marker records, or when
 * `raw` hashes to `c`; a hashed object gets a fresh marker when `sameAfter()` says it did not
 * change while read. false: `raw` does not hash to `c` (the caller reports or re-reads it).
 */
export function acceptMetaObject(c: Checksum, raw: Buffer, sig: string | null, markers: MetaMarkers | null, sameAfter: () => boolean): boolean {
  if (sig !== null && markers!.index.matches(c, sig)) return true;
  if (sha256Hex(raw) !== c) return false;
  if (sig !== null && sameAfter()) markers!.fresh.push(`${c} ${sig}\n`);
  return true;
}

/**
 * Bytes of a metadata object, checked against its checksum, unless `markers` records the
 * signature the object had before it was read (then it was hashed before and has not changed).
 * A hashed object gets a fresh marker when it did not change while read (acceptMetaObject).
 */
export function readVerifiedMetaSync(repo: RepoObjects, c: Checksum, type: ObjectType, markers: MetaMarkers | null = null): Buffer {
  const file = repo.objectPath(c, type);
  const before = markers !== null ? fs.lstatSync(file, { throwIfNoEntry: false }) : undefined;
  const sig = before !== undefined ? signature(before) : null;
  const raw = repo.readObjectBytesSync(c, type);
  const sameAfter = (): boolean => {
    const after = fs.lstatSync(file, { throwIfNoEntry: false });
    return after !== undefined && signature(after) === sig;
  };
  if (!acceptMetaObject(c, raw, sig, markers, sameAfter)) throw corruptObjectError(repo, c, type, `its content hashes to ${sha256Hex(raw)}`);
  return raw;
}

async function hashContentObject(repo: RepoObjects, c: Checksum): Promise<void> {
  const fo = await repo.readFileMeta(c);
  const h = createContentHasher(fo.meta);
  let n = 0;
  if ((fo.meta.mode & S_IFMT) === S_IFREG) {
    for await (const chunk of (await repo.openFileContent(c)) as AsyncIterable<Buffer>) {
      h.update(chunk);
      n += chunk.length;
    }
  }
  const got = h.digest('hex');
  if (got !== c) throw corruptObjectError(repo, c, 'file', `its header and content hash to ${got}`);
  if (n !== fo.size) throw corruptObjectError(repo, c, 'file', `read ${n} bytes, the object has ${fo.size}`);
}

/**
 * Check that every content object in `sums` matches its checksum (`onStat` gets the lstat of each
 * one that exists, before any hashing): objects with a current marker
 * cost one lstat, the others are hashed (CONCURRENCY at a time) and get a marker. Throws
 * STORE_CORRUPT naming the first damaged object and how to repair; STORE_OBJECT_MISSING when one
 * is absent. Returns how many objects were hashed.
 */
export async function verifyContentObjects(
  repo: RepoObjects,
  sums: Iterable<Checksum>,
  onStat?: (c: Checksum, st: fs.Stats) => void,
): Promise<{ checked: number; hashed: number }> {
  const file = verifiedMarkerPath(repo);
  const markers = loadMarkers(file);
  // objects to hash, with the lstat taken here (undefined: missing) as the "before" of the re-check
  const unverified = new Map<Checksum, fs.Stats | undefined>();
  let checked = 0;
  for (const c of sums) {
    checked++;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(repo.objectPath(c, 'file'));
    } catch {
      unverified.set(c, undefined); // missing: hashContentObject reports it with its own message
      continue;
    }
    onStat?.(c, st); // the caller reuses it (checkout: file type and mode of each object)
    if (markers.get(c) !== signature(st)) unverified.set(c, st);
  }
  if (unverified.size === 0) return { checked, hashed: 0 };
  const fresh: string[] = [];
  let failure: unknown = null;
  try {
    await runPool([...unverified.keys()], CONCURRENCY, async (c) => {
      const before = unverified.get(c);
      await hashContentObject(repo, c); // STORE_OBJECT_MISSING when absent
      const after = fs.lstatSync(repo.objectPath(c, 'file'));
      if (!before) return;
      // changed while being read: not recorded (the next checkout hashes it again)
      if (signature(before) === signature(after)) fresh.push(`${c} ${signature(after)}\n`);
    });
  } catch (e) {
    failure = e; // the markers of what was verified are still recorded
  }
  if (fresh.length) {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.appendFileSync(file, fresh.join(''), { mode: 0o600 });
    } catch {
      /* a read-only store: nothing recorded, the next checkout hashes again */
    }
  }
  if (failure !== null) throw isAtomicError(failure) ? failure : wrapError('verify store objects', failure);
  return { checked, hashed: unverified.size };
}

/** Drop the markers of objects that are gone (after a prune). */
export async function compactVerifiedObjects(repo: RepoObjects, keep: (c: string) => boolean): Promise<void> {
  const file = verifiedMarkerPath(repo);
  if (!fs.existsSync(file)) return;
  const markers = loadMarkers(file);
  const lines: string[] = [];
  for (const [c, sig] of markers) if (keep(c)) lines.push(`${c} ${sig}\n`);
  await atomicWrite(file, lines.join(''), { mode: 0o600 });
}
