/**
 * `atomic uninstall NAME` / `atomic containers delete NAME` (§1.4). An absent container is
 * reported by the caller with `unableToFind` (atomic's lookup error, exit 1), not silently
 * ignored as atomic's ostree backend did: a typo must not look like success.
 */
import type { AppContext } from '../context.js';
import { recoverContainer, finishUninstall } from '../../deploy/container-ops.js';
import { containerPaths, currentSlot, validateContainerName } from '../../deploy/layout.js';
import { lockContainer } from '../../deploy/container-lock.js';
import { writeJournal, clearJournal } from '../../deploy/journal.js';
import { exists } from '../../deploy/slot-files.js';
import { AtomicError } from '../../util/errors.js';

/** atomic's message (and its exit status 1) for a NAME that is neither a container nor an image. */
export function unableToFind(name: string): AtomicError {
  return new AtomicError('CONTAINER_NOT_FOUND', `Unable to find '${name}' in the following backends: ostree`, {
    exitCode: 1,
    suggestions: ['List the installed containers with: atomic containers list -a'],
  });
}

export async function uninstallContainer(ctx: AppContext, name: string): Promise<{ removed: boolean }> {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  if (!exists(ctx.paths.checkoutRoot)) return { removed: false };
  const lock = await lockContainer(cp);
  try {
    // an interrupted operation is finished first; one that ends with the container gone (an
    // uninstall, an install before its switch) counts as removed
    const recovered = await recoverContainer(ctx, cp);
    const cur = currentSlot(cp);
    if (cur === null && !exists(cp.slotDir(0)) && !exists(cp.slotDir(1)) && !exists(cp.hostUnit)) return { removed: recovered !== null };
    await writeJournal(cp.journal, { op: 'uninstall', name, from: cur, to: cur, phase: 'host', wasActive: false, created: [], pid: process.pid, time: Date.now() });
    await finishUninstall(ctx, cp);
    await clearJournal(cp.journal);
    return { removed: true };
  } finally {
    await lock.release();
  }
}
