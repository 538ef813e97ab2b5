/**
 * checkoutLayers: union checkout of layer commits (bottom first) into a new directory, with OCI
 * whiteouts applied, files hardlinked to the repo's content objects (no copies: the rootfs must
 * be on the repo's filesystem and stay read-only).
 *
 * 1. The union tree is built in memory from the layers' dirtrees (loaded concurrently, shared
 *    subtrees read once), applying each layer like umoci / containers-storage extract it (OCI
 *    image-spec layer.md). Per directory of a layer: `.wh..wh..opq` drops everything the lower
 *    layers put there; `.wh.NAME` deletes NAME of the lower layers; other `.wh..wh.*` names are
 *    ignored; no `.wh.*` name is ever materialized. Then the layer's entries replace same-named
 *    lower entries (a file replaces a directory and vice versa; two directories merge).
 * 2. Directories: the layer commit lists the directories that had no tar entry of their own
 *    (UNION_IMPLICIT_DIRS, written by layer-import.ts). An EXPLICIT directory replaces the mode,
 *    uid, gid and xattrs of an existing directory, and replaces a symlink or file. An IMPLICIT
 *    directory changes nothing that exists; where a lower layer has a symlink, the path goes
 *    through it (securejoin: resolved inside the rootfs, `..` stops at the root, absolute targets
 *    start at the root, at most 255 links), so `bin/hello` over `bin -> usr/bin` lands in
 *    `usr/bin/hello`; missing directories are created 0:0 0755. Hardlinks to lower-layer files
 *    (UNION_LOWER_LINKS) are resolved in the union below the layer, the same way.
 *    Commits without the record (stores written before it, skopeo's) fall back to: every
 *    directory of such a layer is implicit (existing directories keep their metadata, symlinks
 *    are followed), and a directory the layer creates takes the layer's dirmeta.
 * 3. Materialization (`materialize`): directories depth first with synchronous syscalls (like
 *    `ostree checkout`; thousands of tiny syscalls are cheaper on the main thread than as
 *    thread-pool hops), the hardlinks collected on the way (bare / bare-user-only: symlink objects
 *    are symlinks and are hardlinked too; bare-user: symlink objects are regular files, so real
 *    symlinks are created), then linked in batches - on the store's I/O workers when the process
 *    has them (write-pool.ts), in parallel, since every directory exists by then. A directory
 *    whose final metadata mkdir can give directly (owner = us, no xattrs, no special bits, owner
 *    rwx, not masked by the umask, no inherited setgid group) is made with its final mode; the
 *    others are made 0700 and, deepest first, get owner (not in userMode), xattrs (not in
 *    userMode) and mode - last, so a 0555 directory can still be filled.
 * Steps: checkRequest, inspectDestination, buildUnion (1, 2), inspectObjects (verification,
 * bare-user metadata), materialize (3).
 * On failure the partially created tree is removed (an existing empty dest is emptied again).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import type { Checksum, DirMeta, Metadata } from './types.js';
import { decodeBareUserMeta, decodeDirMeta, decodeDirTree } from './object-codec.js';
import { BAREUSER_XATTR, UNION_IMPLICIT_DIRS, UNION_LOWER_LINKS } from './constants.js';
import { IMPLICIT_DIR_META } from './mtree.js';
import { readVerifiedMetaSync, verifyContentObjects } from './object-verify.js';
import { linkOrCopySync } from './link-or-copy.js';
import type { OstreeRepo } from './repo.js';
import { AtomicError, isAtomicError, isErrno, wrapError } from '../util/errors.js';
import { runPool } from '../util/promise-pool.js';
import { removeTree } from '../util/remove-tree.js';
import { linkBatches } from './write-pool.js';
import { META_PREFIX, OPAQUE, WH } from './whiteout.js';

const CONCURRENCY = 32;
/** Hardlinks below which a checkout does not start the store's I/O workers (see linkAll). */
const COLD_WORKERS_MIN_LINKS = 6000;
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

function currentUmask(): number {
  try {
    return process.umask();
  } catch {
    return 0o777; // unknown: always chmod
  }
}

interface UFile { kind: 'file'; checksum: Checksum }
interface UDir { kind: 'dir'; meta: DirMeta; children: Map<string, UNode> }
type UNode = UFile | UDir;

