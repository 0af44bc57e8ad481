/**
 * PIN_INFO as cardmod.h lays it out (36 bytes, little-endian DWORDs): dwVersion, PinType, PinPurpose,
 * dwChangePermission, dwUnblockPermission, PinCachePolicy {dwVersion, PinCachePolicyType,
 * dwPinCachePolicyInfo}, dwFlags. NCRYPT_SCARD_PIN_INFO returns it as these bytes.
 */
import { CryptError } from '../errors.js';
import type { PinInfo } from '../structures.js';

export const PIN_INFO_SIZE = 36;

export function encodePinInfo(info: PinInfo): Buffer {
  const out = Buffer.alloc(PIN_INFO_SIZE);
  [
    info.dwVersion, info.PinType, info.PinPurpose, info.dwChangePermission, info.dwUnblockPermission,
    info.PinCachePolicy.dwVersion, info.PinCachePolicy.PinCachePolicyType, info.PinCachePolicy.dwPinCachePolicyInfo, info.dwFlags,
  ].forEach((v, i) => out.writeUInt32LE(v >>> 0, i * 4));
  return out;
}

export function decodePinInfo(bytes: Uint8Array): PinInfo {
  if (bytes.length !== PIN_INFO_SIZE) throw new CryptError('NTE_BAD_DATA', `a PIN_INFO is ${PIN_INFO_SIZE} bytes, not ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const d = (i: number): number => b.readUInt32LE(i * 4);
  return {
    dwVersion: d(0), PinType: d(1), PinPurpose: d(2), dwChangePermission: d(3), dwUnblockPermission: d(4),
    PinCachePolicy: { dwVersion: d(5), PinCachePolicyType: d(6), dwPinCachePolicyInfo: d(7) },
    dwFlags: d(8),
  };
}
