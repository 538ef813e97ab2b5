/**
 * A write transaction: objects are staged under `tmp/staging-<pid>-<random>/xx/rest.ext`
 * (with their final owner/mode/xattrs), made durable with one syncfs at commit(), then
 * hard-linked into objects/xx/ without replacing existing objects, object dirs fsynced,
 * and finally the queued refs are written with atomicWrite. Holds the SHARED repo lock.
 *
 * Small files (<= 1 MiB) are hashed from memory and written with synchronous syscalls
 * (cheapest per object in Node); big files stream to a temp file while hashing.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { setAttributeSync } from '@napi-rs/xattr';
import { AtomicError, isErrno, wrapError } from '../util/errors.js';
import { atomicWrite, faultPoint, fsyncDir } from '../util/atomic-write.js';
import * as K from './constants.js';
import { bareUserDiskMode, createContentHasher, encodeBareUserMeta, encodeCommit, encodeDirMeta, encodeDirTree, encodeMetadata, isChecksum, sha256Hex } from './object-codec.js';
import type { RepoLock } from './repo-lock.js';
import type { OstreeRepo } from './repo.js';
import type { Checksum, Commit, DirMeta, DirTree, FileMeta, Metadata, ObjectType } from './types.js';

const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

function toReadable(s: NodeJS.ReadableStream): AsyncIterable<Buffer> {
  if (Symbol.asyncIterator in s) return s as unknown as AsyncIterable<Buffer>;
  return new Readable().wrap(s);
}

async function runPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface Staged {
  rel: string; // xx/rest.ext
  replace: boolean; // commitmeta: replace an existing one
}

export class Transaction {
  readonly stats = { objectsWritten: 0, objectsSkipped: 0, bytesWritten: 0 };
  private readonly staged: Staged[] = [];
  /** `checksum.ext` of objects known to exist (staged here or present in objects/). */
  private readonly known = new Set<string>();
  private readonly stageSubdirs = new Set<string>();
  private readonly refs = new Map<string, Checksum | null>();
  private tmpCounter = 0;
  private state: 'open' | 'committing' | 'done' = 'open';

  private constructor(readonly repo: OstreeRepo, private readonly lock: RepoLock, readonly stagingDir: string) {}

  /** Internal: use OstreeRepo.beginTransaction(). */
  static async create(repo: OstreeRepo, lock: RepoLock): Promise<Transaction> {
    const dir = path.join(repo.path, K.TMP_DIR, `${K.STAGING_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(path.join(repo.path, K.TMP_DIR), { recursive: true });
    await fsp.mkdir(dir, { mode: 0o755 });
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
    const st = fs.lstatSync(path.join(this.repo.path, K.OBJECTS_DIR, this.rel(c, ext)), { throwIfNoEntry: false });
    if (st) this.known.add(key);
    return st !== undefined;
  }

  /** Path in the staging dir for `rel`, creating its xx/ subdir on first use. */
  private stagePath(rel: string): string {
    const sub = rel.slice(0, 2);
    if (!this.stageSubdirs.has(sub)) {
      fs.mkdirSync(path.join(this.stagingDir, sub), { recursive: true, mode: 0o755 });
      this.stageSubdirs.add(sub);
    }
    return path.join(this.stagingDir, rel);
  }

  private markStaged(c: Checksum, ext: string, bytes: number, replace = false): void {
    this.known.add(`${c}.${ext}`);
    this.staged.push({ rel: this.rel(c, ext), replace });
    this.stats.objectsWritten++;
    this.stats.bytesWritten += bytes;
  }

  /** Apply owner/mode/xattrs/mtime of a regular content file to an open fd (mode per repo mode). */
  private finishRegular(fd: number, p: string, meta: FileMeta): void {
    if (this.repo.mode === 'bare') {
      if (meta.uid !== EUID || meta.gid !== EGID) fs.fchownSync(fd, meta.uid, meta.gid);
      fs.fchmodSync(fd, meta.mode & 0o7777); // after chown: chown clears setuid/setgid
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
    return new AtomicError('LAYER_INVALID', `file content is ${got} bytes, but its header announced ${expected}`, { suggestions: ['The layer is truncated or corrupt; pull it again.'] });
  }

  /** Store a regular file; returns its content checksum. */
  async writeRegularFile(meta: FileMeta, content: NodeJS.ReadableStream | Buffer, size: number): Promise<Checksum> {
    this.ensureOpen();
    this.checkMeta(meta, 'file');
    if (Buffer.isBuffer(content)) {
      if (content.length !== size) throw this.sizeMismatch(size, content.length);
      return this.writeSmall(meta, content);
    }
    if (size <= K.SMALL_FILE_MAX) {
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const chunk of toReadable(content)) {
        n += chunk.length;
        if (n > size) throw this.sizeMismatch(size, n);
        chunks.push(chunk);
      }
      if (n !== size) throw this.sizeMismatch(size, n);
      return this.writeSmall(meta, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n));
    }
    return this.writeLarge(meta, content, size);
  }

  private writeSmall(meta: FileMeta, data: Buffer): Checksum {
    const c = createContentHasher(meta).update(data).digest('hex') as Checksum;
    if (this.exists(c, 'file')) {
      this.stats.objectsSkipped++;
      return c;
    }
    const rel = this.rel(c, 'file');
    const p = this.stagePath(rel);
    try {
      const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      try {
        if (data.length) fs.writeSync(fd, data);
        this.finishRegular(fd, p, meta);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw wrapError(`stage file object ${c}`, e);
    }
    this.markStaged(c, 'file', data.length);
    return c;
  }

  private async writeLarge(meta: FileMeta, content: NodeJS.ReadableStream, size: number): Promise<Checksum> {
    const tmp = path.join(this.stagingDir, `tmp-${this.tmpCounter++}`);
    const hasher = createContentHasher(meta);
    const fh = await fsp.open(tmp, 'wx', 0o600);
    let n = 0;
    let c: Checksum;
    try {
      for await (const chunk of toReadable(content)) {
        n += chunk.length;
        if (n > size) throw this.sizeMismatch(size, n);
        hasher.update(chunk);
        await fh.write(chunk);
      }
      if (n !== size) throw this.sizeMismatch(size, n);
      c = hasher.digest('hex') as Checksum;
      if (!this.exists(c, 'file')) this.finishRegular(fh.fd, tmp, meta);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw e instanceof AtomicError ? e : wrapError('stage large file', e);
    }
    await fh.close();
    if (this.exists(c, 'file')) {
      await fsp.rm(tmp, { force: true });
      this.stats.objectsSkipped++;
      return c;
    }
    const rel = this.rel(c, 'file');
    await fsp.rename(tmp, this.stagePath(rel));
    this.markStaged(c, 'file', n);
    return c;
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
    const p = this.stagePath(this.rel(c, 'file'));
    try {
      if (this.repo.mode === 'bare') {
        fs.symlinkSync(meta.symlinkTarget, p);
        if (meta.uid !== EUID || meta.gid !== EGID) fs.lchownSync(p, meta.uid, meta.gid);
        for (const x of meta.xattrs) setAttributeSync(p, x.name, x.value);
      } else {
        const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
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
    const p = this.stagePath(this.rel(c, ext));
    try {
      const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
      try {
        fs.writeSync(fd, data);
        fs.fchmodSync(fd, 0o644);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw wrapError(`stage ${type} object ${c}`, e);
    }
    if (!(replace && this.known.has(`${c}.${ext}`) && this.staged.some((s) => s.rel === this.rel(c, ext)))) this.markStaged(c, ext, data.length, replace);
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
    const data = encodeCommit(c);
    const sum = this.writeMetaObject(sha256Hex(data), 'commit', data);
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
    try {
      const objects = path.join(this.repo.path, K.OBJECTS_DIR);
      if (this.staged.length) {
        await this.syncfs();
        faultPoint('store:commit:after-syncfs');
        // create the objects/xx dirs first, then link + unlink each object (synchronous calls:
        // measured faster than a pool of async ones, whose thread hops cost more than they overlap)
        const touched = new Set(this.staged.map((s) => s.rel.slice(0, 2)));
        let newSubdir = false;
        for (const sub of touched) {
          try {
            fs.mkdirSync(path.join(objects, sub), { mode: 0o755 });
            newSubdir = true;
          } catch (e) {
            if (!isErrno(e, 'EEXIST')) throw e;
          }
        }
        for (const s of this.staged) {
          const from = path.join(this.stagingDir, s.rel);
          const to = path.join(objects, s.rel);
          if (s.replace) {
            fs.renameSync(from, to);
            continue;
          }
          try {
            fs.linkSync(from, to);
          } catch (e) {
            if (!isErrno(e, 'EEXIST')) throw e;
          }
          fs.unlinkSync(from);
        }
        faultPoint('store:commit:after-link');
        await runPool([...touched], 16, (sub) => fsyncDir(path.join(objects, sub)));
        if (newSubdir) await fsyncDir(objects);
      }
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
    } catch (e) {
      await this.finish();
      throw e instanceof AtomicError ? e : wrapError(`commit transaction on ${this.repo.path}`, e);
    }
    await this.finish();
  }

  /** Drop everything staged and release the lock. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state === 'done') return;
    await this.finish();
  }

  private async finish(): Promise<void> {
    this.state = 'done';
    try {
      await fsp.rm(this.stagingDir, { recursive: true, force: true });
    } finally {
      await this.lock.release();
    }
  }
}
