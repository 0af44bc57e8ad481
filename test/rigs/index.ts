// Test rigs: real tokens for tests (SoftHSM2, OpenSC's pkcs11-tool, graphene-pk11, the pin-counter
// shim). No mocks: every rig drives a real PKCS#11 module.
export * from './softhsm.js';
export * from './pkcs11js-module.js';
export * from './pkcs11-tool.js';
export * from './graphene.js';
export * from './pin-counter.js';
export * from './virtual-card.js';
export * from './p11kit-remote.js';
export { findRepoRoot } from './repo-root.js';
