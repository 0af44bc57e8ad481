/**
 * p11-ksp: the Windows smart-card key-storage model on any PKCS#11 token.
 *
 * The card minidriver contract (minidriver/), its implementation over PKCS#11 (pkcs11-bridge/), the
 * smart card services (smartcard/: readers, registry, selection, UI seam, PIN and data caches) and
 * their wiring (default-service.ts), and the CNG front end (ksp/: NCrypt*). The CryptoAPI front end
 * (csp-legacy/) comes next.
 */
export * from './minidriver/index.js';
export * from './pkcs11-bridge/index.js';
export * from './smartcard/index.js';
export * from './ksp/index.js';
export * from './csp-legacy/index.js';
export { createSmartCardService, EMBEDDED_REGISTRATION_NAME, type SmartCardServiceConfig } from './default-service.js';
export { resolveHome } from './home.js';

// api.md: with no UI set (setUserInterface) a context prompts on the terminal when there is one, and
// behaves as silent when there is none.
import { installTerminalUserInterface } from './smartcard/terminal-ui.js';
installTerminalUserInterface();
