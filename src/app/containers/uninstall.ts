/**
 * `atomic uninstall NAME` / `atomic containers delete NAME` (§1.4). An absent container is
 * reported by the caller with `unableToFind` (atomic's lookup error, exit 1), not silently
 * ignored as atomic's ostree backend did: a typo must not look like success.
 * Only what atomic wrote is removed: the host unit and tmpfiles file must equal a deployment's own
 * copy (deploy/host-files.ts), else nothing is changed and the command fails naming the file.
 */
import type { AppContext } from '../context.js';
import { AtomicError } from '../../util/errors.js';
import { withContainerLock } from '../../deploy/deploy-locks.js';
import { Deployment } from '../../deploy/deployment.js';
import { containerPaths, currentSlot, isSlotDir } from '../../deploy/layout.js';
import { validateContainerName } from '../../deploy/container-name.js';
import { containerHostFiles } from '../../deploy/host-files.js';
import { exists } from '../../deploy/slot-files.js';
import { readInfo } from '../../deploy/info-file.js';
import { autoUpdatePolicy, followAutoUpdatePolicy } from '../../deploy/auto-update.js';

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
  // an interrupted operation is finished first; one that ends with the container gone (an
  // uninstall, an install before its switch) counts as removed
  return withContainerLock(ctx, cp, async (recovered) => {
    const cur = currentSlot(cp);
    const slots = isSlotDir(cp.slotDir(0)) || isSlotDir(cp.slotDir(1));
    if (cur === null && !slots) {
      if (exists(cp.hostUnit) || exists(cp.hostTmpfiles)) {
        const f = exists(cp.hostUnit) ? cp.hostUnit : cp.hostTmpfiles;
        throw new AtomicError('CONTAINER_NOT_FOUND', `${name} is not a system container installed by atomic: ${f} was not written by atomic and was left alone`, {
          suggestions: [`Manage ${name} with systemctl directly; atomic only removes units it installed (atomic containers list -a).`],
        });
      }
      return { removed: recovered !== null };
    }
    const own = containerHostFiles(cp);
    const foreign = [own.unit === 'foreign' && own.hasUnitCopy ? cp.hostUnit : null, own.tmpfiles === 'foreign' && own.hasTmpfilesCopy ? cp.hostTmpfiles : null].filter(
      (f): f is string => f !== null,
    );
    if (foreign.length > 0) {
      throw new AtomicError(
        'USAGE',
        `Cannot uninstall ${name}: ${foreign.join(' and ')} ${foreign.length > 1 ? 'differ' : 'differs'} from what atomic installed (edited by hand?); nothing was changed`,
        {
          suggestions: [
            `Keep a copy of your changes, then restore the file from the deployment (${cur !== null ? cp.slotDir(cur) : cp.slotDir(0)}) or remove it yourself, and run the uninstall again.`,
          ],
        },
      );
    }
    let hadPolicy = false;
    try {
      hadPolicy = cur !== null && autoUpdatePolicy(readInfo(cp.slotDir(cur))) !== null;
    } catch {
      hadPolicy = false;
    }
    const d = await Deployment.begin(ctx, cp, { op: 'uninstall', from: cur, to: cur, wasActive: false });
    const kept = await d.uninstall();
    await d.finish();
    // the last auto-update container takes the timer with it (docs/auto-update.md)
    if (hadPolicy) await followAutoUpdatePolicy(ctx, cp, true);
    if (kept.length > 0) {
      throw new AtomicError(
        'USAGE',
        `${name} was uninstalled, but ${kept.join(' and ')} ${kept.length > 1 ? 'were' : 'was'} not written by atomic and ${kept.length > 1 ? 'were' : 'was'} left alone`,
        {
          suggestions: [`Check ${kept.join(' and ')} and remove ${kept.length > 1 ? 'them' : 'it'} yourself if ${kept.length > 1 ? 'they belong' : 'it belongs'} to nothing else.`],
        },
      );
    }
    return { removed: true };
  });
}
