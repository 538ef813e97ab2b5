/**
 * A small pool of I/O worker threads (write-worker.ts) shared by every transaction and checkout
 * of the process: the importing thread parses the tar while the workers hash and stage the small
 * content objects, and rename() batches (commit tail) and the parts of a checkout
 * (checkout-part.ts) run on them in parallel.
 *
 * - Size: ATOMIC_STORE_WORKERS=N forces N (0 disables the pool: everything runs on the calling
 *   thread); by default 2 when a core is idle (autoPoolSize), else none;
 *   ATOMIC_STORE_WORKERS_AUTO=0 turns that automatic choice off.
 * - Workers are started on first use and do not keep the process alive while idle (unref).
 * - A job goes to the worker with the fewest jobs in flight; a worker that dies fails its jobs
 *   with an error naming it and is replaced on the next use.
 */
import * as fs from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { atomicEnv } from '../util/env.js';
import { reapplyV8Flags } from '../util/v8-flags.js';
import type { FilesJob, FilesReply, MetaJob, MetaReply, RenameJob, RenameReply, SerializedError } from './write-worker.js';
import type { PartJob, PartMarkers, PartReply } from './checkout-part.js';

type Reply = FilesReply | RenameReply | MetaReply | PartReply;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>;
  /** The thread runs (its 'online' event came): a job sent now is taken up at once. */
  online: boolean;
}

function poolSize(): number {
  const env = atomicEnv('ATOMIC_STORE_WORKERS');
  if (env !== undefined && /^[0-9]+$/.test(env)) return Math.min(Number(env), 8);
  // ATOMIC_STORE_WORKERS_AUTO=0 turns the automatic choice off (no workers).
  if (atomicEnv('ATOMIC_STORE_WORKERS_AUTO') === '0') return 0;
  return autoPoolSize(availableParallelism(), loadavg()[0]!, othersRunnableNow());
}

/**
 * The automatic choice: workers only while a core is idle. On a saturated machine the extra
 * threads and messages cost CPU the single-threaded path does not spend (2 cores at a load average
 * of ~10-12: no wall-time gain, the same CPU, +45-55 MiB of peak RSS for the two isolates). A core
 * is idle when the 1-minute load average is below CPUs - 0.5, or when right now the other
 * processes' runnable tasks leave one free (`others` <= CPUs - 2): the average lags by a minute,
 * so after a heavy command (the pull or install before this one, as a playbook runs them) it
 * mostly reports that command's own past work, and the next one ran single-threaded on an idle
 * machine (the bench's import rounds flipped to 0 workers at a load of 1.4-1.5 that was their own).
 */
export function autoPoolSize(cpus: number, load1: number, others: number | null): number {
  if (cpus < 2) return 0;
  if (load1 < cpus - 0.5 || (others !== null && others <= cpus - 2)) return Math.min(2, cpus);
  return 0;
}

/**
 * Runnable tasks of other processes right now: /proc/loadavg's running count (every runnable
 * thread on the machine, ours included) minus this process's runnable threads
 * (/proc/self/task/TID/stat state R). null when /proc cannot tell.
 */
function othersRunnableNow(): number | null {
  try {
    const all = /^\S+ \S+ \S+ (\d+)\//.exec(fs.readFileSync('/proc/loadavg', 'latin1'));
    if (!all) return null;
    let mine = 0;
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        const st = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
        if (st.charAt(st.lastIndexOf(')') + 2) === 'R') mine++;
      } catch {
        /* the thread ended */
      }
    }
    return Math.max(0, Number(all[1]) - mine);
  } catch {
    return null;
  }
}

/** An Error with the errno fields of the worker's error (isErrno/wrapError read `code`). */
export function deserializeError(e: SerializedError): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(e.message);
  if (e.code !== undefined) err.code = e.code;
  if (e.syscall !== undefined) err.syscall = e.syscall;
  if (e.path !== undefined) err.path = e.path;
  return err;
}

