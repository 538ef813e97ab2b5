/**
 * The OSTree store as an image destination (image/destination.ts), in the layout of
 * image/stored-image.ts: one commit + transaction per layer (`ociimage/<blob hex>`, so an
 * interrupted copy keeps finished layers), then the config commit and the image commit with its
 * `ociimage/<enc name:tag>` ref in one last transaction (putLayerAndImage: in the transaction of the
 * last missing layer, when every other one is committed by the end of its import).
 */
import { PassThrough } from 'node:stream';
import { AtomicError } from '../util/errors.js';
// store/layer-import.ts (the tar reader, zlib, zstd) is loaded only when a layer is
// imported: a pull that finds every layer present does not need it
import type { LayerImportResult } from '../store/layer-import.js';
import type { LargeFileCandidates } from '../store/large-dedup.js';
import type { OstreeRepo } from '../store/repo.js';
import type { Transaction } from '../store/transaction.js';
import type { Checksum, Commit, Metadata, Variant } from '../store/types.js';
import { acquireRepoLock } from '../store/repo-lock.js';
// image/layer-worker.ts (worker_threads) is loaded only when a layer is imported off the main thread
import type { LayerImportWorker } from './layer-worker.js';
import type { Descriptor } from './source.js';
import type { ImageDestination, ImageParts, PutLayerOptions } from './destination.js';
import { META, imageRef, layerRef, metaString, readStoredConfig } from './stored-image.js';
import { TRUST_META_KEY, type TrustRecord } from './trust/stored.js';
import { likelyObjects } from './dedup-candidates.js';

const s = (value: string): Variant => ({ type: 's', value });
const ROOT_DIR = { uid: 0, gid: 0, mode: 0o40755, xattrs: [] };
const ROOT_FILE = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };

async function withTransaction<T>(repo: OstreeRepo, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  const tx = await repo.beginTransaction();
  try {
    const r = await fn(tx);
    await tx.commit();
    return r;
  } catch (e) {
    await tx.abort().catch(() => {});
    throw e;
  }
}

export function diffIdMismatch(d: Descriptor, expected: string, actual: string): AtomicError {
  return new AtomicError('DIGEST_MISMATCH', `layer ${d.digest}: uncompressed digest ${actual} does not match the config's diff_id ${expected}`, {
    ref: d.digest,
    suggestions: ['The image is corrupt or was tampered with; the layer was not stored.'],
  });
}

/**
 * Feed a verified blob to importLayerTar. The importer may stop reading at the tar end-of-archive
 * blocks, so the rest of the blob is drained afterwards and the verification result (digest and
 * size, checked when the blob ends) is awaited before the layer may be committed.
 */
async function importVerified(
  tx: Transaction,
  blob: NodeJS.ReadableStream,
  onWarning?: (m: string) => void,
  onBytes?: (n: number) => void,
  signal?: AbortSignal,
  candidates?: LargeFileCandidates,
): Promise<LayerImportResult> {
  const feed = new PassThrough();
  // The importer may have stopped listening (decoder error) when a verification error arrives.
  feed.on('error', () => {});
  let verifyError: unknown = null;
  let importing = true;
  const ended = new Promise<void>((resolve, reject) => {
    blob.on('end', resolve);
    blob.on('error', (e) => {
      verifyError = e;
      reject(e);
    });
  });
  ended.catch(() => {});
  let bytes = 0;
  blob.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    onBytes?.(bytes);
    if (importing && !feed.destroyed && !feed.write(chunk)) blob.pause();
  });
  feed.on('drain', () => blob.resume());
  blob.on('end', () => feed.end());
  blob.on('error', (e) => feed.destroy(e instanceof Error ? e : new Error(String(e))));
  // Aborted (another layer of the pull failed): fail the blob, which ends the import below.
  const onAbort = (): void => {
    const reason: unknown = signal!.reason;
    (blob as { destroy?: (e: Error) => void }).destroy?.(reason instanceof Error ? reason : new Error(String(reason)));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // A verification failure ends the import even when the importer is not reading yet.
    const verifyFailed = new Promise<never>((_resolve, reject) => blob.on('error', reject));
    verifyFailed.catch(() => {});
    const { importLayerTar } = await import('../store/layer-import.js');
    const imported = importLayerTar(tx, feed, { onWarning, candidates });
    imported.catch(() => {});
    const res = await Promise.race([imported, verifyFailed]);
    importing = false;
    blob.resume();
    await ended;
    return res;
  } catch (e) {
    importing = false;
    if (verifyError) throw verifyError;
    // A verification failure is the better explanation of a broken layer: drain a little longer.
    blob.resume();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise((r) => (timer = setTimeout(r, 1000)))]).catch(() => {});
    clearTimeout(timer);
    if (verifyError) throw verifyError;
    (blob as { destroy?: () => void }).destroy?.();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The commit of an imported layer (after the diff_id check: DIGEST_MISMATCH when it differs). */
