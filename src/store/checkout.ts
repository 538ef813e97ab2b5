/**
 * checkoutLayers: union checkout of layer commits (bottom first) into a new directory, with OCI
 * whiteouts applied, files hardlinked to the repo's content objects (no copies: the rootfs must
 * be on the repo's filesystem and stay read-only).
 *
 * 1. The union tree is built in memory from the layers' dirtrees (loaded concurrently, shared
 *    subtrees read once). Per directory of a layer: `.wh..wh..opq` drops everything the lower
 *    layers put there; `.wh.NAME` deletes NAME of the lower layers; other `.wh..wh.*` names are
 *    ignored; no `.wh.*` name is ever materialized. Then the layer's entries replace same-named
 *    lower entries (a file replaces a directory and vice versa; two directories merge).
 * 2. Directory metadata follows libostree's UNION_FILES checkout, as atomic did: a directory gets
 *    the dirmeta of the lowest layer that created it (later layers' dirmeta for an existing
 *    directory is ignored; a directory re-created after a whiteout or replacing a file takes the
 *    new layer's dirmeta). This never lets the synthetic metadata of implicit parents (see
 *    mtree.ts) override a real directory.
 * 3. Materialization, depth first with synchronous syscalls (like `ostree checkout`; thousands of
 *    tiny syscalls are cheaper on the main thread than as thread-pool hops): each directory is
 *    made, then its files are hardlinked (bare / bare-user-only: symlink objects are symlinks and
 *    are hardlinked too; bare-user: symlink objects are regular files, so real symlinks are
 *    created), then its subdirectories. A directory whose final metadata mkdir can give directly
 *    (owner = us, no xattrs, no special bits, owner rwx, not masked by the umask, no inherited
 *    setgid group) is made with its final mode; the others are made 0700 and, deepest first, get
 *    owner (not in userMode), xattrs (not in userMode) and mode - last, so a 0555 directory can
 *    still be filled.
 * On failure the partially created tree is removed (an existing empty dest is emptied again).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import type { Checksum, DirMeta } from './types.js';
import { decodeDirMeta, decodeDirTree } from './object-codec.js';
import { readVerifiedMetaSync, verifyContentObjects } from './object-verify.js';
import { linkOrCopySync } from './link-or-copy.js';
import type { OstreeRepo } from './repo.js';
import { AtomicError, isAtomicError, isErrno, wrapError } from '../util/errors.js';

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
const OPAQUE = '.wh..wh..opq';
const WH = '.wh.';
const META_PREFIX = '.wh..wh.';

interface UFile { kind: 'file'; checksum: Checksum }
interface UDir { kind: 'dir'; meta: Checksum; children: Map<string, UNode> }
type UNode = UFile | UDir;

/** A layer's tree as loaded from its dirtree objects. */
interface LTree {
  files: Array<{ name: string; checksum: Checksum }>;
  dirs: Array<{ name: string; meta: Checksum; tree: LTree }>;
}

async function pool<T>(items: T[], fn: (item: T) => Promise<void>, limit = CONCURRENCY): Promise<void> {
  let i = 0;
  let error: { e: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (error === null && i < items.length) {
      const item = items[i++];
      try {
        await fn(item);
      } catch (e) {
        error ??= { e };
      }
    }
  };
  // Wait for every worker (nothing may still be writing when the caller cleans up).
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (error !== null) throw (error as { e: unknown }).e;
}

