/**
 * cardid: the 16-byte card identifier (also CP_CARD_GUID).
 *
 * Why: Windows keys its global data cache (SCardReadCache/SCardWriteCache) by these 16 bytes, so they
 * must be stable for the card's life and distinct between cards. A writable token gets random bytes
 * once; a read-only token cannot store them, so the identifier is derived from the token serial the
 * way OpenSC's minidriver does (md_set_cardid), which keeps the cache key identical for a card used
 * through either driver.
 *
 * Errors: SCARD_E_INVALID_PARAMETER (see cardcf.ts).
 */
import { randomBytes } from 'node:crypto';
import { CryptError } from '../errors.js';

export const CARD_ID_LENGTH = 16;
/** OpenSC's SC_MAX_SERIALNR: the most serial bytes it considers. */
const MAX_SERIAL_BYTES = 32;

function invalid(message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `cardid: ${message}`);
}

/** 16 random bytes for a newly initialised card. */
export function newCardId(): Buffer {
  return randomBytes(CARD_ID_LENGTH);
}

/** A copy of `buf` after checking it is exactly 16 bytes (the cardid file and CP_CARD_GUID). */
export function decodeCardId(buf: Uint8Array): Buffer {
  if (!(buf instanceof Uint8Array)) throw invalid('expected bytes');
  if (buf.length !== CARD_ID_LENGTH) throw invalid(`a card identifier is exactly ${CARD_ID_LENGTH} bytes, got ${buf.length}`);
  return Buffer.from(buf);
}

/**
 * The identifier in Windows GUID text form, lowercase without braces: the bytes are a GUID structure,
 * so Data1 (4 bytes), Data2 and Data3 (2 bytes each) are little-endian and print reversed, Data4 prints
 * as stored. This is how the card appears in Windows logs and cache names.
 */
export function cardIdToGuidString(id: Uint8Array): string {
  const b = decodeCardId(id);
  const hex = (bytes: Buffer): string => bytes.toString('hex');
  const reversed = (start: number, end: number): string => hex(Buffer.from(b.subarray(start, end)).reverse());
  return `${reversed(0, 4)}-${reversed(4, 6)}-${reversed(6, 8)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/**
 * Hex-decodes a serial as OpenSC's sc_hex_to_bin does: bytes of one or two hex digits, optionally
 * separated by one ':' or ' '; an odd digit count at the end of a longer string, any other character,
 * or more than 32 bytes is a failure (null), and the caller then uses the text bytes instead.
 */
function serialHexBytes(serial: string): Buffer | null {
  const isHex = (c: string): boolean => /^[0-9a-fA-F]$/.test(c);
  const isSeparator = (c: string): boolean => c === ':' || c === ' ';
  const out: number[] = [];
  let pos = 0;
  while (pos < serial.length) {
    let digits = '';
    while (digits.length < 2 && pos < serial.length && !isSeparator(serial[pos]!)) {
      if (!isHex(serial[pos]!)) return null;
      digits += serial[pos++];
    }
    if (serial.length > 1 && pos === serial.length && digits.length < 2) return null;
    if (pos < serial.length && isSeparator(serial[pos]!)) pos++;
    if (out.length === MAX_SERIAL_BYTES) return null;
    out.push(digits.length === 0 ? 0 : parseInt(digits, 16));
  }
  return Buffer.from(out);
}

/**
 * The deterministic identifier of a read-only token, as OpenSC derives it from the PKCS#15 serial:
 * the serial's bytes (hex-decoded when it is hex, else its 8-bit text, at most 32 bytes) repeated to
 * fill 16 bytes; an empty serial gives 16 zero bytes. PKCS#11 pads CK_TOKEN_INFO.serialNumber with
 * blanks, so trailing blanks and NULs are removed first to get back the serial OpenSC starts from.
 */
export function cardIdFromSerial(serial: string): Buffer {
  if (typeof serial !== 'string') throw invalid('the serial must be a string');
  const trimmed = serial.replace(/[ \0]+$/, '');
  let bytes = serialHexBytes(trimmed);
  if (bytes === null) bytes = Buffer.from(trimmed, 'latin1').subarray(0, MAX_SERIAL_BYTES);
  const id = Buffer.alloc(CARD_ID_LENGTH);
  if (bytes.length === 0) return id;
  for (let offset = 0; offset < CARD_ID_LENGTH; offset += bytes.length) bytes.copy(id, offset, 0, Math.min(bytes.length, CARD_ID_LENGTH - offset));
  return id;
}