function layerCommit(d: Descriptor, res: LayerImportResult, diffId: string | undefined): Commit {
  if (diffId !== undefined && res.uncompressedDigest !== diffId) throw diffIdMismatch(d, diffId, res.uncompressedDigest);
  const metadata: Metadata = [
    [META.size, s(String(d.size))],
    [META.uncompressedSize, s(String(res.uncompressedSize))],
    [META.uncompressedDigest, s(res.uncompressedDigest)],
    ...res.unionMetadata,
  ];
  return { metadata, parent: null, related: [], subject: '', body: '', timestamp: Math.floor(Date.now() / 1000), rootTree: res.rootTree, rootMeta: res.rootMeta };
}

export class StoreImageDestination implements ImageDestination {
  readonly ref: string;
  readonly description: string;
  /** Objects the layers' large files probably equal (image/dedup-candidates.ts), shared by the layers imported on this thread. */
  private readonly candidates: LargeFileCandidates | undefined;

  /**
   * The destination for image `name` (a normalized name with tag) in `repo`. Large files are
   * compared with the objects the images of the same repository name (and `likeImages`) hold at
   * their path before they are written (image/dedup-candidates.ts).
   */
  constructor(
    private readonly repo: OstreeRepo,
    private readonly name: string,
    private readonly opts: { likeImages?: readonly string[] } = {},
  ) {
    this.ref = imageRef(name);
    this.description = `ostree:${this.ref}`;
    this.candidates = likelyObjects(repo, name, opts.likeImages);
  }

  async storedConfig(d: Descriptor): Promise<Record<string, unknown> | null> {
    return readStoredConfig(this.repo, d.digest).catch(() => null);
  }

  async reusableLayer(d: Descriptor): Promise<{ uncompressedDigest: string } | null> {
    const commit = await this.repo.resolveRef(layerRef(d.digest));
    if (!commit) return null;
    const meta = (await this.repo.readCommit(commit)).metadata;
    const u = metaString(meta, META.uncompressedDigest);
    if (u === undefined || metaString(meta, META.uncompressedSize) === undefined || metaString(meta, META.size) === undefined) return null;
    return { uncompressedDigest: u };
  }

  async putLayer(d: Descriptor, open: () => Promise<NodeJS.ReadableStream>, opts: PutLayerOptions = {}): Promise<Checksum> {
    opts.signal?.throwIfAborted();
    if ((this.repo.mode === 'bare' || this.repo.mode === 'bare-user') && opts.offThread === true) return this.putLayerOffThread(d, open, opts);
    return withTransaction(this.repo, (tx) => this.writeLayer(tx, d, open, opts));
  }

  /** The layer, then the image (when `image` gives it, asked once the layer is imported) in the same transaction: one commit of the store. */
  async putLayerAndImage(
    d: Descriptor,
    open: () => Promise<NodeJS.ReadableStream>,
    opts: PutLayerOptions,
    image: () => ImageParts | null,
  ): Promise<{ layer: Checksum; image: Checksum | null }> {
    opts.signal?.throwIfAborted();
    return withTransaction(this.repo, async (tx) => {
      const layer = await this.writeLayer(tx, d, open, opts);
      const parts = image();
      return { layer, image: parts === null ? null : await this.writeImage(tx, parts) };
    });
  }

  private async writeLayer(tx: Transaction, d: Descriptor, open: () => Promise<NodeJS.ReadableStream>, opts: PutLayerOptions): Promise<Checksum> {
    opts.signal?.throwIfAborted();
    const blob = await open();
    if (opts.signal?.aborted) {
      (blob as { destroy?: () => void }).destroy?.();
      opts.signal.throwIfAborted();
    }
    // importVerified must attach its listeners before the blob can end (and fail verification).
    const res = await importVerified(tx, blob, opts.onWarning, opts.onBytes, opts.signal, this.candidates);
    opts.signal?.throwIfAborted();
    const commit = await tx.writeCommit(layerCommit(d, res, opts.diffId));
    tx.setRef(layerRef(d.digest), commit);
    return commit;
  }

