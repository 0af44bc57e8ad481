/**
 * The CNG key derivation functions of CardDeriveKey, computed on the host from the raw agreed secret.
 *
 * Why: a PKCS#11 token's CKM_ECDH1_DERIVE with CKD_NULL yields the bare shared secret Z (big-endian X
 * coordinate), but Windows asks the card for a key derived by name ("HASH", "HMAC",
 * "SP800_56A_CONCAT", "TRUNCATE") with an NCryptBuffer parameter list. Reproducing those KDFs here lets
 * any ECDH-capable token answer CardDeriveKey with the bytes Windows itself would produce.
 *
 * Behaviour, from the BCryptDeriveKey / NCryptDeriveKey documentation (MicrosoftDocs/sdk-api):
 * - HASH: Hash(prepend || Z || append); KDF_HASH_ALGORITHM defaults to SHA1. Several PREPEND / APPEND
 *   buffers are concatenated in list order.
 * - HMAC: HMAC-Hash(key, prepend || Z || append). The key is KDF_HMAC_KEY, or Z itself when the caller
 *   sets KDF_USE_SECRET_AS_HMAC_KEY_FLAG (and then must not pass KDF_HMAC_KEY). The documentation names
 *   no other key, so a call with neither is rejected (as open-eid's CMCK-tested minidriver does) rather
 *   than guessing one.
 * - SP800_56A_CONCAT: the one-step KDF, H(counter BE32 from 1 || Z || AlgorithmID || PartyUInfo ||
 *   PartyVInfo [|| SuppPubInfo] [|| SuppPrivInfo]) repeated until keyLen bytes exist. AlgorithmID,
 *   PartyUInfo and PartyVInfo are required (present; a zero-length buffer counts as present). The hash
 *   is KDF_HASH_ALGORITHM if given, else, as Windows does, the one matching the curve: SHA256 for
 *   P-256 (|Z| 32), SHA384 for P-384 (48), SHA512 for P-521 (66).
 * - TRUNCATE (BCRYPT_KDF_RAW_SECRET): Z in little-endian order — the documented Windows behaviour
 *   clients reverse back.
 * - keyLen (at most MAX_DERIVED_KEY_LENGTH): HASH, HMAC and TRUNCATE return at most their natural length (the digest or |Z|), cut to
 *   keyLen when it is smaller, as BCryptDeriveKey copies "only the specified number of bytes".
 *   SP800_56A_CONCAT returns exactly keyLen bytes; 0 / undefined means the natural length, one digest.
 *
 * KDF names are matched exactly as bcrypt.h spells them (wcscmp, as minidrivers do).
 *
 * Errors (minidriver level, minidriver.md §8): an unknown or unsupported KDF name (including TLS_PRF
 * and HKDF) is SCARD_E_UNSUPPORTED_FEATURE; anything wrong in the parameters — unknown buffer type, a
 * type the KDF does not use, duplicates of a single-valued type, a missing required buffer, an unknown
 * hash, a bad keyLen or flag — is SCARD_E_INVALID_PARAMETER. Parameters a KDF does not use are refused
 * rather than ignored: a caller that passes them expects them to matter.
 */
import { createHash, createHmac } from 'node:crypto';
import { CryptError } from './errors.js';
import { type HashAlgorithm, hashByCngName } from './hash-algorithms.js';
import type { KdfParameter } from './structures.js';

// KDF names (bcrypt.h).
export const BCRYPT_KDF_HASH = 'HASH';
export const BCRYPT_KDF_HMAC = 'HMAC';
export const BCRYPT_KDF_TLS_PRF = 'TLS_PRF';
export const BCRYPT_KDF_SP80056A_CONCAT = 'SP800_56A_CONCAT';
export const BCRYPT_KDF_RAW_SECRET = 'TRUNCATE';

