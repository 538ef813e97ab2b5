/**
 * `atomic images prune` (§1.7), made safe: dangling deployment dirs (X.0/X.1 without an X link)
 * are removed, layer/config refs not used by any named image are deleted ("Deleting ociimage/<x>"),
 * then unreachable objects are pruned under the exclusive repo lock. Unlike atomic, config refs of
 * kept images and the layers of images used by any deployment slot are kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from './context.js';
import { listImages, REF_PREFIX } from './image-catalog.js';
import { scanDeployments } from './deployments-scan.js';
import { isHexRef } from '../image/name.js';

const VALID_ENCODED = /^[A-Za-z0-9._-]+$/;

export async function imagesPrune(ctx: AppContext): Promise<{ refsDeleted: string[]; objectsDeleted: number; bytesFreed: number; dirsRemoved: string[] }> {
  const dirsRemoved = removeDanglingSlots(ctx);
  const repo = await ctx.repoIfExists();
  if (!repo) return { refsDeleted: [], objectsDeleted: 0, bytesFreed: 0, dirsRemoved };
  const refs = await repo.listRefs(REF_PREFIX);
  const keep = new Set<string>();
  const images = await listImages(repo);
  for (const img of images) {
    for (const l of img.layers) keep.add(l.replace(/^sha256:/, ''));
    if (img.configDigest) keep.add(img.configDigest.replace(/^sha256:/, ''));
  }
  // deployments keep the image they were installed from, even if its name was deleted
  const used = new Set(scanDeployments(ctx.paths.checkoutRoot).map((d) => d.ostreeCommit));
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
  for (const r of del) ctx.out.line(`Deleting ${r}`);
  if (del.length) await repo.deleteRefs(del);
  const r = await repo.prune();
  return { refsDeleted: del, ...r, dirsRemoved };
}

/** Step 1 of atomic's prune: NAME.0/NAME.1 directories whose NAME symlink is gone. */
function removeDanglingSlots(ctx: AppContext): string[] {
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
    const st = fs.lstatSync(p);
    if (!st.isDirectory() || st.isSymbolicLink()) continue; // never touch a live link named like a slot
    let linked = false;
    try {
      linked = fs.lstatSync(path.join(ck, m[1])).isSymbolicLink();
    } catch {
      linked = false;
    }
    if (linked) continue;
    try {
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      ctx.out.warn(`Could not remove directory ${p}`);
    }
  }
  return removed;
}
