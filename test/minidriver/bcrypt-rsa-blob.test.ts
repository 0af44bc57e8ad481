import { strict as assert } from 'node:assert';
import {
  type JsonWebKey, type KeyObject, constants, createPublicKey, generateKeyPairSync, privateDecrypt, publicEncrypt, sign, verify,
} from 'node:crypto';
import {
  type BcryptRsaBlobType, bcryptRsaBlobFromJwk, bcryptRsaBlobFromKeyObject, bcryptRsaPublicBlobFromSpki, decodeBcryptRsaBlob,
  encodeBcryptRsaFullPrivateBlob, encodeBcryptRsaPrivateBlob, encodeBcryptRsaPublicBlob, encodeRsaPublicKeyBlob, jwkFromBcryptRsaBlob,
  keyObjectFromBcryptRsaBlob, spkiFromBcryptRsaBlob,
} from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

type RsaJwk = Required<Pick<JsonWebKey, 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi'>>;

function rsaKey(bits: number): { privateKey: KeyObject; publicKey: KeyObject; jwk: RsaJwk } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { privateKey, publicKey, jwk: privateKey.export({ format: 'jwk' }) as RsaJwk };
}

const b64 = (value: string): Buffer => Buffer.from(value, 'base64url');

/** `value` left-padded with zeros to `width` bytes. */
function be(value: Buffer, width: number): Buffer {
  const out = Buffer.alloc(width);
  value.copy(out, width - value.length);
  return out;
}

/**
 * BCRYPT_RSAKEY_BLOB written straight from the reference's §3.7 layout and a JWK, independent of the
 * codec: Magic, BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2 (u32 LE), then big-endian fields.
 */
function blobFromJwk(jwk: RsaJwk, bits: number, kind: 'RSA1' | 'RSA2' | 'RSA3'): Buffer {
  const e = b64(jwk.e);
  const n = b64(jwk.n);
  const p = b64(jwk.p);
  const q = b64(jwk.q);
  const isPrivate = kind !== 'RSA1';
  const header = Buffer.alloc(24);
  header.write(kind, 0, 'latin1');
  header.writeUInt32LE(bits, 4);
  header.writeUInt32LE(e.length, 8);
  header.writeUInt32LE(n.length, 12);
  header.writeUInt32LE(isPrivate ? p.length : 0, 16);
  header.writeUInt32LE(isPrivate ? q.length : 0, 20);
  const parts = [header, e, n];
  if (isPrivate) parts.push(p, q);
  if (kind === 'RSA3') parts.push(be(b64(jwk.dp), p.length), be(b64(jwk.dq), q.length), be(b64(jwk.qi), p.length), be(b64(jwk.d), n.length));
  return Buffer.concat(parts);
}

const BLOB_TYPES: readonly BcryptRsaBlobType[] = ['RSAPUBLICBLOB', 'RSAPRIVATEBLOB', 'RSAFULLPRIVATEBLOB'];
const KIND: Record<BcryptRsaBlobType, 'RSA1' | 'RSA2' | 'RSA3'> = { RSAPUBLICBLOB: 'RSA1', RSAPRIVATEBLOB: 'RSA2', RSAFULLPRIVATEBLOB: 'RSA3' };

function signsAndVerifies(privateKey: KeyObject, publicKey: KeyObject): void {
  const data = Buffer.from('BCRYPT_RSAKEY_BLOB');
  assert.ok(verify('sha256', data, publicKey, sign('sha256', data, privateKey)));
}

