/**
 * Shared pieces of the container use cases: --set parsing, runtime choice, crash recovery from
 * the journal, uninstall steps and the deploy locks.
 */
import { removeOptionFiles } from './option-record.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import { activateSlot, systemdFor } from './activate-slot.js';
import { readJournal, planRecovery, DeployJournal } from './journal.js';
import { removeHostfs, plannedHostfsPaths } from './hostfs.js';
import { journalTrustProblem } from './journal-trust.js';
import { readInfo } from './info-file.js';
import { removeDurable, exists } from './slot-files.js';
import { currentSlot, containerPaths, isSlotDir, type ContainerPaths } from './layout.js';
import { containerHostFiles } from './host-files.js';
import { lockContainer } from './container-lock.js';
import { dropQuarantine } from './quarantine.js';
import { lastResultFile } from './health-gate.js';
import { acquireRepoLock } from '../store/repo-lock.js';
import { defaultRuntime } from '../host/runtime.js';
import { AtomicError } from '../util/errors.js';
import { faultPoint } from '../util/atomic-write.js';
import { unitName, isValidContainerName } from './container-name.js';
import { removeTreeSync } from '../util/remove-tree.js';

/** atomic's --set parsing: split at the first '='. */
export function parseSetValues(sets: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new AtomicError('USAGE', `Invalid value '${s}'.  Expected form NAME=VALUE`, { suggestions: ['Use --set NAME=VALUE.'] });
    const k = s.slice(0, eq);
    if (!/^[_A-Za-z][_A-Za-z0-9]*$/.test(k)) throw new AtomicError('USAGE', `Invalid variable name '${k}' in --set: use letters, digits and '_'`);
    out[k] = s.slice(eq + 1);
  }
  return out;
}

export function chooseRuntime(ctx: DeployContext, flag: string | undefined, stored?: string): string {
  if (flag) return flag;
  if (!ctx.paths.userMode && ctx.paths.conf.runtime) return ctx.paths.conf.runtime;
  return stored ?? defaultRuntime();
}

/**
 * Finish or undo an operation a crash interrupted. install before the switch: undo (container
 * absent); update/rollback after the new slot was complete: roll forward onto it; uninstall:
 * finish it. Returns a description of what was done, or null when there was nothing to do.
 */
export async function recoverContainer(ctx: DeployContext, cp: ContainerPaths): Promise<string | null> {
  const j = readJournal(cp.journal);
  if (!j) return null;
  const distrust = journalTrustProblem(cp.journal, j, cp, plannedHostfsOf);
  if (distrust !== null) {
    ctx.out.warn(`Warning: not replaying the journal ${cp.journal}: ${distrust}. It was not written by atomic for ${cp.name} and was left in place; remove it once you have checked it.`);
    return null;
  }
  const sd = systemdFor(ctx);
  const journal = DeployJournal.resume(cp.journal, j);
  const action = planRecovery(j, j.to !== null && exists(`${cp.slotDir(j.to)}/info`));
  switch (action) {
    case 'finish-uninstall':
      await finishUninstall(ctx, cp);
      await journal.finish();
      return `completed the interrupted uninstall of ${cp.name}`;
    case 'undo-install':
      for (const f of j.created ?? []) removeHostfs(ctx.paths.sysroot, { [f]: '*' });
      if (currentSlot(cp) === null) {
        const own = containerHostFiles(cp);
        if (own.unit === 'ours') await removeDurable(cp.hostUnit);
        if (own.tmpfiles === 'ours') {
          sd.tmpfilesRemove(cp.hostTmpfiles);
          await removeDurable(cp.hostTmpfiles);
        }
        for (const s of [0, 1] as const) if (isSlotDir(cp.slotDir(s))) removeTreeSync(cp.slotDir(s));
      }
      await journal.finish();
      return `removed the incomplete install of ${cp.name}`;
    case 'discard-staging':
      // the host was not touched; a half-built deployment only exists in the staging dir
      for (const sfx of ['0', '1', '0.old', '1.old']) removeTreeSync(path.join(cp.stateDir, 'staging', `${cp.name}.${sfx}`));
      await journal.finish();
      return `discarded the incomplete ${j.op} of ${cp.name}`;
    case 'roll-forward':
      // host or switched: the target slot is complete; converge on it
      await activateSlot(ctx, cp, j.to!, { journal: j, enable: j.op === 'install', start: j.wasActive, stopFirst: false });
      await journal.finish();
      return `completed the interrupted ${j.op} of ${cp.name}`;
    case 'forget':
      await journal.finish();
      return `completed the interrupted ${j.op} of ${cp.name}`;
  }
}

/** Host paths the slot's /exports/hostfs maps to (journal checks). */
function plannedHostfsOf(slotDir: string): string[] {
  try {
    const info = readInfo(slotDir);
    if (info.remote) return [];
    return plannedHostfsPaths(path.join(slotDir, 'rootfs'), info['rename-installed-files'] ?? {}, info.values ?? {});
  } catch {
    return [];
  }
}

