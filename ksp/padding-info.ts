/**
 * What the key operations (signing.ts: NCryptSignHash / NCryptVerifySignature, encryption.ts:
 * NCryptEncrypt / NCryptDecrypt) check alike, so the four calls answer the same bad input with the
 * same Windows code: byte arguments, the one padding flag, the key's state, algorithm and usage, the
 * hash a padding info names, and the RSA modulus.
 */
import type { KeyObject } from 'node:crypto';
import { AT_SIGNATURE, CALG_MD5 } from '../minidriver/constants.js';
import { hresultFromWin32, WindowsCodes } from '../minidriver/codes.js';
import { CryptError, type ErrorContext } from '../minidriver/errors.js';
import { type HashAlgorithm, hashByCngName } from '../minidriver/hash-algorithms.js';
import type { PaddingInfo } from '../minidriver/structures.js';
import { NCRYPT_RSA_ALGORITHM_GROUP } from './constants.js';
import type { NCryptKeyHandle } from './handles.js';
import { keyUsageOf, type PersistedKey, type PublicOnlyKey } from './key-model.js';

/** BCRYPT_PKCS1_PADDING_INFO / BCRYPT_PSS_PADDING_INFO. pszAlgId null (or '') with PKCS#1: no DigestInfo. */
export type SignaturePaddingInfo = Pick<PaddingInfo, 'pszAlgId' | 'cbSalt'>;
/** BCRYPT_OAEP_PADDING_INFO (pbLabel absent or empty: no label). */
export type OaepPaddingInfo = Pick<PaddingInfo, 'pszAlgId' | 'pbLabel'>;

/** A key that exists: on a card, or a public key in host memory. */
export type FinalizedKey = PersistedKey | PublicOnlyKey;

/** Error context naming the card and container of a card key (never key material). */
export function where(key: FinalizedKey | undefined, operation: string): ErrorContext {
  return key?.kind === 'persisted' ? { operation, card: key.card.identity.label, container: key.container.name } : { operation };
}

/**
 * A byte-string argument as a Buffer view (no copy). null/undefined is Windows' NULL pointer:
 * HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER) as ncrypt.dll answers (reference N2); anything that is not
 * bytes is NTE_INVALID_PARAMETER.
 */
export function bytesArgument(value: unknown, name: string, operation: string): Buffer {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value === null || value === undefined) {
    throw new CryptError(hresultFromWin32(WindowsCodes.RPC_X_NULL_REF_POINTER), `${name} is required (got ${String(value)})`, { operation });
  }
  throw new CryptError('NTE_INVALID_PARAMETER', `${name} must be a Uint8Array or Buffer, not ${typeof value}`, { operation });
}

/**
 * The key behind a handle once it exists. A key made by NCryptCreatePersistedKey is nothing until
 * NCryptFinalizeKey: NTE_BAD_KEY_STATE (reference N11).
 */
export function finalizedKey(handle: NCryptKeyHandle, operation: string): FinalizedKey {
  const state = handle.state;
  if (state.kind === 'pending') {
    throw new CryptError('NTE_BAD_KEY_STATE', 'the key is not finalized yet: call NCryptFinalizeKey before using it', { operation });
  }
  return state;
}

/**
 * A key with a private half on a card. A public key imported from a blob has none: NTE_NOT_SUPPORTED
 * (the operation is not one such a key offers; the reference names no code for it).
 */
export function privateKey(handle: NCryptKeyHandle, operation: string, what: string): PersistedKey {
  const key = finalizedKey(handle, operation);
  if (key.kind === 'public') {
    throw new CryptError('NTE_NOT_SUPPORTED', `this key handle holds only a public key (imported from a blob), which cannot ${what}; open the card key with NCryptOpenKey`, { operation });
  }
  return key;
}

/** RSA only (CNG has no ECC encryption, and ECDH keys do not sign): NTE_NOT_SUPPORTED otherwise. */
export function requireRsa(key: FinalizedKey, operation: string, what: string): void {
  if (key.algorithm.group !== NCRYPT_RSA_ALGORITHM_GROUP) {
    throw new CryptError('NTE_NOT_SUPPORTED', `${key.algorithm.algId} keys cannot ${what}; use an RSA key`, where(key, operation));
  }
}

/**
 * The key's usage (NCRYPT_KEY_USAGE_PROPERTY, from keyUsageOf) must allow the operation. The algorithm
 * could do it but the key's slot forbids it (an AT_SIGNATURE key asked to decrypt): NTE_PERM, access
 * denied, as for any key whose usage policy excludes an operation.
 */
