/**
 * Which host files of a container atomic wrote. The unit (`NAME.service`) and tmpfiles.d file are
 * written from the deployment slot's own copies (CK/NAME.N/NAME.service, tmpfiles-NAME.conf), so
 * a host file is ours exactly when its content equals one of those copies. Anything else (a
 * hand-written unit with the same name, a unit an admin edited) is never stopped, disabled,
 * `--remove`d or deleted.
 */
import * as fs from 'node:fs';
import { isSlotDir, slotTmpfilesCopy, slotUnitCopy, type ContainerPaths } from './layout.js';

/** absent: no such host file; ours: equals a slot copy; foreign: present, but not what we wrote. */
export type Ownership = 'absent' | 'ours' | 'foreign';

function readOrNull(p: string): Buffer | null {
  try {
    return fs.readFileSync(p);
  } catch {
    return null;
  }
}

export function hostFileOwnership(hostFile: string, copies: string[]): Ownership {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(hostFile);
  } catch {
    return 'absent';
  }
  if (!st.isFile()) return 'foreign';
  const host = readOrNull(hostFile);
  if (host === null) return 'foreign';
  return copies.some((c) => {
    const b = readOrNull(c);
    return b !== null && b.equals(host);
  })
    ? 'ours'
    : 'foreign';
}

export interface ContainerHostFiles {
  unit: Ownership;
  tmpfiles: Ownership;
  /** Some slot has a unit copy (the container has a service). */
  hasUnitCopy: boolean;
  hasTmpfilesCopy: boolean;
}

export function containerHostFiles(cp: ContainerPaths): ContainerHostFiles {
  const slots = ([0, 1] as const).map((s) => cp.slotDir(s)).filter(isSlotDir);
  const unitCopies = slots.map((d) => slotUnitCopy(d, cp.name)).filter((p) => fs.existsSync(p));
  const tmpCopies = slots.map((d) => slotTmpfilesCopy(d, cp.name)).filter((p) => fs.existsSync(p));
  return {
    unit: hostFileOwnership(cp.hostUnit, unitCopies),
    tmpfiles: hostFileOwnership(cp.hostTmpfiles, tmpCopies),
    hasUnitCopy: unitCopies.length > 0,
    hasTmpfilesCopy: tmpCopies.length > 0,
  };
}
