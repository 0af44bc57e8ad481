/**
 * NCryptExportKey and NCryptImportKey of the smart card KSP.
 *
 * Export: public blobs only, straight from the public key the handle already holds (read from the
 * card's CONTAINER_INFO when the key was opened), so no card call and no PIN. Private key material of a
 * card key never leaves the card.
 *
 * Import: public blobs become public-only key handles held in host memory (verify, encrypt, the peer of
 * a secret agreement). Private blobs go onto the card, and only into a named container: a card keeps
 * keys nowhere else. The name comes as Windows passes it, an NCRYPTBUFFER_PKCS_KEY_NAME buffer of the
 * parameter list; the key then takes the NCryptCreatePersistedKey road (a pending key carrying the
 * minidriver's CARD_CREATE_CONTAINER_KEY_IMPORT data, written by NCryptFinalizeKey).
 *
 * Codes (reference §5 N11, N19, N20 and §3.1): a key not finalized → NTE_BAD_KEY_STATE; a blob type the
 * key cannot produce or the provider does not know → NTE_BAD_TYPE; a blob type that is not a string →
 * NTE_INVALID_PARAMETER; an unknown Magic → NTE_INVALID_PARAMETER; a BCRYPT blob whose lengths do not add
 * up exactly, a point off its curve, inconsistent private numbers → NTE_BAD_DATA. CAPI blobs follow the
 * CryptoAPI import rules instead (every header fault NTE_BAD_DATA, trailing bytes ignored).
 */
import { createECDH, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_RSA_KEYX, CALG_RSA_SIGN,
} from '../minidriver/constants.js';
import {
  BCRYPT_RSAFULLPRIVATE_MAGIC, BCRYPT_RSAPRIVATE_MAGIC, BCRYPT_RSAPUBLIC_MAGIC, type CurveInfo, bcryptRsaBlobFromKeyObject,
  curveByMagic, decodeEccBlob, decodeRsaPrivateKeyBlob, decodeRsaPublicKeyBlob, encodeEccPublicBlob, encodeRsaPrivateKeyBlob, encodeRsaPublicKeyBlob,
  keyObjectFromBcryptRsaBlob,
} from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import {
  BCRYPT_ECCPRIVATE_BLOB, BCRYPT_ECCPUBLIC_BLOB, BCRYPT_PRIVATE_KEY_BLOB, BCRYPT_PUBLIC_KEY_BLOB, BCRYPT_RSAFULLPRIVATE_BLOB,
  BCRYPT_RSAPRIVATE_BLOB, BCRYPT_RSAPUBLIC_BLOB, LEGACY_RSAPRIVATE_BLOB, LEGACY_RSAPUBLIC_BLOB, NCRYPT_DO_NOT_FINALIZE_FLAG,
  NCRYPT_ECDSA_ALGORITHM_GROUP, NCRYPT_MACHINE_KEY_FLAG, NCRYPT_NO_KEY_VALIDATION, NCRYPT_OVERWRITE_KEY_FLAG,
  NCRYPT_PKCS8_PRIVATE_KEY_BLOB, NCRYPT_RSA_ALGORITHM_GROUP, NCRYPT_SILENT_FLAG, NCRYPTBUFFER_PKCS_KEY_NAME,
} from './constants.js';
import { checkFlags } from './flags.js';
import { NCryptKeyHandle, type NCryptProvHandle, useHandle } from './handles.js';
import { type CngAlgorithm, type PendingKey, type PersistedKey, type PublicOnlyKey, algorithmById } from './key-model.js';
import { NCryptCreatePersistedKey, NCryptFinalizeKey } from './keys.js';

/** One NCryptBuffer of an NCryptBufferDesc. */
export interface NCryptBuffer {
  type: number;
  value: Uint8Array | string;
}

