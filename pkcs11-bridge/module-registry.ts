import { CryptError } from '../minidriver/errors.js';
import { directSinglePart, type DirectSinglePart } from '../native/pkcs11-direct.js';
import { ckrOf, pk, type PKCS11 } from './pkcs11.js';

/** A PKCS#11 module loaded once per process and path, shared by every driver that names the path. */
export interface LoadedModule {
  readonly path: string;
  readonly pkcs11: PKCS11;
  /** True when this process's C_Initialize was ours; false when someone else had initialised it. */
  readonly initialisedHere: boolean;
  /**
   * Single-part signatures and decryptions on this module in one native crossing (one-shot.ts), the
   * same calls pkcs11js would make; undefined when the native addon is not built or the module hands
   * it another instance than the one initialised here (p11-kit's client).
   */
  readonly singlePart: DirectSinglePart | undefined;
}

interface Entry extends LoadedModule {
  references: number;
}

const modules = new Map<string, Entry>();

/**
 * Loads and initialises a module, or adds a reference to the one already loaded. Initialisation asks
 * for CKF_OS_LOCKING_OK: pkcs11js's asynchronous calls run on worker threads, SoftHSM2 turns its own
 * locking off without it, and p11-kit's client refuses flags 0 with CKR_CANT_LOCK. A module that
 * another library in the process initialised (CKR_CRYPTOKI_ALREADY_INITIALIZED) is adopted and never
 * finalised by us.
 */
export function acquireModule(path: string): LoadedModule {
  const existing = modules.get(path);
  if (existing) {
    existing.references++;
    return existing;
  }
  const pkcs11 = new pk.PKCS11();
  try {
    pkcs11.load(path);
  } catch (err) {
    throw new CryptError('SCARD_E_NO_SERVICE', `cannot load the PKCS#11 module ${path}: ${(err as Error).message}; check the path and that its dependencies are installed`, { operation: 'CardAcquireContext', cause: err });
  }
  let initialisedHere = true;
  try {
    pkcs11.C_Initialize({ flags: pk.CKF_OS_LOCKING_OK });
  } catch (err) {
    if (ckrOf(err) === pk.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      initialisedHere = false;
    } else {
      try { pkcs11.close(); } catch { /* the load failed half-way; nothing more to undo */ }
      throw new CryptError('SCARD_E_NO_SERVICE', `the PKCS#11 module ${path} failed to initialise (${(err as Error).message}); check its configuration`, { operation: 'CardAcquireContext', cause: err });
    }
  }
  const entry: Entry = { path, pkcs11, initialisedHere, singlePart: directSinglePart(path), references: 1 };
  modules.set(path, entry);
  return entry;
}

/**
 * Drops a reference. The last one finalises the module if this process initialised it. Only ever
 * called explicitly (close/dispose), never from a garbage-collection hook: finalising under another
 * user's feet invalidates its sessions.
 */
export function releaseModule(module: LoadedModule): void {
  const entry = modules.get(module.path);
  if (!entry || entry !== module) return;
  if (--entry.references > 0) return;
  modules.delete(entry.path);
  if (entry.initialisedHere) {
    try { entry.pkcs11.C_Finalize(); } catch { /* already finalised by someone else */ }
  }
  try { entry.pkcs11.close(); } catch { /* library already unloaded */ }
}

/** Number of references held on a module path (for tests and diagnostics). */
export function moduleReferences(path: string): number {
  return modules.get(path)?.references ?? 0;
}
