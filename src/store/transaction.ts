/**
 * A write transaction: objects are staged under `tmp/staging-<pid>-<random>/xx/rest.ext`
 * (with their final owner/mode/xattrs), made durable with one syncfs at commit(), then
 * renamed into objects/xx/rest.ext (a whole staged xx/ dir when objects/xx is absent or empty),
 * the renames made durable with a second syncfs, and finally the queued refs are written with
 * atomicWrite. Holds the SHARED repo lock.
 *
 * Rule for objects that are already there: an object is staged only when it was absent from
 * objects/ when the transaction looked (one listing per objects/xx), so the rename replaces
 * nothing unless a concurrent transaction stored the same object in between. Then ours
 * replaces theirs, as `ostree commit` does (renameat): both files hold what their writers
 * hashed, and the name is the checksum of header and content, so owner, mode and xattrs are
 * equal too (mtime 0). A checkout that already hardlinked their copy keeps it (two inodes for
 * one object until that checkout goes, in this race only). Verified-object markers carry
 * dev+ino, so their marker never vouches for our inode; ours is recorded after the rename (if
 * theirs is appended later, the next checkout hashes the object once). Before this was
 * link() + unlink(), keeping theirs: one syscall more per object for the same guarantees.
 *
 * Files up to 8 MiB are hashed from memory before anything is written (no write at all for an
 * object already present) and written with as few syscalls as possible: created with their
 * final mode when the umask allows it, chown/chmod only when needed; which objects already exist
 * is learnt from one readdir per objects/xx (small dirs) instead of one lstat per object.
 * Bigger files stream to a temp file while hashing.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { setAttributeSync } from '@napi-rs/xattr';
import { AtomicError, isErrno, wrapError } from '../util/errors.js';
import { atomicWrite, faultPoint, fsyncDir } from '../util/atomic-write.js';
import { randomHex } from '../util/random.js';
import * as K from './constants.js';
import {
  bareUserDiskMode,
  createContentHasher,
  encodeBareUserMeta,
  encodeCommit,
  encodeDirMeta,
  encodeDirTree,
  encodeMetadata,
  fileChecksumPrefix,
  isChecksum,
  sha256Hex,
} from './object-codec.js';
import { recordVerifiedObjects } from './object-verify.js';
import { signature } from './verified-markers.js';
import { CandidateCompare } from './large-dedup.js';
import { deserializeError, renameBatches, writePool, type RenameGroup } from './write-pool.js';
import { OBJ_ABSENT, OBJ_PRESENT, STAGE_MADE, hasFlag, newDirState, setFlag } from './tx-dirs.js';
import type { RepoLock } from './repo-lock.js';
import type { Checksum, Commit, DirMeta, DirTree, FileMeta, Metadata, ObjectType, RepoObjects } from './types.js';

const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;
/** objects/xx dirs up to this st_size are listed once instead of lstat-ing each object in them. */
const LIST_DIR_MAX_BYTES = 256 * 1024;
const O_CREATE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;
/**
 * Before a file is stored on the calling thread (not by the I/O workers), the files still in
 * flight on the workers are brought under this many files / bytes (what is held in memory stays
 * bounded while that file, up to BUFFERED_FILE_MAX, is buffered).
 */
const AHEAD_MAX = 4;
const AHEAD_BYTES = 8 * 1024 * 1024;
/** Small files handed to the I/O workers (write-pool.ts): at most this many files / bytes in flight. */
const POOL_MAX = 512;
const POOL_BYTES = 4 * 1024 * 1024;
/**
 * Files up to this size are collected in memory and hashed before anything is written (an
 * object already in the store is then not written at all; the others are created at their staged
 * name directly). Bigger ones stream to a temporary file while being hashed. One at a time
 * (writeRegularFile is awaited per file), on top of the bound of files in flight (AHEAD_BYTES).
 */
const BUFFERED_FILE_MAX = 8 * 1024 * 1024;
/** Small files are sent to the workers in batches of up to this many files / bytes. */
const BATCH_FILES = 48;
const BATCH_BYTES = 512 * 1024;
/** dirtree/dirmeta objects are sent to the workers in batches of up to this many objects / bytes. */
const META_BATCH_FILES = 64;
const META_BATCH_BYTES = 256 * 1024;
/** Batch buffers kept for reuse (what is in flight is bounded by POOL_BYTES: 8 batches). */
const FREE_BUFS_MAX = 8;

function currentUmask(): number {
  try {
    return process.umask();
  } catch {
    return 0o777; // unknown: always fchmod
  }
}

/** Write all of `chunks` at the current offset (looping over short writes). */
function writeAllSync(fd: number, chunks: Buffer[]): void {
  const parts = chunks.filter((b) => b.length > 0);
  while (parts.length) {
    let n = parts.length === 1 ? fs.writeSync(fd, parts[0]!) : fs.writevSync(fd, parts);
    while (parts.length && n >= parts[0]!.length) n -= parts.shift()!.length;
    if (n > 0) parts[0] = parts[0]!.subarray(n);
  }
}

/** A file's content: a stream, an async iterable of chunks, one Buffer or its chunks. */
export type FileContent = NodeJS.ReadableStream | AsyncIterable<Buffer> | Buffer | Buffer[];

function toReadable(s: NodeJS.ReadableStream | AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  if (Symbol.asyncIterator in s) return s as AsyncIterable<Buffer>;
  return new Readable().wrap(s);
}

