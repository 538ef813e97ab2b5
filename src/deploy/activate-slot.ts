/**
 * Make a complete slot the live deployment: the one host-side routine shared by install, update,
 * rollback and crash recovery. Idempotent: re-running it after a crash at any point converges on
 * the same state. Order: stop (if active) → tmpfiles --remove of the old file → old hostfs files
 * removed unless modified → target hostfs copied → host unit/tmpfiles replaced from the slot's own
 * copies (atomic writes) → link switched by renaming a temp symlink over NAME → daemon-reload →
 * tmpfiles --create → start (if it was active) / enable (on install).
 *
 * Downtime: when a running unit is replaced (update, rollback), what does not depend on the
 * stop runs before it (`prepareBeforeStop`): the new unit file is written and systemd reloaded
 * (a daemon-reload was ~half of the window), the unit's failed state / start limit is reset, and
 * a tmpfiles.d file that does not change and has no D/R lines (so its --remove is a no-op) is
 * --create'd. Between stop and start remain: the runtime's leftover check (a stat, a process only
 * when the runtime has state for NAME), host files (the info and journal records only when they
 * change), the switch, and the start. All of it stays
 * within the journal's `host` phase. When nothing the activation writes can be seen by the old
 * container (`restartInPlace`), there is no stop: host files and the switch happen while it
 * serves and one `systemctl restart` follows the switch, so the downtime is systemd's own
 * stop → start; recovery restarts a unit whose container is not the target's (`runsAnotherSlot`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostFor, type DeployContext } from './context.js';
import { resolveRemoteRootfs } from './prepare-slot.js';
import { slotUnitCopy, slotTmpfilesCopy, otherSlot, type ContainerPaths, type Slot } from './layout.js';
import { readInfo, writeInfoIfChanged, type DeploymentInfo } from './info-file.js';
import { copyHostfs, removeHostfs, plannedHostfsPaths } from './hostfs.js';
import { copyDurable, removeDurable, exists } from './slot-files.js';
import { DeployJournal, type JournalEntry } from './journal.js';
import { atomicSymlink, faultPoint } from '../util/atomic-write.js';
import { unitName } from './container-name.js';
import { readSlotOptions, placeOptionFiles, enableOptionTimers } from './option-record.js';
import { readHealthSpec } from './health-spec.js';

function readInfoOrNull(slotDir: string): ReturnType<typeof readInfo> | null {
  try {
    return readInfo(slotDir);
  } catch {
    return null;
  }
}

/** The host port of `ctx` (deploy/context.ts `hostFor`); the name callers in app/ use. */
export const systemdFor = hostFor;

export interface ActivateOptions {
  journal: JournalEntry;
  /** Enable the unit (install). */
  enable: boolean;
  /** Start the unit afterwards (it was active before). */
  start: boolean;
  /** Stop the unit first if active. */
  stopFirst: boolean;
}

