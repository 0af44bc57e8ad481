/**
 * BCRYPT_RSAKEY_BLOB: the RSA key format of NCryptExportKey / NCryptImportKey (RSAPUBLICBLOB,
 * RSAPRIVATEBLOB, RSAFULLPRIVATEBLOB).
 *
 * Why: CNG blobs carry the same "RSA1"/"RSA2" magics as the CAPI blobs in capi-rsa-blob.ts but store
 * every number big-endian and with explicit lengths, so mixing the two codecs up yields a key that
 * parses and is wrong. PKCS#11 and node:crypto also speak big-endian, so here the numbers pass through
 * unreversed; what this module adds is the header arithmetic and the checks Windows makes on import.
 *
 * Layout (cryptoapi-cng.md §3.7): {Magic, BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2} as
 * u32 LE, then PublicExponent, Modulus [, Prime1, Prime2 [, Exponent1, Exponent2, Coefficient,
 * PrivateExponent]]. LEGACY_RSAPUBLIC_BLOB / LEGACY_RSAPRIVATE_BLOB are the CAPI PUBLICKEYBLOB /
 * PRIVATEKEYBLOB and belong to capi-rsa-blob.ts, not here.
 *
 * Errors follow NCryptImportKey (§5 N19): a blob whose lengths do not add up is NTE_BAD_DATA; an
 * unknown Magic is NTE_INVALID_PARAMETER, because Windows dispatches on Magic before it looks at the
 * data. A disagreement between BitLength and cbModulus is accepted, as Windows accepts it. Encoding
 * errors (our own key numbers are unusable) are NTE_INVALID_PARAMETER; an unknown blob type NTE_BAD_TYPE.
 */
