/**
 * `atomic mount IMAGE|NAME DIR` and `atomic umount DIR` (§1.13) without overlayfs: an image is
 * checked out (hardlinks into the store) into the empty DIR and, as root, bind-mounted read-only
 * onto itself so nothing can write through to the store's objects. A container's rootfs is
 * bind-mounted read-only. The kind is recorded in the xattr `user.atomic.type` on DIR, or in
 * `<parent>/.<basename>.info` when xattrs are unavailable, as atomic did.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getAttribute, setAttribute, removeAttribute } from '@napi-rs/xattr';
import type { AppContext } from './context.js';
import { resolveImages, layerCommits } from '../image/stored-image.js';
import { checkoutLayers } from '../store/checkout.js';
import { bindMountReadOnly, unmount, isMountPoint } from '../host/mount-cmd.js';
import { AtomicError } from '../util/errors.js';
import { containerPaths, liveSlotDir } from '../deploy/layout.js';
import { isValidContainerName } from '../deploy/container-name.js';
import { atomicWrite } from '../util/atomic-write.js';
import { stripTransport } from '../image/reference.js';
import { removeTreeSync } from '../util/remove-tree.js';

const XATTR = 'user.atomic.type';
type MountKind = 'ostree-container' | 'ostree-image' | 'ostree-image-storage';

function markerFile(dir: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.info`);
}

async function writeMarker(dir: string, kind: MountKind): Promise<void> {
  try {
    await setAttribute(dir, XATTR, kind);
  } catch {
    await atomicWrite(markerFile(dir), JSON.stringify({ [XATTR]: kind }) + '\n');
  }
}

async function readMarker(dir: string): Promise<MountKind | null> {
  try {
    const v = await getAttribute(dir, XATTR);
    if (v) return v.toString('utf8') as MountKind;
  } catch {
    /* fall through to the file marker */
  }
  try {
    const j = JSON.parse(fs.readFileSync(markerFile(dir), 'utf8')) as Record<string, string>;
    return (j[XATTR] as MountKind) ?? null;
  } catch {
    return null;
  }
}

async function clearMarker(dir: string): Promise<void> {
  try {
    await removeAttribute(dir, XATTR);
  } catch {
    /* may not exist */
  }
  fs.rmSync(markerFile(dir), { force: true });
}

function isRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

export async function mountImage(ctx: AppContext, target: string, dir: string, opts: { live?: boolean } = {}): Promise<{ kind: MountKind; lines: string[] }> {
  if (opts.live) throw new AtomicError('USAGE', 'Containers and images managed through OSTree do not support --live.');
  const mountpoint = path.resolve(dir);
  const name = stripTransport(target);
  const lines: string[] = [];
  // a container first: CK/NAME symlink
  const live = isValidContainerName(name) ? liveSlotDir(containerPaths(ctx.paths, name)) : null;
  if (live && fs.existsSync(path.join(live, 'rootfs'))) {
    if (!isRoot()) throw new AtomicError('PERMISSION', 'Need to be root to mount a container.');
    const err = bindMountReadOnly(path.join(live, 'rootfs'), mountpoint);
    if (err) throw new AtomicError('MOUNT_FAILED', `Could not mount ${target}: ${err}`);
    await writeMarker(mountpoint, 'ostree-container');
    return { kind: 'ostree-container', lines };
  }
  const repo = await ctx.repoIfExists();
  if (!repo) throw new AtomicError('IMAGE_NOT_FOUND', `Could not mount ${target}`, { suggestions: [`Pull it first: atomic pull --storage ostree ${target}`] });
  let img;
  try {
    [img] = await resolveImages(repo, name);
  } catch (e) {
    if ((e as AtomicError).code === 'IMAGE_NOT_FOUND') throw new AtomicError('IMAGE_NOT_FOUND', `Could not mount ${target}`, { suggestions: ['List images with: atomic images list'] });
    throw e;
  }
  if (fs.existsSync(mountpoint)) {
    if (!fs.statSync(mountpoint).isDirectory()) throw new AtomicError('USAGE', `The destination path ${mountpoint} is not a directory.`);
    if (fs.readdirSync(mountpoint).length > 0) throw new AtomicError('USAGE', 'The destination path is not empty.', { suggestions: [`Use an empty directory, or unmount ${mountpoint} first.`] });
  }
  const commits = await layerCommits(repo, img);
  await checkoutLayers(repo, commits, mountpoint, { userMode: repo.mode !== 'bare', onWarning: (w) => ctx.out.warn(w) });
  await writeMarker(mountpoint, 'ostree-image');
  if (isRoot()) {
    const err = bindMountReadOnly(mountpoint, mountpoint);
    if (err) ctx.out.warn(`Warning: could not make ${mountpoint} read-only (${err}); do not modify its files: they are shared with the store.`);
  }
  return { kind: 'ostree-image', lines };
}

export async function umountImage(ctx: AppContext, dir: string): Promise<void> {
  const mountpoint = path.resolve(dir);
  const kind = await readMarker(mountpoint);
  if (!kind) {
    throw new AtomicError('NOT_FOUND', `${mountpoint} is not mounted by atomic`, { suggestions: ['Give the directory that `atomic mount` created.'] });
  }
  if (isMountPoint(mountpoint)) {
    const err = unmount(mountpoint);
    if (err) throw new AtomicError('MOUNT_FAILED', `could not unmount ${mountpoint}: ${err}`, { suggestions: ['Check that no process uses the directory (fuser -m DIR).'] });
  }
  if (kind === 'ostree-image') {
    for (const e of fs.readdirSync(mountpoint)) removeTreeSync(path.join(mountpoint, e));
  }
  await clearMarker(mountpoint);
  void ctx;
}
