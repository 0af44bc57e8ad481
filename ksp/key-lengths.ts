/**
 * Key lengths: what a card can make (CardQueryKeySizes) as CNG reports it (NCRYPT_LENGTHS_PROPERTY,
 * an NCRYPT_SUPPORTED_LENGTHS of four DWORDs) and the check of a requested length before the card is
 * asked to generate one.
 */
import type { CardKeySizes } from '../minidriver/structures.js';
import { CryptError } from '../minidriver/errors.js';
import { type PendingKey, pendingBits, RSA_MAX_BITS, RSA_MIN_BITS } from './key-model.js';

/** NCRYPT_SUPPORTED_LENGTHS {dwMinLength, dwMaxLength, dwIncrement, dwDefaultLength}, little-endian. */
export function encodeSupportedLengths(sizes: CardKeySizes): Buffer {
  const out = Buffer.alloc(16);
  out.writeUInt32LE(sizes.dwMinimumBitlen, 0);
  out.writeUInt32LE(sizes.dwMaximumBitlen, 4);
  out.writeUInt32LE(sizes.dwIncrementalBitlen, 8);
  out.writeUInt32LE(sizes.dwDefaultBitlen, 12);
  return out;
}

/** A length NCRYPT_LENGTH_PROPERTY may hold before finalize (the card narrows it at finalize). */
export function checkRequestedLength(bits: number, operation: string): void {
  if (!Number.isInteger(bits) || bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || bits % 8 !== 0) {
    throw new CryptError('NTE_INVALID_PARAMETER', `an RSA key length of ${String(bits)} bits is not possible here; choose a multiple of 8 from ${RSA_MIN_BITS} to ${RSA_MAX_BITS}`, { operation });
  }
}

/** NTE_INVALID_PARAMETER when the card cannot make the pending key's length. */
export function checkKeyLength(key: PendingKey, sizes: CardKeySizes, operation: string): void {
  if (key.algorithm.curve) return; // the curve fixes the length
  const bits = pendingBits(key);
  const step = sizes.dwIncrementalBitlen || 1;
  if (bits < sizes.dwMinimumBitlen || bits > sizes.dwMaximumBitlen || (bits - sizes.dwMinimumBitlen) % step !== 0) {
    throw new CryptError('NTE_INVALID_PARAMETER', `this card makes RSA keys of ${sizes.dwMinimumBitlen}–${sizes.dwMaximumBitlen} bits in steps of ${step}; ${bits} is not one (set NCRYPT_LENGTH_PROPERTY to one of them)`, { operation });
  }
}
