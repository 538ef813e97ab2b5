/** Small file helpers for deployments: durable writes, copies, and making a checkout durable. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { atomicWrite, fsyncDir } from '../util/atomic-write.js';
import { runPool } from '../util/promise-pool.js';
import { fsa } from '../util/fs-async.js';

/** Make everything under `dir` durable (one syncfs of its filesystem). */
export function syncFilesystem(dir: string): void {
  spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
}

/** Up to this many directories and files, a slot is made durable entry by entry, else with one syncfs. */
export const FSYNC_TREE_LIMIT = 2000;

/**
 * Make everything under `dir` durable. A syncfs (`sync -f`) also waits for every other process's
 * dirty data on the filesystem (0.05-0.25 s on a busy host); a small slot instead gets an fsync of
 * each directory (its new entries: hardlinks to store objects, symlinks, subdirectories, and its
 * own metadata) and of each regular file (copies, and the store objects' inodes, whose link count
 * the checkout raised; their contents were made durable by the store's commit). On a journaling
 * filesystem each of these fsyncs commits the transaction holding the whole checkout. A symlink
 * that is not a hardlink of a store object (bare-user checkouts create real symlinks; a symlink
 * cannot be fsynced), an entry we cannot open, or more than FSYNC_TREE_LIMIT entries: one syncfs.
 */
export async function syncTree(dir: string): Promise<void> {
  const targets: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    targets.push(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) targets.push(p);
      else if (!e.isSymbolicLink() || fs.lstatSync(p).nlink < 2) return syncFilesystem(dir);
      if (targets.length + stack.length > FSYNC_TREE_LIMIT) return syncFilesystem(dir);
    }
  }
  try {
    await runPool(targets, 8, async (p) => {
      const fh = await fsa.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  } catch {
    syncFilesystem(dir);
  }
}

/**
 * Write FILE of a staging directory (deploy/prepare-slot.ts): created exclusively, no temp file and
 * no fsync of its own; the whole staging directory is made durable (syncTree) before it is
 * swapped in, and a staging directory left by a crash is removed by the next attempt.
 */
export function writeStaged(file: string, text: string, mode?: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: mode ?? 0o644, flag: 'wx' });
  if (mode !== undefined) fs.chmodSync(file, mode);
}

export async function writeDurable(file: string, text: string, mode = 0o644): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await atomicWrite(file, text, { mode });
}

export async function copyDurable(from: string, to: string): Promise<void> {
  await writeDurable(to, fs.readFileSync(from, 'utf8'));
}

export async function removeDurable(file: string): Promise<boolean> {
  try {
    fs.unlinkSync(file);
  } catch {
    return false;
  }
  await fsyncDir(path.dirname(file));
  return true;
}

export function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