/** A layer's tree as loaded from its dirtree objects. */
interface LTree {
  files: Array<{ name: string; checksum: Checksum }>;
  dirs: Array<{ name: string; meta: Checksum; tree: LTree }>;
}

/** A layer as checkout applies it. `implicit` null: the commit has no record (see 2.). */
interface Layer {
  commit: Checksum;
  rootMeta: Checksum;
  tree: LTree;
  implicit: Set<string> | null;
  lowerLinks: Array<[string, string]>;
}

function metaValue(md: Metadata, key: string): unknown {
  return md.find(([k]) => k === key)?.[1].value;
}

const MAX_SYMLINKS = 255;

class Union {
  readonly root: UDir;
  constructor(
    rootMeta: DirMeta,
    private readonly dirMeta: (c: Checksum) => DirMeta,
    private readonly symlinkTarget: (c: Checksum) => string | null,
  ) {
    this.root = { kind: 'dir', meta: rootMeta, children: new Map() };
  }

  /**
   * Walk `parts` from the directory chain `from` (root first), following symlinks of the union
   * inside the root (securejoin). With `create`, missing directories are made 0:0 0755 (and a
   * non-directory in the way is replaced); without, null when the path does not resolve.
   */
  resolve(from: UDir[], parts: string[], create: boolean, what: string): UDir[] | null {
    let stack = [...from];
    const todo = [...parts].reverse();
    let links = 0;
    while (todo.length) {
      const c = todo.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const cur = stack[stack.length - 1];
      let n = cur.children.get(c);
      if (n?.kind === 'file') {
        const t = this.symlinkTarget(n.checksum);
        if (t !== null) {
          if (++links > MAX_SYMLINKS) throw new AtomicError('LAYER_INVALID', `Cannot apply ${what}: more than ${MAX_SYMLINKS} symlinks on its path (a symlink loop)`, { suggestions: ['The image is malformed; rebuild it.'] });
          if (t.startsWith('/')) stack = [this.root];
          const tp = t.split('/');
          for (let i = tp.length - 1; i >= 0; i--) todo.push(tp[i]);
          continue;
        }
        if (!create) return null;
        n = undefined;
      }
      if (n === undefined) {
        if (!create) return null;
        n = { kind: 'dir', meta: IMPLICIT_DIR_META, children: new Map() };
        cur.children.set(c, n);
      }
      stack.push(n);
    }
    return stack;
  }

  apply(l: Layer): void {
    // Hardlinks to lower layers: the target is looked up in the union below this layer (at the
    // link's entry, the tar held no such path of its own), then linked once the layer is applied.
    const links = l.lowerLinks.map(([p, target]) => {
      const what = `the hardlink ${JSON.stringify(p)} -> ${JSON.stringify(target)} of layer ${l.commit}`;
      const tp = target.split('/');
      const tdir = this.resolve([this.root], tp.slice(0, -1), false, what);
      const node = tdir?.[tdir.length - 1].children.get(tp[tp.length - 1]);
      if (node === undefined || node.kind !== 'file') {
        throw new AtomicError('LAYER_INVALID', `Cannot apply ${what}: the target is not an earlier entry of the layer nor a file of the layers below it`, { suggestions: ['The image is malformed; rebuild it with a standard tool.'] });
      }
      return { p, what, checksum: node.checksum };
    });
    if (l.implicit !== null && !l.implicit.has('.')) this.root.meta = this.dirMeta(l.rootMeta);
    this.applyDir([this.root], l.tree, '', l);
    for (const { p, what, checksum } of links) {
      const pp = p.split('/');
      const pdir = this.resolve([this.root], pp.slice(0, -1), true, what)!;
      pdir[pdir.length - 1].children.set(pp[pp.length - 1], { kind: 'file', checksum });
    }
  }

