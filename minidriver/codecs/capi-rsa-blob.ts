/**
 * CryptoAPI RSA key blobs: PUBLICKEYBLOB (CONTAINER_INFO) and PRIVATEKEYBLOB (CardCreateContainer
 * with CARD_CREATE_CONTAINER_KEY_IMPORT).
 *
 * Why: a minidriver speaks CAPI blobs in both directions — it publishes RSA public keys as
 * PUBLICKEYBLOB and receives imported RSA keys as PRIVATEKEYBLOB — while PKCS#11 stores the same
 * numbers big-endian. Every integer in these blobs is little-endian, the opposite of PKCS#11, so the
 * byte order is handled here once and never by callers.
 *
 * Layout: BLOBHEADER {bType, bVersion 2, WORD reserved 0, ALG_ID aiKeyAlg} + RSAPUBKEY {magic, bitlen,
 * pubexp u32} + fields (cryptoapi-cng.md §3.1–3.3). Errors: SCARD_E_INVALID_PARAMETER, not
 * NTE_BAD_DATA — these blobs reach a minidriver as arguments, and CMCK rejects NTE_* from a driver
 * (minidriver.md §8).
 */
import {
  CALG_RSA_KEYX, CALG_RSA_SIGN, CUR_BLOB_VERSION, PRIVATEKEYBLOB, PUBLICKEYBLOB, RSA1_MAGIC, RSA2_MAGIC,
} from '../constants.js';
import { CryptError } from '../errors.js';

/** sizeof(BLOBHEADER) + sizeof(RSAPUBKEY). */
const RSA_BLOB_HEADER_SIZE = 20;
/** RSAPUBKEY.pubexp is a DWORD. */
const MAX_EXPONENT_BYTES = 4;

export interface RsaPublicKeyInput {
  /** Big-endian, as PKCS#11 CKA_MODULUS. */
  modulus: Uint8Array;
  /** Big-endian, as PKCS#11 CKA_PUBLIC_EXPONENT; at most 4 significant bytes. */
  publicExponent: Uint8Array;
  /** CALG_RSA_SIGN (signature slot) or CALG_RSA_KEYX (key-exchange slot). */
  aiKeyAlg: number;
}

/** Numbers come back big-endian without leading zero bytes, the form PKCS#11 and JWK use. */
export interface DecodedRsaPublicKey {
  modulus: Buffer;
  publicExponent: Buffer;
  bitLength: number;
  aiKeyAlg: number;
}

export interface DecodedRsaPrivateKey extends DecodedRsaPublicKey {
  privateExponent: Buffer;
  prime1: Buffer;
  prime2: Buffer;
  exponent1: Buffer;
  exponent2: Buffer;
  coefficient: Buffer;
}

function invalid(message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `RSA key blob: ${message}`);
}

function stripLeadingZeros(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return Buffer.from(value.subarray(start));
}

function littleEndianToBigEndian(field: Uint8Array): Buffer {
  return stripLeadingZeros(Buffer.from(field).reverse());
}

function checkKeyAlg(aiKeyAlg: unknown): number {
  if (aiKeyAlg !== CALG_RSA_SIGN && aiKeyAlg !== CALG_RSA_KEYX) {
    throw invalid(`aiKeyAlg must be CALG_RSA_SIGN 0x2400 or CALG_RSA_KEYX 0xa400, got ${typeof aiKeyAlg === 'number' ? `0x${aiKeyAlg.toString(16)}` : String(aiKeyAlg)}`);
  }
  return aiKeyAlg;
}

/**
 * PUBLICKEYBLOB for an RSA key. bitlen is 8 × the modulus byte length after leading zeros are dropped
 * (the key size Windows reports for keys whose top bit is set, which is every key a token generates).
 */
