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
 * 3. Materialization (`materialize`): the tree is split into parts of about equal weight (whole
 *    subtrees, or the files of one large directory; planTree), the directories above them (the
 *    skeleton) are made first, then each part makes its directories and hardlinks its files
 *    (checkout-part.ts: synchronous syscalls, like `ostree checkout`; bare / bare-user-only:
 *    symlink objects are symlinks and are hardlinked too; bare-user: symlink objects are regular
 *    files, so real symlinks are created). The parts run on this thread and, for a large tree
 *    when they run already (a checkout does not start them: WARM_WORKERS_MIN_WEIGHT), on the
 *    store's I/O workers (write-pool.ts) in parallel (checkout-runner.ts). Each part lstats its objects: what has no current verified-object marker is
 *    not linked but verified here first, what is writable by group or others is copied here.
 *    A directory whose final metadata mkdir can give directly (owner = us, no xattrs, no
 *    special bits, owner rwx, not masked by the umask, no inherited setgid group) is made with
 *    its final mode; the others are made 0700 and, deepest first, get owner (not in userMode),
 *    xattrs (not in userMode) and mode - last, so a 0555 directory can still be filled.
 * Steps: checkRequest, inspectDestination, buildUnion (1, 2), inspectObjects (markers; bare-user:
 * verification and metadata), materialize (3).
 * On failure the partially created tree is removed (an existing empty dest is emptied again).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import type { Checksum, DirMeta, Metadata } from './types.js';
import { decodeBareUserMeta, decodeDirMeta } from './object-codec.js';
import { readDirTreeForCheckout } from './dirtree-reader.js';
import { BAREUSER_XATTR, UNION_IMPLICIT_DIRS, UNION_LOWER_LINKS } from './constants.js';
import { IMPLICIT_DIR_META } from './mtree.js';
import { readVerifiedMetaSync, recordVerifiedObjects, verifiedMarkerPath, verifyContentObjects, type MetaMarkers } from './object-verify.js';
import { linkOrCopySync } from './link-or-copy.js';
import type { OstreeRepo } from './repo.js';
import { AtomicError, isAtomicError, isErrno, wrapError } from '../util/errors.js';
import { runPool } from '../util/promise-pool.js';
import { removeTree } from '../util/remove-tree.js';
import { writePool } from './write-pool.js';
import { markersFor, preloadMarkers, type PartMarkers, type PartReply } from './checkout-part.js';
import { PartRunner, type PartSpec } from './checkout-runner.js';
import { META_PREFIX, OPAQUE, WH } from './whiteout.js';

const CONCURRENCY = 32;
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

function currentUmask(): number {
  try {
    return process.umask();
  } catch {
    return 0o777; // unknown: always chmod
  }
}

interface UFile {
  kind: 'file';
  checksum: Checksum;
}
interface UDir {
  kind: 'dir';
  meta: DirMeta;
  children: Map<string, UNode>;
}
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
          if (++links > MAX_SYMLINKS)
            throw new AtomicError('LAYER_INVALID', `Cannot apply ${what}: more than ${MAX_SYMLINKS} symlinks on its path (a symlink loop)`, {
              suggestions: ['The image is malformed; rebuild it.'],
            });
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
        throw new AtomicError('LAYER_INVALID', `Cannot apply ${what}: the target is not an earlier entry of the layer nor a file of the layers below it`, {
          suggestions: ['The image is malformed; rebuild it with a standard tool.'],
        });
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
    // indexed loops: this runs for every entry of every layer, and for...of allocates an iterator result per step in V8's interpreter (`pull` and the bench run without TurboFan: cli/lean-heap.ts)
    const { files, dirs } = t;
    let whiteouts = false;
    for (let i = 0; i < files.length; i++) if (files[i]!.name.startsWith(WH)) whiteouts = true;
    if (whiteouts) {
      if (files.some((f) => f.name === OPAQUE)) dir.children.clear();
      for (const f of files) {
        if (f.name.startsWith(WH) && !f.name.startsWith(META_PREFIX)) dir.children.delete(f.name.slice(WH.length));
      }
    }
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (!whiteouts || !f.name.startsWith(WH)) dir.children.set(f.name, { kind: 'file', checksum: f.checksum });
    }
    for (let i = 0; i < dirs.length; i++) {
      const d = dirs[i]!;
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
  return new AtomicError('CHECKOUT_FAILED', w.message, {
    cause: e,
    ref: dest,
    suggestions: ['Check free space and permissions of the checkout directory, then retry; the partial checkout was removed.'],
  });
}

