/**
 * The one error type of the project. Every failure a user can see is an AtomicError with
 * an UPPER_SNAKE `code` (prefixed by its area), a message that names the value involved,
 * optional suggestions ("Try this: ...") and a process exit code derived from the code.
 * Callers branch on `err.code`, never on `instanceof` of subclasses.
 */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  LOCK_BUSY: 4,
  INTEGRITY: 5,
  UNSAFE_INPUT: 6,
  POLICY: 7,
  HEALTH: 8,
} as const;

export type ErrorCode =
  | 'USAGE'
  | 'NOT_FOUND'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_INVALID'
  | 'IMAGE_UNSUPPORTED'
  | 'IMAGE_UNSUPPORTED_MEDIATYPE'
  | 'IMAGE_TOO_LARGE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'LAYER_INVALID'
  | 'UNSAFE_PATH'
  | 'UNSAFE_INPUT'
  | 'STORE_INVALID'
  | 'STORE_CORRUPT'
  | 'STORE_OBJECT_MISSING'
  | 'STORE_REF_NOT_FOUND'
  | 'STORE_CROSS_DEVICE'
  | 'STORE_UNSUPPORTED_MODE'
  | 'LOCK_BUSY'
  | 'CONTAINER_NOT_FOUND'
  | 'CHECKOUT_FAILED'
  | 'MOUNT_FAILED'
  | 'NOT_SUPPORTED'
  | 'PERMISSION'
  | 'IO'
  | 'INTERNAL'
  | 'RENDER_UNKNOWN_VARIABLE'
  | 'RENDER_UNSAFE_VALUE'
  | 'RENDER_INVALID_JSON'
  | 'SCHEMA_INVALID'
  | 'IMAGE_LABEL_MISSING'
  | 'POLICY_INVALID'
  | 'POLICY_REJECTED'
  | 'HEALTH_CHECK_FAILED';

const EXIT_BY_CODE: Partial<Record<ErrorCode, number>> = {
  USAGE: EXIT.USAGE,
  NOT_FOUND: EXIT.NOT_FOUND,
  IMAGE_NOT_FOUND: EXIT.NOT_FOUND,
  STORE_REF_NOT_FOUND: EXIT.NOT_FOUND,
  CONTAINER_NOT_FOUND: EXIT.NOT_FOUND,
  LOCK_BUSY: EXIT.LOCK_BUSY,
  DIGEST_MISMATCH: EXIT.INTEGRITY,
  SIZE_MISMATCH: EXIT.INTEGRITY,
  STORE_CORRUPT: EXIT.INTEGRITY,
  UNSAFE_PATH: EXIT.UNSAFE_INPUT,
  UNSAFE_INPUT: EXIT.UNSAFE_INPUT,
  LAYER_INVALID: EXIT.UNSAFE_INPUT,
  RENDER_UNKNOWN_VARIABLE: EXIT.USAGE,
  RENDER_UNSAFE_VALUE: EXIT.USAGE,
  RENDER_INVALID_JSON: EXIT.USAGE,
  SCHEMA_INVALID: EXIT.FAILURE,
  POLICY_INVALID: EXIT.POLICY,
  POLICY_REJECTED: EXIT.POLICY,
  HEALTH_CHECK_FAILED: EXIT.HEALTH,
};

export interface AtomicErrorOptions {
  suggestions?: string[];
  cause?: unknown;
  exitCode?: number;
  /** A file, image or path the error is about, for --json output. */
  ref?: string;
}

export class AtomicError extends Error {
  readonly code: ErrorCode;
  readonly suggestions: string[];
  readonly exitCode: number;
  readonly ref?: string;

  constructor(code: ErrorCode, message: string, opts: AtomicErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AtomicError';
    this.code = code;
    this.suggestions = opts.suggestions ?? [];
    this.exitCode = opts.exitCode ?? EXIT_BY_CODE[code] ?? EXIT.FAILURE;
    this.ref = opts.ref;
  }
}

/** Shorthand constructor: `fail('IMAGE_NOT_FOUND', 'Image "x" not found', 'Pull it first')`. */
export function atomicError(code: ErrorCode, message: string, ...suggestions: string[]): AtomicError {
  return new AtomicError(code, message, { suggestions });
}

export function isAtomicError(e: unknown): e is AtomicError {
  return e instanceof Error && typeof (e as AtomicError).code === 'string' && (e as AtomicError).name === 'AtomicError';
}

/** Node system error (ENOENT, EEXIST, ...) test. */
export function isErrno(e: unknown, code?: string): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (code === undefined || (e as NodeJS.ErrnoException).code === code);
}

/**
 * Wrap an error with a short lowercase context ("checkout etcd.1: rename temp dir"),
 * keeping the original as `cause`. AtomicErrors keep their code; other errors become IO.
 */
export function wrapError(context: string, e: unknown): AtomicError {
  if (isAtomicError(e)) {
    const w = new AtomicError(e.code, `${context}: ${e.message}`, { suggestions: e.suggestions, cause: e, exitCode: e.exitCode, ref: e.ref });
    return w;
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (isErrno(e, 'ENOSPC')) {
    return new AtomicError('IO', `${context}: no space left on device`, { cause: e, suggestions: ['Free some space on the filesystem and run the command again; nothing was changed.'] });
  }
  if (isErrno(e, 'EACCES') || isErrno(e, 'EPERM')) {
    return new AtomicError('PERMISSION', `${context}: ${msg}`, { cause: e, suggestions: ['Run the command as root, or use a store you own (ATOMIC_OSTREE_REPO).'] });
  }
  return new AtomicError('IO', `${context}: ${msg}`, { cause: e });
}
