/**
 * Runs the parts of a checkout (checkout-part.ts), each exactly once, on the checking-out thread
 * and on the store's I/O workers (write-pool.ts) when the caller wants them. Each part goes to a
 * worker as soon as checkout.ts has planned it (planning is synchronous, so a worker must not
 * wait for this thread to send the next one). Once the plan is complete, this thread runs parts
 * itself, from the back while the workers go on from the front, only while that adds a core:
 * when the machine has more cores than workers, or while a worker has not come online yet (still
 * booting: the parts sent to it would wait). With as many workers as cores (2 here), the
 * workers run the parts and this thread, whose planning was the critical path, reads no markers
 * and makes no links. Who runs a part is decided by its claim flag in one shared Int32Array
 * (Atomics.compareExchange): a part this thread took back is skipped by its worker. After a
 * failure no part starts any more, and every part that did has finished when `finish` or `abort`
 * returns or throws (the caller then removes the tree).
 */
import { availableParallelism } from 'node:os';
import { deserializeError, writePool } from './write-pool.js';
import { runCheckoutPart, type PartJob, type PartMarkers, type PartReply } from './checkout-part.js';

/** What checkout.ts plans for a part (the rest of the job is the same for all parts). */
export type PartSpec = Pick<PartJob, 'parents' | 'dirs' | 'modes' | 'sums' | 'linkParents' | 'linkNames' | 'symlinkTargets' | 'symlinkParents' | 'symlinkNames'> & {
  weight: number;
};

/** Parts sent to the store's I/O workers in this process so far (tests check that the parallel path ran). */
let partsToWorkers = 0;
export function checkoutPartsSentToWorkers(): number {
  return partsToWorkers;
}

export class PartRunner {
  readonly parts: PartSpec[] = [];
  private readonly replies: PartReply[] = [];
  private readonly claims: Int32Array;
  private readonly inflight: Array<Promise<void>> = [];
  private failure: unknown = null;

  constructor(
    maxParts: number,
    private workers: boolean,
    private readonly o: { objects: string; check: boolean; markers: PartMarkers | null },
  ) {
    this.claims = new Int32Array(new SharedArrayBuffer(4 * Math.max(maxParts, 1)));
  }

  add(spec: PartSpec): void {
    if (this.parts.length >= this.claims.length) throw new Error('checkout: more parts than planned');
    this.parts.push(spec);
    if (this.workers && this.failure === null) this.send(this.parts.length - 1);
  }

  private job(k: number): Omit<PartJob, 't' | 'id'> {
    const s = this.parts[k]!;
    return { ...s, claims: this.claims, index: k, objects: this.o.objects, check: this.o.check, markers: this.o.markers };
  }

  private take(k: number, r: PartReply): void {
    if (r.err !== undefined && this.failure === null) this.failure = deserializeError(r.err);
    if (r.ran) this.replies[k] = r;
  }

  private send(k: number): void {
    const sent = writePool().part(this.job(k));
    if (sent === null) {
      this.workers = false; // no worker after all: this thread runs what was not sent
      return;
    }
    partsToWorkers++;
    this.inflight.push(
      sent.then(
        (r) => this.take(k, r),
        (e: unknown) => {
          if (this.failure === null) this.failure = e;
        },
      ),
    );
  }

  /** Whether this thread runs a part now (see the module comment). */
  private help(): boolean {
    if (!this.workers) return true;
    const pool = writePool();
    return availableParallelism() > pool.parallelism || !pool.online;
  }

  /** Run what is left (see the module comment); the replies, one per part. */
  async finish(): Promise<PartReply[]> {
    for (let k = this.parts.length - 1; k >= 0 && this.failure === null && this.help(); k--) {
      this.take(k, runCheckoutPart({ ...this.job(k), t: 'part', id: 0 }));
      if (this.workers) await new Promise((r) => setImmediate(r)); // the workers' replies and 'online' events come in here
    }
    await this.abort();
    return this.replies;
  }

  /** Start no more parts; wait for the running ones; throw the first failure. */
  async abort(): Promise<void> {
    if (this.failure !== null) for (let k = 0; k < this.claims.length; k++) Atomics.compareExchange(this.claims, k, 0, 1);
    await Promise.all(this.inflight);
    if (this.failure !== null) throw this.failure;
  }

  /** After an error of the caller: cancel every part not started, wait for the running ones. */
  async cancel(): Promise<void> {
    this.failure ??= new Error('checkout cancelled');
    await this.abort().catch(() => undefined);
  }
}