  private applyDir(stack: UDir[], t: LTree, rel: string, l: Layer): void {
    const dir = stack[stack.length - 1];
    if (t.files.some((f) => f.name === OPAQUE)) dir.children.clear();
    for (const f of t.files) {
      if (f.name.startsWith(WH) && !f.name.startsWith(META_PREFIX)) dir.children.delete(f.name.slice(WH.length));
    }
    for (const f of t.files) {
      if (!f.name.startsWith(WH)) dir.children.set(f.name, { kind: 'file', checksum: f.checksum });
    }
    for (const d of t.dirs) {
      if (d.name.startsWith(WH)) continue;
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      const explicit = l.implicit !== null && !l.implicit.has(childRel);
      const node = dir.children.get(d.name);
      let next: UDir[] | null = null;
      if (node?.kind === 'dir') {
        if (explicit) node.meta = this.dirMeta(d.meta);
        next = [...stack, node];
      } else if (node !== undefined && !explicit && this.symlinkTarget(node.checksum) !== null) {
        next = this.resolve(stack, [d.name], true, `the directory ${JSON.stringify(childRel)} of layer ${l.commit}`);
      }
      if (next === null) {
        const created: UDir = { kind: 'dir', meta: this.dirMeta(d.meta), children: new Map() };
        dir.children.set(d.name, created);
        next = [...stack, created];
      }
      this.applyDir(next, d.tree, childRel, l);
    }
  }
}

function checkoutError(dest: string, what: string, e: unknown): AtomicError {
  if (isAtomicError(e)) return e;
  const w = wrapError(`checkout ${dest}: ${what}`, e);
  if (w.code !== 'IO') return w;
  return new AtomicError('CHECKOUT_FAILED', w.message, { cause: e, ref: dest, suggestions: ['Check free space and permissions of the checkout directory, then retry; the partial checkout was removed.'] });
}

async function nearestExisting(p: string): Promise<{ dir: string; st: fs.Stats }> {
  for (let d = p; ; d = path.dirname(d)) {
    try {
      return { dir: d, st: await fsp.stat(d) };
    } catch (e) {
      if (!isErrno(e, 'ENOENT') || path.dirname(d) === d) throw e;
    }
  }
}

/**
 * A file the image made writable by group or others is checked out as a copy, not a hardlink:
 * through a hardlink, anyone allowed to write it would change the store object and every other
 * deployment sharing it (the real `ostree checkout -H` has this flaw). The copy keeps the
 * object's owner and mode (so the container sees what the image says); xattrs are not copied.
 */
function groupOtherWritable(objectFile: string): boolean {
  const st = fs.lstatSync(objectFile);
  return st.isFile() && (st.mode & 0o022) !== 0;
}

function copyObject(objectFile: string, dest: string, userMode: boolean): void {
  const st = fs.lstatSync(objectFile);
  fs.copyFileSync(objectFile, dest, fs.constants.COPYFILE_EXCL);
  if (!userMode && (st.uid !== EUID || st.gid !== EGID)) fs.chownSync(dest, st.uid, st.gid);
  fs.chmodSync(dest, st.mode & 0o7777);
}

/** Every content object of the union tree. */
function collectFileSums(root: UDir): Set<Checksum> {
  const sums = new Set<Checksum>();
  const collect = (d: UDir) => {
    for (const child of d.children.values()) {
      if (child.kind === 'dir') collect(child);
      else sums.add(child.checksum);
    }
  };
  collect(root);
  return sums;
}

/** Union-checkout `commits` (bottom first) into `dest`; see the module comment. */
export async function checkoutLayers(
  repo: OstreeRepo,
  commits: Checksum[],
  dest: string,
  /** verify: check every object against its checksum first (object-verify.ts; default true). */
  opts: { userMode?: boolean; onWarning?: (msg: string) => void; verify?: boolean } = {},
): Promise<CheckoutCounts> {
  const verify = opts.verify ?? true;
  const target = path.resolve(dest);
  checkRequest(repo, commits, target);
  const dst = await inspectDestination(repo, target);
  const root = await buildUnion(repo, commits, target, verify);
  const objects = await inspectObjects(repo, root, target, verify);
  return materialize(repo, root, target, dst, objects, { userMode: opts.userMode ?? false, verify });
}

export interface CheckoutCounts { files: number; dirs: number; symlinks: number; copies: number }

/** Where the checkout goes: whether it existed (empty) and its nearest existing ancestor. */
interface Destination { existed: boolean; anc: { dir: string; st: fs.Stats } }

