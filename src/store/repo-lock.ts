/**
 * Shared/exclusive repository lock without flock (Node has none): files under
 * `<repo>/.atomic-lock.d/`, each holding "<pid> <start-time> <token>". A holder whose pid is
 * gone, or whose pid was reused (different /proc/<pid>/stat start time), is stale and removed.
 *
 * exclusive: create `exclusive` atomically (link of a fully written temp file), then wait for
 *            live `shared-*` holders to drain. Writers are not starved: new shared lockers
 *            back off while `exclusive` exists.
 * shared:    wait until no live `exclusive`, publish `shared-<pid>-<token>`, re-check; if an
 *            exclusive appeared meanwhile, withdraw and wait again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomHex } from '../util/random.js';
import { AtomicError, isErrno } from '../util/errors.js';
import { EXCLUSIVE_LOCK_NAME, LOCK_DIR, SHARED_LOCK_PREFIX } from './constants.js';
import { atomicEnv } from '../util/env.js';
import { fsa as fsp } from '../util/fs-async.js';

export type LockMode = 'shared' | 'exclusive';

export interface RepoLock {
  readonly mode: LockMode;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Give up after this long (default: ATOMIC_LOCK_TIMEOUT seconds, else 300 s). */
  timeoutMs?: number;
}

interface Holder {
  pid: number;
  start: string;
  token: string;
}

const held = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const f of held) {
      try {
        fs.unlinkSync(f);
      } catch {
        /* best effort */
      }
    }
  });
}

/** Start time (clock ticks since boot, field 22 of /proc/<pid>/stat) or null if the process is gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

let selfStart: string | undefined;
function ownStartTime(): string {
  selfStart ??= processStartTime(process.pid) ?? '0';
  return selfStart;
}

/** Is the process recorded as `pid`/`start` still running (and the same process)? */
export function isProcessAlive(pid: number, start?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processStartTime(pid);
  if (now === null) return false;
  return start === undefined || start === now;
}

function parseHolder(text: string): Holder | null {
  const m = /^(\d+) (\d+) (\S+)\n?$/.exec(text);
  if (!m) return null;
  return { pid: Number(m[1]), start: m[2]!, token: m[3]! };
}

async function readHolder(file: string): Promise<Holder | null | 'gone'> {
  try {
    return parseHolder(await fsp.readFile(file, 'utf8'));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return 'gone';
    throw e;
  }
}

function defaultTimeoutMs(): number {
  const env = Number(atomicEnv('ATOMIC_LOCK_TIMEOUT'));
  return Number.isFinite(env) && env >= 0 ? env * 1000 : 300_000;
}

