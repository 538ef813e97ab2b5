/** `atomic stop NAME` (§1.12): `systemctl stop NAME` for an installed system container. */
import type { AppContext } from '../context.js';
import { systemdFor } from '../../deploy/activate-slot.js';
import { containerPaths, currentSlot } from '../../deploy/layout.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { AtomicError } from '../../util/errors.js';

export async function stopContainer(ctx: AppContext, name: string): Promise<void> {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  if (currentSlot(cp) === null) {
    throw new AtomicError('CONTAINER_NOT_FOUND', `The container '${name}' doesn't exist`, { suggestions: ['List containers with: atomic containers list -a'] });
  }
  const sd = systemdFor(ctx);
  if (sd.offline) throw new AtomicError('NOT_SUPPORTED', `cannot stop ${name} with --sysroot: there is no running systemd for an offline root`);
  sd.stop(unitName(name));
}
