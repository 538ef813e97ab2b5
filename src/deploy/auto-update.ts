/**
 * Auto-update policy of a container and the shipped timer (docs/auto-update.md).
 *
 * Policy: the image label `io.containers.autoupdate` (`registry`, `image` = registry, `local`) or
 * `install --system --auto-update` (kept in the deployment's `info` as
 * `"auto-update": {"policy": "registry", "source": "flag"}`, carried by every update so it
 * survives update and rollback; `containers update --no-auto-update` records
 * `{"policy": "disabled", "source": "flag"}`, which wins over the label).
 *
 * Units: `atomic-auto-update.service` (oneshot, `atomic auto-update`) and `atomic-auto-update.timer`
 * (daily, RandomizedDelaySec=900, Persistent=true) in the unit directory install uses (below
 * --sysroot; `systemctl --root` offline). Like a container's unit, a unit file is ours exactly when
 * it equals the copy we keep in CK/.atomic/auto-update/ (or what we would write now): a hand-edited
 * or hand-written one is never overwritten, disabled or removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { DeployContext } from './context.js';
import type { DeploymentInfo } from './info-file.js';
import { readInfo } from './info-file.js';
import { containerPaths, currentSlot, STATE_DIR, type ContainerPaths } from './layout.js';
import { isValidContainerName } from './container-name.js';
import { hostFileOwnership, type Ownership } from './host-files.js';
import { writeDurable, removeDurable } from './slot-files.js';
import { ensurePrivateDir } from './private-dir.js';
import { AtomicError } from '../util/errors.js';
import { atomicEnv } from '../util/env.js';
import { removeTreeSync } from '../util/remove-tree.js';

export const AUTO_UPDATE_LABEL = 'io.containers.autoupdate';
export const AUTO_UPDATE_SERVICE = 'atomic-auto-update.service';
export const AUTO_UPDATE_TIMER = 'atomic-auto-update.timer';

/** What a container's auto-update does: check its registry, use the store's image, or nothing. */
export type AutoUpdatePolicy = 'registry' | 'local';

export interface AutoUpdateRecord {
  policy: AutoUpdatePolicy | 'disabled';
  source: 'flag' | 'label';
}

/** The label value as a policy; null for no label; throws nothing (an unknown value is reported by the caller). */
export function policyFromLabel(value: string | undefined): AutoUpdatePolicy | 'disabled' | 'unknown' | null {
  if (value === undefined) return null;
  const v = value.trim().toLowerCase();
  if (v === 'registry' || v === 'image') return 'registry';
  if (v === 'local') return 'local';
  if (v === '' || v === 'disabled' || v === 'false') return 'disabled';
  return 'unknown';
}

/**
 * The record a new deployment gets: the flag (given now, or carried from the live deployment)
 * wins, else the image label. `warn` hears about a label value we do not know.
 */
export function autoUpdateRecord(flag: AutoUpdateRecord['policy'] | null | undefined, labels: Record<string, string> | null, warn: (m: string) => void): AutoUpdateRecord | null {
  if (flag) return { policy: flag, source: 'flag' };
  const p = policyFromLabel(labels?.[AUTO_UPDATE_LABEL]);
  if (p === 'unknown') {
    warn(`Warning: the image label ${AUTO_UPDATE_LABEL}=${labels?.[AUTO_UPDATE_LABEL]} is not a policy atomic knows (registry, local); the container is not updated automatically`);
    return null;
  }
  return p === null ? null : { policy: p, source: 'label' };
}

/** The policy in force for a deployment, or null (not auto-updated). */
export function autoUpdatePolicy(info: Pick<DeploymentInfo, 'auto-update'>): AutoUpdatePolicy | null {
  const r = info['auto-update'];
  if (!r || typeof r !== 'object') return null;
  return r.policy === 'registry' || r.policy === 'local' ? r.policy : null;
}