function totalLength(chunks: Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** ENOSPC/E2BIG while storing a file with xattrs: the filesystem refused them, say so (not "disk full"). */
function xattrStageError(c: Checksum, meta: FileMeta, e: unknown): AtomicError | null {
  // @napi-rs/xattr reports "... (os error 28)" (ENOSPC) / "(os error 7)" (E2BIG), without a code
  const refused = isErrno(e, 'ENOSPC') || isErrno(e, 'E2BIG') || /\(os error (28|7)\)/.test(e instanceof Error ? e.message : '');
  if (meta.xattrs.length === 0 || !refused) return null;
  const bytes = meta.xattrs.reduce((n, x) => n + x.name.length + x.value.length, 0);
  const names = meta.xattrs.map((x) => `${x.name} (${x.value.length} bytes)`).join(', ');
  return new AtomicError(
    'LAYER_INVALID',
    `stage file object ${c}: the filesystem holding the store refused its extended attributes (${bytes} bytes: ${names}): ${(e as Error).message}`,
    {
      cause: e,
      suggestions: [
        'ext4 keeps all xattrs of a file in one block (about 4 KB) unless created with `-O ea_inode`: rebuild the image without these xattrs, or keep the store on a filesystem that takes them (xfs, btrfs).',
      ],
    },
  );
}

/**
 * Staging directories are reused, as ostree reuses its own: on this ext4 (no journal, mounted
 * with `discard`) every rmdir of a staging xx/ dir waited ~2 ms for a discard of its block - 256
 * of them per transaction (0.15-0.6 s at load 6-10) - and each next transaction made them again.
 * A committed transaction's staging dir, checked to hold nothing but empty xx/ dirs, is renamed
 * to `tmp/atomic-staging-free-<random>`; the next transaction claims one by renaming it to its own
 * `staging-<pid>-<random>` name (atomic: one claimant wins; the loser makes a fresh dir). A crash
 * leaves either a free dir (empty) or a `staging-*` dir, which is swept as before.
 */
/**
 * Free staging dirs in each tmp/ as this process knows it: set from the listing of every claim,
 * then counted up by our releases and down by our claims, so a commit does not list tmp/ again.
 * Exact within the process (its concurrent transactions included: a pull's layers); another
 * process's releases since our last listing are not counted, so together they may keep a few
 * more than STAGING_FREE_MAX (each free dir is only a cache of empty xx/ dirs) until a claim
 * lists tmp/ again and a release then sees the bound reached.
 */
const freeStaging = new Map<string, number>();

function claimFreeStaging(tmp: string, dir: string): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(tmp).filter((n) => n.startsWith(K.STAGING_FREE_PREFIX));
  } catch {
    return false;
  }
  let left = names.length;
  for (const name of names) {
    left--; // ours now, or claimed by another transaction first
    try {
      fs.renameSync(`${tmp}/${name}`, dir);
    } catch {
      continue;
    }
    freeStaging.set(tmp, left);
    try {
      const now = new Date();
      fs.utimesSync(dir, now, now); // ostree's cleanup of tmp/ removes entries a day old
    } catch {
      /* only a hint for ostree */
    }
    return true;
  }
  freeStaging.set(tmp, 0);
  return false;
}

/** Keep an emptied staging dir for the next transaction (see claimFreeStaging); false: remove it instead. */
function releaseStaging(tmp: string, dir: string): boolean {
  try {
    // nothing but empty xx/ dirs: a leftover file at a staged name would be taken for one a
    // sibling job of the next transaction wrote
    for (const sub of fs.readdirSync(dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub) || fs.readdirSync(`${dir}/${sub}`).length !== 0) return false;
    }
    const free = freeStaging.get(tmp) ?? fs.readdirSync(tmp).filter((n) => n.startsWith(K.STAGING_FREE_PREFIX)).length;
    if (free >= K.STAGING_FREE_MAX) return false;
    fs.renameSync(dir, `${tmp}/${K.STAGING_FREE_PREFIX}${randomHex(6)}`);
    freeStaging.set(tmp, free + 1);
    return true;
  } catch {
    return false;
  }
}

/**
 * objects/xx dirs this process has renamed objects into, per objects/ dir: they hold objects, so a
 * later commit does not try to rename a whole staged xx/ dir over them (it would fail). Only ever
 * skips that attempt: an entry gone stale (objects pruned since) costs the optimization, nothing else.
 */
const filledObjectDirs = new Map<string, Set<string>>();

interface Staged {
  name: string; // checksum.ext, in the staging dir
  rel: string; // xx/rest.ext, in objects/
}

export class Transaction {
  readonly stats = { objectsWritten: 0, objectsSkipped: 0, bytesWritten: 0 };
  private readonly staged: Staged[] = [];
  /** `checksum.ext` of objects known to exist (staged here or present in objects/). */
  private readonly known = new Set<string>();
  /** objects/xx -> names it held when first looked at (null: too big to list, lstat instead). */
  private readonly listed = new Map<string, Set<string> | null>();
  private readonly umask = currentUmask();
  private readonly refs = new Map<string, Checksum | null>();
  /** Commits written by this transaction (staged or already present): marked partial while their objects move in. */
  private readonly commits = new Set<Checksum>();
  private tmpCounter = 0;
  /** Verified-object signatures (object-verify.ts) of the file objects staged so far, taken from the open file (fstat). */
  private readonly sigs = new Map<string, string>();
  /** What this transaction's threads learnt about objects/xx and the staging xx/ dirs (tx-dirs.ts). */
  private readonly dirs = newDirState();
  /** Small files queued for the I/O workers, not sent yet (see queueRegularFile). */
  private batch: {
    buf: Uint8Array;
    used: number;
    items: number[];
    waiters: Array<{ resolve: (c: Checksum) => void; reject: (e: unknown) => void; meta: FileMeta; size: number; at: number }>;
  } | null = null;
  /** dirtree/dirmeta objects queued for the I/O workers, not sent yet (see writeMetaObject). */
  private metaBatch: { paths: string[]; parts: Buffer[]; bytes: number; symlinks: string[]; owners: number[] } | null = null;
  /** Batch buffers the I/O workers gave back, reused by queueRegularFile (bounded: see POOL_BYTES). */
  private readonly freeBufs: Uint8Array[] = [];
  /** Small files in flight on the I/O workers (bounded: POOL_MAX / POOL_BYTES), and the first failure. */
  private inflight = 0;
  private inflightBytes = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private writeError: { e: unknown } | null = null;
  private state: 'open' | 'committing' | 'done' = 'open';
  /** Set when commit() succeeded: every staged object has been renamed out of the staging dir. */
  private committed = false;

  private constructor(
    readonly repo: RepoObjects,
    private readonly lock: RepoLock,
    readonly stagingDir: string,
  ) {}

