/**
 * On-disk names of a system container (reference §0, §2.7, §2.13): CK/NAME -> CK/NAME.N with
 * rootfs/, config.json, info, NAME.service, tmpfiles-NAME.conf; host unit and tmpfiles paths.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StorePaths } from '../host/paths.js';
import { hostView } from '../host/sysroot.js';
import { AtomicError } from '../util/errors.js';

export type Slot = 0 | 1;

export interface ContainerPaths {
  name: string;
  checkoutRoot: string;
  link: string;
  slotDir(slot: Slot): string;
  hostUnit: string;
  hostTmpfiles: string;
  /** Our state directory (journal, per-container locks) inside the checkout root. */
  stateDir: string;
  journal: string;
  lockDir: string;
  /** slotDir as the target system sees it (differs from slotDir only with --sysroot). */
  slotView(slot: Slot): string;
}

export const STATE_DIR = '.atomic';

export function containerPaths(p: StorePaths, name: string): ContainerPaths {
  const stateDir = path.join(p.checkoutRoot, STATE_DIR);
  return {
    name,
    checkoutRoot: p.checkoutRoot,
    link: path.join(p.checkoutRoot, name),
    slotDir: (s: Slot) => path.join(p.checkoutRoot, `${name}.${s}`),
    hostUnit: path.join(p.unitDir, `${name}.service`),
    hostTmpfiles: path.join(p.tmpfilesDir, `${name}.conf`),
    stateDir,
    journal: path.join(stateDir, 'journal', `${name}.json`),
    lockDir: path.join(stateDir, 'locks', name),
    slotView: (s: Slot) => hostView(p.sysroot, path.join(p.checkoutRoot, `${name}.${s}`)),
  };
}

export function slotUnitCopy(slotDir: string, name: string): string {
  return path.join(slotDir, `${name}.service`);
}

export function slotTmpfilesCopy(slotDir: string, name: string): string {
  return path.join(slotDir, `tmpfiles-${name}.conf`);
}

/** The slot the NAME link points at, or null when the container is not installed. */
export function currentSlot(cp: ContainerPaths): Slot | null {
  let target: string;
  try {
    target = fs.readlinkSync(cp.link);
  } catch {
    return null;
  }
  // the link holds the slot's path as the target system sees it: only NAME.0 / NAME.1 are slots
  const base = path.basename(target);
  if (base === `${cp.name}.0`) return 0;
  if (base === `${cp.name}.1`) return 1;
  throw new AtomicError('STORE_CORRUPT', `the container link ${cp.link} points at ${target}, which is not a deployment slot`, {
    suggestions: [`Remove the link and reinstall: rm ${cp.link} && atomic install --system --name ${cp.name} IMAGE`],
  });
}

/** CK/NAME.N is a real directory (a slot), not a link (which would be another container named NAME.N). */
export function isSlotDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function otherSlot(s: Slot): Slot {
  return s === 0 ? 1 : 0;
}

/** The live slot's directory on this machine (follows NAME by name, so it works below a sysroot). */
export function liveSlotDir(cp: ContainerPaths): string | null {
  const s = currentSlot(cp);
  return s === null ? null : cp.slotDir(s);
}

/** The error every use case gives when NAME is not an installed system container. */
export function containerNotInstalled(name: string): AtomicError {
  return new AtomicError('CONTAINER_NOT_FOUND', `System container '${name}' is not installed`, { suggestions: ['List containers with: atomic containers list -a'] });
}
