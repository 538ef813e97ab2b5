/** The steps of `atomic uninstall` (§1.4), shared by the use case and the recovery of an interrupted one. */
import * as fs from 'node:fs';
import type { DeployContext } from './context.js';
import { systemdFor } from './activate-slot.js';
import { removeOptionFiles } from './option-record.js';
import { removeHostfs } from './hostfs.js';
import { removeDurable } from './slot-files.js';
import { currentSlot, isSlotDir, type ContainerPaths } from './layout.js';
import { containerHostFiles } from './host-files.js';
import { dropQuarantine } from './quarantine.js';
import { lastResultFile } from './health-gate.js';
import { defaultRuntime } from '../host/runtime.js';
import { faultPoint } from '../util/atomic-write.js';
import { unitName } from './container-name.js';
import { removeTreeSync } from '../util/remove-tree.js';

/** Uninstall steps (§1.4), idempotent so an interrupted uninstall can be finished. Returns the host files left alone (not written by atomic). */
export async function finishUninstall(ctx: DeployContext, cp: ContainerPaths): Promise<string[]> {
  const sd = systemdFor(ctx);
  const slot = currentSlot(cp);
  let checksums: Record<string, string> = {};
  let serviceExpected = false;
  let runtime: string | undefined;
  if (slot !== null) {
    try {
      const info = JSON.parse(fs.readFileSync(`${cp.slotDir(slot)}/info`, 'utf8')) as {
        'installed-files-checksum'?: Record<string, string>;
        'has-container-service'?: boolean;
        runtime?: string;
      };
      checksums = info['installed-files-checksum'] ?? {};
      serviceExpected = info['has-container-service'] !== false;
      runtime = info.runtime;
    } catch {
      /* half-written slot: remove what is there */
    }
  }
  // only host files atomic wrote (equal to a slot's copy) are disabled, --remove'd and deleted
  const own = containerHostFiles(cp);
  const kept: string[] = [];
  if (own.unit === 'foreign') kept.push(cp.hostUnit);
  if (own.tmpfiles === 'foreign') kept.push(cp.hostTmpfiles);
  const hasService = own.unit === 'ours' || (own.unit === 'absent' && serviceExpected);
  if (hasService) sd.disableNow(unitName(cp.name));
  // nothing of the container may outlive the unit: a runc that was killed leaves it running
  if (hasService && !sd.offline) sd.reapContainer(runtime ?? defaultRuntime(), cp.name);
  faultPoint('uninstall:disabled');
  if (own.unit === 'ours') await removeDurable(cp.hostUnit);
  await removeOptionFiles(ctx.paths, cp, (l) => ctx.out.line(l));
  faultPoint('uninstall:unit-removed');
  if (hasService) {
    try {
      sd.daemonReload();
    } catch {
      /* errors ignored, as atomic did */
    }
    sd.resetFailed(unitName(cp.name));
  }
  if (own.tmpfiles === 'ours') {
    sd.tmpfilesRemove(cp.hostTmpfiles);
    await removeDurable(cp.hostTmpfiles);
  }
  for (const m of removeHostfs(ctx.paths.sysroot, checksums)) ctx.out.line(m);
  faultPoint('uninstall:host-cleaned');
  if (slot !== null) await removeDurable(cp.link);
  faultPoint('uninstall:unlinked');
  for (const s of [0, 1] as const) if (isSlotDir(cp.slotDir(s))) removeTreeSync(cp.slotDir(s));
  dropQuarantine(cp);
  fs.rmSync(lastResultFile(cp), { force: true });
  for (const f of kept) ctx.out.warn(`Will not delete ${f}: it was not written by atomic (it differs from the deployment's copy).`);
  return kept;
}
