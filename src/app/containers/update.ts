/**
 * `atomic containers update [--rebase IMAGE] [--set K=V] NAME` (§1.2): deploy into the other slot
 * with the stored values plus --set, switch atomically, restart only if it was active. Does not pull
 * (only --rebase pulls a missing image). A failure leaves the previous deployment, unit and tmpfiles
 * as they were (the host side is re-activated from the old slot's own files).
 */
import * as fs from 'node:fs';
import type { AppContext } from '../context.js';
import { parseSetValues, chooseRuntime } from '../../deploy/container-ops.js';
import { withDeployLocks } from '../../deploy/deploy-locks.js';
import { Deployment } from '../../deploy/deployment.js';
import { ensureImage } from '../images/ensure.js';
import { resolveImages } from '../../image/stored-image.js';
import { imageIdFor } from '../../deploy/render-slot.js';
import { systemdFor } from '../../deploy/activate-slot.js';
import { containerPaths, currentSlot, otherSlot, type ContainerPaths, type Slot, containerNotInstalled } from '../../deploy/layout.js';
import { readInfo, type DeploymentInfo } from '../../deploy/info-file.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { slotManifestDefaults, unusedSetWarnings } from '../../deploy/value-origins.js';
import { DEFAULT_WATCH_SECONDS } from '../../deploy/health-gate.js';
import { parseHealthFlag, readHealthSpec, type HealthSpec } from '../../deploy/health-spec.js';
import { readSlotOptions, hostConfPath } from '../../deploy/option-record.js';
import { sameRecord, type OptionRecord, type LinkedUnit } from '../../render/options.js';
import { effectiveRecord, checkOptionRecord } from './option-record.js';
import { stripTransport } from '../../image/reference.js';
import { autoUpdatePolicy, carriedFlag, followAutoUpdatePolicy } from '../../deploy/auto-update.js';
import { liftQuarantine } from '../../deploy/quarantine.js';

export interface UpdateOptions {
  name: string;
  rebase?: string;
  set?: string[];
  /** Seconds the restarted service is watched (default 10; 0 disables the health gate). */
  watch?: number;
  /** `--health-check SPEC` (deploy/health-spec.ts parseHealthFlag). */
  healthCheck?: string;
  /** `--reset KEY`: drop the value, so the image default (or the OS default) applies again. */
  reset?: string[];
  /** The whole option record to deploy (`containers config`); default: the host file, else the live one. */
  options?: OptionRecord;
  /** Where `options` came from, for messages. */
  optionsSource?: string;
  /** `--auto-update` (true) / `--no-auto-update` (false); absent: as before (docs/auto-update.md). */
  autoUpdate?: boolean;
  /** Called by `atomic auto-update` (not by hand): a quarantined image is never released. */
  auto?: boolean;
}

export async function updateContainer(ctx: AppContext, o: UpdateOptions): Promise<{ updated: boolean }> {
  validateContainerName(o.name);
  const newValues = parseSetValues(o.set);
  if (o.healthCheck !== undefined) parseHealthFlag(o.healthCheck); // refuse a bad spec before anything happens
  const cp = containerPaths(ctx.paths, o.name);
  if (!fs.existsSync(ctx.paths.checkoutRoot)) throw containerNotInstalled(o.name);
  return withDeployLocks(ctx, cp, 'update', (recovered) => updateLocked(ctx, o, cp, newValues, recovered));
}