/** Uninstall steps (§1.4), idempotent so an interrupted uninstall can be finished. Returns the host files left alone (not written by atomic). */
export async function finishUninstall(ctx: DeployContext, cp: ContainerPaths): Promise<string[]> {
  const sd = systemdFor(ctx);
  const slot = currentSlot(cp);
  let checksums: Record<string, string> = {};
  let serviceExpected = false;
  let runtime: string | undefined;
  if (slot !== null) {
    try {
      const info = JSON.parse(fs.readFileSync(`${cp.slotDir(slot)}/info`, 'utf8')) as { 'installed-files-checksum'?: Record<string, string>; 'has-container-service'?: boolean; runtime?: string };
      checksums = info['installed-files-checksum'] ?? {};
      serviceExpected = info['has-container-service'] !== false;
      runtime = info.runtime;
    } catch {
      /* half-written slot: remove what is there */
    }
  }
  // only host files atomic wrote (equal to a slot's copy) are disabled, --remove'd and deleted
  const own = containerHostFiles(cp);
  const kept: string[] = [];
  if (own.unit === 'foreign') kept.push(cp.hostUnit);
  if (own.tmpfiles === 'foreign') kept.push(cp.hostTmpfiles);
  const hasService = own.unit === 'ours' || (own.unit === 'absent' && serviceExpected);
  if (hasService) sd.disableNow(unitName(cp.name));
  // nothing of the container may outlive the unit: a runc that was killed leaves it running
  if (hasService && !sd.offline) sd.reapContainer(runtime ?? defaultRuntime(), cp.name);
  faultPoint('uninstall:disabled');
  if (own.unit === 'ours') await removeDurable(cp.hostUnit);
  await removeOptionFiles(ctx.paths, cp, (l) => ctx.out.line(l));
  faultPoint('uninstall:unit-removed');
  if (hasService) {
    try {
      sd.daemonReload();
    } catch {
      /* errors ignored, as atomic did */
    }
    sd.resetFailed(unitName(cp.name));
  }
  if (own.tmpfiles === 'ours') {
    sd.tmpfilesRemove(cp.hostTmpfiles);
    await removeDurable(cp.hostTmpfiles);
  }
  for (const m of removeHostfs(ctx.paths.sysroot, checksums)) ctx.out.line(m);
  faultPoint('uninstall:host-cleaned');
  if (slot !== null) await removeDurable(cp.link);
  faultPoint('uninstall:unlinked');
  for (const s of [0, 1] as const) if (isSlotDir(cp.slotDir(s))) removeTreeSync(cp.slotDir(s));
  dropQuarantine(cp);
  fs.rmSync(lastResultFile(cp), { force: true });
  for (const f of kept) ctx.out.warn(`Will not delete ${f}: it was not written by atomic (it differs from the deployment's copy).`);
  return kept;
}

/**
 * Repair every container whose last operation was interrupted (a journal whose writer is gone),
 * skipping containers another command is working on right now. Read-only commands call this so
 * what they show is never a half-switched deployment.
 */
export async function recoverInterrupted(ctx: DeployContext): Promise<void> {
  const dir = path.join(ctx.paths.checkoutRoot, '.atomic', 'journal');
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5));
  } catch {
    return;
  }
  for (const name of names) {
    if (!isValidContainerName(name)) continue; // not a journal we could have written
    const cp = containerPaths(ctx.paths, name);
    let lock;
    try {
      lock = await lockContainer(cp, 200);
    } catch {
      continue; // busy: its owner is alive and will finish
    }
    try {
      const done = await recoverContainer(ctx, cp);
      if (done) ctx.out.warn(`Note: ${done}`);
    } catch (e) {
      ctx.out.warn(`Warning: could not recover container ${name}: ${(e as Error).message}`);
    } finally {
      await lock.release();
    }
  }
}

/** Does `e` (or anything in its cause chain) come from ENOSPC? */
function isNoSpace(e: unknown): e is Error {
  for (let c: unknown = e, i = 0; c instanceof Error && i < 10; c = c.cause, i++) {
    if ((c as NodeJS.ErrnoException).code === 'ENOSPC' || /no space left on device/i.test(c.message)) return true;
  }
  return false;
}

/**
 * Turn a "no space left on device" from anywhere below (store, checkout, render, atomic writes)
 * into one clear error that names the path (the file being written when the error knows it, else
 * the directory the operation writes to) and says that the previous state was kept.
 */
export function explainNoSpace(e: unknown, op: string, ctx: DeployContext, cp: ContainerPaths): unknown {
  if (!isNoSpace(e)) return e;
  let file: string | undefined;
  for (let c: unknown = e, i = 0; c instanceof Error && i < 10; c = c.cause, i++) file ??= (c as NodeJS.ErrnoException).path;
  const where = file ?? `${cp.checkoutRoot} (image store ${ctx.paths.repoPath})`;
  const detail = (e as Error).message.replace(/^Error: /, '');
  return new AtomicError('IO', `${op} ${cp.name}: no space left on device writing ${where} (${detail})`, {
    cause: e,
    suggestions: [`Free space on the filesystem holding ${file ? path.dirname(file) : cp.checkoutRoot} (df -h ${file ? path.dirname(file) : cp.checkoutRoot}) and run the command again; the previous state of ${cp.name} was kept.`],
  });
}

/**
 * Run a deploying operation (install, update) under the container's lock and a shared hold on the
 * store from image resolution to the end of the checkout, so a concurrent `images prune`
 * (exclusive) cannot delete the layers the deployment is built from. ENOSPC is explained.
 */
export async function withDeployLocks<T>(ctx: DeployContext, cp: ContainerPaths, op: string, fn: () => Promise<T>): Promise<T> {
  let lock;
  try {
    fs.mkdirSync(ctx.paths.checkoutRoot, { recursive: true });
    lock = await lockContainer(cp);
  } catch (e) {
    throw explainNoSpace(e, op, ctx, cp);
  }
  try {
    const storeLock = await acquireRepoLock((await ctx.repo()).path, 'shared');
    try {
      return await fn();
    } finally {
      await storeLock.release();
    }
  } catch (e) {
    throw explainNoSpace(e, op, ctx, cp);
  } finally {
    await lock.release();
  }
}
