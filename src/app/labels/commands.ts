/**
 * The image-driven forms of install, uninstall and run (no --system/--user): which path an image
 * takes, decided from its labels (reference §1.1 steps 2 and 10, §1.12, §2.17):
 *
 * The ostree storage is chosen by `--storage ostree` or, without --storage, by `default_storage:
 * ostree` in /etc/atomic.conf (atomic's default was docker); then labels for the docker backend
 * (INSTALL, RUN) are not used, as in atomic.
 *
 * install --system IMAGE, or install IMAGE with the ostree storage: `atomic.run=once` → run once
 *                  (--set values apply; nothing is installed); else a system container for ANY
 *                  image, labelled or not.
 * install IMAGE (docker storage): `atomic.run=once` → run once;  `atomic.type=system` → system
 *                  install (with atomic's backend-switch Note);  else the INSTALL label (label-run.ts).
 * uninstall IMAGE: the UNINSTALL label (the caller handles installed system containers first).
 * run IMAGE CMD:   ostree storage, `atomic.run=once` or no RUN label → run once; else the RUN label.
 * run IMAGE:       (no CMD, IMAGE not an installed container) only an `atomic.run=once` image runs
 *                  (once), or, with the docker storage, its RUN label; anything else fails fast
 *                  with "not installed" (atomic ran `systemctl start IMAGE`, which failed): it never
 *                  runs a service image in the foreground (Ansible's atomic_image would hang).
 * run NAME:        an installed system container: without CMD `systemctl start NAME`; with CMD
 *                  `<runtime> exec NAME CMD` when it is active, else a one-off run of its
 *                  deployment's config.json with CMD as process.args.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { chooseRuntime, parseSetValues } from '../../deploy/container-ops.js';
import { explainNoSpace } from '../../deploy/deploy-locks.js';
import { ensureImage } from '../images/ensure.js';
import { imageLabels, resolveImages, type ImageEntry } from '../../image/stored-image.js';
import { installSystem, type InstallOptions } from '../containers/install.js';
import { systemdFor } from '../../deploy/activate-slot.js';
import { runLabelAction, runForeground, defaultLabelName, findLabel, shellQuote } from './run.js';
import { runOnce } from '../containers/run-once.js';
import { containerPaths, currentSlot } from '../../deploy/layout.js';
import { readInfo } from '../../deploy/info-file.js';
import { defaultSystemName } from '../../image/name.js';
import { validateContainerName, isValidContainerName, unitName } from '../../deploy/container-name.js';
import { checkRuntime } from '../../host/runtime.js';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { stripTransport } from '../../image/reference.js';
import { removeTreeSync } from '../../util/remove-tree.js';

export const BACKEND_SWITCH_NOTE =
  "Note: Switching from the 'docker' backend to the 'ostree' backend based on the 'atomic.type' label in the image.  You can use --storage to override this behaviour.";

export interface LabelInstallOptions {
  image: string;
  name?: string;
  /** Extra arguments after IMAGE: appended to the INSTALL command (run-once: the command). */
  args: string[];
  display?: boolean;
  runtime?: string;
  /** --storage was given explicitly (no backend switch note; atomic.type=system still installs). */
  storageExplicit?: boolean;
}

export function isRunOnce(labels: Record<string, string>): boolean {
  return findLabel(labels, 'atomic.run')?.trim() === 'once';
}

function isSystemType(labels: Record<string, string>): boolean {
  return findLabel(labels, 'atomic.type')?.trim() === 'system';
}

function runOnceDisplay(runtime: string, id: string, command: string[]): string {
  return [runtime, 'run', shellQuote(id), ...(command.length ? ['#', ...command.map(shellQuote)] : [])].join(' ');
}

/** Whether the ostree storage applies: `--storage` when given, else atomic.conf `default_storage`. */
export function ostreeStorage(ctx: AppContext, storageFlag: string | undefined): boolean {
  return (storageFlag ?? ctx.paths.conf.default_storage) === 'ostree';
}

/**
 * The image for `ref` if it is in the store, without contacting a registry: null when it is not
 * there. Files (oci:/PATH, archives) are imported, which reads only local data.
 */
async function storedImage(ctx: AppContext, ref: string): Promise<{ image: ImageEntry; name: string } | null> {
  if (/^(oci:[./]|oci-archive:|docker-archive:|dockertar:)/.test(ref)) return ensureImage(ctx, ref);
  const repo = await ctx.repoIfExists();
  if (!repo) return null;
  try {
    const bare = stripTransport(ref, { urls: true });
    const [image] = await resolveImages(repo, bare);
    return { image, name: bare };
  } catch (e) {
    if (isAtomicError(e) && (e.code === 'IMAGE_NOT_FOUND' || e.code === 'USAGE')) return null;
    throw e;
  }
}

export interface SystemInstallOptions extends InstallOptions {
  /** Arguments after IMAGE: the command of a run-once image. */
  args?: string[];
}

/**
 * `install --system IMAGE` and `install --storage ostree IMAGE`: an `atomic.run=once` image runs
 * once (with the --set values; output streamed; no unit, no deployment) and its exit status is
 * returned; any other image is installed as a system container (0). A container NAME already
 * present is reported by installSystem without pulling.
 */