async function updateLocked(ctx: AppContext, o: UpdateOptions, cp: ContainerPaths, newValues: Record<string, string>, recovered: string | null): Promise<{ updated: boolean }> {
  {
    if (recovered) ctx.out.warn(`Note: ${recovered}`);
    const cur = currentSlot(cp);
    if (cur === null) throw containerNotInstalled(o.name);
    const info = readInfo(cp.slotDir(cur));
    const repo = await ctx.repo();
    let imageName = info.image;
    let image;
    if (o.rebase) {
      const r = await ensureImage(ctx, o.rebase, [stripTransport(info.image)]); // its large files probably equal the running image's
      image = r.image;
      imageName = r.name;
    } else {
      [image] = await resolveImages(repo, stripTransport(info.image));
    }
    const { values, record, links, healthCheck, autoUpdateFlag, changed } = planUpdate(ctx, o, cp, cur, info, newValues);
    // atomic's rule: the image id (whatever spelling named it) and the values decide, not the name
    if (imageIdFor(image) === info.revision && !changed) {
      ctx.out.line('Latest version already installed.');
      return { updated: false };
    }
    const runtime = chooseRuntime(ctx, undefined, info.runtime);
    if (info.remote) ctx.out.line('Updating a container with a remote rootfs. Only changes to config will be applied.');
    const next = otherSlot(cur);
    ctx.out.line(`Extracting to ${cp.slotDir(next)}`);
    const wasActive = systemdFor(ctx).isActive(unitName(o.name));
    const d = await Deployment.begin(ctx, cp, { op: 'update', from: cur, to: next, wasActive });
    let prepared;
    try {
      prepared = await d.prepare({ image, imageName, setValues: values, runtime, remote: info.remote ?? null, options: record, links, healthCheck, autoUpdate: autoUpdateFlag });
      for (const w of unusedSetWarnings(prepared.slotDir, prepared.info, Object.keys(newValues), imageName)) ctx.out.warn(w);
    } catch (e) {
      await d.abandon();
      throw e;
    }
    let started = false;
    try {
      ({ started } = await d.activate({ enable: false, start: wasActive, stopFirst: true }));
    } catch (e) {
      ctx.out.warn(`Update of ${o.name} failed (${(e as Error).message}); restoring the previous deployment`);
      try {
        await d.restorePrevious();
      } catch (e2) {
        ctx.out.warn(`Could not restore ${o.name} automatically: ${(e2 as Error).message}; the next atomic command on it will finish the recovery`);
      }
      throw e;
    }
    await d.finish();
    // the restarted service must prove itself, else the previous deployment comes back (HEALTH_CHECK_FAILED)
    const watch = started ? (o.watch ?? DEFAULT_WATCH_SECONDS) : 0;
    let gateError: unknown = null;
    try {
      await d.watch(watch);
    } catch (e) {
      gateError = e;
    }
    await followAutoUpdatePolicy(ctx, cp, autoUpdatePolicy(info) !== null);
    if (gateError !== null) throw gateError;
    // an update by hand is the operator's word on a quarantined image: deployed without a watch, it is released too
    if (watch === 0 && !o.auto && (await liftQuarantine(cp, prepared.info.revision)))
      ctx.out.line(`Image ${prepared.info.image} (${prepared.info.revision.slice(0, 12)}) is no longer quarantined for ${o.name}`);
    return { updated: true };
  }
}

export interface UpdatePlan {
  /** The values to deploy: the stored ones with --reset and --set applied (and, on --rebase, without the old image's defaults). */
  values: Record<string, string>;
  /** The option record to deploy and its Interlinked containers. */
  record: OptionRecord;
  links: LinkedUnit[];
  /** Where the record comes from, for messages. */
  recordSource: string;
  healthCheck: HealthSpec | null;
  /** `--auto-update` / `--no-auto-update`, given now or carried from the live deployment. */
  autoUpdateFlag: ReturnType<typeof carriedFlag>;
  /** Anything but the image differs from the live deployment. */
  changed: boolean;
}

/**
 * What an update deploys besides the image, from the live deployment `cur` and the options.
 * Reads only; `containers update` and its --dry-run share it.
 */
export function planUpdate(ctx: AppContext, o: UpdateOptions, cp: ContainerPaths, cur: Slot, info: DeploymentInfo, newValues: Record<string, string>): UpdatePlan {
  const values = { ...info.values };
  let changed = false;
  if (o.rebase) {
    // values that were the old image's defaults follow the new image's defaults
    for (const [k, v] of Object.entries(slotManifestDefaults(cp.slotDir(cur), info))) if (values[k] === v) delete values[k];
  }
  for (const k of o.reset ?? []) {
    if (Object.prototype.hasOwnProperty.call(values, k)) {
      delete values[k];
      changed = true;
    } else ctx.out.warn(`Warning: --reset ${k}: ${o.name} has no value ${k}`);
  }
  for (const [k, v] of Object.entries(newValues)) {
    if (values[k] !== v) changed = true;
    values[k] = v;
  }
  // the option record: given (config), else the host file, else the live deployment's (so it survives --rebase)
  const liveRecord = readSlotOptions(cp.slotDir(cur))?.record ?? {};
  const record = o.options ?? effectiveRecord(ctx, o.name);
  const recordSource = o.optionsSource ?? (o.options ? 'option record' : hostConfPath(ctx.paths, o.name));
  const links = checkOptionRecord(ctx, o.name, record, recordSource);
  if (!sameRecord(record, liveRecord)) changed = true;
  // a check given on the command line (now, or at an earlier install/update) stays with the container
  const prevHealth = readHealthSpec(cp.slotDir(cur));
  const healthCheck = o.healthCheck !== undefined ? parseHealthFlag(o.healthCheck) : prevHealth?.source === 'flag' ? prevHealth : null;
  if (o.healthCheck !== undefined && JSON.stringify(healthCheck) !== JSON.stringify(prevHealth)) changed = true;
  // --auto-update / --no-auto-update stays with the container like --health-check
  const prevFlag = carriedFlag(info);
  const autoUpdateFlag = o.autoUpdate === undefined ? prevFlag : o.autoUpdate ? 'registry' : 'disabled';
  if (autoUpdateFlag !== prevFlag) changed = true;
  return { values, record, links, recordSource, healthCheck, autoUpdateFlag, changed };
}
