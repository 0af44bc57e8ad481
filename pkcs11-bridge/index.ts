/** The card minidriver contract over any PKCS#11 module (pkcs11js). */
export { Pkcs11Minidriver, type Pkcs11DriverOptions, type Pkcs11CardHandle, type TokenSelector } from './driver.js';
export { type DispatchPolicy, DEFAULT_DISPATCH_POLICY } from './dispatch.js';
export { acquireModule, releaseModule, moduleReferences, type LoadedModule } from './module-registry.js';
export { toCryptError } from './errors.js';
