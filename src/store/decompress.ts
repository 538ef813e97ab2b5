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

class ZstdDecoder extends Transform {
  private readonly d: Decompress;
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
      const done = (v: boolean) => { r.off('readable', onReadable); r.off('end', onEnd); r.off('error', onError); resolve(v); };
      const onReadable = () => done(true);
      const onEnd = () => done(false);
      const onError = (e: Error) => { r.off('readable', onReadable); r.off('end', onEnd); r.off('error', onError); reject(e); };
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
 * Return the decompressed tar stream of `input` and the detected compression.
 * The returned stream errors with LAYER_INVALID on corrupt/truncated compressed data.
 */
export async function decompressLayer(input: NodeJS.ReadableStream): Promise<{ stream: Readable; compression: Compression }> {
  const { head, stream: src } = await peek(toNodeReadable(input), 4);
  const compression = detectCompression(head);
  if (compression === 'none') return { stream: src, compression };
  const decoder: Transform = compression === 'gzip' ? zlib.createGunzip({ chunkSize: 64 * 1024 }) : new ZstdDecoder();
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
