/**
 * How structured card data is held as data-cache items (the cache stores bytes, as SCardWriteCache
 * does). Only public data has a form here: container public keys and PIN information.
 *
 * CONTAINER_INFO item: for each of the signature and key-exchange public blobs, a DWORD length
 * (0xFFFFFFFF = no key) then the blob. PIN_INFO item: its eight DWORDs in order (the cache policy's two inline).
 * Little-endian like everything on the card. A malformed item (another version wrote it, or the
 * store was damaged) is treated as a miss by the caller's re-read, never trusted.
 */
import { CryptError } from '../minidriver/errors.js';
import type { ContainerInfo, PinInfo } from '../minidriver/structures.js';

const ABSENT = 0xffffffff;

function malformed(what: string): CryptError {
  return new CryptError('SCARD_W_CACHE_ITEM_STALE', `the cached ${what} is malformed; it will be read from the card`, { operation: 'SCardReadCache' });
}

export function encodeContainerInfoItem(info: ContainerInfo): Buffer {
  const parts: Buffer[] = [];
  for (const blob of [info.pbSigPublicKey, info.pbKeyExPublicKey]) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(blob ? blob.length : ABSENT);
    parts.push(length, blob ?? Buffer.alloc(0));
  }
  return Buffer.concat(parts);
}

export function decodeContainerInfoItem(item: Buffer): ContainerInfo {
  const blobs: (Buffer | null)[] = [];
  let offset = 0;
  for (let i = 0; i < 2; i++) {
    if (offset + 4 > item.length) throw malformed('container info');
    const length = item.readUInt32LE(offset);
    offset += 4;
    if (length === ABSENT) {
      blobs.push(null);
      continue;
    }
    if (offset + length > item.length) throw malformed('container info');
    blobs.push(Buffer.from(item.subarray(offset, offset + length)));
    offset += length;
  }
  if (offset !== item.length) throw malformed('container info');
  return { dwVersion: 1, pbSigPublicKey: blobs[0]!, pbKeyExPublicKey: blobs[1]! };
}

export function encodePinInfoItem(info: PinInfo): Buffer {
  const b = Buffer.alloc(32);
  [info.dwVersion, info.PinType, info.PinPurpose, info.dwChangePermission, info.dwUnblockPermission,
    info.PinCachePolicy.PinCachePolicyType, info.PinCachePolicy.dwPinCachePolicyInfo, info.dwFlags].forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
}

export function decodePinInfoItem(item: Buffer): PinInfo {
  if (item.length !== 32) throw malformed('PIN information');
  const d = (i: number): number => item.readUInt32LE(i * 4);
  return {
    dwVersion: d(0), PinType: d(1), PinPurpose: d(2), dwChangePermission: d(3), dwUnblockPermission: d(4),
    PinCachePolicy: { dwVersion: 6, PinCachePolicyType: d(5), dwPinCachePolicyInfo: d(6) },
    dwFlags: d(7),
  };
}