/** The flag value an update carries over from the live deployment (the label is read again from the new image). */
export function carriedFlag(info: Pick<DeploymentInfo, 'auto-update'>): AutoUpdateRecord['policy'] | null {
  const r = info['auto-update'];
  return r && typeof r === 'object' && r.source === 'flag' ? r.policy : null;
}

export interface AutoUpdateCandidate {
  name: string;
  policy: AutoUpdatePolicy;
  info: DeploymentInfo;
}

/** Installed system containers (live deployments) with an auto-update policy, by name. */
export function autoUpdateCandidates(ctx: DeployContext): AutoUpdateCandidate[] {
  let names: string[];
  try {
    names = fs.readdirSync(ctx.paths.checkoutRoot).filter((n) => !n.startsWith('.') && isValidContainerName(n));
  } catch {
    return [];
  }
  const out: AutoUpdateCandidate[] = [];
  for (const name of names.sort()) {
    const cp = containerPaths(ctx.paths, name);
    let slot;
    try {
      if (!fs.lstatSync(cp.link).isSymbolicLink()) continue;
      slot = currentSlot(cp);
    } catch {
      continue;
    }
    if (slot === null) continue;
    let info: DeploymentInfo;
    try {
      info = readInfo(cp.slotDir(slot));
    } catch {
      continue;
    }
    const policy = autoUpdatePolicy(info);
    if (policy !== null) out.push({ name, policy, info });
  }
  return out;
}

// ---- units ---------------------------------------------------------------------------------

/** The command line the service runs: this atomic (node + script when run as a .js file). */
export function atomicCommandLine(self = process.argv[1] ?? 'atomic'): string {
  return self.endsWith('.js') ? `${process.execPath} ${self}` : self;
}

export function renderAutoUpdateUnits(o: { atomic: string; user: boolean }): Record<string, string> {
  const head = '# Written by atomic (docs/auto-update.md). atomic leaves this file alone once you edit it.\n';
  return {
    [AUTO_UPDATE_SERVICE]:
      `${head}[Unit]\nDescription=atomic auto-update: update system containers whose image changed\n` +
      (o.user ? '' : 'Wants=network-online.target\nAfter=network-online.target\n') +
      `\n[Service]\nType=oneshot\nExecStart=${o.atomic} auto-update\n`,
    [AUTO_UPDATE_TIMER]: `${head}[Unit]\nDescription=Daily atomic auto-update\n\n[Timer]\nOnCalendar=daily\nRandomizedDelaySec=900\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n`,
  };
}

/** Where we keep the copies of what we wrote (the ownership proof). */
function copyDir(ctx: DeployContext): string {
  return path.join(ctx.paths.checkoutRoot, STATE_DIR, 'auto-update');
}

export interface AutoUpdateUnitState {
  file: string;
  ownership: Ownership;
}

export function autoUpdateUnitFiles(ctx: DeployContext): Record<string, AutoUpdateUnitState> {
  const want = renderAutoUpdateUnits({ atomic: atomicCommandLine(), user: ctx.paths.userMode });
  const out: Record<string, AutoUpdateUnitState> = {};
  for (const unit of Object.keys(want)) {
    const file = path.join(ctx.paths.unitDir, unit);
    let own = hostFileOwnership(file, [path.join(copyDir(ctx), unit)]);
    if (own === 'foreign') {
      try {
        if (fs.readFileSync(file, 'utf8') === want[unit]) own = 'ours';
      } catch {
        /* stays foreign */
      }
    }
    out[unit] = { file, ownership: own };
  }
  return out;
}

function systemctl(ctx: DeployContext, args: string[], ignoreErrors: boolean): boolean {
  const bin = atomicEnv('ATOMIC_SYSTEMCTL') ?? 'systemctl';
  const a = [...(ctx.paths.userMode ? ['--user'] : []), ...(ctx.paths.sysroot !== '/' ? [`--root=${ctx.paths.sysroot}`] : []), ...args];
  ctx.out.line(['systemctl', ...a].join(' '));
  const r = spawnSync(bin, a, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status === 0 || ignoreErrors) return r.status === 0;
  throw new AtomicError('IO', `systemctl ${a.join(' ')} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`, {
    suggestions: ['Check that systemd is running (systemctl is-system-running), or use --sysroot DIR for an offline install.'],
  });
}

