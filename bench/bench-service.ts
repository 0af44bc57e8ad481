// The smart card service both front ends of the bench go through (NCrypt* and Crypt* find it as the
// process's default service, as an application's calls do): one registration for the bench's PKCS#11
// module (the SoftHSM2 store, or pkcs11-spy in front of it), no global cache, so the bench leaves
// nothing in the user's home. Installed once per process; removing it closes its cards, drivers and PINs.
import { Pkcs11Minidriver } from '../pkcs11-bridge/driver.js';
import { setDefaultSmartCardService } from '../smartcard/default-service.js';
import { SmartCardService } from '../smartcard/service.js';

export async function installBenchService(modulePath: string): Promise<SmartCardService> {
  const service = new SmartCardService({
    registrations: [{ name: 'bench', kind: 'minidriver', module: modulePath, match: {}, installedAt: new Date(0).toISOString(), installSequence: 1, priority: 0 }],
    driverFactory: (path) => new Pkcs11Minidriver({ modulePath: path }),
    globalCache: null,
  });
  await setDefaultSmartCardService(service);
  return service;
}

export async function removeBenchService(): Promise<void> {
  await setDefaultSmartCardService(null);
}