function nearestExisting(p: string): { dir: string; st: fs.Stats } {
  for (let d = p; ; d = path.dirname(d)) {
    try {
      return { dir: d, st: fs.statSync(d) };
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
function groupOtherWritable(st: fs.Stats): boolean {
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

/** Checkouts started in this process (the key of each one's markers: checkout-part.ts). */
let checkouts = 0;

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
  // bare / bare-user-only: the parts compare each object with its marker (bare-user: inspectObjects verifies)
  const markers: PartMarkers | null = verify && repo.mode !== 'bare-user' ? { key: String(++checkouts), file: verifiedMarkerPath(repo) } : null;
  // running workers read the markers while this thread reads the dirtrees; a checkout does not
  // start them (see WARM_WORKERS_MIN_WEIGHT)
  const preloaded = markers !== null && writePool().started;
  if (preloaded) writePool().markers(markers);
  try {
    const dst = inspectDestination(repo, target);
    // the dirtrees and dirmetas are checked against the same markers (object-verify.ts) when this
    // thread will read them anyway (no workers running: it runs every part itself);
    // with workers running, the workers read them and this thread, the critical path, hashes
    // the dirtrees instead (~1 MB for a Debian rootfs): reading ~9k markers here cost more
    const meta: MetaMarkers | null = markers !== null && !writePool().started ? { index: markersFor(markers), fresh: [] } : null;
    const root = await buildUnion(repo, commits, target, verify, meta);
    if (meta !== null) recordVerifiedObjects(repo, meta.fresh);
    const objects = await inspectObjects(repo, root, target, verify, markers);
    return await materialize(repo, root, target, dst, objects, { userMode: opts.userMode ?? false });
  } finally {
    if (preloaded) writePool().markers(null);
    if (markers !== null) preloadMarkers(null);
  }
}

export interface CheckoutCounts {
  files: number;
  dirs: number;
  symlinks: number;
  copies: number;
}

/** Where the checkout goes: whether it existed (empty) and its nearest existing ancestor. */
interface Destination {
  existed: boolean;
  anc: { dir: string; st: fs.Stats };
}

/** What materialize needs to know about the content objects (see inspectObjects). */
interface ObjectInfo {
  /** bare-user: per object, its symlink target (null: regular file). */
  links: Map<string, string | null>;
  /** bare-user: objects writable by group or others (checked out as copies). */
  writable: Set<string>;
  /** bare / bare-user-only, verified: the checkout's verified-object markers (compared by the parts). */
  markers: PartMarkers | null;
}

function checkRequest(repo: OstreeRepo, commits: Checksum[], target: string): void {
  if (repo.mode === 'archive') {
    throw new AtomicError('STORE_UNSUPPORTED_MODE', `Cannot check out from ${repo.path}: archive repositories cannot be hardlinked`, {
      ref: repo.path,
      suggestions: ['Use a bare or bare-user repository (ATOMIC_OSTREE_REPO).'],
    });
  }
  if (commits.length === 0) throw new AtomicError('CHECKOUT_FAILED', `Nothing to check out into ${target}: no layers given`);
}

/**
 * The destination must be absent (created) or an empty directory, on the objects' filesystem.
 * Synchronous, like the rest of the checkout's file system calls: each call through the thread
 * pool costs two thread wake-ups, and this thread's work is the start of the critical path.
 */
function inspectDestination(repo: OstreeRepo, target: string): Destination {
  let existed = false;
  try {
    const st = fs.lstatSync(target);
    if (!st.isDirectory())
      throw new AtomicError('CHECKOUT_FAILED', `Cannot check out into ${target}: it exists and is not a directory`, {
        ref: target,
        suggestions: ['Remove it or choose another destination.'],
      });
    if (fs.readdirSync(target).length > 0)
      throw new AtomicError('CHECKOUT_FAILED', `Cannot check out into ${target}: the directory is not empty`, {
        ref: target,
        suggestions: ['Remove its contents or choose another destination.'],
      });
    existed = true;
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw checkoutError(target, 'inspect destination', e);
  }
  const objects = path.join(repo.path, 'objects');
  let anc: Destination['anc'];
  let objSt: fs.Stats;
  try {
    anc = nearestExisting(existed ? target : path.dirname(target));
    objSt = fs.statSync(objects);
  } catch (e) {
    throw checkoutError(target, 'stat destination', e);
  }
  if (anc.st.dev !== objSt.dev) {
    throw new AtomicError(
      'STORE_CROSS_DEVICE',
      `Cannot check out into ${target}: ${anc.dir} is on a different filesystem than the repository ${repo.path}, and checkouts are hardlinks to the repository's objects`,
      {
        ref: target,
        suggestions: [`Set ATOMIC_OSTREE_CHECKOUT_PATH to a directory on the same filesystem as ${repo.path} (or move the repository with ATOMIC_OSTREE_REPO).`],
      },
    );
  }
  return { existed, anc };
}

function objectFilePath(repo: OstreeRepo, c: Checksum): string {
  return `${repo.path}/objects/${c.slice(0, 2)}/${c.slice(2)}.file`;
}

/** Step 1: the union tree of the layers (each dirtree/dirmeta object read once). */
async function buildUnion(repo: OstreeRepo, commits: Checksum[], target: string, verify: boolean, meta: MetaMarkers | null): Promise<UDir> {
  const trees = new Map<string, LTree>();
  const load = (c: Checksum): LTree => {
    let t = trees.get(c);
    if (t === undefined) {
      const d = readDirTreeForCheckout(repo, c, verify, meta);
      const dirs: LTree['dirs'] = [];
      for (let i = 0; i < d.dirs.length; i++) {
        const x = d.dirs[i]!;
        dirs.push({ name: x.name, meta: x.meta, tree: load(x.tree) });
      }
      t = { files: d.files, dirs };
      trees.set(c, t);
    }
    return t;
  };
  const metaCache = new Map<string, DirMeta>();
  const dirMeta = (c: Checksum): DirMeta => {
    let m = metaCache.get(c);
    if (m === undefined) metaCache.set(c, (m = decodeDirMeta(verify ? readVerifiedMetaSync(repo, c, 'dirmeta', meta) : repo.readObjectBytesSync(c, 'dirmeta'))));
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
 * Step 2, bare-user: verify the content objects (one lstat each when their marker is current)
 * and read each object's metadata: symlink objects are regular files there, so the ones to turn
 * into real symlinks must be known. bare / bare-user-only: nothing here; each part lstats its
 * objects and compares them with `markers` (checkout-part.ts), and what it did not link is
 * verified here afterwards (materialize).
 */
async function inspectObjects(repo: OstreeRepo, root: UDir, target: string, verify: boolean, markers: PartMarkers | null): Promise<ObjectInfo> {
  const info: ObjectInfo = { links: new Map(), writable: new Set(), markers };
  if (repo.mode !== 'bare-user') return info;
  const sums = collectFileSums(root);
  try {
    if (verify) await verifyContentObjects(repo, sums);
    await runPool(sums, CONCURRENCY, async (c) => {
      const fo = await repo.readFileMeta(c);
      const isLink = (fo.meta.mode & 0o170000) === 0o120000;
      info.links.set(c, isLink ? fo.meta.symlinkTarget : null);
      if (!isLink && (fo.meta.mode & 0o022) !== 0) info.writable.add(c);
    });
  } catch (e) {
    throw checkoutError(target, 'read objects', e);
  }
  return info;
}

/** What materialize does after the parts, in this order. */
interface Plan {
  /** bare-user objects writable by group or others: object, destination (copied after the parts) */
  copies: Array<[Checksum, string]>;
  /** Directories made 0700 whose metadata is applied at the end (pre-order; applied in reverse). */
  pending: Array<{ p: string; m: DirMeta; mode: number }>;
}

/** Cost of a directory (mkdir allocates an inode) relative to a file (lstat of its object, link). */
const DIR_WEIGHT = 4;
const PARTS = 32;
const PART_MIN_WEIGHT = 256;
/**
 * Checkouts at least this heavy use the store's I/O workers when they run already (after an
 * import in the same process: `atomic install` of an image it pulls first). A checkout does not
 * start them: booting a worker costs ~55 ms and ~50 ms of CPU, and on this 2-core machine the
 * kernel side of the parts (link, lstat, mkdir) does not get faster with a second thread
 * (bench/checkout-floor.c: the same time on 1 and 2 threads), so only the parts' JavaScript is
 * shared. Measured in fresh processes (docs/benchmarks.md, fifteenth session): the Debian
 * checkout took 267-293 ms without workers, 277-309 ms with one started by the checkout and
 * 356-390 ms with two; `atomic install` of that image 0.58-0.66 s (76 MiB) without against
 * 0.69-0.73 s (102 MiB) with the two it started. With the workers already running they gain
 * (166-205 ms against 233-300 ms).
 */
const WARM_WORKERS_MIN_WEIGHT = 512;

/** Weight of every directory's subtree; the number of nodes. */
function weigh(root: UDir): { weights: Map<UDir, number>; nodes: number } {
  const weights = new Map<UDir, number>();
  let nodes = 0;
  const walk = (d: UDir): number => {
    let w = DIR_WEIGHT;
    nodes += d.children.size + 1;
    // forEach, not for...of: no iterator result per entry (see applyDir)
    d.children.forEach((child) => {
      w += child.kind === 'dir' ? walk(child) : 1;
    });
    weights.set(d, w);
    return w;
  };
  walk(root);
  return { weights, nodes };
}

interface PlanContext {
  repo: OstreeRepo;
  info: ObjectInfo;
  existed: boolean;
  weights: Map<UDir, number>;
  finalMode: (m: DirMeta) => { mode: number; direct: boolean };
  /** Make a skeleton directory now (the parts added after it may go into it). */
  mkdir: (p: string, mode: number, isRoot: boolean) => void;
  /** A part is complete (it may start at once). */
  part: (spec: PartSpec) => void;
}

/**
 * Split the union tree into parts of about equal weight: a subtree that fits goes whole into the
 * current part; a larger directory goes to the skeleton (made here, at once), its files into the
 * current part, and its subdirectories are split the same way. Parts hold neighbouring subtrees
 * (locality); each is handed over as soon as it is complete.
 */
function planTree(root: UDir, target: string, ctx: PlanContext): Plan {
  const bareUser = ctx.repo.mode === 'bare-user';
  const { info } = ctx;
  const partWeight = Math.max(PART_MIN_WEIGHT, Math.ceil(ctx.weights.get(root)! / PARTS));
  const plan: Plan = { copies: [], pending: [] };
  const newPart = (): PartSpec => ({
    parents: [],
    dirs: [],
    modes: [],
    sums: [],
    linkParents: [],
    linkNames: [],
    symlinkTargets: [],
    symlinkParents: [],
    symlinkNames: [],
    weight: 0,
  });
  let cur = newPart();
  /** index of a directory in cur.parents (added once per part) */
  let parentOf = new Map<string, number>();
  const parentIndex = (p: string): number => {
    let i = parentOf.get(p);
    if (i === undefined) parentOf.set(p, (i = cur.parents.push(p) - 1));
    return i;
  };
  const flush = (): void => {
    if (cur.weight === 0) return;
    ctx.part(cur);
    cur = newPart();
    parentOf = new Map();
  };
  const dirMode = (d: UDir, p: string, isRoot: boolean): number => {
    const f = ctx.finalMode(d.meta);
    if (!f.direct || (isRoot && ctx.existed)) plan.pending.push({ p, m: d.meta, mode: f.mode });
    return f.direct ? f.mode : 0o700;
  };
  /** The files of directory `p` into the current part. */
  const addFiles = (d: UDir, p: string, split: boolean): void => {
    let pi = -1;
    d.children.forEach((child, name) => {
      if (child.kind === 'dir') return;
      if (pi < 0) pi = parentIndex(p);
      cur.weight++;
      const c = child.checksum;
      const link = bareUser ? info.links.get(c)! : null;
      if (link !== null) {
        cur.symlinkTargets.push(link);
        cur.symlinkParents.push(pi);
        cur.symlinkNames.push(name);
      } else if (bareUser && info.writable.has(c)) plan.copies.push([c, `${p}/${name}`]);
      else {
        cur.sums.push(c);
        cur.linkParents.push(pi);
        cur.linkNames.push(name);
      }
      if (split && cur.weight >= partWeight) {
        flush();
        pi = -1;
      }
    });
  };
  /** The whole subtree into the current part. */
  const whole = (d: UDir, p: string): void => {
    cur.dirs.push(parentIndex(p));
    cur.modes.push(dirMode(d, p, false));
    cur.weight += DIR_WEIGHT;
    addFiles(d, p, false);
    d.children.forEach((child, name) => {
      if (child.kind === 'dir') whole(child, `${p}/${name}`);
    });
  };
  /** `d` is in the skeleton. */
  const split = (d: UDir, p: string): void => {
    addFiles(d, p, true);
    d.children.forEach((child, name) => {
      if (child.kind !== 'dir') return;
      const cp = `${p}/${name}`;
      if (ctx.weights.get(child)! <= partWeight) {
        whole(child, cp);
        if (cur.weight >= partWeight) flush();
        return;
      }
      ctx.mkdir(cp, dirMode(child, cp, false), false);
      split(child, cp);
    });
  };
  const rootMode = dirMode(root, target, true);
  if (!ctx.existed) ctx.mkdir(target, rootMode, true);
  split(root, target);
  flush();
  return plan;
}

/**
 * Step 3: create the tree (see the module comment): plan the parts, making the skeleton
 * directories on the way, while the workers already run the first parts (checkout-runner.ts);
 * then, here: the objects a part did not link (not yet verified, writable by group or others,
 * link count exhausted), the bare-user copies, and the deferred directory metadata, deepest
 * first. On failure the partial tree is removed once no part runs any more.
 */
async function materialize(repo: OstreeRepo, root: UDir, target: string, dst: Destination, info: ObjectInfo, o: { userMode: boolean }): Promise<CheckoutCounts> {
  const { userMode } = o;
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
  const { weights, nodes } = weigh(root);
  const weight = weights.get(root)!;
  const pool = writePool();
  const workers = pool.parallelism > 0 && pool.started && weight >= WARM_WORKERS_MIN_WEIGHT;
  // bare-user: the objects were verified and inspected before (inspectObjects)
  const runner = new PartRunner(nodes + 1, workers, { objects: `${repo.path}/objects/`, check: !bareUser, markers: info.markers });
  let created = false;
  const counts: CheckoutCounts = { files: 0, dirs: 0, symlinks: 0, copies: 0 };
  const mkdir = (p: string, mode: number, isRoot: boolean): void => {
    fs.mkdirSync(p, mode);
    if (isRoot) created = true;
    else counts.dirs++;
  };
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    let plan: Plan;
    try {
      plan = planTree(root, target, { repo, info, existed, weights, finalMode, mkdir, part: (spec) => runner.add(spec) });
    } catch (e) {
      await runner.cancel();
      throw e;
    }
    const replies = await runner.finish();
    await finishParts(repo, runner.parts, replies, counts, { userMode, verify: info.markers !== null });
    for (const [c, dest] of plan.copies) {
      copyObject(objectFilePath(repo, c), dest, userMode);
      counts.files++;
      counts.copies++;
    }
    applyPending(plan.pending, userMode);
  } catch (e) {
    if (created || existed) await removeTree(target, { keepRoot: existed }).catch(() => undefined);
    throw checkoutError(target, 'materialize', e);
  }
  return counts;
}

/** Owner, xattrs and mode of the directories made 0700, deepest first. */
function applyPending(pending: Plan['pending'], userMode: boolean): void {
  for (let i = pending.length - 1; i >= 0; i--) {
    const { p, m, mode } = pending[i]!;
    if (!userMode) {
      fs.lchownSync(p, m.uid, m.gid);
      for (const x of m.xattrs) setAttributeSync(p, x.name, x.value);
    }
    fs.chmodSync(p, mode);
  }
}

/**
 * Count what the parts did and finish what they left: objects to verify first (then linked, or
 * copied when writable by group or others), copies of writable objects, and copies where the
 * object's link count is exhausted (EMLINK, link-or-copy.ts).
 */
async function finishParts(repo: OstreeRepo, parts: PartSpec[], replies: PartReply[], counts: CheckoutCounts, o: { userMode: boolean; verify: boolean }): Promise<void> {
  const deferred: Array<[Checksum, string]> = [];
  for (let k = 0; k < replies.length; k++) {
    const r = replies[k]!;
    const s = parts[k]!;
    const dest = (i: number) => `${s.parents[s.linkParents[i]!]}/${s.linkNames[i]}`;
    const obj = (i: number) => objectFilePath(repo, s.sums[i] as Checksum);
    counts.dirs += r.dirs;
    counts.files += r.files;
    counts.symlinks += r.symlinkObjects + r.symlinks;
    for (const i of r.writable) {
      copyObject(obj(i), dest(i), o.userMode);
      counts.files++;
      counts.copies++;
    }
    for (const i of r.emlink) if (linkOrCopySync(obj(i), dest(i))) counts.copies++;
    for (const i of r.deferred) deferred.push([s.sums[i] as Checksum, dest(i)]);
  }
  if (deferred.length === 0) return;
  const stats = new Map<Checksum, fs.Stats>();
  if (o.verify) await verifyContentObjects(repo, new Set(deferred.map(([c]) => c)), (c, st) => stats.set(c, st));
  for (const [c, dest] of deferred) {
    const obj = objectFilePath(repo, c);
    let st = stats.get(c);
    if (st === undefined) stats.set(c, (st = fs.lstatSync(obj)));
    if (st.isSymbolicLink()) counts.symlinks++;
    else counts.files++;
    if (groupOtherWritable(st)) {
      copyObject(obj, dest, o.userMode);
      counts.copies++;
    } else if (linkOrCopySync(obj, dest)) counts.copies++;
  }
}