  /**
   * putLayer with the decompression, parsing and storing on a worker thread (image/layer-worker.ts);
   * the blob, its verification and the decisions stay here. Holds the store's shared lock for the
   * worker's transaction, as beginTransaction would.
   */
  private async putLayerOffThread(d: Descriptor, open: () => Promise<NodeJS.ReadableStream>, opts: PutLayerOptions): Promise<Checksum> {
    const lock = await acquireRepoLock(this.repo.path, 'shared');
    try {
      await this.repo.sweepStaging();
      // started before the blob is requested: its start-up overlaps with the request
      const { LayerImportWorker: Worker } = await import('./layer-worker.js');
      const w: LayerImportWorker = new Worker(this.repo.path, this.candidates === undefined ? undefined : { name: this.name, likeImages: [...(this.opts.likeImages ?? [])] });
      try {
        opts.signal?.throwIfAborted();
        const blob = await open();
        if (opts.signal?.aborted) {
          (blob as { destroy?: () => void }).destroy?.();
          opts.signal.throwIfAborted();
        }
        const res = await w.importVerified(blob, { onWarning: opts.onWarning, onBytes: opts.onBytes, signal: opts.signal });
        opts.signal?.throwIfAborted();
        return await w.commit(layerCommit(d, res, opts.diffId), layerRef(d.digest));
      } catch (e) {
        await w.abort();
        throw e;
      }
    } finally {
      await lock.release();
    }
  }

  async currentImage(manifestDigest: string, config: Descriptor, trust: TrustRecord): Promise<Checksum | null> {
    const current = await this.repo.resolveRef(this.ref);
    if (!current) return null;
    // a dangling image ref (its commit missing or unreadable) is simply replaced
    const meta = await this.repo.readCommit(current).then(
      (c) => c.metadata,
      () => null,
    );
    if (!meta || metaString(meta, META.digest) !== manifestDigest || metaString(meta, TRUST_META_KEY) !== JSON.stringify(trust)) return null;
    return (await this.repo.resolveRef(layerRef(config.digest))) ? current : null;
  }

  /** Config commit (tree `/content`) and image commit (tree `/manifest/manifest.json`) + refs, one transaction. */
  async putImage(config: { d: Descriptor; raw: Buffer | null }, manifest: { raw: Buffer; digest: string }, trust: TrustRecord): Promise<Checksum> {
    return withTransaction(this.repo, (tx) => this.writeImage(tx, { config, manifest, trust }));
  }

  private async writeImage(tx: Transaction, { config: cfg, manifest, trust }: ImageParts): Promise<Checksum> {
    const repo = this.repo;
    const now = Math.floor(Date.now() / 1000);
    const rootMeta = await tx.writeDirMeta(ROOT_DIR);
    const cfgRef = layerRef(cfg.d.digest);
    if (!(await repo.resolveRef(cfgRef))) {
      if (cfg.raw === null)
        throw new AtomicError('STORE_REF_NOT_FOUND', `config ${cfg.d.digest} disappeared from the store during the pull`, {
          ref: cfgRef,
          suggestions: ['Pull the image again.'],
        });
      const content = await tx.writeRegularFile(ROOT_FILE, cfg.raw, cfg.raw.length);
      const tree = await tx.writeDirTree({ files: [{ name: 'content', checksum: content }], dirs: [] });
      const c = await tx.writeCommit({
        metadata: [[META.size, s(String(cfg.raw.length))]],
        parent: null,
        related: [],
        subject: '',
        body: '',
        timestamp: now,
        rootTree: tree,
        rootMeta,
      });
      tx.setRef(cfgRef, c);
    }
    const mfile = await tx.writeRegularFile(ROOT_FILE, manifest.raw, manifest.raw.length);
    // GPG signatures also as skopeo's ostree transport keeps them: manifest/signature-N.
    const sigFiles = [];
    for (const [i, b64] of trust.gpg.entries()) {
      const sig = Buffer.from(b64, 'base64');
      sigFiles.push({ name: `signature-${i + 1}`, checksum: await tx.writeRegularFile(ROOT_FILE, sig, sig.length) });
    }
    const mtree = await tx.writeDirTree({ files: [{ name: 'manifest.json', checksum: mfile }, ...sigFiles].sort((a, b) => (a.name < b.name ? -1 : 1)), dirs: [] });
    const root = await tx.writeDirTree({ files: [], dirs: [{ name: 'manifest', tree: mtree, meta: rootMeta }] });
    const metadata: Metadata = [
      [META.manifest, s(manifest.raw.toString('utf8'))],
      [META.digest, s(manifest.digest)],
      ['signatures', s(String(trust.gpg.length))],
      [TRUST_META_KEY, s(JSON.stringify(trust))],
    ];
    const commit = await tx.writeCommit({ metadata, parent: null, related: [], subject: '', body: '', timestamp: now, rootTree: root, rootMeta });
    tx.setRef(this.ref, commit);
    return commit;
  }
}
