/**
 * The CNG front end: NCrypt* over the smart card services (api.md "CNG"), its constants, handle
 * types and the shapes of its structures. The package root re-exports all of it.
 */
export * from './constants.js';
export { NCryptEnumStorageProviders, NCryptFreeObject, NCryptIsAlgSupported, NCryptOpenStorageProvider } from './provider.js';
export { NCryptCreatePersistedKey, NCryptDeleteKey, NCryptEnumKeys, NCryptFinalizeKey, NCryptOpenKey, type NCryptKeyName } from './keys.js';
export { NCryptGetProperty, NCryptSetProperty } from './properties.js';
export { NCryptSignHash, NCryptVerifySignature, type SignaturePaddingInfo } from './signing.js';
export { NCryptDecrypt, NCryptEncrypt, type OaepPaddingInfo } from './encryption.js';
export { NCryptExportKey, NCryptImportKey, type NCryptBuffer } from './blobs.js';
export { NCryptDeriveKey, NCryptSecretAgreement } from './agreement.js';
export { NCryptHandle, NCryptKeyHandle, NCryptProvHandle, NCryptSecretHandle } from './handles.js';
export { CryptError } from '../minidriver/errors.js';
