/**
 * The demo's host-side key material in Windows' byte formats: the card's public key (a CryptoAPI
 * PUBLICKEYBLOB from CONTAINER_INFO) as a node:crypto key, and a wrapped session key as a SIMPLEBLOB.
 *
 * Why the demo builds a SIMPLEBLOB rather than passing raw ciphertext around: it is what
 * CryptExportKey(hSessionKey, hExchangeKey, SIMPLEBLOB) produces on Windows and what a CSP unwraps
 * with CardRSADecrypt, so the bytes shown are the ones that would move between this layer and Windows.
 * Layout (cryptoapi-cng.md §3): BLOBHEADER {bType SIMPLEBLOB 1, bVersion 2, WORD reserved 0,
 * ALG_ID aiKeyAlg of the session key} + ALG_ID of the key that wrapped it (CALG_RSA_KEYX) + the RSA
 * ciphertext, little-endian like every CryptoAPI integer.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { CALG_RSA_KEYX, CUR_BLOB_VERSION } from '../../minidriver/constants.js';
import { decodeRsaPublicKeyBlob } from '../../minidriver/codecs/index.js';
import { CryptError } from '../../minidriver/errors.js';

/** BLOBHEADER.bType of a SIMPLEBLOB (wincrypt.h); not a minidriver constant. */
export const SIMPLEBLOB = 0x1;
/** ALG_ID of AES-256 (wincrypt.h). */
export const CALG_AES_256 = 0x6610;
/** BLOBHEADER + the wrapping key's ALG_ID. */
const SIMPLEBLOB_HEADER_SIZE = 12;

export interface CardPublicKey {
  key: KeyObject;
  bits: number;
  /** SHA-256 of the DER SubjectPublicKeyInfo, hex: the key's fingerprint as other tools compute it. */
  spkiSha256: string;
}

/** A PUBLICKEYBLOB as a node:crypto public key, with its size and fingerprint. */
export function publicKeyFromBlob(blob: Uint8Array): CardPublicKey {
  const decoded = decodeRsaPublicKeyBlob(blob);
  const key = createPublicKey({
    key: { kty: 'RSA', n: decoded.modulus.toString('base64url'), e: decoded.publicExponent.toString('base64url') },
    format: 'jwk',
  });
  const spki = key.export({ type: 'spki', format: 'der' });
  return { key, bits: decoded.bitLength, spkiSha256: createHash('sha256').update(spki).digest('hex') };
}

function reversed(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes).reverse();
}

/** A SIMPLEBLOB for a session key of `aiKeyAlg` wrapped by an RSA key-exchange key (big-endian input). */
export function encodeSimpleBlob(aiKeyAlg: number, ciphertextBigEndian: Uint8Array): Buffer {
  const header = Buffer.alloc(SIMPLEBLOB_HEADER_SIZE);
  header.writeUInt8(SIMPLEBLOB, 0);
  header.writeUInt8(CUR_BLOB_VERSION, 1);
  header.writeUInt16LE(0, 2);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(CALG_RSA_KEYX, 8);
  return Buffer.concat([header, reversed(ciphertextBigEndian)]);
}

export interface DecodedSimpleBlob {
  aiKeyAlg: number;
  /** The ciphertext as the blob holds it: little-endian, what CARD_RSA_DECRYPT_INFO.pbData takes. */
  ciphertextLittleEndian: Buffer;
}

export function decodeSimpleBlob(blob: Uint8Array): DecodedSimpleBlob {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length <= SIMPLEBLOB_HEADER_SIZE || b[0] !== SIMPLEBLOB || b[1] !== CUR_BLOB_VERSION || b.readUInt32LE(8) !== CALG_RSA_KEYX) {
    throw new CryptError('NTE_BAD_DATA', 'not a SIMPLEBLOB wrapped by an RSA key-exchange key', { operation: 'decodeSimpleBlob' });
  }
  return { aiKeyAlg: b.readUInt32LE(4), ciphertextLittleEndian: Buffer.from(b.subarray(SIMPLEBLOB_HEADER_SIZE)) };
}
