/**
 * The one assertion every conformance case makes about failures: the call throws a CryptError with
 * exactly that Windows code. A different code, another kind of error or no error at all fails the
 * case with a message naming what was expected and what came.
 */
import { CryptError } from '../../minidriver/errors.js';

export async function expectCode(action: () => Promise<unknown>, codeName: string, what: string): Promise<CryptError> {
  return expectCodeIn(action, [codeName], what);
}

/**
 * The same for the rules where the specification allows one of several codes (CardGetProperty with an
 * unknown name: SCARD_E_INVALID_PARAMETER or SCARD_E_UNSUPPORTED_FEATURE). The action runs once.
 */
export async function expectCodeIn(action: () => Promise<unknown>, codeNames: readonly string[], what: string): Promise<CryptError> {
  const expected = codeNames.join(' or ');
  let result: unknown;
  try {
    result = await action();
  } catch (err) {
    if (err instanceof CryptError && codeNames.includes(err.codeName)) return err;
    const got = err instanceof CryptError ? err.codeName : `${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`;
    throw new Error(`${what}: expected ${expected}, got ${got}`, { cause: err });
  }
  throw new Error(`${what}: expected ${expected}, but the call succeeded (${describe(result)})`);
}

function describe(value: unknown): string {
  if (Buffer.isBuffer(value)) return `${value.length} bytes`;
  if (value === undefined || value === null) return String(value);
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}

/** A plain assertion whose message says what was checked (node:assert's diff is not wanted in reports). */
export function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${what}`);
}

export function checkEqual<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}