/** What materialize needs to know about the content objects (see inspectObjects). */
interface ObjectInfo {
  /** bare-user: per object, its symlink target (null: regular file). */
  links: Map<string, string | null>;
  /** bare-user: objects writable by group or others (checked out as copies). */
  writable: Set<string>;
  /** bare / bare-user-only: per object, writable by group or others (from the verification's lstat, else lstat on use). */
  writableCache: Map<string, boolean>;
  /** bare / bare-user-only, verified: per object, symlink (else regular file). */
  isLinkObject: Map<string, boolean>;
}

function checkRequest(repo: OstreeRepo, commits: Checksum[], target: string): void {
  if (repo.mode === 'archive') {
    throw new AtomicError('STORE_UNSUPPORTED_MODE', `Cannot check out from ${repo.path}: archive repositories cannot be hardlinked`, { ref: repo.path, suggestions: ['Use a bare or bare-user repository (ATOMIC_OSTREE_REPO).'] });
  }
  if (commits.length === 0) throw new AtomicError('CHECKOUT_FAILED', `Nothing to check out into ${target}: no layers given`);
}

/** The destination must be absent (created) or an empty directory, on the objects' filesystem. */
async function inspectDestination(repo: OstreeRepo, target: string): Promise<Destination> {
  let existed = false;
  try {
    const st = await fsp.lstat(target);
    if (!st.isDirectory()) throw new AtomicError('CHECKOUT_FAILED', `Cannot check out into ${target}: it exists and is not a directory`, { ref: target, suggestions: ['Remove it or choose another destination.'] });
    if ((await fsp.readdir(target)).length > 0) throw new AtomicError('CHECKOUT_FAILED', `Cannot check out into ${target}: the directory is not empty`, { ref: target, suggestions: ['Remove its contents or choose another destination.'] });
    existed = true;
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw checkoutError(target, 'inspect destination', e);
  }
  const objects = path.join(repo.path, 'objects');
  const [anc, objSt] = await Promise.all([nearestExisting(existed ? target : path.dirname(target)), fsp.stat(objects)]).catch((e: unknown) => {
    throw checkoutError(target, 'stat destination', e);
  });
  if (anc.st.dev !== objSt.dev) {
    throw new AtomicError('STORE_CROSS_DEVICE', `Cannot check out into ${target}: ${anc.dir} is on a different filesystem than the repository ${repo.path}, and checkouts are hardlinks to the repository's objects`, {
      ref: target,
      suggestions: [`Set ATOMIC_OSTREE_CHECKOUT_PATH to a directory on the same filesystem as ${repo.path} (or move the repository with ATOMIC_OSTREE_REPO).`],
    });
  }
  return { existed, anc };
}

function objectFilePath(repo: OstreeRepo, c: Checksum): string {
  return `${repo.path}/objects/${c.slice(0, 2)}/${c.slice(2)}.file`;
}

