/**
 * Decompression of layer blobs, detected from their first bytes (never from the media type,
 * which registries get wrong): gzip `1f 8b`, zstd `28 b5 2f fd`, anything else is passed
 * through as a plain tar (the tar parser then judges it).
 *
 * Errors of the decoders (truncated or corrupt streams) become LAYER_INVALID; errors of the
 * input stream itself (DIGEST_MISMATCH from a verifying source, I/O) are passed on unchanged.
 *
 * Concatenated gzip members are one stream (as `gzip -c a b`); bytes after the last member
 * that are not another gzip member are refused (LAYER_INVALID), like Go's multistream gzip
 * reader used by containers/image. zstd: concatenated frames and skippable frames are read.
 *
 * zstd memory bound: every frame header is checked before the decoder sees it (ZstdFrameGuard
 * follows the frame/block structure of the stream), and a frame whose window (or, for a
 * single-segment frame, content size) exceeds 128 MiB is refused, as `zstd -d` does by default
 * (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27, "Frame requires too much memory for decoding"): the decoder
 * allocates the declared window up front, so a 30 KB layer could otherwise cost gigabytes.
 */
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { AtomicError, isAtomicError } from '../util/errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (head.length >= 4 && head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** The largest window `zstd -d` accepts without --memory / --long (1 << ZSTD_WINDOWLOG_LIMIT_DEFAULT). */
export const ZSTD_MAX_WINDOW = 128 * 1024 * 1024;

/**
 * Follows the frame structure of a zstd stream (frame headers, block headers, checksums,
 * skippable frames) byte by byte without decoding anything, to check each frame header before
 * the decoder allocates its window. Input the guard does not understand is left to the decoder
 * (which then reports it as corrupt).
 */
export class ZstdFrameGuard {
  private need = 4; // bytes still wanted for the current header
  private head: number[] = [];
  private skip = 0; // body bytes to pass over
  private state: 'magic' | 'fhd' | 'frame-header' | 'skippable-size' | 'block' | 'checksum' | 'off' = 'magic';
  private checksum = false;
  private frames = 0;

  constructor(private readonly maxWindow = ZSTD_MAX_WINDOW) {}

