/**
 * What every command does with the shared flags, as plain functions so that the oclif commands
 * (cli/base-command.ts) and the start-up fast path (cli/fast-path.ts) behave the same.
 */
import { createContext, type AppContext } from '../app/context.js';
import { AtomicError } from '../util/errors.js';
import { setAtomicEnv } from '../util/env.js';

export function contextFromFlags(flags: { sysroot?: string; debug?: boolean }): AppContext {
  if (flags.debug) setAtomicEnv('ATOMIC_DEBUG', '1');
  return createContext({ sysroot: flags.sysroot });
}

/** Validate atomic's --storage flag: only the ostree backend exists in this implementation. */
export function checkStorage(storage: string | undefined): void {
  if (storage !== undefined && storage !== 'ostree') {
    throw new AtomicError('USAGE', `storage "${storage}" is not supported: only the 'ostree' storage is available`, {
      suggestions: ['Use --storage ostree (the default).'],
    });
  }
}
