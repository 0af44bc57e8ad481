/**
 * cardcf: the CARD_CACHE_FILE_FORMAT freshness counters.
 *
 * Why: Base CSP/KSP reads this 6-byte file at every transaction start and reuses cached PIN info,
 * containers and files only while the matching counter is unchanged; before each mutation it bumps the
 * counter and writes the file back. The driver stores it verbatim, so the codec must be lossless: the
 * spec allows one DWORD per application (indexed like `cardapps`) after the 6 bytes, and those are kept
 * as raw bytes and written back untouched.
 *
 * Error choice: malformed input raises SCARD_E_INVALID_PARAMETER, not SCARD_E_INVALID_VALUE. The bytes
 * reach a driver as a CardWriteFile argument (or from its own store), and the minidriver rule is
 * "invalid argument → SCARD_E_INVALID_PARAMETER" (minidriver.md §8); every codec in this folder uses
 * the same code so callers can treat "could not decode" uniformly.
 */
import { CARD_CACHE_CONTAINERS, CARD_CACHE_FILES, CARD_CACHE_PINS } from '../constants.js';
import { CryptError } from '../errors.js';

/** sizeof(CARD_CACHE_FILE_FORMAT). */
export const CARD_CACHE_FILE_SIZE = 6;

/** The decoded cardcf file. */
export interface CardCacheFile {
  bVersion: number;
  /** Bumped when PIN state/info changes (mask CARD_CACHE_PINS). Wraps at 256. */
  bPinsFreshness: number;
  /** Bumped when containers change (mask CARD_CACHE_CONTAINERS). Wraps at 65536. */
  wContainersFreshness: number;
  /** Bumped when files change (mask CARD_CACHE_FILES). Wraps at 65536. */
  wFilesFreshness: number;
  /** Bytes after the 6-byte header (per-application DWORDs), kept verbatim; empty when there are none. */
  trailer: Buffer;
}

const KNOWN_MASK_BITS = CARD_CACHE_PINS | CARD_CACHE_CONTAINERS | CARD_CACHE_FILES;

function invalid(message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `cardcf: ${message}`);
}

/** The content of a freshly created cardcf: six zero bytes, no application DWORDs. */
export function newCardCf(): CardCacheFile {
  return { bVersion: 0, bPinsFreshness: 0, wContainersFreshness: 0, wFilesFreshness: 0, trailer: Buffer.alloc(0) };
}

export function decodeCardCf(buf: Uint8Array): CardCacheFile {
  if (!(buf instanceof Uint8Array)) throw invalid('expected bytes');
  if (buf.length < CARD_CACHE_FILE_SIZE) {
    throw invalid(`file is ${buf.length} bytes, a CARD_CACHE_FILE_FORMAT needs at least ${CARD_CACHE_FILE_SIZE}`);
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    bVersion: b.readUInt8(0),
    bPinsFreshness: b.readUInt8(1),
    wContainersFreshness: b.readUInt16LE(2),
    wFilesFreshness: b.readUInt16LE(4),
    trailer: Buffer.from(b.subarray(CARD_CACHE_FILE_SIZE)),
  };
}

function checkField(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(`${name} must be an integer 0..${max}, got ${String(value)}`);
  }
  return value;
}

export function encodeCardCf(value: CardCacheFile): Buffer {
  const trailer = value.trailer ?? Buffer.alloc(0);
  if (!(trailer instanceof Uint8Array)) throw invalid('trailer must be bytes');
  const out = Buffer.alloc(CARD_CACHE_FILE_SIZE + trailer.length);
  out.writeUInt8(checkField('bVersion', value.bVersion, 0xff), 0);
  out.writeUInt8(checkField('bPinsFreshness', value.bPinsFreshness, 0xff), 1);
  out.writeUInt16LE(checkField('wContainersFreshness', value.wContainersFreshness, 0xffff), 2);
  out.writeUInt16LE(checkField('wFilesFreshness', value.wFilesFreshness, 0xffff), 4);
  out.set(trailer, CARD_CACHE_FILE_SIZE);
  return out;
}

/**
 * The counters after a mutation of the classes in `mask` (CARD_CACHE_PINS | _CONTAINERS | _FILES).
 * Returns a new value; counters wrap (the byte at 256, the words at 65536) because Base CSP only
 * compares them for equality.
 */
export function bumpCardCf(value: CardCacheFile, mask: number): CardCacheFile {
  if (!Number.isInteger(mask) || mask < 0 || (mask & ~KNOWN_MASK_BITS) !== 0) {
    throw invalid(`unknown freshness mask 0x${Number(mask).toString(16)} (allowed bits: PINS 1, CONTAINERS 2, FILES 4)`);
  }
  checkField('bPinsFreshness', value.bPinsFreshness, 0xff);
  checkField('wContainersFreshness', value.wContainersFreshness, 0xffff);
  checkField('wFilesFreshness', value.wFilesFreshness, 0xffff);
  return {
    bVersion: value.bVersion,
    bPinsFreshness: mask & CARD_CACHE_PINS ? (value.bPinsFreshness + 1) & 0xff : value.bPinsFreshness,
    wContainersFreshness: mask & CARD_CACHE_CONTAINERS ? (value.wContainersFreshness + 1) & 0xffff : value.wContainersFreshness,
    wFilesFreshness: mask & CARD_CACHE_FILES ? (value.wFilesFreshness + 1) & 0xffff : value.wFilesFreshness,
    trailer: Buffer.from(value.trailer ?? Buffer.alloc(0)),
  };
}
