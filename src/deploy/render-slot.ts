/**
 * Render a deployment before anything is written, in named steps: read /exports from the store
 * objects (never a checkout), the values, config.json (slot-config.ts), the health check, the unit,
 * the tmpfiles.d file and the option record's unit files, then the last checks. Reads the store and
 * the host, writes nothing: `prepareSlot` and the dry runs share it.
 */
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import type { ImageEntry } from '../image/stored-image.js';
import { layerCommits, readImageConfig } from '../image/stored-image.js';
import { storeExportsReader, rootfsExportsReader } from '../image/exports.js';
import { computeValues, DEFAULT_SERVICE_TEMPLATE } from '../render/values.js';
import { renderUnitTemplate, renderTmpfilesTemplate, generateMissingBindTmpfiles } from '../render/render-files.js';
import { parseExportsManifest, type ExportsManifest } from '../render/exports-manifest.js';
import { withNotifyType, checkNotifyExecForm } from '../render/notify-unit.js';
import { renderDropIn, renderTimerUnits, renderOptionTmpfiles, mountPaths, type OptionRecord, type LinkedUnit } from '../render/options.js';
import { kernelCapLastCap } from '../host/capabilities.js';
import { runtimeFeatures } from '../host/runtime.js';
import type { ContainerPaths, Slot } from './layout.js';
import { resolveRemoteRootfs } from './remote-rootfs.js';
import { renderSlotConfig } from './slot-config.js';
import { chooseHealth, manifestHealth, dockerHealth, checkImageProbeTarget, type HealthSpec } from './health-spec.js';
import { checkOptionFilesPlaceable, DROP_IN_NAME } from './option-record.js';
import type { Checksum } from '../store/types.js';
import type { OstreeRepo } from '../store/repo.js';
import { atomicEnv } from '../util/env.js';

/** What a deployment is built from. */
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

/** The image id a deployment records (IMAGE_ID, info.revision); ATOMIC_OSTREE_TEST_FORCE_IMAGE_ID overrides it for atomic's tests. */
export function imageIdFor(img: ImageEntry): string {
  return atomicEnv('ATOMIC_OSTREE_TEST_FORCE_IMAGE_ID') ?? img.id;
}

/** The /exports files a deployment reads, and where they are. */
interface SlotExports {
  present: boolean;
  layers: Checksum[];
  /** The rootfs as the deployment sees it (for the paths in messages). */
  exportsDir: string;
  manifestText: string | null;
  serviceText: string | null;
  configVerbatim: string | null;
  configTemplate: string | null;
  tmpfilesTemplate: string | null;
}

/**
 * Render a deployment of `inp.image` for `inp.slot` (see the module comment): values, config.json,
 * unit, tmpfiles and the option record's unit files.
 */
export async function renderSlot(ctx: DeployContext, inp: PrepareInput, ro: RenderOptions = {}): Promise<RenderedSlot> {
  const { cp } = inp;
  const slotDir = cp.slotDir(inp.slot);
  const repo = (await ctx.repoIfExists()) ?? (await ctx.repo());
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const remoteRootfs = inp.remote ? resolveRemoteRootfs(ctx, inp.remote) : null;
  const ex = await readSlotExports(repo, inp, remoteRootfs ?? path.join(slotDir, 'rootfs'), remoteRootfs);
  if (!ex.present) {
    ctx.out.line('Warning: /exports directory not found.  Default config files will be generated.');
    ctx.out.line(`Warning: You may want to modify \`${slotDir}/config.json\` before starting the service`);
  }
  const manifest = parseManifest(ctx, inp, ex.manifestText);
  const hasService = !manifest?.noContainerService;
  const serviceTemplate = ex.serviceText ?? DEFAULT_SERVICE_TEMPLATE;
  const imageConfigDoc = remoteRootfs ? null : ro.imageConfig !== undefined ? ro.imageConfig : await readImageConfig(repo, inp.image);
  const imageConfig = (imageConfigDoc?.config ?? null) as Record<string, unknown> | null;
  const values = slotValues(ctx, inp, { serviceTemplate, manifest, imageConfig, uid, gid, readOnly: ro.readOnly === true });
  const record = inp.options ?? {};
  const { configText, missingBindSources } = await renderSlotConfig(
    ctx,
    {
      verbatim: ex.configVerbatim,
      template: ex.configTemplate,
      templatePath: path.join(ex.exportsDir, 'config.json.template'),
      imageConfig: async () => (remoteRootfs ? (((await readImageConfig(repo, inp.image))?.config ?? null) as Record<string, unknown> | null) : imageConfig),
    },
    { name: cp.name, file: path.join(slotDir, 'config.json'), values, remoteRootfs, record, uid, gid },
  );
  const mfHealth = manifestHealth(manifest?.raw.healthCheck, values, `${inp.imageName}: /exports/manifest.json`);
  const imgHealth = inp.healthCheck || mfHealth ? null : dockerHealth(imageConfig);
  const health = chooseHealth(inp.healthCheck, mfHealth, imgHealth);
  const unitFile = ex.serviceText !== null ? path.join(ex.exportsDir, 'service.template') : 'service.template (built-in default)';
  const unitText = hasService ? renderSlotUnit(serviceTemplate, values, unitFile, health) : null;
  const tmpfilesText = renderSlotTmpfiles(cp.name, ex, values, record, missingBindSources, uid, gid);
  const optionFiles = hasService ? renderOptionUnitFiles(cp.name, inp, record) : {};

  // an image's own readiness check may only probe this host's loopback (docs/security.md)
  if (health !== null) checkImageProbeTarget(health, inp.imageName);
  // an admin's unit file (or a symlink) where the record's unit files go is refused before anything is written
  checkOptionFilesPlaceable(ctx.paths, inp.cp, optionFiles);
  return { remoteRootfs, layers: ex.layers, manifest, values, hasService, configText, unitText, tmpfilesText, optionFiles, health, imageConfig };
}

