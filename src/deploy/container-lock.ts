/**
 * One lock per container name (CK/.atomic/locks/NAME), so parallel install/update/rollback/
 * uninstall of the same NAME serialize. Same pid+start-time stale detection as the repo lock.
 */
import { acquireRepoLock, type RepoLock } from '../store/repo-lock.js';
import { AtomicError, isAtomicError } from '../util/errors.js';
import type { ContainerPaths } from './layout.js';
import { ensurePrivateDir } from './private-dir.js';

export async function lockContainer(cp: ContainerPaths, timeoutMs?: number): Promise<RepoLock> {
  ensurePrivateDir(cp.lockDir);
  try {
    return await acquireRepoLock(cp.lockDir, 'exclusive', timeoutMs === undefined ? {} : { timeoutMs });
  } catch (e) {
    if (isAtomicError(e) && e.code === 'LOCK_BUSY') {
      throw new AtomicError('LOCK_BUSY', `container ${cp.name} is busy: another atomic command is working on it (${e.message})`, {
        suggestions: ['Wait for the other command to finish and run this one again.'],
      });
    }
    throw e;
  }
}
