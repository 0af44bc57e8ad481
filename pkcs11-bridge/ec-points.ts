import { type CurveInfo, curveByEcParams } from '../minidriver/codecs/curves.js';

export { type CurveInfo, curveByEcParams };

/** Key size in bits as Windows counts it (cmapfile, CARD_KEY_SIZES): 256, 384, 521. */
export function curveBits(curve: CurveInfo): number {
  return Number(curve.name.slice(2));
}

/**
 * The uncompressed point 04||X||Y from CKA_EC_POINT. PKCS#11 says DER OCTET STRING, but some tokens
 * return the raw point (graphene issue #127): tell them apart by length, which is fixed per curve.
 */
export function pointFromEcPointAttribute(value: Buffer, curve: CurveInfo): Buffer | undefined {
  const raw = 1 + 2 * curve.byteLength;
  if (value.length === raw && value[0] === 0x04) return Buffer.from(value);
  if (value[0] === 0x04) {
    let offset = 2;
    let length = value[1];
    if (length & 0x80) {
      const n = length & 0x7f;
      length = 0;
      for (let i = 0; i < n; i++) length = (length << 8) | value[2 + i];
      offset = 2 + n;
    }
    if (length === raw && value.length === offset + raw && value[offset] === 0x04) return Buffer.from(value.subarray(offset));
  }
  return undefined;
}

/** CKA_EC_POINT for a point: DER OCTET STRING around 04||X||Y, as the specification asks. */
export function ecPointAttribute(point: Buffer): Buffer {
  const len = point.length < 0x80 ? Buffer.from([point.length]) : Buffer.from([0x81, point.length]);
  return Buffer.concat([Buffer.from([0x04]), len, point]);
}