function applyLayer(dir: UDir, t: LTree): void {
  if (t.files.some((f) => f.name === OPAQUE)) dir.children.clear();
  for (const f of t.files) {
    if (f.name.startsWith(WH) && !f.name.startsWith(META_PREFIX)) dir.children.delete(f.name.slice(WH.length));
  }
  for (const f of t.files) {
    if (!f.name.startsWith(WH)) dir.children.set(f.name, { kind: 'file', checksum: f.checksum });
  }
  for (const d of t.dirs) {
    if (d.name.startsWith(WH)) continue;
    let node = dir.children.get(d.name);
    if (node === undefined || node.kind !== 'dir') {
      node = { kind: 'dir', meta: d.meta, children: new Map() };
      dir.children.set(d.name, node);
    }
    applyLayer(node, d.tree);
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

async function removeTree(p: string, keepRoot: boolean): Promise<void> {
  const rm = async () => {
    if (!keepRoot) return fsp.rm(p, { recursive: true, force: true });
    for (const n of await fsp.readdir(p)) await fsp.rm(path.join(p, n), { recursive: true, force: true });
  };
  try {
    await rm();
  } catch {
    // Non-root: directories already made read-only must be opened up first.
    const open = async (d: string): Promise<void> => {
      await fsp.chmod(d, 0o700).catch(() => undefined);
      for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await open(path.join(d, e.name));
    };
    await open(p);
    await rm().catch(() => undefined);
  }
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
): Promise<{ files: number; dirs: number; symlinks: number; copies: number }> {
  const userMode = opts.userMode ?? false;
  const verify = opts.verify ?? true;
  const target = path.resolve(dest);
  if (repo.mode === 'archive') {
    throw new AtomicError('STORE_UNSUPPORTED_MODE', `Cannot check out from ${repo.path}: archive repositories cannot be hardlinked`, { ref: repo.path, suggestions: ['Use a bare or bare-user repository (ATOMIC_OSTREE_REPO).'] });
  }
  if (commits.length === 0) throw new AtomicError('CHECKOUT_FAILED', `Nothing to check out into ${target}: no layers given`);

  // Destination: absent (created) or an empty directory; same filesystem as the objects.
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

  // 1. Union tree (each dirtree object read once).
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
  let root: UDir;
  try {
    const layers = (await Promise.all(commits.map((c) => repo.readCommit(c)))).map((commit) => ({ meta: commit.rootMeta, tree: load(commit.rootTree) }));
    root = { kind: 'dir', meta: layers[0].meta, children: new Map() };
    for (const l of layers) applyLayer(root, l.tree);
  } catch (e) {
    throw checkoutError(target, 'read layers', e);
  }

  const metaCache = new Map<string, DirMeta>();
  const dirMeta = (c: Checksum): DirMeta => {
    let m = metaCache.get(c);
    if (m === undefined) metaCache.set(c, (m = decodeDirMeta(verify ? readVerifiedMetaSync(repo, c, 'dirmeta') : repo.readObjectBytesSync(c, 'dirmeta'))));
    return m;
  };
  // bare-user: symlink objects are regular files, so each object's metadata is needed to know
  // which ones to turn into real symlinks (read up front, concurrently). bare / bare-user-only:
  // everything is hardlinked as is, and files vs symlinks are counted from the directory
  // listings afterwards.
  const bareUser = repo.mode === 'bare-user';
  const links = new Map<string, string | null>();
  const sums = bareUser || verify ? collectFileSums(root) : new Set<Checksum>();
  if (verify) {
    try {
      await verifyContentObjects(repo, sums);
    } catch (e) {
      throw checkoutError(target, 'verify objects', e);
    }
  }
  if (bareUser) {
    try {
      await pool([...sums], async (c) => {
        const fo = await repo.readFileMeta(c);
        links.set(c, (fo.meta.mode & 0o170000) === 0o120000 ? fo.meta.symlinkTarget : null);
      });
    } catch (e) {
      throw checkoutError(target, 'read objects', e);
    }
  }

  // A new directory inherits the group (and setgid) of a setgid parent: then owners are always set.
  const inheritsGid = (anc.st.mode & 0o2000) !== 0;
  const umask = currentUmask();
  /** Final mode of a directory, and whether mkdir can give it all (no chown/xattrs/chmod after). */
  const finalMode = (m: DirMeta): { mode: number; direct: boolean } => {
    let mode = m.mode & 0o7777;
    if (userMode) mode = (mode & ~0o6000) | 0o700;
    const ownerOk = userMode || (m.uid === EUID && m.gid === EGID && m.xattrs.length === 0 && !inheritsGid);
    return { mode, direct: ownerOk && (mode & 0o7000) === 0 && (mode & 0o700) === 0o700 && (mode & umask) === 0 };
  };

  let created = false;
  const counts = { files: 0, dirs: 0, symlinks: 0, copies: 0 };
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const objectPath = (c: Checksum) => `${objects}/${c.slice(0, 2)}/${c.slice(2)}.file`;
    // Directories made 0700 whose metadata is applied at the end (pre-order; applied in reverse).
    const pending: Array<{ p: string; m: DirMeta; mode: number }> = [];
    const listed: string[] = [];
    const make = (d: UDir, p: string, isRoot: boolean): void => {
      const m = dirMeta(d.meta);
      const f = finalMode(m);
      if (!(isRoot && existed)) {
        fs.mkdirSync(p, f.direct ? f.mode : 0o700);
        if (isRoot) created = true;
        else counts.dirs++;
      }
      if (!f.direct || (isRoot && existed)) pending.push({ p, m, mode: f.mode });
      if (!bareUser) listed.push(p);
      const subdirs: Array<[string, UDir]> = [];
      for (const [name, child] of d.children) {
        const cp = `${p}/${name}`;
        if (child.kind === 'dir') {
          subdirs.push([cp, child]);
          continue;
        }
        const link = bareUser ? links.get(child.checksum)! : null;
        if (link !== null) {
          counts.symlinks++;
          fs.symlinkSync(link, cp);
        } else {
          if (bareUser) counts.files++;
          if (linkOrCopySync(objectPath(child.checksum), cp)) counts.copies++;
        }
      }
      for (const [cp, child] of subdirs) make(child, cp, false);
    };
    make(root, target, true);
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
    if (created || existed) await removeTree(target, existed).catch(() => undefined);
    throw checkoutError(target, 'materialize', e);
  }
  return counts;
}
