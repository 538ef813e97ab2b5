/**
 * Build a complete deployment slot (CK/NAME.N) without touching the host, in named steps: render
 * everything (render-slot.ts; nothing is written before it all validated), fill the rootfs (a
 * checkout of the layers, or a link to a --rootfs), write the slot's files (config.json, unit and
 * tmpfiles copies, info, health spec, option record), make them durable (slot-files.ts syncTree),
 * and swap the staging dir in as the slot. The slot (the old rollback deployment) is only replaced once the new
 * one is complete, so a failure leaves both slots as they were.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import { checkoutLayers } from '../store/checkout.js';
import type { OstreeRepo } from '../store/repo.js';
import type { ExportsManifest } from '../render/exports-manifest.js';
import { slotUnitCopy, slotTmpfilesCopy } from './layout.js';
import { infoText, type DeploymentInfo } from './info-file.js';
import { writeStaged, syncTree } from './slot-files.js';
import { ensurePrivateDir } from './private-dir.js';
import { hostView } from '../host/sysroot.js';
import { faultPoint, fsyncDir } from '../util/atomic-write.js';
import { stageHealthSpec } from './health-spec.js';
import { stageSlotOptions } from './option-record.js';
import { autoUpdateRecord } from './auto-update.js';
import { removeTreeSync } from '../util/remove-tree.js';
import { renderSlot, imageIdFor, type PrepareInput, type RenderedSlot } from './render-slot.js';

// activate-slot resolves --rootfs through here too
export { resolveRemoteRootfs } from './remote-rootfs.js';

export interface PreparedSlot {
  slotDir: string;
  info: DeploymentInfo;
  values: Record<string, string>;
  hasService: boolean;
  unitText: string | null;
  tmpfilesText: string | null;
  manifest: ExportsManifest | null;
}

export async function prepareSlot(ctx: DeployContext, inp: PrepareInput): Promise<PreparedSlot> {
  const { cp, slot } = inp;
  const slotDir = cp.slotDir(slot);
  // build in a staging dir on the same filesystem
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

async function buildSlot(ctx: DeployContext, inp: PrepareInput, slotDir: string, stageDir: string): Promise<PreparedSlot> {
  const repo = await ctx.repo();
  const r = await renderSlot(ctx, inp);
  await fillRootfs(ctx, repo, r, path.join(stageDir, 'rootfs'));
  faultPoint('prepare:checked-out');
  // everything rendered: now write the slot
  const info = await writeSlotFiles(ctx, inp, r, stageDir);
  await syncTree(stageDir);
  await swapIn(stageDir, slotDir);
  faultPoint('prepare:done');
  return { slotDir, info, values: r.values, hasService: r.hasService, unitText: r.unitText, tmpfilesText: r.tmpfilesText || null, manifest: r.manifest };
}

/** The rootfs: a hardlink checkout of the layers, or (--rootfs) a link to the shared rootfs as the target system sees it. */
async function fillRootfs(ctx: DeployContext, repo: OstreeRepo, r: RenderedSlot, rootfs: string): Promise<void> {
  if (r.remoteRootfs) {
    ctx.out.line(`The remote rootfs for this container is set to be ${r.remoteRootfs}`);
    fs.symlinkSync(hostView(ctx.paths.sysroot, r.remoteRootfs), rootfs);
    return;
  }
  await checkoutLayers(repo, r.layers, rootfs, { userMode: repo.mode !== 'bare', onWarning: (w) => ctx.out.warn(w) });
}

/** config.json, the unit and tmpfiles copies, info, the health spec and the option record (made durable by syncTree with the rest of the slot). */
async function writeSlotFiles(ctx: DeployContext, inp: PrepareInput, r: RenderedSlot, stageDir: string): Promise<DeploymentInfo> {
  const { cp } = inp;
  writeStaged(path.join(stageDir, 'config.json'), r.configText, 0o644);
  if (r.unitText !== null) writeStaged(slotUnitCopy(stageDir, cp.name), r.unitText, 0o644);
  if (r.tmpfilesText) writeStaged(slotTmpfilesCopy(stageDir, cp.name), r.tmpfilesText, 0o644);
  const info = slotInfo(ctx, inp, r);
  writeStaged(path.join(stageDir, 'info'), infoText(info));
  stageHealthSpec(stageDir, r.health);
  const record = inp.options ?? {};
  if (Object.keys(record).length > 0) stageSlotOptions(stageDir, { record, files: r.optionFiles });
  return info;
}

function imageLabelsOf(cfg: Record<string, unknown> | null): Record<string, string> | null {
  const l = (cfg?.Labels ?? null) as Record<string, unknown> | null;
  if (!l || typeof l !== 'object') return null;
  return Object.fromEntries(Object.entries(l).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** The slot's `info` (atomic's format); host files are recorded by activation. */
function slotInfo(ctx: DeployContext, inp: PrepareInput, r: RenderedSlot): DeploymentInfo {
  const info: DeploymentInfo = {
    image: inp.imageName,
    revision: imageIdFor(inp.image),
    'ostree-commit': inp.image.commit,
    created: Math.floor(Date.now() / 1000),
    values: r.values,
    'has-container-service': r.hasService,
    'installed-files': [],
    'installed-files-checksum': {},
    'installed-files-template': r.manifest?.installedFilesTemplate ?? [],
    'rename-installed-files': r.manifest?.renameFiles ?? {},
    'rpm-installed': null,
    'system-package': 'no',
    remote: inp.remote ?? null,
    'use-links': r.manifest?.useLinks ?? true,
    runtime: inp.runtime,
  };
  const autoUpdate = autoUpdateRecord(inp.autoUpdate, imageLabelsOf(r.imageConfig), (w) => ctx.out.warn(w));
  if (autoUpdate !== null) info['auto-update'] = autoUpdate;
  return info;
}

/** The complete staging dir replaces the slot (renames, then the directory made durable). */
async function swapIn(stageDir: string, slotDir: string): Promise<void> {
  const trash = `${stageDir}.old`;
  removeTreeSync(trash);
  if (fs.existsSync(slotDir)) fs.renameSync(slotDir, trash);
  fs.renameSync(stageDir, slotDir);
  await fsyncDir(path.dirname(slotDir));
  removeTreeSync(trash);
}