export function encodeRsaPublicKeyBlob(key: RsaPublicKeyInput): Buffer {
  if (typeof key !== 'object' || key === null) throw invalid('expected a key description');
  const aiKeyAlg = checkKeyAlg(key.aiKeyAlg);
  if (!(key.modulus instanceof Uint8Array) || !(key.publicExponent instanceof Uint8Array)) throw invalid('modulus and publicExponent must be bytes');
  const modulus = stripLeadingZeros(key.modulus);
  if (modulus.length === 0 || (modulus.length === 1 && modulus[0] === 0)) throw invalid('modulus is empty or zero');
  const exponent = stripLeadingZeros(key.publicExponent);
  if (exponent.length > MAX_EXPONENT_BYTES) throw invalid(`public exponent has ${exponent.length} bytes; RSAPUBKEY.pubexp holds at most 4`);
  const pubexp = exponent.length === 0 ? 0 : exponent.readUIntBE(0, exponent.length);
  if (pubexp === 0) throw invalid('public exponent is zero');

  const out = Buffer.alloc(RSA_BLOB_HEADER_SIZE + modulus.length);
  out.writeUInt8(PUBLICKEYBLOB, 0);
  out.writeUInt8(CUR_BLOB_VERSION, 1);
  out.writeUInt16LE(0, 2);
  out.writeUInt32LE(aiKeyAlg, 4);
  out.writeUInt32LE(RSA1_MAGIC, 8);
  out.writeUInt32LE(modulus.length * 8, 12);
  out.writeUInt32LE(pubexp, 16);
  out.set(Buffer.from(modulus).reverse(), RSA_BLOB_HEADER_SIZE);
  return out;
}

interface RsaBlobHeader {
  aiKeyAlg: number;
  bitLength: number;
  publicExponent: Buffer;
  /** Modulus length in bytes. */
  k: number;
}

function readHeader(blob: unknown, bType: number, magic: number, what: string): { b: Buffer; header: RsaBlobHeader } {
  if (!(blob instanceof Uint8Array)) throw invalid('expected bytes');
  if (blob.length < RSA_BLOB_HEADER_SIZE) throw invalid(`${blob.length} bytes is shorter than the 20-byte BLOBHEADER + RSAPUBKEY`);
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b[0] !== bType) throw invalid(`bType is 0x${b[0]!.toString(16)}, a ${what} has 0x${bType.toString(16)}`);
  if (b[1] !== CUR_BLOB_VERSION) throw invalid(`bVersion is ${b[1]}, expected ${CUR_BLOB_VERSION}`);
  if (b.readUInt16LE(2) !== 0) throw invalid('BLOBHEADER.reserved is not zero');
  const aiKeyAlg = checkKeyAlg(b.readUInt32LE(4));
  if (b.readUInt32LE(8) !== magic) throw invalid(`RSAPUBKEY.magic is 0x${b.readUInt32LE(8).toString(16)}, a ${what} has 0x${magic.toString(16)}`);
  const bitLength = b.readUInt32LE(12);
  if (bitLength === 0 || bitLength % 8 !== 0) throw invalid(`bitlen ${bitLength} is not a positive multiple of 8`);
  const pubexp = b.readUInt32LE(16);
  if (pubexp === 0) throw invalid('public exponent is zero');
  const exponentBytes = Buffer.alloc(4);
  exponentBytes.writeUInt32BE(pubexp, 0);
  return { b, header: { aiKeyAlg, bitLength, publicExponent: stripLeadingZeros(exponentBytes), k: bitLength / 8 } };
}

/**
 * Decodes a PUBLICKEYBLOB. Trailing bytes after the modulus are ignored, as Windows' import does
 * (it requires at least 20 + bitlen/8 bytes).
 */
export function decodeRsaPublicKeyBlob(blob: Uint8Array): DecodedRsaPublicKey {
  const { b, header } = readHeader(blob, PUBLICKEYBLOB, RSA1_MAGIC, 'PUBLICKEYBLOB');
  const needed = RSA_BLOB_HEADER_SIZE + header.k;
  if (b.length < needed) throw invalid(`a ${header.bitLength}-bit PUBLICKEYBLOB needs ${needed} bytes, got ${b.length}`);
  return {
    modulus: littleEndianToBigEndian(b.subarray(RSA_BLOB_HEADER_SIZE, needed)),
    publicExponent: header.publicExponent,
    bitLength: header.bitLength,
    aiKeyAlg: header.aiKeyAlg,
  };
}

