/**
 * `atomic pull --storage ostree SRC`: the copy engine. It reads any ImageSource
 * (image/transports.ts opens the right one) and writes through an ImageDestination, the store
 * (image/store-destination.ts: one commit + transaction per missing layer, so an interrupted pull
 * keeps finished layers, then the config commit and the image commit with its ref in one last
 * transaction - the last missing layer's own when every other one is committed by the end of its
 * import (always when exactly one layer is missing): one durable commit of the store fewer -, so
 * the image ref only appears (or moves) once everything it needs is durable).
 * It imports no transport and knows nothing of the store's layout.
 */
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { LIMITS, isJsonObject, parseJson, readStreamAtMost, tooLarge } from '../../util/bounded-read.js';
import { openImageSource } from '../../image/transports.js';
import { normalizeImageName } from '../../image/name.js';
import { layerCompression } from '../../image/manifest.js';
import type { RegistrySourceOptions } from '../../image/registry/source.js';
import type { Descriptor, ImageSource, Platform } from '../../image/source.js';
import type { ImageDestination, ImageParts } from '../../image/destination.js';
import { StoreImageDestination, diffIdMismatch } from '../../image/store-destination.js';
import type { OstreeRepo } from '../../store/repo.js';
import type { Checksum, Digest } from '../../store/types.js';
import { checkPullTrust } from '../../image/trust/check.js';
import { acquireRepoLock } from '../../store/repo-lock.js';
import type { TrustSettings } from '../../image/trust/policy.js';
import { runPool } from '../../util/promise-pool.js';
import { atomicEnv } from '../../util/env.js';
import { layerWorkerSlots } from '../../image/layer-worker-policy.js';

export { readImage, resolveImageRef, imageIdOf, type StoredImage, type StoredImageLayer } from '../../image/stored-image.js';

export interface PullProgressEvent {
  phase: 'layer' | 'config' | 'manifest';
  status: 'copying' | 'skipped' | 'done';
  digest: Digest;
  /** 0-based layer index and layer count (layer phase only). */
  index?: number;
  total?: number;
  size?: number;
  /** Bytes of the blob received so far (status 'copying', sent while the blob streams). */
  bytes?: number;
}

export interface PullEvents {
  onLine?(line: string): void;
  onWarning?(msg: string): void;
  onProgress?(ev: PullProgressEvent): void;
}

export interface PullOptions extends PullEvents {
  /** Store the image under this name instead of the source's. */
  name?: string;
  /** Platform to pick from an index (default: the host's). */
  platform?: Partial<Platform>;
  cwd?: string;
  /** Registry sources: --src-creds, --tls-verify, --cert-dir. */
  registry?: RegistrySourceOptions;
  /** Signature policy (--signature-policy, --registries.d, --insecure-policy); default: the system's. */
  trust?: TrustSettings;
  /**
   * Stored images (names) whose files the pulled image's large files probably equal, besides the
   * images of its own repository name (image/dedup-candidates.ts): e.g. the image a container
   * ran before `containers update --rebase` to another repository.
   */
  likeImages?: readonly string[];
}

export interface PullResult {
  imageName: string;
  ref: string;
  commit: Checksum;
  manifestDigest: Digest;
  layersImported: number;
  layersSkipped: number;
}

const short = (d: Digest): string => `sha256:${d.replace(/^sha256:/, '').slice(0, 12)}`;

/**
 * The config's diff_ids, and its raw bytes when they must be stored. A config already in the
 * store (its `ociimage/<hex>` ref) is read from there and not fetched again.
 */
async function readConfig(dest: ImageDestination, source: ImageSource, d: Descriptor): Promise<{ raw: Buffer | null; diffIds: string[] | null }> {
  const what = `config ${d.digest}`;
  const stored = await dest.storedConfig(d);
  let raw: Buffer | null = null;
  let doc: unknown = stored;
  if (stored === null) {
    if (d.size > LIMITS.config) throw tooLarge(what, LIMITS.config, d.size);
    raw = await readStreamAtMost(await source.getBlob(d), LIMITS.config, what);
    doc = parseJson<unknown>(raw, what);
  }
  if (!isJsonObject(doc)) throw new AtomicError('IMAGE_INVALID', `${what} is not a JSON object`, { ref: d.digest });
  const rootfs = doc.rootfs;
  let diffIds: string[] | null = null;
  if (isJsonObject(rootfs) && rootfs.diff_ids !== undefined) {
    if (!Array.isArray(rootfs.diff_ids) || rootfs.diff_ids.some((x) => typeof x !== 'string')) {
      throw new AtomicError('IMAGE_INVALID', `${what}: rootfs.diff_ids must be a list of digests`, { ref: d.digest });
    }
    diffIds = rootfs.diff_ids as string[];
  }
  return { raw, diffIds };
}

