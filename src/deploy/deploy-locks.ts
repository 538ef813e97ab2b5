/**
 * The locks a deploying operation holds: the container's lock (one operation per container at a
 * time) and, for install and update, a shared hold on the store. An operation a crash interrupted
 * is recovered first, under the same locks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeployContext } from './context.js';
import type { ContainerPaths } from './layout.js';
import { lockContainer } from './container-lock.js';
import { recoverContainer } from './recovery.js';
import { acquireRepoLock } from '../store/repo-lock.js';
import { AtomicError } from '../util/errors.js';

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
    suggestions: [
      `Free space on the filesystem holding ${file ? path.dirname(file) : cp.checkoutRoot} (df -h ${file ? path.dirname(file) : cp.checkoutRoot}) and run the command again; the previous state of ${cp.name} was kept.`,
    ],
  });
}

/**
 * Run a deploying operation (install, update) under the container's lock and a shared hold on the
 * store from image resolution to the end of the checkout, so a concurrent `images prune`
 * (exclusive) cannot delete the layers the deployment is built from. An interrupted operation is
 * recovered first (`fn` gets what recovery did, or null). ENOSPC is explained.
 */
export async function withDeployLocks<T>(ctx: DeployContext, cp: ContainerPaths, op: string, fn: (recovered: string | null) => Promise<T>): Promise<T> {
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
      return await fn(await recoverContainer(ctx, cp));
    } finally {
      await storeLock.release();
    }
  } catch (e) {
    throw explainNoSpace(e, op, ctx, cp);
  } finally {
    await lock.release();
  }
}

/**
 * Run an operation that builds nothing from the store (rollback, uninstall) under the container's
 * lock, after recovering an interrupted one (`fn` gets what recovery did, or null).
 */
export async function withContainerLock<T>(ctx: DeployContext, cp: ContainerPaths, fn: (recovered: string | null) => Promise<T>): Promise<T> {
  const lock = await lockContainer(cp);
  try {
    return await fn(await recoverContainer(ctx, cp));
  } finally {
    await lock.release();
  }
}
