/**
 * Runs the parts of a checkout (checkout-part.ts), each exactly once, on the checking-out thread
 * and on the store's I/O workers (write-pool.ts) when the caller wants them: parts are added while
 * checkout.ts still plans the rest of the tree, and the workers start on them at once (at most two
 * in flight per worker); once the plan is complete the checking-out thread runs parts from the
 * back while the workers go on from the front, then it takes back the parts sent to a worker that
 * has not started them (a worker still booting). Who runs a part is decided by its claim flag in
 * one shared Int32Array (Atomics.compareExchange). After a failure no part starts any more, and
 * every part that did has finished when `finish` or `abort` returns or throws (the caller then
 * removes the tree).
 */
import { deserializeError, writePool } from './write-pool.js';
import { runCheckoutPart, type PartJob, type PartReply } from './checkout-part.js';

/** What checkout.ts plans for a part (the rest of the job is the same for all parts). */
export type PartSpec = Pick<PartJob, 'parents' | 'dirs' | 'modes' | 'sums' | 'linkParents' | 'linkNames' | 'symlinkTargets' | 'symlinkParents' | 'symlinkNames'> & {
  sigs: string[];
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
  private front = 0;
  private back = Infinity;
  private outstanding = 0;
  private limit: number;

  constructor(
    maxParts: number,
    workers: boolean,
    private readonly o: { objects: string; check: boolean; verify: boolean },
  ) {
    this.claims = new Int32Array(new SharedArrayBuffer(4 * Math.max(maxParts, 1)));
    this.limit = workers ? writePool().parallelism * 2 : 0;
  }

  add(spec: PartSpec): void {
    if (this.parts.length >= this.claims.length) throw new Error('checkout: more parts than planned');
    this.parts.push(spec);
    this.send();
  }

  private job(k: number): Omit<PartJob, 't' | 'id'> {
    const s = this.parts[k]!;
    return { ...s, claims: this.claims, index: k, objects: this.o.objects, check: this.o.check, sigs: this.o.verify ? s.sigs : null };
  }

  private take(k: number, r: PartReply): void {
    if (r.err !== undefined && this.failure === null) this.failure = deserializeError(r.err);
    if (r.ran) this.replies[k] = r;
  }

  private send(): void {
    const pool = writePool();
    while (this.failure === null && this.outstanding < this.limit && this.front < Math.min(this.parts.length, this.back)) {
      const k = this.front;
      const sent = pool.part(this.job(k));
      if (sent === null) {
        this.limit = 0;
        return;
      }
      this.front++;
      this.outstanding++;
      partsToWorkers++;
      const done = (r: PartReply): void => {
        this.outstanding--;
        this.take(k, r);
        this.send();
      };
      const failed = (e: unknown): void => {
        this.outstanding--;
        if (this.failure === null) this.failure = e;
      };
      this.inflight.push(sent.then(done, failed));
    }
  }

  /** Run what is left (see the module comment); the replies, one per part. */
  async finish(): Promise<PartReply[]> {
    this.back = this.parts.length;
    while (this.failure === null && this.back > this.front) {
      const k = --this.back;
      this.take(k, runCheckoutPart({ ...this.job(k), t: 'part', id: 0 }));
      if (this.limit > 0) await new Promise((r) => setImmediate(r)); // the workers' replies come in here
    }
    for (let k = this.front - 1; k >= 0 && this.failure === null; k--) this.take(k, runCheckoutPart({ ...this.job(k), t: 'part', id: 0 }));
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
