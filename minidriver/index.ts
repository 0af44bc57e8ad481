/** The card minidriver contract (specification v7): entry points, structures, constants, codecs, errors. */
export * from './constants.js';
export * from './structures.js';
export * from './card-module.js';
export { CardModuleBase } from './card-module-base.js';
export { negotiateVersion, hideEntryPointsAbove } from './negotiation.js';
export { CryptError, type ErrorContext } from './errors.js';
export * from './code-constants.js';
export { WindowsCodes, type WindowsCodeName, windowsCodeName, hresultFromWin32 } from './codes.js';
export * from './codecs/index.js';