describe('minidriver codecs: BCRYPT_RSAKEY_BLOB', function () {
  this.timeout(120000);
  const keys = new Map([1024, 2048, 4096].map((bits) => [bits, rsaKey(bits)]));
  const k1024 = keys.get(1024)!;

  it('has the sizes Windows exports for a 1024-bit key with e = 65537: 155 / 283 / 603 bytes', () => {
    assert.equal(k1024.jwk.e, 'AQAB');
    assert.equal(bcryptRsaBlobFromKeyObject(k1024.privateKey, 'RSAPUBLICBLOB').length, 155);
    assert.equal(bcryptRsaBlobFromKeyObject(k1024.privateKey, 'RSAPRIVATEBLOB').length, 283);
    assert.equal(bcryptRsaBlobFromKeyObject(k1024.privateKey, 'RSAFULLPRIVATEBLOB').length, 603);
  });

  it('writes the header fields little-endian and the numbers big-endian', () => {
    const blob = bcryptRsaBlobFromKeyObject(k1024.privateKey, 'RSAFULLPRIVATEBLOB');
    // "RSA3", BitLength 1024, cbPublicExp 3, cbModulus 128, cbPrime1 64, cbPrime2 64.
    assert.equal(blob.subarray(0, 24).toString('hex'), '52534133' + '00040000' + '03000000' + '80000000' + '40000000' + '40000000');
    assert.equal(blob.subarray(24, 27).toString('hex'), '010001');
    assert.deepEqual(blob.subarray(27, 27 + 128), b64(k1024.jwk.n));
  });

  for (const [bits] of keys) {
    for (const blobType of BLOB_TYPES) {
      it(`${bits}-bit ${blobType}: matches the hand-built blob byte for byte`, () => {
        const { privateKey, jwk } = keys.get(bits)!;
        assert.deepEqual(bcryptRsaBlobFromKeyObject(privateKey, blobType), blobFromJwk(jwk, bits, KIND[blobType]));
      });

      it(`${bits}-bit ${blobType}: round-trips through decode, encode and a KeyObject`, () => {
        const { privateKey, publicKey, jwk } = keys.get(bits)!;
        const blob = blobFromJwk(jwk, bits, KIND[blobType]);
        const decoded = decodeBcryptRsaBlob(blob, blobType);
        assert.equal(decoded.blobType, blobType);
        assert.equal(decoded.bitLength, bits);
        assert.deepEqual(decoded.modulus, b64(jwk.n));
        assert.deepEqual(decoded.publicExponent, b64(jwk.e));
        if (blobType === 'RSAPUBLICBLOB') {
          assert.deepEqual(encodeBcryptRsaPublicBlob(decoded), blob);
          const imported = keyObjectFromBcryptRsaBlob(blob, blobType);
          assert.equal(imported.type, 'public');
          assert.deepEqual(imported.export({ format: 'der', type: 'spki' }), publicKey.export({ format: 'der', type: 'spki' }));
          signsAndVerifies(privateKey, imported);
          return;
        }
        assert.deepEqual(decoded.prime1, b64(jwk.p));
        assert.deepEqual(decoded.prime2, b64(jwk.q));
        const imported = keyObjectFromBcryptRsaBlob(blob, blobType);
        assert.equal(imported.type, 'private');
        assert.deepEqual(createPublicKey(imported).export({ format: 'der', type: 'spki' }), publicKey.export({ format: 'der', type: 'spki' }));
        signsAndVerifies(imported, publicKey);
        if (blobType === 'RSAPRIVATEBLOB') {
          assert.deepEqual(encodeBcryptRsaPrivateBlob({ ...decoded, prime1: decoded.prime1!, prime2: decoded.prime2! }), blob);
          // The reconstructed key decrypts what the original public key encrypted.
          const secret = Buffer.from('session key');
          const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, secret);
          assert.deepEqual(privateDecrypt({ key: imported, padding: constants.RSA_PKCS1_OAEP_PADDING }, ciphertext), secret);
        } else {
          assert.deepEqual(encodeBcryptRsaFullPrivateBlob({
            ...decoded, prime1: decoded.prime1!, prime2: decoded.prime2!, exponent1: decoded.exponent1!, exponent2: decoded.exponent2!,
            coefficient: decoded.coefficient!, privateExponent: decoded.privateExponent!,
          }), blob);
          assert.deepEqual(imported.export({ format: 'jwk' }), { kty: 'RSA', ...jwk });
        }
      });
    }
  }

  it('converts public keys to and from SPKI and JWK', () => {
    const spki = k1024.publicKey.export({ format: 'der', type: 'spki' });
    const blob = bcryptRsaPublicBlobFromSpki(spki);
    assert.deepEqual(blob, blobFromJwk(k1024.jwk, 1024, 'RSA1'));
    assert.deepEqual(spkiFromBcryptRsaBlob(blob), spki);
    assert.deepEqual(spkiFromBcryptRsaBlob(blobFromJwk(k1024.jwk, 1024, 'RSA3')), spki);
    assert.deepEqual(jwkFromBcryptRsaBlob(blob), { kty: 'RSA', n: k1024.jwk.n, e: k1024.jwk.e });
    assert.deepEqual(bcryptRsaBlobFromJwk({ kty: 'RSA', n: k1024.jwk.n, e: k1024.jwk.e }, 'RSAPUBLICBLOB'), blob);
    assert.deepEqual(bcryptRsaBlobFromKeyObject(k1024.publicKey, 'RSAPUBLICBLOB'), blob);
  });

  it('is not the CAPI PUBLICKEYBLOB: same "RSA1" magic, different header and byte order', () => {
    const capi = encodeRsaPublicKeyBlob({ modulus: b64(k1024.jwk.n), publicExponent: b64(k1024.jwk.e), aiKeyAlg: 0xa400 });
    assert.equal(capi.length, 148);
    assert.equal(capi.readUInt32LE(8), 0x31415352);
    assert.equal(bcryptRsaBlobFromKeyObject(k1024.publicKey, 'RSAPUBLICBLOB').readUInt32LE(0), 0x31415352);
    expectCryptError(() => decodeBcryptRsaBlob(capi), 'NTE_INVALID_PARAMETER');
  });

  it('accepts a BitLength that disagrees with cbModulus, as Windows does', () => {
    const blob = blobFromJwk(k1024.jwk, 1024, 'RSA1');
    blob.writeUInt32LE(1000, 4);
    assert.equal(decodeBcryptRsaBlob(blob).bitLength, 1000);
  });

  it('ignores cbPrime1 / cbPrime2 of a public blob: its size comes from e and n', () => {
    const blob = blobFromJwk(k1024.jwk, 1024, 'RSA1');
    blob.writeUInt32LE(64, 16);
    blob.writeUInt32LE(64, 20);
    assert.deepEqual(decodeBcryptRsaBlob(blob).modulus, b64(k1024.jwk.n));
  });

  describe('malformed input → NTE_BAD_DATA', () => {
    const pub = (): Buffer => blobFromJwk(k1024.jwk, 1024, 'RSA1');
    const priv = (): Buffer => blobFromJwk(k1024.jwk, 1024, 'RSA2');
    const full = (): Buffer => blobFromJwk(k1024.jwk, 1024, 'RSA3');
    const withHeader = (blob: Buffer, offset: number, value: number): Buffer => {
      blob.writeUInt32LE(value, offset);
      return blob;
    };

    it('not bytes', () => {
      expectCryptError(() => decodeBcryptRsaBlob('RSA1' as unknown as Uint8Array), 'NTE_BAD_DATA');
    });

    it('truncated header (0, 8 and 23 bytes)', () => {
      for (const length of [0, 8, 23]) expectCryptError(() => decodeBcryptRsaBlob(pub().subarray(0, length)), 'NTE_BAD_DATA');
    });

    it('a known magic that is not the blob type asked for', () => {
      expectCryptError(() => decodeBcryptRsaBlob(pub(), 'RSAPRIVATEBLOB'), 'NTE_BAD_DATA');
      expectCryptError(() => decodeBcryptRsaBlob(full(), 'RSAPRIVATEBLOB'), 'NTE_BAD_DATA');
      expectCryptError(() => keyObjectFromBcryptRsaBlob(priv(), 'RSAPUBLICBLOB'), 'NTE_BAD_DATA');
    });

    it('one byte short or one byte long, for each blob kind', () => {
      for (const blob of [pub(), priv(), full()]) {
        expectCryptError(() => decodeBcryptRsaBlob(blob.subarray(0, blob.length - 1)), 'NTE_BAD_DATA');
        expectCryptError(() => decodeBcryptRsaBlob(Buffer.concat([blob, Buffer.alloc(1)])), 'NTE_BAD_DATA');
      }
    });

    it('header lengths that overrun the data', () => {
      expectCryptError(() => decodeBcryptRsaBlob(withHeader(pub(), 12, 0xffffffff)), 'NTE_BAD_DATA');
      expectCryptError(() => decodeBcryptRsaBlob(withHeader(pub(), 8, 0xffffffff)), 'NTE_BAD_DATA');
      expectCryptError(() => decodeBcryptRsaBlob(withHeader(priv(), 16, 65)), 'NTE_BAD_DATA');
      expectCryptError(() => decodeBcryptRsaBlob(withHeader(full(), 20, 0xffffffff)), 'NTE_BAD_DATA');
    });

    it('zero-length modulus, zero-length exponent, zero-length primes', () => {
      const header = (magic: string, cbExp: number, cbMod: number, cbP1: number, cbP2: number): Buffer => {
        const h = Buffer.alloc(24);
        h.write(magic, 0, 'latin1');
        h.writeUInt32LE(1024, 4);
        h.writeUInt32LE(cbExp, 8);
        h.writeUInt32LE(cbMod, 12);
        h.writeUInt32LE(cbP1, 16);
        h.writeUInt32LE(cbP2, 20);
        return h;
      };
      expectCryptError(() => decodeBcryptRsaBlob(Buffer.concat([header('RSA1', 3, 0, 0, 0), Buffer.from([1, 0, 1])])), 'NTE_BAD_DATA');
      expectCryptError(() => decodeBcryptRsaBlob(Buffer.concat([header('RSA1', 0, 128, 0, 0), b64(k1024.jwk.n)])), 'NTE_BAD_DATA');
      const p = b64(k1024.jwk.p);
      const body = Buffer.concat([Buffer.from([1, 0, 1]), b64(k1024.jwk.n), p]);
      expectCryptError(() => decodeBcryptRsaBlob(Buffer.concat([header('RSA2', 3, 128, 64, 0), body])), 'NTE_BAD_DATA');
      expectCryptError(() => decodeBcryptRsaBlob(Buffer.concat([header('RSA2', 3, 128, 0, 64), body])), 'NTE_BAD_DATA');
    });

    it('a public exponent or modulus whose bytes are all zero', () => {
      const zeroExponent = pub();
      zeroExponent.fill(0, 24, 27);
      expectCryptError(() => decodeBcryptRsaBlob(zeroExponent), 'NTE_BAD_DATA');
      const zeroModulus = pub();
      zeroModulus.fill(0, 27);
      expectCryptError(() => decodeBcryptRsaBlob(zeroModulus), 'NTE_BAD_DATA');
    });

    it('primes whose product is not the modulus', () => {
      const blob = priv();
      blob[blob.length - 1]! ^= 0x02;
      expectCryptError(() => decodeBcryptRsaBlob(blob), 'NTE_BAD_DATA');
      const swapped = full();
      swapped[24 + 3 + 5]! ^= 0x01;
      expectCryptError(() => decodeBcryptRsaBlob(swapped), 'NTE_BAD_DATA');
    });

    /** An RSA2 blob of small numbers, for the checks that need a consistent p·q = n. */
    const smallPrivate = (e: number, p: number, q: number): Buffer => {
      const bytes = (value: number): Buffer => Buffer.from(value.toString(16).padStart(value.toString(16).length + (value.toString(16).length % 2), '0'), 'hex');
      const [eb, nb, pb, qb] = [bytes(e), bytes(p * q), bytes(p), bytes(q)];
      const h = Buffer.alloc(24);
      h.write('RSA2', 0, 'latin1');
      h.writeUInt32LE(nb.length * 8, 4);
      h.writeUInt32LE(eb.length, 8);
      h.writeUInt32LE(nb.length, 12);
      h.writeUInt32LE(pb.length, 16);
      h.writeUInt32LE(qb.length, 20);
      return Buffer.concat([h, eb, nb, pb, qb]);
    };

    it('RSA2 numbers that do not form an RSA key: a prime of 1, e sharing a factor with λ, a composite "prime"', () => {
      expectCryptError(() => keyObjectFromBcryptRsaBlob(smallPrivate(65537, 1, 3233)), 'NTE_BAD_DATA');
      expectCryptError(() => keyObjectFromBcryptRsaBlob(smallPrivate(2, 61, 53)), 'NTE_BAD_DATA');
      // 25 · 3: e = 5 is invertible modulo lcm(24, 2) = 24, but 25 is not prime, so 2^(e·d) ≢ 2 (mod 75).
      expectCryptError(() => keyObjectFromBcryptRsaBlob(smallPrivate(5, 25, 3)), 'NTE_BAD_DATA');
      // The genuine small key 61 · 53, e = 17 passes the same checks.
      assert.equal(keyObjectFromBcryptRsaBlob(smallPrivate(17, 61, 53)).type, 'private');
    });

    it('SPKI input that is not bytes, not DER, or not RSA', () => {
      expectCryptError(() => bcryptRsaPublicBlobFromSpki('spki' as unknown as Uint8Array), 'NTE_BAD_DATA');
      expectCryptError(() => bcryptRsaPublicBlobFromSpki(Buffer.from('3003020100', 'hex')), 'NTE_BAD_DATA');
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
      expectCryptError(() => bcryptRsaPublicBlobFromSpki(ec), 'NTE_BAD_DATA');
    });
  });

  it('an unknown Magic is NTE_INVALID_PARAMETER, as NCryptImportKey reports it (reference §5 N19)', () => {
    const blob = blobFromJwk(k1024.jwk, 1024, 'RSA1');
    blob.write('RSA4', 0, 'latin1');
    expectCryptError(() => decodeBcryptRsaBlob(blob), 'NTE_INVALID_PARAMETER');
    blob.write('ECS1', 0, 'latin1');
    expectCryptError(() => decodeBcryptRsaBlob(blob), 'NTE_INVALID_PARAMETER');
  });

  describe('encoding refuses unusable input', () => {
    it('unknown blob type → NTE_BAD_TYPE', () => {
      expectCryptError(() => bcryptRsaBlobFromKeyObject(k1024.privateKey, 'CAPIPUBLICBLOB' as BcryptRsaBlobType), 'NTE_BAD_TYPE');
      expectCryptError(() => decodeBcryptRsaBlob(blobFromJwk(k1024.jwk, 1024, 'RSA1'), 'ECCPUBLICBLOB' as BcryptRsaBlobType), 'NTE_BAD_TYPE');
    });

    it('a private blob of a public key, a non-RSA key, zero or oversized numbers → NTE_INVALID_PARAMETER', () => {
      expectCryptError(() => bcryptRsaBlobFromKeyObject(k1024.publicKey, 'RSAPRIVATEBLOB'), 'NTE_INVALID_PARAMETER');
      expectCryptError(() => bcryptRsaBlobFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'RSAPUBLICBLOB'), 'NTE_INVALID_PARAMETER');
      expectCryptError(() => encodeBcryptRsaPublicBlob({ modulus: Buffer.alloc(128), publicExponent: Buffer.from([1, 0, 1]) }), 'NTE_INVALID_PARAMETER');
      expectCryptError(() => encodeBcryptRsaPublicBlob({ modulus: b64(k1024.jwk.n), publicExponent: 'AQAB' as unknown as Uint8Array }), 'NTE_INVALID_PARAMETER');
      expectCryptError(() => encodeBcryptRsaFullPrivateBlob({
        modulus: b64(k1024.jwk.n), publicExponent: b64(k1024.jwk.e), prime1: b64(k1024.jwk.p), prime2: b64(k1024.jwk.q),
        exponent1: Buffer.concat([Buffer.from([1]), b64(k1024.jwk.dp)]), exponent2: b64(k1024.jwk.dq), coefficient: b64(k1024.jwk.qi),
        privateExponent: b64(k1024.jwk.d),
      }), 'NTE_INVALID_PARAMETER');
      expectCryptError(() => bcryptRsaBlobFromJwk({ kty: 'RSA', n: k1024.jwk.n, e: k1024.jwk.e, d: k1024.jwk.d, p: k1024.jwk.p, q: k1024.jwk.q }, 'RSAFULLPRIVATEBLOB'), 'NTE_INVALID_PARAMETER');
    });

    it('drops leading zero bytes of every number', () => {
      const padded = encodeBcryptRsaPublicBlob({ modulus: Buffer.concat([Buffer.alloc(2), b64(k1024.jwk.n)]), publicExponent: Buffer.from([0, 1, 0, 1]) });
      assert.deepEqual(padded, blobFromJwk(k1024.jwk, 1024, 'RSA1'));
    });
  });
});
