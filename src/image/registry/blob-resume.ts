/**
 * A registry blob body that survives a cut connection: when the body fails mid-stream (reset,
 * aborted, closed early), the blob is requested again with `Range: bytes=N-` (N = bytes already
 * passed on) and the stream continues where it stopped; a registry that ignores Range (200
 * instead of 206) sends the whole blob again and the first N bytes are skipped. After
 * MAX_RETRIES failed resumptions the error names the blob, how far it got and the cause.
 * Timeouts and slow transfers are not retried (http.ts already waited for them). The digest and
 * size are still checked over the whole stream by verifyStream.
 */
import { Readable } from 'node:stream';
import { AtomicError, isAtomicError } from '../../util/errors.js';
import type { HttpResponse } from './http.js';

export const MAX_RETRIES = 3;
const RETRY_DELAY_MS = 200;

const CUT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

function isCut(e: unknown): boolean {
  if (isAtomicError(e)) return false;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ETIMEDOUT') return false;
  return (typeof err?.code === 'string' && CUT_CODES.has(err.code)) || /aborted|socket hang up|premature close/i.test(String(err?.message));
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ECONNRESET' && /aborted/i.test(String(err.message))) return 'the connection was closed before the end of the body (aborted)';
  if (err?.code === 'ECONNRESET') return 'the connection was reset by the server (ECONNRESET)';
  return `${err?.message ?? String(e)}${err?.code ? ` (${err.code})` : ''}`;
}

/** `reopen(from)`: GET the blob again with `Range: bytes=from-`. */
export function resumableBlob(
  first: HttpResponse,
  size: number,
  what: string,
  reopen: (from: number) => Promise<HttpResponse>,
  onRetry?: (msg: string) => void,
): Readable {
  async function* body(): AsyncGenerator<Buffer> {
    let res = first;
    let received = 0;
    let skip = 0;
    for (let attempt = 0; ; attempt++) {
      let cause: unknown = null;
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          let c = chunk;
          if (skip > 0) {
            const n = Math.min(skip, c.length);
            c = c.subarray(n);
            skip -= n;
            if (c.length === 0) continue;
          }
          received += c.length;
          yield c;
        }
        if (skip > 0 || received < size) cause = new Error(`the connection was closed after ${received} of ${size} bytes`);
        else return;
      } catch (e) {
        if (!isCut(e)) throw e;
        cause = e;
      }
      if (attempt >= MAX_RETRIES) {
        throw new AtomicError('IO', `Download of ${what} failed after ${received} of ${size} bytes: ${describe(cause)}; gave up after ${MAX_RETRIES} resumptions`, {
          cause,
          ref: what,
          suggestions: ['Check the network and the registry, then pull again (layers already stored are not downloaded again).'],
        });
      }
      onRetry?.(`Download of ${what} interrupted after ${received} of ${size} bytes (${describe(cause)}); resuming (${attempt + 1}/${MAX_RETRIES})`);
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * (attempt + 1)));
      res.body.destroy?.();
      try {
        res = await reopen(received);
      } catch (e) {
        if (!isCut(e) && !(e as NodeJS.ErrnoException)?.code) throw e;
        res = { status: 0, headers: {}, body: Readable.from([]) } as unknown as HttpResponse;
        cause = e;
        continue;
      }
      const range = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (res.status === 206 && range && Number(range[1]) === received) skip = 0;
      else if (res.status === 200) skip = received; // Range ignored: the whole blob again, skip what we have
      else {
        res.body.destroy?.();
        throw new AtomicError('IO', `Download of ${what} failed after ${received} of ${size} bytes: ${describe(cause)}; resuming got HTTP ${res.status}`, { cause, ref: what });
      }
    }
  }
  return Readable.from(body(), { objectMode: false });
}
