/** The AtomicError code a call fails with ('OK' when it does not fail); any other error fails the test. */
import { strict as assert } from 'node:assert';
import { isAtomicError } from '../../src/util/errors.js';

export function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isAtomicError(e), `not an AtomicError: ${String(e)}`);
    return e.code;
  }
  return 'OK';
}

export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.ok(isAtomicError(e), `not an AtomicError: ${String(e)}`);
    return e.code;
  }
  return 'OK';
}