// NCryptBuffer types (cryptoapi-cng.md §1.10).
export const KDF_HASH_ALGORITHM = 0;
export const KDF_SECRET_PREPEND = 1;
export const KDF_SECRET_APPEND = 2;
export const KDF_HMAC_KEY = 3;
export const KDF_TLS_PRF_LABEL = 4;
export const KDF_TLS_PRF_SEED = 5;
export const KDF_SECRET_HANDLE = 6;
export const KDF_TLS_PRF_PROTOCOL = 7;
export const KDF_ALGORITHMID = 8;
export const KDF_PARTYUINFO = 9;
export const KDF_PARTYVINFO = 10;
export const KDF_SUPPPUBINFO = 11;
export const KDF_SUPPPRIVINFO = 12;

/** dwFlags bit: Z is also the HMAC key (BCRYPT_KDF_HMAC only). cryptoapi-cng.md §1.8. */
export const KDF_USE_SECRET_AS_HMAC_KEY_FLAG = 0x1;

const BUFFER_TYPE_NAMES: Record<number, string> = {
  [KDF_HASH_ALGORITHM]: 'KDF_HASH_ALGORITHM',
  [KDF_SECRET_PREPEND]: 'KDF_SECRET_PREPEND',
  [KDF_SECRET_APPEND]: 'KDF_SECRET_APPEND',
  [KDF_HMAC_KEY]: 'KDF_HMAC_KEY',
  [KDF_TLS_PRF_LABEL]: 'KDF_TLS_PRF_LABEL',
  [KDF_TLS_PRF_SEED]: 'KDF_TLS_PRF_SEED',
  [KDF_SECRET_HANDLE]: 'KDF_SECRET_HANDLE',
  [KDF_TLS_PRF_PROTOCOL]: 'KDF_TLS_PRF_PROTOCOL',
  [KDF_ALGORITHMID]: 'KDF_ALGORITHMID',
  [KDF_PARTYUINFO]: 'KDF_PARTYUINFO',
  [KDF_PARTYVINFO]: 'KDF_PARTYVINFO',
  [KDF_SUPPPUBINFO]: 'KDF_SUPPPUBINFO',
  [KDF_SUPPPRIVINFO]: 'KDF_SUPPPRIVINFO',
};

/** Buffer types each supported KDF reads; any other type is refused. */
const ACCEPTED_TYPES: Record<string, readonly number[]> = {
  [BCRYPT_KDF_HASH]: [KDF_HASH_ALGORITHM, KDF_SECRET_PREPEND, KDF_SECRET_APPEND],
  [BCRYPT_KDF_HMAC]: [KDF_HASH_ALGORITHM, KDF_SECRET_PREPEND, KDF_SECRET_APPEND, KDF_HMAC_KEY],
  [BCRYPT_KDF_SP80056A_CONCAT]: [KDF_HASH_ALGORITHM, KDF_ALGORITHMID, KDF_PARTYUINFO, KDF_PARTYVINFO, KDF_SUPPPUBINFO, KDF_SUPPPRIVINFO],
  [BCRYPT_KDF_RAW_SECRET]: [],
};
/** Types that may repeat; their values are concatenated in list order. */
const CONCATENATED_TYPES = new Set([KDF_SECRET_PREPEND, KDF_SECRET_APPEND]);

/** SP800-56A default hash by |Z|, i.e. by curve. */
const SP800_56A_HASH_BY_SECRET_LENGTH: Record<number, string> = { 32: 'SHA256', 48: 'SHA384', 66: 'SHA512' };

function invalid(kdf: string, message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `${kdf} KDF: ${message}`, { operation: 'CardDeriveKey' });
}

function typeName(type: number): string {
  return BUFFER_TYPE_NAMES[type] ?? `buffer type ${type}`;
}

