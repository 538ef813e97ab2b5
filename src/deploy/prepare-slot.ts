/**
 * Build a complete deployment slot (CK/NAME.N) without touching the host: checkout, values,
 * config.json, unit and tmpfiles copies, info. Everything is rendered and validated before the
 * first file of the slot is written, and the slot is made durable (slot-files.ts syncTree) before returning.
 */
import { kernelCapLastCap } from '../host/capabilities.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import type { ImageEntry } from '../image/stored-image.js';
import { layerCommits, readImageConfig } from '../image/stored-image.js';
import { storeExportsReader, rootfsExportsReader } from '../image/exports.js';
import { checkoutLayers } from '../store/checkout.js';
import { computeValues, DEFAULT_SERVICE_TEMPLATE } from '../render/values.js';
import { renderConfigJsonTemplate, renderUnitTemplate, renderTmpfilesTemplate, generateMissingBindTmpfiles } from '../render/render-files.js';
import { generateDefaultConfig, validateRuntimeConfig, configureUserNamespace } from '../render/config-json.js';
import { parseExportsManifest, type ExportsManifest } from '../render/exports-manifest.js';
import { slotUnitCopy, slotTmpfilesCopy, type ContainerPaths, type Slot } from './layout.js';
import { writeInfo, type DeploymentInfo } from './info-file.js';
import { writeDurable, syncTree } from './slot-files.js';
import { ensurePrivateDir } from './private-dir.js';
import { runtimeFeatures } from '../host/runtime.js';
import { underRoot, hostView } from '../host/sysroot.js';
import { AtomicError } from '../util/errors.js';
import { faultPoint, fsyncDir } from '../util/atomic-write.js';
import { withInit } from '../render/init-process.js';
import { withNotifyType, checkNotifyExecForm } from '../render/notify-unit.js';
import { chooseHealth, manifestHealth, dockerHealth, writeHealthSpec, checkImageProbeTarget, type HealthSpec } from './health-spec.js';
import { applyOptionsToConfig, renderDropIn, renderTimerUnits, renderOptionTmpfiles, mountPaths, type OptionRecord, type LinkedUnit } from '../render/options.js';
import { writeSlotOptions, checkOptionFilesPlaceable, DROP_IN_NAME } from './option-record.js';
import { cgroupSupport } from '../host/cgroups.js';
import type { Checksum } from '../store/types.js';
import { autoUpdateRecord } from './auto-update.js';
import { atomicEnv } from '../util/env.js';
import { removeTreeSync } from '../util/remove-tree.js';

