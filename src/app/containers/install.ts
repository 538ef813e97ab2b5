/**
 * `atomic install --system` (§1.1, §2.6): checkout into CK/NAME.0, render, then activate — with
 * a per-container lock, a journal, and a full undo on failure (nothing of the container remains).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { parseSetValues, chooseRuntime } from '../../deploy/container-ops.js';
import { withDeployLocks } from '../../deploy/deploy-locks.js';
import { Deployment } from '../../deploy/deployment.js';
import { ensureImage } from '../images/ensure.js';
import { containerPaths, currentSlot, type ContainerPaths } from '../../deploy/layout.js';
import { validateContainerName, slotCollision } from '../../deploy/container-name.js';
import { exists } from '../../deploy/slot-files.js';
import { checkRuntime } from '../../host/runtime.js';
import { defaultSystemName } from '../../image/name.js';
import { AtomicError } from '../../util/errors.js';
import { parseHealthFlag } from '../../deploy/health-spec.js';
import { unusedSetWarnings } from '../../deploy/value-origins.js';
import { readInfo } from '../../deploy/info-file.js';
import { resolveImages } from '../../image/stored-image.js';
import { readHostConf, hostConfPath } from '../../deploy/option-record.js';
import { parseOptionAssignments } from '../../render/options.js';
import { checkOptionRecord } from './option-record.js';
import { autoUpdatePolicy, carriedFlag, ensureAutoUpdateUnits } from '../../deploy/auto-update.js';

export interface InstallOptions {
  image: string;
  name?: string;
  set?: string[];
  runtime?: string;
  display?: boolean;
  /** --rootfs PATH: use an existing exploded rootfs read-only (§2.12). */
  rootfs?: string;
  /** `--health-check SPEC`: the readiness check of the health gate (kept across updates). */
  healthCheck?: string;
  /** `--now`: start the unit too. */
  now?: boolean;
  /** --option KEY=VALUE (option record keys, docs/options.md), over /etc/containers/atomic/NAME.conf. */
  options?: string[];
  /** `--auto-update`: update it from its registry with `atomic auto-update` (docs/auto-update.md), whatever its labels say. */
  autoUpdate?: boolean;
}

export async function installSystem(ctx: AppContext, o: InstallOptions): Promise<{ name: string; installed: boolean }> {
  const setValues = parseSetValues(o.set);
  if (o.healthCheck !== undefined) parseHealthFlag(o.healthCheck);
  const name = o.name ?? defaultSystemName(o.image);
  validateContainerName(name);
  const runtime = chooseRuntime(ctx, o.runtime);
  const cp = containerPaths(ctx.paths, name);
  checkRuntime(runtime, cp.stateDir);
  return withDeployLocks(ctx, cp, 'install', (recovered) => installLocked(ctx, o, cp, name, setValues, runtime, recovered));
}

async function installLocked(
  ctx: AppContext,
  o: InstallOptions,
  cp: ContainerPaths,
  name: string,
  setValues: Record<string, string>,
  runtime: string,
  recovered: string | null,
): Promise<{ name: string; installed: boolean }> {
  {
    if (recovered) ctx.out.warn(`Note: ${recovered}`);
    refuseCollision(cp);
    if (exists(cp.link) || exists(`${ctx.paths.preinstalledRoot}/${name}`)) {
      ctx.out.line(`${name} already present`);
      await warnDifferences(ctx, cp, o.image, setValues);
      if (o.autoUpdate) warnAutoUpdateNotApplied(ctx, cp);
      return { name, installed: false };
    }
    refuseForeignSlots(cp);
    // the option record: the host file (if an admin or Ansible wrote one) with --option over it
    const fromFlags = parseOptionAssignments(o.options ?? [], '--option: ');
    const record = { ...(readHostConf(ctx.paths, name) ?? {}), ...fromFlags };
    const links = checkOptionRecord(ctx, name, record, Object.keys(fromFlags).length ? 'the option record (--option)' : hostConfPath(ctx.paths, name));
    const { image, name: imageName } = await ensureImage(ctx, o.image);
    refuseForeignHostFiles(cp);
    ctx.out.line(`Extracting to ${cp.slotDir(0)}`);
    if (o.display) return { name, installed: false };
    const d = await Deployment.begin(ctx, cp, { op: 'install', from: null, to: 0, wasActive: false });
    let autoUpdate = false;
    try {
      const prepared = await d.prepare({
        image,
        imageName,
        setValues,
        runtime,
        remote: o.rootfs ?? null,
        options: record,
        links,
        healthCheck: o.healthCheck !== undefined ? parseHealthFlag(o.healthCheck) : null,
        autoUpdate: o.autoUpdate ? 'registry' : null,
      });
      autoUpdate = autoUpdatePolicy(prepared.info) !== null;
      for (const w of unusedSetWarnings(prepared.slotDir, prepared.info, Object.keys(setValues), imageName)) ctx.out.warn(w);
      await d.activate({ enable: true, start: o.now === true, stopFirst: false });
    } catch (e) {
      await d.undoInstall();
      throw e;
    }
    await d.finish();
    // the first auto-update container brings the daily timer (docs/auto-update.md)
    if (autoUpdate) await ensureAutoUpdateUnits(ctx);
    return { name, installed: true };
  }
}

