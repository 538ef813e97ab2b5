/**
 * `atomic pull --storage ostree SRC`: copy an image from any transport into the OSTree store with
 * the ref/commit layout of atomic + skopeo's `ostree:` transport (docs/internal-api.md):
 * one commit + transaction per missing layer (an interrupted pull keeps finished layers), then
 * the config commit and the image commit with its `ociimage/<enc name:tag>` ref in one last
 * transaction, so the image ref only appears (or moves) once everything it needs is durable.
 */
import { PassThrough } from 'node:stream';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import { LIMITS, isJsonObject, parseJson, readStreamAtMost, tooLarge } from '../../util/bounded-read.js';
import { openImageSource } from '../../image/transports.js';
import { imageRef, layerRef, normalizeImageName } from '../../image/name.js';
import { layerCompression } from '../../image/manifest.js';
import { metaString, readStoredConfig } from '../../image/stored-image.js';
import type { RegistrySourceOptions } from '../../image/registry/source.js';
import { importLayerTar, type LayerImportResult } from '../../store/layer-import.js';
import type { Descriptor, ImageSource, Platform } from '../../image/source.js';
import type { OstreeRepo } from '../../store/repo.js';
import type { Transaction } from '../../store/transaction.js';
import type { Checksum, Digest, Metadata, Variant } from '../../store/types.js';
import { checkPullTrust } from '../../image/trust/check.js';
import { TRUST_META_KEY, type TrustRecord } from '../../image/trust/stored.js';
import type { TrustSettings } from '../../image/trust/policy.js';

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
}

export interface PullResult {
  imageName: string;
  ref: string;
  commit: Checksum;
  manifestDigest: Digest;
  layersImported: number;
  layersSkipped: number;
}

const s = (value: string): Variant => ({ type: 's', value });
const short = (d: Digest): string => `sha256:${d.replace(/^sha256:/, '').slice(0, 12)}`;
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

/**
 * The config's diff_ids, and its raw bytes when they must be stored. A config already in the
 * store (its `ociimage/<hex>` ref) is read from there and not fetched again.
 */
