/**
 * One layer's import and commit on a worker thread (image/layer-worker-thread.ts), so that the
 * layers of a pull are decompressed, parsed and stored on as many cores as there are layers in
 * flight, and a single layer's parsing runs beside the main thread's HTTP and digest work.
 *
 * The main thread keeps the blob: it reads the verified stream (size and digest are checked
 * here, as before) and posts its bytes to the worker in transferred batches, at most WINDOW
 * bytes ahead of what the worker's importer has taken (back-pressure: the blob is paused). The
 * worker posts the import result; the caller checks it (diff_id), then asks for the commit or an
 * abort. The caller holds the store's shared lock for the whole transaction (the worker's
 * transaction borrows it).
 *
 * Failures: the worker's errors arrive with their code, message, suggestions and exit code
 * (layer-worker-protocol.ts); a verification error of the blob wins over the importer's error, as
 * on the main thread (store-destination.ts importVerified). A worker that dies (crash, exit)
 * fails the layer with INTERNAL, and its staging directory is removed here. abort() always
 * leaves no staging behind.
 */
import { promises as fsp } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { AtomicError } from '../util/errors.js';
import { atomicEnv } from '../util/env.js';
import { faultCounterBuffer } from '../util/atomic-write.js';
import { reapplyV8Flags } from '../util/v8-flags.js';
import type { LayerImportResult } from '../store/layer-import.js';
import type { Checksum, Commit } from '../store/types.js';
import { Transaction } from '../store/transaction.js';
import { deserializeError, serializeError, type LayerWorkerData, type LayerWorkerIn, type LayerWorkerOut } from './layer-worker-protocol.js';

/**
 * Bytes posted to the worker and not yet taken by its importer, at most. Small on purpose: the
 * posted chunks are transferred, and their memory is freed only by a garbage collection of the
 * worker's heap; chunks that wait long enough to be promoted to its old generation pile up until
 * a full collection (measured on the Debian pull: peak RSS 124-133 MiB with 4 MiB, 97-99 MiB
 * with 512 KiB, the main-thread import 74-76 MiB; docs/benchmarks.md, "Pull").
 */
const WINDOW = 512 * 1024;
/** Blob chunks are copied into batches of about this size before they are posted. */
const BATCH = 64 * 1024;

export interface FeedOptions {
  onWarning?(msg: string): void;
  onBytes?(n: number): void;
  signal?: AbortSignal;
}

const noop = (): void => undefined;

export class LayerImportWorker {
  private readonly worker: Worker;
  private readonly mailbox: LayerWorkerOut[] = [];
  private wake: (() => void) | null = null;
  private dead: Error | null = null;
  private finished = false;
  /** The worker's transaction has ended (error, aborted or committed posted). */
  private txDone = false;
  /** The worker's staging dir (chosen here: see LayerWorkerData.stagingDir), removed by close(). */
  private readonly staging: string;
  private onWarning: ((m: string) => void) | null = null;
  private onAck: (() => void) | null = null;
  /** Bytes posted and not acknowledged. */
  private inflight = 0;

  constructor(repoPath: string, likely?: LayerWorkerData['likely']) {
    this.staging = Transaction.newStagingDir(repoPath);
    const data: LayerWorkerData = { repoPath, stagingDir: this.staging, faultCounter: faultCounterBuffer(), likely };
    // no inherited node flags (`-e`/`--input-type` of the parent make a worker fail to start);
    // the store's I/O workers stay off inside: the layers' threads are the parallelism here
    this.worker = new Worker(new URL('./layer-worker-thread.js', import.meta.url), {
      workerData: data,
      execArgv: [],
      env: { ...process.env, ATOMIC_STORE_WORKERS: atomicEnv('ATOMIC_STORE_WORKERS') ?? '0' },
    });
    // Node resets V8's flags while a worker boots: the lean-heap settings of a pull would be lost
    // for the whole process (this worker's heap and the main thread's)
    this.worker.once('online', reapplyV8Flags);
    this.worker.on('message', (m: LayerWorkerOut) => this.receive(m));
    this.worker.on('error', (e) =>
      this.die(
        new AtomicError('INTERNAL', `layer import worker failed: ${e.message}`, {
          cause: e,
          suggestions: ['Pull the image again; ATOMIC_LAYER_WORKERS=0 imports on the main thread.'],
        }),
      ),
    );
    this.worker.on('exit', (code) =>
      this.die(
        new AtomicError('INTERNAL', `layer import worker exited unexpectedly (exit code ${code})`, {
          suggestions: ['Pull the image again; ATOMIC_LAYER_WORKERS=0 imports on the main thread.'],
        }),
      ),
    );
  }

  private receive(m: LayerWorkerOut): void {
    switch (m.type) {
      case 'ack':
        this.inflight -= m.bytes;
        this.onAck?.();
        return;
      case 'warning':
        this.onWarning?.(m.msg);
        return;
      default:
        if (m.type === 'error' || m.type === 'aborted' || m.type === 'committed') this.txDone = true;
        this.mailbox.push(m);
        this.wake?.();
    }
  }

  private die(e: Error): void {
    if (this.dead !== null) return;
    this.dead = e;
    this.wake?.();
    this.onAck?.();
  }

  private post(m: LayerWorkerIn, transfer?: ArrayBuffer[]): void {
    if (this.dead === null) this.worker.postMessage(m, transfer ?? []);
  }

