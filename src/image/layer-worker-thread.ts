/**
 * The worker-thread side of image/layer-worker.ts: one layer's transaction, run off the main
 * thread. The main thread keeps the HTTP transfer and the blob's digest check and posts the blob
 * bytes here; this thread decompresses, parses and stores them (store/layer-import.ts) in its own
 * Transaction, and commits the layer when the main thread says so. Protocol (LayerWorkerIn /
 * LayerWorkerOut in layer-worker.ts):
 *
 *   in:  data (a transferred chunk)... end | fail(error) | commit(spec) | abort
 *   out: ack(bytes)... imported(result) | error(e) ; then committed(checksum) | aborted | error(e)
 *
 * The main thread holds the store's shared lock for the whole life of this transaction, so the
 * transaction borrows it (a second lock file from the same process could deadlock behind a waiting
 * exclusive locker). Every failure is posted as a serialized error; the transaction is aborted
 * (staging removed) before the error is posted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { OstreeRepo } from '../store/repo.js';
import { Transaction } from '../store/transaction.js';
import { useSharedFaultCounter } from '../util/atomic-write.js';
import type { RepoLock } from '../store/repo-lock.js';
import { likelyObjects } from './dedup-candidates.js';
import { serializeError, deserializeError, type LayerWorkerData, type LayerWorkerIn, type LayerWorkerOut } from './layer-worker-protocol.js';

const port = parentPort!;
const data = workerData as LayerWorkerData;
if (data.faultCounter) useSharedFaultCounter(data.faultCounter);
const post = (m: LayerWorkerOut, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer ?? []);

/** The blob bytes as a stream; bytes are acknowledged once the importer has taken them. */
const queue: Buffer[] = [];
let ended = false;
let failed: Error | null = null;
/** The stream asked for more (read) and has not refused a push since. */
let wanted = false;
let eof = false;
// small, like the main thread's window (layer-worker.ts WINDOW): bytes read ahead are memory
const input = new Readable({
  highWaterMark: 128 * 1024,
  read() {
    wanted = true;
    pump();
  },
});
function pump(): void {
  let n = 0;
  while (wanted && queue.length > 0) {
    const b = queue.shift()!;
    n += b.length;
    wanted = input.push(b);
  }
  if (n > 0) post({ type: 'ack', bytes: n });
  if (ended && queue.length === 0 && !eof) {
    eof = true;
    input.push(null);
  }
}

let onVerdict: { resolve: () => void; reject: (e: Error) => void } | null = null;
/** Settles when the main thread has seen the whole blob verified (end) or failed. */
const verified = new Promise<void>((resolve, reject) => (onVerdict = { resolve, reject }));
verified.catch(() => undefined);
/** The main thread's decision once the layer is imported: commit or abort (kept if it comes early). */
let step: LayerWorkerIn | null = null;
let onStep: ((m: LayerWorkerIn) => void) | null = null;

port.on('message', (m: LayerWorkerIn) => {
  switch (m.type) {
    case 'data':
      if (failed !== null || ended) return;
      for (const c of m.chunks) queue.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      pump();
      return;
    case 'end':
      ended = true;
      pump();
      onVerdict!.resolve();
      return;
    case 'fail':
      failed = deserializeError(m.error);
      input.destroy(failed);
      onVerdict!.reject(failed);
      return;
    default:
      if (onStep) onStep(m);
      else step ??= m;
  }
});

const borrowedLock: RepoLock = { mode: 'shared', release: async () => undefined };

async function run(): Promise<void> {
  const repo = await OstreeRepo.open(data.repoPath);
  const tx = await Transaction.create(repo, borrowedLock, data.stagingDir);
  try {
    const { importLayerTar } = await import('../store/layer-import.js');
    const warn = (msg: string): void => post({ type: 'warning', msg });
    const candidates = data.likely === undefined ? undefined : likelyObjects(repo, data.likely.name, data.likely.likeImages);
    const imported = importLayerTar(tx, input, { onWarning: warn, candidates });
    imported.catch(() => undefined);
    // A verification failure (or an abort) ends the import even when the importer is not reading.
    const res = await Promise.race([imported, verified.then(() => imported)]);
    post({ type: 'imported', result: res });
    await verified;
    const decision = step ?? (await new Promise<LayerWorkerIn>((resolve) => (onStep = resolve)));
    if (decision.type !== 'commit') {
      await tx.abort();
      post({ type: 'aborted' });
      return;
    }
    const commit = await tx.writeCommit(decision.commit);
    tx.setRef(decision.ref, commit);
    await tx.commit();
    post({ type: 'committed', checksum: commit });
  } catch (e) {
    await tx.abort().catch(() => undefined);
    post({ type: 'error', error: serializeError(e) });
  }
}

run().catch((e: unknown) => post({ type: 'error', error: serializeError(e) }));