/** Private key formats: never produced by a card key; imported onto the card only. */
const PRIVATE_EXPORT_TYPES: ReadonlySet<string> = new Set([
  BCRYPT_RSAPRIVATE_BLOB, BCRYPT_RSAFULLPRIVATE_BLOB, BCRYPT_ECCPRIVATE_BLOB, BCRYPT_PRIVATE_KEY_BLOB, LEGACY_RSAPRIVATE_BLOB,
  NCRYPT_PKCS8_PRIVATE_KEY_BLOB,
]);
const PUBLIC_IMPORT_TYPES: ReadonlySet<string> = new Set([BCRYPT_RSAPUBLIC_BLOB, BCRYPT_ECCPUBLIC_BLOB, BCRYPT_PUBLIC_KEY_BLOB, LEGACY_RSAPUBLIC_BLOB]);
const PRIVATE_IMPORT_TYPES: ReadonlySet<string> = new Set([BCRYPT_RSAPRIVATE_BLOB, BCRYPT_RSAFULLPRIVATE_BLOB, BCRYPT_ECCPRIVATE_BLOB, BCRYPT_PRIVATE_KEY_BLOB, LEGACY_RSAPRIVATE_BLOB]);

/**
 * NCryptImportKey's documented flags. NCRYPT_NO_KEY_VALIDATION is accepted but the private key is still
 * checked: a pair whose halves disagree, once on a card, cannot be repaired from the host.
 * NCRYPT_MACHINE_KEY_FLAG changes nothing: card keys belong to the card, not to a user or machine store.
 */
const IMPORT_FLAGS = NCRYPT_SILENT_FLAG | NCRYPT_DO_NOT_FINALIZE_FLAG | NCRYPT_OVERWRITE_KEY_FLAG | NCRYPT_MACHINE_KEY_FLAG | NCRYPT_NO_KEY_VALIDATION;

const ECC_BLOB_HEADER = 8;

function fail(code: 'NTE_BAD_DATA' | 'NTE_BAD_TYPE' | 'NTE_INVALID_PARAMETER' | 'NTE_NOT_SUPPORTED' | 'NTE_BAD_KEY_STATE', message: string, operation: string, cause?: unknown): CryptError {
  return new CryptError(code, message, { operation, ...(cause === undefined ? {} : { cause }) });
}

/** hExportKey / hImportKey: wrapped (encrypted) blobs are not offered; anything but a live key handle is NTE_INVALID_HANDLE. */
function refuseWrappingKey(handle: unknown, operation: string): void {
  if (handle === null || handle === undefined) return;
  useHandle(handle, 'key', operation);
  throw fail('NTE_NOT_SUPPORTED', 'encrypted key blobs are not offered by the smart card provider; pass null as the wrapping key', operation);
}

function blobTypeOf(blobType: unknown, operation: string): string {
  if (typeof blobType !== 'string' || blobType.length === 0) throw fail('NTE_INVALID_PARAMETER', 'pszBlobType must name a blob type, e.g. BCRYPT_PUBLIC_KEY_BLOB ("PUBLICBLOB")', operation);
  return blobType;
}

const unsigned = (b64url: string | undefined): Buffer => {
  const bytes = Buffer.from(b64url ?? '', 'base64url');
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
};

const bitLength = (be: Buffer): number => (be.length === 0 ? 0 : (be.length - 1) * 8 + (32 - Math.clz32(be[0]!)));

// --- export ----------------------------------------------------------------------------------------

/**
 * NCryptExportKey(hKey, null, pszBlobType, null, dwFlags) → the blob. Flags: NCRYPT_SILENT_FLAG only
 * (nothing here could prompt anyway).
 */