/** Returns whether the unit was started (o.start, and the option record does not disable it). */
export async function activateSlot(ctx: DeployContext, cp: ContainerPaths, target: Slot, o: ActivateOptions): Promise<{ started: boolean }> {
  const sd = systemdFor(ctx);
  const slotDir = cp.slotDir(target);
  const info = readInfo(slotDir);
  const journal = DeployJournal.resume(cp.journal, o.journal);
  await journal.hostFiles();
  faultPoint('activate:begin');

  const unit = unitName(cp.name);
  const unitCopy = slotUnitCopy(slotDir, cp.name);
  const tmpCopy = slotTmpfilesCopy(slotDir, cp.name);
  const targetOptions = readSlotOptions(slotDir);
  const status = targetOptions?.record.status;
  const otherInfo = readInfoOrNull(cp.slotDir(otherSlot(target)));
  // the slot's health check decides how the unit is started (Type=notify): read once, when needed
  let notifyMemo: boolean | undefined;
  const isNotify = (): boolean => (notifyMemo ??= readHealthSpec(slotDir)?.type === 'notify');
  let early: EarlyWork = { unitDone: false, tmpfilesDone: false, resetDone: false };
  // the running unit is restarted in one systemctl call after the switch (see restartInPlace)
  let restart = false;
  if (o.stopFirst && !sd.offline) {
    const st = sd.state(unit);
    if (st === 'active' || st === 'activating' || st === 'deactivating') {
      const willStart = o.start && status !== 'disabled';
      // the slot's unit, read once for both checks below
      const newUnit = readOrNull(unitCopy);
      early = await prepareBeforeStop(ctx, cp, {
        unitCopy,
        newUnit,
        tmpCopy,
        sameRuntime: otherInfo !== null && otherInfo.runtime === info.runtime,
        sameOptionFiles: sameOptionFiles(targetOptions, readSlotOptions(cp.slotDir(otherSlot(target)))),
        willStart,
      });
      // a Type=notify unit is started without waiting (--no-block) and watched by the health gate,
      // which must not see the stop half of a queued restart: stop, then start, as before
      restart = willStart && !isNotify() && restartInPlace(ctx, cp, { info, otherInfo, early, unitCopy, newUnit, tmpCopy, created: journal.entry.created });
      if (restart) sd.stopInRestart(unit);
      else sd.stop(unit);
    }
    // a runtime container the unit left behind (its runc was killed) would block the next start
    const runtimes = new Set([info.runtime, otherInfo?.runtime].filter((r): r is string => Boolean(r)));
    if (!restart) for (const rt of runtimes) sd.reapContainer(rt, cp.name);
  }
  if (!early.tmpfilesDone && exists(cp.hostTmpfiles)) sd.tmpfilesRemove(cp.hostTmpfiles);
  faultPoint('activate:stopped');

  // hostfs of the other slot (if it was the live one) goes, the target's comes
  const other = cp.slotDir(otherSlot(target));
  if (exists(path.join(other, 'info'))) {
    try {
      for (const m of removeHostfs(ctx.paths.sysroot, readInfo(other)['installed-files-checksum'] ?? {})) ctx.out.line(m);
    } catch {
      /* unreadable info of the other slot: nothing recorded to remove */
    }
  }
  // files a crashed previous attempt created are ours: drop them so they are recorded again
  for (const f of journal.entry.created) {
    if (!(f in (info['installed-files-checksum'] ?? {}))) removeHostfs(ctx.paths.sysroot, { [f]: '*' });
  }
  const created: string[] = [];
  const hostfs = copyHostfs({
    rootfs: info.remote ? resolveRemoteRootfs(ctx, info.remote) : path.join(slotDir, 'rootfs'),
    sysroot: ctx.paths.sysroot,
    values: info.values,
    renameFiles: info['rename-installed-files'] ?? {},
    templates: info['installed-files-template'] ?? [],
    onCreate: (p) => created.push(p),
  });
  // keep the target's record of files that were already in place from an earlier activation
  const checksums = { ...hostfs.checksums };
  for (const [k, v] of Object.entries(info['installed-files-checksum'] ?? {})) if (!(k in checksums) && exists(path.join(ctx.paths.sysroot, k))) checksums[k] = v;
  // both are between stop and start on an update: written only when they change (an image without
  // hostfs files changes neither), each write being an fsync of the file and of its directory
  await writeInfoIfChanged(slotDir, { ...info, 'installed-files': Object.keys(checksums).sort(), 'installed-files-checksum': checksums });
  if (journal.entry.created.length !== created.length || journal.entry.created.some((f, i) => f !== created[i])) await journal.recordCreated(created);
  faultPoint('activate:hostfs');

  if (!early.unitDone) {
    if (exists(unitCopy)) await copyDurable(unitCopy, cp.hostUnit);
    else await removeDurable(cp.hostUnit);
  }
  if (!early.tmpfilesDone) {
    if (exists(tmpCopy)) await copyDurable(tmpCopy, cp.hostTmpfiles);
    else await removeDurable(cp.hostTmpfiles);
  }
  await placeOptionFiles(ctx.paths, cp, targetOptions ?? { record: {}, files: {} }, readSlotOptions(other), (l) => ctx.out.line(l));
  faultPoint('activate:host-files');

  fs.mkdirSync(path.dirname(cp.link), { recursive: true });
  await atomicSymlink(cp.slotView(target), cp.link);
  await journal.switched();
  faultPoint('activate:switched');

  for (const m of hostfs.messages) ctx.out.line(m);
  const hasService = exists(unitCopy);
  // hostfs may carry unit files of its own: then systemd reloads after the switch as well
  const hostfsUnits = [...Object.keys(checksums), ...Object.keys(otherInfo?.['installed-files-checksum'] ?? {})].some((f) => SYSTEMD_UNIT_PATH.test(f));
  if (hasService && (!early.unitDone || hostfsUnits)) sd.daemonReload();
  if (!early.tmpfilesDone && exists(cp.hostTmpfiles)) sd.tmpfilesCreate(cp.hostTmpfiles);
  // the record's status decides over the operation's default (install enables)
  if (hasService && status === 'disabled') sd.disableNow(unit);
  else if (hasService && (o.enable || status === 'enabled')) sd.enable(unit);
  const started = hasService && o.start && status !== 'disabled';
  if (started) {
    // a unit that failed (or hit its start limit) on the other deployment starts afresh
    if (!early.resetDone) sd.resetFailed(unit);
    // a Type=notify unit (healthCheck notify) is active only once the service says READY=1: the
    // start is queued and the health gate watches for it, within its window, not systemd's 90 s
    if (restart) sd.restart(unit);
    else sd.start(unit, isNotify());
  }
  enableOptionTimers(ctx.paths, targetOptions, (l) => ctx.out.line(l));
  faultPoint('activate:done');
  return { started };
}

