/**
 * `--dry-run` of `install --system`, `containers update` and `containers rollback`: what the
 * operation would change, without changing anything (no lock file, no journal, no recovery, no
 * pull, no probe cache): the unified diff of the unit, config.json, tmpfiles.d file and option
 * unit files between what is live and what the operation would deploy, the value changes and
 * where each new value comes from, the layers the image needs (from its manifest) and the bytes
 * to download. No layer blob is fetched; the config blob only when every layer is in the store
 * already and the config is not (docs/dry-run.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { AppContext, Output } from '../context.js';
import { containerPaths, currentSlot, otherSlot, slotUnitCopy, slotTmpfilesCopy, containerNotInstalled, type ContainerPaths, type Slot } from '../../deploy/layout.js';
import { readInfo } from '../../deploy/info-file.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { renderSlot, imageIdFor, type RenderedSlot } from '../../deploy/render-slot.js';
import { parseSetValues, chooseRuntime } from '../../deploy/container-ops.js';
import { parseHealthFlag, readHealthSpec, describeHealth, type HealthSpec } from '../../deploy/health-spec.js';
import { valueSource, slotManifestDefaults, type ValueSource } from '../../deploy/value-origins.js';
import { readSlotOptions, readHostConf, hostConfPath } from '../../deploy/option-record.js';
import { systemdFor } from '../../deploy/activate-slot.js';
import { exists } from '../../deploy/slot-files.js';
import { resolveImages, imageLabels, splitRepoTag, readStoredConfig, layerRef, imageRef, type ImageEntry } from '../../image/stored-image.js';
import { normalizeImageName, defaultSystemName } from '../../image/name.js';
import { stripTransport } from '../../image/reference.js';
import { openImageSource } from '../../image/transports.js';
import { recheckStoredTrust } from '../../image/trust/check.js';
import { trustSettings } from '../../image/trust/policy.js';
import { parseOptionAssignments, type OptionRecord } from '../../render/options.js';
import { LIMITS, parseJson, readStreamAtMost } from '../../util/bounded-read.js';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { storeFirst } from '../images/ensure.js';
import { checkOptionRecord } from './option-record.js';
import { refuseCollision, refuseForeignSlots, refuseForeignHostFiles, warnDifferences, type InstallOptions } from './install.js';
import { planUpdate, type UpdateOptions } from './update.js';
import { isRunOnce } from '../labels/commands.js';
import type { Checksum } from '../../store/types.js';

export interface DryRunFile {
  /** The file the operation would replace (as this machine sees it: below --sysroot when one is given). */
  path: string;
  change: 'added' | 'changed' | 'removed' | 'unchanged';
  /** `diff -u` output ('' when unchanged). */
  diff: string;
}

export interface DryRunValue {
  key: string;
  old: string | null;
  new: string | null;
  /** Where the new value comes from (null when the value goes away). */
  source: ValueSource | null;
}

export interface DryRunLayer {
  digest: string;
  /** Compressed size from the manifest (null when the manifest gives none: schema1, legacy). */
  size: number | null;
  present: boolean;
}

export interface DryRunDeployment {
  slot: Slot;
  path: string;
  image: string;
  imageId: string | null;
}

/** The data of a dry run (`--dry-run --json`; docs/dry-run.md, schema version 1). */
export interface DryRunReport {
  schemaVersion: 1;
  operation: 'install' | 'update' | 'rollback';
  name: string;
  /** install/update/switch: what would happen; none: nothing (already present, latest version installed, run-once image). */
  action: 'install' | 'update' | 'switch' | 'none';
  /** One sentence: what would happen. */
  summary: string;
  current: DryRunDeployment | null;
  target: DryRunDeployment | null;
  /** The unit is active and would be restarted (and then watched by the health gate). */
  restart: boolean;
  /** null when they could not be rendered (see filesNote). */
  files: DryRunFile[] | null;
  filesNote: string | null;
  values: DryRunValue[] | null;
  /** Set when `values` holds only what the command line changes (the image's defaults are not known: it is not in the store). */
  valuesNote: string | null;
  options: { key: string; old: string | null; new: string | null; source: string }[];
  healthCheck: { old: string; new: string } | null;
  layers: DryRunLayer[];
  download: { layers: number; bytes: number | null };
  /** Never known before the layers are imported (a manifest gives compressed sizes only). */
  unpackedBytes: null;
  /** Lines the rendering printed (warnings about the image) and other remarks. */
  notes: string[];
}