export async function NCryptExportKey(hKey: NCryptKeyHandle, hExportKey: NCryptKeyHandle | null, blobType: string, parameterList: null, flags = 0): Promise<Buffer> {
  const operation = 'NCryptExportKey';
  const handle = useHandle(hKey, 'key', operation);
  checkFlags(flags, NCRYPT_SILENT_FLAG, operation);
  refuseWrappingKey(hExportKey, operation);
  const type = blobTypeOf(blobType, operation);
  const key = handle.state;
  if (key.kind === 'pending') throw fail('NTE_BAD_KEY_STATE', 'the key is not finalized yet; call NCryptFinalizeKey first', operation);
  if (PRIVATE_EXPORT_TYPES.has(type)) {
    if (key.kind === 'public') throw fail('NTE_BAD_TYPE', `this handle holds a public key only; it has no "${type}"`, operation);
    // Card keys are created CKA_EXTRACTABLE false with export policy 0: never exportable. Windows' KSPs
    // answer a private export without permission with NTE_NOT_SUPPORTED (reference §6).
    throw fail('NTE_NOT_SUPPORTED', `a smart card key's private part never leaves the card, so "${type}" cannot be exported; export a public blob (PUBLICBLOB)`, operation);
  }
  if (parameterList !== null && parameterList !== undefined && !(Array.isArray(parameterList) && (parameterList as unknown[]).length === 0)) {
    throw fail('NTE_INVALID_PARAMETER', 'public blobs take no parameter list; pass null', operation);
  }
  return publicBlob(key, type, operation);
}

function publicBlob(key: PersistedKey | PublicOnlyKey, type: string, operation: string): Buffer {
  const rsa = key.algorithm.group === NCRYPT_RSA_ALGORITHM_GROUP;
  switch (type) {
    case BCRYPT_PUBLIC_KEY_BLOB: return rsa ? bcryptRsaBlobFromKeyObject(key.publicKey, 'RSAPUBLICBLOB') : eccPublicBlob(key);
    case BCRYPT_RSAPUBLIC_BLOB: if (rsa) return bcryptRsaBlobFromKeyObject(key.publicKey, 'RSAPUBLICBLOB'); break;
    case LEGACY_RSAPUBLIC_BLOB: if (rsa) return capiPublicBlob(key, operation); break;
    case BCRYPT_ECCPUBLIC_BLOB: if (!rsa) return eccPublicBlob(key); break;
  }
  const offered = rsa ? 'PUBLICBLOB, RSAPUBLICBLOB or CAPIPUBLICBLOB' : 'PUBLICBLOB or ECCPUBLICBLOB';
  throw fail('NTE_BAD_TYPE', `a ${key.algorithm.algId} key cannot be exported as "${type}"; it exports as ${offered}`, operation);
}

/** PUBLICKEYBLOB: CALG_RSA_SIGN for a signature-slot key, CALG_RSA_KEYX otherwise (also for public-only keys). */
function capiPublicBlob(key: PersistedKey | PublicOnlyKey, operation: string): Buffer {
  const jwk = key.publicKey.export({ format: 'jwk' });
  const publicExponent = unsigned(jwk.e);
  if (publicExponent.length > 4) throw fail('NTE_BAD_TYPE', 'the public exponent is wider than the 32 bits of a PUBLICKEYBLOB; export RSAPUBLICBLOB', operation);
  const aiKeyAlg = key.kind === 'persisted' && key.legacyKeySpec === AT_SIGNATURE ? CALG_RSA_SIGN : CALG_RSA_KEYX;
  return encodeRsaPublicKeyBlob({ modulus: unsigned(jwk.n), publicExponent, aiKeyAlg });
}

/** BCRYPT_ECCPUBLIC_BLOB with the magic of the key's curve and use (ECDSA or ECDH). */
function eccPublicBlob(key: PersistedKey | PublicOnlyKey): Buffer {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return encodeEccPublicBlob({
    curve: key.algorithm.curve!.name,
    usage: key.algorithm.group === NCRYPT_ECDSA_ALGORITHM_GROUP ? 'ECDSA' : 'ECDH',
    x: Buffer.from(jwk.x!, 'base64url'),
    y: Buffer.from(jwk.y!, 'base64url'),
  });
}

// --- import ----------------------------------------------------------------------------------------

/**
 * NCryptImportKey(hProv, null, pszBlobType, pParameterList, pbData, dwFlags) → a key handle.
 *
 * Public blobs: a public-only key (pParameterList null). Private blobs: a key in the card container
 * named by an NCRYPTBUFFER_PKCS_KEY_NAME buffer, finalized (written to the card) unless
 * NCRYPT_DO_NOT_FINALIZE_FLAG; NCRYPT_OVERWRITE_KEY_FLAG replaces a key of that name.
 */
