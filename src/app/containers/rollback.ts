/** `atomic containers rollback NAME` (§1.3): switch to the other slot with its own saved files. */
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { recoverContainer } from '../../deploy/container-ops.js';
import { activateSlot, systemdFor } from '../../deploy/activate-slot.js';
import { containerPaths, currentSlot, otherSlot, slotUnitCopy } from '../../deploy/layout.js';
import { lockContainer } from '../../deploy/container-lock.js';
import { readInfo } from '../../deploy/info-file.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { clearJournal, type JournalEntry } from '../../deploy/journal.js';
import { exists } from '../../deploy/slot-files.js';
import { AtomicError } from '../../util/errors.js';

export async function rollbackContainer(ctx: AppContext, name: string): Promise<{ slotDir: string }> {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  const lock = await lockContainer(cp);
  try {
    const recovered = await recoverContainer(ctx, cp);
    if (recovered) ctx.out.warn(`Note: ${recovered}`);
    const cur = currentSlot(cp);
    if (cur === null) throw new AtomicError('CONTAINER_NOT_FOUND', `System container '${name}' is not installed`);
    ctx.out.line(`Attempting to roll back system container: ${name}`);
    const target = otherSlot(cur);
    const dir = cp.slotDir(target);
    if (!exists(path.join(dir, 'info'))) {
      throw new AtomicError('NOT_FOUND', `Error: Cannot find a previous deployment to rollback located at ${dir}`, { suggestions: ['A rollback needs an earlier update: atomic containers update NAME'] });
    }
    const info = readInfo(dir);
    if (info['has-container-service'] !== false && !exists(slotUnitCopy(dir, name))) {
      throw new AtomicError('STORE_CORRUPT', `Error: Cannot find systemd service file for previous version. The previous checkout at ${dir} may be corrupted.`);
    }
    ctx.out.line(`Rolling back container ${name} to the checkout at ${dir}`);
    const wasActive = systemdFor(ctx).isActive(unitName(name));
    const journal: JournalEntry = { op: 'rollback', name, from: cur, to: target, phase: 'host', wasActive, created: [], pid: process.pid, time: Date.now() };
    await activateSlot(ctx, cp, target, { journal, enable: false, start: wasActive, stopFirst: true });
    await clearJournal(cp.journal);
    return { slotDir: dir };
  } finally {
    await lock.release();
  }
}
