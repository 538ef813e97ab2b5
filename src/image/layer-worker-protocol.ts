/**
 * Messages between image/layer-worker.ts (main thread) and image/layer-worker-thread.ts (the
 * worker), and how errors cross the thread boundary: an AtomicError keeps its code, message,
 * suggestions, exit code and ref; a system error its errno fields (code, syscall, path), so that
 * isErrno/wrapError and the CLI's exit codes see exactly what they would on the main thread.
 */
import { AtomicError, isAtomicError, type ErrorCode } from '../util/errors.js';
import type { LayerImportResult } from '../store/layer-import.js';
import type { Checksum, Commit } from '../store/types.js';

export interface LayerWorkerData {
  repoPath: string;
  /**
   * The transaction's staging dir, chosen by the main thread before the worker starts: a worker
   * killed at any point (even between its mkdir and its first message) leaves nothing the main
   * thread does not know to remove.
   */
  stagingDir: string;
  /** The process-wide fault-point counter (util/atomic-write.ts), shared with the main thread. */
  faultCounter?: SharedArrayBuffer;
  /** The pulled image's name and the other images its large files are compared with (image/dedup-candidates.ts); none when absent. */
  likely?: { name: string; likeImages: string[] };
}

export type LayerWorkerIn =
  { type: 'data'; chunks: Uint8Array[] } | { type: 'end' } | { type: 'fail'; error: SerializedError } | { type: 'commit'; commit: Commit; ref: string } | { type: 'abort' };

export type LayerWorkerOut =
  | { type: 'ack'; bytes: number }
  | { type: 'warning'; msg: string }
  | { type: 'imported'; result: LayerImportResult }
  | { type: 'committed'; checksum: Checksum }
  | { type: 'aborted' }
  | { type: 'error'; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  /** AtomicError: its code; system errors: the errno name. */
  code?: string;
  suggestions?: string[];
  exitCode?: number;
  ref?: string;
  syscall?: string;
  path?: string;
}

export function serializeError(e: unknown): SerializedError {
  if (isAtomicError(e)) return { name: 'AtomicError', message: e.message, code: e.code, suggestions: e.suggestions, exitCode: e.exitCode, ref: e.ref };
  if (e instanceof Error) {
    const x = e as NodeJS.ErrnoException;
    return { name: e.name, message: e.message, code: typeof x.code === 'string' ? x.code : undefined, syscall: x.syscall, path: x.path };
  }
  return { name: 'Error', message: String(e) };
}

export function deserializeError(s: SerializedError): Error {
  if (s.name === 'AtomicError' && s.code !== undefined) {
    return new AtomicError(s.code as ErrorCode, s.message, { suggestions: s.suggestions, exitCode: s.exitCode, ref: s.ref });
  }
  const e: NodeJS.ErrnoException = new Error(s.message);
  if (s.code !== undefined) e.code = s.code;
  if (s.syscall !== undefined) e.syscall = s.syscall;
  if (s.path !== undefined) e.path = s.path;
  return e;
}