/** Write `content` to a temp file in `dir`; returns its path. */
async function writeTemp(dir: string, content: string): Promise<string> {
  const tmp = path.join(dir, `.tmp-${process.pid}-${randomHex(6)}`);
  await fsp.writeFile(tmp, content, { mode: 0o644, flag: 'wx' });
  return tmp;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function busy(repoPath: string, mode: LockMode, holder: Holder | null, heldAs: string): AtomicError {
  const who = holder ? `process ${holder.pid}` : 'another process';
  return new AtomicError('LOCK_BUSY', `repository ${repoPath} is locked (${heldAs}) by ${who}; could not take the ${mode} lock in time`, {
    ref: repoPath,
    suggestions: [
      'Retry when the other atomic command has finished (or raise ATOMIC_LOCK_TIMEOUT, in seconds).',
      holder ? `Check the process: ps -o pid,args -p ${holder.pid}` : `Look at the holders in ${path.join(repoPath, LOCK_DIR)}.`,
    ],
  });
}

/**
 * Remove `file` if it still holds the stale `holder`. The file is first renamed to a unique
 * name so that a concurrent breaker cannot delete a fresh lock taken in between; if the
 * renamed file turns out to be someone else's, it is put back.
 */
async function breakStale(file: string, holder: Holder | null): Promise<void> {
  const grave = `${file}.stale-${process.pid}-${randomHex(4)}`;
  try {
    await fsp.rename(file, grave);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  const now = await readHolder(grave);
  const same = now !== 'gone' && ((now === null && holder === null) || (now !== null && holder !== null && now.token === holder.token));
  if (!same) {
    try {
      await fsp.link(grave, file);
    } catch {
      /* someone else took it meanwhile; theirs stands */
    }
  }
  await fsp.rm(grave, { force: true });
}

async function isStaleFile(file: string, holder: Holder | null): Promise<boolean> {
  if (holder) return !isProcessAlive(holder.pid, holder.start);
  // unparseable: only stale once old (never produced by us: we publish complete files)
  try {
    const st = await fsp.stat(file);
    return Date.now() - st.mtimeMs > 10_000;
  } catch {
    return false;
  }
}

/** Live exclusive holder, or null (a stale one is broken on the way). */
async function liveExclusive(dir: string): Promise<Holder | null | 'unknown'> {
  const file = path.join(dir, EXCLUSIVE_LOCK_NAME);
  const h = await readHolder(file);
  if (h === 'gone') return null;
  if (await isStaleFile(file, h)) {
    await breakStale(file, h);
    return null;
  }
  return h ?? 'unknown';
}

/** Live shared holders (stale ones are removed). */
async function liveShared(dir: string, exceptFile?: string): Promise<Holder[]> {
  const out: Holder[] = [];
  for (const name of await fsp.readdir(dir)) {
    if (!name.startsWith(SHARED_LOCK_PREFIX)) continue;
    const file = path.join(dir, name);
    if (file === exceptFile) continue;
    const h = await readHolder(file);
    if (h === 'gone') continue;
    if (await isStaleFile(file, h)) await fsp.rm(file, { force: true });
    else if (h) out.push(h);
  }
  return out;
}

/** Pids holding a live lock on the repo (used to decide whether a staging dir is abandoned); stale shared files are removed. */
export async function liveLockPids(repoPath: string): Promise<Set<number>> {
  const dir = path.join(repoPath, LOCK_DIR);
  const pids = new Set<number>();
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return pids;
    throw e;
  }
  for (const name of names) {
    if (name !== EXCLUSIVE_LOCK_NAME && !name.startsWith(SHARED_LOCK_PREFIX)) continue;
    const file = path.join(dir, name);
    const h = await readHolder(file);
    if (h === 'gone') continue;
    if (h && isProcessAlive(h.pid, h.start)) pids.add(h.pid);
    else if (name !== EXCLUSIVE_LOCK_NAME && (await isStaleFile(file, h))) await fsp.rm(file, { force: true }); // unique name: safe to drop
  }
  return pids;
}

/** One acquisition attempt: where, until when, what the lock file says, and the back-off. */
interface Attempt {
  repoPath: string;
  dir: string;
  deadline: number;
  token: string;
  content: string;
  wait: () => Promise<void>;
}

const asHolder = (h: Holder | 'unknown' | null): Holder | null => (h === 'unknown' ? null : h);

export async function acquireRepoLock(repoPath: string, mode: LockMode, opts: LockOptions = {}): Promise<RepoLock> {
  const dir = path.join(repoPath, LOCK_DIR);
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  installExitHook();
  const token = randomHex(8);
  let delay = 10;
  const a: Attempt = {
    repoPath,
    dir,
    deadline: Date.now() + (opts.timeoutMs ?? defaultTimeoutMs()),
    token,
    content: `${process.pid} ${ownStartTime()} ${token}\n`,
    wait: async () => {
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    },
  };
  return mode === 'exclusive' ? acquireExclusive(a) : acquireShared(a);
}

/** Exclusive: become the holder of the exclusive file (link(2) fails while another holds it), then wait for the readers to drain. */
async function acquireExclusive(a: Attempt): Promise<RepoLock> {
  const file = path.join(a.dir, EXCLUSIVE_LOCK_NAME);
  for (;;) {
    const tmp = await writeTemp(a.dir, a.content);
    try {
      await fsp.link(tmp, file);
      break;
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    const h = await liveExclusive(a.dir);
    if (h === null) continue;
    if (Date.now() >= a.deadline) throw busy(a.repoPath, 'exclusive', asHolder(h), 'exclusive');
    await a.wait();
  }
  held.add(file);
  const release = async () => {
    held.delete(file);
    const h = await readHolder(file);
    if (h !== 'gone' && h?.token === a.token) await fsp.rm(file, { force: true });
  };
  for (;;) {
    const readers = await liveShared(a.dir);
    if (readers.length === 0) break;
    if (Date.now() >= a.deadline) {
      await release();
      throw busy(a.repoPath, 'exclusive', readers[0]!, 'shared');
    }
    await a.wait();
  }
  return { mode: 'exclusive', release };
}

/**
 * Shared: re-entrant within a process. A shared lock this process already holds (e.g. install
 * holding the store while its pull opens transactions) is shared again, never queued behind a
 * waiting exclusive locker (that would deadlock: the exclusive waits for our first shared lock).
 */
async function acquireShared(a: Attempt): Promise<RepoLock> {
  const mine = sharedHeld.get(a.dir);
  if (mine) {
    mine.count++;
    try {
      await mine.ready; // the first acquisition of this process may still be in progress
    } catch (e) {
      mine.count--;
      throw e;
    }
    return sharedHandle(a.dir);
  }
  const file = path.join(a.dir, `${SHARED_LOCK_PREFIX}${process.pid}-${a.token}`);
  let ready!: { resolve: () => void; reject: (e: unknown) => void };
  const entry = { count: 1, file, ready: new Promise<void>((resolve, reject) => (ready = { resolve, reject })) };
  entry.ready.catch(() => undefined);
  sharedHeld.set(a.dir, entry);
  try {
    await publishShared(a, file);
  } catch (e) {
    sharedHeld.delete(a.dir);
    ready.reject(e);
    throw e;
  }
  ready.resolve();
  return sharedHandle(a.dir);
}

/** Write our shared file while no exclusive holder is live, and keep it only if none appeared meanwhile. */
async function publishShared(a: Attempt, file: string): Promise<void> {
  for (;;) {
    const h = await liveExclusive(a.dir);
    if (h === null) {
      const tmp = await writeTemp(a.dir, a.content);
      await fsp.rename(tmp, file);
      held.add(file);
      const again = await liveExclusive(a.dir);
      if (again === null) return;
      held.delete(file);
      await fsp.rm(file, { force: true });
      if (Date.now() >= a.deadline) throw busy(a.repoPath, 'shared', asHolder(again), 'exclusive');
    } else if (Date.now() >= a.deadline) {
      throw busy(a.repoPath, 'shared', asHolder(h), 'exclusive');
    }
    await a.wait();
  }
}

/** One use of this process's shared lock on `dir`; releasing twice is harmless. */
function sharedHandle(dir: string): RepoLock {
  let released = false;
  return {
    mode: 'shared',
    release: async () => {
      if (released) return;
      released = true;
      await releaseShared(dir);
    },
  };
}

/** Shared locks this process holds, per lock dir, with a use count. */
const sharedHeld = new Map<string, { count: number; file: string; ready: Promise<void> }>();

async function releaseShared(dir: string): Promise<void> {
  const mine = sharedHeld.get(dir);
  if (!mine) return;
  mine.count--;
  if (mine.count > 0) return;
  sharedHeld.delete(dir);
  held.delete(mine.file);
  await fsp.rm(mine.file, { force: true });
}