/**
 * Layers fetched and imported at the same time, each in its own transaction, when they all share
 * the main thread; with a layer worker (image/layer-worker-policy.ts), two: one on the
 * main thread and one on the worker.
 */
export const PARALLEL_LAYERS = 3;

/**
 * The pull's lines, warnings and progress events in manifest order whatever order the layers
 * finish in: the layer at the head (the lowest index not finished) prints at once; the others
 * queue theirs until every layer before them has finished. The output of a parallel pull is
 * therefore the output of a sequential one. Byte progress of a layer that is not at the head is
 * dropped (it only redraws the progress bar).
 */
class LayerOutput {
  private head = 0;
  private readonly queued: Array<Array<() => void>>;
  private readonly finished: boolean[];

  constructor(private readonly total: number) {
    this.queued = Array.from({ length: total }, () => []);
    this.finished = Array.from({ length: total }, () => false);
  }

  emit(index: number, fn: () => void, droppable = false): void {
    if (index === this.head) fn();
    else if (!droppable && index > this.head) this.queued[index]!.push(fn);
  }

  finish(index: number): void {
    this.finished[index] = true;
    while (this.head < this.total && this.finished[this.head]) {
      this.head++;
      if (this.head < this.total) for (const fn of this.queued[this.head]!.splice(0)) fn();
    }
  }

  /** After a failure: print what every layer queued, in order. */
  flushAll(): void {
    for (let i = 0; i < this.total; i++) this.finish(i);
  }
}

/** The reason given to the layers still in flight when another one failed (never shown: the first failure is). */
const ABORTED = new AtomicError('IO', 'pull aborted: another layer failed');

async function importLayer(
  dest: ImageDestination,
  source: ImageSource,
  d: Descriptor,
  diffId: string | undefined,
  opts: PullOptions,
  index: number,
  total: number,
  out: LayerOutput,
  signal: AbortSignal,
  offThread: boolean,
  image: (() => ImageParts | null) | null,
): Promise<{ layer: Checksum; image: Checksum | null }> {
  let last = 0;
  const onBytes = opts.onProgress
    ? (n: number): void => {
        // At most ~10 events a second, and always the final count.
        const now = Date.now();
        if (n !== d.size && now - last < 100) return;
        last = now;
        out.emit(index, () => opts.onProgress!({ phase: 'layer', status: 'copying', digest: d.digest, index, total, size: d.size, bytes: n }), n !== d.size);
      }
    : undefined;
  const open = async (): Promise<NodeJS.ReadableStream> => {
    out.emit(index, () => opts.onLine?.(`Extracting ${short(d.digest)} (${d.size} bytes)`));
    return source.getBlob(d);
  };
  const onWarning = opts.onWarning ? (w: string): void => out.emit(index, () => opts.onWarning!(w)) : undefined;
  const layerOpts = { diffId, onWarning, onBytes, signal, offThread };
  if (image !== null) return dest.putLayerAndImage(d, open, layerOpts, image);
  return { layer: await dest.putLayer(d, open, layerOpts), image: null };
}

/**
 * Pull SRC into the store. Layers whose ref already carries docker.uncompressed_digest are
 * skipped; every layer's uncompressed digest must equal the config's rootfs.diff_ids[i].
 * Re-pulling an unchanged image writes nothing, and then prints neither "Copying blob" nor
 * "Extracting": Ansible's atomic modules report `changed` when either word is in the output.
 */
