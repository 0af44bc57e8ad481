import { strict as assert } from 'node:assert';
import { type JsonWebKey, generateKeyPairSync } from 'node:crypto';
import {
  decodeRsaPrivateKeyBlob, decodeRsaPublicKeyBlob, encodeRsaPrivateKeyBlob, encodeRsaPublicKeyBlob,
} from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

const CALG_RSA_SIGN = 0x2400;
const CALG_RSA_KEYX = 0xa400;

function rsaJwk(bits: number): Required<Pick<JsonWebKey, 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi'>> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return privateKey.export({ format: 'jwk' }) as Required<Pick<JsonWebKey, 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi'>>;
}

const b64 = (value: string): Buffer => Buffer.from(value, 'base64url');

/** `value` big-endian → little-endian, zero-padded on the high side to `width` bytes. */
function le(value: Buffer, width: number): Buffer {
  const out = Buffer.alloc(width);
  Buffer.from(value).reverse().copy(out);
  return out;
}

/** A PRIVATEKEYBLOB written directly from the JWK, independent of the codec. */
function privateKeyBlobFromJwk(jwk: ReturnType<typeof rsaJwk>, bits: number, aiKeyAlg: number): Buffer {
  const k = bits / 8;
  const half = Math.ceil(k / 2);
  const header = Buffer.alloc(20);
  header.writeUInt8(0x07, 0);
  header.writeUInt8(0x02, 1);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.write('RSA2', 8, 'latin1');
  header.writeUInt32LE(bits, 12);
  header.writeUInt32LE(b64(jwk.e).readUIntBE(0, b64(jwk.e).length), 16);
  return Buffer.concat([
    header, le(b64(jwk.n), k), le(b64(jwk.p), half), le(b64(jwk.q), half), le(b64(jwk.dp), half),
    le(b64(jwk.dq), half), le(b64(jwk.qi), half), le(b64(jwk.d), k),
  ]);
}

