/**
 * Asserts that a call fails with a CryptError of one exact code — and with nothing else, so a codec
 * that lets a RangeError or TypeError escape on malformed input fails its test.
 */
import { strict as assert } from 'node:assert';
import { CryptError } from '../../minidriver/errors.js';

export function expectCryptError(action: () => unknown, codeName: string): CryptError {
  let thrown: unknown;
  try {
    action();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown !== undefined, `expected a CryptError ${codeName}, but the call succeeded`);
  assert.ok(thrown instanceof CryptError, `expected a CryptError ${codeName}, got ${String(thrown)}`);
  assert.equal(thrown.codeName, codeName, `wrong code; message: ${thrown.message}`);
  return thrown;
}