/** The parameter list grouped by type, after checking every entry against what `kdf` accepts. */
function collectParameters(kdf: string, params: readonly KdfParameter[] | null): Map<number, (Uint8Array | string)[]> {
  if (params !== null && params !== undefined && !Array.isArray(params)) throw invalid(kdf, 'the parameter list must be an array or null');
  const accepted = ACCEPTED_TYPES[kdf]!;
  const byType = new Map<number, (Uint8Array | string)[]>();
  for (const param of params ?? []) {
    if (typeof param !== 'object' || param === null || typeof param.type !== 'number' || !Number.isInteger(param.type)) {
      throw invalid(kdf, 'every parameter needs an integer type');
    }
    if (!accepted.includes(param.type)) throw invalid(kdf, `${typeName(param.type)} is not a parameter of this KDF`);
    if (!(param.value instanceof Uint8Array) && typeof param.value !== 'string') throw invalid(kdf, `${typeName(param.type)} has no value`);
    const values = byType.get(param.type) ?? [];
    if (values.length > 0 && !CONCATENATED_TYPES.has(param.type)) throw invalid(kdf, `${typeName(param.type)} given more than once`);
    values.push(param.value);
    byType.set(param.type, values);
  }
  return byType;
}

function bytesOf(kdf: string, byType: Map<number, (Uint8Array | string)[]>, type: number): Buffer | undefined {
  const values = byType.get(type);
  if (values === undefined) return undefined;
  return Buffer.concat(values.map((value) => {
    if (typeof value === 'string') throw invalid(kdf, `${typeName(type)} must be bytes, not a string`);
    return value;
  }));
}

/** KDF_HASH_ALGORITHM as a JS string (given as such) or as UTF-16LE bytes with an optional NUL terminator. */
function hashNameOf(kdf: string, value: Uint8Array | string): string {
  if (typeof value === 'string') return value.replace(/\0+$/, '');
  if (value.length % 2 !== 0) throw invalid(kdf, 'KDF_HASH_ALGORITHM bytes are not UTF-16LE (odd length)');
  return Buffer.from(value).toString('utf16le').replace(/\0+$/, '');
}

function hashFrom(kdf: string, byType: Map<number, (Uint8Array | string)[]>, fallback: string | undefined): HashAlgorithm {
  const given = byType.get(KDF_HASH_ALGORITHM)?.[0];
  const name = given === undefined ? fallback : hashNameOf(kdf, given);
  if (name === undefined) throw invalid(kdf, 'no KDF_HASH_ALGORITHM and no default for this secret length');
  const hash = hashByCngName(name);
  if (!hash || hash.nodeName === null) throw invalid(kdf, `unsupported hash algorithm "${name}"`);
  return hash;
}

/**
 * Largest dwKeyLen honoured. No symmetric key comes close; the cap keeps a corrupt dwKeyLen (a DWORD)
 * from making SP800_56A_CONCAT compute gigabytes.
 */
export const MAX_DERIVED_KEY_LENGTH = 0x10000;

function checkKeyLen(kdf: string, keyLen: unknown): number {
  if (keyLen === undefined) return 0;
  if (typeof keyLen !== 'number' || !Number.isInteger(keyLen) || keyLen < 0 || keyLen > MAX_DERIVED_KEY_LENGTH) {
    throw invalid(kdf, `key length must be 0..${MAX_DERIVED_KEY_LENGTH} bytes, got ${String(keyLen)}`);
  }
  return keyLen;
}

/** Natural-length output cut to keyLen when keyLen is smaller (0 = natural length). */
function atMost(output: Buffer, keyLen: number): Buffer {
  return keyLen > 0 && keyLen < output.length ? Buffer.from(output.subarray(0, keyLen)) : output;
}

function sp80056aConcat(hash: HashAlgorithm, secret: Buffer, otherInfo: Buffer, keyLen: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let produced = 0, i = 1; produced < keyLen; produced += hash.digestLength, i++) {
    counter.writeUInt32BE(i, 0);
    blocks.push(createHash(hash.nodeName!).update(counter).update(secret).update(otherInfo).digest());
  }
  return Buffer.concat(blocks).subarray(0, keyLen);
}

