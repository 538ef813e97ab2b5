/**
 * Run-once containers (reference §2.17, §1.12): `atomic run --storage ostree IMAGE [CMD...]` and
 * `atomic install` of an image labelled `atomic.run=once`. A throw-away checkout of the image in
 * `<REPO>/tmp/atomic-container/<pid>/` (hardlinks, so on the store's filesystem), its config.json
 * from /exports (verbatim, or config.json.template rendered with the same values as an install,
 * DESTDIR = the work dir) or generated from the image config (Entrypoint + Cmd, Env, WorkingDir,
 * User), CMD replacing process.args, the runtime in the foreground (`<runtime> run --bundle WORK
 * ID`), and the work dir removed afterwards whatever happened. Nothing else is left on the host:
 * no unit, no CK/NAME; an exports/tmpfiles.template is applied for the run and removed after it.
 *
 * Differences from atomic: the rootfs is always mounted read-only — it is a hardlink checkout of
 * the store's objects, and a writable root would let the container modify the store (atomic used an
 * overlay when it could); the runtime runs without --systemd-cgroup (no unit owns the container,
 * and it must work where systemd is not running); work dirs of dead processes are swept.
 */
import { kernelCapLastCap } from '../../host/capabilities.js';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppContext } from '../context.js';
import { layerCommits, readImageConfig, type ImageEntry } from '../../image/stored-image.js';
import { imageIdFor } from '../../deploy/render-slot.js';
import { runForeground } from '../labels/exec.js';
import { checkoutLayers } from '../../store/checkout.js';
import { computeValues, DEFAULT_SERVICE_TEMPLATE } from '../../render/values.js';
import { renderTmpfilesTemplate } from '../../render/render-files.js';
import { assertConfigObject, buildRuntimeConfig } from '../../render/runtime-config.js';
import { hostSubIds } from '../../host/sub-ids.js';
import { generateDefaultConfig, type OciRuntimeConfig } from '../../render/config-json.js';
import { parseExportsManifest } from '../../render/exports-manifest.js';
import { runtimeFeatures, checkRuntime } from '../../host/runtime.js';
import { Systemd } from '../../host/systemd.js';
import { storeExportsReader } from '../../image/exports.js';
import { removeTreeSync } from '../../util/remove-tree.js';

export interface RunOnceOptions {
  image: ImageEntry;
  /** The image name (IMAGE_NAME, messages). */
  imageName: string;
  /** Container id for the runtime and NAME for the templates. */
  name: string;
  /** Replaces process.args when non-empty. */
  command?: string[];
  /** --set values. */
  setValues: Record<string, string>;
  runtime: string;
}

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** rm -rf that also works on read-only directories of a non-root checkout. */
export function removeWorkDir(dir: string): void {
  removeTreeSync(dir);
}

/** The work dir of this process, after removing those of processes that are gone. */
export function prepareWorkDir(repoPath: string): string {
  const base = path.join(repoPath, 'tmp', 'atomic-container');
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  for (const n of fs.readdirSync(base)) {
    if (/^[0-9]+$/.test(n) && Number(n) !== process.pid && !pidAlive(Number(n))) removeWorkDir(path.join(base, n));
  }
  const work = path.join(base, String(process.pid));
  removeWorkDir(work);
  fs.mkdirSync(work, { mode: 0o700 });
  return work;
}