/**
 * Whether a running unit can be replaced by one `systemctl restart` issued after the switch,
 * instead of stop → (host files, switch) → start: systemd then runs the stop and the start as
 * one job, and no client process (~0.05-0.1 s of spawn and systemctl start-up) and none of our
 * writes fall between them. Only when nothing the activation writes can be seen by the
 * container still running, and the restart does what stop → start does:
 *  - the target unit is loaded already and stops the old container the same way
 *    (prepareBeforeStop: same runtime, same option drop-ins);
 *  - the tmpfiles.d file is unchanged (--create'd before the stop) or there is none;
 *  - no hostfs files on either side (none removed or copied while the old one runs);
 *  - not a Type=notify unit (its start is queued, --no-block, and the gate watches it);
 *  - the unit starts the container with atomic's own start command, which needs no reap
 *    between stop and start: the foreground form deletes a leftover container before `run`,
 *    the detached form's ExecStopPost deletes it after every stop.
 * The old container runs from its own slot (WorkingDirectory, the runtime's bundle) and is
 * stopped by name, so the switch of NAME before the restart is not visible to it. A crash
 * before the restart leaves it running under a switched journal: recovery restarts it on the
 * target (recovery.ts, `runsAnotherSlot`).
 */
function restartInPlace(
  ctx: DeployContext,
  cp: ContainerPaths,
  o: { info: DeploymentInfo; otherInfo: DeploymentInfo | null; early: EarlyWork; unitCopy: string; newUnit: string | null; tmpCopy: string; created: readonly string[] },
): boolean {
  if (!o.early.unitDone || !o.early.resetDone) return false;
  if (!o.early.tmpfilesDone && (exists(o.tmpCopy) || exists(cp.hostTmpfiles))) return false;
  if (o.created.length > 0 || Object.keys(o.otherInfo?.['installed-files-checksum'] ?? {}).length > 0) return false;
  const start = o.info.values?.EXEC_START;
  if (!start || !(o.newUnit ?? '').split('\n').includes(`ExecStart=${start}`)) return false;
  try {
    const rootfs = o.info.remote ? resolveRemoteRootfs(ctx, o.info.remote) : path.join(path.dirname(o.unitCopy), 'rootfs');
    return plannedHostfsPaths(rootfs, o.info['rename-installed-files'] ?? {}, o.info.values ?? {}).length === 0;
  } catch {
    return false;
  }
}