  /** The next result message; an `error` message is thrown with its code and message. */
  private async next(): Promise<LayerWorkerOut> {
    for (;;) {
      const m = this.mailbox.shift();
      if (m !== undefined) {
        if (m.type === 'error') throw deserializeError(m.error);
        return m;
      }
      if (this.dead !== null) throw this.dead;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  /**
   * Feed the verified `blob` to the worker's importer; resolves with the import result once the
   * whole blob has been read and verified (the importer may finish first: the rest is drained).
   */
  async importVerified(blob: NodeJS.ReadableStream, opts: FeedOptions = {}): Promise<LayerImportResult> {
    this.onWarning = opts.onWarning ?? null;
    let verifyError: unknown = null;
    const ended = new Promise<void>((resolve, reject) => {
      blob.on('end', resolve);
      blob.on('error', (e) => {
        verifyError = e;
        reject(e);
      });
    });
    ended.catch(noop);
    // A verification failure ends the import even when the importer is not reading.
    const verifyFailed = new Promise<never>((_resolve, reject) => blob.on('error', reject));
    verifyFailed.catch(noop);

    const feeding = this.feed(blob, opts.onBytes);
    // Aborted (another layer of the pull failed): fail the blob, which ends the import.
    const signal = opts.signal;
    const onAbort = (): void => {
      const reason: unknown = signal!.reason;
      (blob as { destroy?: (e: Error) => void }).destroy?.(reason instanceof Error ? reason : new Error(String(reason)));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const stopFeeding = (): void => feeding.stop();
    try {
      const imported = (async () => {
        const m = await this.next();
        if (m.type !== 'imported') throw new AtomicError('INTERNAL', `layer import worker answered ${m.type} instead of the import result`);
        return m.result;
      })();
      imported.catch(noop);
      const res = await Promise.race([imported, verifyFailed]);
      stopFeeding();
      await ended;
      return res;
    } catch (e) {
      stopFeeding();
      if (verifyError) throw verifyError;
      // A verification failure is the better explanation of a broken layer: drain a little longer.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise((r) => (timer = setTimeout(r, 1000)))]).catch(noop);
      clearTimeout(timer);
      if (verifyError) throw verifyError;
      (blob as { destroy?: () => void }).destroy?.();
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Post the blob's bytes to the worker until stop(): in batches (one message per BATCH bytes or
   * per turn of the event loop), at most WINDOW bytes ahead of the importer (the blob is paused
   * meanwhile). A chunk that is the whole of its memory (the HTTP client's reads are) is
   * transferred as it is: no copy, and its memory is freed by the worker; others are copied.
   */
  private feed(blob: NodeJS.ReadableStream, onBytes?: (n: number) => void): { stop(): void } {
    let parts: Uint8Array[] = [];
    let transfer: ArrayBuffer[] = [];
    let partBytes = 0;
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      if (partBytes === 0) return;
      const chunks = parts;
      const list = transfer;
      const n = partBytes;
      parts = [];
      transfer = [];
      partBytes = 0;
      if (!importing) return;
      this.inflight += n;
      this.post({ type: 'data', chunks }, list);
    };
    const add = (chunk: Buffer): void => {
      const ab = chunk.buffer;
      if (chunk.byteOffset === 0 && chunk.byteLength === ab.byteLength && ab instanceof ArrayBuffer && ab.byteLength > 0) {
        parts.push(new Uint8Array(ab));
        transfer.push(ab);
      } else parts.push(Uint8Array.prototype.slice.call(chunk));
      partBytes += chunk.length;
    };
    let importing = true;
    let paused = false;
    this.onAck = () => {
      if (paused && (this.inflight <= WINDOW / 2 || !importing || this.dead !== null)) {
        paused = false;
        blob.resume();
      }
    };
    let bytes = 0;
    blob.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      onBytes?.(bytes);
      if (!importing) return;
      add(chunk);
      if (partBytes >= BATCH) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      if (this.inflight + partBytes > WINDOW && this.dead === null && !paused) {
        paused = true;
        blob.pause();
      }
    });
    blob.on('end', () => {
      flush();
      this.post({ type: 'end' });
    });
    blob.on('error', (e) => this.post({ type: 'fail', error: serializeError(e) }));
    return {
      stop: () => {
        importing = false;
        this.onAck?.();
        blob.resume();
      },
    };
  }

  /** Write the layer's commit (after importVerified), point `ref` at it and commit the transaction. */
  async commit(commit: Commit, ref: string): Promise<Checksum> {
    this.post({ type: 'commit', commit, ref });
    try {
      const m = await this.next();
      if (m.type !== 'committed') throw new AtomicError('INTERNAL', `layer import worker answered ${m.type} instead of the commit`);
      this.finished = true;
      return m.checksum;
    } finally {
      await this.close();
    }
  }

  /** Drop the layer: the worker's transaction is aborted (or its staging removed here if it died). Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.finished && !this.txDone && this.dead === null) {
      this.finished = true;
      this.post({ type: 'fail', error: serializeError(new AtomicError('IO', 'layer import aborted')) });
      this.post({ type: 'abort' });
      // wait for the transaction to end: its error (the abort itself) or `aborted`
      for (;;) {
        try {
          const m = await this.next();
          if (m.type === 'aborted' || m.type === 'committed') break;
        } catch {
          break;
        }
      }
    }
    this.finished = true;
    await this.close();
  }

  private async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.worker.on('error', noop);
    this.die(new AtomicError('INTERNAL', 'layer import worker closed'));
    await this.worker.terminate();
    // a worker that died mid-transaction (or before its transaction began) could not remove its
    // staging directory; one that ended its transaction left none (rm of a missing path is a no-op)
    await fsp.rm(this.staging, { recursive: true, force: true });
  }
}