class WritePool {
  private slots: Array<Slot | null>;
  private nextId = 1;
  private disabled = false;

  constructor(readonly size: number) {
    this.slots = Array.from({ length: size }, () => null);
  }

  get enabled(): boolean {
    return this.size > 0 && !this.disabled;
  }

  private start(i: number): Slot | null {
    let worker: Worker;
    try {
      // no inherited node flags: `--input-type`/`-e` of the parent make a worker fail to start
      worker = new Worker(new URL('./write-worker.js', import.meta.url), { execArgv: [] });
    } catch {
      this.disabled = true; // no workers here: callers do the work themselves
      return null;
    }
    const slot: Slot = { worker, pending: new Map(), online: false };
    worker.on('message', (r: Reply) => {
      const p = slot.pending.get(r.id);
      if (p === undefined) return;
      slot.pending.delete(r.id);
      if (slot.pending.size === 0) worker.unref();
      p.resolve(r);
    });
    const fail = (e: Error): void => {
      if (this.slots[i] === slot) this.slots[i] = null;
      for (const p of slot.pending.values()) p.reject(new Error(`store I/O worker failed: ${e.message}`));
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    // After the listeners: adding the first 'message' listener to a Worker ref()s its port again
    // (Node's setupPortReferencing), so an unref() before it left every idle worker's port
    // holding the process open - a CLI pull with workers on never exited.
    worker.unref();
    // Node resets V8's flags while a worker boots: the lean-heap settings of a pull (a young
    // generation kept at its initial size, no TurboFan) would be lost for the whole process
    worker.once('online', () => {
      slot.online = true;
      reapplyV8Flags();
    });
    this.slots[i] = slot;
    return slot;
  }

  private pick(): Slot | null {
    let best: Slot | null = null;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i] ?? this.start(i);
      if (s === null) return null;
      if (best === null || s.pending.size < best.pending.size) best = s;
    }
    return best;
  }

  private send<R extends Reply>(job: Omit<FilesJob, 'id'> | Omit<RenameJob, 'id'> | Omit<MetaJob, 'id'> | Omit<PartJob, 'id'>, transfer: ArrayBuffer[] = []): Promise<R> | null {
    const slot = this.pick();
    if (slot === null) return null;
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (r: Reply) => void, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage({ ...job, id }, transfer);
    });
  }

  /** Hash and stage a batch of small content objects; null when no worker is available. `job.buf` is transferred. */
  files(job: Omit<FilesJob, 'id' | 't'>): Promise<FilesReply> | null {
    return this.send<FilesReply>({ ...job, t: 'files' }, [job.buf.buffer as ArrayBuffer]);
  }

  /** Create a batch of metadata objects; null when no worker is available. `job.buf` is transferred. */
  meta(job: Omit<MetaJob, 'id' | 't'>): Promise<MetaReply> | null {
    return this.send<MetaReply>({ ...job, t: 'meta' }, [job.buf.buffer as ArrayBuffer]);
  }

  /** rename() each (from, to) pair; null when no worker is available. */
  rename(job: Omit<RenameJob, 'id' | 't'>): Promise<RenameReply> | null {
    return this.send<RenameReply>({ ...job, t: 'rename' });
  }

  /** Run a part of a checkout (checkout-part.ts); null when no worker is available. */
  part(job: Omit<PartJob, 'id' | 't'>): Promise<PartReply> | null {
    return this.send<PartReply>({ ...job, t: 'part' });
  }

  /**
   * Start the workers now (they boot while the caller prepares their first jobs); false when there
   * are none. No store operation calls it any more: a checkout does not start the workers
   * (checkout.ts, WARM_WORKERS_MIN_WEIGHT) and an import starts them with its first batch. Tests
   * use it to have them running, as they are after an import in the same process.
   */
  warm(): boolean {
    if (!this.enabled) return false;
    for (let i = 0; i < this.slots.length; i++) if ((this.slots[i] ?? this.start(i)) === null) return false;
    return true;
  }

  /** Have every started worker read a checkout's verified-object markers now (null: forget them; checkout-part.ts). */
  markers(m: PartMarkers | null): void {
    const turn = new Int32Array(new SharedArrayBuffer(4));
    let order = 0;
    for (const s of this.slots) if (s !== null) s.worker.postMessage(m === null ? { t: 'markers', markers: null } : { t: 'markers', markers: m, turn, order: order++ });
  }

  /** True when every worker of the pool has started and runs (false when there are none). */
  get online(): boolean {
    return this.enabled && this.slots.every((s) => s?.online === true);
  }

  /** Forget the objects/ listings cached for transaction `tx`. */
  endTx(tx: string): void {
    for (const s of this.slots) s?.worker.postMessage({ t: 'endtx', tx });
  }

  /** True once a worker runs (a job sent now does not wait for a thread to start). */
  get started(): boolean {
    return this.slots.some((s) => s !== null);
  }

  /** Number of workers rename batches can be spread over. */
  get parallelism(): number {
    return this.enabled ? this.size : 0;
  }
}