/**
 * Decodes a PRIVATEKEYBLOB: modulus[k], prime1, prime2, exponent1, exponent2, coefficient [⌈k/2⌉ each],
 * privateExponent[k], all little-endian. Unlike Windows, which tolerates a missing tail of
 * privateExponent, the blob must be complete: a card import needs every CRT value and d.
 */
export function decodeRsaPrivateKeyBlob(blob: Uint8Array): DecodedRsaPrivateKey {
  const { b, header } = readHeader(blob, PRIVATEKEYBLOB, RSA2_MAGIC, 'PRIVATEKEYBLOB');
  const k = header.k;
  const half = Math.ceil(k / 2);
  const needed = RSA_BLOB_HEADER_SIZE + 2 * k + 5 * half;
  if (b.length < needed) throw invalid(`a ${header.bitLength}-bit PRIVATEKEYBLOB needs ${needed} bytes, got ${b.length}`);
  let offset = RSA_BLOB_HEADER_SIZE;
  const next = (length: number): Buffer => {
    const field = littleEndianToBigEndian(b.subarray(offset, offset + length));
    offset += length;
    return field;
  };
  const modulus = next(k);
  const prime1 = next(half);
  const prime2 = next(half);
  const exponent1 = next(half);
  const exponent2 = next(half);
  const coefficient = next(half);
  const privateExponent = next(k);
  return {
    modulus, publicExponent: header.publicExponent, privateExponent, prime1, prime2, exponent1, exponent2, coefficient,
    bitLength: header.bitLength, aiKeyAlg: header.aiKeyAlg,
  };
}

/** The numbers of an RSA private key, big-endian (PKCS#11, JWK), for encodeRsaPrivateKeyBlob. */
export type RsaPrivateKeyInput = Omit<DecodedRsaPrivateKey, 'bitLength'>;

/**
 * PRIVATEKEYBLOB for an RSA key: the layout decodeRsaPrivateKeyBlob reads, each number little-endian and
 * zero-padded at the high end to its field (k bytes for n and d, ⌈k/2⌉ for the CRT values). A key whose
 * exponent exceeds a DWORD or whose primes are so unbalanced that one exceeds ⌈k/2⌉ bytes has no blob.
 */
export function encodeRsaPrivateKeyBlob(key: RsaPrivateKeyInput): Buffer {
  const aiKeyAlg = checkKeyAlg(key.aiKeyAlg);
  const modulus = stripLeadingZeros(key.modulus);
  const exponent = stripLeadingZeros(key.publicExponent);
  if (exponent.length > MAX_EXPONENT_BYTES) throw invalid(`public exponent has ${exponent.length} bytes; RSAPUBKEY.pubexp holds at most 4`);
  const k = modulus.length;
  const half = Math.ceil(k / 2);
  const field = (value: Uint8Array, width: number, name: string): Buffer => {
    const be = stripLeadingZeros(value);
    if (be.length > width) throw invalid(`${name} has ${be.length} bytes; a ${k * 8}-bit PRIVATEKEYBLOB holds ${width}`);
    const out = Buffer.alloc(width);
    out.set(be, width - be.length);
    return out.reverse();
  };
  const header = Buffer.alloc(RSA_BLOB_HEADER_SIZE);
  header.writeUInt8(PRIVATEKEYBLOB, 0);
  header.writeUInt8(CUR_BLOB_VERSION, 1);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(RSA2_MAGIC, 8);
  header.writeUInt32LE(k * 8, 12);
  header.writeUInt32LE(exponent.length === 0 ? 0 : exponent.readUIntBE(0, exponent.length), 16);
  return Buffer.concat([
    header, field(modulus, k, 'modulus'), field(key.prime1, half, 'prime1'), field(key.prime2, half, 'prime2'),
    field(key.exponent1, half, 'exponent1'), field(key.exponent2, half, 'exponent2'), field(key.coefficient, half, 'coefficient'),
    field(key.privateExponent, k, 'privateExponent'),
  ]);
}