type Side = string | { text: string | null };

/** `diff -u` of two sides: a file (a missing one counts as empty) or rendered text (null: none); '' when equal. */
export function unifiedDiff(from: Side, to: Side, fromLabel: string, toLabel: string): string {
  const texts = [from, to].filter((s): s is { text: string } => typeof s !== 'string' && s.text !== null);
  if (texts.length > 1) throw new Error('unifiedDiff: at most one side may be rendered text');
  const arg = (s: Side): string => (typeof s === 'string' ? (fs.existsSync(s) ? s : '/dev/null') : s.text === null ? '/dev/null' : '-');
  const r = spawnSync('diff', ['-u', '--label', fromLabel, '--label', toLabel, arg(from), arg(to)], { encoding: 'utf8', input: texts[0]?.text ?? '', maxBuffer: 16 * 1024 * 1024 });
  if (r.status === 0) return '';
  if (r.status === 1) return r.stdout;
  throw new AtomicError('IO', `diff -u ${fromLabel} ${toLabel} failed: ${(r.stderr || r.error?.message || '').trim()}`, { suggestions: ['Install diffutils.'] });
}

function fileEntry(file: string, from: Side, to: Side, fromLabel: string, toLabel: string): DryRunFile {
  const has = (s: Side): boolean => (typeof s === 'string' ? s !== '/dev/null' && fs.existsSync(s) : s.text !== null);
  const diff = unifiedDiff(from, to, fromLabel, toLabel);
  const change = diff === '' ? 'unchanged' : !has(from) ? 'added' : !has(to) ? 'removed' : 'changed';
  return { path: file, change, diff };
}

/** Values atomic recomputes for every deployment of a slot (not interesting in a preview). */
const HIDDEN = ['DESTDIR', 'EXEC_START', 'EXEC_STOP'];

export function valueChanges(before: Record<string, string>, after: Record<string, string>, source: (k: string, v: string) => ValueSource | null = () => null): DryRunValue[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((k) => before[k] !== after[k] && !HIDDEN.includes(k))
    .map((k) => ({ key: k, old: before[k] ?? null, new: after[k] ?? null, source: after[k] === undefined ? null : source(k, after[k]) }));
}

/** An Output that keeps the informational lines (they go into the report) and passes warnings on. */
function collecting(out: Output, notes: string[]): Output {
  return { line: (t) => notes.push(t), warn: (t) => out.warn(t), isTTY: false };
}

function emptyReport(op: DryRunReport['operation'], name: string): DryRunReport {
  return {
    schemaVersion: 1,
    operation: op,
    name,
    action: 'none',
    summary: '',
    current: null,
    target: null,
    restart: false,
    files: null,
    filesNote: null,
    values: null,
    valuesNote: null,
    options: [],
    healthCheck: null,
    layers: [],
    download: { layers: 0, bytes: 0 },
    unpackedBytes: null,
    notes: [],
  };
}

function setLayers(r: DryRunReport, layers: DryRunLayer[]): void {
  r.layers = layers;
  const missing = layers.filter((l) => !l.present);
  r.download = { layers: missing.length, bytes: missing.some((l) => l.size === null) ? null : missing.reduce((n, l) => n + (l.size ?? 0), 0) };
}

// ---------------------------------------------------------------------------------------------
// the image an install or a rebase would deploy, found without pulling it

interface TargetImage {
  /** The name recorded in the deployment (as a pull would store it). */
  imageName: string;
  imageId: string | null;
  /** What the files are rendered from: the stored image, or one made of stored layers; null: the image is needed. */
  entry: ImageEntry | null;
  /** The config of an `entry` that is not a stored image. */
  imageConfig?: Record<string, unknown> | null;
  layers: DryRunLayer[];
  notes: string[];
}

const hexOf = (d: string): string => d.replace(/^sha256:/, '');

async function storedLayers(ctx: AppContext, img: ImageEntry): Promise<DryRunLayer[]> {
  const repo = await ctx.repoIfExists();
  const sizes = new Map<string, number>();
  const ls = (img.manifest?.layers ?? []) as Array<{ digest?: string; size?: number }>;
  if (Array.isArray(ls)) for (const l of ls) if (typeof l.digest === 'string' && typeof l.size === 'number') sizes.set(l.digest, l.size);
  const out: DryRunLayer[] = [];
  for (const d of img.layers) out.push({ digest: d, size: sizes.get(d) ?? null, present: repo !== null && (await repo.resolveRef(layerRef(d))) !== null });
  return out;
}