  /**
   * A fresh staging dir path under `repoPath`'s tmp/ (not made). A caller that must clean up after
   * a thread it may kill (image/layer-worker.ts) picks the path first and passes it to create().
   */
  static newStagingDir(repoPath: string): string {
    return path.join(path.resolve(repoPath), K.TMP_DIR, `${K.STAGING_PREFIX}${process.pid}-${randomHex(6)}`); // resolved as OstreeRepo.open resolves
  }

  /** Internal: use OstreeRepo.beginTransaction(); `dir` from newStagingDir() for the same repo. */
  static async create(repo: RepoObjects, lock: RepoLock, dir = Transaction.newStagingDir(repo.path)): Promise<Transaction> {
    const tmp = path.join(repo.path, K.TMP_DIR);
    if (path.dirname(dir) !== tmp || !path.basename(dir).startsWith(K.STAGING_PREFIX))
      throw new AtomicError('INTERNAL', `staging dir ${dir} is not a ${K.STAGING_PREFIX}* entry of ${tmp}`);
    await fsp.mkdir(tmp, { recursive: true });
    if (!claimFreeStaging(tmp, dir)) await fsp.mkdir(dir, { mode: 0o755 });
    return new Transaction(repo, lock, dir);
  }

  private ensureOpen(): void {
    if (this.state !== 'open') throw new AtomicError('INTERNAL', `transaction on ${this.repo.path} is already ${this.state === 'done' ? 'finished' : 'committing'}`);
  }

  private rel(c: Checksum, ext: string): string {
    return `${c.slice(0, 2)}/${c.slice(2)}.${ext}`;
  }

  /** True if the object is already staged or in objects/ (then counted as skipped). */
  private exists(c: Checksum, ext: string): boolean {
    const key = `${c}.${ext}`;
    if (this.known.has(key)) return true;
    const sub = c.slice(0, 2);
    let names = this.listed.get(sub);
    if (names === undefined) {
      names = this.listObjectDir(sub);
      this.listed.set(sub, names);
    }
    const found =
      names !== null ? names.has(`${c.slice(2)}.${ext}`) : fs.lstatSync(path.join(this.repo.path, K.OBJECTS_DIR, this.rel(c, ext)), { throwIfNoEntry: false }) !== undefined;
    if (found) this.known.add(key);
    return found;
  }

  /** Names in objects/`sub` (empty if absent), or null when the directory is too big to list. */
  private listObjectDir(sub: string): Set<string> | null {
    if (hasFlag(this.dirs, sub, OBJ_ABSENT)) return new Set(); // an I/O worker found it absent
    const dir = path.join(this.repo.path, K.OBJECTS_DIR, sub);
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    setFlag(this.dirs, sub, st === undefined ? OBJ_ABSENT : OBJ_PRESENT);
    if (st === undefined) return new Set();
    if (st.size > LIST_DIR_MAX_BYTES) return null;
    return new Set(fs.readdirSync(dir));
  }

  /**
   * Path in the staging dir of object `c.ext`; its xx/ dir is made unless `make` is false (the
   * I/O worker that creates the object makes it).
   */
  private stagePath(c: Checksum, ext: string, make = true): string {
    // sharded like objects/ (and like ostree's staging dirs): creating thousands of files in one
    // directory serializes on its lock and makes each creation slower
    if (make) this.makeStageSub(c.slice(0, 2));
    return `${this.stagingDir}/${this.rel(c, ext)}`;
  }

  /** Make the staging dir's `sub`/ unless a thread of this transaction has. */
  private makeStageSub(sub: string): void {
    if (hasFlag(this.dirs, sub, STAGE_MADE)) return;
    try {
      fs.mkdirSync(`${this.stagingDir}/${sub}`, { mode: 0o755 });
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    }
    setFlag(this.dirs, sub, STAGE_MADE);
  }

  private markStaged(c: Checksum, ext: string, bytes: number): void {
    this.known.add(`${c}.${ext}`);
    this.staged.push({ name: `${c}.${ext}`, rel: this.rel(c, ext) });
    this.stats.objectsWritten++;
    this.stats.bytesWritten += bytes;
  }

  /** Mode to create a bare regular file with, and whether an fchmod is still needed after it. */
  private createMode(meta: FileMeta): { mode: number; chmod: boolean } {
    if (this.repo.mode !== 'bare') return { mode: 0o600, chmod: true };
    const mode = meta.mode & 0o7777;
    // open() applies the umask; setuid/setgid/sticky are set (and kept across chown) by fchmod.
    if ((mode & 0o7000) !== 0 || (mode & this.umask) !== 0) return { mode: mode & 0o777, chmod: true };
    return { mode, chmod: false };
  }

  /** Apply owner/mode/xattrs/mtime of a regular content file to an open fd (mode per repo mode). */
  private finishRegular(fd: number, p: string, meta: FileMeta, chmod = true): void {
    if (this.repo.mode === 'bare') {
      if (meta.uid !== EUID || meta.gid !== EGID) fs.fchownSync(fd, meta.uid, meta.gid);
      if (chmod) fs.fchmodSync(fd, meta.mode & 0o7777); // after chown: chown clears setuid/setgid
      for (const x of meta.xattrs) setAttributeSync(p, x.name, x.value);
    } else {
      setAttributeSync(p, K.BAREUSER_XATTR, encodeBareUserMeta(meta));
      fs.fchmodSync(fd, bareUserDiskMode(meta.mode));
    }
    fs.futimesSync(fd, 0, 0);
  }

  private checkMeta(meta: FileMeta, kind: 'file' | 'symlink'): void {
    const want = kind === 'file' ? K.S_IFREG : K.S_IFLNK;
    if ((meta.mode & K.S_IFMT) !== want) {
      throw new AtomicError('INTERNAL', `${kind} metadata has mode 0${meta.mode.toString(8)}, expected a ${kind === 'file' ? 'regular file' : 'symlink'} type`);
    }
  }

  private sizeMismatch(expected: number, got: number): AtomicError {
    return new AtomicError('LAYER_INVALID', `file content is ${got} bytes, but its header announced ${expected}`, {
      suggestions: ['The layer is truncated or corrupt; pull it again.'],
    });
  }

