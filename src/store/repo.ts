/**
 * An OSTree repository on disk (libostree-compatible layout). Reads every mode (bare,
 * bare-user, bare-user-only, archive); writes go through Transaction (bare, bare-user).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { AtomicError, isErrno, wrapError } from '../util/errors.js';
import { atomicWrite, faultPoint, fsyncDir } from '../util/atomic-write.js';
import { runPool } from '../util/promise-pool.js';
import { compactVerifiedObjects } from './object-verify.js';
import * as K from './constants.js';
import {
  bareUserDiskMode, createContentHasher, decodeArchiveHeader, decodeBareUserMeta, decodeCommit, decodeDirMeta, decodeDirTree,
  decodeMetadata, isChecksum, sha256Hex,
} from './object-codec.js';
import { acquireRepoLock, liveLockPids } from './repo-lock.js';
// loaded by the first write: read-only commands (lists, a pull with nothing to import) do not load
// what a transaction needs (child_process, worker_threads, the store's I/O pool)
import type { Transaction } from './transaction.js';
import type { Checksum, Commit, DirMeta, DirTree, FileMeta, FileObject, Metadata, ObjectType, RepoMode, RepoObjects, Xattr } from './types.js';
import { removeTree } from '../util/remove-tree.js';
import { randomHex } from '../util/random.js';
import { readFdAtMostSync } from '../util/bounded-read.js';
import { fsa as fsp } from '../util/fs-async.js';

const REF_COMPONENT = /^[\w][-.\w]*$/;

function missing(c: string, type: ObjectType, repoPath: string, cause?: unknown): AtomicError {
  return new AtomicError('STORE_OBJECT_MISSING', `object ${c}.${type} is missing from repository ${repoPath}`, {
    cause, ref: c, suggestions: [
      `Run \`atomic images verify IMAGE\` (or \`ostree fsck --repo=${repoPath}\`) to see what else is damaged.`,
      'Repair: `atomic images delete IMAGE`, `atomic images prune` (uninstall the containers using the image first), then pull the image again.',
    ],
  });
}

async function readXattrs(p: string): Promise<Xattr[]> {
  const names = (await listAttributes(p)).sort();
  const out: Xattr[] = [];
  for (const name of names) {
    const value = await getAttribute(p, name);
    if (value) out.push({ name, value });
  }
  return out;
}

/**
 * objects/ is closed to everyone but its owner (0700): an image may carry group/other-writable
 * files, and their objects keep that mode; nobody else may reach them through the store (checkouts
 * of such files are copies, see store/checkout.ts). Tightened on every open for writing by the
 * owner; the real ostree reads the repo as before.
 */
function closeObjectsDir(repo: string): void {
  try {
    const p = path.join(repo, K.OBJECTS_DIR);
    const st = fs.lstatSync(p);
    if (st.isDirectory() && st.uid === (process.geteuid?.() ?? -1) && (st.mode & 0o077) !== 0) fs.chmodSync(p, 0o700);
  } catch {
    /* not ours or absent: left as it is */
  }
}

export class OstreeRepo implements RepoObjects {
  private constructor(readonly path: string, readonly mode: RepoMode) {}