/** Step 1: the union tree of the layers (each dirtree/dirmeta object read once). */
async function buildUnion(repo: OstreeRepo, commits: Checksum[], target: string, verify: boolean): Promise<UDir> {
  const trees = new Map<string, LTree>();
  const load = (c: Checksum): LTree => {
    let t = trees.get(c);
    if (t === undefined) {
      const d = decodeDirTree(verify ? readVerifiedMetaSync(repo, c, 'dirtree') : repo.readObjectBytesSync(c, 'dirtree'));
      t = { files: d.files, dirs: d.dirs.map((x) => ({ name: x.name, meta: x.meta, tree: load(x.tree) })) };
      trees.set(c, t);
    }
    return t;
  };
  const metaCache = new Map<string, DirMeta>();
  const dirMeta = (c: Checksum): DirMeta => {
    let m = metaCache.get(c);
    if (m === undefined) metaCache.set(c, (m = decodeDirMeta(verify ? readVerifiedMetaSync(repo, c, 'dirmeta') : repo.readObjectBytesSync(c, 'dirmeta'))));
    return m;
  };
  /** Target of a symlink object, null for a regular file (read only where a directory meets a file). */
  const targets = new Map<string, string | null>();
  const symlinkTarget = (c: Checksum): string | null => {
    let t = targets.get(c);
    if (t !== undefined) return t;
    const p = objectFilePath(repo, c);
    if (repo.mode === 'bare-user') {
      const raw = getAttributeSync(p, BAREUSER_XATTR);
      if (!raw) throw new AtomicError('STORE_CORRUPT', `object ${c}.file in bare-user repository ${repo.path} has no ${BAREUSER_XATTR} xattr`, { ref: c });
      const isLink = (decodeBareUserMeta(raw).mode & 0o170000) === 0o120000;
      const data = isLink ? fs.readFileSync(p) : null;
      t = data === null ? null : (data.length && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : data).toString('utf8');
    } else t = fs.lstatSync(p).isSymbolicLink() ? fs.readlinkSync(p) : null;
    targets.set(c, t);
    return t;
  };
  try {
    const layers: Layer[] = (await Promise.all(commits.map(async (c) => ({ c, commit: await repo.readCommit(c) })))).map(({ c, commit }) => {
      const implicit = metaValue(commit.metadata, UNION_IMPLICIT_DIRS);
      const links = metaValue(commit.metadata, UNION_LOWER_LINKS);
      return {
        commit: c,
        rootMeta: commit.rootMeta,
        tree: load(commit.rootTree),
        implicit: Array.isArray(implicit) ? new Set(implicit as string[]) : null,
        lowerLinks: Array.isArray(links) ? (links as Array<[string, string]>) : [],
      };
    });
    const union = new Union(dirMeta(layers[0].rootMeta), dirMeta, symlinkTarget);
    for (const l of layers) union.apply(l);
    return union.root;
  } catch (e) {
    throw checkoutError(target, 'read layers', e);
  }
}

/**
 * Step 2: verify the content objects (one lstat each when their marker is current, which also
 * gives their type and mode) and, in bare-user repositories, read each object's metadata:
 * symlink objects are regular files there, so the ones to turn into real symlinks must be known.
 */
async function inspectObjects(repo: OstreeRepo, root: UDir, target: string, verify: boolean): Promise<ObjectInfo> {
  const bareUser = repo.mode === 'bare-user';
  const info: ObjectInfo = { links: new Map(), writable: new Set(), writableCache: new Map(), isLinkObject: new Map() };
  const sums = bareUser || verify ? collectFileSums(root) : new Set<Checksum>();
  if (verify) {
    try {
      await verifyContentObjects(repo, sums, bareUser ? undefined : (c, st) => {
        info.isLinkObject.set(c, st.isSymbolicLink());
        info.writableCache.set(c, st.isFile() && (st.mode & 0o022) !== 0);
      });
    } catch (e) {
      throw checkoutError(target, 'verify objects', e);
    }
  }
  if (bareUser) {
    try {
      await runPool(sums, CONCURRENCY, async (c) => {
        const fo = await repo.readFileMeta(c);
        const isLink = (fo.meta.mode & 0o170000) === 0o120000;
        info.links.set(c, isLink ? fo.meta.symlinkTarget : null);
        if (!isLink && (fo.meta.mode & 0o022) !== 0) info.writable.add(c);
      });
    } catch (e) {
      throw checkoutError(target, 'read objects', e);
    }
  }
  return info;
}

/**
 * Step 3: create the tree (see the module comment). Directories are made depth first and the
 * hardlinks collected, then linked in batches (on the store's I/O workers when there are some:
 * the directories exist by then, and link() into different directories runs in parallel),
 * then the deferred directory metadata is applied, deepest first. On failure the partial tree
 * is removed.
 */
