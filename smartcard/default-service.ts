/**
 * The process's SmartCardService, as the front ends reach it. smartcard/ cannot build one itself —
 * that needs the drivers, and only the package entry point wires drivers in (design: imports run
 * downward, the front ends never reach pkcs11-bridge/). So the entry point installs a factory here,
 * and NCryptOpenStorageProvider / CryptAcquireContext ask for the service through this slot.
 */
import { CryptError } from '../minidriver/errors.js';
import type { SmartCardService } from './service.js';

let factory: (() => Promise<SmartCardService>) | undefined;
let shared: Promise<SmartCardService> | undefined;

/** Installed by the package entry point (default-service.ts at the root). */
export function setSmartCardServiceFactory(make: (() => Promise<SmartCardService>) | undefined): void {
  factory = make;
}

/** The process's service, created on first use. */
export function defaultSmartCardService(): Promise<SmartCardService> {
  if (!shared) {
    if (!factory) {
      return Promise.reject(new CryptError('SCARD_E_NO_SERVICE', "no smart card service is configured: import 'p11-ksp' (its entry point wires the drivers in) or call setDefaultSmartCardService", { operation: 'SCardEstablishContext' }));
    }
    shared = factory();
    shared.catch(() => { shared = undefined; }); // a failed start (no SoftHSM2, bad home) is retried next time
  }
  return shared;
}

/**
 * Replaces the process's service (an application with its own registrations, or a test). The one it
 * replaces is closed. null forgets it; the next use makes one with the factory again.
 */
export async function setDefaultSmartCardService(service: SmartCardService | null): Promise<void> {
  const previous = shared;
  shared = service ? Promise.resolve(service) : undefined;
  if (previous) {
    const old = await previous.catch(() => undefined);
    if (old && old !== service) await old.close();
  }
}

/**
 * Puts `service` in place for a while and returns a function that puts the previous one back, open
 * (the conformance runner lends the process to its target this way). Neither is closed here: the
 * borrower closes its own service; the application's stays as it was. Restoring after someone else
 * replaced the borrowed service leaves theirs in place.
 */
export function borrowDefaultSmartCardService(service: SmartCardService): () => void {
  const previous = shared;
  const lent = Promise.resolve(service);
  shared = lent;
  return () => {
    if (shared === lent) shared = previous;
  };
}