/**
 * `install` of a name that is installed keeps atomic's `NAME already present` (exit 0, scripts rely
 * on it) and warns when the image or the --set values asked for differ from the installed ones.
 */
export async function warnDifferences(ctx: AppContext, cp: ContainerPaths, image: string, setValues: Record<string, string>): Promise<void> {
  const cur = currentSlot(cp);
  if (cur === null) return;
  let info;
  try {
    info = readInfo(cp.slotDir(cur));
  } catch {
    return;
  }
  const diffs: string[] = [];
  const bare = (s: string): string => s.replace(/^(docker:\/\/|docker:|http:|https:)/, '');
  // the image: by id when the reference names a stored image, else by name for a registry/store name
  // (a local transport such as oci:DIR:TAG is stored under another name: not compared without its id)
  let otherImage = false;
  try {
    const repo = await ctx.repoIfExists();
    const [img] = repo ? await resolveImages(repo, bare(image)) : [];
    otherImage = img !== undefined && img.id !== info.revision;
  } catch {
    otherImage = !/^[a-z-]+:/.test(bare(image)) && bare(image) !== info.image && `${bare(image)}:latest` !== info.image;
  }
  if (otherImage) diffs.push(`image ${image} (installed: ${info.image})`);
  for (const [k, v] of Object.entries(setValues))
    if (info.values?.[k] !== v) diffs.push(`${k}=${v} (installed: ${info.values?.[k] === undefined ? 'unset' : `${k}=${info.values[k]}`})`);
  if (diffs.length === 0) return;
  const sets = Object.entries(setValues)
    .map(([k, v]) => ` --set ${k}=${v}`)
    .join('');
  ctx.out.warn(`Warning: ${cp.name} is installed already and was not changed; this install asked for ${diffs.join(', ')}.`);
  ctx.out.warn(`Warning: to change it: atomic containers update${otherImage ? ` --rebase ${image}` : ''}${sets} ${cp.name}`);
}

function warnAutoUpdateNotApplied(ctx: AppContext, cp: ContainerPaths): void {
  const cur = currentSlot(cp);
  try {
    if (cur !== null && carriedFlag(readInfo(cp.slotDir(cur))) === 'registry') return;
  } catch {
    return;
  }
  ctx.out.warn(`Warning: --auto-update was not applied to the installed ${cp.name}; to turn it on: atomic containers update --auto-update ${cp.name}`);
}

/**
 * Before anything is written: `name` must not collide with another container's link or slots
 * (`app` vs `app.0`), and CK/NAME.0 / CK/NAME.1 must not hold anything (an install never deletes
 * a directory it did not create; an empty one is reused).
 */
export function refuseCollision(cp: ContainerPaths): void {
  const other = slotCollision(cp.checkoutRoot, cp.name);
  if (other !== null) {
    const [slotOwner, slotName] = other.length < cp.name.length ? [other, cp.name] : [cp.name, other];
    throw new AtomicError(
      'USAGE',
      `Cannot install ${cp.name}: it collides with the installed container ${other} (${path.join(cp.checkoutRoot, slotName)} is ${slotOwner === other ? `a deployment of ${other}` : `the link of ${other}`})`,
      {
        suggestions: [`Install under another name with --name, or uninstall ${other} first (atomic uninstall ${other}).`],
      },
    );
  }
  let link: fs.Stats | null = null;
  try {
    link = fs.lstatSync(cp.link);
  } catch {
    link = null;
  }
  if (link !== null && !link.isSymbolicLink()) {
    throw new AtomicError('USAGE', `Cannot install ${cp.name}: ${cp.link} exists and is not a container link`, {
      suggestions: [`Move ${cp.link} away (atomic did not create it) or install under another name with --name.`],
    });
  }
}

/** A unit or tmpfiles.d file of the name that atomic did not write is never replaced. */
export function refuseForeignHostFiles(cp: ContainerPaths): void {
  for (const f of [cp.hostUnit, cp.hostTmpfiles]) {
    if (exists(f))
      throw new AtomicError('USAGE', `The file ${f} already exists.`, {
        suggestions: [`Remove ${f} (it does not belong to an atomic container), or install under another --name.`],
      });
  }
}

export function refuseForeignSlots(cp: ContainerPaths): void {
  for (const s of [0, 1] as const) {
    const dir = cp.slotDir(s);
    let entries: string[];
    try {
      if (!fs.lstatSync(dir).isDirectory()) entries = ['(not a directory)'];
      else entries = fs.readdirSync(dir);
    } catch {
      continue; // absent
    }
    if (entries.length > 0) {
      throw new AtomicError('USAGE', `Cannot install ${cp.name}: ${dir} already exists and is not empty, and it is not a deployment of an installed container`, {
        suggestions: [`Move ${dir} away (it was not created by this installation) or install under another name with --name.`],
      });
    }
  }
}
