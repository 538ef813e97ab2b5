/**
 * `atomic install --system` (§1.1, §2.6): checkout into CK/NAME.0, render, then activate — with
 * a per-container lock, a journal, and a full undo on failure (nothing of the container remains).
 */
import * as fs from 'node:fs';
import type { AppContext } from '../context.js';
import { ensureImage, parseSetValues, chooseRuntime, recoverContainer, withDeployLocks } from '../../deploy/container-ops.js';
import { prepareSlot } from '../../deploy/prepare-slot.js';
import { activateSlot, systemdFor } from '../../deploy/activate-slot.js';
import { containerPaths, validateContainerName, type ContainerPaths } from '../../deploy/layout.js';
import { writeJournal, clearJournal, readJournal, type JournalEntry } from '../../deploy/journal.js';
import { removeHostfs } from '../../deploy/hostfs.js';
import { removeDurable, exists } from '../../deploy/slot-files.js';
import { checkRuntime } from '../../host/runtime.js';
import { defaultSystemName } from '../../image/name.js';
import { AtomicError } from '../../util/errors.js';

export interface InstallOptions {
  image: string;
  name?: string;
  set?: string[];
  runtime?: string;
  display?: boolean;
  /** --rootfs PATH: use an existing exploded rootfs read-only (§2.12). */
  rootfs?: string;
}

export async function installSystem(ctx: AppContext, o: InstallOptions): Promise<{ name: string; installed: boolean }> {
  const setValues = parseSetValues(o.set);
  const name = o.name ?? defaultSystemName(o.image);
  validateContainerName(name);
  const runtime = chooseRuntime(ctx, o.runtime);
  checkRuntime(runtime);
  const cp = containerPaths(ctx.paths, name);
  return withDeployLocks(ctx, cp, 'install', () => installLocked(ctx, o, cp, name, setValues, runtime));
}

async function installLocked(ctx: AppContext, o: InstallOptions, cp: ContainerPaths, name: string, setValues: Record<string, string>, runtime: string): Promise<{ name: string; installed: boolean }> {
  {
    const recovered = await recoverContainer(ctx, cp);
    if (recovered) ctx.out.warn(`Note: ${recovered}`);
    if (exists(cp.link) || exists(`${ctx.paths.preinstalledRoot}/${name}`)) {
      ctx.out.line(`${name} already present`);
      return { name, installed: false };
    }
    const { image, name: imageName } = await ensureImage(ctx, o.image);
    for (const f of [cp.hostUnit, cp.hostTmpfiles]) {
      if (exists(f)) throw new AtomicError('USAGE', `The file ${f} already exists.`, { suggestions: [`Remove ${f} (it does not belong to an atomic container), or install under another --name.`] });
    }
    ctx.out.line(`Extracting to ${cp.slotDir(0)}`);
    if (o.display) return { name, installed: false };
    const journal: JournalEntry = { op: 'install', name, from: null, to: 0, phase: 'prepare', wasActive: false, created: [], pid: process.pid, time: Date.now() };
    await writeJournal(cp.journal, journal);
    try {
      await prepareSlot(ctx, { cp, slot: 0, image, imageName, setValues, runtime, remote: o.rootfs ?? null });
      await activateSlot(ctx, cp, 0, { journal, enable: true, start: false, stopFirst: false });
    } catch (e) {
      await undoInstall(ctx, cp);
      throw e;
    }
    await clearJournal(cp.journal);
    return { name, installed: true };
  }
}

/** Remove every trace of a failed install (host files it created, link, slots, journal). */
async function undoInstall(ctx: AppContext, cp: ContainerPaths): Promise<void> {
  const j = readJournal(cp.journal);
  const sd = systemdFor(ctx);
  try {
    if (exists(cp.hostTmpfiles)) sd.tmpfilesRemove(cp.hostTmpfiles);
  } catch {
    /* best effort */
  }
  if (exists(cp.hostUnit)) {
    try {
      sd.disableNow(cp.name);
    } catch {
      /* best effort */
    }
  }
  for (const f of j?.created ?? []) removeHostfs(ctx.paths.sysroot, { [f]: '0' });
  await removeDurable(cp.link);
  await removeDurable(cp.hostUnit);
  await removeDurable(cp.hostTmpfiles);
  fs.rmSync(cp.slotDir(0), { recursive: true, force: true });
  await clearJournal(cp.journal);
}
