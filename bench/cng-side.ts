// The CNG side of the benchmark, on the bench's smart card service (bench-service.ts, installed
// first): a provider opened with NCryptOpenStorageProvider and the PIN given as NCRYPT_PIN_PROPERTY,
// as an application does it. Keys are made with NCryptCreatePersistedKey + NCryptFinalizeKey, or
// opened by name.
import { AT_KEYEXCHANGE } from '../minidriver/constants.js';
import {
  BCRYPT_ECDSA_P256_ALGORITHM, BCRYPT_RSA_ALGORITHM, NCRYPT_LENGTH_PROPERTY, NCRYPT_PIN_PROPERTY, NCRYPT_SILENT_FLAG,
} from '../ksp/constants.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../ksp/handles.js';
import { NCryptCreatePersistedKey, NCryptFinalizeKey, NCryptOpenKey } from '../ksp/keys.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../ksp/provider.js';
import { NCryptSetProperty } from '../ksp/properties.js';

/** Container names of the CNG keys (their CKA_LABEL on the token, where the raw side finds them). */
export const CNG_RSA_NAME = 'bench-cng-rsa2048';
export const CNG_EC_NAME = 'bench-cng-p256';

export class CngSide {
  private constructor(
    readonly prov: NCryptProvHandle,
    readonly rsa: NCryptKeyHandle,
    readonly ec: NCryptKeyHandle,
  ) {}

  /** The provider with the PIN set, and the two keys: created when `create`, else opened by name. */
  static async open(pin: string, create: boolean): Promise<CngSide> {
    const prov = await NCryptOpenStorageProvider(null);
    // Held by the provider until the first key's card takes it: verified there, then cached.
    await NCryptSetProperty(prov, NCRYPT_PIN_PROPERTY, pin);
    let rsa: NCryptKeyHandle;
    let ec: NCryptKeyHandle;
    if (create) {
      rsa = await NCryptCreatePersistedKey(prov, BCRYPT_RSA_ALGORITHM, CNG_RSA_NAME, AT_KEYEXCHANGE, NCRYPT_SILENT_FLAG);
      await NCryptSetProperty(rsa, NCRYPT_LENGTH_PROPERTY, 2048);
      await NCryptFinalizeKey(rsa, NCRYPT_SILENT_FLAG);
      ec = await NCryptCreatePersistedKey(prov, BCRYPT_ECDSA_P256_ALGORITHM, CNG_EC_NAME, 0, NCRYPT_SILENT_FLAG);
      await NCryptFinalizeKey(ec, NCRYPT_SILENT_FLAG);
    } else {
      rsa = await NCryptOpenKey(prov, CNG_RSA_NAME, 0, NCRYPT_SILENT_FLAG);
      ec = await NCryptOpenKey(prov, CNG_EC_NAME, 0, NCRYPT_SILENT_FLAG);
    }
    return new CngSide(prov, rsa, ec);
  }

  /** Frees the handles (the service stays: removeBenchService closes it). */
  async close(): Promise<void> {
    for (const h of [this.rsa, this.ec, this.prov]) if (!h.freed) await NCryptFreeObject(h);
  }
}
