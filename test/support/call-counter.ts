/**
 * Counting the calls an operation makes on an object (a card module's entry points, a pkcs11js
 * instance's C_* functions) without changing them: each counted method becomes a pass-through that
 * counts, for the duration of one action, and is put back afterwards (own property restored, or
 * deleted so the prototype's method shows through again).
 */
import { ENTRY_POINT_VERSIONS } from '../../minidriver/card-module.js';
import type { SmartCard } from '../../smartcard/card.js';

export type Counts = Record<string, number>;

/** Calls per name (renamed) while `action` runs. */
export async function counting(target: object, names: readonly string[], rename: (name: string) => string, action: () => Promise<void>): Promise<Counts> {
  const object = target as Record<string, (...args: unknown[]) => unknown>;
  const counts: Counts = {};
  const own = names.map((name) => [name, Object.getOwnPropertyDescriptor(object, name)] as const);
  for (const name of names) {
    const original = object[name]!;
    object[name] = function (this: unknown, ...args: unknown[]) {
      const key = rename(name);
      counts[key] = (counts[key] ?? 0) + 1;
      return original.apply(this, args);
    };
  }
  try {
    await action();
  } finally {
    for (const [name, descriptor] of own) {
      if (descriptor) Object.defineProperty(object, name, descriptor);
      else delete object[name];
    }
  }
  return counts;
}

/** Every C_* function of a pkcs11js instance, its own and its prototypes'. */
export function pkcs11FunctionNames(pkcs11: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = pkcs11; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const n of Object.getOwnPropertyNames(o)) {
      if (n.startsWith('C_') && !n.endsWith('Callback') && typeof (pkcs11 as Record<string, unknown>)[n] === 'function') names.add(n);
    }
  }
  return [...names];
}

/** PKCS#11 calls while `action` runs, by function: C_SignAsync is C_Sign on a worker thread. */
export function countPkcs11Calls(pkcs11: object, action: () => Promise<void>): Promise<Counts> {
  return counting(pkcs11, pkcs11FunctionNames(pkcs11), (name) => name.replace(/Async$/, ''), action);
}

/**
 * The card entry points and PKCS#11 functions (C_xxxAsync counted as C_xxx) `n` calls of `op` make,
 * after one warm-up call. `pkcs11` is the pkcs11js instance the card's driver loaded (acquireModule
 * gives the process's one instance per module path).
 */
export async function warmIo(card: SmartCard, pkcs11: object, n: number, op: () => Promise<unknown>): Promise<{ card: Counts; pkcs11: Counts }> {
  await op();
  let tokenCalls: Counts = {};
  const entries = await counting(card.module, Object.keys(ENTRY_POINT_VERSIONS), (name) => name, async () => {
    tokenCalls = await countPkcs11Calls(pkcs11, async () => { for (let i = 0; i < n; i++) await op(); });
  });
  return { card: entries, pkcs11: tokenCalls };
}