/** Like ensureImage (app/images/ensure.ts), minus the pull: the stored image, else the source's manifest. */
async function findTarget(ctx: AppContext, ref: string): Promise<TargetImage> {
  const repo = await ctx.repoIfExists();
  const notes: string[] = [];
  if (repo && storeFirst(ref)) {
    try {
      const [image] = await resolveImages(repo, stripTransport(ref));
      // the signature policy decides as it would for the real operation (offline, stored signatures)
      await recheckStoredTrust(repo, image!.commit, image!.name, { settings: trustSettings(ctx), what: `use of ${image!.name}` });
      return { imageName: stripTransport(ref), imageId: imageIdFor(image!), entry: image!, layers: await storedLayers(ctx, image!), notes };
    } catch (e) {
      if (!isAtomicError(e) || e.code !== 'IMAGE_NOT_FOUND') throw e;
    }
  }
  const source = await openImageSource(ref, { onWarning: (w) => ctx.out.warn(w) });
  try {
    const m = await source.getManifest();
    const imageName = normalizeImageName(source.imageName);
    const id = hexOf(m.digest);
    const layers: DryRunLayer[] = [];
    for (const d of m.layers) layers.push({ digest: d.digest, size: d.size, present: repo !== null && (await repo.resolveRef(layerRef(d.digest))) !== null });
    notes.push(`Manifest of ${source.description}: ${m.digest} (the signature policy is checked when the image is pulled)`);
    if (!repo || m.layers.length === 0 || layers.some((l) => !l.present)) return { imageName, imageId: id, entry: null, layers, notes };
    try {
      const [img] = await resolveImages(repo, imageName);
      if (img && img.id === id) return { imageName, imageId: id, entry: img, layers, notes };
    } catch (e) {
      if (!isAtomicError(e) || e.code !== 'IMAGE_NOT_FOUND') throw e;
    }
    // every layer is in the store (another image has them): render from them, with the config blob
    let cfg = await readStoredConfig(repo, m.config.digest).catch(() => null);
    if (cfg === null) {
      const raw = await readStreamAtMost(await source.getBlob(m.config), LIMITS.config, `config ${m.config.digest}`);
      cfg = parseJson<Record<string, unknown>>(raw, `config ${m.config.digest}`);
      notes.push(`Fetched the config blob ${m.config.digest} (${m.config.size} bytes): every layer is in the store already`);
    }
    const { repo: repoName, tag } = splitRepoTag(imageName);
    const manifest = parseJson<Record<string, unknown>>(m.raw, `manifest ${m.digest}`);
    const entry: ImageEntry = {
      name: imageName,
      repo: repoName,
      tag,
      ref: imageRef(imageName),
      commit: '' as Checksum,
      id,
      created: new Date(0),
      virtualSize: null,
      layers: m.layers.map((d) => d.digest),
      configDigest: m.config.digest,
      manifest,
      isLayer: false,
    };
    return { imageName, imageId: id, entry, imageConfig: cfg, layers, notes };
  } finally {
    await source.close();
  }
}

/** The value changes the command line makes, when the image (and so its defaults) is not in the store. */
function partialValues(r: DryRunReport, before: Record<string, string>, after: Record<string, string>, keys: string[]): void {
  r.values = valueChanges(before, after, () => 'set').filter((v) => keys.includes(v.key));
  r.valuesNote = "only the values given on the command line: the image's defaultValues are in its layers";
}

function needsImage(ref: string, op: string): string {
  return `Not rendered: the image ${ref} is not in the store, and its /exports templates are in its layers. Pull it first (atomic pull ${ref}), then run the same ${op} --dry-run again: the pull writes only to the store.`;
}

// ---------------------------------------------------------------------------------------------
// the files

interface Live {
  unit: string | null;
  config: string | null;
  tmpfiles: string | null;
  optionFiles: Record<string, string>;
  label: string;
}