describe('minidriver codecs: CAPI RSA PUBLICKEYBLOB / PRIVATEKEYBLOB', () => {
  const jwk1024 = rsaJwk(1024);
  const jwk2048 = rsaJwk(2048);

  it('writes a 1024-bit PUBLICKEYBLOB of 148 bytes with the fixed header', () => {
    const blob = encodeRsaPublicKeyBlob({ modulus: b64(jwk1024.n), publicExponent: b64(jwk1024.e), aiKeyAlg: CALG_RSA_KEYX });
    assert.equal(blob.length, 148);
    assert.equal(jwk1024.e, 'AQAB');
    // bType 06, bVersion 02, reserved 0000, aiKeyAlg a400, "RSA1", bitlen 1024, pubexp 65537.
    assert.equal(blob.subarray(0, 20).toString('hex'), '0602000000a40000' + '52534131' + '00040000' + '01000100');
  });

  it('stores the modulus little-endian: the blob tail reversed is the JWK n', () => {
    const blob = encodeRsaPublicKeyBlob({ modulus: b64(jwk2048.n), publicExponent: b64(jwk2048.e), aiKeyAlg: CALG_RSA_SIGN });
    assert.equal(blob.length, 20 + 256);
    assert.equal(blob.readUInt32LE(4), CALG_RSA_SIGN);
    assert.equal(blob.readUInt32LE(12), 2048);
    assert.deepEqual(Buffer.from(blob.subarray(20)).reverse(), b64(jwk2048.n));
  });

  it('round-trips through decode to the same big-endian numbers', () => {
    for (const aiKeyAlg of [CALG_RSA_SIGN, CALG_RSA_KEYX]) {
      const blob = encodeRsaPublicKeyBlob({ modulus: b64(jwk1024.n), publicExponent: b64(jwk1024.e), aiKeyAlg });
      const decoded = decodeRsaPublicKeyBlob(blob);
      assert.deepEqual(decoded.modulus, b64(jwk1024.n));
      assert.deepEqual(decoded.publicExponent, Buffer.from([1, 0, 1]));
      assert.equal(decoded.bitLength, 1024);
      assert.equal(decoded.aiKeyAlg, aiKeyAlg);
    }
  });

  it('ignores leading zero bytes of the modulus and exponent', () => {
    const plain = encodeRsaPublicKeyBlob({ modulus: b64(jwk1024.n), publicExponent: Buffer.from([1, 0, 1]), aiKeyAlg: CALG_RSA_KEYX });
    const padded = encodeRsaPublicKeyBlob({
      modulus: Buffer.concat([Buffer.alloc(1), b64(jwk1024.n)]), publicExponent: Buffer.from([0, 0, 0, 1, 0, 1]), aiKeyAlg: CALG_RSA_KEYX,
    });
    assert.deepEqual(padded, plain);
  });

  it('writes a small exponent as a 32-bit little-endian DWORD', () => {
    const blob = encodeRsaPublicKeyBlob({ modulus: b64(jwk1024.n), publicExponent: Buffer.from([3]), aiKeyAlg: CALG_RSA_KEYX });
    assert.equal(blob.subarray(16, 20).toString('hex'), '03000000');
    assert.deepEqual(decodeRsaPublicKeyBlob(blob).publicExponent, Buffer.from([3]));
  });

  it('decodes a PRIVATEKEYBLOB built from a node:crypto key to the same numbers', () => {
    for (const [jwk, bits, size] of [[jwk1024, 1024, 596], [jwk2048, 2048, 1172]] as const) {
      const blob = privateKeyBlobFromJwk(jwk, bits, CALG_RSA_KEYX);
      assert.equal(blob.length, size);
      const key = decodeRsaPrivateKeyBlob(blob);
      assert.equal(key.bitLength, bits);
      assert.equal(key.aiKeyAlg, CALG_RSA_KEYX);
      assert.deepEqual(key.modulus, b64(jwk.n));
      assert.deepEqual(key.publicExponent, b64(jwk.e));
      assert.deepEqual(key.privateExponent, b64(jwk.d));
      assert.deepEqual(key.prime1, b64(jwk.p));
      assert.deepEqual(key.prime2, b64(jwk.q));
      assert.deepEqual(key.exponent1, b64(jwk.dp));
      assert.deepEqual(key.exponent2, b64(jwk.dq));
      assert.deepEqual(key.coefficient, b64(jwk.qi));
    }
  });

  it('keeps the signature slot of a CALG_RSA_SIGN private blob', () => {
    assert.equal(decodeRsaPrivateKeyBlob(privateKeyBlobFromJwk(jwk1024, 1024, CALG_RSA_SIGN)).aiKeyAlg, CALG_RSA_SIGN);
  });

  it('rejects a public key it cannot represent', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    const n = b64(jwk1024.n);
    expectCryptError(() => encodeRsaPublicKeyBlob({ modulus: n, publicExponent: Buffer.from('0100000001', 'hex'), aiKeyAlg: CALG_RSA_KEYX }), code);
    expectCryptError(() => encodeRsaPublicKeyBlob({ modulus: n, publicExponent: Buffer.from([0]), aiKeyAlg: CALG_RSA_KEYX }), code);
    expectCryptError(() => encodeRsaPublicKeyBlob({ modulus: n, publicExponent: Buffer.alloc(0), aiKeyAlg: CALG_RSA_KEYX }), code);
    expectCryptError(() => encodeRsaPublicKeyBlob({ modulus: n, publicExponent: Buffer.from([3]), aiKeyAlg: 0x6610 }), code);
    expectCryptError(() => encodeRsaPublicKeyBlob({ modulus: Buffer.alloc(4), publicExponent: Buffer.from([3]), aiKeyAlg: CALG_RSA_KEYX }), code);
    expectCryptError(() => encodeRsaPublicKeyBlob({ modulus: 'ab' as unknown as Buffer, publicExponent: Buffer.from([3]), aiKeyAlg: CALG_RSA_KEYX }), code);
    expectCryptError(() => encodeRsaPublicKeyBlob(null as unknown as Parameters<typeof encodeRsaPublicKeyBlob>[0]), code);
  });

  it('rejects malformed PUBLICKEYBLOBs', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    const good = encodeRsaPublicKeyBlob({ modulus: b64(jwk1024.n), publicExponent: b64(jwk1024.e), aiKeyAlg: CALG_RSA_KEYX });
    const patched = (offset: number, bytes: number[]): Buffer => {
      const copy = Buffer.from(good);
      Buffer.from(bytes).copy(copy, offset);
      return copy;
    };
    expectCryptError(() => decodeRsaPublicKeyBlob(good.subarray(0, 19)), code);
    expectCryptError(() => decodeRsaPublicKeyBlob(good.subarray(0, 147)), code);
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(0, [0x07])), code); // bType
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(1, [0x01])), code); // bVersion
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(2, [0x01])), code); // reserved
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(4, [0x10, 0x66])), code); // aiKeyAlg
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(8, [0x52, 0x53, 0x41, 0x32])), code); // "RSA2" in a public blob
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(12, [0xfc, 0x03])), code); // bitlen 1020
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(12, [0, 0])), code); // bitlen 0
    expectCryptError(() => decodeRsaPublicKeyBlob(patched(16, [0, 0, 0])), code); // pubexp 0
    expectCryptError(() => decodeRsaPublicKeyBlob(undefined as unknown as Buffer), code);
  });

  it('rejects malformed or short PRIVATEKEYBLOBs', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    const good = privateKeyBlobFromJwk(jwk1024, 1024, CALG_RSA_KEYX);
    expectCryptError(() => decodeRsaPrivateKeyBlob(good.subarray(0, 595)), code);
    expectCryptError(() => decodeRsaPrivateKeyBlob(good.subarray(0, 532)), code);
    expectCryptError(() => decodeRsaPrivateKeyBlob(good.subarray(0, 10)), code);
    const asPublic = Buffer.from(good);
    asPublic[0] = 0x06;
    expectCryptError(() => decodeRsaPrivateKeyBlob(asPublic), code);
    const wrongMagic = Buffer.from(good);
    wrongMagic.write('RSA1', 8, 'latin1');
    expectCryptError(() => decodeRsaPrivateKeyBlob(wrongMagic), code);
    const wrongVersion = Buffer.from(good);
    wrongVersion[1] = 3;
    expectCryptError(() => decodeRsaPrivateKeyBlob(wrongVersion), code);
    const reserved = Buffer.from(good);
    reserved[3] = 1;
    expectCryptError(() => decodeRsaPrivateKeyBlob(reserved), code);
    expectCryptError(() => decodeRsaPublicKeyBlob(good), code);
  });

  it('writes a PRIVATEKEYBLOB byte for byte as Windows lays it out, for both slots', () => {
    for (const [bits, aiKeyAlg] of [[1024, CALG_RSA_KEYX], [2048, CALG_RSA_SIGN]] as const) {
      const jwk = rsaJwk(bits);
      const blob = encodeRsaPrivateKeyBlob({
        aiKeyAlg, modulus: b64(jwk.n), publicExponent: b64(jwk.e), privateExponent: b64(jwk.d), prime1: b64(jwk.p),
        prime2: b64(jwk.q), exponent1: b64(jwk.dp), exponent2: b64(jwk.dq), coefficient: b64(jwk.qi),
      });
      assert.deepEqual(blob, privateKeyBlobFromJwk(jwk, bits, aiKeyAlg));
    }
  });

  it('refuses a private key whose numbers do not fit the blob', () => {
    const jwk = rsaJwk(1024);
    const key = {
      aiKeyAlg: CALG_RSA_KEYX, modulus: b64(jwk.n), publicExponent: b64(jwk.e), privateExponent: b64(jwk.d), prime1: b64(jwk.p),
      prime2: b64(jwk.q), exponent1: b64(jwk.dp), exponent2: b64(jwk.dq), coefficient: b64(jwk.qi),
    };
    expectCryptError(() => encodeRsaPrivateKeyBlob({ ...key, prime1: Buffer.alloc(65, 1) }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => encodeRsaPrivateKeyBlob({ ...key, publicExponent: Buffer.from([1, 0, 0, 0, 1]) }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => encodeRsaPrivateKeyBlob({ ...key, aiKeyAlg: 0x6610 }), 'SCARD_E_INVALID_PARAMETER');
  });
});
