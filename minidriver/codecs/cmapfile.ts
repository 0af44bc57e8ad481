/**
 * mscp/cmapfile: the array of CONTAINER_MAP_RECORDs that names the key containers.
 *
 * Why: the record position is the container index every other entry point (and the kscNN/kxcNN
 * certificate names) uses, so a deleted record stays in place as 86 zero bytes and is never compacted.
 * Base CSP/KSP writes this file itself and then calls CardCreateContainer, so the driver must both read
 * what Windows wrote and produce byte-identical files. Encoding enforces the spec's invariants (name
 * length, no backslash, flag bits, a single default) so a bad map never reaches the card.
 *
 * Layout per record (little-endian, 86 bytes): +0 WCHAR wszGuid[40] (UTF-16LE, NUL-terminated, at most
 * 39 characters), +80 BYTE bFlags, +81 BYTE bReserved, +82 WORD wSigKeySizeBits, +84 WORD
 * wKeyExchangeKeySizeBits. bReserved is not surfaced: it is ignored on decode and written as 0.
 *
 * Errors: SCARD_E_INVALID_PARAMETER (see cardcf.ts for why every codec uses it).
 */
import {
  CONTAINER_MAP_DEFAULT_CONTAINER, CONTAINER_MAP_VALID_CONTAINER, MAX_CONTAINER_NAME_LEN,
} from '../constants.js';
import { CryptError } from '../errors.js';

/** sizeof(CONTAINER_MAP_RECORD). */
export const CONTAINER_MAP_RECORD_SIZE = 86;
const GUID_FIELD_CHARS = 40;
const FLAGS_OFFSET = 80;
const RESERVED_OFFSET = 81;
const SIG_SIZE_OFFSET = 82;
const KEYX_SIZE_OFFSET = 84;
const KNOWN_FLAG_BITS = CONTAINER_MAP_VALID_CONTAINER | CONTAINER_MAP_DEFAULT_CONTAINER;

/** One live (not deleted) CONTAINER_MAP_RECORD. Key sizes are in bits; 0 means that key is absent. */
export interface ContainerMapRecord {
  wszGuid: string;
  bFlags: number;
  wSigKeySizeBits: number;
  wKeyExchangeKeySizeBits: number;
}

function invalid(message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `cmapfile: ${message}`);
}

function isAllZero(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}

function decodeRecord(record: Buffer, index: number): ContainerMapRecord | null {
  if (isAllZero(record)) return null;
  let chars = 0;
  while (chars < GUID_FIELD_CHARS && record.readUInt16LE(chars * 2) !== 0) chars++;
  if (chars === GUID_FIELD_CHARS) throw invalid(`record ${index}: wszGuid has no terminating NUL within 40 characters`);
  return {
    wszGuid: record.toString('utf16le', 0, chars * 2),
    bFlags: record.readUInt8(FLAGS_OFFSET),
    wSigKeySizeBits: record.readUInt16LE(SIG_SIZE_OFFSET),
    wKeyExchangeKeySizeBits: record.readUInt16LE(KEYX_SIZE_OFFSET),
  };
}

/**
 * The records of a cmapfile, in index order; a deleted (all-zero) record is null. Decoding is tolerant
 * of content written by others (flag bits, several defaults) so the map can still be read and repaired;
 * only structural damage (length, missing NUL) is rejected.
 */
export function decodeCmapFile(buf: Uint8Array): (ContainerMapRecord | null)[] {
  if (!(buf instanceof Uint8Array)) throw invalid('expected bytes');
  if (buf.length % CONTAINER_MAP_RECORD_SIZE !== 0) {
    throw invalid(`length ${buf.length} is not a multiple of the ${CONTAINER_MAP_RECORD_SIZE}-byte record size`);
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: (ContainerMapRecord | null)[] = [];
  for (let offset = 0; offset < b.length; offset += CONTAINER_MAP_RECORD_SIZE) {
    records.push(decodeRecord(b.subarray(offset, offset + CONTAINER_MAP_RECORD_SIZE), offset / CONTAINER_MAP_RECORD_SIZE));
  }
  return records;
}

function checkWord(index: number, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw invalid(`record ${index}: ${name} must be an integer 0..65535 bits, got ${String(value)}`);
  }
  return value;
}

