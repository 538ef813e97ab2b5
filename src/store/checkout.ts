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
 * 3. Materialization: directories are made 0700 level by level, then files are hardlinked
 *    (bare / bare-user-only: symlink objects are symlinks and are hardlinked too; bare-user:
 *    symlink objects are regular files, so real symlinks are created), then, deepest first,
 *    directories get owner (not in userMode), xattrs (not in userMode) and mode - last, so a
 *    0555 directory can still be filled. All with limited concurrency.
 * On failure the partially created tree is removed (an existing empty dest is emptied again).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { setAttribute } from '@napi-rs/xattr';
import type { Checksum, DirMeta } from './types.js';
import type { OstreeRepo } from './repo.js';
import { AtomicError, isAtomicError, isErrno, wrapError } from '../util/errors.js';

const CONCURRENCY = 32;
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

/** Loads dirtrees recursively with bounded concurrency; each dirtree object is read once. */
class TreeLoader {
  private readonly cache = new Map<string, Promise<LTree>>();
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly repo: OstreeRepo) {}

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= CONCURRENCY) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  load(c: Checksum): Promise<LTree> {
    let p = this.cache.get(c);
    if (p === undefined) {
      p = (async () => {
        const t = await this.slot(() => this.repo.readDirTree(c));
        const dirs = await Promise.all(t.dirs.map(async (d) => ({ name: d.name, meta: d.meta, tree: await this.load(d.tree) })));
        return { files: t.files, dirs };
      })();
      this.cache.set(c, p);
    }
    return p;
  }
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

/** Union-checkout `commits` (bottom first) into `dest`; see the module comment. */
export async function checkoutLayers(repo: OstreeRepo, commits: Checksum[], dest: string, opts: { userMode?: boolean; onWarning?: (msg: string) => void } = {}): Promise<{ files: number; dirs: number; symlinks: number }> {
  const userMode = opts.userMode ?? false;
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

  // 1. Union tree.
  const loader = new TreeLoader(repo);
  const layers = await Promise.all(commits.map(async (c) => {
    const commit = await repo.readCommit(c);
    return { meta: commit.rootMeta, tree: await loader.load(commit.rootTree) };
  }));
  const root: UDir = { kind: 'dir', meta: layers[0].meta, children: new Map() };
  for (const l of layers) applyLayer(root, l.tree);

  // 2. Flatten: directories by depth, files.
  const levels: Array<Array<{ p: string; node: UDir }>> = [];
  const files: Array<{ p: string; checksum: Checksum }> = [];
  const walk = (d: UDir, p: string, depth: number) => {
    (levels[depth] ??= []).push({ p, node: d });
    for (const [name, child] of d.children) {
      const cp = path.join(p, name);
      if (child.kind === 'dir') walk(child, cp, depth + 1);
      else files.push({ p: cp, checksum: child.checksum });
    }
  };
  walk(root, target, 0);

  const metaCache = new Map<string, Promise<DirMeta>>();
  const dirMeta = (c: Checksum) => {
    let m = metaCache.get(c);
    if (m === undefined) metaCache.set(c, (m = repo.readDirMeta(c)));
    return m;
  };
  // bare-user: symlink objects are regular files, so each object's metadata is needed to know
  // which ones to turn into real symlinks. bare / bare-user-only: everything is hardlinked
  // as is, and files vs symlinks are counted from the directory listings afterwards.
  const bareUser = repo.mode === 'bare-user';
  const targetCache = new Map<string, Promise<string | null>>();
  const symlinkTarget = (c: Checksum) => {
    let k = targetCache.get(c);
    if (k === undefined) {
      k = repo.readFileMeta(c).then((fo) => ((fo.meta.mode & 0o170000) === 0o120000 ? fo.meta.symlinkTarget : null));
      targetCache.set(c, k);
    }
    return k;
  };

  let created = false;
  const counts = { files: 0, dirs: 0, symlinks: 0 };
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    for (const level of levels) {
      await pool(level, async ({ p }) => {
        if (p === target && existed) return;
        await fsp.mkdir(p, 0o700);
        if (p === target) created = true;
      });
    }
    counts.dirs = levels.reduce((n, l) => n + l.length, 0) - 1;
    await pool(files, async ({ p, checksum }) => {
      const link = bareUser ? await symlinkTarget(checksum) : null;
      if (link !== null) {
        counts.symlinks++;
        await fsp.symlink(link, p);
      } else {
        if (bareUser) counts.files++;
        await fsp.link(repo.objectPath(checksum, 'file'), p);
      }
    });
    for (let depth = levels.length - 1; depth >= 0; depth--) {
      await pool(levels[depth], async ({ p, node }) => {
        if (!bareUser) {
          for (const e of await fsp.readdir(p, { withFileTypes: true })) {
            if (e.isSymbolicLink()) counts.symlinks++;
            else if (!e.isDirectory()) counts.files++;
          }
        }
        const m = await dirMeta(node.meta);
        let mode = m.mode & 0o7777;
        if (userMode) mode = (mode & ~0o6000) | 0o700;
        else {
          await fsp.lchown(p, m.uid, m.gid);
          for (const x of m.xattrs) await setAttribute(p, x.name, x.value);
        }
        await fsp.chmod(p, mode);
      });
    }
  } catch (e) {
    if (created || existed) await removeTree(target, existed).catch(() => undefined);
    throw checkoutError(target, 'materialize', e);
  }
  return counts;
}