export async function installSystemOrRunOnce(ctx: AppContext, o: SystemInstallOptions): Promise<number> {
  const setValues = parseSetValues(o.set);
  const name = o.name ?? defaultSystemName(o.image);
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  if (o.rootfs || currentSlot(cp) !== null) {
    await installSystem(ctx, { ...o, name });
    return 0;
  }
  let found;
  try {
    found = await ensureImage(ctx, o.image);
  } catch (e) {
    throw explainNoSpace(e, 'install', ctx, cp);
  }
  const { image, name: imageName } = found;
  if (isRunOnce(await imageLabels(await ctx.repo(), image))) {
    const runtime = chooseRuntime(ctx, o.runtime);
    if (o.display) {
      ctx.out.line(runOnceDisplay(runtime, name, o.args ?? []));
      return 0;
    }
    return runOnce(ctx, { image, imageName, name, command: o.args ?? [], setValues, runtime });
  }
  await installSystem(ctx, { ...o, image: imageName, name });
  return 0;
}

/** `atomic install [-n NAME] [--display] IMAGE [ARG...]` without --system/--user (docker storage). Returns the exit status. */
export async function installByLabel(ctx: AppContext, o: LabelInstallOptions): Promise<number> {
  const { image, name: imageName } = await ensureImage(ctx, o.image);
  const repo = await ctx.repo();
  const labels = await imageLabels(repo, image);
  if (isRunOnce(labels)) {
    const name = o.name ?? defaultSystemName(imageName);
    validateContainerName(name);
    const runtime = chooseRuntime(ctx, o.runtime);
    if (o.display) {
      ctx.out.line(runOnceDisplay(runtime, name, o.args));
      return 0;
    }
    return runOnce(ctx, { image, imageName, name, command: o.args, setValues: {}, runtime });
  }
  if (isSystemType(labels)) {
    if (!o.storageExplicit) ctx.out.line(BACKEND_SWITCH_NOTE);
    await installSystem(ctx, { image: imageName, name: o.name ?? defaultSystemName(imageName), runtime: o.runtime, display: o.display });
    return 0;
  }
  const name = o.name ?? defaultLabelName(imageName);
  validateContainerName(name);
  return runLabelAction(ctx, { action: 'INSTALL', labels, image: imageName, name, args: o.args, display: o.display ?? false });
}

/**
 * `atomic uninstall [-n NAME] [--display] IMAGE [ARG...]` for an image in the store (not pulled).
 * Returns null when IMAGE is not an image in the store (the caller then treats it as an absent
 * container), else the exit status. An image labelled atomic.type=system without the label has
 * nothing to uninstall (its containers are uninstalled by name): 0.
 */
export async function uninstallByLabel(ctx: AppContext, o: { image: string; name?: string; args: string[]; display?: boolean }): Promise<number | null> {
  const repo = await ctx.repoIfExists();
  if (!repo) return null;
  let image;
  try {
    [image] = await resolveImages(repo, stripTransport(o.image));
  } catch (e) {
    if (isAtomicError(e) && e.code === 'IMAGE_NOT_FOUND') return null;
    throw e;
  }
  const labels = await imageLabels(repo, image);
  if (findLabel(labels, 'UNINSTALL') === undefined && isSystemType(labels)) return 0;
  const imageName = stripTransport(o.image);
  const name = o.name ?? defaultLabelName(imageName);
  validateContainerName(name);
  return runLabelAction(ctx, { action: 'UNINSTALL', labels, image: imageName, name, args: o.args, display: o.display ?? false });
}

export interface RunOptions {
  /** An installed container's name, or an image (name in the store or any pull source). */
  target: string;
  command: string[];
  name?: string;
  display?: boolean;
  set?: string[];
  runtime?: string;
  /** The ostree storage applies (`--storage ostree`, or atomic.conf default_storage): RUN labels are not used. */
  storageOstree?: boolean;
  /** `-d/--detach`: `<runtime> exec --detach` in a running container (atomic's only detached form). */
  detach?: boolean;
}

const DETACH_NOT_RUNNING = 'Cannot use --detach with not running containers';

/** The installed container called `target`, or null. */
function installedContainer(ctx: AppContext, target: string): { name: string; slotDir: string } | null {
  if (!isValidContainerName(target)) return null;
  const cp = containerPaths(ctx.paths, target);
  const slot = currentSlot(cp);
  if (slot !== null) return { name: target, slotDir: cp.slotDir(slot) };
  const pre = path.join(ctx.paths.preinstalledRoot, target);
  if (fs.existsSync(path.join(pre, 'info'))) return { name: target, slotDir: pre };
  return null;
}

