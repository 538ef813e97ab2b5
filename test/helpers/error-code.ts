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

/**
 * Asserts that `fn` throws an AtomicError with `code` whose message contains each string part
 * and matches each RegExp part.
 */
export function expectError(fn: () => unknown, code: string, ...parts: Array<string | RegExp>): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAtomicError(e), `not an AtomicError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
      else assert.match(e.message, p);
    }
    return true;
  });
}