export function requireUsage(key: FinalizedKey, usageFlag: number, operation: string, what: string): void {
  if ((keyUsageOf(key) & usageFlag) === 0) {
    const slot = key.kind === 'persisted' && key.keySpec === AT_SIGNATURE ? ' (it is the AT_SIGNATURE key of its container: signature keys only sign)' : '';
    throw new CryptError('NTE_PERM', `this key may not ${what}${slot}; use the container's AT_KEYEXCHANGE key`, where(key, operation));
  }
}

/**
 * The one padding flag of `paddingFlags` set in `flags`. RSA needs exactly one (reference N21, N23):
 * none or several is NTE_INVALID_PARAMETER, as the bits themselves are known to the call.
 */
export function onePaddingFlag(flags: number, paddingFlags: number, names: string, key: FinalizedKey, operation: string): number {
  const padding = flags & paddingFlags;
  if (padding === 0 || (padding & (padding - 1)) !== 0) {
    throw new CryptError('NTE_INVALID_PARAMETER', `an RSA key needs exactly one of ${names} in dwFlags`, where(key, operation));
  }
  return padding;
}

/** Padding info given as an object (the structure the padding flag names), else NTE_INVALID_PARAMETER. */
export function paddingInfoArgument<T extends object>(value: T | null | undefined, structure: string, key: FinalizedKey, operation: string): T {
  if (value === null || value === undefined || typeof value !== 'object') {
    throw new CryptError('NTE_INVALID_PARAMETER', `this padding needs pPaddingInfo (${structure})`, where(key, operation));
  }
  return value;
}

/** pszAlgId as given: a string, or null/undefined/'' for none. Anything else is NTE_INVALID_PARAMETER. */
export function algIdOf(info: { pszAlgId?: unknown }, key: FinalizedKey, operation: string): string | null {
  const algId = info.pszAlgId;
  if (algId === null || algId === undefined || algId === '') return null;
  if (typeof algId !== 'string') throw new CryptError('NTE_INVALID_PARAMETER', 'pszAlgId must be a hash algorithm id such as "SHA256"', where(key, operation));
  return algId;
}

/** A hash that PKCS#1 v1.5 signatures name by DigestInfo (MD5, SHA-1, SHA-2); unknown → NTE_NOT_SUPPORTED. */
export function digestInfoHash(algId: string, key: FinalizedKey, operation: string): HashAlgorithm {
  const hash = hashByCngName(algId);
  if (!hash) throw new CryptError('NTE_NOT_SUPPORTED', `hash algorithm "${algId}" is not supported; use SHA1, SHA256, SHA384, SHA512 or MD5`, where(key, operation));
  return hash;
}

/**
 * A hash for PSS or OAEP, which also drives MGF1. Cards reach these through PKCS#11, whose MGF1 has
 * SHA-1 and SHA-2 only, so MD5 is refused here rather than on the card. Unknown → NTE_NOT_SUPPORTED.
 */
export function mgf1Hash(algId: string, padding: string, key: FinalizedKey, operation: string): HashAlgorithm & { nodeName: string } {
  const hash = hashByCngName(algId);
  if (!hash || hash.calg === CALG_MD5 || hash.nodeName === null) {
    throw new CryptError('NTE_NOT_SUPPORTED', `${padding} with hash "${algId}" is not supported; use SHA1, SHA256, SHA384 or SHA512`, where(key, operation));
  }
  return hash as HashAlgorithm & { nodeName: string };
}

export function rsaModulusBytes(bits: number): number {
  return (bits + 7) >> 3;
}

const modulusCache = new WeakMap<KeyObject, Buffer>();

/** The RSA modulus, big-endian, exactly the modulus length (read once per public key object). */
export function rsaModulus(publicKey: KeyObject): Buffer {
  let n = modulusCache.get(publicKey);
  if (!n) {
    n = Buffer.from(publicKey.export({ format: 'jwk' }).n!, 'base64url');
    modulusCache.set(publicKey, n);
  }
  return n;
}

/** Whether a big-endian value of the modulus length is a valid RSA input (numerically below n). */
export function belowModulus(value: Buffer, publicKey: KeyObject): boolean {
  const n = rsaModulus(publicKey);
  return value.length === n.length && Buffer.compare(value, n) < 0;
}