function checkRecord(record: ContainerMapRecord, index: number): void {
  const { wszGuid, bFlags } = record;
  if (typeof wszGuid !== 'string') throw invalid(`record ${index}: wszGuid must be a string`);
  if (wszGuid.length > MAX_CONTAINER_NAME_LEN) {
    throw invalid(`record ${index}: container name "${wszGuid}" has ${wszGuid.length} characters, at most ${MAX_CONTAINER_NAME_LEN} fit`);
  }
  if (wszGuid.includes('\\')) throw invalid(`record ${index}: container name "${wszGuid}" contains a backslash`);
  if (wszGuid.includes('\0')) throw invalid(`record ${index}: container name contains a NUL character`);
  if (typeof bFlags !== 'number' || !Number.isInteger(bFlags) || bFlags < 0 || (bFlags & ~KNOWN_FLAG_BITS) !== 0) {
    throw invalid(`record ${index}: bFlags 0x${Number(bFlags).toString(16)} uses reserved bits (only VALID 1 and DEFAULT 2 exist)`);
  }
  if (bFlags & CONTAINER_MAP_DEFAULT_CONTAINER && !(bFlags & CONTAINER_MAP_VALID_CONTAINER)) {
    throw invalid(`record ${index}: DEFAULT flag set on a record that is not VALID`);
  }
  if (bFlags & CONTAINER_MAP_VALID_CONTAINER && wszGuid.length === 0) {
    throw invalid(`record ${index}: a valid container needs a non-empty name`);
  }
  checkWord(index, 'wSigKeySizeBits', record.wSigKeySizeBits);
  checkWord(index, 'wKeyExchangeKeySizeBits', record.wKeyExchangeKeySizeBits);
}

/** The cmapfile bytes for `records`; null entries become 86 zero bytes (deleted slots keep their index). */
export function encodeCmapFile(records: readonly (ContainerMapRecord | null)[]): Buffer {
  if (!Array.isArray(records)) throw invalid('expected an array of records');
  let defaultIndex = -1;
  records.forEach((record, index) => {
    if (record === null) return;
    if (typeof record !== 'object' || record === undefined) throw invalid(`record ${index}: expected a record or null`);
    checkRecord(record, index);
    if (record.bFlags & CONTAINER_MAP_DEFAULT_CONTAINER) {
      if (defaultIndex >= 0) throw invalid(`records ${defaultIndex} and ${index} are both marked DEFAULT; at most one may be`);
      defaultIndex = index;
    }
  });
  const out = Buffer.alloc(records.length * CONTAINER_MAP_RECORD_SIZE);
  records.forEach((record, index) => {
    if (record === null) return;
    const base = index * CONTAINER_MAP_RECORD_SIZE;
    out.write(record.wszGuid, base, 'utf16le');
    out.writeUInt8(record.bFlags, base + FLAGS_OFFSET);
    out.writeUInt8(0, base + RESERVED_OFFSET);
    out.writeUInt16LE(record.wSigKeySizeBits, base + SIG_SIZE_OFFSET);
    out.writeUInt16LE(record.wKeyExchangeKeySizeBits, base + KEYX_SIZE_OFFSET);
  });
  return out;
}

function isValid(record: ContainerMapRecord | null): record is ContainerMapRecord {
  return record !== null && (record.bFlags & CONTAINER_MAP_VALID_CONTAINER) !== 0;
}

/**
 * Index of the valid container called `name`, or -1. The match is exact (case-sensitive): Windows
 * names are GUID strings it generated itself and compares as written, and a case-insensitive match
 * could make two distinct containers collide.
 */
export function findContainer(records: readonly (ContainerMapRecord | null)[], name: string): number {
  return records.findIndex((record) => isValid(record) && record.wszGuid === name);
}

/** Index of the valid record flagged DEFAULT, or -1 when there is none. */
export function defaultContainerIndex(records: readonly (ContainerMapRecord | null)[]): number {
  return records.findIndex((record) => isValid(record) && (record.bFlags & CONTAINER_MAP_DEFAULT_CONTAINER) !== 0);
}

/**
 * Index where a new container can go: the first deleted or not-VALID slot, or `records.length` (append)
 * when every slot is in use.
 */
export function firstFreeIndex(records: readonly (ContainerMapRecord | null)[]): number {
  const index = records.findIndex((record) => !isValid(record));
  return index >= 0 ? index : records.length;
}