function imageLabelsOf(cfg: Record<string, unknown> | null): Record<string, string> | null {
  const l = (cfg?.Labels ?? null) as Record<string, unknown> | null;
  if (!l || typeof l !== 'object') return null;
  return Object.fromEntries(Object.entries(l).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export interface PrepareInput {
  cp: ContainerPaths;
  slot: Slot;
  image: ImageEntry;
  /** The reference recorded in info.image. */
  imageName: string;
  /** --set values (install) or stored values merged with --set (update). */
  setValues: Record<string, string>;
  runtime: string;
  /** `--rootfs PATH` as given (atomic's "remote" rootfs): no checkout, the slot's rootfs links to it. */
  remote?: string | null;
  /** A readiness check given on the command line (`--health-check`), or carried from the live slot. */
  healthCheck?: HealthSpec | null;
  /** The option record to apply (docs/options.md); null/absent: none. */
  options?: OptionRecord | null;
  /** Its Interlinked containers (checked to exist), with their InterLinkPriority. */
  links?: LinkedUnit[];
  /** `--auto-update` / `--no-auto-update` (given now or carried from the live slot); else the image label decides. */
  autoUpdate?: 'registry' | 'local' | 'disabled' | null;
}

export interface PreparedSlot {
  slotDir: string;
  info: DeploymentInfo;
  values: Record<string, string>;
  hasService: boolean;
  unitText: string | null;
  tmpfilesText: string | null;
  manifest: ExportsManifest | null;
}

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function subIds(file: string, user: string, uid: number): { start: number; count: number } | undefined {
  const text = readText(file);
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    const [u, s, c] = line.split(':');
    if ((u === user || u === String(uid)) && s && c) return { start: Number(s), count: Number(c) };
  }
  return undefined;
}

/**
 * atomic's --rootfs resolution (§2.12): PATH must exist; PATH/rootfs is the rootfs when present,
 * else PATH itself when it looks like one (has usr/); anything else is refused.
 */
export function resolveRemoteRootfs(ctx: DeployContext, given: string): string {
  const abs = given.startsWith('/') ? underRoot(ctx.paths.sysroot, given) : path.resolve(given);
  let real: string;
  try {
    real = realpathUnder(ctx.paths.sysroot, abs);
  } catch {
    throw new AtomicError('NOT_FOUND', "The container's rootfs is set to remote, but the remote rootfs does not exist", {
      suggestions: [`Check the path given to --rootfs: ${given}`],
    });
  }
  if (fs.existsSync(path.join(real, 'rootfs'))) return path.join(real, 'rootfs');
  if (fs.existsSync(path.join(real, 'usr'))) return real;
  throw new AtomicError('USAGE', '--remote was specified but the given location does not contain a rootfs', {
    suggestions: [`${given} must be a rootfs (with usr/) or a directory holding rootfs/`],
  });
}

/** realpath that re-roots absolute symlink targets at the sysroot (links below a sysroot hold target-system paths). */
function realpathUnder(sysroot: string, p: string): string {
  if (sysroot === '/' || !p.startsWith(`${sysroot}/`)) return fs.realpathSync(p);
  let parts = path.relative(sysroot, p).split('/').filter(Boolean);
  let cur = sysroot;
  for (let hops = 0; parts.length;) {
    const next = path.join(cur, parts.shift() as string);
    const st = fs.lstatSync(next);
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    if (++hops > 40) throw new Error(`too many symbolic links at ${next}`);
    const t = fs.readlinkSync(next);
    const target = t.startsWith('/') ? path.join(sysroot, t) : path.join(cur, t);
    parts = [...path.relative(sysroot, target).split('/').filter(Boolean), ...parts];
    cur = sysroot;
  }
  return cur;
}

export function imageIdFor(img: ImageEntry): string {
  return atomicEnv('ATOMIC_OSTREE_TEST_FORCE_IMAGE_ID') ?? img.id;
}

export async function prepareSlot(ctx: DeployContext, inp: PrepareInput): Promise<PreparedSlot> {
  const { cp, slot } = inp;
  const slotDir = cp.slotDir(slot);
  // build in a staging dir on the same filesystem; the slot (the old rollback deployment) is only
  // replaced once the new one is complete, so a failed render leaves both slots as they were
  const stageDir = path.join(cp.stateDir, 'staging', `${cp.name}.${slot}`);
  removeTreeSync(stageDir);
  ensurePrivateDir(path.dirname(stageDir));
  fs.mkdirSync(stageDir, { mode: 0o755 });
  fs.chmodSync(stageDir, 0o755);
  try {
    return await buildSlot(ctx, inp, slotDir, stageDir);
  } finally {
    removeTreeSync(stageDir);
  }
}

/** What a deployment renders from its image, values and option record, before anything is written. */
export interface RenderedSlot {
  /** The rootfs a --rootfs deployment links to (null: a checkout of `layers`). */
  remoteRootfs: string | null;
  /** Layer commits to check out, bottom first (empty for --rootfs). */
  layers: Checksum[];
  manifest: ExportsManifest | null;
  values: Record<string, string>;
  hasService: boolean;
  configText: string;
  unitText: string | null;
  /** '' when the deployment has no tmpfiles.d file. */
  tmpfilesText: string;
  /** Unit files rendered from the option record, relative to the unit dir. */
  optionFiles: Record<string, string>;
  health: HealthSpec | null;
  /** The image config's `config` object (Labels, StopSignal, Healthcheck, ...); null for --rootfs. */
  imageConfig: Record<string, unknown> | null;
}

export interface RenderOptions {
  /** The image config (the config blob), when the image is not in the store (dry runs); default: read from the store. */
  imageConfig?: Record<string, unknown> | null;
  /** Write nothing at all, not even the runtime probe cache (dry runs). */
  readOnly?: boolean;
}

/**
 * Render a deployment of `inp.image` for `inp.slot`: values, config.json, unit, tmpfiles and the
 * option record's unit files, from /exports read out of the store objects (never a checkout).
 * Reads the store and the host, writes nothing: `prepareSlot` and the dry runs share it.
 */
export async function renderSlot(ctx: DeployContext, inp: PrepareInput, ro: RenderOptions = {}): Promise<RenderedSlot> {
  const { cp } = inp;
  const slotDir = cp.slotDir(inp.slot);
  const repo = (await ctx.repoIfExists()) ?? (await ctx.repo());
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const userMode = ctx.paths.userMode;
  const remoteRootfs = inp.remote ? resolveRemoteRootfs(ctx, inp.remote) : null;
  const rootfs = remoteRootfs ?? path.join(slotDir, 'rootfs');
  // /exports is read from the store objects (or, for --rootfs, with lstat/O_NOFOLLOW), never through the checkout
  const layers = remoteRootfs ? [] : await layerCommits(repo, inp.image);
  const ex = remoteRootfs ? rootfsExportsReader(remoteRootfs) : await storeExportsReader(repo, layers);
  const readExport = async (rel: string): Promise<string | null> => (await ex.read(rel))?.toString('utf8') ?? null;
  const [mfText, serviceText, verbatim, tmpl, tmpfilesTmpl] = await Promise.all(
    ['manifest.json', 'service.template', 'config.json', 'config.json.template', 'tmpfiles.template'].map(readExport),
  );

  const exportsDir = path.join(rootfs, 'exports');
  if (!ex.present) {
    ctx.out.line('Warning: /exports directory not found.  Default config files will be generated.');
    ctx.out.line(`Warning: You may want to modify \`${slotDir}/config.json\` before starting the service`);
  }
  let manifest: ExportsManifest | null = null;
  if (mfText !== null) {
    const r = parseExportsManifest(mfText, `${inp.imageName}: /exports/manifest.json`);
    manifest = r.manifest;
    for (const w of r.warnings) ctx.out.warn(`Warning: ${w}`);
  }
  const hasService = !manifest?.noContainerService;
  const serviceTemplatePath = path.join(exportsDir, 'service.template');
  const serviceTemplate = serviceText ?? DEFAULT_SERVICE_TEMPLATE;
  const imageConfigDoc = remoteRootfs ? null : ro.imageConfig !== undefined ? ro.imageConfig : await readImageConfig(repo, inp.image);
  const imageConfig = (imageConfigDoc?.config ?? null) as Record<string, unknown> | null;
  const values = computeValues({
    name: cp.name,
    destDir: cp.slotView(inp.slot),
    imageName: inp.imageName,
    imageId: imageIdFor(inp.image),
    runtime: inp.runtime,
    userMode,
    uid,
    gid,
    setValues: inp.setValues,
    manifestDefaults: Object.fromEntries(Object.entries(manifest?.defaultValues ?? {}).map(([k, v]) => [k, String(v)])),
    serviceTemplate,
    runtimeFeatures: runtimeFeatures(inp.runtime, userMode, ro.readOnly ? undefined : cp.stateDir),
    runDirectory: userMode ? process.env.XDG_RUNTIME_DIR || `/run/user/${uid}` : undefined,
    home: process.env.HOME ?? '/root',
    atomicPath: process.argv[1] ?? 'atomic',
    capLastCap: kernelCapLastCap(),
    stopSignal: typeof imageConfig?.StopSignal === 'string' ? imageConfig.StopSignal : undefined,
  });

  // config.json: exports/config.json verbatim > config.json.template rendered > generated default
  let configText: string;
  let config: Record<string, unknown>;
  const tmplPath = path.join(exportsDir, 'config.json.template');
  if (verbatim !== null) {
    configText = verbatim;
    try {
      config = JSON.parse(verbatim) as Record<string, unknown>;
    } catch {
      throw new AtomicError('IMAGE_INVALID', `Invalid json in configuration file: ${path.join(slotDir, 'config.json')}.`, {
        suggestions: ['Fix /exports/config.json in the image.'],
      });
    }
  } else if (tmpl !== null) {
    config = renderConfigJsonTemplate(tmpl, values, tmplPath);
    configText = JSON.stringify(config, null, 4) + '\n';
  } else {
    // (a --rootfs deployment too takes its defaults from the image's config)
    const imgCfg = remoteRootfs ? (((await readImageConfig(repo, inp.image))?.config ?? null) as Record<string, unknown> | null) : imageConfig;
    config = generateDefaultConfig(imgCfg as never, { userMode, hostname: cp.name }) as Record<string, unknown>;
    configText = JSON.stringify(config, null, 4) + '\n';
  }
  if (userMode) {
    const user = process.env.USER ?? String(uid);
    config = configureUserNamespace(config, uid, gid, subIds('/etc/subuid', user, uid), subIds('/etc/subgid', user, uid)) as Record<string, unknown>;
    configText = JSON.stringify(config, null, 4) + '\n';
  }
  if (remoteRootfs) {
    // atomic rewrote root.path to the absolute remote rootfs (§2.12 step 13)
    config = { ...config, root: { ...((config.root as Record<string, unknown>) ?? {}), path: hostView(ctx.paths.sysroot, remoteRootfs) } };
    configText = JSON.stringify(config, null, 4) + '\n';
  }
  if (values.ATOMIC_INIT) {
    // --init: the host's init binary as PID 1 (render/init-process.ts)
    if (!fs.existsSync(underRoot(ctx.paths.sysroot, values.ATOMIC_INIT))) {
      throw new AtomicError('NOT_FOUND', `--init: the init binary ${values.ATOMIC_INIT} does not exist on the host`, {
        suggestions: ['Install it (apt-get install catatonit), or drop --init with --set ATOMIC_INIT='],
      });
    }
    config = withInit(config, values.ATOMIC_INIT);
    configText = JSON.stringify(config, null, 4) + '\n';
  }
  const record = inp.options ?? {};
  const hasRecord = Object.keys(record).length > 0;
  if (hasRecord) {
    // the post-template step: the image's own templates stay as they are
    // a limit the host cannot enforce is left to the unit (systemd ignores it there), as docker
    // discards it with a warning: runc would refuse to start the container
    const support = ctx.paths.sysroot === '/' ? cgroupSupport() : { memory: true, cpu: true, detail: '' };
    for (const [key, ok, ctl] of [
      ['MaxMemory', support.memory, 'memory'],
      ['cpu', support.cpu, 'cpu'],
    ] as const) {
      if (record[key] !== undefined && !ok)
        ctx.out.warn(
          `Warning: ${key}=${record[key]} is recorded but this host cannot enforce it: no ${ctl} cgroup controller (${support.detail}); config.json gets no ${ctl} limit`,
        );
    }
    config = applyOptionsToConfig(config, record, { name: cp.name, enforce: support });
    configText = JSON.stringify(config, null, 4) + '\n';
  }
  const { missingBindSources } = validateRuntimeConfig(config, {
    remote: remoteRootfs !== null,
    file: path.join(slotDir, 'config.json'),
    exists: (p: string) => fs.existsSync(underRoot(ctx.paths.sysroot, p)),
  });

  const mfHealth = manifestHealth(manifest?.raw.healthCheck, values, `${inp.imageName}: /exports/manifest.json`);
  const imgHealth = inp.healthCheck || mfHealth ? null : dockerHealth(imageConfig);
  const health = chooseHealth(inp.healthCheck, mfHealth, imgHealth);
  const unitFile = serviceText !== null ? serviceTemplatePath : 'service.template (built-in default)';
  let unitText = hasService ? renderUnitTemplate(serviceTemplate, values, unitFile) : null;
  if (unitText !== null && health?.type === 'notify') {
    checkNotifyExecForm(values.EXEC_START ?? '', unitFile);
    unitText = withNotifyType(unitText, unitFile, values.STOP_TIMEOUT && /^\d+$/.test(values.STOP_TIMEOUT) ? Number(values.STOP_TIMEOUT) : undefined);
  }
  const tmpfilesTmplPath = path.join(exportsDir, 'tmpfiles.template');
  let tmpfilesText = tmpfilesTmpl !== null ? renderTmpfilesTemplate(tmpfilesTmpl, values, tmpfilesTmplPath) : generateMissingBindTmpfiles(missingBindSources, uid, gid);
  if (hasRecord) {
    const optionSources = new Set(mountPaths(record.MountPath).map((b) => b.source));
    const missing = missingBindSources.filter((p) => optionSources.has(p));
    if (tmpfilesTmpl !== null) tmpfilesText += generateMissingBindTmpfiles(missing, uid, gid);
    tmpfilesText += renderOptionTmpfiles(cp.name, record, uid, gid);
  }
  if (tmpfilesText.trim() === '') tmpfilesText = '';
  const optionFiles: Record<string, string> = {};
  if (hasRecord && hasService) {
    // the unit runs this same atomic for network=bridge (node + script when run as a .js file);
    // the admin's --set ATOMIC counts, an image's defaultValues ATOMIC does not: this line is
    // atomic's own and runs as root on the host (docs/security.md)
    const self = inp.setValues.ATOMIC ?? process.argv[1] ?? 'atomic';
    const atomicBin = self.endsWith('.js') ? `${process.execPath} ${self}` : self;
    const dropIn = renderDropIn(cp.name, record, inp.links ?? [], atomicBin);
    if (dropIn !== null) optionFiles[`${cp.name}.service.d/${DROP_IN_NAME}`] = dropIn;
    Object.assign(optionFiles, renderTimerUnits(cp.name, record));
  }

  // an image's own readiness check may only probe this host's loopback (docs/security.md)
  if (health !== null) checkImageProbeTarget(health, inp.imageName);
  // an admin's unit file (or a symlink) where the record's unit files go is refused before anything is written
  checkOptionFilesPlaceable(ctx.paths, inp.cp, optionFiles);
  return { remoteRootfs, layers, manifest, values, hasService, configText, unitText, tmpfilesText, optionFiles, health, imageConfig };
}

async function buildSlot(ctx: DeployContext, inp: PrepareInput, slotDir: string, stageDir: string): Promise<PreparedSlot> {
  const { cp } = inp;
  const repo = await ctx.repo();
  const r = await renderSlot(ctx, inp);
  const { values, hasService, manifest, configText, unitText, tmpfilesText, optionFiles } = r;
  const record = inp.options ?? {};
  const hasRecord = Object.keys(record).length > 0;
  if (r.remoteRootfs) {
    ctx.out.line(`The remote rootfs for this container is set to be ${r.remoteRootfs}`);
    // the deployment only points at the shared rootfs (as the target system sees it)
    fs.symlinkSync(hostView(ctx.paths.sysroot, r.remoteRootfs), path.join(stageDir, 'rootfs'));
  } else {
    await checkoutLayers(repo, r.layers, path.join(stageDir, 'rootfs'), { userMode: repo.mode !== 'bare', onWarning: (w) => ctx.out.warn(w) });
  }
  faultPoint('prepare:checked-out');

  // everything rendered: now write the slot
  await writeDurable(path.join(stageDir, 'config.json'), configText);
  if (unitText !== null) await writeDurable(slotUnitCopy(stageDir, cp.name), unitText);
  if (tmpfilesText) await writeDurable(slotTmpfilesCopy(stageDir, cp.name), tmpfilesText);
  const info: DeploymentInfo = {
    image: inp.imageName,
    revision: imageIdFor(inp.image),
    'ostree-commit': inp.image.commit,
    created: Math.floor(Date.now() / 1000),
    values,
    'has-container-service': hasService,
    'installed-files': [],
    'installed-files-checksum': {},
    'installed-files-template': manifest?.installedFilesTemplate ?? [],
    'rename-installed-files': manifest?.renameFiles ?? {},
    'rpm-installed': null,
    'system-package': 'no',
    remote: inp.remote ?? null,
    'use-links': manifest?.useLinks ?? true,
    runtime: inp.runtime,
  };
  const autoUpdate = autoUpdateRecord(inp.autoUpdate, imageLabelsOf(r.imageConfig), (w) => ctx.out.warn(w));
  if (autoUpdate !== null) info['auto-update'] = autoUpdate;
  await writeInfo(stageDir, info);
  await writeHealthSpec(stageDir, r.health);
  if (hasRecord) await writeSlotOptions(stageDir, { record, files: optionFiles });
  await syncTree(stageDir);
  // swap the complete staging dir in as the slot
  const trash = `${stageDir}.old`;
  removeTreeSync(trash);
  if (fs.existsSync(slotDir)) fs.renameSync(slotDir, trash);
  fs.renameSync(stageDir, slotDir);
  await fsyncDir(path.dirname(slotDir));
  removeTreeSync(trash);
  faultPoint('prepare:done');
  return { slotDir, info, values, hasService, unitText, tmpfilesText: tmpfilesText || null, manifest };
}
