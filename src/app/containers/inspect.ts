/**
 * `atomic containers inspect NAME [--json]` (and `atomic info NAME` on a container): how a system
 * container is installed — image and id of the current and the rollback deployment, every value
 * and where it came from, runtime, unit state, host files and whether they were edited by hand,
 * the readiness check, the quarantined images and the result of the last update or rollback.
 * Read-only; the JSON form is documented in docs/inspect.md (schema version 1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { AppContext } from '../context.js';
import { containerPaths, currentSlot, otherSlot, type ContainerPaths, type Slot, containerNotInstalled } from '../../deploy/layout.js';
import { readInfo, type DeploymentInfo } from '../../deploy/info-file.js';
import { validateContainerName, unitName } from '../../deploy/container-name.js';
import { containerHostFiles } from '../../deploy/host-files.js';
import { readHealthSpec, type HealthSpec } from '../../deploy/health-spec.js';
import { readQuarantine, type QuarantineEntry } from '../../deploy/quarantine.js';
import { readLastResult, type LastResult } from '../../deploy/health-gate.js';
import { systemdFor } from '../../deploy/activate-slot.js';
import { readOptionRecord, type OptionRecordView } from './option-record.js';
import { DROP_IN_NAME } from '../../deploy/option-record.js';
import { valueSource, slotManifestDefaults, type ValueSource } from '../../deploy/value-origins.js';
import { atomicEnv } from '../../util/env.js';

export type { ValueSource };

export interface InspectDeployment {
  slot: Slot;
  path: string;
  image: string;
  imageId: string;
  ostreeCommit: string;
  /** ISO 8601 (info.created). */
  created: string;
  runtime: string;
  remoteRootfs: string | null;
  healthCheck: HealthSpec | null;
}

export interface InspectResult {
  schemaVersion: 1;
  name: string;
  current: InspectDeployment;
  rollback: InspectDeployment | null;
  values: { name: string; value: string; source: ValueSource }[];
  unit: { name: string; path: string; present: boolean; editedByHand: boolean; activeState: string; enabled: string } | null;
  tmpfiles: { path: string; present: boolean; editedByHand: boolean } | null;
  quarantined: QuarantineEntry[];
  lastUpdate: LastResult | null;
  /** The auto-update policy of the current deployment (docs/auto-update.md): `--auto-update` (flag) or the image label; null: none. */
  autoUpdate: { policy: 'registry' | 'local' | 'disabled'; source: 'flag' | 'label' } | null;
  /** The option record (docs/options.md) and where its rendered additions live. */
  options: (OptionRecordView & { dropIn: string }) | null;
}

function deployment(cp: ContainerPaths, slot: Slot, info: DeploymentInfo): InspectDeployment {
  return {
    slot,
    path: cp.slotView(slot),
    image: info.image,
    imageId: info.revision,
    ostreeCommit: info['ostree-commit'],
    created: new Date((info.created ?? 0) * 1000).toISOString(),
    runtime: info.runtime,
    remoteRootfs: info.remote ?? null,
    healthCheck: readHealthSpec(cp.slotDir(slot)),
  };
}

function isEnabled(ctx: AppContext, unit: string): string {
  const sd = systemdFor(ctx);
  const args = [...(ctx.paths.userMode ? ['--user'] : []), ...(sd.offline ? [`--root=${ctx.paths.sysroot}`] : []), 'is-enabled', unit];
  const r = spawnSync(atomicEnv('ATOMIC_SYSTEMCTL') ?? 'systemctl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
  return (r.stdout ?? '').trim().split('\n')[0] || 'unknown';
}

export function isInstalledContainer(ctx: AppContext, name: string): boolean {
  try {
    validateContainerName(name);
    return currentSlot(containerPaths(ctx.paths, name)) !== null;
  } catch {
    return false;
  }
}

export function inspectContainer(ctx: AppContext, name: string): InspectResult {
  validateContainerName(name);
  const cp = containerPaths(ctx.paths, name);
  const cur = currentSlot(cp);
  if (cur === null) {
    throw containerNotInstalled(name);
  }
  const info = readInfo(cp.slotDir(cur));
  let rollback: InspectDeployment | null = null;
  const other = otherSlot(cur);
  try {
    rollback = deployment(cp, other, readInfo(cp.slotDir(other)));
  } catch {
    rollback = null;
  }
  const defaults = slotManifestDefaults(cp.slotDir(cur), info);
  const values = Object.keys(info.values ?? {})
    .sort()
    .map((k) => ({ name: k, value: info.values[k]!, source: valueSource(k, info.values[k]!, defaults) }));
  const own = containerHostFiles(cp);
  const hasService = info['has-container-service'] !== false;
  const unit = unitName(name);
  const sd = systemdFor(ctx);
  return {
    schemaVersion: 1,
    name,
    current: deployment(cp, cur, info),
    rollback,
    values,
    unit: hasService
      ? { name: unit, path: cp.hostUnit, present: own.unit !== 'absent', editedByHand: own.unit === 'foreign', activeState: sd.state(unit), enabled: isEnabled(ctx, unit) }
      : null,
    tmpfiles: own.tmpfiles === 'absent' && !fs.existsSync(path.join(cp.slotDir(cur), `tmpfiles-${name}.conf`)) ? null : { path: cp.hostTmpfiles, present: own.tmpfiles !== 'absent', editedByHand: own.tmpfiles === 'foreign' },
    quarantined: readQuarantine(cp),
    lastUpdate: readLastResult(cp),
    autoUpdate: info['auto-update'] ?? null,
    options: optionsView(ctx, name, `${cp.hostUnit}.d/${DROP_IN_NAME}`),
  };
}

/** The record, or null when the container has none (no record deployed and no host file). */
function optionsView(ctx: AppContext, name: string, dropIn: string): (OptionRecordView & { dropIn: string }) | null {
  const v = readOptionRecord(ctx, name);
  if (v === null || (Object.keys(v.deployed).length === 0 && v.hostFile === null)) return null;
  return { ...v, dropIn };
}

