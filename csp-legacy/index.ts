/**
 * The CryptoAPI front end: Crypt* over the smart card services (api.md "CryptoAPI"), its constants and
 * handle types. The package root re-exports all of it.
 */
export * from './constants.js';
export { CryptAcquireContext, CryptGenRandom, CryptReleaseContext } from './context.js';
export { CryptGetProvParam, CryptSetProvParam } from './prov-params.js';
export { CryptDestroyKey, CryptGenKey, CryptGetUserKey } from './keys.js';
export { CryptGetKeyParam, CryptSetKeyParam } from './key-params.js';
export { CryptDecrypt, CryptEncrypt } from './encryption.js';
export { CryptExportKey, CryptImportKey } from './blobs.js';
export {
  CryptCreateHash, CryptDestroyHash, CryptGetHashParam, CryptHashData, CryptSetHashParam, CryptSignHash, CryptVerifySignature,
} from './hashes.js';
export { CryptHandle, HCRYPTHASH, HCRYPTKEY, HCRYPTPROV } from './handles.js';