export async function NCryptImportKey(hProv: NCryptProvHandle, hImportKey: NCryptKeyHandle | null, blobType: string, parameterList: readonly NCryptBuffer[] | null, data: Uint8Array, flags = 0): Promise<NCryptKeyHandle> {
  const operation = 'NCryptImportKey';
  const provider = useHandle(hProv, 'provider', operation);
  const f = checkFlags(flags, IMPORT_FLAGS, operation);
  refuseWrappingKey(hImportKey, operation);
  const type = blobTypeOf(blobType, operation);
  if (!(data instanceof Uint8Array)) throw fail('NTE_INVALID_PARAMETER', 'pbData must be the key blob bytes', operation);
  const name = keyNameOf(parameterList, operation);
  const blob = Buffer.from(data.buffer, data.byteOffset, data.byteLength);

  if (PUBLIC_IMPORT_TYPES.has(type)) {
    if (name !== undefined) throw fail('NTE_NOT_SUPPORTED', 'a card stores no public key without its private key; import a public blob without a key name', operation);
    return new NCryptKeyHandle(provider, importPublic(type, blob, operation));
  }
  if (!PRIVATE_IMPORT_TYPES.has(type)) throw fail('NTE_BAD_TYPE', `"${type}" is not a blob type this provider imports (public: PUBLICBLOB, RSAPUBLICBLOB, ECCPUBLICBLOB, CAPIPUBLICBLOB; private: PRIVATEBLOB, RSAPRIVATEBLOB, RSAFULLPRIVATEBLOB, ECCPRIVATEBLOB, CAPIPRIVATEBLOB)`, operation);
  if (name === undefined) {
    throw fail('NTE_NOT_SUPPORTED', 'a private key goes onto the card only into a named container; give the name in an NCRYPTBUFFER_PKCS_KEY_NAME (45) buffer of pParameterList', operation);
  }
  const imported = cardImportOf(type, blob, operation);
  // The NCryptCreatePersistedKey road: the same name rules, and NTE_EXISTS for a name in use unless
  // NCRYPT_OVERWRITE_KEY_FLAG (N10); the pending key then carries the key instead of generating one.
  const handle = await NCryptCreatePersistedKey(provider, imported.algorithm.algId, name, imported.legacyKeySpec, f & (NCRYPT_SILENT_FLAG | NCRYPT_OVERWRITE_KEY_FLAG | NCRYPT_MACHINE_KEY_FLAG))
    .catch((err: unknown) => { imported.keyData.fill(0); throw err; });
  const pending = handle.state as PendingKey;
  pending.length = imported.bits;
  pending.importKeyData = imported.keyData;
  if (f & NCRYPT_DO_NOT_FINALIZE_FLAG) return handle;
  try {
    await NCryptFinalizeKey(handle, f & NCRYPT_SILENT_FLAG);
    return handle;
  } catch (err) {
    handle.freed = true; // a failed import hands out no handle
    throw err;
  } finally {
    imported.keyData.fill(0); // written to the card or abandoned: either way no longer needed
  }
}

/** The key name of an NCRYPTBUFFER_PKCS_KEY_NAME buffer (a string, or UTF-16LE bytes as Windows passes it). */
function keyNameOf(parameterList: unknown, operation: string): string | undefined {
  if (parameterList === null || parameterList === undefined) return undefined;
  if (!Array.isArray(parameterList)) throw fail('NTE_INVALID_PARAMETER', 'pParameterList must be an array of { type, value } buffers or null', operation);
  let name: string | undefined;
  for (const buffer of parameterList as unknown[]) {
    const { type, value } = (typeof buffer === 'object' && buffer !== null ? buffer : {}) as Partial<NCryptBuffer>;
    if (type !== NCRYPTBUFFER_PKCS_KEY_NAME) throw fail('NTE_INVALID_PARAMETER', `buffer type ${String(type)} is not taken here; only NCRYPTBUFFER_PKCS_KEY_NAME (45) is`, operation);
    if (name !== undefined) throw fail('NTE_INVALID_PARAMETER', 'NCRYPTBUFFER_PKCS_KEY_NAME given twice', operation);
    const text = typeof value === 'string' ? value : value instanceof Uint8Array && value.length % 2 === 0 ? Buffer.from(value).toString('utf16le') : undefined;
    name = text?.replace(/\0+$/, '');
    if (!name) throw fail('NTE_INVALID_PARAMETER', 'NCRYPTBUFFER_PKCS_KEY_NAME must hold a non-empty key name (a string or UTF-16LE bytes)', operation);
  }
  return name;
}

