/**
 * Counting the calls an operation makes on an object (a card module's entry points, a pkcs11js
 * instance's C_* functions) without changing them: each counted method becomes a pass-through that
 * counts, for the duration of one action, and is put back afterwards (own property restored, or
 * deleted so the prototype's method shows through again).
 */
import { ENTRY_POINT_VERSIONS } from '../../minidriver/card-module.js';
import { DIRECT_SIGN, type DirectSinglePart } from '../../native/pkcs11-direct.js';
import type { LoadedModule } from '../../pkcs11-bridge/module-registry.js';
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

/**
 * PKCS#11 calls of a loaded module while `action` runs, by function: those made through pkcs11js
 * (C_SignAsync is C_Sign on a worker thread) and those the native addon makes for it (a single-part
 * signature is C_SignInit + C_Sign, a decryption C_DecryptInit + C_Decrypt).
 */
export async function countPkcs11Calls(module: LoadedModule, action: () => Promise<void>): Promise<Counts> {
  const holder = module as { singlePart: DirectSinglePart | undefined };
  const direct = holder.singlePart;
  const directCounts: Counts = {};
  if (direct) {
    holder.singlePart = (operation, ...rest) => {
      for (const name of operation === DIRECT_SIGN ? ['C_SignInit', 'C_Sign'] : ['C_DecryptInit', 'C_Decrypt']) directCounts[name] = (directCounts[name] ?? 0) + 1;
      return direct(operation, ...rest);
    };
  }
  try {
    const counts = await counting(module.pkcs11, pkcs11FunctionNames(module.pkcs11), (name) => name.replace(/Async$/, ''), action);
    for (const [name, n] of Object.entries(directCounts)) counts[name] = (counts[name] ?? 0) + n;
    return counts;
  } finally {
    holder.singlePart = direct;
  }
}

/**
 * The card entry points and PKCS#11 functions (C_xxxAsync counted as C_xxx) `n` calls of `op` make,
 * after one warm-up call. `module` is the one the card's driver loaded (acquireModule gives the
 * process's one instance per module path).
 */
export async function warmIo(card: SmartCard, module: LoadedModule, n: number, op: () => Promise<unknown>): Promise<{ card: Counts; pkcs11: Counts }> {
  await op();
  let tokenCalls: Counts = {};
  const entries = await counting(card.module, Object.keys(ENTRY_POINT_VERSIONS), (name) => name, async () => {
    tokenCalls = await countPkcs11Calls(module, async () => { for (let i = 0; i < n; i++) await op(); });
  });
  return { card: entries, pkcs11: tokenCalls };
}
