// The CryptoAPI side of the benchmark, on the bench's smart card service (bench-service.ts, installed
// first), through the package's Crypt* calls as a legacy application makes them. Creating follows the
// smart card architecture's silent flow: the reader's context (CRYPT_DEFAULT_CONTAINER_OPTIONAL), the
// PIN given as PP_KEYEXCHANGE_PIN, then the container with CRYPT_NEWKEYSET and an RSA-2048
// AT_KEYEXCHANGE key from CryptGenKey. Either way the container is then opened by name, silently, the
// PIN set again on that context, and its exchange key got with CryptGetUserKey: the warm state
// (context acquired, key got, PIN cached) the rows measure.
import {
  AT_KEYEXCHANGE, CALG_SHA_256, CRYPT_DEFAULT_CONTAINER_OPTIONAL, CRYPT_NEWKEYSET, CRYPT_SILENT, CryptAcquireContext,
  CryptCreateHash, CryptDecrypt, CryptDestroyHash, CryptDestroyKey, CryptGenKey, CryptGetUserKey, CryptReleaseContext,
  CryptSetHashParam, CryptSetProvParam, CryptSignHash, type HCRYPTKEY, type HCRYPTPROV, HP_HASHVAL, MS_SCARD_PROV, PP_KEYEXCHANGE_PIN,
  PROV_RSA_FULL,
} from '../csp-legacy/index.js';
import type { CardKeyPair } from '../csp-legacy/key-model.js';
import { defaultSmartCardService } from '../smartcard/default-service.js';

/** The container's name (the CKA_LABEL of its keys on the token, where the raw side finds them). */
export const CAPI_CONTAINER = 'bench-capi-rsa2048';
const RSA_2048 = 2048 << 16; // CryptGenKey: the key length in the upper 16 bits of dwFlags

/** PP_KEYEXCHANGE_PIN's value as a C program passes it: NUL-terminated ASCII (the setter wipes it). */
function pinParam(pin: string): Buffer {
  return Buffer.from(`${pin}\0`, 'ascii');
}

export class CapiSide {
  private constructor(
    readonly prov: HCRYPTPROV,
    readonly exchange: HCRYPTKEY,
  ) {}

  /** The container on the token labelled `label`: created first when `create`, then opened warm. */
  static async open(label: string, pin: string, create: boolean): Promise<CapiSide> {
    const service = await defaultSmartCardService();
    const reader = (await service.snapshot()).find((e) => e.card?.label === label)?.szReader;
    if (!reader) throw new Error(`no reader holds the token "${label}"`);
    const name = `\\\\.\\${reader}\\${CAPI_CONTAINER}`;
    if (create) {
      const readerContext = await CryptAcquireContext(`\\\\.\\${reader}\\`, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DEFAULT_CONTAINER_OPTIONAL | CRYPT_SILENT);
      await CryptSetProvParam(readerContext, PP_KEYEXCHANGE_PIN, pinParam(pin));
      await CryptReleaseContext(readerContext);
      const made = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT);
      await CryptDestroyKey(await CryptGenKey(made, AT_KEYEXCHANGE, RSA_2048));
      await CryptReleaseContext(made);
    }
    const prov = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT);
    await CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, pinParam(pin));
    return new CapiSide(prov, await CryptGetUserKey(prov, AT_KEYEXCHANGE));
  }

  /** The card key behind the exchange key handle (for the bridge call the front end makes). */
  get cardKey(): CardKeyPair {
    const key = this.exchange.key;
    if (key.kind !== 'card') throw new Error('the CryptoAPI exchange key is not on the card');
    return key;
  }

  /**
   * A warm signature as an application makes one: a hash object per signature, its SHA-256 value set
   * with HP_HASHVAL, CryptSignHash(AT_KEYEXCHANGE), the hash destroyed. Little-endian, as CryptoAPI.
   */
  async sign(digest: Buffer): Promise<Buffer> {
    const hash = await CryptCreateHash(this.prov, CALG_SHA_256);
    try {
      await CryptSetHashParam(hash, HP_HASHVAL, digest);
      return await CryptSignHash(hash, AT_KEYEXCHANGE);
    } finally {
      await CryptDestroyHash(hash);
    }
  }

  /** CryptDecrypt of a little-endian PKCS#1 v1.5 RSA ciphertext with the exchange key (on the card). */
  decrypt(ciphertextLe: Buffer): Promise<Buffer> {
    return CryptDecrypt(this.exchange, null, true, 0, ciphertextLe);
  }

  /** Releases the key and the context (the service stays: removeBenchService closes it). */
  async close(): Promise<void> {
    if (!this.exchange.released) await CryptDestroyKey(this.exchange);
    if (!this.prov.released) await CryptReleaseContext(this.prov);
  }
}
