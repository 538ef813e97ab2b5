/**
 * Make a complete slot the live deployment: the one host-side routine shared by install, update,
 * rollback and crash recovery. Idempotent: re-running it after a crash at any point converges on
 * the same state. Order: stop (if active) → tmpfiles --remove of the old file → old hostfs files
 * removed unless modified → target hostfs copied → host unit/tmpfiles replaced from the slot's own
 * copies (atomic writes) → link switched by renaming a temp symlink over NAME → daemon-reload →
 * tmpfiles --create → start (if it was active) / enable (on install).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import { resolveRemoteRootfs } from './prepare-slot.js';
import { slotUnitCopy, slotTmpfilesCopy, otherSlot, type ContainerPaths, type Slot } from './layout.js';
import { readInfo, writeInfo } from './info-file.js';
import { copyHostfs, removeHostfs } from './hostfs.js';
import { copyDurable, removeDurable, exists } from './slot-files.js';
import { writeJournal, readJournal, type JournalEntry } from './journal.js';
import { atomicSymlink, faultPoint } from '../util/atomic-write.js';
import { Systemd } from '../host/systemd.js';
import { reapContainer } from '../host/runtime.js';
import { unitName } from './container-name.js';
import { readSlotOptions, placeOptionFiles, enableOptionTimers } from './option-record.js';

function readInfoOrNull(slotDir: string): { runtime?: string } | null {
  try {
    return readInfo(slotDir);
  } catch {
    return null;
  }
}

export function systemdFor(ctx: DeployContext): Systemd {
  return new Systemd({ sysroot: ctx.paths.sysroot, user: ctx.paths.userMode, echo: (l) => ctx.out.line(l) });
}

export interface ActivateOptions {
  journal: JournalEntry;
  /** Enable the unit (install). */
  enable: boolean;
  /** Start the unit afterwards (it was active before). */
  start: boolean;
  /** Stop the unit first if active. */
  stopFirst: boolean;
}

/** Returns whether the unit was started (o.start, and the option record does not disable it). */
export async function activateSlot(ctx: DeployContext, cp: ContainerPaths, target: Slot, o: ActivateOptions): Promise<{ started: boolean }> {
  const sd = systemdFor(ctx);
  const slotDir = cp.slotDir(target);
  const info = readInfo(slotDir);
  const j = { ...o.journal, phase: 'host' as const };
  await writeJournal(cp.journal, j);
  faultPoint('activate:begin');

  if (o.stopFirst && !sd.offline) {
    const st = sd.state(unitName(cp.name));
    if (st === 'active' || st === 'activating' || st === 'deactivating') sd.stop(unitName(cp.name));
    // a runtime container the unit left behind (its runc was killed) would block the next start
    const runtimes = new Set([info.runtime, readInfoOrNull(cp.slotDir(otherSlot(target)))?.runtime].filter((r): r is string => Boolean(r)));
    for (const rt of runtimes) reapContainer(rt, cp.name, (l) => ctx.out.line(l));
  }
  if (exists(cp.hostTmpfiles)) sd.tmpfilesRemove(cp.hostTmpfiles);
  faultPoint('activate:stopped');

  // hostfs of the other slot (if it was the live one) goes, the target's comes
  const other = cp.slotDir(otherSlot(target));
  if (exists(path.join(other, 'info'))) {
    try {
      for (const m of removeHostfs(ctx.paths.sysroot, readInfo(other)['installed-files-checksum'] ?? {})) ctx.out.line(m);
    } catch {
      /* unreadable info of the other slot: nothing recorded to remove */
    }
  }
  // files a crashed previous attempt created are ours: drop them so they are recorded again
  const prev = readJournal(cp.journal);
  for (const f of prev?.created ?? []) {
    if (!(f in (info['installed-files-checksum'] ?? {}))) removeHostfs(ctx.paths.sysroot, { [f]: '*' });
  }
  const created: string[] = [];
  const hostfs = copyHostfs({
    rootfs: info.remote ? resolveRemoteRootfs(ctx, info.remote) : path.join(slotDir, 'rootfs'),
    sysroot: ctx.paths.sysroot,
    values: info.values,
    renameFiles: info['rename-installed-files'] ?? {},
    templates: info['installed-files-template'] ?? [],
    onCreate: (p) => created.push(p),
  });
  // keep the target's record of files that were already in place from an earlier activation
  const checksums = { ...hostfs.checksums };
  for (const [k, v] of Object.entries(info['installed-files-checksum'] ?? {})) if (!(k in checksums) && exists(path.join(ctx.paths.sysroot, k))) checksums[k] = v;
  await writeInfo(slotDir, { ...info, 'installed-files': Object.keys(checksums).sort(), 'installed-files-checksum': checksums });
  await writeJournal(cp.journal, { ...j, created });
  faultPoint('activate:hostfs');

  const unitCopy = slotUnitCopy(slotDir, cp.name);
  const tmpCopy = slotTmpfilesCopy(slotDir, cp.name);
  if (exists(unitCopy)) await copyDurable(unitCopy, cp.hostUnit);
  else await removeDurable(cp.hostUnit);
  if (exists(tmpCopy)) await copyDurable(tmpCopy, cp.hostTmpfiles);
  else await removeDurable(cp.hostTmpfiles);
  const targetOptions = readSlotOptions(slotDir);
  await placeOptionFiles(ctx.paths, cp, targetOptions ?? { record: {}, files: {} }, readSlotOptions(other), (l) => ctx.out.line(l));
  faultPoint('activate:host-files');

  fs.mkdirSync(path.dirname(cp.link), { recursive: true });
  await atomicSymlink(cp.slotView(target), cp.link);
  await writeJournal(cp.journal, { ...j, created, phase: 'switched' });
  faultPoint('activate:switched');

  for (const m of hostfs.messages) ctx.out.line(m);
  const hasService = exists(unitCopy);
  if (hasService) sd.daemonReload();
  if (exists(cp.hostTmpfiles)) sd.tmpfilesCreate(cp.hostTmpfiles);
  // the record's status decides over the operation's default (install enables)
  const status = targetOptions?.record.status;
  if (hasService && status === 'disabled') sd.disableNow(unitName(cp.name));
  else if (hasService && (o.enable || status === 'enabled')) sd.enable(unitName(cp.name));
  const started = hasService && o.start && status !== 'disabled';
  if (started) {
    // a unit that failed (or hit its start limit) on the other deployment starts afresh
    sd.resetFailed(unitName(cp.name));
    sd.start(unitName(cp.name));
  }
  enableOptionTimers(ctx.paths, targetOptions, (l) => ctx.out.line(l));
  faultPoint('activate:done');
  return { started };
}