let pool: WritePool | null = null;

export function writePool(): WritePool {
  pool ??= new WritePool(poolSize());
  return pool;
}

/** The commit tail's renames into one objects/xx: `dir` is made first when not null. */
export interface RenameGroup {
  dir: string | null;
  pairs: string[];
}

/** mkdir each of `dirs` (EEXIST is fine), then rename() each (from, to) pair, here; how many dirs were made. */
function renameHere(dirs: string[], pairs: string[]): number {
  let made = 0;
  for (const d of dirs) {
    try {
      fs.mkdirSync(d, { mode: 0o755 });
      made++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  for (let k = 0; k < pairs.length; k += 2) fs.renameSync(pairs[k]!, pairs[k + 1]!);
  return made;
}

/**
 * The commit tail of a transaction: per group, make its objects/xx dir (when given) then rename()
 * its (from, to) pairs; over the pool's workers in parallel batches of whole groups (a dir is made
 * before the renames into it, by the thread that does them), or here when there is no pool or few
 * pairs. Returns how many dirs were created; throws the first failure once every batch sent has
 * finished.
 */
export async function renameBatches(groups: RenameGroup[]): Promise<number> {
  const p = writePool();
  let n = 0;
  for (const g of groups) n += g.pairs.length / 2;
  const batches = p.parallelism === 0 || n < 64 ? 1 : p.parallelism * 4;
  const per = Math.ceil(n / batches) * 2;
  const jobs: Array<Promise<RenameReply>> = [];
  let dirs: string[] = [];
  let pairs: string[] = [];
  const send = (): boolean => {
    const sent = batches > 1 ? p.rename({ dirs, pairs }) : null;
    if (sent !== null) jobs.push(sent);
    else {
      try {
        jobs.push(Promise.resolve({ id: 0, made: renameHere(dirs, pairs) }));
      } catch (e) {
        jobs.push(Promise.reject(e)); // every batch already sent is waited for below
        return false;
      }
    }
    dirs = [];
    pairs = [];
    return true;
  };
  let ok = true;
  for (const g of groups) {
    if (g.dir !== null) dirs.push(g.dir);
    for (const x of g.pairs) pairs.push(x);
    if (pairs.length >= per && !(ok = send())) break;
  }
  if (ok && (pairs.length > 0 || dirs.length > 0)) send();
  let made = 0;
  for (const r of await Promise.allSettled(jobs)) {
    if (r.status === 'rejected') throw r.reason;
    made += r.value.made;
    if (r.value.err) throw deserializeError(r.value.err);
  }
  return made;
}

/** Use a pool of `size` workers from now on (0: none); the previous pool's workers finish and exit. Tests use it to run both paths. */
export function configureWritePool(size: number): void {
  pool = new WritePool(size);
}
