/**
 * Crash recovery: the next command on a container reads the journal an interrupted operation left
 * (journal.ts), checks that it may be obeyed (journal-trust.ts), and carries out the plan
 * `planRecovery` chose, so the container is entirely old or entirely new.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import { activateSlot, runsAnotherSlot, systemdFor } from './activate-slot.js';
import { planRecovery, DeployJournal } from './journal.js';
import { removeHostfs, plannedHostfsPaths } from './hostfs.js';
import { journalTrustProblem } from './journal-trust.js';
import { readInfo } from './info-file.js';
import { removeDurable, exists } from './slot-files.js';
import { currentSlot, containerPaths, isSlotDir, type ContainerPaths } from './layout.js';
import { containerHostFiles } from './host-files.js';
import { lockContainer } from './container-lock.js';
import { finishUninstall } from './uninstall-steps.js';
import { isValidContainerName } from './container-name.js';
import { removeTreeSync } from '../util/remove-tree.js';

/**
 * Finish or undo an operation a crash interrupted. install before the switch: undo (container
 * absent); update/rollback after the new slot was complete: roll forward onto it; uninstall:
 * finish it. Returns a description of what was done, or null when there was nothing to do.
 */
export async function recoverContainer(ctx: DeployContext, cp: ContainerPaths): Promise<string | null> {
  const j = DeployJournal.read(cp.journal);
  if (!j) return null;
  const distrust = journalTrustProblem(cp.journal, j, cp, plannedHostfsOf);
  if (distrust !== null) {
    ctx.out.warn(
      `Warning: not replaying the journal ${cp.journal}: ${distrust}. It was not written by atomic for ${cp.name} and was left in place; remove it once you have checked it.`,
    );
    return null;
  }
  const sd = systemdFor(ctx);
  const journal = DeployJournal.resume(cp.journal, j);
  const action = planRecovery(j, j.to !== null && exists(`${cp.slotDir(j.to)}/info`));
  switch (action) {
    case 'finish-uninstall':
      await finishUninstall(ctx, cp);
      await journal.finish();
      return `completed the interrupted uninstall of ${cp.name}`;
    case 'undo-install':
      for (const f of j.created ?? []) removeHostfs(ctx.paths.sysroot, { [f]: '*' });
      if (currentSlot(cp) === null) {
        const own = containerHostFiles(cp);
        if (own.unit === 'ours') await removeDurable(cp.hostUnit);
        if (own.tmpfiles === 'ours') {
          sd.tmpfilesRemove(cp.hostTmpfiles);
          await removeDurable(cp.hostTmpfiles);
        }
        for (const s of [0, 1] as const) if (isSlotDir(cp.slotDir(s))) removeTreeSync(cp.slotDir(s));
      }
      await journal.finish();
      return `removed the incomplete install of ${cp.name}`;
    case 'discard-staging':
      // the host was not touched; a half-built deployment only exists in the staging dir
      for (const sfx of ['0', '1', '0.old', '1.old']) removeTreeSync(path.join(cp.stateDir, 'staging', `${cp.name}.${sfx}`));
      await journal.finish();
      return `discarded the incomplete ${j.op} of ${cp.name}`;
    case 'roll-forward':
      // host or switched: the target slot is complete; converge on it. A unit still running the
      // previous deployment's container (killed before the stop or the restart) is restarted on it.
      await activateSlot(ctx, cp, j.to!, { journal: j, enable: j.op === 'install', start: j.wasActive, stopFirst: j.wasActive && runsAnotherSlot(ctx, cp, j.to!) });
      await journal.finish();
      return `completed the interrupted ${j.op} of ${cp.name}`;
    case 'forget':
      await journal.finish();
      return `completed the interrupted ${j.op} of ${cp.name}`;
  }
}

/** Host paths the slot's /exports/hostfs maps to (journal checks). */
function plannedHostfsOf(slotDir: string): string[] {
  try {
    const info = readInfo(slotDir);
    if (info.remote) return [];
    return plannedHostfsPaths(path.join(slotDir, 'rootfs'), info['rename-installed-files'] ?? {}, info.values ?? {});
  } catch {
    return [];
  }
}

/**
 * Repair every container whose last operation was interrupted (a journal whose writer is gone),
 * skipping containers another command is working on right now. Read-only commands call this so
 * what they show is never a half-switched deployment.
 */
export async function recoverInterrupted(ctx: DeployContext): Promise<void> {
  const dir = path.join(ctx.paths.checkoutRoot, '.atomic', 'journal');
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5));
  } catch {
    return;
  }
  for (const name of names) {
    if (!isValidContainerName(name)) continue; // not a journal we could have written
    const cp = containerPaths(ctx.paths, name);
    let lock;
    try {
      lock = await lockContainer(cp, 200);
    } catch {
      continue; // busy: its owner is alive and will finish
    }
    try {
      const done = await recoverContainer(ctx, cp);
      if (done) ctx.out.warn(`Note: ${done}`);
    } catch (e) {
      ctx.out.warn(`Warning: could not recover container ${name}: ${(e as Error).message}`);
    } finally {
      await lock.release();
    }
  }
}
