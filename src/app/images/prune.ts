/**
 * `atomic images prune` (§1.7), made safe: dangling deployment dirs (X.0/X.1 without an X link)
 * are removed, layer/config refs not used by any named image are deleted ("Deleting ociimage/<x>"),
 * then unreachable objects are pruned under the exclusive repo lock. Unlike atomic, config refs of
 * kept images and the layers of images used by any deployment slot are kept.
 *
 * Concurrency (docs/reliability.md): refs are chosen and deleted while holding the repo's
 * EXCLUSIVE lock, so no pull (shared lock) can publish or rely on a ref in between; every
 * deployment slot (current and rollback, and a slot being staged) keeps its image's layer and config
 * refs even when the image's name was deleted, so no object a deployment uses is ever pruned. A
 * dangling NAME.N is removed only while holding NAME's container lock and when NAME has no
 * journal: a container that is being installed (slot renamed in, link not yet switched) or whose
 * interrupted operation still has to be recovered is never touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { isHexRef, listImages, readImageEntry, REF_PREFIX, warnBrokenImage } from '../../image/stored-image.js';
import { scanDeployments } from '../containers/deployments-scan.js';
import { acquireRepoLock } from '../../store/repo-lock.js';
import { containerPaths, STATE_DIR } from '../../deploy/layout.js';
import { lockContainer } from '../../deploy/container-lock.js';
import { atomicWrite, faultPoint, fsyncDir } from '../../util/atomic-write.js';
import type { OstreeRepo } from '../../store/repo.js';
import type { Checksum } from '../../store/types.js';
import { removeTreeSync } from '../../util/remove-tree.js';

const VALID_ENCODED = /^[A-Za-z0-9._-]+$/;

export async function imagesPrune(ctx: AppContext): Promise<{ refsDeleted: string[]; objectsDeleted: number; bytesFreed: number; dirsRemoved: string[] }> {
  const dirsRemoved = await removeDanglingSlots(ctx);
  const repo = await ctx.repoIfExists();
  if (!repo) return { refsDeleted: [], objectsDeleted: 0, bytesFreed: 0, dirsRemoved };
  const lock = await acquireRepoLock(repo.path, 'exclusive');
  let del: string[] = [];
  try {
    const chosen = await chooseRefs(ctx, repo);
    del = chosen.del;
    for (const r of del) ctx.out.line(`Deleting ${r}`);
    await unlinkRefs(repo, del);
    faultPoint('prune:refs-deleted');
    await pinDeployments(repo, chosen.used);
    faultPoint('prune:pinned');
  } finally {
    await lock.release();
  }
  // objects: OstreeRepo.prune takes the exclusive lock itself and keeps whatever a ref reaches
  const r = await repo.prune();
  return { refsDeleted: del, ...r, dirsRemoved };
}

/**
 * Deployment pins: refs `atomic-deployment/<commit>` for every image commit a deployment slot was
 * made from, so that the object prune keeps the commit (and the manifest in it) even after the
 * image's name moved on to another commit (a re-pull, or the same name pulled from another
 * source). Pins of commits no deployment uses any more are removed. Exclusive lock held.
 */
export const DEPLOYMENT_PIN_PREFIX = 'atomic-deployment/';
async function pinDeployments(repo: OstreeRepo, used: Set<string>): Promise<void> {
  const dir = path.join(repo.path, 'refs', 'heads', DEPLOYMENT_PIN_PREFIX);
  fs.mkdirSync(dir, { recursive: true });
  for (const c of used) {
    if (!/^[0-9a-f]{64}$/.test(c) || !(await repo.hasObject(c as Checksum, 'commit'))) continue;
    const f = path.join(dir, c);
    if (!fs.existsSync(f)) await atomicWrite(f, `${c}\n`);
  }
  let changed = false;
  for (const n of fs.readdirSync(dir)) {
    if (!used.has(n)) {
      fs.rmSync(path.join(dir, n), { force: true });
      changed = true;
    }
  }
  if (changed) await fsyncDir(dir);
}

/** The refs to delete; called with the exclusive repo lock held. */
async function chooseRefs(ctx: AppContext, repo: OstreeRepo): Promise<{ del: string[]; used: Set<string> }> {
  const refs = await repo.listRefs(REF_PREFIX);
  const keep = new Set<string>();
  for (const img of await listImages(repo, { onBroken: warnBrokenImage((m) => ctx.out.warn(m)) })) {
    for (const l of img.layers) keep.add(l.replace(/^sha256:/, ''));
    if (img.configDigest) keep.add(img.configDigest.replace(/^sha256:/, ''));
  }
  // deployments (current, rollback, and slots being staged) keep the image they were installed
  // from, its layers and config, even if its name was deleted
  const deployments = [
    ...scanDeployments(ctx.paths.checkoutRoot),
    ...scanDeployments(path.join(ctx.paths.checkoutRoot, STATE_DIR, 'staging')),
  ];
  const used = new Set(deployments.map((d) => d.ostreeCommit).filter(Boolean));
  for (const commit of used) {
    try {
      const img = await readImageEntry(repo, `${REF_PREFIX}deployment`, commit as Checksum);
      for (const l of img.layers) keep.add(l.replace(/^sha256:/, ''));
      if (img.configDigest) keep.add(img.configDigest.replace(/^sha256:/, ''));
    } catch {
      /* the image commit is gone already: nothing more to keep for it */
    }
  }
  for (const [ref, commit] of refs) {
    if (!used.has(commit)) continue;
    const full = ref.startsWith(REF_PREFIX) ? ref : REF_PREFIX + ref;
    keep.add(full.slice(REF_PREFIX.length));
  }
  const del: string[] = [];
  for (const ref of refs.keys()) {
    const full = ref.startsWith(REF_PREFIX) ? ref : REF_PREFIX + ref;
    const tail = full.slice(REF_PREFIX.length);
    if (isHexRef(tail) ? !keep.has(tail) : !VALID_ENCODED.test(tail)) del.push(full);
  }
  return { del, used };
}

/** Delete ref files (refs/heads/<ref>) durably; the caller holds the exclusive lock. */
async function unlinkRefs(repo: OstreeRepo, refs: string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const r of refs) {
    const p = path.join(repo.path, 'refs', 'heads', r);
    try {
      fs.unlinkSync(p);
      dirs.add(path.dirname(p));
    } catch {
      /* already gone */
    }
  }
  for (const d of dirs) await fsyncDir(d);
}

/** Step 1 of atomic's prune: NAME.0/NAME.1 directories whose NAME symlink is gone. */
async function removeDanglingSlots(ctx: AppContext): Promise<string[]> {
  const ck = ctx.paths.checkoutRoot;
  let names: string[];
  try {
    names = fs.readdirSync(ck);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = /^(.+)\.[01]$/.exec(n);
    if (!m || n.startsWith('.')) continue;
    const p = path.join(ck, n);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (!st.isDirectory() || st.isSymbolicLink()) continue; // never touch a live link named like a slot
    const cp = containerPaths(ctx.paths, m[1]);
    let lock;
    try {
      lock = await lockContainer(cp, 100);
    } catch {
      continue; // another command is working on this container right now
    }
    try {
      if (fs.existsSync(cp.journal)) continue; // an interrupted operation: its recovery decides
      let linked = false;
      try {
        linked = fs.lstatSync(path.join(ck, m[1])).isSymbolicLink();
      } catch {
        linked = false;
      }
      if (linked) continue;
      try {
        removeTreeSync(p);
        removed.push(p);
      } catch {
        ctx.out.warn(`Could not remove directory ${p}`);
      }
    } finally {
      await lock.release();
    }
  }
  return removed;
}
