import { strict as assert } from 'node:assert';
import { createECDH, generateKeyPairSync } from 'node:crypto';
import {
  type CurveName, decodeEccBlob, eccPointFromUncompressed, encodeEccPrivateBlob, encodeEccPublicBlob, toUncompressedPoint,
} from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

const b64 = (value: string): Buffer => Buffer.from(value, 'base64url');

/** Per curve: node name, field size, and the ASCII the magic spells (the u32 read as little-endian bytes). */
const CASES: { curve: CurveName; node: string; size: number; sigPub: string; sigPriv: string; dhPub: string; dhPriv: string }[] = [
  { curve: 'P-256', node: 'prime256v1', size: 32, sigPub: 'ECS1', sigPriv: 'ECS2', dhPub: 'ECK1', dhPriv: 'ECK2' },
  { curve: 'P-384', node: 'secp384r1', size: 48, sigPub: 'ECS3', sigPriv: 'ECS4', dhPub: 'ECK3', dhPriv: 'ECK4' },
  { curve: 'P-521', node: 'secp521r1', size: 66, sigPub: 'ECS5', sigPriv: 'ECS6', dhPub: 'ECK5', dhPriv: 'ECK6' },
];

function ecJwk(namedCurve: string): { x: Buffer; y: Buffer; d: Buffer } {
  const jwk = generateKeyPairSync('ec', { namedCurve }).privateKey.export({ format: 'jwk' });
  return { x: b64(jwk.x!), y: b64(jwk.y!), d: b64(jwk.d!) };
}

