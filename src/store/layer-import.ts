/**
 * importLayerTar: stream a layer blob (gzip / zstd / plain tar, detected from its magic bytes)
 * straight into a Transaction, the way `ostree commit --tree=tar= --tar-autocreate-parents`
 * would, without extracting anything to disk and without buffering whole layers.
 *
 * - Content checksums come from the Transaction; dirtrees/dirmetas from MutableTree (implicit
 *   parents: see mtree.ts). For a tar with an entry for every directory the result reproduces the
 *   root dirtree/dirmeta of the vec/fromtar vector byte for byte.
 * - `unionMetadata` is what the layer commit must carry for checkout.ts to apply the layer as
 *   umoci does: the directories that were implicit, and hardlinks to files of lower layers.
 * - uid/gid/mode (setuid/setgid/sticky included) are kept; file types come from the tar type;
 *   symlink targets are kept exactly as written (mode forced to 0120777: that is what the object
 *   is on disk in bare repos); xattrs come from PAX `SCHILY.xattr.*` (raw bytes) and
 *   `LIBARCHIVE.xattr.*` (base64).
 * - Hardlinks get the checksum of their target when it is an earlier file or symlink of this
 *   layer (resolved at the entry, like extraction; ostree defers them to the end); otherwise the
 *   target is a file of a lower layer of the image: the link is recorded (UNION_LOWER_LINKS) and
 *   resolved by checkout in the union of the layers below.
 * - Sparse files (GNU 'S', PAX 0.0/0.1/1.0; TarReader gives the map) are stored dense.
 * - Absolute names lose their leading '/', like GNU tar, bsdtar and umoci (tar-safety.ts).
 * - Device nodes and FIFOs are skipped with a warning (ostree refuses them outright).
 * - Whiteouts (`.wh.*`) are stored as ordinary files; checkout interprets them.
 * - A later entry for a path replaces the earlier one; a directory entry after the directory
 *   was created implicitly replaces its dirmeta and keeps its children.
 * - Names are validated by tar-safety.ts; the raw block structure by TarReader (tar-reader.ts),
 *   the one pass over the tar: entries come with their data as slices of the input chunks.
 * The caller owns the Transaction and aborts it when this rejects.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Checksum, Digest, DirMeta, FileMeta, Metadata, Xattr } from './types.js';
import type { Transaction } from './transaction.js';
import { AtomicError, isAtomicError, wrapError } from '../util/errors.js';
import { atomicEnv } from '../util/env.js';
import { decompressLayer } from './decompress.js';
import { MutableTree, type MFile } from './mtree.js';
import { UNION_IMPLICIT_DIRS, UNION_LOWER_LINKS } from './constants.js';
import { checkSymlinkTarget, layerInvalid, normalizeEntryPath, unsafePathError } from './tar-safety.js';
import { TarReader, type SparseSegment, type TarEntry } from './tar-reader.js';
import type { LargeFileCandidates } from './large-dedup.js';

// defined in constants.ts, so that a checkout does not load this module (zlib, zstd, the tar reader)
export { UNION_IMPLICIT_DIRS, UNION_LOWER_LINKS };

export interface LayerImportResult {
  rootTree: Checksum;
  rootMeta: Checksum;
  uncompressedDigest: Digest;
  uncompressedSize: number;
  /** Entries for the layer commit's metadata (UNION_IMPLICIT_DIRS, UNION_LOWER_LINKS). */
  unionMetadata: Metadata;
  stats: { entries: number; files: number; dirs: number; symlinks: number; hardlinks: number; skipped: number };
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Files up to this size are collected into a Buffer (the Transaction hashes them in memory). */
const BUFFER_MAX = 1024 * 1024;
/** Bytes of (decompressed) input read ahead while entries are being stored. */
const READ_AHEAD = 2 * 1024 * 1024;

const SPECIAL: Record<string, string> = {
  'character-device': 'character device',
  'block-device': 'block device',
  fifo: 'FIFO',
};