import { type JsonWebKey, type KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';
import { RSA1_MAGIC, RSA2_MAGIC } from '../constants.js';
import { CryptError } from '../errors.js';

/** "RSA1": the same number as the CAPI RSAPUBKEY magic. */
export const BCRYPT_RSAPUBLIC_MAGIC = RSA1_MAGIC;
/** "RSA2": the same number as the CAPI private-key magic. */
export const BCRYPT_RSAPRIVATE_MAGIC = RSA2_MAGIC;
/** "RSA3": CNG only; no CAPI blob has the CRT values and d without the header of PRIVATEKEYBLOB. */
export const BCRYPT_RSAFULLPRIVATE_MAGIC = 0x33415352;

/** The pszBlobType strings this codec handles (BCRYPT_RSAPUBLIC_BLOB, ..._RSAPRIVATE_BLOB, ..._RSAFULLPRIVATE_BLOB). */
export type BcryptRsaBlobType = 'RSAPUBLICBLOB' | 'RSAPRIVATEBLOB' | 'RSAFULLPRIVATEBLOB';

/** sizeof(BCRYPT_RSAKEY_BLOB). */
export const BCRYPT_RSAKEY_BLOB_HEADER_SIZE = 24;

const MAGIC_BY_TYPE: Record<BcryptRsaBlobType, number> = {
  RSAPUBLICBLOB: BCRYPT_RSAPUBLIC_MAGIC,
  RSAPRIVATEBLOB: BCRYPT_RSAPRIVATE_MAGIC,
  RSAFULLPRIVATEBLOB: BCRYPT_RSAFULLPRIVATE_MAGIC,
};

/** Big-endian numbers, as PKCS#11 and JWK hold them; leading zero bytes are ignored on encode. */
export interface BcryptRsaPublicKey {
  modulus: Uint8Array;
  publicExponent: Uint8Array;
}

export interface BcryptRsaPrivateKey extends BcryptRsaPublicKey {
  prime1: Uint8Array;
  prime2: Uint8Array;
}

export interface BcryptRsaFullPrivateKey extends BcryptRsaPrivateKey {
  /** d mod (p − 1) */
  exponent1: Uint8Array;
  /** d mod (q − 1) */
  exponent2: Uint8Array;
  /** q⁻¹ mod p */
  coefficient: Uint8Array;
  privateExponent: Uint8Array;
}

/**
 * A decoded blob. Numbers are the fields exactly as stored (big-endian, field width kept), so a
 * re-encode of a Windows blob gives back the same bytes.
 */
export interface DecodedBcryptRsaBlob {
  blobType: BcryptRsaBlobType;
  /** BitLength from the header, which Windows does not check against cbModulus. */
  bitLength: number;
  publicExponent: Buffer;
  modulus: Buffer;
  prime1?: Buffer;
  prime2?: Buffer;
  exponent1?: Buffer;
  exponent2?: Buffer;
  coefficient?: Buffer;
  privateExponent?: Buffer;
}

function badData(message: string): CryptError {
  return new CryptError('NTE_BAD_DATA', `BCRYPT_RSAKEY_BLOB: ${message}`, { operation: 'NCryptImportKey' });
}

function invalidParameter(message: string, operation: string): CryptError {
  return new CryptError('NTE_INVALID_PARAMETER', `BCRYPT_RSAKEY_BLOB: ${message}`, { operation });
}

function checkBlobType(blobType: unknown, operation: string): BcryptRsaBlobType {
  if (typeof blobType !== 'string' || !Object.hasOwn(MAGIC_BY_TYPE, blobType)) {
    throw new CryptError('NTE_BAD_TYPE', `blob type "${String(blobType)}" is not an RSA BCRYPT blob (RSAPUBLICBLOB, RSAPRIVATEBLOB, RSAFULLPRIVATEBLOB)`, { operation });
  }
  return blobType as BcryptRsaBlobType;
}

function stripLeadingZeros(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  return Buffer.from(value.subarray(start));
}

function toBigInt(value: Uint8Array): bigint {
  return value.length === 0 ? 0n : BigInt(`0x${Buffer.from(value).toString('hex')}`);
}

function fromBigInt(value: bigint): Buffer {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
}

/** A non-zero number as its minimal big-endian bytes. */
function significant(name: string, value: unknown, operation: string): Buffer {
  if (!(value instanceof Uint8Array)) throw invalidParameter(`${name} must be bytes`, operation);
  const stripped = stripLeadingZeros(value);
  if (stripped.length === 0) throw invalidParameter(`${name} is zero`, operation);
  return stripped;
}

/** `value` left-padded with zeros to `width` bytes: the CRT values and d sit in fields sized by p, q and n. */
function padded(name: string, value: unknown, width: number, operation: string): Buffer {
  if (!(value instanceof Uint8Array)) throw invalidParameter(`${name} must be bytes`, operation);
  const stripped = stripLeadingZeros(value);
  if (stripped.length > width) throw invalidParameter(`${name} has ${stripped.length} significant bytes, its field holds ${width}`, operation);
  const out = Buffer.alloc(width);
  stripped.copy(out, width - stripped.length);
  return out;
}

function bitLengthOf(modulus: Buffer): number {
  return (modulus.length - 1) * 8 + modulus[0]!.toString(2).length;
}

function encode(blobType: BcryptRsaBlobType, key: BcryptRsaFullPrivateKey | BcryptRsaPrivateKey | BcryptRsaPublicKey, operation: string): Buffer {
  if (typeof key !== 'object' || key === null) throw invalidParameter('expected a key description', operation);
  const publicExponent = significant('publicExponent', key.publicExponent, operation);
  const modulus = significant('modulus', key.modulus, operation);
  const parts = [publicExponent, modulus];
  let cbPrime1 = 0;
  let cbPrime2 = 0;
  if (blobType !== 'RSAPUBLICBLOB') {
    const priv = key as BcryptRsaPrivateKey;
    const prime1 = significant('prime1', priv.prime1, operation);
    const prime2 = significant('prime2', priv.prime2, operation);
    cbPrime1 = prime1.length;
    cbPrime2 = prime2.length;
    parts.push(prime1, prime2);
    if (blobType === 'RSAFULLPRIVATEBLOB') {
      const full = key as BcryptRsaFullPrivateKey;
      parts.push(
        padded('exponent1', full.exponent1, cbPrime1, operation),
        padded('exponent2', full.exponent2, cbPrime2, operation),
        padded('coefficient', full.coefficient, cbPrime1, operation),
        padded('privateExponent', full.privateExponent, modulus.length, operation),
      );
    }
  }
  const header = Buffer.alloc(BCRYPT_RSAKEY_BLOB_HEADER_SIZE);
  header.writeUInt32LE(MAGIC_BY_TYPE[blobType], 0);
  header.writeUInt32LE(bitLengthOf(modulus), 4);
  header.writeUInt32LE(publicExponent.length, 8);
  header.writeUInt32LE(modulus.length, 12);
  header.writeUInt32LE(cbPrime1, 16);
  header.writeUInt32LE(cbPrime2, 20);
  return Buffer.concat([header, ...parts]);
}

/** BCRYPT_RSAPUBLIC_BLOB ("RSA1"). BitLength is the modulus' exact bit count, as Windows writes it. */
export function encodeBcryptRsaPublicBlob(key: BcryptRsaPublicKey): Buffer {
  return encode('RSAPUBLICBLOB', key, 'NCryptExportKey');
}

/** BCRYPT_RSAPRIVATE_BLOB ("RSA2"): e, n, p, q — what Windows needs to rebuild the rest. */
export function encodeBcryptRsaPrivateBlob(key: BcryptRsaPrivateKey): Buffer {
  return encode('RSAPRIVATEBLOB', key, 'NCryptExportKey');
}

/** BCRYPT_RSAFULLPRIVATE_BLOB ("RSA3"): every CRT value, each padded to the width of its field. */
export function encodeBcryptRsaFullPrivateBlob(key: BcryptRsaFullPrivateKey): Buffer {
  return encode('RSAFULLPRIVATEBLOB', key, 'NCryptExportKey');
}

function blobTypeOfMagic(magic: number): BcryptRsaBlobType | undefined {
  return (Object.keys(MAGIC_BY_TYPE) as BcryptRsaBlobType[]).find((type) => MAGIC_BY_TYPE[type] === magic);
}

/**
 * Decodes any of the three RSA blobs. With `expectedType` (the pszBlobType of NCryptImportKey) a blob
 * of another kind is refused. The length must be exact: Windows rejects a blob one byte short or long.
 * For private blobs p·q must equal n — a blob that fails it would import as a key that cannot work.
 */
export function decodeBcryptRsaBlob(blob: Uint8Array, expectedType?: BcryptRsaBlobType): DecodedBcryptRsaBlob {
  const expected = expectedType === undefined ? undefined : checkBlobType(expectedType, 'NCryptImportKey');
  if (!(blob instanceof Uint8Array)) throw badData('expected bytes');
  if (blob.length < BCRYPT_RSAKEY_BLOB_HEADER_SIZE) throw badData(`${blob.length} bytes is shorter than the 24-byte header`);
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const magic = b.readUInt32LE(0);
  const blobType = blobTypeOfMagic(magic);
  if (blobType === undefined) {
    throw new CryptError('NTE_INVALID_PARAMETER', `BCRYPT_RSAKEY_BLOB: unknown Magic 0x${magic.toString(16).padStart(8, '0')} (RSA1, RSA2 or RSA3 expected)`, { operation: 'NCryptImportKey' });
  }
  if (expected !== undefined && blobType !== expected) throw badData(`Magic says ${blobType}, the blob type given is ${expected}`);
  const bitLength = b.readUInt32LE(4);
  const cbPublicExp = b.readUInt32LE(8);
  const cbModulus = b.readUInt32LE(12);
  // The public blob's cbPrime fields are not part of its size; Windows sizes RSA1 from e and n only.
  const cbPrime1 = blobType === 'RSAPUBLICBLOB' ? 0 : b.readUInt32LE(16);
  const cbPrime2 = blobType === 'RSAPUBLICBLOB' ? 0 : b.readUInt32LE(20);
  if (cbPublicExp === 0) throw badData('cbPublicExp is 0');
  if (cbModulus === 0) throw badData('cbModulus is 0');
  if (blobType !== 'RSAPUBLICBLOB' && (cbPrime1 === 0 || cbPrime2 === 0)) throw badData(`${blobType} needs non-zero cbPrime1 and cbPrime2`);

  const fieldLengths = [cbPublicExp, cbModulus];
  if (blobType !== 'RSAPUBLICBLOB') fieldLengths.push(cbPrime1, cbPrime2);
  if (blobType === 'RSAFULLPRIVATEBLOB') fieldLengths.push(cbPrime1, cbPrime2, cbPrime1, cbModulus);
  // Header fields are u32s: summed as numbers they cannot overflow 2^53, so a huge value is just "too long".
  const needed = fieldLengths.reduce((sum, length) => sum + length, BCRYPT_RSAKEY_BLOB_HEADER_SIZE);
  if (b.length !== needed) throw badData(`the header describes ${needed} bytes, the blob has ${b.length}`);

  let offset = BCRYPT_RSAKEY_BLOB_HEADER_SIZE;
  const fields = fieldLengths.map((length) => {
    const field = Buffer.from(b.subarray(offset, offset + length));
    offset += length;
    return field;
  });
  const [publicExponent, modulus, prime1, prime2, exponent1, exponent2, coefficient, privateExponent] = fields;
  if (toBigInt(publicExponent!) === 0n) throw badData('the public exponent is zero');
  const n = toBigInt(modulus!);
  if (n === 0n) throw badData('the modulus is zero');
  const decoded: DecodedBcryptRsaBlob = { blobType, bitLength, publicExponent: publicExponent!, modulus: modulus! };
  if (blobType !== 'RSAPUBLICBLOB') {
    if (toBigInt(prime1!) * toBigInt(prime2!) !== n) throw badData('Prime1 × Prime2 is not the modulus');
    decoded.prime1 = prime1!;
    decoded.prime2 = prime2!;
  }
  if (blobType === 'RSAFULLPRIVATEBLOB') {
    decoded.exponent1 = exponent1!;
    decoded.exponent2 = exponent2!;
    decoded.coefficient = coefficient!;
    decoded.privateExponent = privateExponent!;
  }
  return decoded;
}

// --- node:crypto ---

const b64url = (value: Uint8Array): string => stripLeadingZeros(value).toString('base64url');
const fromB64url = (name: string, value: unknown, operation: string): Buffer => {
  if (typeof value !== 'string' || value.length === 0) throw invalidParameter(`JWK member "${name}" is missing`, operation);
  return Buffer.from(value, 'base64url');
};

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** a⁻¹ mod m, or undefined when gcd(a, m) ≠ 1. */
function modInverse(a: bigint, m: bigint): bigint | undefined {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return oldR === 1n ? ((oldS % m) + m) % m : undefined;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/**
 * The full private key of an RSA2 blob. d is e⁻¹ mod lcm(p−1, q−1), the smallest working exponent
 * (FIPS 186-4), so an RSA2 import re-exported as RSA3 may show a different d than the key had when
 * it was generated — both decrypt and sign identically.
 */
function completePrivateKey(decoded: DecodedBcryptRsaBlob): JsonWebKey {
  const e = toBigInt(decoded.publicExponent);
  const p = toBigInt(decoded.prime1!);
  const q = toBigInt(decoded.prime2!);
  if (p < 2n || q < 2n) throw badData('a prime is smaller than 2');
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  const d = modInverse(e, lambda);
  const qi = modInverse(q, p);
  if (d === undefined || qi === undefined) throw badData('the primes and exponent do not form an RSA key');
  // A last consistency check: m^(e·d) ≡ m (mod n) for a small m catches composite "primes".
  const n = p * q;
  if (modPow(modPow(2n, e, n), d, n) !== 2n) throw badData('the primes and exponent do not form an RSA key');
  return {
    kty: 'RSA', n: b64url(decoded.modulus), e: b64url(decoded.publicExponent), d: b64url(fromBigInt(d)),
    p: b64url(decoded.prime1!), q: b64url(decoded.prime2!), dp: b64url(fromBigInt(d % (p - 1n))),
    dq: b64url(fromBigInt(d % (q - 1n))), qi: b64url(fromBigInt(qi)),
  };
}

/**
 * The blob as a JWK: public members only for RSAPUBLICBLOB, the full private key otherwise (an RSA2
 * blob's d and CRT values are computed from p and q).
 */
export function jwkFromBcryptRsaBlob(blob: Uint8Array, expectedType?: BcryptRsaBlobType): JsonWebKey {
  const decoded = decodeBcryptRsaBlob(blob, expectedType);
  if (decoded.blobType === 'RSAPUBLICBLOB') return { kty: 'RSA', n: b64url(decoded.modulus), e: b64url(decoded.publicExponent) };
  if (decoded.blobType === 'RSAPRIVATEBLOB') return completePrivateKey(decoded);
  return {
    kty: 'RSA', n: b64url(decoded.modulus), e: b64url(decoded.publicExponent), d: b64url(decoded.privateExponent!),
    p: b64url(decoded.prime1!), q: b64url(decoded.prime2!), dp: b64url(decoded.exponent1!), dq: b64url(decoded.exponent2!),
    qi: b64url(decoded.coefficient!),
  };
}

/**
 * The blob as a node:crypto KeyObject: a public key for RSAPUBLICBLOB, a private key (whose public half
 * node derives) for the private blobs — what NCryptImportKey needs before it writes the key to a token.
 */
export function keyObjectFromBcryptRsaBlob(blob: Uint8Array, expectedType?: BcryptRsaBlobType): KeyObject {
  const jwk = jwkFromBcryptRsaBlob(blob, expectedType);
  try {
    return jwk.d === undefined ? createPublicKey({ key: jwk, format: 'jwk' }) : createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    throw new CryptError('NTE_BAD_DATA', 'BCRYPT_RSAKEY_BLOB: node:crypto refuses the key it describes', { operation: 'NCryptImportKey', cause });
  }
}

/** A DER SubjectPublicKeyInfo of the blob's public key (any of the three blob kinds). */
export function spkiFromBcryptRsaBlob(blob: Uint8Array): Buffer {
  const decoded = decodeBcryptRsaBlob(blob);
  try {
    return createPublicKey({ key: { kty: 'RSA', n: b64url(decoded.modulus), e: b64url(decoded.publicExponent) }, format: 'jwk' })
      .export({ format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CryptError('NTE_BAD_DATA', 'BCRYPT_RSAKEY_BLOB: node:crypto refuses the public key it describes', { operation: 'NCryptImportKey', cause });
  }
}

/**
 * The blob of `blobType` for an RSA JWK. A public JWK yields only RSAPUBLICBLOB; RSAFULLPRIVATEBLOB needs
 * every CRT member.
 */
export function bcryptRsaBlobFromJwk(jwk: JsonWebKey, blobType: BcryptRsaBlobType): Buffer {
  const operation = 'NCryptExportKey';
  const type = checkBlobType(blobType, operation);
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'RSA') throw invalidParameter('expected an RSA JWK', operation);
  const pub = { modulus: fromB64url('n', jwk.n, operation), publicExponent: fromB64url('e', jwk.e, operation) };
  if (type === 'RSAPUBLICBLOB') return encodeBcryptRsaPublicBlob(pub);
  if (jwk.d === undefined) throw invalidParameter(`${type} needs a private key`, operation);
  const priv = { ...pub, prime1: fromB64url('p', jwk.p, operation), prime2: fromB64url('q', jwk.q, operation) };
  if (type === 'RSAPRIVATEBLOB') return encodeBcryptRsaPrivateBlob(priv);
  return encodeBcryptRsaFullPrivateBlob({
    ...priv, exponent1: fromB64url('dp', jwk.dp, operation), exponent2: fromB64url('dq', jwk.dq, operation),
    coefficient: fromB64url('qi', jwk.qi, operation), privateExponent: fromB64url('d', jwk.d, operation),
  });
}

/** The blob of `blobType` for an RSA KeyObject (public or private; RSA-PSS keys are refused). */
export function bcryptRsaBlobFromKeyObject(key: KeyObject, blobType: BcryptRsaBlobType): Buffer {
  const type = checkBlobType(blobType, 'NCryptExportKey');
  if (typeof key !== 'object' || key === null || (key.type !== 'public' && key.type !== 'private') || key.asymmetricKeyType !== 'rsa') {
    throw invalidParameter('expected an RSA public or private KeyObject', 'NCryptExportKey');
  }
  return bcryptRsaBlobFromJwk(key.export({ format: 'jwk' }), type);
}

/** RSAPUBLICBLOB for a DER SubjectPublicKeyInfo (e.g. from a certificate); a non-RSA or broken SPKI is NTE_BAD_DATA. */
export function bcryptRsaPublicBlobFromSpki(spki: Uint8Array): Buffer {
  if (!(spki instanceof Uint8Array)) throw new CryptError('NTE_BAD_DATA', 'SubjectPublicKeyInfo must be bytes', { operation: 'NCryptImportKey' });
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CryptError('NTE_BAD_DATA', 'not a DER SubjectPublicKeyInfo', { operation: 'NCryptImportKey', cause });
  }
  if (key.asymmetricKeyType !== 'rsa') throw new CryptError('NTE_BAD_DATA', `SubjectPublicKeyInfo holds a ${String(key.asymmetricKeyType)} key, not RSA`, { operation: 'NCryptImportKey' });
  return bcryptRsaBlobFromKeyObject(key, 'RSAPUBLICBLOB');
}