describe('minidriver codecs: BCRYPT_ECCKEY_BLOB', () => {
  for (const c of CASES) {
    describe(c.curve, () => {
      const key = ecJwk(c.node);

      it('writes a public blob whose X and Y are the JWK coordinates', () => {
        const blob = encodeEccPublicBlob({ curve: c.curve, usage: 'ECDSA', x: key.x, y: key.y });
        assert.equal(blob.length, 8 + 2 * c.size);
        assert.equal(blob.subarray(0, 4).toString('latin1'), c.sigPub);
        assert.equal(blob.readUInt32LE(4), c.size);
        assert.deepEqual(blob.subarray(8, 8 + c.size), key.x);
        assert.deepEqual(blob.subarray(8 + c.size), key.y);
        const ecdh = encodeEccPublicBlob({ curve: c.curve, usage: 'ECDH', x: key.x, y: key.y });
        assert.equal(ecdh.subarray(0, 4).toString('latin1'), c.dhPub);
        assert.deepEqual(ecdh.subarray(4), blob.subarray(4));
      });

      it('round-trips public and private blobs', () => {
        for (const usage of ['ECDSA', 'ECDH'] as const) {
          const pub = decodeEccBlob(encodeEccPublicBlob({ curve: c.curve, usage, x: key.x, y: key.y }));
          assert.deepEqual(pub, { curve: c.curve, usage, isPrivate: false, x: key.x, y: key.y });
          const privBlob = encodeEccPrivateBlob({ curve: c.curve, usage, x: key.x, y: key.y, d: key.d });
          assert.equal(privBlob.length, 8 + 3 * c.size);
          assert.equal(privBlob.subarray(0, 4).toString('latin1'), usage === 'ECDSA' ? c.sigPriv : c.dhPriv);
          assert.deepEqual(decodeEccBlob(privBlob), { curve: c.curve, usage, isPrivate: true, x: key.x, y: key.y, d: key.d });
        }
      });

      it('decodes a private blob assembled by hand', () => {
        const header = Buffer.alloc(8);
        header.write(c.sigPriv, 0, 'latin1');
        header.writeUInt32LE(c.size, 4);
        const decoded = decodeEccBlob(Buffer.concat([header, key.x, key.y, key.d]));
        assert.equal(decoded.usage, 'ECDSA');
        assert.equal(decoded.isPrivate, true);
        assert.deepEqual(decoded.d, key.d);
      });

      it('converts between the blob coordinates and the uncompressed point node:crypto exports', () => {
        const ecdh = createECDH(c.node);
        const point = ecdh.generateKeys();
        const { x, y } = eccPointFromUncompressed(point, c.curve);
        assert.equal(x.length, c.size);
        assert.deepEqual(toUncompressedPoint(x, y), point);
        assert.deepEqual(toUncompressedPoint(x, y, c.curve), point);
        const jwkPoint = Buffer.concat([Buffer.from([4]), key.x, key.y]);
        assert.deepEqual(eccPointFromUncompressed(jwkPoint), { x: key.x, y: key.y });
      });
    });
  }

  it('left-pads short coordinates to the field size', () => {
    const x = Buffer.from('0102', 'hex');
    const y = Buffer.concat([Buffer.alloc(3), Buffer.from('ff', 'hex')]);
    const blob = encodeEccPublicBlob({ curve: 'P-256', usage: 'ECDH', x, y });
    assert.equal(blob.subarray(8, 40).toString('hex'), '00'.repeat(30) + '0102');
    assert.equal(blob.subarray(40, 72).toString('hex'), '00'.repeat(31) + 'ff');
    assert.equal(toUncompressedPoint(x, y, 'P-256').toString('hex'), '04' + '00'.repeat(30) + '0102' + '00'.repeat(31) + 'ff');
  });

  it('rejects malformed blobs and inputs with SCARD_E_INVALID_PARAMETER', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    const key = ecJwk('prime256v1');
    const good = encodeEccPublicBlob({ curve: 'P-256', usage: 'ECDSA', x: key.x, y: key.y });
    expectCryptError(() => decodeEccBlob(good.subarray(0, 7)), code);
    expectCryptError(() => decodeEccBlob(good.subarray(0, 71)), code);
    expectCryptError(() => decodeEccBlob(Buffer.concat([good, Buffer.alloc(1)])), code);
    const badMagic = Buffer.from(good);
    badMagic.write('ECS9', 0, 'latin1');
    expectCryptError(() => decodeEccBlob(badMagic), code);
    const badSize = Buffer.from(good);
    badSize.writeUInt32LE(48, 4);
    expectCryptError(() => decodeEccBlob(badSize), code);
    const rsaMagic = Buffer.from(good);
    rsaMagic.write('RSA1', 0, 'latin1');
    expectCryptError(() => decodeEccBlob(rsaMagic), code);
    expectCryptError(() => decodeEccBlob('x' as unknown as Buffer), code);

    expectCryptError(() => encodeEccPublicBlob({ curve: 'P-192' as CurveName, usage: 'ECDSA', x: key.x, y: key.y }), code);
    expectCryptError(() => encodeEccPublicBlob({ curve: 'P-256', usage: 'RSA' as 'ECDSA', x: key.x, y: key.y }), code);
    expectCryptError(() => encodeEccPublicBlob({ curve: 'P-256', usage: 'ECDSA', x: Buffer.alloc(33, 1), y: key.y }), code);
    expectCryptError(() => encodeEccPublicBlob({ curve: 'P-256', usage: 'ECDSA', x: 'ab' as unknown as Buffer, y: key.y }), code);
    expectCryptError(() => encodeEccPrivateBlob({ curve: 'P-256', usage: 'ECDSA', x: key.x, y: key.y, d: Buffer.alloc(40, 1) }), code);
    expectCryptError(() => encodeEccPublicBlob(null as unknown as Parameters<typeof encodeEccPublicBlob>[0]), code);

    const point = Buffer.concat([Buffer.from([4]), key.x, key.y]);
    expectCryptError(() => eccPointFromUncompressed(Buffer.concat([Buffer.from([2]), key.x])), code);
    expectCryptError(() => eccPointFromUncompressed(point.subarray(0, 64)), code);
    expectCryptError(() => eccPointFromUncompressed(point, 'P-384'), code);
    expectCryptError(() => eccPointFromUncompressed(Buffer.from([4])), code);
    expectCryptError(() => toUncompressedPoint(key.x, key.y.subarray(1)), code);
    expectCryptError(() => toUncompressedPoint(Buffer.alloc(0), Buffer.alloc(0)), code);
    expectCryptError(() => toUncompressedPoint(Buffer.alloc(49, 1), key.y, 'P-384'), code);
  });
});