export async function pullImage(repo: OstreeRepo, src: string, opts: PullOptions = {}): Promise<PullResult> {
  const line = (l: string): void => opts.onLine?.(l);
  const source = await openImageSource(src, { platform: opts.platform, cwd: opts.cwd, registry: opts.registry, onWarning: opts.onWarning });
  try {
    const imageName = normalizeImageName(opts.name ?? source.imageName);
    const dest: ImageDestination = new StoreImageDestination(repo, imageName, { likeImages: opts.likeImages });
    const ref = dest.ref;
    const m = await source.getManifest();
    m.layers.forEach((l, i) => layerCompression(l, `layers[${i}]`));
    // The signature policy decides before anything is fetched or committed.
    const trust = await checkPullTrust(source, src, m, { settings: opts.trust, cwd: opts.cwd, onLine: line });
    const cfg = await readConfig(dest, source, m.config);
    if (cfg.diffIds && cfg.diffIds.length !== m.layers.length) {
      throw new AtomicError('IMAGE_INVALID', `config ${m.config.digest} lists ${cfg.diffIds.length} diff_ids but the manifest has ${m.layers.length} layers`, {
        ref: m.config.digest,
      });
    }
    // One shared store lock from the check of the first layer to the image ref: a concurrent
    // `images prune` (exclusive) would otherwise see the layers committed so far, or the ones
    // found present and skipped, referenced by no image yet and delete them before the image
    // ref that needs them is written (found by the system concurrency test). Re-entrant: each
    // layer's transaction takes it again.
    const storeLock = await acquireRepoLock(repo.path, 'shared');
    try {
      return await copyLayersAndImage({ dest, source, m, cfg, trust, imageName, opts }, ref);
    } finally {
      await storeLock.release();
    }
  } catch (e) {
    if (isAtomicError(e)) throw e;
    throw new AtomicError('IO', `pull ${src}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    await source.close();
  }
}

/** What the copy steps share: where from, where to, the manifest and config read, the trust decision. */
interface CopyPlan {
  dest: ImageDestination;
  source: ImageSource;
  m: Awaited<ReturnType<ImageSource['getManifest']>>;
  cfg: { raw: Buffer | null; diffIds: string[] | null };
  trust: Awaited<ReturnType<typeof checkPullTrust>>;
  imageName: string;
  opts: PullOptions;
}

/** The layers (missing ones imported, present ones reused), then the image commit; the caller holds the shared store lock. */
async function copyLayersAndImage(plan: CopyPlan, ref: string): Promise<PullResult> {
  const { dest, source, m, cfg, imageName, opts } = plan;
  const line = (l: string): void => opts.onLine?.(l);
  let imported = 0;
  let skipped = 0;
  const total = m.layers.length;
  const out = new LayerOutput(total);
  const skip = (index: number, d: Descriptor): void => {
    out.emit(index, () => {
      line(`Skipping blob ${short(d.digest)} (already present)`);
      opts.onProgress?.({ phase: 'layer', status: 'skipped', digest: d.digest, index, total, size: d.size });
    });
    out.finish(index);
    skipped++;
  };
  const checkPresent = async (index: number, d: Descriptor): Promise<boolean> => {
    const have = await dest.reusableLayer(d);
    if (!have) return false;
    const diffId = cfg.diffIds?.[index];
    if (diffId !== undefined && have.uncompressedDigest !== diffId) throw diffIdMismatch(d, diffId, have.uncompressedDigest);
    return true;
  };
  // Layers already in the store are skipped; the missing ones are fetched and imported
  // PARALLEL_LAYERS at a time, each committed on its own as soon as it is complete (an
  // interrupted pull keeps them). A layer listed twice is imported once: the second waits for
  // the first and is then skipped. The first failure wins: no new layer starts, the ones in
  // flight are aborted (their transactions remove their staging) and awaited, then it is thrown.
  const abort = new AbortController();
  const first = new Map<string, Promise<unknown>>();
  const jobs: Array<() => Promise<void>> = [];
  // Layer workers free to take a layer (set once the missing layers are counted, below).
  let freeWorkers = 0;
  // The image goes into the transaction of the last missing layer imported on this thread when every
  // other one is committed by the end of its import (putLayerAndImage: one commit of the store fewer).
  const layers = { missing: 0, stored: 0, withImage: false };
  let imageCommit: Checksum | null = null;
  for (const [index, d] of m.layers.entries()) {
    const earlier = first.get(d.digest);
    if (earlier) {
      jobs.push(async () => {
        await earlier;
        if (!(await checkPresent(index, d)))
          throw new AtomicError('STORE_REF_NOT_FOUND', `layer ${d.digest} disappeared from the store during the pull`, { ref: d.digest, suggestions: ['Pull the image again.'] });
        skip(index, d);
      });
      continue;
    }
    if (await checkPresent(index, d)) {
      first.set(d.digest, Promise.resolve());
      skip(index, d);
      continue;
    }
    let started!: () => void;
    let done!: Promise<void>;
    const gate = new Promise<void>((r) => (started = r));
    const whenStored = gate.then(() => done);
    whenStored.catch(() => undefined); // the job reports the failure; a later duplicate awaits it
    first.set(d.digest, whenStored);
    jobs.push(async () => {
      done = (async () => {
        out.emit(index, () => {
          line(`Copying blob ${short(d.digest)}`);
          opts.onProgress?.({ phase: 'layer', status: 'copying', digest: d.digest, index, total, size: d.size });
        });
        const offThread = freeWorkers > 0;
        if (offThread) freeWorkers--;
        try {
          const parts = (): ImageParts | null =>
            layers.stored === layers.missing - 1 && !abort.signal.aborted ? { config: { d: m.config, raw: cfg.raw }, manifest: m, trust: plan.trust } : null;
          imageCommit =
            (await importLayer(dest, source, d, cfg.diffIds?.[index], opts, index, total, out, abort.signal, offThread, layers.withImage && !offThread ? parts : null)).image ??
            imageCommit;
          layers.stored++;
        } finally {
          if (offThread) freeWorkers++;
        }
        out.emit(index, () => {
          line(`Copying blob ${short(d.digest)} done`);
          opts.onProgress?.({ phase: 'layer', status: 'done', digest: d.digest, index, total, size: d.size });
        });
        out.finish(index);
        imported++;
      })();
      started();
      await done;
    });
  }
  layers.missing = first.size - skipped; // every distinct layer is in `first`; those present were skipped
  freeWorkers = layerWorkerSlots(layers.missing);
  layers.withImage = freeWorkers === 0;
  const restorePool = await withoutStoreWorkers();
  let commit: Checksum;
  try {
    await runLayerJobs(jobs, freeWorkers, abort, out);
    commit = await commitImage(plan, imported === 0, imageCommit);
  } finally {
    restorePool();
  }
  return { imageName, ref, commit, manifestDigest: m.digest, layersImported: imported, layersSkipped: skipped };
}

/**
 * A pull's layer imports and image commit run without the store's I/O workers unless
 * ATOMIC_STORE_WORKERS asks for them: the pull's main thread (HTTP, digests, gunzip callbacks, tar
 * parsing) is its critical path, so they saved no time (cold Debian pull on a quiet machine, 3
 * interleaved rounds: 2.38-2.93 s without, 2.38-2.47 s with one, 2.46-2.57 s with two) and cost
 * peak RSS (77 -> 87 -> 101 MiB; the bound is 1.5x podman's ~60 MiB). Before the eighth session
 * they were on whenever the load average was low. Returns what puts the pool back (an install
 * that pulled checks out next, and a big checkout uses them).
 */
async function withoutStoreWorkers(): Promise<() => void> {
  if (atomicEnv('ATOMIC_STORE_WORKERS') !== undefined) return () => undefined;
  const pool = await import('../../store/write-pool.js');
  const size = pool.writePool().size;
  if (size === 0) return () => undefined;
  pool.configureWritePool(0);
  return () => pool.configureWritePool(size);
}

/** The layer jobs, PARALLEL_LAYERS at a time (2 with a layer worker); the first failure aborts the others and is thrown. */
async function runLayerJobs(jobs: Array<() => Promise<void>>, freeWorkers: number, abort: AbortController, out: LayerOutput): Promise<void> {
  try {
    await runPool(jobs, freeWorkers === 1 ? 2 : PARALLEL_LAYERS, async (job) => {
      if (abort.signal.aborted) throw ABORTED;
      try {
        await job();
      } catch (e) {
        if (!abort.signal.aborted) abort.abort(ABORTED);
        throw e;
      }
    });
  } catch (e) {
    out.flushAll();
    throw e;
  }
}

/**
 * The config line, then the image commit: reused when nothing was imported and the stored image
 * is this one, already written with the layer (`stored`), else written now.
 */
async function commitImage(plan: CopyPlan, nothingImported: boolean, stored: Checksum | null): Promise<Checksum> {
  const { dest, m, cfg, trust, imageName, opts } = plan;
  const line = (l: string): void => opts.onLine?.(l);
  line(cfg.raw === null ? `Skipping config ${short(m.config.digest)} (already present)` : `Copying config ${short(m.config.digest)}`);
  opts.onProgress?.({ phase: 'config', status: 'done', digest: m.config.digest, size: m.config.size });
  const current = nothingImported ? await dest.currentImage(m.digest, m.config, trust) : null;
  let commit: Checksum;
  if (current) {
    commit = current;
    line(`Image ${imageName} is up to date`);
    opts.onProgress?.({ phase: 'manifest', status: 'skipped', digest: m.digest });
  } else {
    line('Writing manifest to image destination');
    commit = stored ?? (await dest.putImage({ d: m.config, raw: cfg.raw }, m, trust));
    if (trust.gpg.length + trust.sigstore.length > 0) line('Storing signatures');
    opts.onProgress?.({ phase: 'manifest', status: 'done', digest: m.digest });
  }
  return commit;
}