function magicOf(blob: Buffer, operation: string): number {
  if (blob.length < 4) throw fail('NTE_BAD_DATA', `${blob.length} bytes cannot hold a key blob header`, operation);
  return blob.readUInt32LE(0);
}

function importPublic(type: string, blob: Buffer, operation: string): PublicOnlyKey {
  switch (type) {
    case BCRYPT_RSAPUBLIC_BLOB: return rsaPublicOnly(keyObjectFromBcryptRsaBlob(blob, 'RSAPUBLICBLOB'));
    case BCRYPT_ECCPUBLIC_BLOB: return eccPublicOnly(blob, operation);
    case LEGACY_RSAPUBLIC_BLOB: return rsaPublicOnly(capiPublicKey(blob, operation));
    default: { // BCRYPT_PUBLIC_KEY_BLOB: the Magic decides (N19)
      const magic = magicOf(blob, operation);
      if (magic === BCRYPT_RSAPUBLIC_MAGIC) return rsaPublicOnly(keyObjectFromBcryptRsaBlob(blob, 'RSAPUBLICBLOB'));
      if (curveByMagic(magic)?.isPrivate === false) return eccPublicOnly(blob, operation);
      throw unknownMagic(magic, 'a public key blob (RSA1, ECS1/3/5, ECK1/3/5)', operation);
    }
  }
}

function unknownMagic(magic: number, expected: string, operation: string): CryptError {
  return fail('NTE_INVALID_PARAMETER', `Magic 0x${magic.toString(16).padStart(8, '0')} is not ${expected}`, operation);
}

function rsaPublicOnly(publicKey: KeyObject): PublicOnlyKey {
  return { kind: 'public', algorithm: algorithmById('RSA')!, bits: bitLength(unsigned(publicKey.export({ format: 'jwk' }).n)), publicKey };
}

/** PUBLICKEYBLOB as CryptImportKey reads it (trailing bytes ignored; every header fault NTE_BAD_DATA, §3.1). */
function capiPublicKey(blob: Buffer, operation: string): KeyObject {
  let decoded;
  try {
    decoded = decodeRsaPublicKeyBlob(blob);
  } catch (cause) {
    throw fail('NTE_BAD_DATA', `not a PUBLICKEYBLOB: ${cause instanceof Error ? cause.message : String(cause)}`, operation, cause);
  }
  return rsaKeyObject({ kty: 'RSA', n: decoded.modulus.toString('base64url'), e: decoded.publicExponent.toString('base64url') }, operation);
}

function rsaKeyObject(jwk: JsonWebKey, operation: string): KeyObject {
  try {
    return jwk.d === undefined ? createPublicKey({ key: jwk, format: 'jwk' }) : createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    throw fail('NTE_BAD_DATA', 'the blob does not describe a usable RSA key', operation, cause);
  }
}

/**
 * A BCRYPT_ECCKEY_BLOB header checked the N19 way before the codec reads it: Magic (unknown →
 * NTE_INVALID_PARAMETER), public or private as the caller needs, cbKey of the curve, exact length.
 */