  /** True when a regular file of `size` bytes with `meta` is hashed and staged by the I/O workers. */
  private pooled(meta: FileMeta, size: number): boolean {
    return this.repo.mode === 'bare' && meta.xattrs.length === 0 && size <= K.SMALL_FILE_MAX && writePool().enabled;
  }

  /**
   * Store a regular file without waiting for it: resolves once `content` is consumed (and the
   * number of files in flight is under its bound) with `done`, the checksum once the object is
   * staged. Small files of bare repositories are hashed and written by the I/O workers while the
   * caller goes on parsing; others are stored before this resolves. A failure rejects `done`,
   * and the next write and commit() throw it too.
   */
  async queueRegularFile(meta: FileMeta, content: FileContent, size: number): Promise<{ done: Promise<Checksum> }> {
    this.ensureOpen();
    this.checkMeta(meta, 'file');
    if (!this.pooled(meta, size)) {
      const c = await this.writeRegularFile(meta, content, size);
      return { done: Promise.resolve(c) };
    }
    const prefix = fileChecksumPrefix(meta);
    const need = prefix.length + size;
    if (this.batch !== null && this.batch.used + need > this.batch.buf.length) this.flushQueued();
    if (this.inflight >= POOL_MAX || this.inflightBytes >= POOL_BYTES) await this.waitSlot(POOL_MAX, POOL_BYTES);
    if (this.writeError !== null) throw this.writeError.e;
    const b = (this.batch ??= { buf: this.batchBuffer(need), used: 0, items: [], waiters: [] });
    // header and content are copied once, into the buffer the worker takes over
    const at = b.used + prefix.length;
    b.buf.set(prefix, b.used);
    if (Buffer.isBuffer(content)) {
      if (content.length !== size) throw this.sizeMismatch(size, content.length);
      b.buf.set(content, at);
    } else if (Array.isArray(content)) {
      const n = totalLength(content);
      if (n !== size) throw this.sizeMismatch(size, n);
      let o = at;
      for (const c of content) {
        b.buf.set(c, o);
        o += c.length;
      }
    } else {
      let n = 0;
      for await (const chunk of toReadable(content)) {
        if (n + chunk.length > size) throw this.sizeMismatch(size, n + chunk.length);
        b.buf.set(chunk, at + n);
        n += chunk.length;
      }
      if (n !== size) throw this.sizeMismatch(size, n);
    }
    if (this.batch !== b) throw new AtomicError('INTERNAL', 'queueRegularFile called concurrently on one transaction');
    b.used += need;
    const cm = this.createMode(meta);
    b.items.push(prefix.length, size, cm.mode, cm.chmod ? meta.mode & 0o7777 : -1, meta.uid, meta.gid, meta.uid !== EUID || meta.gid !== EGID ? 1 : 0);
    this.inflight++;
    this.inflightBytes += size;
    const done = new Promise<Checksum>((resolve, reject) => b.waiters.push({ resolve, reject, meta, size, at }));
    if (b.waiters.length >= BATCH_FILES || b.used >= BATCH_BYTES) this.flushQueued();
    return { done };
  }

  /** A buffer for a new batch: one the workers gave back, or a new one. */
  private batchBuffer(need: number): Uint8Array {
    const i = this.freeBufs.findIndex((b) => b.length >= need);
    if (i >= 0) return this.freeBufs.splice(i, 1)[0]!;
    return new Uint8Array(Math.max(BATCH_BYTES, need));
  }

  /** Send the batch of queued small files (and metadata objects) to the I/O workers (queueRegularFile). */
  flushQueued(): void {
    this.flushMeta();
    const b = this.batch;
    if (b === null) return;
    this.batch = null;
    if (b.waiters.length === 0) return;
    const job = writePool().files({
      tx: this.stagingDir,
      objectsDir: path.join(this.repo.path, K.OBJECTS_DIR),
      stagingDir: this.stagingDir,
      dirs: this.dirs,
      buf: b.buf,
      items: b.items,
    });
    if (job === null) {
      // no worker could be started: stage them here
      for (const w of b.waiters) {
        this.settle(w.size);
        try {
          w.resolve(this.writeSmall(w.meta, [Buffer.from(b.buf.buffer, b.buf.byteOffset + w.at, w.size)], w.size));
        } catch (e) {
          if (this.writeError === null) this.writeError = { e };
          w.reject(e);
        }
      }
      return;
    }
    job.then(
      (r) => {
        // keep a few standard-size buffers (what is in flight is bounded by POOL_BYTES anyway)
        if (r.buf !== undefined && r.buf.length === BATCH_BYTES && this.freeBufs.length < FREE_BUFS_MAX) this.freeBufs.push(r.buf);
        const failure = r.err ? wrapError(`stage file object`, deserializeError(r.err)) : null;
        if (failure !== null && this.writeError === null) this.writeError = { e: failure };
        b.waiters.forEach((w, i) => {
          this.settle(w.size);
          if (i >= r.c.length) {
            w.reject(failure ?? new AtomicError('INTERNAL', 'store I/O worker returned too few results'));
            return;
          }
          const c = r.c[i] as Checksum;
          this.known.add(`${c}.file`);
          if (r.written[i]) {
            this.markStaged(c, 'file', w.size);
            const sig = r.sig[i];
            if (sig) this.sigs.set(c, sig);
          } else this.stats.objectsSkipped++;
          w.resolve(c);
        });
      },
      (e: unknown) => {
        const w = wrapError('stage file objects', e);
        if (this.writeError === null) this.writeError = { e: w };
        for (const x of b.waiters) {
          this.settle(x.size);
          x.reject(w);
        }
      },
    );
  }

  /** Queue a metadata object for the I/O workers; false when there are none. */
  private queueMeta(p: string, data: Buffer): boolean {
    if (!writePool().enabled) return false;
    const m = (this.metaBatch ??= { paths: [], parts: [], bytes: 0, symlinks: [], owners: [] });
    m.paths.push(p);
    m.parts.push(data);
    m.bytes += data.length;
    if (m.paths.length + m.symlinks.length / 2 >= META_BATCH_FILES || m.bytes >= META_BATCH_BYTES) this.flushMeta();
    return true;
  }