function paxId(pax: Map<string, Buffer>, key: string, fallback: number, entry: string): number {
  const v = pax.get(key);
  if (v === undefined) return fallback;
  const s = v.toString('latin1');
  if (!/^[0-9]{1,10}$/.test(s) || Number(s) > 0xffffffff) throw layerInvalid(`Refusing tar entry ${JSON.stringify(entry)}: invalid PAX ${key} ${JSON.stringify(s.slice(0, 20))}`);
  return Number(s);
}

/** libarchive percent-encodes xattr names in LIBARCHIVE.xattr.* keys. */
function percentDecode(s: string): string {
  return Buffer.from(
    s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

const NO_XATTRS: Xattr[] = [];

export function xattrsFromPax(pax: Map<string, Buffer>, entry: string): Xattr[] {
  if (pax.size === 0) return NO_XATTRS;
  const out = new Map<string, Buffer>();
  for (const [k, v] of pax) {
    if (k.startsWith('LIBARCHIVE.xattr.')) {
      const name = percentDecode(k.slice('LIBARCHIVE.xattr.'.length));
      if (!out.has(name)) out.set(name, Buffer.from(v.toString('latin1'), 'base64'));
    }
  }
  for (const [k, v] of pax) {
    if (k.startsWith('SCHILY.xattr.')) out.set(k.slice('SCHILY.xattr.'.length), v);
  }
  for (const name of out.keys()) {
    if (name === '' || name.includes('\0')) throw layerInvalid(`Refusing tar entry ${JSON.stringify(entry)}: invalid xattr name ${JSON.stringify(name)}`);
    // Linux limits (XATTR_NAME_MAX, XATTR_SIZE_MAX): no filesystem could store more
    const v = out.get(name)!;
    if (Buffer.byteLength(name) > 255 || v.length > 65536) {
      throw layerInvalid(
        `Refusing tar entry ${JSON.stringify(entry)}: its xattr ${JSON.stringify(name.slice(0, 80))} has a ${Buffer.byteLength(name)}-byte name and a ${v.length}-byte value; Linux allows at most 255 and 65536`,
        'Rebuild the image without this extended attribute.',
      );
    }
  }
  return [...out].map(([name, value]) => ({ name, value }));
}

function mapError(e: unknown): AtomicError {
  if (isAtomicError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/tar header|Unexpected end of data|Header exceeds max size|Invalid header|unknown format/i.test(msg)) {
    return new AtomicError('LAYER_INVALID', `Layer tar is invalid: ${msg}`, {
      cause: e,
      suggestions: ['Pull the image again; if it keeps failing, the layer in the registry is damaged or not a tar archive.'],
    });
  }
  return wrapError('import layer', e);
}

/**
 * sha256 of the uncompressed tar (the diff_id) computed on a worker thread, so that it overlaps
 * with storing the entries instead of adding a second full hashing pass to the main thread.
 * Bytes are batched (BATCH) and transferred; `backlog` counts bytes the worker has not hashed
 * yet, and the importer waits between entries while it exceeds MAX_BACKLOG (bounded memory).
 * Falls back to hashing inline if no worker can be started.
 */
class OffThreadHash {
  private static readonly BATCH = 1024 * 1024;
  static readonly MAX_BACKLOG = 8 * 1024 * 1024;
  private static readonly SOURCE = `
const { parentPort } = require('node:worker_threads');
const h = require('node:crypto').createHash('sha256');
parentPort.on('message', (m) => {
  if (m === null) parentPort.postMessage({ digest: h.digest('hex') });
  else { h.update(m); parentPort.postMessage({ done: m.byteLength }); }
});`;
  private readonly worker: Worker | null;
  private readonly inline = createHash('sha256');
  private parts: Buffer[] = [];
  private partBytes = 0;
  backlog = 0;
  private waiters: Array<() => void> = [];
  private digestWaiter: ((d: string) => void) | null = null;
  private failure: Error | null = null;

  constructor() {
    let w: Worker | null = null;
    // Off by default: sha256 of the stream costs ~0.15 s of CPU per 160 MiB here (SHA extensions),
    // less than copying the bytes into transferable batches and posting them (~0.5 s measured).
    if (atomicEnv('ATOMIC_DIFFID_WORKER') === '1') {
      try {
        w = new Worker(OffThreadHash.SOURCE, { eval: true });
      } catch {
        w = null;
      }
    }
    this.worker = w;
    w?.on('message', (m: { done?: number; digest?: string }) => {
      if (m.done !== undefined) {
        this.backlog -= m.done;
        if (this.backlog <= OffThreadHash.MAX_BACKLOG) for (const r of this.waiters.splice(0)) r();
      } else if (m.digest !== undefined) this.digestWaiter?.(m.digest);
    });
    w?.on('error', (e) => this.fail(e));
    w?.on('exit', () => this.fail(new Error('diff_id hashing worker exited')));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const r of this.waiters.splice(0)) r();
    this.digestWaiter?.('');
  }

  update(chunk: Buffer): void {
    if (this.worker === null) {
      this.inline.update(chunk);
      return;
    }
    this.parts.push(chunk);
    this.partBytes += chunk.length;
    if (this.partBytes >= OffThreadHash.BATCH) this.flush();
  }

  private flush(): void {
    if (this.partBytes === 0 || this.worker === null) return;
    // A fresh copy whose memory can be transferred (the input chunks may share pooled memory).
    const batch = new Uint8Array(this.partBytes);
    let off = 0;
    for (const p of this.parts) {
      batch.set(p, off);
      off += p.length;
    }
    this.backlog += this.partBytes;
    this.parts = [];
    this.partBytes = 0;
    this.worker.postMessage(batch, [batch.buffer]);
  }

  /** Resolves once the worker is not too far behind. */
  async throttle(): Promise<void> {
    while (this.backlog > OffThreadHash.MAX_BACKLOG && this.failure === null) await new Promise<void>((r) => this.waiters.push(r));
  }

  async digest(): Promise<string> {
    if (this.worker === null) return this.inline.digest('hex');
    this.flush();
    if (this.failure) throw this.failure;
    const d = await new Promise<string>((r) => {
      this.digestWaiter = r;
      this.worker!.postMessage(null);
    });
    if (this.failure) throw this.failure;
    return d;
  }

  close(): void {
    if (this.worker === null) return;
    this.worker.removeAllListeners('exit');
    this.worker.on('error', () => undefined);
    void this.worker.terminate();
  }
}

type Stats = LayerImportResult['stats'];

/**
 * Files whose object is still being hashed/staged by the I/O workers (Transaction
 * queueRegularFile): their tree node gets the checksum when it is known; `fixups` are awaited
 * before the tree is written.
 */
interface Pending {
  of: WeakMap<MFile, Promise<Checksum>>;
  fixups: Array<Promise<void>>;
}

function deferChecksum(pending: Pending, node: MFile, done: Promise<Checksum>): void {
  pending.of.set(node, done);
  const fix = done.then((c) => {
    node.checksum = c;
  });
  fix.catch(() => undefined); // reported by the await of all fixups (and the next write)
  pending.fixups.push(fix);
}

const ZEROS = Buffer.alloc(64 * 1024);
function* zeros(n: number): Generator<Buffer> {
  while (n > 0) {
    const k = Math.min(n, ZEROS.length);
    yield ZEROS.subarray(0, k);
    n -= k;
  }
}

/** The dense content of a sparse entry: its stored bytes placed by `map`, holes as zeros. */
async function* denseContent(stored: AsyncIterable<Buffer>, map: SparseSegment[], realSize: number): AsyncGenerator<Buffer> {
  let pos = 0;
  let seg = 0;
  let used = 0; // bytes of map[seg] already placed
  for await (const chunk of stored) {
    let off = 0;
    while (off < chunk.length) {
      while (seg < map.length && used === map[seg].length) {
        seg++;
        used = 0;
      }
      if (seg >= map.length) throw layerInvalid('Layer tar has a sparse file with more data than its map');
      const at = map[seg].offset + used;
      if (pos < at) {
        yield* zeros(at - pos);
        pos = at;
      }
      const n = Math.min(map[seg].length - used, chunk.length - off);
      yield chunk.subarray(off, off + n);
      off += n;
      used += n;
      pos += n;
    }
  }
  yield* zeros(realSize - pos);
}
async function importEntry(
  tx: Transaction,
  tree: MutableTree,
  lowerLinks: Map<string, string>,
  reader: TarReader,
  h: TarEntry,
  stats: Stats,
  onWarning: (m: string) => void,
  pending: Pending,
  candidates: LargeFileCandidates | undefined,
): Promise<void> {
  const name = h.name;
  const parts = normalizeEntryPath(name);
  const display = parts.length ? parts.join('/') : '/';
  // A later entry for the path replaces an earlier hardlink to a lower layer.
  if (lowerLinks.size) lowerLinks.delete(parts.join('/'));
  const uid = paxId(h.pax, 'uid', h.uid, name);
  const gid = paxId(h.pax, 'gid', h.gid, name);
  const perm = h.mode & 0o7777;
  const type = h.type;
  stats.entries++;

  if (type in SPECIAL) {
    stats.skipped++;
    const what = type === 'fifo' ? 'FIFO' : 'device node';
    onWarning(`Skipping ${what} ${display} (${SPECIAL[type]}): not supported in the store`);
    return;
  }
  if (type === 'directory') {
    const meta: DirMeta = { uid, gid, mode: S_IFDIR | perm, xattrs: xattrsFromPax(h.pax, name) };
    if (parts.length === 0) tree.setDir(null, '', meta);
    else tree.setDir(tree.parentFor(parts, name), parts[parts.length - 1], meta);
    stats.dirs++;
    return;
  }
  if (parts.length === 0) throw layerInvalid(`Refusing tar entry ${JSON.stringify(name)}: a ${type} cannot be the root of a layer`);
  const base = parts[parts.length - 1];

  if (type === 'link') {
    const target = h.linkname ?? '';
    const tparts = normalizeEntryPath(target, 'hardlink target');
    if (tparts.length === 0) throw unsafePathError(name, 'it is a hardlink to the layer root');
    const node = tree.lookup(tparts);
    if (node?.kind === 'dir') throw unsafePathError(name, `it is a hardlink to the directory ${JSON.stringify(target)}`);
    const parent = tree.parentFor(parts, name);
    const lower = lowerLinks.get(tparts.join('/'));
    if (node === undefined || lower !== undefined) {
      // Not (or only as a link to a lower file) in this layer: a file of a lower layer.
      parent.children.delete(base);
      lowerLinks.set(parts.join('/'), lower ?? tparts.join('/'));
    } else {
      const copy: MFile = { ...node };
      const done = pending.of.get(node);
      if (done !== undefined) deferChecksum(pending, copy, done);
      tree.setFile(parent, base, copy);
    }
    stats.hardlinks++;
    return;
  }
  const parent = tree.parentFor(parts, name);
  const xattrs = xattrsFromPax(h.pax, name);
  if (type === 'symlink') {
    const target = h.linkname ?? '';
    checkSymlinkTarget(name, target);
    const meta: FileMeta = { uid, gid, mode: S_IFLNK | 0o777, symlinkTarget: target, xattrs };
    tree.setFile(parent, base, { kind: 'file', checksum: await tx.writeSymlink(meta), symlink: true });
    stats.symlinks++;
    return;
  }
  if (type !== 'file') throw layerInvalid(`Refusing tar entry ${JSON.stringify(name)}: unsupported entry type ${String(type)}`);
  const meta: FileMeta = { uid, gid, mode: S_IFREG | perm, symlinkTarget: '', xattrs };
  const size = h.size;
  let checksum: Checksum;
  // the object a large file probably equals (large-dedup.ts): looked up only if the Transaction asks
  const candidate = candidates === undefined ? undefined : (): Promise<Checksum | null> => candidates.find(parts, h.sparse ? h.sparse.realSize : size);
  if (h.sparse) {
    const body = Readable.from(denseContent(reader.body(), h.sparse.map, h.sparse.realSize), { objectMode: false, highWaterMark: 256 * 1024 });
    checksum = await tx.writeRegularFile(meta, body, h.sparse.realSize, candidate);
    if (!body.readableEnded) {
      body.resume();
      await finished(body);
    }
  } else if (size <= BUFFER_MAX) {
    // The data as slices of the input (no copy); the Transaction hashes and stages the object
    // (on an I/O worker when there is one) while parsing goes on.
    const data = reader.bodyNow() ?? (await reader.bodyAll());
    const { done } = await tx.queueRegularFile(meta, data, size);
    const node: MFile = { kind: 'file', checksum: '' as Checksum, symlink: false };
    deferChecksum(pending, node, done);
    tree.setFile(parent, base, node);
    stats.files++;
    return;
  } else {
    checksum = await tx.writeRegularFile(meta, reader.body(), size, candidate);
  }
  tree.setFile(parent, base, { kind: 'file', checksum, symlink: false });
  stats.files++;
}

/** Stream a layer tar into `tx`; see the module comment. Rejects with UNSAFE_PATH / LAYER_INVALID. */
export async function importLayerTar(
  tx: Transaction,
  input: NodeJS.ReadableStream,
  opts: {
    onWarning?: (msg: string) => void;
    /** Where large files look for the object they probably equal (large-dedup.ts). */
    candidates?: LargeFileCandidates;
  } = {},
): Promise<LayerImportResult> {
  const onWarning = opts.onWarning ?? (() => {});
  let size = 0;
  let stream: Readable;
  try {
    ({ stream } = await decompressLayer(input));
  } catch (e) {
    (input as Readable).destroy?.();
    throw mapError(e);
  }
  const hash = new OffThreadHash();
  try {
    return await importWith(
      tx,
      stream,
      hash,
      onWarning,
      opts.candidates,
      () => size,
      (n) => (size += n),
    );
  } finally {
    hash.close();
  }
}

/**
 * The chunks of `stream` as they were produced (a Readable's own async iterator concatenates
 * whatever is buffered into one new Buffer: a copy of every byte), read ahead up to `max` bytes
 * so that the input's reads and decompression go on while entries are being stored.
 */
class ReadAhead implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private head = 0;
  private bytes = 0;
  private ended = false;
  private failure: { e: unknown } | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly stream: Readable,
    private readonly max: number,
  ) {
    stream.on('data', (c: Buffer) => {
      this.queue.push(c);
      this.bytes += c.length;
      if (this.bytes >= this.max) stream.pause();
      this.notify();
    });
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('error', (e) => {
      this.failure ??= { e };
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  close(): void {
    this.stream.destroy();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure !== null) throw this.failure.e;
      if (this.head < this.queue.length) {
        const c = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Buffer;
        if (this.head > 256) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        this.bytes -= c.length;
        if (this.bytes < this.max && this.stream.isPaused()) this.stream.resume();
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

async function importWith(
  tx: Transaction,
  stream: Readable,
  hash: OffThreadHash,
  onWarning: (m: string) => void,
  candidates: LargeFileCandidates | undefined,
  getSize: () => number,
  addSize: (n: number) => void,
): Promise<LayerImportResult> {
  const input = new ReadAhead(stream, READ_AHEAD);
  const reader = new TarReader(input, (chunk) => {
    hash.update(chunk);
    addSize(chunk.length);
  });
  const tree = new MutableTree();
  const lowerLinks = new Map<string, string>();
  const stats: Stats = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, skipped: 0 };
  const pending: Pending = { of: new WeakMap(), fixups: [] };
  try {
    for (;;) {
      const entry = await reader.next();
      if (entry === null) break;
      if (hash.backlog > OffThreadHash.MAX_BACKLOG) await hash.throttle();
      await importEntry(tx, tree, lowerLinks, reader, entry, stats, onWarning, pending, candidates);
    }
    await reader.drain();
  } catch (e) {
    input.close();
    throw mapError(e);
  }
  tx.flushQueued();
  try {
    await Promise.all(pending.fixups);
  } catch (e) {
    throw mapError(e);
  }
  const { rootTree, rootMeta } = await tree.write(tx);
  return {
    rootTree,
    rootMeta,
    uncompressedDigest: `sha256:${await hash.digest()}` as Digest,
    uncompressedSize: getSize(),
    unionMetadata: [
      [UNION_IMPLICIT_DIRS, { type: 'as', value: tree.implicitDirs() }],
      [UNION_LOWER_LINKS, { type: 'a(ss)', value: [...lowerLinks] }],
    ],
    stats,
  };
}