function checkEccBlob(blob: Buffer, wantPrivate: boolean, operation: string): { curve: CurveInfo; usage: 'ECDSA' | 'ECDH' } {
  const magic = magicOf(blob, operation);
  const kind = curveByMagic(magic);
  if (!kind) throw unknownMagic(magic, 'an ECC key blob magic (ECS1..ECS6, ECK1..ECK6)', operation);
  const visibility = wantPrivate ? 'private' : 'public';
  if (kind.isPrivate !== wantPrivate) throw fail('NTE_BAD_DATA', `the Magic is a ${kind.isPrivate ? 'private' : 'public'} key's, the blob type a ${visibility} one`, operation);
  const size = kind.curve.byteLength;
  if (blob.length < ECC_BLOB_HEADER || blob.readUInt32LE(4) !== size) throw fail('NTE_BAD_DATA', `cbKey must be ${size} for ${kind.curve.name}`, operation);
  const expected = ECC_BLOB_HEADER + (wantPrivate ? 3 : 2) * size;
  if (blob.length !== expected) throw fail('NTE_BAD_DATA', `a ${kind.curve.name} ${visibility} blob is ${expected} bytes, this one ${blob.length}`, operation);
  return kind;
}

function eccAlgorithm(curve: CurveInfo, usage: 'ECDSA' | 'ECDH'): CngAlgorithm {
  return algorithmById(usage === 'ECDSA' ? curve.cngEcdsaAlgorithm : curve.cngEcdhAlgorithm)!;
}

const curveBits = (curve: CurveInfo): number => (curve.byteLength === 66 ? 521 : curve.byteLength * 8);

function eccPublicOnly(blob: Buffer, operation: string): PublicOnlyKey {
  const { curve, usage } = checkEccBlob(blob, false, operation);
  const { x, y } = decodeEccBlob(blob);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: { kty: 'EC', crv: curve.name, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw fail('NTE_BAD_DATA', `(X, Y) is not a point on ${curve.name}`, operation, cause);
  }
  return { kind: 'public', algorithm: eccAlgorithm(curve, usage), bits: curveBits(curve), publicKey };
}

// --- private import ----------------------------------------------------------------------------------

interface CardImport {
  algorithm: CngAlgorithm;
  legacyKeySpec: number;
  bits: number;
  /** CARD_CREATE_CONTAINER_KEY_IMPORT data: PRIVATEKEYBLOB (RSA) or BCRYPT_ECCPRIVATE_BLOB (ECC). */
  keyData: Buffer;
}

function cardImportOf(type: string, blob: Buffer, operation: string): CardImport {
  switch (type) {
    case BCRYPT_RSAPRIVATE_BLOB:
    case BCRYPT_RSAFULLPRIVATE_BLOB:
      return rsaCardImport(keyObjectFromBcryptRsaBlob(blob, type as 'RSAPRIVATEBLOB' | 'RSAFULLPRIVATEBLOB').export({ format: 'jwk' }), CALG_RSA_KEYX, operation);
    case LEGACY_RSAPRIVATE_BLOB:
      return capiPrivateImport(blob, operation);
    case BCRYPT_ECCPRIVATE_BLOB:
      return eccCardImport(blob, operation);
    default: { // BCRYPT_PRIVATE_KEY_BLOB: the Magic decides
      const magic = magicOf(blob, operation);
      if (magic === BCRYPT_RSAPRIVATE_MAGIC) return cardImportOf(BCRYPT_RSAPRIVATE_BLOB, blob, operation);
      if (magic === BCRYPT_RSAFULLPRIVATE_MAGIC) return cardImportOf(BCRYPT_RSAFULLPRIVATE_BLOB, blob, operation);
      if (curveByMagic(magic)?.isPrivate === true) return eccCardImport(blob, operation);
      throw unknownMagic(magic, 'a private key blob (RSA2, RSA3, ECS2/4/6, ECK2/4/6)', operation);
    }
  }
}

