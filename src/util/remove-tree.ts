/**
 * `rm -rf` that also removes what a non-root checkout made read-only: when the plain recursive
 * removal fails (a 0555 directory cannot lose its entries), every directory below `p` is opened
 * up (0700) and the removal is tried once more; that second failure is thrown. A missing `p` is
 * not an error. `keepRoot` empties `p` and keeps the directory itself.
 */
import * as fs from 'node:fs';
import { fsa as fsp } from './fs-async.js';
import * as path from 'node:path';

export interface RemoveTreeOptions {
  /** Remove what is inside `p`, keep `p`. */
  keepRoot?: boolean;
}

const RM = { recursive: true, force: true } as const;

export function removeTreeSync(p: string, opts: RemoveTreeOptions = {}): void {
  const rm = (): void => {
    if (!opts.keepRoot) return fs.rmSync(p, RM);
    for (const n of fs.readdirSync(p)) fs.rmSync(path.join(p, n), RM);
  };
  try {
    rm();
    return;
  } catch {
    /* open up read-only directories and retry */
  }
  const open = (d: string): void => {
    try {
      fs.chmodSync(d, 0o700);
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path.join(d, e.name));
    } catch {
      /* best effort */
    }
  };
  open(p);
  rm();
}

export async function removeTree(p: string, opts: RemoveTreeOptions = {}): Promise<void> {
  const rm = async (): Promise<void> => {
    if (!opts.keepRoot) return fsp.rm(p, RM);
    for (const n of await fsp.readdir(p)) await fsp.rm(path.join(p, n), RM);
  };
  try {
    await rm();
    return;
  } catch {
    /* open up read-only directories and retry */
  }
  const open = async (d: string): Promise<void> => {
    await fsp.chmod(d, 0o700).catch(() => undefined);
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await open(path.join(d, e.name));
  };
  await open(p);
  await rm();
}