/** Build the bundle (rootfs + config.json) of a run-once container in `work`; returns the config and the tmpfiles text. */
async function buildBundle(ctx: AppContext, o: RunOnceOptions, work: string): Promise<{ config: OciRuntimeConfig; tmpfiles: string }> {
  const repo = await ctx.repo();
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const userMode = ctx.paths.userMode;
  const rootfs = path.join(work, 'rootfs');
  const layers = await layerCommits(repo, o.image);
  // /exports from the store objects, symlinks refused (as install does), never through the checkout
  const ex = await storeExportsReader(repo, layers);
  const readExport = async (rel: string): Promise<string | null> => (await ex.read(rel))?.toString('utf8') ?? null;
  await checkoutLayers(repo, layers, rootfs, { userMode: repo.mode !== 'bare', onWarning: (w) => ctx.out.warn(w) });
  const exportsDir = path.join(rootfs, 'exports');
  const mfText = await readExport('manifest.json');
  let defaults: Record<string, string> = {};
  if (mfText !== null) {
    const r = parseExportsManifest(mfText, `${o.imageName}: /exports/manifest.json`);
    defaults = r.manifest.defaultValues;
    for (const w of r.warnings) ctx.out.warn(`Warning: ${w}`);
  }
  const values = computeValues({
    name: o.name,
    destDir: work,
    imageName: o.imageName,
    imageId: imageIdFor(o.image),
    runtime: o.runtime,
    userMode,
    uid,
    gid,
    setValues: o.setValues,
    manifestDefaults: defaults,
    serviceTemplate: (await readExport('service.template')) ?? DEFAULT_SERVICE_TEMPLATE,
    runtimeFeatures: runtimeFeatures(o.runtime, userMode),
    runDirectory: userMode ? process.env.XDG_RUNTIME_DIR || `/run/user/${uid}` : undefined,
    home: process.env.HOME ?? '/root',
    atomicPath: process.argv[1] ?? 'atomic',
    capLastCap: kernelCapLastCap(),
  });

  const verbatim = await readExport('config.json');
  const template = await readExport('config.json.template');
  const imageRunConfig = verbatim === null && template === null ? ((await readImageConfig(repo, o.image))?.config ?? null) : null;
  const user = process.env.USER ?? String(uid);
  const built = buildRuntimeConfig({
    verbatim,
    template,
    templatePath: path.join(exportsDir, 'config.json.template'),
    verbatimLabel: `${o.imageName}: /exports/config.json`,
    values,
    generateDefault: () =>
      generateDefaultConfig(imageRunConfig as never, {
        userMode,
        hostname: o.name,
        passwd: readText(path.join(rootfs, 'etc', 'passwd')) ?? undefined,
        group: readText(path.join(rootfs, 'etc', 'group')) ?? undefined,
        onWarning: (w) => ctx.out.warn(`Warning: ${w}`),
      }),
    userNamespace: userMode ? { uid, gid, ...hostSubIds(user, uid) } : undefined,
  });
  const config = assertConfigObject(built.config, o.imageName) as OciRuntimeConfig;
  adaptForRunOnce(ctx, config, o, work);
  fs.writeFileSync(path.join(work, 'config.json'), JSON.stringify(config, null, 4) + '\n', { mode: 0o644 });

  const tmpfilesTmplPath = path.join(exportsDir, 'tmpfiles.template');
  const tmpfilesTmpl = await readExport('tmpfiles.template');
  const tmpfiles = tmpfilesTmpl !== null ? renderTmpfilesTemplate(tmpfilesTmpl, values, tmpfilesTmplPath) : '';
  return { config, tmpfiles };
}

/** What a run-once container changes in the config: a read-only rootfs in WORK, the command, the terminal. */
function adaptForRunOnce(ctx: AppContext, config: OciRuntimeConfig, o: RunOnceOptions, work: string): void {
  config.root ??= { path: 'rootfs', readonly: true };
  if (config.root.readonly !== true) {
    ctx.out.warn('Warning: the rootfs of a run-once container is a hardlinked checkout of the store: it is mounted read-only (use tmpfs mounts for writable paths)');
    config.root.readonly = true;
  }
  if (!path.isAbsolute(config.root.path)) config.root.path = path.join(work, config.root.path);
  config.process ??= { user: { uid: 0, gid: 0 }, cwd: '/' };
  if (o.command && o.command.length > 0) config.process.args = [...o.command];
  config.process.terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

/**
 * A foreground `runc run` deletes its container when it exits; this covers a runtime that was
 * killed. Only a container whose bundle is our work dir is deleted (never a same-named other one).
 */
export function deleteLeftover(runtime: string, id: string, work: string): void {
  const st = spawnSync(runtime, ['state', id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (st.status !== 0) return;
  try {
    if ((JSON.parse(st.stdout) as { bundle?: string }).bundle !== work) return;
  } catch {
    return;
  }
  spawnSync(runtime, ['delete', '--force', id], { stdio: 'ignore' });
}

/**
 * Run the image once in the foreground and return the container's exit status. The work dir,
 * the runtime's container state and the applied tmpfiles entries are removed afterwards.
 */
export async function runOnce(ctx: AppContext, o: RunOnceOptions): Promise<number> {
  checkRuntime(o.runtime);
  const repo = await ctx.repo();
  const work = prepareWorkDir(repo.path);
  const sd = new Systemd({ sysroot: ctx.paths.sysroot, user: ctx.paths.userMode, echo: () => undefined });
  let tmpfilesFile: string | null = null;
  try {
    const { tmpfiles } = await buildBundle(ctx, o, work);
    if (tmpfiles.trim() !== '') {
      tmpfilesFile = path.join(work, 'tmpfiles.conf');
      fs.writeFileSync(tmpfilesFile, tmpfiles);
      sd.tmpfilesCreate(tmpfilesFile);
    }
    return await runForeground(o.runtime, ['run', '--bundle', work, o.name], { cwd: work });
  } finally {
    if (tmpfilesFile) {
      try {
        sd.tmpfilesRemove(tmpfilesFile);
      } catch {
        /* best effort */
      }
    }
    deleteLeftover(o.runtime, o.name, work);
    removeWorkDir(work);
  }
}