/** The diffs of what `rendered` would put in place against what is live (`live` null: nothing is). */
function renderedFiles(ctx: AppContext, cp: ContainerPaths, slot: Slot, rendered: RenderedSlot, live: Live | null): DryRunFile[] {
  const view = cp.slotView(slot);
  const liveLabel = (p: string): string => (live ? `${p} (live)` : `${p} (absent)`);
  const files: DryRunFile[] = [];
  if (rendered.unitText !== null || (live?.unit && exists(live.unit)))
    files.push(fileEntry(cp.hostUnit, live?.unit ?? '/dev/null', { text: rendered.unitText }, liveLabel(cp.hostUnit), slotUnitCopy(view, cp.name)));
  const liveConfig = live?.config ?? '/dev/null';
  files.push(
    fileEntry(
      path.join(cp.slotDir(slot), 'config.json'),
      liveConfig,
      { text: rendered.configText },
      live ? `${live.label}/config.json (live)` : '/dev/null',
      `${view}/config.json`,
    ),
  );
  if (rendered.tmpfilesText || (live?.tmpfiles && exists(live.tmpfiles))) {
    files.push(fileEntry(cp.hostTmpfiles, live?.tmpfiles ?? '/dev/null', { text: rendered.tmpfilesText || null }, liveLabel(cp.hostTmpfiles), slotTmpfilesCopy(view, cp.name)));
  }
  const optionNames = [...new Set([...Object.keys(live?.optionFiles ?? {}), ...Object.keys(rendered.optionFiles)])].sort();
  for (const f of optionNames) {
    const host = path.join(ctx.paths.unitDir, f);
    files.push(fileEntry(host, host, { text: rendered.optionFiles[f] ?? null }, liveLabel(host), `${host} (${f in rendered.optionFiles ? 'from the option record' : 'removed'})`));
  }
  return files;
}

function liveOf(cp: ContainerPaths, cur: Slot): Live {
  return {
    unit: cp.hostUnit,
    config: path.join(cp.slotDir(cur), 'config.json'),
    tmpfiles: cp.hostTmpfiles,
    optionFiles: readSlotOptions(cp.slotDir(cur))?.files ?? {},
    label: cp.slotView(cur),
  };
}

function recordChanges(before: OptionRecord, after: OptionRecord, source: string): DryRunReport['options'] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort() as (keyof OptionRecord)[];
  return keys.filter((k) => before[k] !== after[k]).map((k) => ({ key: String(k), old: before[k] ?? null, new: after[k] ?? null, source }));
}

function healthChange(before: HealthSpec | null, after: HealthSpec | null): DryRunReport['healthCheck'] {
  const a = describeHealth(before);
  const b = describeHealth(after);
  return a === b ? null : { old: a, new: b };
}

function imageDefaults(rendered: RenderedSlot): Record<string, string> {
  return Object.fromEntries(Object.entries(rendered.manifest?.defaultValues ?? {}).map(([k, v]) => [k, String(v)]));
}

/** The source of a value, `--set` for a key given on this command line. */
function sourceOf(rendered: RenderedSlot, setKeys: string[]): (k: string, v: string) => ValueSource {
  const defaults = imageDefaults(rendered);
  return (k, v) => (setKeys.includes(k) && valueSource(k, v, defaults) !== 'os' ? 'set' : valueSource(k, v, defaults));
}

// ---------------------------------------------------------------------------------------------
// install