/** `atomic run ...` (see the module comment). Returns the exit status. */
export async function runTarget(ctx: AppContext, o: RunOptions): Promise<number> {
  const installed = installedContainer(ctx, o.target);
  if (installed) return runInstalled(ctx, installed, o);
  const setValues = parseSetValues(o.set);
  const found = o.command.length === 0 && o.storageOstree ? await storedImage(ctx, o.target) : await ensureImage(ctx, o.target);
  if (!found) throw nothingToStart(o.target);
  const { image, name: imageName } = found;
  const labels = await imageLabels(await ctx.repo(), image);
  if (o.command.length === 0 && !isRunOnce(labels) && (o.storageOstree || findLabel(labels, 'RUN') === undefined)) throw nothingToStart(o.target);
  if (!o.storageOstree && !isRunOnce(labels) && findLabel(labels, 'RUN') !== undefined) {
    if (o.set?.length) throw new AtomicError('USAGE', '--set is valid only for run-once containers', { suggestions: [`Use: atomic run --storage ostree --set ... ${o.target}`] });
    const name = o.name ?? defaultLabelName(imageName);
    validateContainerName(name);
    return runLabelAction(ctx, { action: 'RUN', labels, image: imageName, name, args: o.command, display: o.display ?? false });
  }
  if (o.detach) throw new AtomicError('USAGE', DETACH_NOT_RUNNING, { suggestions: [`Install it (atomic install --system ${o.target}) and start it, or run without --detach.`] });
  const id = o.name ?? `run-once-${process.pid}`;
  validateContainerName(id);
  const runtime = chooseRuntime(ctx, o.runtime);
  if (o.display) {
    ctx.out.line(runOnceDisplay(runtime, id, o.command));
    return 0;
  }
  return runOnce(ctx, { image, imageName, name: id, command: o.command, setValues, runtime });
}

/** `atomic run IMAGE` without CMD where IMAGE is no installed container and no run-once image. */
function nothingToStart(target: string): AtomicError {
  return new AtomicError('CONTAINER_NOT_FOUND', `Unable to start '${target}': it is not an installed system container (and not an atomic.run=once image), so there is no unit to start`, {
    exitCode: 1,
    suggestions: [
      `Install it first: atomic install --system --name NAME ${target}; then: atomic run NAME (or systemctl start NAME)`,
      `Or run the image once with a command: atomic run --storage ostree ${target} CMD...`,
    ],
  });
}

async function runInstalled(ctx: AppContext, c: { name: string; slotDir: string }, o: RunOptions): Promise<number> {
  if (o.set?.length) throw new AtomicError('USAGE', `--set cannot be used with the installed container ${c.name}`, { suggestions: [`Change its values with: atomic containers update --set ... ${c.name}`] });
  const sd = systemdFor(ctx);
  if (o.command.length === 0) {
    if (o.display) {
      ctx.out.line(`systemctl start ${c.name}.service`);
      return 0;
    }
    sd.start(unitName(c.name));
    return 0;
  }
  let stored: string | undefined;
  try {
    stored = readInfo(c.slotDir).runtime;
  } catch {
    stored = undefined;
  }
  const runtime = chooseRuntime(ctx, o.runtime, stored);
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  if (sd.isActive(unitName(c.name))) {
    const args = ['exec', ...(tty ? ['--tty'] : []), ...(o.detach ? ['--detach'] : []), c.name, ...o.command];
    if (o.display) {
      ctx.out.line([runtime, ...args].map(shellQuote).join(' '));
      return 0;
    }
    checkRuntime(runtime);
    return runForeground(runtime, args);
  }
  // not running: its config.json with CMD, in a temp bundle dir; the rootfs stays the deployment's
  if (o.detach) throw new AtomicError('USAGE', DETACH_NOT_RUNNING, { suggestions: [`Start it first: systemctl start ${c.name}`] });
  let config: Record<string, unknown> & { process?: Record<string, unknown>; root?: { path?: string; readonly?: boolean } };
  try {
    config = JSON.parse(fs.readFileSync(path.join(c.slotDir, 'config.json'), 'utf8')) as typeof config;
  } catch (e) {
    throw new AtomicError('CONTAINER_NOT_FOUND', `cannot read the config.json of ${c.name}: ${(e as Error).message}`, { suggestions: [`Reinstall it: atomic uninstall ${c.name} && atomic install --system ...`] });
  }
  const id = `${c.name}-run-${process.pid}`;
  if (o.display) {
    ctx.out.line(runOnceDisplay(runtime, id, o.command));
    return 0;
  }
  checkRuntime(runtime);
  config.process = { ...(config.process ?? {}), args: [...o.command], terminal: tty };
  const root = config.root ?? { path: 'rootfs' };
  config.root = { ...root, path: path.resolve(c.slotDir, root.path ?? 'rootfs') };
  const bundle = fs.mkdtempSync(path.join(os.tmpdir(), `atomic-run-${c.name}-`));
  try {
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 4) + '\n');
    return await runForeground(runtime, ['run', '--bundle', bundle, id], { cwd: bundle });
  } finally {
    removeTreeSync(bundle);
  }
}

/** Whether a system container (or what is left of one) called `name` exists: then `uninstall` means it. */
export function systemContainerExists(ctx: AppContext, name: string): boolean {
  if (!isValidContainerName(name)) return false;
  const cp = containerPaths(ctx.paths, name);
  return [cp.link, cp.slotDir(0), cp.slotDir(1), cp.hostUnit, cp.journal].some((p) => {
    try {
      fs.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  });
}