/** /exports, read from the store objects (or, for --rootfs, with lstat/O_NOFOLLOW), never through the checkout. */
async function readSlotExports(repo: OstreeRepo, inp: PrepareInput, rootfs: string, remoteRootfs: string | null): Promise<SlotExports> {
  const layers = remoteRootfs ? [] : await layerCommits(repo, inp.image);
  const ex = remoteRootfs ? rootfsExportsReader(remoteRootfs) : await storeExportsReader(repo, layers);
  const readExport = async (rel: string): Promise<string | null> => (await ex.read(rel))?.toString('utf8') ?? null;
  const [manifestText, serviceText, configVerbatim, configTemplate, tmpfilesTemplate] = await Promise.all(
    ['manifest.json', 'service.template', 'config.json', 'config.json.template', 'tmpfiles.template'].map(readExport),
  );
  return { present: ex.present, layers, exportsDir: path.join(rootfs, 'exports'), manifestText, serviceText, configVerbatim, configTemplate, tmpfilesTemplate };
}

function parseManifest(ctx: DeployContext, inp: PrepareInput, text: string | null): ExportsManifest | null {
  if (text === null) return null;
  const r = parseExportsManifest(text, `${inp.imageName}: /exports/manifest.json`);
  for (const w of r.warnings) ctx.out.warn(`Warning: ${w}`);
  return r.manifest;
}

/** The template values: --set, the manifest's defaultValues, the OS defaults and the forced ones (render/values.ts). */
function slotValues(
  ctx: DeployContext,
  inp: PrepareInput,
  o: { serviceTemplate: string; manifest: ExportsManifest | null; imageConfig: Record<string, unknown> | null; uid: number; gid: number; readOnly: boolean },
): Record<string, string> {
  const { cp } = inp;
  const userMode = ctx.paths.userMode;
  return computeValues({
    name: cp.name,
    destDir: cp.slotView(inp.slot),
    imageName: inp.imageName,
    imageId: imageIdFor(inp.image),
    runtime: inp.runtime,
    userMode,
    uid: o.uid,
    gid: o.gid,
    setValues: inp.setValues,
    manifestDefaults: Object.fromEntries(Object.entries(o.manifest?.defaultValues ?? {}).map(([k, v]) => [k, String(v)])),
    serviceTemplate: o.serviceTemplate,
    runtimeFeatures: runtimeFeatures(inp.runtime, userMode, o.readOnly ? undefined : cp.stateDir),
    runDirectory: userMode ? process.env.XDG_RUNTIME_DIR || `/run/user/${o.uid}` : undefined,
    home: process.env.HOME ?? '/root',
    atomicPath: process.argv[1] ?? 'atomic',
    capLastCap: kernelCapLastCap(),
    stopSignal: typeof o.imageConfig?.StopSignal === 'string' ? o.imageConfig.StopSignal : undefined,
  });
}

/** The unit from service.template; a notify health check makes it Type=notify. */
function renderSlotUnit(serviceTemplate: string, values: Record<string, string>, unitFile: string, health: HealthSpec | null): string {
  const unitText = renderUnitTemplate(serviceTemplate, values, unitFile);
  if (health?.type !== 'notify') return unitText;
  checkNotifyExecForm(values.EXEC_START ?? '', unitFile);
  return withNotifyType(unitText, unitFile, values.STOP_TIMEOUT && /^\d+$/.test(values.STOP_TIMEOUT) ? Number(values.STOP_TIMEOUT) : undefined);
}

/** tmpfiles.d: the image's template rendered (else lines for missing bind sources), plus the option record's lines; '' when empty. */
function renderSlotTmpfiles(name: string, ex: SlotExports, values: Record<string, string>, record: OptionRecord, missingBindSources: string[], uid: number, gid: number): string {
  const tmplPath = path.join(ex.exportsDir, 'tmpfiles.template');
  let text = ex.tmpfilesTemplate !== null ? renderTmpfilesTemplate(ex.tmpfilesTemplate, values, tmplPath) : generateMissingBindTmpfiles(missingBindSources, uid, gid);
  if (Object.keys(record).length > 0) {
    const optionSources = new Set(mountPaths(record.MountPath).map((b) => b.source));
    const missing = missingBindSources.filter((p) => optionSources.has(p));
    if (ex.tmpfilesTemplate !== null) text += generateMissingBindTmpfiles(missing, uid, gid);
    text += renderOptionTmpfiles(name, record, uid, gid);
  }
  return text.trim() === '' ? '' : text;
}

/** The option record's drop-in and timer units (relative to the unit dir). */
function renderOptionUnitFiles(name: string, inp: PrepareInput, record: OptionRecord): Record<string, string> {
  const files: Record<string, string> = {};
  if (Object.keys(record).length === 0) return files;
  // the unit runs this same atomic for network=bridge (node + script when run as a .js file);
  // the admin's --set ATOMIC counts, an image's defaultValues ATOMIC does not: this line is
  // atomic's own and runs as root on the host (docs/security.md)
  const self = inp.setValues.ATOMIC ?? process.argv[1] ?? 'atomic';
  const atomicBin = self.endsWith('.js') ? `${process.execPath} ${self}` : self;
  const dropIn = renderDropIn(name, record, inp.links ?? [], atomicBin);
  if (dropIn !== null) files[`${name}.service.d/${DROP_IN_NAME}`] = dropIn;
  Object.assign(files, renderTimerUnits(name, record));
  return files;
}
