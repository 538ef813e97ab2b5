/**
 * Large files that are probably already in the store: the dedup check before anything is written.
 *
 * A file bigger than the in-memory bound (transaction.ts BUFFERED_FILE_MAX) cannot be hashed
 * before it is written, so it used to stream into a temporary file that was deleted when its
 * checksum turned out to be present: an update pull whose 50-150 MiB binary is unchanged wrote
 * it again. Now the importer names a candidate - the object a previous version of the image holds
 * at the same path with the same size (`TreeCandidates`, looked up lazily along the path in
 * those commits' dirtrees) - and the transaction compares the incoming bytes with the
 * candidate's while hashing them (`CandidateCompare`); nothing is written while they are equal.
 *
 * The rule (docs/architecture.md, "Large files"): the candidate only decides what is written
 * while the stream is read, never the name. The object's name is always the checksum of the
 * stream (header + content); a candidate whose bytes matched to the end is skipped only because
 * that checksum is in the store, as for any file. When the bytes diverge at chunk k (or match but
 * the checksum is another object's), the staged file gets the candidate's first k bytes copied
 * and re-hashed: they must hash to what the stream's first k bytes hashed to, else the import
 * fails (the candidate changed under us) and nothing is stored. A candidate that is not a regular
 * file of the announced size (a symlink, a FIFO, truncated) is not used.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { AtomicError } from '../util/errors.js';
import { createContentHasher } from './object-codec.js';
import type { Checksum, Commit, DirTree, FileMeta, ObjectType } from './types.js';

/** What TreeCandidates reads of the store (an OstreeRepo). */
export interface TreeSource {
  readCommit(c: Checksum): Promise<Commit>;
  readDirTree(c: Checksum): Promise<DirTree>;
  objectPath(c: Checksum, type: ObjectType): string;
}

/** Where the importer looks for the object a large file probably equals. */
export interface LargeFileCandidates {
  /** The checksum of an object at `path` (entry names from the layer root) of `size` bytes, or null. */
  find(path: readonly string[], size: number): Promise<Checksum | null>;
}

/** Dirtrees read by one TreeCandidates at most (a walk reads one per path component). */
const TREE_CACHE_MAX = 4096;

/**
 * Candidates from the trees of `commits()` (called once, at the first lookup: nothing is read for
 * a layer without large files), searched in that order: the first commit holding a regular file
 * at the path whose object is a regular file of the size wins. Any read error (a missing or
 * corrupt object) only means "no candidate here".
 */
export class TreeCandidates implements LargeFileCandidates {
  private roots: Promise<Checksum[]> | null = null;
  private readonly trees = new Map<Checksum, Promise<DirTree | null>>();

  constructor(
    private readonly repo: TreeSource,
    private readonly commits: () => Promise<Checksum[]>,
  ) {}

  private rootTrees(): Promise<Checksum[]> {
    this.roots ??= (async () => {
      const out: Checksum[] = [];
      for (const c of await this.commits().catch(() => [])) {
        const commit = await this.repo.readCommit(c).catch(() => null);
        if (commit !== null) out.push(commit.rootTree);
      }
      return out;
    })();
    return this.roots;
  }

  private tree(c: Checksum): Promise<DirTree | null> {
    let t = this.trees.get(c);
    if (t === undefined) {
      t = this.repo.readDirTree(c).catch(() => null);
      if (this.trees.size >= TREE_CACHE_MAX) this.trees.clear();
      this.trees.set(c, t);
    }
    return t;
  }

  async find(path: readonly string[], size: number): Promise<Checksum | null> {
    if (path.length === 0) return null;
    for (const root of await this.rootTrees()) {
      let t = await this.tree(root);
      for (let i = 0; t !== null && i < path.length - 1; i++) {
        const d = t.dirs.find((x) => x.name === path[i]);
        t = d === undefined ? null : await this.tree(d.tree);
      }
      const f = t?.files.find((x) => x.name === path[path.length - 1]);
      if (f === undefined) continue;
      const st = fs.lstatSync(this.repo.objectPath(f.checksum, 'file'), { throwIfNoEntry: false });
      if (st !== undefined && st.isFile() && st.size === size) return f.checksum;
    }
    return null;
  }
}