async function readConfig(repo: OstreeRepo, source: ImageSource, d: Descriptor): Promise<{ raw: Buffer | null; diffIds: string[] | null }> {
  const what = `config ${d.digest}`;
  const stored = await readStoredConfig(repo, d.digest).catch(() => null);
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

function diffIdMismatch(d: Descriptor, expected: string, actual: string): AtomicError {
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
async function importVerified(tx: Transaction, blob: NodeJS.ReadableStream, onWarning?: (m: string) => void, onBytes?: (n: number) => void): Promise<LayerImportResult> {
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
  try {
    // A verification failure ends the import even when the importer is not reading yet.
    const verifyFailed = new Promise<never>((_resolve, reject) => blob.on('error', reject));
    verifyFailed.catch(() => {});
    const imported = importLayerTar(tx, feed, { onWarning });
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
  }
}

async function existingLayer(repo: OstreeRepo, ref: string): Promise<{ commit: Checksum; uncompressed: string } | null> {
  const commit = await repo.resolveRef(ref);
  if (!commit) return null;
  const meta = (await repo.readCommit(commit)).metadata;
  const u = metaString(meta, 'docker.uncompressed_digest');
  if (u === undefined || metaString(meta, 'docker.uncompressed_size') === undefined || metaString(meta, 'docker.size') === undefined) return null;
  return { commit, uncompressed: u };
}

async function importLayer(repo: OstreeRepo, source: ImageSource, d: Descriptor, diffId: string | undefined, opts: PullOptions, index: number, total: number): Promise<Checksum> {
  return withTransaction(repo, async (tx) => {
    opts.onLine?.(`Extracting ${short(d.digest)} (${d.size} bytes)`);
    // importVerified must attach its listeners before the blob can end (and fail verification).
    let last = 0;
    const onBytes = opts.onProgress
      ? (n: number): void => {
          // At most ~10 events a second, and always the final count.
          const now = Date.now();
          if (n !== d.size && now - last < 100) return;
          last = now;
          opts.onProgress!({ phase: 'layer', status: 'copying', digest: d.digest, index, total, size: d.size, bytes: n });
        }
      : undefined;
    const res = await importVerified(tx, await source.getBlob(d), opts.onWarning, onBytes);
    if (diffId !== undefined && res.uncompressedDigest !== diffId) throw diffIdMismatch(d, diffId, res.uncompressedDigest);
    const metadata: Metadata = [
      ['docker.size', s(String(d.size))],
      ['docker.uncompressed_size', s(String(res.uncompressedSize))],
      ['docker.uncompressed_digest', s(res.uncompressedDigest)],
      ...res.unionMetadata,
    ];
    const commit = await tx.writeCommit({
      metadata, parent: null, related: [], subject: '', body: '',
      timestamp: Math.floor(Date.now() / 1000), rootTree: res.rootTree, rootMeta: res.rootMeta,
    });
    tx.setRef(layerRef(d.digest), commit);
    return commit;
  });
}

/** Config commit (tree `/content`) and image commit (tree `/manifest/manifest.json`) + refs, one transaction. */
async function writeImage(repo: OstreeRepo, ref: string, cfg: { d: Descriptor; raw: Buffer | null }, manifest: { raw: Buffer; digest: Digest }, trust: TrustRecord): Promise<Checksum> {
  return withTransaction(repo, async (tx) => {
    const now = Math.floor(Date.now() / 1000);
    const rootMeta = await tx.writeDirMeta(ROOT_DIR);
    const cfgRef = layerRef(cfg.d.digest);
    if (!(await repo.resolveRef(cfgRef))) {
      if (cfg.raw === null) throw new AtomicError('STORE_REF_NOT_FOUND', `config ${cfg.d.digest} disappeared from the store during the pull`, { ref: cfgRef, suggestions: ['Pull the image again.'] });
      const content = await tx.writeRegularFile(ROOT_FILE, cfg.raw, cfg.raw.length);
      const tree = await tx.writeDirTree({ files: [{ name: 'content', checksum: content }], dirs: [] });
      const c = await tx.writeCommit({ metadata: [['docker.size', s(String(cfg.raw.length))]], parent: null, related: [], subject: '', body: '', timestamp: now, rootTree: tree, rootMeta });
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
      ['docker.manifest', s(manifest.raw.toString('utf8'))],
      ['docker.digest', s(manifest.digest)],
      ['signatures', s(String(trust.gpg.length))],
      [TRUST_META_KEY, s(JSON.stringify(trust))],
    ];
    const commit = await tx.writeCommit({ metadata, parent: null, related: [], subject: '', body: '', timestamp: now, rootTree: root, rootMeta });
    tx.setRef(ref, commit);
    return commit;
  });
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
    const ref = imageRef(imageName);
    const m = await source.getManifest();
    m.layers.forEach((l, i) => layerCompression(l, `layers[${i}]`));
    // The signature policy decides before anything is fetched or committed.
    const trust = await checkPullTrust(source, src, m, { settings: opts.trust, cwd: opts.cwd, onLine: line });
    const cfg = await readConfig(repo, source, m.config);
    if (cfg.diffIds && cfg.diffIds.length !== m.layers.length) {
      throw new AtomicError('IMAGE_INVALID', `config ${m.config.digest} lists ${cfg.diffIds.length} diff_ids but the manifest has ${m.layers.length} layers`, { ref: m.config.digest });
    }
    let imported = 0;
    let skipped = 0;
    const total = m.layers.length;
    for (const [index, d] of m.layers.entries()) {
      const diffId = cfg.diffIds?.[index];
      const have = await existingLayer(repo, layerRef(d.digest));
      if (have) {
        if (diffId !== undefined && have.uncompressed !== diffId) throw diffIdMismatch(d, diffId, have.uncompressed);
        line(`Skipping blob ${short(d.digest)} (already present)`);
        opts.onProgress?.({ phase: 'layer', status: 'skipped', digest: d.digest, index, total, size: d.size });
        skipped++;
        continue;
      }
      line(`Copying blob ${short(d.digest)}`);
      opts.onProgress?.({ phase: 'layer', status: 'copying', digest: d.digest, index, total, size: d.size });
      await importLayer(repo, source, d, diffId, opts, index, total);
      line(`Copying blob ${short(d.digest)} done`);
      opts.onProgress?.({ phase: 'layer', status: 'done', digest: d.digest, index, total, size: d.size });
      imported++;
    }
    line(cfg.raw === null ? `Skipping config ${short(m.config.digest)} (already present)` : `Copying config ${short(m.config.digest)}`);
    opts.onProgress?.({ phase: 'config', status: 'done', digest: m.config.digest, size: m.config.size });
    const current = await repo.resolveRef(ref);
    let commit: Checksum;
    const currentMeta = current ? (await repo.readCommit(current)).metadata : null;
    if (current && currentMeta && imported === 0 && metaString(currentMeta, 'docker.digest') === m.digest && metaString(currentMeta, TRUST_META_KEY) === JSON.stringify(trust) && (await repo.resolveRef(layerRef(m.config.digest)))) {
      commit = current;
      line(`Image ${imageName} is up to date`);
      opts.onProgress?.({ phase: 'manifest', status: 'skipped', digest: m.digest });
    } else {
      line('Writing manifest to image destination');
      commit = await writeImage(repo, ref, { d: m.config, raw: cfg.raw }, m, trust);
      if (trust.gpg.length + trust.sigstore.length > 0) line('Storing signatures');
      opts.onProgress?.({ phase: 'manifest', status: 'done', digest: m.digest });
    }
    return { imageName, ref, commit, manifestDigest: m.digest, layersImported: imported, layersSkipped: skipped };
  } catch (e) {
    if (isAtomicError(e)) throw e;
    throw new AtomicError('IO', `pull ${src}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    await source.close();
  }
}