  /** Throws LAYER_INVALID when a frame declares a window larger than the limit. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.state !== 'off') {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      this.head.push(chunk[i++]);
      if (this.head.length < this.need) continue;
      this.step();
    }
  }

  private next(state: typeof this.state, need: number, skip = 0): void {
    this.state = state;
    this.need = need;
    this.skip = skip;
    this.head = [];
  }

  private step(): void {
    const h = this.head;
    switch (this.state) {
      case 'magic': {
        const m = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
        if (m === 0xfd2fb528) this.next('fhd', 1);
        else if ((m & 0xfffffff0) === 0x184d2a50) this.next('skippable-size', 4);
        else this.next('off', 0);
        return;
      }
      case 'skippable-size':
        this.next('magic', 4, (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0);
        return;
      case 'fhd': {
        const fhd = h[0];
        const single = (fhd >> 5) & 1;
        const dictBytes = [0, 1, 2, 4][fhd & 3];
        const fcsBytes = [single, 2, 4, 8][fhd >> 6];
        this.checksum = ((fhd >> 2) & 1) === 1;
        this.state = 'frame-header';
        this.need = 1 + (single ? 0 : 1) + dictBytes + fcsBytes;
        return;
      }
      case 'frame-header': {
        const fhd = h[0];
        const single = (fhd >> 5) & 1;
        const dictBytes = [0, 1, 2, 4][fhd & 3];
        const fcsCode = fhd >> 6;
        let window: number;
        if (single) {
          const at = 1 + dictBytes;
          const fcsBytes = [1, 2, 4, 8][fcsCode];
          let fcs = 0;
          for (let k = fcsBytes - 1; k >= 0; k--) fcs = fcs * 256 + h[at + k];
          window = fcsCode === 1 ? fcs + 256 : fcs;
        } else {
          const wd = h[1];
          const base = 2 ** (10 + (wd >> 3));
          window = base + (base / 8) * (wd & 7);
        }
        this.frames++;
        if (window > this.maxWindow) {
          throw new AtomicError(
            'LAYER_INVALID',
            `Layer blob is a zstd stream whose frame ${this.frames} declares a ${single ? 'content size' : 'window'} of ${mib(window)}, more than the ${mib(this.maxWindow)} that \`zstd -d\` accepts by default (decoding it would need that much memory); refused before decompressing`,
            {
              suggestions: ['Recompress the layer with a window of at most 128 MiB (zstd without --long, or --long=27), or ask the image publisher to; nothing was written.'],
            },
          );
        }
        this.next('block', 3);
        return;
      }
      case 'block': {
        const bh = h[0] | (h[1] << 8) | (h[2] << 16);
        const last = bh & 1;
        const type = (bh >> 1) & 3;
        const size = bh >>> 3;
        const body = type === 1 ? 1 : type === 3 ? -1 : size;
        if (body < 0) return this.next('off', 0); // reserved block type: the decoder reports it
        if (!last) this.next('block', 3, body);
        else if (this.checksum) this.next('checksum', 4, body);
        else this.next('magic', 4, body);
        return;
      }
      case 'checksum':
        this.next('magic', 4);
        return;
      default:
        this.next('off', 0);
    }
  }
}

function mib(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MiB` : `${n} bytes`;
}

class ZstdDecoder extends Transform {
  private readonly d: Decompress;
  private readonly guard = new ZstdFrameGuard();
  private pending: TransformCallback | null = null;
  private lastPushOk = true;

  constructor() {
    super();
    this.d = new Decompress((chunk) => {
      // fzstd may hand out views of its window: copy before passing downstream.
      if (chunk.length) this.lastPushOk = this.push(Buffer.from(chunk));
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.lastPushOk = true;
      this.guard.push(chunk);
      this.d.push(chunk, false);
    } catch (e) {
      return cb(e as Error);
    }
    // Backpressure: wait for the reader before accepting more input.
    if (this.lastPushOk) cb();
    else this.pending = cb;
  }

  override _read(size: number): void {
    const cb = this.pending;
    this.pending = null;
    if (cb) cb();
    super._read(size);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.d.push(new Uint8Array(0), true);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

function decoderError(kind: Compression, e: unknown): AtomicError {
  const msg = e instanceof Error ? e.message : String(e);
  return new AtomicError('LAYER_INVALID', `Layer blob is not a valid ${kind} stream: ${msg} (truncated or corrupt)`, {
    cause: e,
    suggestions: ['Pull the image again; if it keeps failing, the image in the registry is damaged.'],
  });
}

/** Read at least `n` bytes (or to the end); returns them and a stream that still yields every byte. */
async function peek(r: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const chunk = r.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      got += chunk.length;
      continue;
    }
    if (r.readableEnded) return { head: Buffer.concat(parts), stream: Readable.from(parts) };
    const more = await new Promise<boolean>((resolve, reject) => {
      const done = (v: boolean) => {
        r.off('readable', onReadable);
        r.off('end', onEnd);
        r.off('error', onError);
        resolve(v);
      };
      const onReadable = () => done(true);
      const onEnd = () => done(false);
      const onError = (e: Error) => {
        r.off('readable', onReadable);
        r.off('end', onEnd);
        r.off('error', onError);
        reject(e);
      };
      r.on('readable', onReadable);
      r.on('end', onEnd);
      r.on('error', onError);
    });
    // Ended: unshift() is no longer possible, so replay what was read.
    if (!more) return { head: Buffer.concat(parts), stream: Readable.from(parts) };
  }
  const head = Buffer.concat(parts);
  if (head.length) r.unshift(head);
  return { head, stream: r };
}

function toNodeReadable(input: NodeJS.ReadableStream): Readable {
  if (input instanceof Readable) return input;
  return new Readable().wrap(input);
}

/**
 * Output chunk of the gzip decoder. Each chunk is one inflate job on the thread pool and one
 * callback on the importing thread: 256 KiB instead of 64 KiB cut ~2,600 round trips to ~650 for
 * the 162 MiB Debian layer (zlib callbacks on that thread 158 -> 31 ms of its profile;
 * docs/benchmarks.md, "Pull", ninth session); 512 KiB and more gained nothing and held more memory.
 */
const GUNZIP_CHUNK = 256 * 1024;

/**
 * Return the decompressed tar stream of `input` and the detected compression.
 * The returned stream errors with LAYER_INVALID on corrupt/truncated compressed data.
 */
export async function decompressLayer(input: NodeJS.ReadableStream): Promise<{ stream: Readable; compression: Compression }> {
  const { head, stream: src } = await peek(toNodeReadable(input), 4);
  const compression = detectCompression(head);
  if (compression === 'none') return { stream: src, compression };
  const decoder: Transform = compression === 'gzip' ? zlib.createGunzip({ chunkSize: GUNZIP_CHUNK }) : new ZstdDecoder();
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  // Plain pipes plus our own error handlers: pipeline() stops listening once the decoder's
  // writable side finished, but zlib reports a truncated stream only after that.
  const fail = (e: unknown, fromDecoder: boolean) => {
    if (out.destroyed) return;
    out.destroy(fromDecoder && !isAtomicError(e) ? decoderError(compression, e) : (e as Error));
  };
  src.on('error', (e) => fail(e, false));
  decoder.on('error', (e) => fail(e, true));
  src.pipe(decoder).pipe(out);
  out.on('close', () => {
    src.unpipe(decoder);
    if (!src.destroyed) src.destroy();
    if (!decoder.destroyed) decoder.destroy();
  });
  return { stream: out, compression };
}