  /** Queue a symlink object (bare repository, no xattrs) for the I/O workers; false when there are none. */
  private queueSymlink(p: string, meta: FileMeta): boolean {
    if (!writePool().enabled || this.repo.mode !== 'bare' || meta.xattrs.length !== 0) return false;
    const m = (this.metaBatch ??= { paths: [], parts: [], bytes: 0, symlinks: [], owners: [] });
    m.symlinks.push(p, meta.symlinkTarget);
    const chown = meta.uid !== EUID || meta.gid !== EGID;
    m.owners.push(chown ? meta.uid : -1, chown ? meta.gid : -1);
    if (m.paths.length + m.symlinks.length / 2 >= META_BATCH_FILES) this.flushMeta();
    return true;
  }

  /** Send the queued metadata objects to a worker (written here when no worker can start). */
  private flushMeta(): void {
    const m = this.metaBatch;
    if (m === null) return;
    this.metaBatch = null;
    const buf = new Uint8Array(m.bytes); // its own memory: it is transferred
    let o = 0;
    for (const d of m.parts) {
      buf.set(d, o);
      o += d.length;
    }
    const chmod = (0o644 & this.umask) !== 0;
    const job = writePool().meta({ paths: m.paths, lens: m.parts.map((d) => d.length), buf, chmod, symlinks: m.symlinks, owners: m.owners, dirs: this.dirs });
    if (job === null) {
      try {
        m.paths.forEach((p, i) => {
          this.makeStageParent(p);
          this.writeMetaHere(p, m.parts[i]!);
        });
        for (let i = 0; i < m.symlinks.length; i += 2) {
          this.makeStageParent(m.symlinks[i]!);
          fs.symlinkSync(m.symlinks[i + 1]!, m.symlinks[i]!);
          if (m.owners[i]! >= 0) fs.lchownSync(m.symlinks[i]!, m.owners[i]!, m.owners[i + 1]!);
        }
      } catch (e) {
        if (this.writeError === null) this.writeError = { e: wrapError('stage metadata objects', e) };
      }
      return;
    }
    this.inflight++;
    this.inflightBytes += m.bytes;
    job.then(
      (r) => {
        if (r.err && this.writeError === null) this.writeError = { e: wrapError('stage metadata objects', deserializeError(r.err)) };
        // the symlink objects' signatures, for recordVerified (staged path: <staging>/xx/rest.file)
        r.sig.forEach((sig, i) => {
          const p = m.symlinks[2 * i]!;
          const slash = p.lastIndexOf('/');
          this.sigs.set(p.slice(slash - 2, slash) + p.slice(slash + 1, -5), sig);
        });
        this.settle(m.bytes);
      },
      (e: unknown) => {
        if (this.writeError === null) this.writeError = { e: wrapError('stage metadata objects', e) };
        this.settle(m.bytes);
      },
    );
  }

  /** Make the xx/ dir of staged path `p` (a queued object no worker took). */
  private makeStageParent(p: string): void {
    const slash = p.lastIndexOf('/');
    this.makeStageSub(p.slice(slash - 2, slash));
  }

  /** Create (or replace) a staged metadata object file, mode 0644. */
  private writeMetaHere(p: string, data: Buffer): void {
    const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
    try {
      fs.writeSync(fd, data);
      if ((0o644 & this.umask) !== 0) fs.fchmodSync(fd, 0o644);
    } finally {
      fs.closeSync(fd);
    }
  }

  private settle(size: number): void {
    this.inflight--;
    this.inflightBytes -= size;
    // wake every waiter: they wait for different bounds
    for (const r of this.slotWaiters.splice(0)) r();
  }

