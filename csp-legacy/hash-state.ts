/**
 * A CryptoAPI hash object (CryptCreateHash ... CryptDestroyHash): MD5, SHA-1, SHA-256/384/512 and
 * CALG_SSL3_SHAMD5, hashed on the host with node:crypto (reference §1.5, H1–H4).
 *
 * SHA-2 under PROV_RSA_FULL: Microsoft's software PROV_RSA_FULL providers refuse CALG_SHA_256/384/512
 * (H3, they are PROV_RSA_AES only), but this is the Base Smart Card CSP, which offers them under
 * PROV_RSA_FULL; smart card code that signs with SHA-256 relies on that.
 *
 * Life of a hash (H1): it takes data until its value is read (HP_HASHVAL), set, or signed; from then
 * on it is finished, the value is fixed and reading it again gives the same bytes; hashing more data
 * is NTE_BAD_HASH_STATE. The value of a hash fed nothing is the digest of empty input.
 *
 * CALG_SSL3_SHAMD5 is not a hash function but a slot for a 36-byte MD5 ‖ SHA-1 value computed
 * elsewhere (TLS client authentication): it only takes its value through HP_HASHVAL (H4).
 *
 * Codes where the reference is silent:
 *  - HP_HASHVAL set with a value of the wrong length: NTE_BAD_LEN; set on a finished hash: accepted
 *    (Windows' CPSetHashParam does not look at the state), the new value replaces the old;
 *  - reading the value of a CALG_SSL3_SHAMD5 hash before it was set: NTE_BAD_HASH_STATE (there is no
 *    value to read, and signing a made-up one would be worse);
 *  - data or a value that is not bytes: ERROR_INVALID_PARAMETER (what Windows gives for a bad pbData).
 * CRYPT_USERDATA is accepted and changes nothing: it asks a CSP to read the data from the user, which
 * this one never does, so the bytes given are hashed.
 */
import { createHash, type Hash } from 'node:crypto';
import { CryptError } from '../minidriver/errors.js';
import type { HashAlgorithm } from '../minidriver/hash-algorithms.js';
import { type HashRow, hashRowByAlgId, supportedNames } from './algorithms.js';
import { CALG_HMAC, CALG_MAC, CALG_SSL3_SHAMD5, CRYPT_USERDATA } from './constants.js';

export interface HashState {
  /** HP_ALGID. */
  readonly algId: number;
  /** HP_HASHSIZE in bytes. */
  readonly size: number;
  /** True once the value was read (HP_HASHVAL), set, or the hash was signed. */
  readonly finished: boolean;
  /** CryptHashData: NTE_BAD_FLAGS for flags other than 0/CRYPT_USERDATA, NTE_BAD_ALGID for SSL3_SHAMD5, NTE_BAD_HASH_STATE once finished (checked in that order). */
  update(data: Uint8Array, flags: number, operation?: string): void;
  /** HP_HASHVAL: finishes the hash and returns a copy of its value (the same value on every later call). */
  value(operation?: string): Buffer;
  /** Setting HP_HASHVAL: the value to sign, exactly `size` bytes (else NTE_BAD_LEN); finishes the hash. */
  setValue(value: Uint8Array, operation?: string): void;
  /**
   * What a PKCS#1 v1.5 signature over this hash carries: DER DigestInfo ‖ value (finishes the hash).
   * CALG_SSL3_SHAMD5 has no DigestInfo: the bare 36 bytes. For CryptVerifySignature on the host.
   */
  digestInfo(operation?: string): Buffer;
}

// Every method takes the name of the Crypt* call it serves, for error messages; the defaults are the
// calls that normally reach it (CryptSignHash reads value() with its own name).

const HASH_DATA_FLAGS = CRYPT_USERDATA;

class HostHash implements HashState {
  readonly algId: number;
  readonly size: number;
  readonly #hash: HashAlgorithm;
  /** The running node:crypto hash while data is taken; null once finished (and always for SSL3_SHAMD5). */
  #running: Hash | null;
  #value: Buffer | null = null;

  constructor(row: HashRow) {
    this.algId = row.algId;
    this.size = row.hash.digestLength;
    this.#hash = row.hash;
    this.#running = row.hash.nodeName === null ? null : createHash(row.hash.nodeName);
  }

  get finished(): boolean {
    return this.#value !== null;
  }

  update(data: Uint8Array, flags: number, operation = 'CryptHashData'): void {
    if (!Number.isInteger(flags) || (flags >>> 0) !== flags || (flags & ~HASH_DATA_FLAGS) !== 0) {
      throw new CryptError('NTE_BAD_FLAGS', `flags 0x${hex(flags)} are not valid for hashing data; pass 0 (or CRYPT_USERDATA)`, { operation });
    }
    if (this.algId === CALG_SSL3_SHAMD5) {
      throw new CryptError('NTE_BAD_ALGID', 'a CALG_SSL3_SHAMD5 hash cannot hash data; set its 36-byte MD5 ‖ SHA-1 value with CryptSetHashParam(HP_HASHVAL)', { operation });
    }
    if (this.#value !== null) {
      throw new CryptError('NTE_BAD_HASH_STATE', 'this hash is finished (its value was read, set or signed); create a new hash for more data', { operation });
    }
    this.#running!.update(bytes(data, 'pbData', operation));
  }

  value(operation = 'CryptGetHashParam'): Buffer {
    return Buffer.from(this.#finish(operation));
  }

  setValue(value: Uint8Array, operation = 'CryptSetHashParam'): void {
    const v = bytes(value, 'HP_HASHVAL', operation);
    if (v.length !== this.size) {
      throw new CryptError('NTE_BAD_LEN', `HP_HASHVAL of this hash is ${this.size} bytes; got ${v.length}`, { operation });
    }
    this.#running = null;
    this.#value = Buffer.from(v);
  }

  digestInfo(operation = 'CryptVerifySignature'): Buffer {
    return Buffer.concat([this.#hash.digestInfoPrefix, this.#finish(operation)]);
  }

  #finish(operation: string): Buffer {
    if (this.#value === null) {
      if (this.#running === null) {
        throw new CryptError('NTE_BAD_HASH_STATE', 'a CALG_SSL3_SHAMD5 hash has no value until one is set with CryptSetHashParam(HP_HASHVAL)', { operation });
      }
      this.#value = this.#running.digest();
      this.#running = null;
    }
    return this.#value;
  }
}

/**
 * A new hash object (CryptCreateHash). NTE_BAD_ALGID for an algorithm this provider does not hash:
 * keyed hashes (CALG_HMAC, CALG_MAC), MD2, MD4 and anything unknown.
 */
export function createHashState(algId: number, operation: string): HashState {
  const row = hashRowByAlgId(algId);
  if (row === undefined) {
    const what = algId === CALG_HMAC || algId === CALG_MAC ? 'keyed hashes (CALG_HMAC, CALG_MAC) are not offered by the smart card provider' : `ALG_ID 0x${hex(algId)} is not a hash this provider offers`;
    throw new CryptError('NTE_BAD_ALGID', `${what}; use one of ${supportedNames('hash')}`, { operation });
  }
  return new HostHash(row);
}

function bytes(value: unknown, name: string, operation: string): Buffer {
  if (!(value instanceof Uint8Array)) throw new CryptError('ERROR_INVALID_PARAMETER', `${name} must be a Uint8Array or Buffer`, { operation });
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function hex(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? (value >>> 0).toString(16) : String(value);
}