/** Bytes of the candidate read at once while comparing. */
const READ_BLOCK = 1024 * 1024;

/**
 * The stream-compare of one large file against a candidate object (see the module comment).
 * `open` returns null when the candidate cannot be used; `equal(chunk)` compares the next bytes
 * of the stream; `copyPrefix` writes the candidate's first `k` bytes to a staged file and checks
 * that they hash (with the header of `meta`) to `expect`.
 */
export class CandidateCompare {
  private readonly buf = Buffer.allocUnsafe(READ_BLOCK);
  private bufAt = 0; // candidate offset of buf[0]
  private bufLen = 0;
  private pos = 0; // bytes compared so far

  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly checksum: Checksum,
    private readonly path: string,
  ) {}

  /** The candidate `c` (object file `p`) when it is a regular file of exactly `size` bytes; else null. */
  static async open(p: string, c: Checksum, size: number): Promise<CandidateCompare | null> {
    const before = fs.lstatSync(p, { throwIfNoEntry: false });
    if (before === undefined || !before.isFile() || before.size !== size) return null;
    let fh: fsp.FileHandle;
    try {
      // O_NOFOLLOW: a symlink swapped in since the lstat is refused; O_NONBLOCK: a FIFO does not hang
      fh = await fsp.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      return null;
    }
    const st = await fh.stat().catch(() => null);
    if (st === null || !st.isFile() || st.size !== size || st.ino !== before.ino || st.dev !== before.dev) {
      await fh.close().catch(() => undefined);
      return null;
    }
    return new CandidateCompare(fh, c, p);
  }

  /** Bytes of the stream found equal to the candidate so far. */
  get matched(): number {
    return this.pos;
  }

  /** True when the candidate's next chunk.length bytes equal `chunk` (then they count as matched). */
  async equal(chunk: Buffer): Promise<boolean> {
    let off = 0;
    while (off < chunk.length) {
      const at = this.pos + off;
      if (at < this.bufAt || at >= this.bufAt + this.bufLen) {
        const { bytesRead } = await this.fh.read(this.buf, 0, READ_BLOCK, at);
        this.bufAt = at;
        this.bufLen = bytesRead;
        if (bytesRead === 0) return false; // shorter than it was
      }
      const i = at - this.bufAt;
      const n = Math.min(chunk.length - off, this.bufLen - i);
      if (!chunk.subarray(off, off + n).equals(this.buf.subarray(i, i + n))) return false;
      off += n;
    }
    this.pos += chunk.length;
    return true;
  }

  /**
   * Write the candidate's first `k` bytes to `out` (at offset 0) and check that, after the header
   * of `meta`, they hash to `expect` (the hex digest of the stream's first k bytes, same header).
   * Throws STORE_CORRUPT when they do not: the candidate changed since it was compared.
   */
  async copyPrefix(out: fsp.FileHandle, k: number, meta: FileMeta, expect: string): Promise<void> {
    const h = createContentHasher(meta);
    let at = 0;
    while (at < k) {
      const { bytesRead } = await this.fh.read(this.buf, 0, Math.min(READ_BLOCK, k - at), at);
      if (bytesRead === 0) break;
      const b = this.buf.subarray(0, bytesRead);
      h.update(b);
      let w = 0;
      while (w < bytesRead) w += (await out.write(b, w, bytesRead - w)).bytesWritten;
      at += bytesRead;
    }
    this.bufLen = 0; // the buffer was reused
    if (at !== k || h.digest('hex') !== expect) {
      throw new AtomicError('STORE_CORRUPT', `object ${this.checksum} (${this.path}) changed while a file equal to its first ${k} bytes was being stored from it`, {
        suggestions: ['Something else is writing into the store: stop it, check the store with `ostree fsck`, then pull again.'],
      });
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}
