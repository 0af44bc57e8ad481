/**
 * The one place that wires the PKCS#11 bridge into the smart card services (design: "the package's
 * entry point is the one place that wires the bridge into the registry"). smartcard/ knows drivers
 * only through the CardMinidriver contract; here every 'minidriver' registration's module path becomes
 * a Pkcs11Minidriver.
 *
 * Where registrations come from: `<P11KSP_HOME>/providers/` (`p11-ksp provider add`). With nothing
 * registered, the embedded SoftHSM2 store in P11KSP_HOME serves, so a fresh installation has a card
 * to work on. The global data cache and the per-card lock files live in the same home, private to
 * the user.
 */
import { join } from 'node:path';
import { prepareHome, resolveHome } from './home.js';
import { Pkcs11Minidriver } from './pkcs11-bridge/index.js';
import { LmdbCacheBackend } from './smartcard/global-cache-store.js';
import { type Registration, RegistryStore } from './smartcard/registry/index.js';
import { setSmartCardServiceFactory } from './smartcard/default-service.js';
import { SmartCardService } from './smartcard/service.js';

export interface SmartCardServiceConfig {
  /** The configuration root; default P11KSP_HOME (see home.ts). */
  home?: string;
  /** Use these instead of the registry's (an application that brings its own). */
  registrations?: readonly Registration[];
  /** false: no global cache (this process's only). Default true. */
  globalCache?: boolean;
  /** Notes about the home folder (permissions) and unreadable registrations. */
  warn?: (message: string) => void;
}

/** The registration the embedded SoftHSM2 store gets when nothing is registered. */
export const EMBEDDED_REGISTRATION_NAME = 'embedded-softhsm2';

/** A SmartCardService over the registered drivers (or the embedded store). */
export async function createSmartCardService(config: SmartCardServiceConfig = {}): Promise<SmartCardService> {
  const warn = config.warn ?? (() => {});
  const home = config.home ?? resolveHome();
  let registrations = config.registrations;
  if (!registrations) {
    const listed = await new RegistryStore(home).list();
    for (const problem of listed.problems) warn(`skipped ${problem.file}: ${problem.error}`);
    registrations = listed.registrations;
  }
  if (registrations.length === 0) {
    const store = prepareHome({ ...process.env, P11KSP_HOME: home }, warn);
    registrations = [{
      name: EMBEDDED_REGISTRATION_NAME, kind: 'minidriver', module: store.modulePath, match: {},
      installedAt: new Date(0).toISOString(), installSequence: 0, priority: 0,
    }];
  }
  return new SmartCardService({
    registrations,
    driverFactory: (modulePath) => new Pkcs11Minidriver({ modulePath }),
    globalCache: config.globalCache === false ? null : new LmdbCacheBackend(join(home, 'cache')),
    lockFolder: join(home, 'locks'),
  });
}

// The front ends reach the service through smartcard/default-service.ts; this is where it gets made.
setSmartCardServiceFactory(() => createSmartCardService());