/**
 * Derives key bytes from the agreed secret `secret` (big-endian Z) with the CNG KDF named `kdf`.
 * `keyLen` is CARD_DERIVE_KEY.dwKeyLen (bytes, 0 = natural length); `flags` may hold only
 * KDF_USE_SECRET_AS_HMAC_KEY_FLAG (the caller strips CARD_BUFFER_SIZE_ONLY and CARD_RETURN_KEY_HANDLE).
 */
export function deriveKeyFromSecret(kdf: string, secret: Uint8Array, params: readonly KdfParameter[] | null, keyLen?: number, flags = 0): Buffer {
  if (typeof kdf !== 'string' || !Object.hasOwn(ACCEPTED_TYPES, kdf)) {
    throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', `KDF "${String(kdf)}" is not supported (supported: HASH, HMAC, SP800_56A_CONCAT, TRUNCATE)`, { operation: 'CardDeriveKey' });
  }
  if (!(secret instanceof Uint8Array) || secret.length === 0) throw invalid(kdf, 'the agreed secret is empty');
  if (!Number.isInteger(flags) || (flags & ~KDF_USE_SECRET_AS_HMAC_KEY_FLAG) !== 0) throw invalid(kdf, `unknown flags 0x${Number(flags).toString(16)}`);
  const length = checkKeyLen(kdf, keyLen);
  const z = Buffer.from(secret);
  const byType = collectParameters(kdf, params);

  switch (kdf) {
    case BCRYPT_KDF_HASH: {
      const hash = hashFrom(kdf, byType, 'SHA1');
      const input = [bytesOf(kdf, byType, KDF_SECRET_PREPEND), z, bytesOf(kdf, byType, KDF_SECRET_APPEND)];
      const digest = createHash(hash.nodeName!);
      for (const part of input) if (part) digest.update(part);
      return atMost(digest.digest(), length);
    }
    case BCRYPT_KDF_HMAC: {
      const hash = hashFrom(kdf, byType, 'SHA1');
      const given = bytesOf(kdf, byType, KDF_HMAC_KEY);
      const useSecret = (flags & KDF_USE_SECRET_AS_HMAC_KEY_FLAG) !== 0;
      if (useSecret && given !== undefined) throw invalid(kdf, 'KDF_HMAC_KEY must not be given with KDF_USE_SECRET_AS_HMAC_KEY_FLAG');
      if (!useSecret && given === undefined) throw invalid(kdf, 'needs KDF_HMAC_KEY or KDF_USE_SECRET_AS_HMAC_KEY_FLAG');
      const mac = createHmac(hash.nodeName!, useSecret ? z : given!);
      for (const part of [bytesOf(kdf, byType, KDF_SECRET_PREPEND), z, bytesOf(kdf, byType, KDF_SECRET_APPEND)]) if (part) mac.update(part);
      return atMost(mac.digest(), length);
    }
    case BCRYPT_KDF_SP80056A_CONCAT: {
      const hash = hashFrom(kdf, byType, SP800_56A_HASH_BY_SECRET_LENGTH[z.length]);
      const required = [KDF_ALGORITHMID, KDF_PARTYUINFO, KDF_PARTYVINFO].map((type) => {
        const value = bytesOf(kdf, byType, type);
        if (value === undefined) throw invalid(kdf, `${typeName(type)} is required`);
        return value;
      });
      const optional = [KDF_SUPPPUBINFO, KDF_SUPPPRIVINFO].map((type) => bytesOf(kdf, byType, type) ?? Buffer.alloc(0));
      return sp80056aConcat(hash, z, Buffer.concat([...required, ...optional]), length > 0 ? length : hash.digestLength);
    }
    default: // BCRYPT_KDF_RAW_SECRET
      return atMost(z.reverse(), length);
  }
}