/** PRIVATEKEYBLOB: aiKeyAlg picks the slot (CALG_RSA_SIGN → AT_SIGNATURE, §3.3); the blob must be complete. */
function capiPrivateImport(blob: Buffer, operation: string): CardImport {
  let k;
  try {
    k = decodeRsaPrivateKeyBlob(blob);
  } catch (cause) {
    throw fail('NTE_BAD_DATA', `not a complete PRIVATEKEYBLOB: ${cause instanceof Error ? cause.message : String(cause)}`, operation, cause);
  }
  const b64 = (v: Buffer) => v.toString('base64url');
  const jwk: JsonWebKey = {
    kty: 'RSA', n: b64(k.modulus), e: b64(k.publicExponent), d: b64(k.privateExponent), p: b64(k.prime1), q: b64(k.prime2),
    dp: b64(k.exponent1), dq: b64(k.exponent2), qi: b64(k.coefficient),
  };
  return rsaCardImport(jwk, k.aiKeyAlg, operation);
}

function rsaCardImport(jwk: JsonWebKey, aiKeyAlg: number, operation: string): CardImport {
  checkRsaPair(jwk, operation);
  return {
    algorithm: algorithmById('RSA')!,
    legacyKeySpec: aiKeyAlg === CALG_RSA_SIGN ? AT_SIGNATURE : AT_KEYEXCHANGE,
    bits: bitLength(unsigned(jwk.n)),
    keyData: capiPrivateKeyBlob(jwk, aiKeyAlg, operation),
  };
}

/**
 * The private numbers must belong to the public key: n = p·q, the CRT values derived from d, and e·d ≡ 1
 * modulo p − 1 and q − 1. A blob failing this would put a key on the card that signs wrongly on one
 * token and rightly on another (some use d, some the CRT values).
 */
function checkRsaPair(jwk: JsonWebKey, operation: string): void {
  const int = (v: string | undefined): bigint => BigInt(`0x${unsigned(v).toString('hex') || '0'}`);
  const [n, e, d, p, q, dp, dq, qi] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map(int) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  const consistent = p > 1n && q > 1n && p * q === n
    && d % (p - 1n) === dp && d % (q - 1n) === dq && (qi * q) % p === 1n
    && (e * dp) % (p - 1n) === 1n && (e * dq) % (q - 1n) === 1n;
  if (!consistent) throw fail('NTE_BAD_DATA', 'the private numbers of the RSA blob do not belong to its public key', operation);
  rsaKeyObject(jwk, operation); // and node:crypto (OpenSSL) takes the key
}

/** The card's RSA key-import format (PRIVATEKEYBLOB); a key that format cannot carry is NTE_NOT_SUPPORTED. */
function capiPrivateKeyBlob(jwk: JsonWebKey, aiKeyAlg: number, operation: string): Buffer {
  try {
    return encodeRsaPrivateKeyBlob({
      aiKeyAlg, modulus: unsigned(jwk.n), publicExponent: unsigned(jwk.e), privateExponent: unsigned(jwk.d),
      prime1: unsigned(jwk.p), prime2: unsigned(jwk.q), exponent1: unsigned(jwk.dp), exponent2: unsigned(jwk.dq), coefficient: unsigned(jwk.qi),
    });
  } catch (cause) {
    throw fail('NTE_NOT_SUPPORTED', `a card key import (PRIVATEKEYBLOB) cannot carry this key: ${cause instanceof Error ? cause.message : String(cause)}`, operation, cause);
  }
}

/** BCRYPT_ECCPRIVATE_BLOB goes to the card as is, once d is a valid scalar whose point is (X, Y). */
function eccCardImport(blob: Buffer, operation: string): CardImport {
  const { curve, usage } = checkEccBlob(blob, true, operation);
  const { x, y, d } = decodeEccBlob(blob);
  let point: Buffer;
  try {
    const ecdh = createECDH(curve.nodeCurve);
    ecdh.setPrivateKey(d!);
    point = ecdh.getPublicKey();
  } catch (cause) {
    throw fail('NTE_BAD_DATA', `d is not a private key on ${curve.name}`, operation, cause);
  }
  if (!point.equals(Buffer.concat([Buffer.from([4]), x, y]))) throw fail('NTE_BAD_DATA', `(X, Y) is not the public point of d on ${curve.name}`, operation);
  return { algorithm: eccAlgorithm(curve, usage), legacyKeySpec: 0, bits: curveBits(curve), keyData: Buffer.from(blob) };
}
