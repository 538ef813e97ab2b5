/** `atomic uninstall NAME` / `atomic containers delete NAME` (§1.4). Absent container: exit 0 silently. */
import type { AppContext } from '../context.js';
import { recoverContainer, finishUninstall } from '../../deploy/container-ops.js';
import { containerPaths, currentSlot, validateContainerName } from '../../deploy/layout.js';
import { lockContainer } from '../../deploy/container-lock.js';
import { writeJournal, clearJournal } from '../../deploy/journal.js';
import { exists } from '../../deploy/slot-files.js';

export async function uninstallContainer(ctx: AppContext, name: string): Promise<{ removed: boolean }> {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  if (!exists(ctx.paths.checkoutRoot)) return { removed: false };
  const lock = await lockContainer(cp);
  try {
    await recoverContainer(ctx, cp);
    const cur = currentSlot(cp);
    if (cur === null && !exists(cp.slotDir(0)) && !exists(cp.slotDir(1)) && !exists(cp.hostUnit)) return { removed: false };
    await writeJournal(cp.journal, { op: 'uninstall', name, from: cur, to: cur, phase: 'host', wasActive: false, created: [], pid: process.pid, time: Date.now() });
    await finishUninstall(ctx, cp);
    await clearJournal(cp.journal);
    return { removed: true };
  } finally {
    await lock.release();
  }
}