/**
 * An auto-update container was installed (or turned on): write the units when absent and enable
 * the timer (and start it when online). Present units we wrote are refreshed when what we write
 * changed, but not enabled again (an admin may have disabled the timer); hand-edited ones are
 * left alone with a note.
 */
export async function ensureAutoUpdateUnits(ctx: DeployContext): Promise<void> {
  const want = renderAutoUpdateUnits({ atomic: atomicCommandLine(), user: ctx.paths.userMode });
  const state = autoUpdateUnitFiles(ctx);
  let wrote = false;
  let fresh = false;
  for (const [unit, text] of Object.entries(want)) {
    const s = state[unit]!;
    if (s.ownership === 'foreign') {
      ctx.out.warn(`Note: ${s.file} was not written by atomic (edited by hand?); it is left as it is`);
      continue;
    }
    if (s.ownership === 'ours' && fs.readFileSync(s.file, 'utf8') === text) continue;
    if (s.ownership === 'absent' && unit === AUTO_UPDATE_TIMER) fresh = true;
    ensurePrivateDir(copyDir(ctx));
    await writeDurable(path.join(copyDir(ctx), unit), text);
    await writeDurable(s.file, text);
    wrote = true;
  }
  if (!wrote) return;
  if (ctx.paths.sysroot === '/') systemctl(ctx, ['daemon-reload'], true);
  if (fresh && !systemctl(ctx, ctx.paths.sysroot === '/' ? ['enable', '--now', AUTO_UPDATE_TIMER] : ['enable', AUTO_UPDATE_TIMER], true)) {
    ctx.out.warn(`Warning: could not enable ${AUTO_UPDATE_TIMER}; enable it yourself: systemctl enable --now ${AUTO_UPDATE_TIMER}`);
  }
}

/** No auto-update container is left: disable and remove the units we wrote (hand-edited ones stay). */
export async function removeAutoUpdateUnits(ctx: DeployContext): Promise<void> {
  const state = autoUpdateUnitFiles(ctx);
  const timer = state[AUTO_UPDATE_TIMER]!;
  const service = state[AUTO_UPDATE_SERVICE]!;
  if (timer.ownership === 'absent' && service.ownership === 'absent') {
    removeTreeSync(copyDir(ctx));
    return;
  }
  if (timer.ownership === 'ours') systemctl(ctx, ctx.paths.sysroot === '/' ? ['disable', '--now', AUTO_UPDATE_TIMER] : ['disable', AUTO_UPDATE_TIMER], true);
  for (const s of [timer, service]) {
    if (s.ownership === 'ours') await removeDurable(s.file);
    else if (s.ownership === 'foreign') ctx.out.warn(`Will not delete ${s.file}: it was not written by atomic (it differs from what atomic installed).`);
  }
  removeTreeSync(copyDir(ctx));
  if (ctx.paths.sysroot === '/') systemctl(ctx, ['daemon-reload'], true);
}

/** Converge the units on the installed containers: present while some container has a policy. */
export async function syncAutoUpdateUnits(ctx: DeployContext): Promise<void> {
  if (autoUpdateCandidates(ctx).length > 0) await ensureAutoUpdateUnits(ctx);
  else await removeAutoUpdateUnits(ctx);
}

/**
 * After an update or rollback (whatever its outcome): when the live deployment's policy differs
 * from `before`, converge the units. Never throws (the operation itself is done); warns instead.
 */
export async function followAutoUpdatePolicy(ctx: DeployContext, cp: ContainerPaths, before: boolean): Promise<void> {
  try {
    const live = currentSlot(cp);
    const now = live !== null && autoUpdatePolicy(readInfo(cp.slotDir(live))) !== null;
    if (now !== before) await syncAutoUpdateUnits(ctx);
  } catch (e) {
    ctx.out.warn(`Warning: could not update the auto-update units: ${(e as Error).message}`);
  }
}