export async function installDryRun(ctx: AppContext, o: InstallOptions): Promise<DryRunReport> {
  const setValues = parseSetValues(o.set);
  const healthCheck = o.healthCheck !== undefined ? parseHealthFlag(o.healthCheck) : null;
  const name = o.name ?? defaultSystemName(o.image);
  validateContainerName(name);
  const runtime = chooseRuntime(ctx, o.runtime);
  const cp = containerPaths(ctx.paths, name);
  const r = emptyReport('install', name);
  refuseCollision(cp);
  if (exists(cp.link) || exists(`${ctx.paths.preinstalledRoot}/${name}`)) {
    r.summary = `${name} already present: install would change nothing (containers update changes an installed container)`;
    await warnDifferences(ctx, cp, o.image, setValues);
    return r;
  }
  refuseForeignSlots(cp);
  const fromFlags = parseOptionAssignments(o.options ?? [], '--option: ');
  const record = { ...(readHostConf(ctx.paths, name) ?? {}), ...fromFlags };
  const recordSource = Object.keys(fromFlags).length ? 'the option record (--option)' : hostConfPath(ctx.paths, name);
  const links = checkOptionRecord(ctx, name, record, recordSource);
  const t = await findTarget(ctx, o.image);
  r.notes.push(...t.notes);
  refuseForeignHostFiles(cp);
  setLayers(r, o.rootfs ? [] : t.layers);
  r.target = { slot: 0, path: cp.slotView(0), image: t.imageName, imageId: t.imageId };
  r.action = 'install';
  r.summary = `install ${name} would deploy ${t.imageName}${t.imageId ? ` (${t.imageId.slice(0, 12)})` : ''} into ${cp.slotView(0)} and enable ${unitName(name)}${o.now ? ' and start it' : ''}`;
  r.options = recordChanges({}, record, recordSource);
  if (t.entry === null) {
    r.filesNote = needsImage(o.image, 'install --system');
    partialValues(r, {}, setValues, Object.keys(setValues));
    return r;
  }
  const repo = await ctx.repoIfExists();
  if (repo && !o.rootfs && t.imageConfig === undefined && isRunOnce(await imageLabels(repo, t.entry))) {
    r.action = 'none';
    r.summary = `${t.imageName} is labelled atomic.run=once: install would run it once (with the --set values) and install nothing`;
    return r;
  }
  const notes: string[] = [];
  const rendered = await renderSlot(
    { ...ctx, out: collecting(ctx.out, notes) },
    { cp, slot: 0, image: t.entry, imageName: t.imageName, setValues, runtime, remote: o.rootfs ?? null, options: record, links, healthCheck },
    { readOnly: true, ...(t.imageConfig !== undefined ? { imageConfig: t.imageConfig } : {}) },
  );
  r.notes.push(...notes);
  r.files = renderedFiles(ctx, cp, 0, rendered, null);
  r.values = valueChanges({}, rendered.values, sourceOf(rendered, Object.keys(setValues)));
  r.healthCheck = healthChange(null, rendered.health);
  return r;
}

// ---------------------------------------------------------------------------------------------
// update

export async function updateDryRun(ctx: AppContext, o: UpdateOptions): Promise<DryRunReport> {
  validateContainerName(o.name);
  const newValues = parseSetValues(o.set);
  if (o.healthCheck !== undefined) parseHealthFlag(o.healthCheck);
  const cp = containerPaths(ctx.paths, o.name);
  const cur = fs.existsSync(ctx.paths.checkoutRoot) ? currentSlot(cp) : null;
  if (cur === null) throw containerNotInstalled(o.name);
  const info = readInfo(cp.slotDir(cur));
  const r = emptyReport('update', o.name);
  r.current = { slot: cur, path: cp.slotView(cur), image: info.image, imageId: info.revision };
  let t: TargetImage;
  if (o.rebase) t = await findTarget(ctx, o.rebase);
  else {
    const repo = await ctx.repoIfExists();
    if (!repo)
      throw new AtomicError('IMAGE_NOT_FOUND', `The image ${info.image} of ${o.name} is not in the store (there is no store)`, { suggestions: [`atomic pull ${info.image}`] });
    const [image] = await resolveImages(repo, stripTransport(info.image));
    t = { imageName: info.image, imageId: imageIdFor(image!), entry: image!, layers: await storedLayers(ctx, image!), notes: [] };
  }
  r.notes.push(...t.notes);
  const plan = planUpdate(ctx, o, cp, cur, info, newValues);
  const next = otherSlot(cur);
  setLayers(r, info.remote ? [] : t.layers);
  r.target = { slot: next, path: cp.slotView(next), image: t.imageName, imageId: t.imageId };
  const liveRecord = readSlotOptions(cp.slotDir(cur))?.record ?? {};
  r.options = recordChanges(liveRecord, plan.record, plan.recordSource);
  if (t.imageId === info.revision && !plan.changed) {
    r.summary = `containers update ${o.name}: Latest version already installed (${info.image}, ${info.revision.slice(0, 12)}); it would change nothing`;
    r.target = null;
    return r;
  }
  r.action = 'update';
  r.restart = systemdFor(ctx).isActive(unitName(o.name));
  r.summary = `containers update ${o.name} would deploy ${t.imageName}${t.imageId ? ` (${t.imageId.slice(0, 12)})` : ''} into ${cp.slotView(next)} and switch from ${cp.slotView(cur)} (${info.image}, ${info.revision.slice(0, 12)})${r.restart ? `, then restart ${unitName(o.name)} and watch it` : ''}`;
  if (t.entry === null) {
    r.filesNote = needsImage(o.rebase ?? info.image, `containers update --rebase ${o.rebase ?? ''}`.trim());
    partialValues(r, info.values ?? {}, plan.values, [...Object.keys(newValues), ...(o.reset ?? [])]);
    return r;
  }
  const notes: string[] = [];
  const rendered = await renderSlot(
    { ...ctx, out: collecting(ctx.out, notes) },
    {
      cp,
      slot: next,
      image: t.entry,
      imageName: t.imageName,
      setValues: plan.values,
      runtime: chooseRuntime(ctx, undefined, info.runtime),
      remote: info.remote ?? null,
      options: plan.record,
      links: plan.links,
      healthCheck: plan.healthCheck,
    },
    { readOnly: true, ...(t.imageConfig !== undefined ? { imageConfig: t.imageConfig } : {}) },
  );
  r.notes.push(...notes);
  r.files = renderedFiles(ctx, cp, next, rendered, liveOf(cp, cur));
  r.values = valueChanges(info.values ?? {}, rendered.values, sourceOf(rendered, Object.keys(newValues)));
  r.healthCheck = healthChange(readHealthSpec(cp.slotDir(cur)), rendered.health);
  return r;
}

