/**
 * The storage provider: opening it, listing providers, algorithm support, freeing any handle.
 *
 * One provider is registered: MS_SMART_CARD_KEY_STORAGE_PROVIDER, served by the process's smart card
 * service (smartcard/default-service.ts, made by the package entry point) unless the application installed its own with
 * setDefaultSmartCardService. `null` opens it too (api.md: on this package the smart card KSP is the
 * default provider).
 */
import { CryptError } from '../minidriver/errors.js';
import { defaultSmartCardService } from '../smartcard/default-service.js';
import { MS_SMART_CARD_KEY_STORAGE_PROVIDER, NCRYPT_SILENT_FLAG } from './constants.js';
import { checkFlags } from './flags.js';
import { NCryptKeyHandle, NCryptProvHandle, NCryptSecretHandle, useAnyHandle, useHandle } from './handles.js';
import { algorithmById } from './key-model.js';
import { destroySecret } from './secret.js';

const PROVIDER_COMMENT = 'p11-ksp smart card key storage over the card minidriver contract (any PKCS#11 token)';

export async function NCryptOpenStorageProvider(name: string | null, flags = 0): Promise<NCryptProvHandle> {
  const operation = 'NCryptOpenStorageProvider';
  checkFlags(flags, 0, operation);
  if (name !== null && name !== undefined && typeof name !== 'string') throw new CryptError('NTE_INVALID_PARAMETER', 'the provider name is a string or null', { operation });
  if (name && name !== MS_SMART_CARD_KEY_STORAGE_PROVIDER) {
    throw new CryptError('NTE_PROV_DLL_NOT_FOUND', `no key storage provider "${name}" is registered here; use MS_SMART_CARD_KEY_STORAGE_PROVIDER ("${MS_SMART_CARD_KEY_STORAGE_PROVIDER}") or null`, { operation });
  }
  return new NCryptProvHandle(await defaultSmartCardService(), MS_SMART_CARD_KEY_STORAGE_PROVIDER);
}

export async function NCryptEnumStorageProviders(flags = 0): Promise<{ pszName: string; pszComment: string }[]> {
  checkFlags(flags, NCRYPT_SILENT_FLAG, 'NCryptEnumStorageProviders');
  return [{ pszName: MS_SMART_CARD_KEY_STORAGE_PROVIDER, pszComment: PROVIDER_COMMENT }];
}

/** NTE_NOT_SUPPORTED for anything a card key here cannot be (RSA, ECDSA/ECDH P-256/384/521 are). */
export async function NCryptIsAlgSupported(hProv: NCryptProvHandle, algId: string, flags = 0): Promise<void> {
  const operation = 'NCryptIsAlgSupported';
  useHandle(hProv, 'provider', operation);
  checkFlags(flags, NCRYPT_SILENT_FLAG, operation);
  if (typeof algId !== 'string' || algId.length === 0) throw new CryptError('NTE_INVALID_PARAMETER', 'pszAlgId is required', { operation });
  if (!algorithmById(algId)) throw new CryptError('NTE_NOT_SUPPORTED', `"${algId}" is not an algorithm of smart card keys here (RSA, ECDSA_P256/384/521, ECDH_P256/384/521)`, { operation });
}

/**
 * Frees any handle. A key handle of a created-but-not-finalized key simply goes; a secret's agreement
 * is destroyed on the card. NTE_INVALID_HANDLE for null, freed or foreign handles (reference N1, N13).
 */
export async function NCryptFreeObject(hObject: NCryptProvHandle | NCryptKeyHandle | NCryptSecretHandle): Promise<void> {
  const operation = 'NCryptFreeObject';
  const h = useAnyHandle(hObject, operation);
  h.freed = true;
  if (h instanceof NCryptProvHandle) h.dropPin();
  if (h instanceof NCryptSecretHandle) await destroySecret(h.secret);
  // A key imported with NCRYPT_DO_NOT_FINALIZE_FLAG and never finalized: its private numbers go too.
  if (h instanceof NCryptKeyHandle && h.state.kind === 'pending') h.state.importKeyData?.fill(0);
}