/**
 * Crash recovery: the unit is running a container started from another deployment than
 * `target` (an update killed before its restart left the old one running). Unknown counts as
 * another: a restart is then the way to a known state.
 */
export function runsAnotherSlot(ctx: DeployContext, cp: ContainerPaths, target: Slot): boolean {
  const sd = systemdFor(ctx);
  if (sd.offline) return false;
  const st = sd.state(unitName(cp.name));
  if (st !== 'active' && st !== 'activating' && st !== 'deactivating') return false;
  const runtime = readInfoOrNull(cp.slotDir(target))?.runtime;
  const bundle = runtime ? sd.containerBundle(runtime, cp.name) : null;
  return bundle === null || realOrSelf(bundle) !== realOrSelf(cp.slotView(target));
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** A host path below a systemd unit directory (hostfs files there need a daemon-reload). */
const SYSTEMD_UNIT_PATH = /^\/?(etc|run|usr\/lib|lib|usr\/local\/lib)\/systemd\//;

/** What prepareBeforeStop already did, so activateSlot skips it after the stop. */
interface EarlyWork {
  /** The host unit file is the target's (written, or already identical) and systemd has reloaded it. */
  unitDone: boolean;
  /** The host tmpfiles.d file is the target's, unchanged and without D/R lines, and was --create'd. */
  tmpfilesDone: boolean;
  /** reset-failed ran (the stop does not count towards the start limit; a failed state does not block a start). */
  resetDone: boolean;
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Both slots place the same unit drop-ins / timers (so no reload is needed for them after the switch). */
function sameOptionFiles(a: { files: Record<string, string> } | null, b: { files: Record<string, string> } | null): boolean {
  const norm = (f: Record<string, string> | undefined) => JSON.stringify(Object.entries(f ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return norm(a?.files) === norm(b?.files);
}

/** tmpfiles.d lines whose type is D or R: `--remove` acts on them. */
function hasRemoveLines(text: string): boolean {
  return text.split('\n').some((l) => /^\s*[DR]/.test(l));
}

/**
 * The work of an activation that does not need the old service stopped, done while it still
 * serves (see the module comment). Only when the runtime and the option files do not change
 * (the new unit's ExecStop then stops the old container the same way); anything skipped here is
 * done after the stop as before.
 */
async function prepareBeforeStop(
  ctx: DeployContext,
  cp: ContainerPaths,
  o: { unitCopy: string; newUnit: string | null; tmpCopy: string; sameRuntime: boolean; sameOptionFiles: boolean; willStart: boolean },
): Promise<EarlyWork> {
  const sd = systemdFor(ctx);
  const unit = unitName(cp.name);
  const early: EarlyWork = { unitDone: false, tmpfilesDone: false, resetDone: false };
  if (o.newUnit !== null && o.sameRuntime && o.sameOptionFiles) {
    if (readOrNull(cp.hostUnit) !== o.newUnit) {
      await copyDurable(o.unitCopy, cp.hostUnit);
      sd.daemonReload();
    }
    early.unitDone = true;
  }
  const newTmp = readOrNull(o.tmpCopy);
  if (newTmp !== null && readOrNull(cp.hostTmpfiles) === newTmp && !hasRemoveLines(newTmp)) {
    sd.tmpfilesCreate(cp.hostTmpfiles);
    early.tmpfilesDone = true;
  }
  if (o.willStart) {
    sd.resetFailed(unit);
    early.resetDone = true;
  }
  return early;
}