  /** Open an existing repo (any mode). STORE_INVALID if `config` is missing or unreadable. */
  static async open(repoPath: string): Promise<OstreeRepo> {
    const abs = path.resolve(repoPath);
    let text: string;
    try {
      text = await fsp.readFile(path.join(abs, K.CONFIG_FILE), 'utf8');
    } catch (e) {
      throw new AtomicError('STORE_INVALID', `${abs} is not an OSTree repository (cannot read ${K.CONFIG_FILE}: ${(e as Error).message})`, {
        cause: e, ref: abs, suggestions: ['Check the path (ATOMIC_OSTREE_REPO), or create the repository with `ostree init --mode=bare --repo=PATH`.'],
      });
    }
    // a key file with a [core] group holding repo_version, as libostree requires; anything else
    // (garbage, a truncated write, another file) is refused instead of being read as `bare`
    const core = /^\s*\[core\]\s*$/m.exec(text);
    const coreBody = core ? text.slice(core.index + core[0].length).split(/^\s*\[/m)[0] : '';
    if (!core || !/^\s*repo_version\s*=/m.test(coreBody) || text.includes('\0')) {
      const cfg = path.join(abs, K.CONFIG_FILE);
      throw new AtomicError('STORE_INVALID', `${cfg} is not a valid OSTree repository config (expected a [core] group with repo_version=1 and mode=...; it starts with ${JSON.stringify(text.slice(0, 40))})`, {
        ref: cfg,
        suggestions: [
          `If the objects are intact, rewrite it: printf '[core]\\nrepo_version=1\\nmode=bare\\n' > ${cfg} (mode=bare-user for a --user store), then check with: ostree fsck --repo=${abs}`,
          `Otherwise move ${abs} away and pull the images again.`,
        ],
      });
    }
    const m = /^\s*mode\s*=\s*(\S+)\s*$/m.exec(coreBody);
    const raw = m ? m[1]! : 'bare';
    const mode: RepoMode | undefined = raw === 'archive-z2' || raw === 'archive' ? 'archive' : (['bare', 'bare-user', 'bare-user-only'] as const).find((x) => x === raw);
    if (!mode) {
      throw new AtomicError('STORE_UNSUPPORTED_MODE', `repository ${abs} has unsupported mode "${raw}"`, { ref: abs, suggestions: ['Use a repository in mode bare, bare-user, bare-user-only or archive.'] });
    }
    const ver = /^\s*repo_version\s*=\s*(\d+)/m.exec(coreBody);
    if (ver && ver[1] !== '1') throw new AtomicError('STORE_INVALID', `repository ${abs} has unsupported repo_version ${ver[1]}`, { ref: abs });
    return new OstreeRepo(abs, mode);
  }

  /** Open, or create exactly like `ostree init --mode=MODE`. An existing repo keeps its own mode. */
  static async openOrCreate(repoPath: string, mode: 'bare' | 'bare-user'): Promise<OstreeRepo> {
    const abs = path.resolve(repoPath);
    if (fs.existsSync(path.join(abs, K.CONFIG_FILE))) {
      closeObjectsDir(abs);
      return OstreeRepo.open(abs);
    }
    const init = async (dir: string) => {
      for (const d of K.INIT_DIRS) await fsp.mkdir(path.join(dir, d), { recursive: true, mode: 0o755 });
      await fsp.chmod(path.join(dir, K.OBJECTS_DIR), 0o700);
      await atomicWrite(path.join(dir, K.CONFIG_FILE), K.configText(mode), { mode: 0o644 });
    };
    try {
      if (fs.existsSync(abs)) {
        await init(abs); // an existing (empty) directory chosen by the user: fill it in place
      } else {
        // build the whole repo beside its final place and rename it in, so a crash never leaves a
        // repo directory without its config (which the real ostree could not open)
        await fsp.mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
        const tmp = `${abs}.tmp-${process.pid}-${randomHex(4)}`;
        await fsp.mkdir(tmp, { mode: 0o755 });
        try {
          await init(tmp);
          await fsp.rename(tmp, abs);
          await fsyncDir(path.dirname(abs));
        } catch (e) {
          await removeTree(tmp);
          // a concurrent process created it first: use theirs
          if (!(isErrno(e, 'EEXIST') || isErrno(e, 'ENOTEMPTY')) || !fs.existsSync(path.join(abs, K.CONFIG_FILE))) throw e;
        }
      }
    } catch (e) {
      throw wrapError(`create repository ${abs}`, e);
    }
    return OstreeRepo.open(abs);
  }

  objectPath(checksum: Checksum, type: ObjectType): string {
    const ext = type === 'file' && this.mode === 'archive' ? K.ARCHIVE_FILE_EXT : K.OBJECT_EXT[type];
    return path.join(this.path, K.OBJECTS_DIR, checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
  }

  async hasObject(checksum: Checksum, type: ObjectType): Promise<boolean> {
    try {
      await fsp.lstat(this.objectPath(checksum, type));
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw wrapError(`check object ${checksum}.${type}`, e);
    }
  }

  /** Raw bytes of a metadata object. */
  async readObjectBytes(c: Checksum, type: ObjectType): Promise<Buffer> {
    if (!isChecksum(c)) throw new AtomicError('STORE_CORRUPT', `invalid object checksum "${c}"`);
    try {
      return await fsp.readFile(this.objectPath(c, type));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw missing(c, type, this.path, e);
      throw wrapError(`read object ${c}.${type}`, e);
    }
  }

  /** Raw bytes of a metadata object, read synchronously (many tiny reads: cheaper than thread hops). */
  readObjectBytesSync(c: Checksum, type: ObjectType): Buffer {
    if (!isChecksum(c)) throw new AtomicError('STORE_CORRUPT', `invalid object checksum "${c}"`);
    try {
      return fs.readFileSync(this.objectPath(c, type));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw missing(c, type, this.path, e);
      throw wrapError(`read object ${c}.${type}`, e);
    }
  }

  async readDirTree(c: Checksum): Promise<DirTree> {
    return decodeDirTree(await this.readObjectBytes(c, 'dirtree'));
  }
  async readDirMeta(c: Checksum): Promise<DirMeta> {
    return decodeDirMeta(await this.readObjectBytes(c, 'dirmeta'));
  }
  // commits and their metadata are small: read synchronously (an install reads several; each
  // asynchronous read is five thread-pool round trips)
  async readCommit(c: Checksum): Promise<Commit> {
    return decodeCommit(this.readObjectBytesSync(c, 'commit'));
  }
  async readCommitMeta(c: Checksum): Promise<Metadata | null> {
    try {
      return decodeMetadata(this.readObjectBytesSync(c, 'commitmeta'));
    } catch (e) {
      if (e instanceof AtomicError && e.code === 'STORE_OBJECT_MISSING') return null;
      throw e;
    }
  }

  private async readArchiveHead(p: string): Promise<ReturnType<typeof decodeArchiveHeader>> {
    const fh = await fsp.open(p, 'r');
    try {
      let buf = Buffer.alloc(4096);
      let { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead >= 4) {
        const need = 8 + buf.readUInt32BE(0);
        if (need > buf.length) {
          buf = Buffer.alloc(need);
          ({ bytesRead } = await fh.read(buf, 0, need, 0));
        }
      }
      return decodeArchiveHeader(buf.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
  }

  /** Metadata, content size and on-disk path of a content object. */
  async readFileMeta(c: Checksum): Promise<FileObject> {
    if (!isChecksum(c)) throw new AtomicError('STORE_CORRUPT', `invalid object checksum "${c}"`);
    const p = this.objectPath(c, 'file');
    try {
      if (this.mode === 'archive') {
        const { meta, size } = await this.readArchiveHead(p);
        return { meta, size: (meta.mode & K.S_IFMT) === K.S_IFLNK ? 0 : size, path: p };
      }
      const st = await fsp.lstat(p);
      if (this.mode === 'bare-user') {
        const raw = await getAttribute(p, K.BAREUSER_XATTR);
        if (!raw) throw new AtomicError('STORE_CORRUPT', `object ${c}.file in bare-user repository ${this.path} has no ${K.BAREUSER_XATTR} xattr`, { ref: c });
        const m = decodeBareUserMeta(raw);
        if ((m.mode & K.S_IFMT) === K.S_IFLNK) {
          const data = await fsp.readFile(p);
          const target = (data.length && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data).toString('utf8');
          return { meta: { ...m, symlinkTarget: target }, size: 0, path: p };
        }
        return { meta: { ...m, symlinkTarget: '' }, size: st.size, path: p };
      }
      const isLink = st.isSymbolicLink();
      const target = isLink ? await fsp.readlink(p) : '';
      if (this.mode === 'bare-user-only') {
        return { meta: { uid: 0, gid: 0, mode: st.mode, symlinkTarget: target, xattrs: [] }, size: isLink ? 0 : st.size, path: p };
      }
      const meta: FileMeta = { uid: st.uid, gid: st.gid, mode: st.mode, symlinkTarget: target, xattrs: await readXattrs(p) };
      return { meta, size: isLink ? 0 : st.size, path: p };
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw missing(c, 'file', this.path, e);
      if (e instanceof AtomicError) throw e;
      throw wrapError(`read object ${c}.file`, e);
    }
  }

  /**
   * Type and size of file object C without its xattrs (bare, bare-user-only: one lstat; bare-user
   * and archive keep the mode in the object's xattr or header: readFileMeta). For the callers that
   * only look at the type or read the content: reading xattrs loads a native module, ~13 M
   * instructions of an install that reads a few small files of the image.
   */
  async readFileStat(c: Checksum): Promise<{ path: string; mode: number; size: number }> {
    if (this.mode !== 'bare' && this.mode !== 'bare-user-only') {
      const fo = await this.readFileMeta(c);
      return { path: fo.path, mode: fo.meta.mode, size: fo.size };
    }
    if (!isChecksum(c)) throw new AtomicError('STORE_CORRUPT', `invalid object checksum "${c}"`);
    const p = this.objectPath(c, 'file');
    try {
      const st = await fsp.lstat(p);
      return { path: p, mode: st.mode, size: st.isSymbolicLink() ? 0 : st.size };
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw missing(c, 'file', this.path, e);
      throw wrapError(`read object ${c}.file`, e);
    }
  }

  /**
   * At most MAX + 1 bytes of the content of file object C, read synchronously (one lstat, open,
   * read, close: no stream), in a bare or bare-user-only store; null when C is not a regular file;
   * undefined in an archive store (use openFileContent). More than MAX bytes in the object gives
   * MAX + 1 bytes: the caller compares. The small files an install reads (the image config, the
   * /exports templates) each cost a read stream ~5 M instructions before (docs/benchmarks.md,
   * "Install / update / rollback, eighth session"). Errors as readFileStat's, then the read's own.
   */
  readFileContentAtMostSync(c: Checksum, max: number): Buffer | null | undefined {
    if (this.mode !== 'bare' && this.mode !== 'bare-user-only') return undefined;
    if (!isChecksum(c)) throw new AtomicError('STORE_CORRUPT', `invalid object checksum "${c}"`);
    const p = this.objectPath(c, 'file');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw missing(c, 'file', this.path, e);
      throw wrapError(`read object ${c}.file`, e);
    }
    if ((st.mode & K.S_IFMT) !== K.S_IFREG) return null;
    const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      return readFdAtMostSync(fd, max, st.size);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Content of a file object (archive: inflated); empty for symlinks. */
  async openFileContent(c: Checksum): Promise<NodeJS.ReadableStream> {
    const fo = await this.readFileStat(c);
    if ((fo.mode & K.S_IFMT) !== K.S_IFREG) return Readable.from([]);
    if (this.mode === 'archive') {
      const { headerEnd } = await this.readArchiveHead(fo.path);
      // node:zlib only for archive repositories (not loaded by every install)
      const { createInflateRaw } = await import('node:zlib');
      const raw = fs.createReadStream(fo.path, { start: headerEnd });
      const inflate = createInflateRaw();
      raw.on('error', (e) => inflate.destroy(e));
      return raw.pipe(inflate);
    }
    return fs.createReadStream(fo.path);
  }

  private refFile(ref: string): string {
    const colon = ref.indexOf(':');
    const [base, name] = colon >= 0 ? [path.join(K.REFS_REMOTES_DIR, ref.slice(0, colon)), ref.slice(colon + 1)] : [K.REFS_HEADS_DIR, ref];
    if (!name.split('/').every((p) => REF_COMPONENT.test(p)) || (colon >= 0 && !REF_COMPONENT.test(ref.slice(0, colon)))) {
      throw new AtomicError('USAGE', `invalid ref name "${ref}"`, { suggestions: ['Ref names are "/"-separated components of letters, digits, "_", "-" and "."'] });
    }
    return path.join(this.path, base, name);
  }

  /** refs/heads/<ref> (or refs/remotes/<remote>/<ref> for "remote:ref"); null if absent. */
  async resolveRef(ref: string): Promise<Checksum | null> {
    let text: string;
    try {
      text = await fsp.readFile(this.refFile(ref), 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR') || isErrno(e, 'EISDIR')) return null;
      throw wrapError(`read ref ${ref}`, e);
    }
    const c = text.trim();
    if (!isChecksum(c)) throw new AtomicError('STORE_CORRUPT', `ref "${ref}" in ${this.path} holds "${c.slice(0, 80)}", not a checksum`, { ref });
    return c;
  }

  /** All refs under refs/heads (names relative to refs/heads), optionally only those starting with `prefix`. */
  async listRefs(prefix?: string): Promise<Map<string, Checksum>> {
    const out = new Map<string, Checksum>();
    const heads = path.join(this.path, K.REFS_HEADS_DIR);
    const walk = async (dir: string, rel: string): Promise<void> => {
      let ents: fs.Dirent[];
      try {
        ents = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return;
        throw wrapError(`list refs in ${dir}`, e);
      }
      for (const ent of ents) {
        if (ent.name.startsWith('.')) continue; // atomic-write temp files
        const name = rel ? `${rel}/${ent.name}` : ent.name;
        if (ent.isDirectory()) await walk(path.join(dir, ent.name), name);
        else if (ent.isFile() && (!prefix || name.startsWith(prefix))) {
          const c = (await fsp.readFile(path.join(dir, ent.name), 'utf8')).trim();
          if (isChecksum(c)) out.set(name, c);
        }
      }
    };
    const base = prefix?.replace(/\/+$/, '');
    if (base && fs.statSync(path.join(heads, base), { throwIfNoEntry: false })?.isDirectory()) await walk(path.join(heads, base), base);
    else await walk(heads, '');
    return out;
  }

  /** Start a write transaction (SHARED repo lock until commit/abort). */
  async beginTransaction(): Promise<Transaction> {
    if (this.mode !== 'bare' && this.mode !== 'bare-user') {
      throw new AtomicError('STORE_UNSUPPORTED_MODE', `cannot write to repository ${this.path} in mode ${this.mode}`, { ref: this.path, suggestions: ['Use a bare or bare-user repository for the image store.'] });
    }
    const lock = await acquireRepoLock(this.path, 'shared');
    try {
      await this.sweepStaging();
      const { Transaction } = await import('./transaction.js');
      return await Transaction.create(this, lock);
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  /** Remove staging dirs left by transactions whose process no longer holds a lock. */
  async sweepStaging(): Promise<number> {
    const tmp = path.join(this.path, K.TMP_DIR);
    const live = await liveLockPids(this.path);
    let removed = 0;
    let names: string[] = [];
    try {
      names = await fsp.readdir(tmp);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    for (const name of names) {
      if (!name.startsWith(K.STAGING_PREFIX)) continue;
      const pid = Number(name.slice(K.STAGING_PREFIX.length).split('-')[0]);
      if (live.has(pid)) continue;
      await removeTree(path.join(tmp, name));
      removed++;
    }
    return removed;
  }

  /** Delete refs (missing ones ignored) under the shared lock. */
  async deleteRefs(refs: string[]): Promise<void> {
    const lock = await acquireRepoLock(this.path, 'shared');
    try {
      const dirs = new Set<string>();
      for (const ref of refs) {
        const f = this.refFile(ref);
        try {
          await fsp.unlink(f);
          dirs.add(path.dirname(f));
          faultPoint('store:ref-deleted');
        } catch (e) {
          if (!isErrno(e, 'ENOENT')) throw wrapError(`delete ref ${ref}`, e);
        }
      }
      for (const d of dirs) await fsyncDir(d);
    } finally {
      await lock.release();
    }
  }

  /** Every ref in refs/heads and refs/remotes, as commit checksums. */
  private async allRefTargets(): Promise<Checksum[]> {
    const out = [...(await this.listRefs()).values()];
    const remotes = path.join(this.path, K.REFS_REMOTES_DIR);
    for (const remote of fs.existsSync(remotes) ? await fsp.readdir(remotes) : []) {
      const collect = async (dir: string): Promise<void> => {
        for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
          const p = path.join(dir, ent.name);
          if (ent.isDirectory()) await collect(p);
          else if (ent.isFile() && !ent.name.startsWith('.')) {
            const c = (await fsp.readFile(p, 'utf8')).trim();
            if (isChecksum(c)) out.push(c);
          }
        }
      };
      await collect(path.join(remotes, remote));
    }
    return out;
  }

  /** Object keys (`<checksum>.<type>`) reachable from `commits` (all parents present). */
  private async reachable(commits: Checksum[]): Promise<Set<string>> {
    const keep = new Set<string>();
    const walkTree = async (tree: Checksum, meta: Checksum): Promise<void> => {
      keep.add(`${meta}.dirmeta`);
      if (keep.has(`${tree}.dirtree`)) return;
      keep.add(`${tree}.dirtree`);
      const t = await this.readDirTree(tree);
      for (const f of t.files) keep.add(`${f.checksum}.file`);
      for (const d of t.dirs) await walkTree(d.tree, d.meta);
    };
    for (let c of commits) {
      for (;;) {
        if (keep.has(`${c}.commit`)) break;
        if (!(await this.hasObject(c, 'commit'))) break; // shallow history: parent absent
        keep.add(`${c}.commit`);
        keep.add(`${c}.commitmeta`);
        const commit = await this.readCommit(c);
        await walkTree(commit.rootTree, commit.rootMeta);
        if (!commit.parent) break;
        c = commit.parent;
      }
    }
    return keep;
  }

  /**
   * Remove every object not reachable from a ref. EXCLUSIVE lock. Crash-safe for `ostree fsck`
   * (which walks every commit object present): commit objects go first (and are made durable),
   * then the dirtrees and dirmetas they alone reached, then content objects, so a kill at any
   * moment never leaves a commit whose tree is incomplete.
   */
  async prune(): Promise<{ objectsDeleted: number; bytesFreed: number }> {
    const lock = await acquireRepoLock(this.path, 'exclusive');
    try {
      await this.sweepStaging();
      const keep = await this.reachable(await this.allRefTargets());
      const objects = path.join(this.path, K.OBJECTS_DIR);
      const doomed: Record<'commit' | 'meta' | 'file', Array<{ sub: string; name: string }>> = { commit: [], meta: [], file: [] };
      const subdirs = (await fsp.readdir(objects)).filter((d) => /^[0-9a-f]{2}$/.test(d));
      await runPool(subdirs, 8, async (sub) => {
        for (const name of await fsp.readdir(path.join(objects, sub))) {
          const dot = name.indexOf('.');
          const type = K.EXT_TO_TYPE[name.slice(dot + 1)];
          if (dot !== 62 || !type) continue;
          if (keep.has(`${sub}${name.slice(0, dot)}.${type}`)) continue;
          doomed[type === 'commit' || type === 'commitmeta' ? 'commit' : type === 'file' ? 'file' : 'meta'].push({ sub, name });
        }
      });
      let objectsDeleted = 0;
      let bytesFreed = 0;
      for (const phase of ['commit', 'meta', 'file'] as const) {
        const bySub = new Map<string, string[]>();
        for (const o of doomed[phase]) bySub.set(o.sub, [...(bySub.get(o.sub) ?? []), o.name]);
        await runPool([...bySub], 8, async ([sub, names]) => {
          const dir = path.join(objects, sub);
          for (const name of names) {
            const p = path.join(dir, name);
            const st = await fsp.lstat(p).catch(() => null);
            if (!st) continue;
            await fsp.unlink(p);
            objectsDeleted++;
            if (st.nlink <= 1) bytesFreed += st.size;
          }
          await fsyncDir(dir);
        });
        if (phase === 'commit') {
          // their partial-commit markers, if a killed transaction left any (ostree prune does the same)
          for (const o of doomed.commit) {
            if (!o.name.endsWith('.commit')) continue;
            await fsp.unlink(path.join(this.path, K.commitPartialRel(`${o.sub}${o.name.slice(0, -'.commit'.length)}`))).catch(() => undefined);
          }
        }
        faultPoint(`store:prune:${phase}-deleted`);
      }
      await compactVerifiedObjects(this, (c) => keep.has(`${c}.file`) || keep.has(`${c}.dirtree`) || keep.has(`${c}.dirmeta`)).catch(() => undefined);
      return { objectsDeleted, bytesFreed };
    } finally {
      await lock.release();
    }
  }

  /** Re-checksum every object reachable from commit `c`; returns the problems found (empty = ok). */
  async verifyCommit(c: Checksum): Promise<string[]> {
    const problems: string[] = [];
    const seen = new Set<string>();
    const check = async (sum: Checksum, type: ObjectType): Promise<Buffer | null> => {
      try {
        const raw = await this.readObjectBytes(sum, type);
        if (sha256Hex(raw) !== sum) {
          problems.push(`${sum}.${type}: content checksum is ${sha256Hex(raw)}`);
          return null;
        }
        return raw;
      } catch (e) {
        problems.push(`${sum}.${type}: ${(e as Error).message}`);
        return null;
      }
    };
    const files: Checksum[] = [];
    const walkTree = async (tree: Checksum, meta: Checksum, where: string): Promise<void> => {
      if (!seen.has(`${meta}.dirmeta`)) {
        seen.add(`${meta}.dirmeta`);
        const raw = await check(meta, 'dirmeta');
        if (raw) try { decodeDirMeta(raw); } catch (e) { problems.push(`${meta}.dirmeta (${where}): ${(e as Error).message}`); }
      }
      if (seen.has(`${tree}.dirtree`)) return;
      seen.add(`${tree}.dirtree`);
      const raw = await check(tree, 'dirtree');
      if (!raw) return;
      let t: DirTree;
      try {
        t = decodeDirTree(raw);
      } catch (e) {
        problems.push(`${tree}.dirtree (${where}): ${(e as Error).message}`);
        return;
      }
      for (const f of t.files) {
        if (seen.has(`${f.checksum}.file`)) continue;
        seen.add(`${f.checksum}.file`);
        files.push(f.checksum);
      }
      for (const d of t.dirs) await walkTree(d.tree, d.meta, `${where}${d.name}/`);
    };
    const raw = await check(c, 'commit');
    if (!raw) return problems;
    const commit = decodeCommit(raw);
    try {
      await this.readCommitMeta(c);
    } catch (e) {
      problems.push(`${c}.commitmeta: ${(e as Error).message}`);
    }
    await walkTree(commit.rootTree, commit.rootMeta, '/');
    await runPool(files, 8, async (f) => {
      try {
        const fo = await this.readFileMeta(f);
        const h = createContentHasher(fo.meta);
        let n = 0;
        for await (const chunk of (await this.openFileContent(f)) as AsyncIterable<Buffer>) {
          h.update(chunk);
          n += chunk.length;
        }
        const got = h.digest('hex');
        if (got !== f) problems.push(`${f}.file: content checksum is ${got}`);
        else if (n !== fo.size) problems.push(`${f}.file: size ${n}, header says ${fo.size}`);
      } catch (e) {
        problems.push(`${f}.file: ${(e as Error).message}`);
      }
    });
    return problems;
  }

  /** On-disk mode a content object gets in this repo (for checkouts and tests). */
  diskModeFor(meta: FileMeta): number {
    return this.mode === 'bare-user' ? bareUserDiskMode(meta.mode) : meta.mode & 0o7777;
  }
}
