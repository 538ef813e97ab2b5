/**
 * Hardlink a content object into a checkout; when the object's link count is exhausted (EMLINK:
 * ext4 allows 65,000 links per inode, so an image with more identical files than that shares one
 * object too often) fall back to a copy that looks exactly like the hardlink would (content,
 * mode, owner, xattrs), as `ostree checkout -H` does. The copy is a private file of that
 * checkout: it does not share the object's inode (nor its later corruption).
 */
import * as fs from 'node:fs';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import { isErrno } from '../util/errors.js';

const EUID = process.geteuid?.() ?? -1;

/** Returns true when a copy was made instead of a hardlink. */
export function linkOrCopySync(object: string, dest: string): boolean {
  try {
    fs.linkSync(object, dest);
    return false;
  } catch (e) {
    if (!isErrno(e, 'EMLINK')) throw e;
  }
  copyObjectSync(object, dest);
  return true;
}

function copyObjectSync(object: string, dest: string): void {
  const st = fs.lstatSync(object);
  if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(object), dest);
  } else {
    fs.copyFileSync(object, dest, fs.constants.COPYFILE_EXCL);
  }
  try {
    if (EUID === 0) fs.lchownSync(dest, st.uid, st.gid);
    if (st.isSymbolicLink()) return; // the xattr calls follow symlinks: never for a symlink
    for (const name of listAttributesSync(object)) {
      const v = getAttributeSync(object, name);
      if (v) setAttributeSync(dest, name, v);
    }
    fs.chmodSync(dest, st.mode & 0o7777); // after chown (which clears setuid)
  } catch (e) {
    fs.rmSync(dest, { force: true });
    throw e;
  }
}
