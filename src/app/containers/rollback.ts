/** `atomic containers rollback NAME` (§1.3): switch to the other slot with its own saved files. */
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { withContainerLock } from '../../deploy/deploy-locks.js';
import { Deployment } from '../../deploy/deployment.js';
import { systemdFor } from '../../deploy/activate-slot.js';
import { containerPaths, currentSlot, otherSlot, slotUnitCopy, containerNotInstalled, type ContainerPaths } from '../../deploy/layout.js';
import { readInfo } from '../../deploy/info-file.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { exists } from '../../deploy/slot-files.js';
import { checkOptionFilesPlaceable, readSlotOptions } from '../../deploy/option-record.js';
import { AtomicError } from '../../util/errors.js';
import { DEFAULT_WATCH_SECONDS } from '../../deploy/health-gate.js';
import { recheckStoredTrust } from '../../image/trust/check.js';
import { trustSettings } from '../../image/trust/policy.js';
import type { Checksum } from '../../store/types.js';
import { autoUpdatePolicy, followAutoUpdatePolicy } from '../../deploy/auto-update.js';

export interface RollbackOptions {
  /** Seconds the restarted service is watched (default 10; 0 disables the health gate). */
  watch?: number;
}

export async function rollbackContainer(ctx: AppContext, name: string, o: RollbackOptions = {}): Promise<{ slotDir: string }> {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  return withContainerLock(ctx, cp, async (recovered) => {
    if (recovered) ctx.out.warn(`Note: ${recovered}`);
    const cur = currentSlot(cp);
    if (cur === null) throw containerNotInstalled(name);
    ctx.out.line(`Attempting to roll back system container: ${name}`);
    const target = otherSlot(cur);
    const dir = cp.slotDir(target);
    await checkRollbackTarget(ctx, cp, dir);
    ctx.out.line(`Rolling back container ${name} to the checkout at ${dir}`);
    // a running, failed or (re)starting service is brought back on the restored deployment; a stopped one stays stopped
    const st = systemdFor(ctx).state(unitName(name));
    const wasActive = st === 'active' || st === 'activating' || st === 'failed' || st === 'deactivating';
    const d = Deployment.switchTo(ctx, cp, { op: 'rollback', from: cur, to: target, wasActive });
    const { started } = await d.activate({ enable: false, start: wasActive, stopFirst: true });
    await d.finish();
    const before = autoUpdatePolicy(readInfo(cp.slotDir(cur))) !== null;
    try {
      await d.watch(started ? (o.watch ?? DEFAULT_WATCH_SECONDS) : 0, { revert: st === 'active' });
    } finally {
      await followAutoUpdatePolicy(ctx, cp, before);
    }
    return { slotDir: dir };
  });
}

/** The previous deployment must be complete, still trusted, and its option files placeable. */
async function checkRollbackTarget(ctx: AppContext, cp: ContainerPaths, dir: string): Promise<void> {
  if (!exists(path.join(dir, 'info'))) {
    throw new AtomicError('NOT_FOUND', `Error: Cannot find a previous deployment to rollback located at ${dir}`, {
      suggestions: ['A rollback needs an earlier update: atomic containers update NAME'],
    });
  }
  const info = readInfo(dir);
  if (info['has-container-service'] !== false && !exists(slotUnitCopy(dir, cp.name))) {
    throw new AtomicError('STORE_CORRUPT', `Error: Cannot find systemd service file for previous version. The previous checkout at ${dir} may be corrupted.`);
  }
  await recheckDeployment(ctx, cp.name, info['ostree-commit'], info.image);
  // the restored record's unit files must not replace an admin's files (docs/security.md)
  checkOptionFilesPlaceable(ctx.paths, cp, readSlotOptions(dir)?.files ?? {});
}

/**
 * The previous deployment's image must still satisfy the signature policy (checked offline with
 * the signatures stored with it): a policy that no longer trusts it refuses the rollback, unless
 * --insecure-policy.
 */
async function recheckDeployment(ctx: AppContext, name: string, commitText: string | undefined, image: string): Promise<void> {
  const settings = trustSettings(ctx);
  if (settings.insecurePolicy) {
    ctx.out.line(`Signature policy not checked for the rollback of ${name}: --insecure-policy`);
    return;
  }
  const repo = await ctx.repoIfExists();
  const commit = commitText ? (commitText as Checksum) : undefined;
  const have =
    repo && commit
      ? await repo.readCommit(commit).then(
          () => true,
          () => false,
        )
      : false;
  if (!repo || !commit || !have) {
    throw new AtomicError(
      'POLICY_REJECTED',
      `rollback of ${name} refused: the image of the previous deployment (${image}, commit ${commit || 'unknown'}) is no longer in the store, so its signatures cannot be checked`,
      {
        suggestions: [`Pull ${image} again, or pass --insecure-policy to roll back without the signature check.`],
      },
    );
  }
  await recheckStoredTrust(repo, commit, image, { settings, onLine: (l) => ctx.out.line(l), what: `rollback of ${name}` });
}
