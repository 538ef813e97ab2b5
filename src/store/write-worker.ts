/**
 * Body of the store's I/O worker threads (write-pool.ts): hashes and stages small content
 * objects, runs batches of rename() calls (the commit tail of a transaction) and parts of a
 * checkout (checkout-part.ts) so that the importing / checking-out thread and these workers use
 * both cores.
 * Only plain `node:` modules here (no native addons): the worker starts fast and loads nothing
 * that could misbehave off the main thread.
 */
import * as fs from 'node:fs';
import { hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { preloadMarkers, runCheckoutPart, type PartJob, type PartMarkers } from './checkout-part.js';
import { signature } from './verified-markers.js';
import { OBJ_ABSENT, OBJ_PRESENT, STAGE_MADE, hasFlag, setFlag, type DirState } from './tx-dirs.js';

/**
 * A batch of small files: `buf` holds, per file, its size-prefixed header (fileChecksumPrefix)
 * then its content; `items` holds FILE_FIELDS numbers per file: header length, content length,
 * creation mode, mode to fchmod to (-1: none), uid, gid, chown (0/1).
 */
export interface FilesJob {
  t: 'files';
  id: number;
  /** Transaction key: the objects/xx listings below are cached per transaction. */
  tx: string;
  objectsDir: string;
  stagingDir: string;
  /** The transaction's objects/xx and staging xx/ state (tx-dirs.ts), shared by its threads. */
  dirs: DirState;
  buf: Uint8Array;
  items: number[];
}
export const FILE_FIELDS = 7;
/** Make each of `dirs` (objects/xx; EEXIST is fine), then rename() each pair (the transaction's commit tail): from, to, from, to, ... */
export interface RenameJob {
  t: 'rename';
  id: number;
  dirs: string[];
  pairs: string[];
}
/**
 * A batch of metadata objects (dirtree, dirmeta) to create at `paths` (mode 0644, replacing):
 * `buf` holds their bytes one after the other, `lens` their sizes; and symlink objects.
 */
export interface MetaJob {
  t: 'meta';
  id: number;
  paths: string[];
  lens: number[];
  buf: Uint8Array;
  /** fchmod 0644 after creating (the umask would take bits off). */
  chmod: boolean;
  /** Symlink objects (bare repositories): path, target, path, target, ... */
  symlinks: string[];
  /** Per symlink: uid, gid to lchown to (-1, -1: keep the creator's). */
  owners: number[];
  /** The transaction's state of its staging xx/ dirs (tx-dirs.ts): the paths' xx/ dirs are made here when missing. */
  dirs: DirState;
}
/** `buf` is the job's buffer, transferred back for reuse. */
export interface MetaReply {
  id: number;
  buf?: Uint8Array;
  /** Per symlink created, its verified-object signature (the commit records it without an lstat of its own). */
  sig: string[];
  err?: SerializedError;
}
export interface EndTxJob {
  t: 'endtx';
  tx: string;
}
/** Read a checkout's verified-object markers now (null: forget them); no reply. */
export interface MarkersJob {
  t: 'markers';
  markers: PartMarkers | null;
}
export type Job = FilesJob | RenameJob | MetaJob | EndTxJob | MarkersJob | PartJob;

export interface SerializedError {
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
}
/**
 * Per file done so far: checksum, written (else already present), verified-object signature;
 * `buf` is the job's buffer, transferred back so that the importer reuses it (a transferred
 * buffer left to the worker's GC is freed late: the worker allocates little on its heap, so
 * ~60-80 MiB of spent batches piled up before a collection).
 */
export interface FilesReply {
  id: number;
  c: string[];
  written: boolean[];
  sig: Array<string | null>;
  buf?: Uint8Array;
  err?: SerializedError;
}
/** made: how many of `dirs` were created; err: the failure that stopped the batch (the pairs before it were renamed). */
export interface RenameReply {
  id: number;
  made: number;
  err?: SerializedError;
}

const O_CREATE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;
const LIST_DIR_MAX_BYTES = 256 * 1024;

function serialize(e: unknown): SerializedError {
  const x = e as NodeJS.ErrnoException;
  return { message: x instanceof Error ? x.message : String(e), code: x?.code, syscall: x?.syscall, path: x?.path };
}

/** tx -> objects/xx -> names (null: too big to list, lstat instead). */
const listings = new Map<string, Map<string, Set<string> | null>>();
const EMPTY: ReadonlySet<string> = new Set();

function present(job: FilesJob, c: string): boolean {
  let tx = listings.get(job.tx);
  if (tx === undefined) listings.set(job.tx, (tx = new Map()));
  const sub = c.slice(0, 2);
  let names = tx.get(sub);
  if (names === undefined) {
    if (hasFlag(job.dirs, sub, OBJ_ABSENT)) names = EMPTY as Set<string>;
    else {
      const dir = `${job.objectsDir}/${sub}`;
      const st = fs.statSync(dir, { throwIfNoEntry: false });
      setFlag(job.dirs, sub, st === undefined ? OBJ_ABSENT : OBJ_PRESENT);
      names = st === undefined ? (EMPTY as Set<string>) : st.size > LIST_DIR_MAX_BYTES ? null : new Set(fs.readdirSync(dir));
    }
    tx.set(sub, names);
  }
  const name = `${c.slice(2)}.file`;
  if (names !== null) return names.has(name);
  return fs.lstatSync(`${job.objectsDir}/${sub}/${name}`, { throwIfNoEntry: false }) !== undefined;
}

function mkdirOnce(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** Make the staging dir's `sub`/ unless a thread of the transaction has (flag set once it exists). */
function ensureStageDir(dirs: DirState, stagingDir: string, sub: string): void {
  if (hasFlag(dirs, sub, STAGE_MADE)) return;
  mkdirOnce(`${stagingDir}/${sub}`);
  setFlag(dirs, sub, STAGE_MADE);
}

/** The same for the xx/ dir of a staged path (`<staging>/xx/rest.ext`). */
function ensureParentOf(dirs: DirState, p: string): void {
  const slash = p.lastIndexOf('/');
  ensureStageDir(dirs, p.slice(0, slash - 3), p.slice(slash - 2, slash));
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/** Hash and stage one file; true when written (false: already present or staged). */
function stageFile(job: FilesJob, c: string, data: Uint8Array, mode: number, chmod: number, uid: number, gid: number, chown: boolean, sig: Array<string | null>): boolean {
  if (present(job, c)) {
    sig.push(null);
    return false;
  }
  const sub = c.slice(0, 2);
  ensureStageDir(job.dirs, job.stagingDir, sub);
  let fd: number;
  try {
    fd = fs.openSync(`${job.stagingDir}/${sub}/${c.slice(2)}.file`, O_CREATE, mode);
  } catch (e) {
    // staged by a sibling job of the same transaction: that one reports it
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      sig.push(null);
      return false;
    }
    throw e;
  }
  try {
    writeAll(fd, data);
    if (chown) fs.fchownSync(fd, uid, gid);
    if (chmod >= 0) fs.fchmodSync(fd, chmod); // after chown: chown clears setuid/setgid
    fs.futimesSync(fd, 0, 0);
    sig.push(signature(fs.fstatSync(fd)));
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

function filesJob(job: FilesJob): FilesReply {
  const r: FilesReply = { id: job.id, c: [], written: [], sig: [] };
  let off = 0;
  try {
    for (let i = 0; i < job.items.length; i += FILE_FIELDS) {
      const [pre, len, mode, chmod, uid, gid, chown] = job.items.slice(i, i + FILE_FIELDS) as [number, number, number, number, number, number, number];
      // header and content lie one after the other: hashed in one call (no Hash object per file)
      const c = hash('sha256', job.buf.subarray(off, off + pre + len), 'hex');
      const data = job.buf.subarray(off + pre, off + pre + len);
      off += pre + len;
      r.written.push(stageFile(job, c, data, mode, chmod, uid, gid, chown === 1, r.sig));
      r.c.push(c);
    }
  } catch (e) {
    r.err = serialize(e);
  }
  return r;
}

function renameJob(job: RenameJob): RenameReply {
  let made = 0;
  try {
    for (const d of job.dirs) {
      try {
        fs.mkdirSync(d, { mode: 0o755 });
        made++;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    for (let i = 0; i < job.pairs.length; i += 2) fs.renameSync(job.pairs[i]!, job.pairs[i + 1]!);
    return { id: job.id, made };
  } catch (e) {
    return { id: job.id, made, err: serialize(e) };
  }
}

function metaJob(job: MetaJob): MetaReply {
  const sig: string[] = [];
  let off = 0;
  try {
    for (let i = 0; i < job.paths.length; i++) {
      ensureParentOf(job.dirs, job.paths[i]!);
      const fd = fs.openSync(job.paths[i]!, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
      try {
        writeAll(fd, job.buf.subarray(off, off + job.lens[i]!));
        if (job.chmod) fs.fchmodSync(fd, 0o644);
      } finally {
        fs.closeSync(fd);
      }
      off += job.lens[i]!;
    }
    for (let i = 0; i < job.symlinks.length; i += 2) {
      ensureParentOf(job.dirs, job.symlinks[i]!);
      fs.symlinkSync(job.symlinks[i + 1]!, job.symlinks[i]!);
      if (job.owners[i]! >= 0) fs.lchownSync(job.symlinks[i]!, job.owners[i]!, job.owners[i + 1]!);
      sig.push(signature(fs.lstatSync(job.symlinks[i]!)));
    }
    return { id: job.id, sig };
  } catch (e) {
    return { id: job.id, sig, err: serialize(e) };
  }
}

parentPort?.on('message', (job: Job) => {
  if (job.t === 'files') {
    const r = filesJob(job);
    r.buf = job.buf;
    parentPort!.postMessage(r, [job.buf.buffer as ArrayBuffer]);
  } else if (job.t === 'rename') parentPort!.postMessage(renameJob(job));
  else if (job.t === 'meta') {
    const r = metaJob(job);
    r.buf = job.buf;
    parentPort!.postMessage(r, [job.buf.buffer as ArrayBuffer]);
  } else if (job.t === 'part') parentPort!.postMessage(runCheckoutPart(job));
  else if (job.t === 'markers') preloadMarkers(job.markers);
  else listings.delete(job.tx);
});
