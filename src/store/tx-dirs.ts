/**
 * What one transaction has learnt about the 256 `objects/xx` directories and the `xx/`
 * subdirectories of its staging dir, shared (one SharedArrayBuffer) by the importing thread and
 * the store's I/O workers (write-worker.ts), so that each fact costs one syscall per transaction
 * instead of one per thread: on a fresh repository every thread used to find each objects/xx
 * absent (statx -> ENOENT) and try to make each staging xx/ the other thread had made
 * (mkdir -> EEXIST), ~1,000 syscalls per import; and the commit tail makes only the objects/xx
 * dirs nobody found (on the workers, write-pool.ts renameBatches).
 * Plain module (no imports): the workers load it.
 */

/** objects/xx was absent when first looked at: its listing is empty (the rule in transaction.ts). */
export const OBJ_ABSENT = 1;
/** objects/xx existed when looked at (objects are only removed under the exclusive lock: it still does). */
export const OBJ_PRESENT = 2;
/** The staging dir's xx/ exists. */
export const STAGE_MADE = 4;

export type DirState = Int32Array;

export function newDirState(): DirState {
  return new Int32Array(new SharedArrayBuffer(256 * 4));
}

/** Index of `xx` (two lowercase hex digits). */
export function subIndex(sub: string): number {
  return parseInt(sub, 16);
}

export function hasFlag(s: DirState, sub: string, flag: number): boolean {
  return (Atomics.load(s, subIndex(sub)) & flag) !== 0;
}

export function setFlag(s: DirState, sub: string, flag: number): void {
  Atomics.or(s, subIndex(sub), flag);
}
