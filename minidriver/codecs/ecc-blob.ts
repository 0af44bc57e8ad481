/**
 * BCRYPT_ECCKEY_BLOB: how EC public keys travel in CONTAINER_INFO, CARD_DH_AGREEMENT_INFO and key import.
 *
 * Why: the blob is `{dwMagic u32 LE, cbKey u32 LE} X Y [d]` with the numbers big-endian and padded to
 * the field size, while PKCS#11 hands out the point as `04 || X || Y`. The magic carries curve, usage
 * (ECDSA/ECDH) and public/private at once, so decoding it is what tells the driver which key spec a
 * blob belongs to.
 *
 * Errors: SCARD_E_INVALID_PARAMETER (see cardcf.ts).
 */
import { CryptError } from '../errors.js';
import { type CurveInfo, type CurveName, type EccUsage, curveByMagic, curveByName } from './curves.js';

const HEADER_SIZE = 8;
const UNCOMPRESSED_POINT_TAG = 0x04;

export interface EccPublicKey {
  curve: CurveName;
  usage: EccUsage;
  /** Big-endian; shorter values are left-padded to the field size. */
  x: Uint8Array;
  y: Uint8Array;
}

export interface EccPrivateKey extends EccPublicKey {
  d: Uint8Array;
}

export interface DecodedEccBlob {
  curve: CurveName;
  usage: EccUsage;
  isPrivate: boolean;
  /** Big-endian, exactly the field size. */
  x: Buffer;
  y: Buffer;
  /** Present only for private blobs. */
  d?: Buffer;
}

function invalid(message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `ECC key blob: ${message}`);
}

function requireCurve(name: unknown): CurveInfo {
  const curve = typeof name === 'string' ? curveByName(name) : undefined;
  if (!curve) throw invalid(`unknown curve ${String(name)} (supported: P-256, P-384, P-521)`);
  return curve;
}

/** `value` as a big-endian integer of exactly `size` bytes; leading zeros are dropped or added. */
function fixedWidth(name: string, value: unknown, size: number): Buffer {
  if (!(value instanceof Uint8Array)) throw invalid(`${name} must be bytes`);
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  const significant = value.length - start;
  if (significant > size) throw invalid(`${name} has ${significant} significant bytes, the curve's field has ${size}`);
  const out = Buffer.alloc(size);
  out.set(value.subarray(start), size - significant);
  return out;
}

function encode(key: EccPublicKey, d: Uint8Array | null): Buffer {
  const curve = requireCurve(key.curve);
  if (key.usage !== 'ECDSA' && key.usage !== 'ECDH') throw invalid(`usage must be ECDSA or ECDH, got ${String(key.usage)}`);
  const size = curve.byteLength;
  const parts = [fixedWidth('x', key.x, size), fixedWidth('y', key.y, size)];
  if (d !== null) parts.push(fixedWidth('d', d, size));
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(d === null ? curve.magic[key.usage].public : curve.magic[key.usage].private, 0);
  header.writeUInt32LE(size, 4);
  return Buffer.concat([header, ...parts]);
}

/** BCRYPT_ECCPUBLIC_BLOB with the ECDSA or ECDH public magic of the curve. */
export function encodeEccPublicBlob(key: EccPublicKey): Buffer {
  if (typeof key !== 'object' || key === null) throw invalid('expected a key description');
  return encode(key, null);
}

/** BCRYPT_ECCPRIVATE_BLOB (X, Y, d) with the ECDSA or ECDH private magic of the curve. */
export function encodeEccPrivateBlob(key: EccPrivateKey): Buffer {
  if (typeof key !== 'object' || key === null) throw invalid('expected a key description');
  return encode(key, key.d);
}

/**
 * Decodes a public or private BCRYPT_ECCKEY_BLOB. The length must be exact (8 + 2·cbKey public,
 * 8 + 3·cbKey private) and cbKey must be the curve's field size: a blob that disagrees with its own
 * magic is corrupt, and accepting it would hand a wrong point to the token.
 */
export function decodeEccBlob(blob: Uint8Array): DecodedEccBlob {
  if (!(blob instanceof Uint8Array)) throw invalid('expected bytes');
  if (blob.length < HEADER_SIZE) throw invalid(`${blob.length} bytes is shorter than the 8-byte header`);
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const magic = b.readUInt32LE(0);
  const cbKey = b.readUInt32LE(4);
  const kind = curveByMagic(magic);
  if (!kind) throw invalid(`unknown dwMagic 0x${magic.toString(16).padStart(8, '0')}`);
  const size = kind.curve.byteLength;
  if (cbKey !== size) throw invalid(`cbKey ${cbKey} does not match ${kind.curve.name} (${size})`);
  const expected = HEADER_SIZE + (kind.isPrivate ? 3 : 2) * size;
  if (b.length !== expected) {
    throw invalid(`${kind.curve.name} ${kind.isPrivate ? 'private' : 'public'} blob must be ${expected} bytes, got ${b.length}`);
  }
  const field = (index: number): Buffer => Buffer.from(b.subarray(HEADER_SIZE + index * size, HEADER_SIZE + (index + 1) * size));
  const decoded: DecodedEccBlob = { curve: kind.curve.name, usage: kind.usage, isPrivate: kind.isPrivate, x: field(0), y: field(1) };
  if (kind.isPrivate) decoded.d = field(2);
  return decoded;
}

/**
 * Splits an uncompressed SEC1 point `04 || X || Y` (the inside of PKCS#11 CKA_EC_POINT) into X and Y.
 * With `curve`, the coordinates must have that curve's size; without it, any even split is accepted.
 */
export function eccPointFromUncompressed(point: Uint8Array, curve?: CurveName): { x: Buffer; y: Buffer } {
  if (!(point instanceof Uint8Array)) throw invalid('point must be bytes');
  if (point.length < 3 || point[0] !== UNCOMPRESSED_POINT_TAG || (point.length - 1) % 2 !== 0) {
    throw invalid('expected an uncompressed point 04 || X || Y');
  }
  const size = (point.length - 1) / 2;
  if (curve !== undefined && requireCurve(curve).byteLength !== size) {
    throw invalid(`a ${curve} point has ${2 * requireCurve(curve).byteLength + 1} bytes, got ${point.length}`);
  }
  return { x: Buffer.from(point.subarray(1, 1 + size)), y: Buffer.from(point.subarray(1 + size)) };
}

/**
 * `04 || X || Y`. With `curve` the coordinates are padded to its field size; without it they must
 * already have the same length.
 */
export function toUncompressedPoint(x: Uint8Array, y: Uint8Array, curve?: CurveName): Buffer {
  if (curve !== undefined) {
    const size = requireCurve(curve).byteLength;
    return Buffer.concat([Buffer.from([UNCOMPRESSED_POINT_TAG]), fixedWidth('x', x, size), fixedWidth('y', y, size)]);
  }
  if (!(x instanceof Uint8Array) || !(y instanceof Uint8Array)) throw invalid('x and y must be bytes');
  if (x.length === 0 || x.length !== y.length) throw invalid(`x (${x.length} bytes) and y (${y.length} bytes) must have the same, non-zero length`);
  return Buffer.concat([Buffer.from([UNCOMPRESSED_POINT_TAG]), x, y]);
}