async function materialize(repo: OstreeRepo, root: UDir, target: string, dst: Destination, info: ObjectInfo, o: { userMode: boolean; verify: boolean }): Promise<CheckoutCounts> {
  const { userMode, verify } = o;
  const { existed } = dst;
  const bareUser = repo.mode === 'bare-user';
  // A new directory inherits the group (and setgid) of a setgid parent: then owners are always set.
  const inheritsGid = (dst.anc.st.mode & 0o2000) !== 0;
  const umask = currentUmask();
  /** Final mode of a directory, and whether mkdir can give it all (no chown/xattrs/chmod after). */
  const finalMode = (m: DirMeta): { mode: number; direct: boolean } => {
    let mode = m.mode & 0o7777;
    if (userMode) mode = (mode & ~0o6000) | 0o700;
    const ownerOk = userMode || (m.uid === EUID && m.gid === EGID && m.xattrs.length === 0 && !inheritsGid);
    return { mode, direct: ownerOk && (mode & 0o7000) === 0 && (mode & 0o700) === 0o700 && (mode & umask) === 0 };
  };
  const isWritable = (c: Checksum): boolean => {
    if (bareUser) return info.writable.has(c);
    let w = info.writableCache.get(c);
    if (w === undefined) info.writableCache.set(c, (w = groupOtherWritable(objectFilePath(repo, c))));
    return w;
  };

  let created = false;
  const counts: CheckoutCounts = { files: 0, dirs: 0, symlinks: 0, copies: 0 };
  // Directories made 0700 whose metadata is applied at the end (pre-order; applied in reverse).
  const pending: Array<{ p: string; m: DirMeta; mode: number }> = [];
  const listed: string[] = [];
  /** object, destination, object, destination, ... (hardlinks to make once the directories exist) */
  const pairs: string[] = [];
  const make = (d: UDir, p: string, isRoot: boolean): void => {
    const m = d.meta;
    const f = finalMode(m);
    if (!(isRoot && existed)) {
      fs.mkdirSync(p, f.direct ? f.mode : 0o700);
      if (isRoot) created = true;
      else counts.dirs++;
    }
    if (!f.direct || (isRoot && existed)) pending.push({ p, m, mode: f.mode });
    if (!bareUser && !verify) listed.push(p);
    const subdirs: Array<[string, UDir]> = [];
    for (const [name, child] of d.children) {
      const cp = `${p}/${name}`;
      if (child.kind === 'dir') {
        subdirs.push([cp, child]);
        continue;
      }
      const link = bareUser ? info.links.get(child.checksum)! : null;
      if (link !== null) {
        counts.symlinks++;
        fs.symlinkSync(link, cp);
        continue;
      }
      if (bareUser) counts.files++;
      else if (verify) {
        // type known from the verification's lstat (no listing of the checkout afterwards)
        if (info.isLinkObject.get(child.checksum)) counts.symlinks++;
        else counts.files++;
      }
      if (isWritable(child.checksum)) {
        copyObject(objectFilePath(repo, child.checksum), cp, userMode);
        counts.copies++;
      } else pairs.push(objectFilePath(repo, child.checksum), cp);
    }
    for (const [cp, child] of subdirs) make(child, cp, false);
  };
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    make(root, target, true);
    await linkAll(pairs, counts);
    for (const p of listed) {
      for (const e of fs.readdirSync(p, { withFileTypes: true })) {
        if (e.isSymbolicLink()) counts.symlinks++;
        else if (!e.isDirectory()) counts.files++;
      }
    }
    for (let i = pending.length - 1; i >= 0; i--) {
      const { p, m, mode } = pending[i];
      if (!userMode) {
        fs.lchownSync(p, m.uid, m.gid);
        for (const x of m.xattrs) setAttributeSync(p, x.name, x.value);
      }
      fs.chmodSync(p, mode);
    }
  } catch (e) {
    if (created || existed) await removeTree(target, { keepRoot: existed }).catch(() => undefined);
    throw checkoutError(target, 'materialize', e);
  }
  return counts;
}

/**
 * Hardlink each (object, destination) pair; an object whose link count is exhausted (EMLINK) is
 * copied instead (link-or-copy.ts). Every batch has finished when this returns or throws.
 */
async function linkAll(pairs: string[], counts: CheckoutCounts): Promise<void> {
  // In a process that has not started its workers (a CLI install), starting them (~40 ms) costs
  // more than the parallel links save below a few thousand files.
  const codes = await linkBatches(pairs, { unlinkFrom: false, tolerate: ['EMLINK'], linkHere: (from, to) => fs.linkSync(from, to), coldMin: COLD_WORKERS_MIN_LINKS });
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] === null) continue;
    if (linkOrCopySync(pairs[2 * i]!, pairs[2 * i + 1]!)) counts.copies++;
  }
}
