/**
 * Crash-safe file replacement: write a temp file in the same directory, fsync it,
 * rename it over the target, fsync the directory. Every file replacement in the
 * project goes through here (refs, info files, units, config.json, ...).
 */
import { constants as C, appendFileSync, openSync, writeSync, fsyncSync, fchmodSync, closeSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { randomHex } from './random.js';
import { atomicEnv } from './env.js';
import { fsa as fsp } from './fs-async.js';

export interface AtomicWriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** fsync file and directory (default true). */
  fsync?: boolean;
}

/**
 * Fault seam for crash-injection tests. Every call is a numbered step boundary:
 * - ATOMIC_FAULT=<name> (or <prefix>*) kills the process (SIGKILL) when that point is reached;
 * - ATOMIC_FAULT_AT=<n> kills it at the n-th fault point reached (1-based), whatever its name;
 * - ATOMIC_FAULT_TRACE=<file> appends each point's name to <file> (to enumerate the steps).
 */
let faultCounter = 0;
/** Set when fault points are also reached on worker threads: one count for the whole process. */
let sharedFaultCounter: Int32Array | null = null;

/** The fault-point counter as shared memory, to hand to a worker thread (useSharedFaultCounter there). */
export function faultCounterBuffer(): SharedArrayBuffer {
  if (sharedFaultCounter === null) {
    sharedFaultCounter = new Int32Array(new SharedArrayBuffer(4));
    sharedFaultCounter[0] = faultCounter;
  }
  return sharedFaultCounter.buffer as SharedArrayBuffer;
}

/** In a worker thread: count fault points in the main thread's counter (ATOMIC_FAULT_AT=n stays the n-th of the process). */
export function useSharedFaultCounter(buf: SharedArrayBuffer): void {
  sharedFaultCounter = new Int32Array(buf);
}

export function faultPoint(name: string): void {
  if (sharedFaultCounter !== null) faultCounter = Atomics.add(sharedFaultCounter, 0, 1) + 1;
  else faultCounter++;
  const trace = atomicEnv('ATOMIC_FAULT_TRACE');
  if (trace) appendFileSync(trace, `${name}\n`);
  const at = atomicEnv('ATOMIC_FAULT_AT');
  const f = atomicEnv('ATOMIC_FAULT');
  if ((at && Number(at) === faultCounter) || (f && (f === name || (f.endsWith('*') && name.startsWith(f.slice(0, -1)))))) {
    process.kill(process.pid, 'SIGKILL');
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomHex(4)}`);
}

export async function atomicWrite(target: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempNameFor(target);
  const doSync = opts.fsync !== false;
  const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, opts.mode ?? 0o644);
  try {
    try {
      await fh.writeFile(data);
      if (opts.mode !== undefined) await fh.chmod(opts.mode);
      if (opts.uid !== undefined && opts.gid !== undefined) await fh.chown(opts.uid, opts.gid);
      if (doSync) await fh.sync();
    } finally {
      await fh.close();
    }
    faultPoint('atomic-write:before-rename');
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  if (doSync) await fsyncDir(path.dirname(target));
}

/**
 * The synchronous form of atomicWrite, for code that cannot await (the CNI state of
 * `containers network attach`): a fresh temp file (O_EXCL: a planted symlink at the temp name is
 * never followed), fsync, rename over the target (a symlink at the target is replaced, not followed).
 */
export function atomicWriteSync(target: string, data: string | Uint8Array, opts: { mode?: number } = {}): void {
  const tmp = tempNameFor(target);
  const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, opts.mode ?? 0o644);
  try {
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
      if (opts.mode !== undefined) fchmodSync(fd, opts.mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    faultPoint('atomic-write:before-rename');
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dfd = openSync(path.dirname(target), C.O_RDONLY | C.O_DIRECTORY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Replace (or create) symlink `link` to point at `target` atomically: temp link + rename. */
export async function atomicSymlink(target: string, link: string): Promise<void> {
  const tmp = tempNameFor(link);
  await fsp.symlink(target, tmp);
  faultPoint('atomic-symlink:before-rename');
  try {
    await fsp.rename(tmp, link);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(path.dirname(link));
}
