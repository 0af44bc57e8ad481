/**
 * CryptoAPI session key blobs, byte for byte as Windows writes them (reference §3.1, §3.4, §3.5):
 *  - BLOBHEADER (8 bytes): bType, bVersion = 2, WORD reserved = 0, ALG_ID aiKeyAlg (little-endian);
 *  - SIMPLEBLOB: BLOBHEADER + ALG_ID of the wrapping key + the RSA-encrypted key block, little-endian
 *    (the byte-reversed RSA integer; 12 + k bytes);
 *  - PLAINTEXTKEYBLOB: BLOBHEADER + DWORD dwKeySize + the raw key bytes in natural order.
 *
 * Pure codecs: no key, no card. Wrapping and unwrapping (PKCS#1 type 2 with the exchange key) belong to
 * the export and import calls: node:crypto wraps with the public key, the card unwraps.
 *
 * Codes are CryptImportKey's, since these blobs come from applications: a malformed blob (too short,
 * bVersion ≠ 2, reserved ≠ 0, a key size that overruns the blob) is NTE_BAD_DATA; a bType that is not
 * a blob type, or not the one a decoder reads, is NTE_BAD_TYPE; input that is not bytes is
 * ERROR_INVALID_PARAMETER. Bytes after the end of a blob are ignored, as Windows' import ignores them.
 */
import { CryptError } from '../minidriver/errors.js';
import {
  CUR_BLOB_VERSION, OPAQUEKEYBLOB, PLAINTEXTKEYBLOB, PRIVATEKEYBLOB, PUBLICKEYBLOB, PUBLICKEYBLOBEX, SIMPLEBLOB,
  SYMMETRICWRAPKEYBLOB,
} from './constants.js';

/** sizeof(BLOBHEADER). */
export const BLOBHEADER_SIZE = 8;
/** BLOBHEADER + the wrapping key's ALG_ID. */
export const SIMPLEBLOB_HEADER_SIZE = 12;
/** BLOBHEADER + dwKeySize. */
export const PLAINTEXTKEYBLOB_HEADER_SIZE = 12;

/** Every bType wincrypt.h defines (§1.6), by name for messages. */
const BLOB_TYPES: ReadonlyMap<number, string> = new Map([
  [SIMPLEBLOB, 'SIMPLEBLOB'],
  [PUBLICKEYBLOB, 'PUBLICKEYBLOB'],
  [PRIVATEKEYBLOB, 'PRIVATEKEYBLOB'],
  [PLAINTEXTKEYBLOB, 'PLAINTEXTKEYBLOB'],
  [OPAQUEKEYBLOB, 'OPAQUEKEYBLOB'],
  [PUBLICKEYBLOBEX, 'PUBLICKEYBLOBEX'],
  [SYMMETRICWRAPKEYBLOB, 'SYMMETRICWRAPKEYBLOB'],
]);

export interface BlobHeader {
  /** One of the §1.6 blob types; CryptImportKey dispatches on it. */
  bType: number;
  aiKeyAlg: number;
}

export interface SimpleBlob {
  /** The session key's ALG_ID (CALG_AES_256...). */
  aiKeyAlg: number;
  /** The wrapping key's ALG_ID: CALG_RSA_KEYX. */
  wrappingAlgId: number;
  /** The RSA-encrypted key block, little-endian (k bytes for a k-byte modulus). */
  encryptedKeyLE: Uint8Array;
}

export interface PlaintextKeyBlob {
  aiKeyAlg: number;
  /** The raw key: a view into the blob, not a copy (the caller owns and wipes the blob). */
  keyBytes: Buffer;
}

/**
 * The BLOBHEADER of any key blob, checked as CryptImportKey checks it: at least 8 bytes, bVersion 2,
 * reserved 0 (else NTE_BAD_DATA), and a bType wincrypt.h defines (else NTE_BAD_TYPE).
 */
export function readBlobHeader(blob: Uint8Array, operation = 'CryptImportKey'): BlobHeader {
  const b = bytes(blob, 'the key blob', operation);
  if (b.length < BLOBHEADER_SIZE) throw badData(`a key blob starts with an 8-byte BLOBHEADER; got ${b.length} bytes`, operation);
  if (b[1] !== CUR_BLOB_VERSION) throw badData(`BLOBHEADER.bVersion is ${b[1]}; CryptoAPI key blobs have version ${CUR_BLOB_VERSION}`, operation);
  if (b.readUInt16LE(2) !== 0) throw badData('BLOBHEADER.reserved is not zero', operation);
  const bType = b[0]!;
  if (!BLOB_TYPES.has(bType)) {
    throw new CryptError('NTE_BAD_TYPE', `BLOBHEADER.bType 0x${bType.toString(16)} is not a key blob type (SIMPLEBLOB 1, PUBLICKEYBLOB 6, PLAINTEXTKEYBLOB 8...)`, { operation });
  }
  return { bType, aiKeyAlg: b.readUInt32LE(4) };
}