  /**
   * Store a regular file; returns its content checksum. `candidate` names the object the file
   * probably equals (large-dedup.ts), asked for only when the file is too big to hash in memory.
   */
  async writeRegularFile(meta: FileMeta, content: FileContent, size: number, candidate?: () => Promise<Checksum | null>): Promise<Checksum> {
    this.ensureOpen();
    this.checkMeta(meta, 'file');
    if (this.pooled(meta, size)) {
      const { done } = await this.queueRegularFile(meta, content, size);
      this.flushQueued();
      return done;
    }
    await this.waitSlot();
    if (Buffer.isBuffer(content)) {
      if (content.length !== size) throw this.sizeMismatch(size, content.length);
      return this.writeSmall(meta, [content], size);
    }
    if (Array.isArray(content)) {
      const n = totalLength(content);
      if (n !== size) throw this.sizeMismatch(size, n);
      return this.writeSmall(meta, content, size);
    }
    if (size <= BUFFERED_FILE_MAX) {
      // hashed before anything is written: an object already present costs no write at all
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const chunk of toReadable(content)) {
        n += chunk.length;
        if (n > size) throw this.sizeMismatch(size, n);
        chunks.push(chunk);
      }
      if (n !== size) throw this.sizeMismatch(size, n);
      return this.writeSmall(meta, chunks, n);
    }
    return this.writeLarge(meta, content, size, candidate);
  }

  private writeSmall(meta: FileMeta, data: Buffer[], size: number): Checksum {
    const h = createContentHasher(meta);
    for (const d of data) h.update(d);
    const c = h.digest('hex') as Checksum;
    if (this.exists(c, 'file')) {
      this.stats.objectsSkipped++;
      return c;
    }
    const p = this.stagePath(c, 'file');
    const cm = this.createMode(meta);
    this.markStaged(c, 'file', size);
    // created here, synchronously: handing the creation to the thread pool (a write-behind, until
    // the ninth session) cost this thread more per file (submission, wake-up, callback: ~36 us on
    // this PVM guest) than the creation itself (~30-40 us with the write, futimes and close on a
    // quiet machine); docs/benchmarks.md, "Pull", ninth session
    try {
      const fd = fs.openSync(p, O_CREATE, cm.mode);
      try {
        writeAllSync(fd, data);
        this.finishRegular(fd, p, meta, cm.chmod);
        // its verified-object marker signature now, from the open file (as the I/O workers do),
        // instead of an lstat by path in the commit's serial tail (recordVerified)
        this.sigs.set(c, signature(fs.fstatSync(fd)));
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw xattrStageError(c, meta, e) ?? wrapError(`stage file object ${c}`, e);
    }
    return c;
  }

  /** Wait until fewer than `max` files are in flight on the I/O workers (and their bytes are bounded). */
  private async waitSlot(max = AHEAD_MAX, maxBytes = AHEAD_BYTES): Promise<void> {
    while (this.inflight > 0 && (this.inflight >= max || this.inflightBytes >= maxBytes)) {
      this.flushQueued(); // queued files count as in flight: they must be on their way
      await new Promise<void>((r) => this.slotWaiters.push(r));
    }
    if (this.writeError !== null) throw this.writeError.e;
  }

  /** Wait for every file in flight on the I/O workers; throws the first failure. */
  private async drain(): Promise<void> {
    this.flushQueued();
    while (this.inflight > 0) await new Promise<void>((r) => this.slotWaiters.push(r));
    if (this.writeError !== null) throw this.writeError.e;
  }

  /**
   * A file too big to hash in memory: compared with `candidate`'s object while it is hashed,
   * and written only from where it differs (large-dedup.ts has the rule); without a usable
   * candidate, streamed to a temporary file while hashed. Either way the object is named by the
   * stream's checksum, and nothing is kept when that object is already in the store.
   */
  private async writeLarge(meta: FileMeta, content: NodeJS.ReadableStream | AsyncIterable<Buffer>, size: number, candidate?: () => Promise<Checksum | null>): Promise<Checksum> {
    const tmp = path.join(this.stagingDir, `tmp-${this.tmpCounter++}`); // never a checksum.ext name
    const hasher = createContentHasher(meta);
    let cmp = await this.openCandidate(candidate, size);
    let fh: fsp.FileHandle | null = null;
    let n = 0;
    let c: Checksum;
    try {
      if (cmp === null) fh = await fsp.open(tmp, 'wx', 0o600);
      for await (const chunk of toReadable(content)) {
        n += chunk.length;
        if (n > size) throw this.sizeMismatch(size, n);
        if (cmp !== null && !(await cmp.equal(chunk))) {
          // diverged: the staged file gets the bytes that matched (copied from the candidate and
          // re-hashed: they must hash as the stream's did), then the stream from this chunk on
          fh = await fsp.open(tmp, 'wx', 0o600);
          await cmp.copyPrefix(fh, cmp.matched, meta, hasher.copy().digest('hex'));
          await cmp.close();
          cmp = null;
        }
        hasher.update(chunk);
        if (fh !== null) await fh.write(chunk);
      }
      if (n !== size) throw this.sizeMismatch(size, n);
      c = hasher.digest('hex') as Checksum;
      if (this.exists(c, 'file')) {
        await cmp?.close();
        if (fh !== null) {
          await fh.close();
          await fsp.rm(tmp, { force: true });
        }
        this.stats.objectsSkipped++;
        return c;
      }
      if (fh === null) {
        // equal to the candidate to its end, but the checksum names another object (other
        // owner, mode or xattrs; or a misnamed candidate): stage a verified copy of its bytes
        fh = await fsp.open(tmp, 'wx', 0o600);
        await cmp!.copyPrefix(fh, n, meta, c);
      }
      await cmp?.close();
      cmp = null;
      this.finishRegular(fh.fd, tmp, meta);
    } catch (e) {
      await cmp?.close();
      if (fh !== null) {
        await fh.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
      }
      throw e instanceof AtomicError ? e : wrapError('stage large file', e);
    }
    await fh.close();
    await fsp.rename(tmp, this.stagePath(c, 'file'));
    this.markStaged(c, 'file', n);
    return c;
  }

  /** The candidate object for a large file of `size` bytes, open for the compare; null when there is none it can use. */
  private async openCandidate(candidate: (() => Promise<Checksum | null>) | undefined, size: number): Promise<CandidateCompare | null> {
    if (candidate === undefined || this.repo.mode === 'archive') return null;
    const c = await candidate().catch(() => null);
    if (c === null || !isChecksum(c)) return null;
    return CandidateCompare.open(this.repo.objectPath(c, 'file'), c, size);
  }

  /** Store a symlink (meta.symlinkTarget, mode S_IFLNK|0777); returns its checksum. */
  async writeSymlink(meta: FileMeta): Promise<Checksum> {
    this.ensureOpen();
    this.checkMeta(meta, 'symlink');
    if (!meta.symlinkTarget) throw new AtomicError('LAYER_INVALID', 'symlink with an empty target');
    const c = createContentHasher(meta).digest('hex') as Checksum;
    if (this.exists(c, 'file')) {
      this.stats.objectsSkipped++;
      return c;
    }
    if (this.queueSymlink(this.stagePath(c, 'file', false), meta)) {
      this.markStaged(c, 'file', 0);
      return c;
    }
    const p = this.stagePath(c, 'file');
    try {
      if (this.repo.mode === 'bare') {
        fs.symlinkSync(meta.symlinkTarget, p);
        if (meta.uid !== EUID || meta.gid !== EGID) fs.lchownSync(p, meta.uid, meta.gid);
        for (const x of meta.xattrs) setAttributeSync(p, x.name, x.value);
      } else {
        const fd = fs.openSync(p, O_CREATE, 0o644);
        try {
          fs.writeSync(fd, Buffer.from(meta.symlinkTarget + '\0', 'utf8'));
          this.finishRegular(fd, p, meta);
        } finally {
          fs.closeSync(fd);
        }
      }
    } catch (e) {
      throw wrapError(`stage symlink object ${c} -> ${meta.symlinkTarget}`, e);
    }
    this.markStaged(c, 'file', 0);
    return c;
  }

  /** Stage a metadata object (mode 0644) named by `c`. */
  private writeMetaObject(c: Checksum, type: ObjectType, data: Buffer, replace = false): Checksum {
    const ext = K.OBJECT_EXT[type];
    if (!replace && this.exists(c, ext)) {
      this.stats.objectsSkipped++;
      return c;
    }
    // dirtrees and dirmetas (a layer's tree, written at its end) are created by the I/O workers
    // in parallel; drain() (commit, abort, writeCommit) waits for them
    if ((type === 'dirtree' || type === 'dirmeta') && this.queueMeta(this.stagePath(c, ext, false), data)) {
      this.markStaged(c, ext, data.length);
      return c;
    }
    const p = this.stagePath(c, ext);
    try {
      this.writeMetaHere(p, data);
    } catch (e) {
      throw wrapError(`stage ${type} object ${c}`, e);
    }
    if (!(replace && this.staged.some((s) => s.name === `${c}.${ext}`))) this.markStaged(c, ext, data.length);
    return c;
  }

  async writeDirMeta(m: DirMeta): Promise<Checksum> {
    this.ensureOpen();
    const data = encodeDirMeta(m);
    return this.writeMetaObject(sha256Hex(data), 'dirmeta', data);
  }

  async writeDirTree(t: DirTree): Promise<Checksum> {
    this.ensureOpen();
    const data = encodeDirTree(t);
    return this.writeMetaObject(sha256Hex(data), 'dirtree', data);
  }

  /** Store a commit (and its detached metadata, replacing any existing one). */
  async writeCommit(c: Commit, detached?: Metadata): Promise<Checksum> {
    this.ensureOpen();
    await this.drain();
    const data = encodeCommit(c);
    const sum = this.writeMetaObject(sha256Hex(data), 'commit', data);
    this.commits.add(sum);
    if (detached) this.writeMetaObject(sum, 'commitmeta', encodeMetadata(detached), true);
    return sum;
  }

  /** Queue a ref update (null = delete), applied by commit() after all objects are durable. */
  setRef(ref: string, checksum: Checksum | null): void {
    this.ensureOpen();
    if (checksum !== null && !isChecksum(checksum)) throw new AtomicError('INTERNAL', `setRef(${ref}): "${checksum}" is not a checksum`);
    if (!ref.split('/').every((p) => /^[\w][-.\w]*$/.test(p))) throw new AtomicError('USAGE', `invalid ref name "${ref}"`);
    this.refs.set(ref, checksum);
  }

  private async syncfs(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('sync', ['-f', this.stagingDir], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new AtomicError('IO', `sync -f ${this.stagingDir} failed (exit ${code}): ${err.trim()}`))));
    });
  }

  /** Make staged objects durable, move them into objects/, then apply the queued refs. */
  async commit(): Promise<void> {
    this.ensureOpen();
    this.state = 'committing';
    const moved: string[] = []; // staged xx/ dirs renamed into objects/ whole
    try {
      await this.drain();
      const objects = path.join(this.repo.path, K.OBJECTS_DIR);
      if (this.staged.length) {
        // `ostree fsck` walks every commit object present: one that landed before its trees
        // would be an error. So a commit is renamed in after everything else (a kill -9 in
        // between leaves complete trees and no commit), and is marked partial
        // (state/<c>.commitpartial, as `ostree pull` marks one it is still fetching; fsck counts
        // it as "not verified") from before the first syncfs until its objects are durable,
        // which covers a power loss too: renames are made durable in no particular order.
        this.markPartial();
        await this.syncfs();
        faultPoint('store:commit:after-syncfs');
        // per objects/xx: a staged xx/ dir whose objects/xx was absent or empty (a cold pull into
        // a new store: every dir) is renamed in whole, one rename instead of one per object, when
        // it holds exactly the objects staged in it (anything else there must not land in
        // objects/); otherwise objects/xx is made unless a thread of this transaction saw it
        // there, then each object renamed in (see the rule at the top: only a concurrent
        // transaction's copy of the same object can be replaced); on the I/O workers in parallel
        // batches of whole dirs (synchronous calls: measured faster than a pool of async ones)
        const bySub = new Map<string, Staged[]>();
        const stage = this.stagingDir;
        const last: Staged[] = []; // commit objects, renamed in after the rest
        for (const s of this.staged) {
          if (s.name.endsWith('.commit')) {
            last.push(s);
            continue;
          }
          const sub = s.rel.slice(0, 2);
          let list = bySub.get(sub);
          if (list === undefined) bySub.set(sub, (list = []));
          list.push(s);
        }
        let filled = filledObjectDirs.get(objects);
        if (filled === undefined) filledObjectDirs.set(objects, (filled = new Set()));
        const groups: RenameGroup[] = [];
        for (const [sub, list] of bySub) {
          const emptyThen = hasFlag(this.dirs, sub, OBJ_ABSENT) || this.listed.get(sub)?.size === 0;
          if (emptyThen && !filled.has(sub) && this.holdsExactly(`${stage}/${sub}`, list) && this.moveDir(`${stage}/${sub}`, `${objects}/${sub}`)) {
            moved.push(sub);
            continue;
          }
          const pairs: string[] = [];
          for (const x of list) pairs.push(`${stage}/${x.rel}`, `${objects}/${x.rel}`);
          groups.push({ dir: hasFlag(this.dirs, sub, OBJ_PRESENT) && !hasFlag(this.dirs, sub, OBJ_ABSENT) ? null : `${objects}/${sub}`, pairs });
        }
        await renameBatches(groups);
        for (const sub of bySub.keys()) filled.add(sub);
        faultPoint('store:commit:trees-in');
        for (const x of last) {
          const sub = x.rel.slice(0, 2);
          try {
            fs.mkdirSync(`${objects}/${sub}`, { mode: 0o755 });
          } catch (e) {
            if (!isErrno(e, 'EEXIST')) throw e;
          }
          fs.renameSync(`${stage}/${x.rel}`, `${objects}/${x.rel}`);
          filled.add(sub);
        }
        faultPoint('store:commit:after-link');
        this.recordVerified(this.staged, objects);
        // The renames made durable before any ref moves: one syncfs again (the new entries of
        // the objects/xx dirs and of objects/), measured cheaper than an fsync of each of up to
        // 256 objects/xx dirs (three syscalls each, on the thread pool the other layers of a
        // pull write through); docs/benchmarks.md, "Pull", eighth session.
        await this.syncfs();
      } else if (this.hasPartialMarker()) {
        // nothing staged: every object was there. A marker left by a killed run means its objects
        // may not be durable yet (killed before its second syncfs): sync them before the marker
        // goes and a ref points at them
        await this.syncfs();
      }
      this.clearPartial();
      for (const [ref, c] of this.refs) {
        const f = path.join(this.repo.path, K.REFS_HEADS_DIR, ref);
        if (c === null) {
          try {
            await fsp.unlink(f);
            await fsyncDir(path.dirname(f));
          } catch (e) {
            if (!isErrno(e, 'ENOENT')) throw e;
          }
        } else {
          await fsp.mkdir(path.dirname(f), { recursive: true, mode: 0o755 });
          await atomicWrite(f, `${c}\n`, { mode: 0o644 });
        }
      }
      // the staging dir is kept for the next transaction with its xx/ dirs, as when nothing moved
      // (the next one need not make them: bytes written by an update pull)
      for (const sub of moved) {
        try {
          fs.mkdirSync(`${this.stagingDir}/${sub}`, { mode: 0o755 });
        } catch {
          // only saves the next transaction a mkdir: the refs are written, the commit succeeded
        }
      }
    } catch (e) {
      await this.finish();
      throw e instanceof AtomicError ? e : wrapError(`commit transaction on ${this.repo.path}`, e);
    }
    this.committed = true;
    await this.finish();
  }

  private partialMarker(c: Checksum): string {
    return path.join(this.repo.path, K.commitPartialRel(c));
  }

  /** True when a killed earlier run left the marker of one of this transaction's commits. */
  private hasPartialMarker(): boolean {
    for (const c of this.commits) {
      try {
        fs.lstatSync(this.partialMarker(c));
        return true;
      } catch {
        // absent (or state/ is no directory: no marker of ours there)
      }
    }
    return false;
  }

  /**
   * Mark this transaction's commits partial, even one already present (a killed earlier run may
   * have left it without its trees; this run's success removes its marker). state/ must be a
   * directory of the repo and a marker an empty file, not a symlink out of it.
   */
  private markPartial(): void {
    if (this.commits.size === 0) return;
    const dir = path.join(this.repo.path, K.STATE_DIR);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) fs.mkdirSync(dir, { mode: 0o755 });
    else if (!st.isDirectory()) {
      throw new AtomicError('STORE_INVALID', `${dir} is not a directory`, {
        ref: dir,
        suggestions: [`Remove ${dir} (it is not something ostree made), or recreate the repository.`],
      });
    }
    for (const c of this.commits) {
      const f = this.partialMarker(c);
      let fd: number;
      try {
        fd = fs.openSync(f, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o644);
      } catch (e) {
        if (!isErrno(e, 'ELOOP') && !isErrno(e, 'EISDIR')) throw e;
        throw new AtomicError('STORE_INVALID', `${f} is not a regular file (${(e as NodeJS.ErrnoException).code})`, {
          cause: e,
          ref: f,
          suggestions: [`Remove ${f}: ostree makes it an empty file, and it marks a commit whose objects may be missing.`],
        });
      }
      fs.closeSync(fd);
    }
  }

  /** Remove the markers of this transaction's commits: their objects are durable. */
  private clearPartial(): void {
    for (const c of this.commits) {
      try {
        fs.unlinkSync(this.partialMarker(c));
      } catch (e) {
        if (!isErrno(e, 'ENOENT') && !isErrno(e, 'ENOTDIR')) throw e;
      }
    }
  }

  /** True when staged dir `dir` holds exactly the objects staged in it (`list`), nothing else. */
  private holdsExactly(dir: string, list: Staged[]): boolean {
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw e;
    }
    if (entries.length !== list.length) return false;
    const names = new Set<string>();
    for (const x of list) names.add(x.rel.slice(3)); // xx/rest.ext -> rest.ext
    return names.size === entries.length && entries.every((n) => names.has(n));
  }

  /** Rename staged dir `from` to objects dir `to`; false when `to` exists and is not empty (then its objects go one by one). */
  private moveDir(from: string, to: string): boolean {
    try {
      fs.renameSync(from, to);
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOTEMPTY') || isErrno(e, 'EEXIST')) return false;
      throw e;
    }
  }

  /**
   * Content, dirtree and dirmeta objects this transaction hashed and renamed in are known to
   * match their checksum: record them for object-verify.ts (the first checkout then only stats
   * them). Objects that were already there were not staged: their bytes were not read here.
   */
  private recordVerified(renamed: Staged[], objects: string): void {
    const lines: string[] = [];
    for (const s of renamed) {
      if (!s.name.endsWith('.file') && !s.name.endsWith('.dirtree') && !s.name.endsWith('.dirmeta')) continue;
      const c = s.name.slice(0, 64);
      let sig = this.sigs.get(c);
      if (sig === undefined) {
        const st = fs.lstatSync(`${objects}/${s.rel}`, { throwIfNoEntry: false });
        if (st === undefined) continue;
        sig = signature(st);
      }
      lines.push(`${c} ${sig}\n`);
    }
    recordVerifiedObjects(this.repo, lines);
  }

  /** Drop everything staged and release the lock. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state === 'done') return;
    await this.finish();
  }

  private async finish(): Promise<void> {
    this.state = 'done';
    try {
      await this.drain().catch(() => undefined); // nothing may still be writing into the staging dir
      if (writePool().enabled) writePool().endTx(this.stagingDir);
      if (!(this.committed && releaseStaging(path.dirname(this.stagingDir), this.stagingDir))) await fsp.rm(this.stagingDir, { recursive: true, force: true });
    } finally {
      // a caller may keep the transaction (its stats): not its buffers and per-object sets
      this.freeBufs.length = 0;
      this.known.clear();
      this.listed.clear();
      this.sigs.clear();
      this.staged.length = 0;
      await this.lock.release();
    }
  }
}
