/**
 * p11-ksp: the Windows smart-card key-storage model on any PKCS#11 token.
 *
 * Today: the card minidriver contract (minidriver/) and its implementation over PKCS#11
 * (pkcs11-bridge/). The smart card services, CNG and CryptoAPI front ends come next.
 */
export * from './minidriver/index.js';
export * from './pkcs11-bridge/index.js';