/** A SIMPLEBLOB: 12 + encryptedKeyLE.length bytes. */
export function encodeSimpleBlob(blob: SimpleBlob, operation = 'CryptExportKey'): Buffer {
  if (typeof blob !== 'object' || blob === null) throw invalid('a SIMPLEBLOB needs { aiKeyAlg, wrappingAlgId, encryptedKeyLE }', operation);
  const encrypted = bytes(blob.encryptedKeyLE, 'encryptedKeyLE', operation);
  const out = Buffer.alloc(SIMPLEBLOB_HEADER_SIZE + encrypted.length);
  writeHeader(out, SIMPLEBLOB, dword(blob.aiKeyAlg, 'aiKeyAlg', operation));
  out.writeUInt32LE(dword(blob.wrappingAlgId, 'wrappingAlgId', operation), 8);
  encrypted.copy(out, SIMPLEBLOB_HEADER_SIZE);
  return out;
}

/**
 * A SIMPLEBLOB's parts. The encrypted block is everything after the 12-byte header, as given: whether
 * it is the exchange key's modulus length (trailing bytes ignored) is for the import call to check.
 */
export function decodeSimpleBlob(blob: Uint8Array, operation = 'CryptImportKey'): SimpleBlob {
  const { bType, aiKeyAlg } = readBlobHeader(blob, operation);
  if (bType !== SIMPLEBLOB) throw wrongType(bType, 'SIMPLEBLOB', operation);
  const b = bytes(blob, 'the key blob', operation);
  if (b.length < SIMPLEBLOB_HEADER_SIZE) {
    throw badData(`a SIMPLEBLOB has a 12-byte header (BLOBHEADER and the wrapping key's ALG_ID); got ${b.length} bytes`, operation);
  }
  return { aiKeyAlg, wrappingAlgId: b.readUInt32LE(8), encryptedKeyLE: Buffer.from(b.subarray(SIMPLEBLOB_HEADER_SIZE)) };
}

/** A PLAINTEXTKEYBLOB: 12 + keyBytes.length bytes. It carries the key in the clear: export it only for exportable keys. */
export function encodePlaintextKeyBlob(aiKeyAlg: number, keyBytes: Uint8Array, operation = 'CryptExportKey'): Buffer {
  const key = bytes(keyBytes, 'keyBytes', operation);
  const out = Buffer.alloc(PLAINTEXTKEYBLOB_HEADER_SIZE + key.length);
  writeHeader(out, PLAINTEXTKEYBLOB, dword(aiKeyAlg, 'aiKeyAlg', operation));
  out.writeUInt32LE(key.length, 8);
  key.copy(out, PLAINTEXTKEYBLOB_HEADER_SIZE);
  return out;
}

/** A PLAINTEXTKEYBLOB's key. Whether its length suits aiKeyAlg is for the import call (importSessionKey) to check. */
export function decodePlaintextKeyBlob(blob: Uint8Array, operation = 'CryptImportKey'): PlaintextKeyBlob {
  const { bType, aiKeyAlg } = readBlobHeader(blob, operation);
  if (bType !== PLAINTEXTKEYBLOB) throw wrongType(bType, 'PLAINTEXTKEYBLOB', operation);
  const b = bytes(blob, 'the key blob', operation);
  if (b.length < PLAINTEXTKEYBLOB_HEADER_SIZE) {
    throw badData(`a PLAINTEXTKEYBLOB has a 12-byte header (BLOBHEADER and dwKeySize); got ${b.length} bytes`, operation);
  }
  const size = b.readUInt32LE(8);
  if (size > b.length - PLAINTEXTKEYBLOB_HEADER_SIZE) {
    throw badData(`dwKeySize says ${size} key bytes, but only ${b.length - PLAINTEXTKEYBLOB_HEADER_SIZE} follow the header`, operation);
  }
  return { aiKeyAlg, keyBytes: b.subarray(PLAINTEXTKEYBLOB_HEADER_SIZE, PLAINTEXTKEYBLOB_HEADER_SIZE + size) };
}

function writeHeader(out: Buffer, bType: number, aiKeyAlg: number): void {
  out.writeUInt8(bType, 0);
  out.writeUInt8(CUR_BLOB_VERSION, 1);
  out.writeUInt16LE(0, 2);
  out.writeUInt32LE(aiKeyAlg, 4);
}

function bytes(value: unknown, name: string, operation: string): Buffer {
  if (!(value instanceof Uint8Array)) throw invalid(`${name} must be a Uint8Array or Buffer`, operation);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function dword(value: unknown, name: string, operation: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) throw invalid(`${name} must be an ALG_ID (a 32-bit unsigned integer)`, operation);
  return value;
}

function wrongType(bType: number, expected: string, operation: string): CryptError {
  return new CryptError('NTE_BAD_TYPE', `this is a ${BLOB_TYPES.get(bType)}, not a ${expected}`, { operation });
}

function badData(message: string, operation: string): CryptError {
  return new CryptError('NTE_BAD_DATA', message, { operation });
}

function invalid(message: string, operation: string): CryptError {
  return new CryptError('ERROR_INVALID_PARAMETER', message, { operation });
}
