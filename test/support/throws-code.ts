import assert from 'node:assert/strict';

/** Asserts that `action` throws, synchronously, an Error of this type carrying `code` (Node's ERR_* style). */
export function throwsCode(action: () => unknown, type: new (...args: never[]) => Error, code: string, what: string): void {
  assert.throws(action, (err: unknown) => err instanceof type && (err as { code?: string }).code === code, what);
}