// ---------------------------------------------------------------------------------------------
// rollback

export function rollbackDryRun(ctx: AppContext, name: string): DryRunReport {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  const cur = currentSlot(cp);
  if (cur === null) throw containerNotInstalled(name);
  const target = otherSlot(cur);
  const dir = cp.slotDir(target);
  if (!fs.existsSync(path.join(dir, 'info'))) {
    throw new AtomicError('NOT_FOUND', `Error: Cannot find a previous deployment to rollback located at ${dir}`, {
      suggestions: ['A rollback needs an earlier update: atomic containers update NAME'],
    });
  }
  const from = readInfo(cp.slotDir(cur));
  const to = readInfo(dir);
  const r = emptyReport('rollback', name);
  r.action = 'switch';
  r.current = { slot: cur, path: cp.slotView(cur), image: from.image, imageId: from.revision };
  r.target = { slot: target, path: cp.slotView(target), image: to.image, imageId: to.revision };
  const unit = unitName(name);
  const state = systemdFor(ctx).state(unit);
  r.restart = ['active', 'activating', 'failed', 'reloading'].includes(state);
  r.summary = `containers rollback ${name} would switch from ${cp.slotView(cur)} (${from.image}, ${from.revision.slice(0, 12)}) to ${cp.slotView(target)} (${to.image}, ${to.revision.slice(0, 12)})${r.restart ? ` and (re)start ${unit}` : ''}`;
  const view = cp.slotView(target);
  const live = liveOf(cp, cur);
  const targetOptions = readSlotOptions(dir);
  r.files = [
    fileEntry(cp.hostUnit, cp.hostUnit, slotUnitCopy(dir, name), `${cp.hostUnit} (live)`, slotUnitCopy(view, name)),
    fileEntry(path.join(dir, 'config.json'), live.config!, path.join(dir, 'config.json'), `${live.label}/config.json (live)`, `${view}/config.json`),
    fileEntry(cp.hostTmpfiles, cp.hostTmpfiles, slotTmpfilesCopy(dir, name), `${cp.hostTmpfiles} (live)`, slotTmpfilesCopy(view, name)),
  ];
  for (const f of [...new Set([...Object.keys(live.optionFiles), ...Object.keys(targetOptions?.files ?? {})])].sort()) {
    const host = path.join(ctx.paths.unitDir, f);
    r.files.push(fileEntry(host, host, { text: targetOptions?.files[f] ?? null }, `${host} (live)`, `${host} (${view})`));
  }
  const defaults = slotManifestDefaults(dir, to);
  r.values = valueChanges(from.values ?? {}, to.values ?? {}, (k, v) => valueSource(k, v, defaults));
  r.options = recordChanges(readSlotOptions(cp.slotDir(cur))?.record ?? {}, targetOptions?.record ?? {}, `${view} (its option record)`);
  r.healthCheck = healthChange(readHealthSpec(cp.slotDir(cur)), readHealthSpec(dir));
  return r;
}
