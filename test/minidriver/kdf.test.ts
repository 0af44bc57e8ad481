import { strict as assert } from 'node:assert';
import { createECDH, createHash, createHmac } from 'node:crypto';
import {
  BCRYPT_KDF_HASH, BCRYPT_KDF_HMAC, BCRYPT_KDF_RAW_SECRET, BCRYPT_KDF_SP80056A_CONCAT, BCRYPT_KDF_TLS_PRF,
  KDF_ALGORITHMID, KDF_HASH_ALGORITHM, KDF_HMAC_KEY, KDF_PARTYUINFO, KDF_PARTYVINFO, KDF_SECRET_APPEND, KDF_SECRET_PREPEND,
  KDF_SUPPPRIVINFO, KDF_SUPPPUBINFO, KDF_USE_SECRET_AS_HMAC_KEY_FLAG, deriveKeyFromSecret,
} from '../../minidriver/kdf.js';
import type { KdfParameter } from '../../minidriver/structures.js';
import { expectCryptError } from './expect-crypt-error.js';

const hex = (value: string): Buffer => Buffer.from(value, 'hex');
/** A CNG string parameter as Windows passes it: UTF-16LE with the NUL terminator. */
const wide = (value: string): Buffer => Buffer.from(`${value}\0`, 'utf16le');

const Z32 = hex('5f3a1c9e0d7b24680aceb13579bdf02468ace13579bdf02468ace13579bdf024');
const Z48 = Buffer.from(Array.from({ length: 48 }, (_, i) => 255 - i));
const Z66 = Buffer.from(Array.from({ length: 66 }, (_, i) => (i * 13 + 1) & 0xff));

/** SP 800-56A concatenation KDF written out directly: H(counter || Z || otherInfo) blocks, cut to keyLen. */
function concatKdf(nodeHash: string, z: Buffer, otherInfo: Buffer, keyLen: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 1; Buffer.concat(blocks).length < keyLen; i++) {
    blocks.push(createHash(nodeHash).update(Buffer.from([0, 0, 0, i])).update(z).update(otherInfo).digest());
  }
  return Buffer.concat(blocks).subarray(0, keyLen);
}

describe('minidriver KDFs (CardDeriveKey over a raw ECDH secret)', () => {
  it('uses the cryptoapi-cng.md §1.10 buffer type values and bcrypt.h names', () => {
    assert.deepEqual(
      [KDF_HASH_ALGORITHM, KDF_SECRET_PREPEND, KDF_SECRET_APPEND, KDF_HMAC_KEY, KDF_ALGORITHMID, KDF_PARTYUINFO, KDF_PARTYVINFO, KDF_SUPPPUBINFO, KDF_SUPPPRIVINFO],
      [0, 1, 2, 3, 8, 9, 10, 11, 12],
    );
    assert.deepEqual([BCRYPT_KDF_HASH, BCRYPT_KDF_HMAC, BCRYPT_KDF_SP80056A_CONCAT, BCRYPT_KDF_RAW_SECRET], ['HASH', 'HMAC', 'SP800_56A_CONCAT', 'TRUNCATE']);
    assert.equal(KDF_USE_SECRET_AS_HMAC_KEY_FLAG, 1);
  });

  describe('HASH', () => {
    it('defaults to SHA1(Z)', () => {
      const expected = createHash('sha1').update(Z32).digest();
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, null), expected);
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, []), expected);
    });

    it('takes the hash as a JS string or as UTF-16LE bytes with NUL', () => {
      const expected = createHash('sha256').update(Z32).digest();
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, [{ type: KDF_HASH_ALGORITHM, value: 'SHA256' }]), expected);
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, [{ type: KDF_HASH_ALGORITHM, value: wide('SHA256') }]), expected);
      assert.deepEqual(
        deriveKeyFromSecret('HASH', Z32, [{ type: KDF_HASH_ALGORITHM, value: wide('SHA512') }]),
        createHash('sha512').update(Z32).digest(),
      );
    });

    it('concatenates PREPEND and APPEND buffers in list order (the BCryptDeriveKey remarks example)', () => {
      const params: KdfParameter[] = [
        { type: KDF_SECRET_APPEND, value: hex('01') },
        { type: KDF_SECRET_PREPEND, value: hex('0405') },
        { type: KDF_SECRET_APPEND, value: hex('101112') },
        { type: KDF_SECRET_PREPEND, value: hex('20212223') },
        { type: KDF_HASH_ALGORITHM, value: 'SHA384' },
      ];
      const expected = createHash('sha384').update(Buffer.concat([hex('040520212223'), Z32, hex('01101112')])).digest();
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, params), expected);
    });

    it('cuts the digest to a smaller keyLen and never pads past it', () => {
      const full = createHash('sha1').update(Z32).digest();
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, null, 16), full.subarray(0, 16));
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, null, 64), full);
      assert.deepEqual(deriveKeyFromSecret('HASH', Z32, null, 0), full);
    });
  });

  describe('HMAC', () => {
    it('is HMAC_key(prepend || Z || append) with KDF_HMAC_KEY', () => {
      const key = hex('000102030405060708090a0b0c0d0e0f');
      const params: KdfParameter[] = [
        { type: KDF_HASH_ALGORITHM, value: wide('SHA256') },
        { type: KDF_HMAC_KEY, value: key },
        { type: KDF_SECRET_PREPEND, value: hex('aa') },
        { type: KDF_SECRET_APPEND, value: hex('bbcc') },
      ];
      const expected = createHmac('sha256', key).update(Buffer.concat([hex('aa'), Z32, hex('bbcc')])).digest();
      assert.deepEqual(deriveKeyFromSecret('HMAC', Z32, params), expected);
    });

    it('keys the HMAC with Z under KDF_USE_SECRET_AS_HMAC_KEY_FLAG, SHA1 by default', () => {
      const expected = createHmac('sha1', Z32).update(Z32).digest();
      assert.deepEqual(deriveKeyFromSecret('HMAC', Z32, null, 0, KDF_USE_SECRET_AS_HMAC_KEY_FLAG), expected);
      assert.deepEqual(deriveKeyFromSecret('HMAC', Z32, null, 8, KDF_USE_SECRET_AS_HMAC_KEY_FLAG), expected.subarray(0, 8));
    });

    it('refuses to guess a key when neither KDF_HMAC_KEY nor the flag is given, and refuses both', () => {
      expectCryptError(() => deriveKeyFromSecret('HMAC', Z32, null), 'SCARD_E_INVALID_PARAMETER');
      expectCryptError(
        () => deriveKeyFromSecret('HMAC', Z32, [{ type: KDF_HMAC_KEY, value: hex('01') }], 0, KDF_USE_SECRET_AS_HMAC_KEY_FLAG),
        'SCARD_E_INVALID_PARAMETER',
      );
    });
  });

  describe('SP800_56A_CONCAT', () => {
    const algorithmId = hex('0a0b');
    const partyU = Buffer.from('Alice');
    const partyV = Buffer.from('Bob');
    const base: KdfParameter[] = [
      { type: KDF_ALGORITHMID, value: algorithmId },
      { type: KDF_PARTYUINFO, value: partyU },
      { type: KDF_PARTYVINFO, value: partyV },
    ];

    it('picks the hash from the curve: SHA256 for a 32-byte Z, one digest by default', () => {
      const otherInfo = Buffer.concat([algorithmId, partyU, partyV]);
      assert.deepEqual(deriveKeyFromSecret('SP800_56A_CONCAT', Z32, base), concatKdf('sha256', Z32, otherInfo, 32));
      assert.deepEqual(deriveKeyFromSecret('SP800_56A_CONCAT', Z48, base, 48), concatKdf('sha384', Z48, otherInfo, 48));
      assert.deepEqual(deriveKeyFromSecret('SP800_56A_CONCAT', Z66, base, 64), concatKdf('sha512', Z66, otherInfo, 64));
    });

    it('counts blocks from 1 and cuts to keyLen, with SuppPubInfo and SuppPrivInfo appended', () => {
      const params: KdfParameter[] = [
        ...base,
        { type: KDF_SUPPPUBINFO, value: hex('00000100') },
        { type: KDF_SUPPPRIVINFO, value: hex('ff') },
      ];
      const otherInfo = Buffer.concat([algorithmId, partyU, partyV, hex('00000100'), hex('ff')]);
      const derived = deriveKeyFromSecret('SP800_56A_CONCAT', Z32, params, 80);
      assert.equal(derived.length, 80);
      assert.deepEqual(derived, concatKdf('sha256', Z32, otherInfo, 80));
      const firstBlock = createHash('sha256').update(hex('00000001')).update(Z32).update(otherInfo).digest();
      assert.deepEqual(derived.subarray(0, 32), firstBlock);
      assert.deepEqual(deriveKeyFromSecret('SP800_56A_CONCAT', Z32, params, 10), firstBlock.subarray(0, 10));
    });

    it('honours an explicit KDF_HASH_ALGORITHM and accepts zero-length required buffers', () => {
      const params: KdfParameter[] = [
        { type: KDF_ALGORITHMID, value: Buffer.alloc(0) },
        { type: KDF_PARTYUINFO, value: partyU },
        { type: KDF_PARTYVINFO, value: Buffer.alloc(0) },
        { type: KDF_HASH_ALGORITHM, value: wide('SHA1') },
      ];
      assert.deepEqual(deriveKeyFromSecret('SP800_56A_CONCAT', Z32, params, 30), concatKdf('sha1', Z32, partyU, 30));
    });

    it('requires AlgorithmID, PartyUInfo and PartyVInfo', () => {
      for (const missing of [KDF_ALGORITHMID, KDF_PARTYUINFO, KDF_PARTYVINFO]) {
        expectCryptError(() => deriveKeyFromSecret('SP800_56A_CONCAT', Z32, base.filter((p) => p.type !== missing)), 'SCARD_E_INVALID_PARAMETER');
      }
    });

    it('needs a hash when Z has no curve size', () => {
      expectCryptError(() => deriveKeyFromSecret('SP800_56A_CONCAT', Buffer.alloc(20, 1), base), 'SCARD_E_INVALID_PARAMETER');
    });
  });

  describe('TRUNCATE', () => {
    it('returns Z little-endian, cut to keyLen', () => {
      assert.deepEqual(deriveKeyFromSecret('TRUNCATE', hex('010203040506'), null), hex('060504030201'));
      assert.deepEqual(deriveKeyFromSecret('TRUNCATE', hex('010203040506'), null, 4), hex('06050403'));
      assert.deepEqual(deriveKeyFromSecret('TRUNCATE', hex('010203040506'), [], 100), hex('060504030201'));
    });

    it('does not modify the caller secret', () => {
      const z = hex('0a0b0c');
      deriveKeyFromSecret('TRUNCATE', z, null);
      assert.deepEqual(z, hex('0a0b0c'));
    });
  });

  it('derives from a real ECDH secret as both parties would', () => {
    const alice = createECDH('prime256v1');
    const bob = createECDH('prime256v1');
    alice.generateKeys();
    bob.generateKeys();
    const z = alice.computeSecret(bob.getPublicKey());
    assert.deepEqual(deriveKeyFromSecret('HASH', z, [{ type: KDF_HASH_ALGORITHM, value: 'SHA256' }]), createHash('sha256').update(bob.computeSecret(alice.getPublicKey())).digest());
    assert.deepEqual(Buffer.from(deriveKeyFromSecret('TRUNCATE', z, null)).reverse(), z);
  });

  describe('errors', () => {
    it('answers SCARD_E_UNSUPPORTED_FEATURE for KDFs it does not implement', () => {
      for (const kdf of ['FOO', BCRYPT_KDF_TLS_PRF, 'HKDF', 'hash', 'toString', '']) {
        expectCryptError(() => deriveKeyFromSecret(kdf, Z32, null), 'SCARD_E_UNSUPPORTED_FEATURE');
      }
    });

    it('answers SCARD_E_INVALID_PARAMETER for bad parameters', () => {
      const code = 'SCARD_E_INVALID_PARAMETER';
      const cases: [string, KdfParameter[] | null, number?, number?][] = [
        ['HASH', [{ type: 99, value: hex('00') }]],
        ['HASH', [{ type: KDF_ALGORITHMID, value: hex('00') }]],
        ['HASH', [{ type: KDF_HMAC_KEY, value: hex('00') }]],
        ['HASH', [{ type: 4, value: hex('00') }]],
        ['HASH', [{ type: KDF_HASH_ALGORITHM, value: 'SHA1' }, { type: KDF_HASH_ALGORITHM, value: 'SHA256' }]],
        ['HASH', [{ type: KDF_HASH_ALGORITHM, value: 'MD4' }]],
        ['HASH', [{ type: KDF_HASH_ALGORITHM, value: hex('530048') }]],
        ['HASH', [{ type: KDF_SECRET_PREPEND, value: 'abc' }]],
        ['HASH', [{ type: KDF_SECRET_PREPEND } as unknown as KdfParameter]],
        ['HASH', [{ type: 1.5, value: hex('00') }]],
        ['HASH', [null as unknown as KdfParameter]],
        ['HASH', 'params' as unknown as KdfParameter[]],
        ['HASH', null, -1],
        ['HASH', null, 1.5],
        ['HASH', null, 0x10001],
        ['HASH', null, 0, 2],
        ['SP800_56A_CONCAT', [{ type: KDF_HMAC_KEY, value: hex('00') }]],
        ['SP800_56A_CONCAT', [{ type: KDF_ALGORITHMID, value: hex('00') }, { type: KDF_ALGORITHMID, value: hex('01') }, { type: KDF_PARTYUINFO, value: hex('') }, { type: KDF_PARTYVINFO, value: hex('') }]],
        ['TRUNCATE', [{ type: KDF_HASH_ALGORITHM, value: 'SHA1' }]],
      ];
      for (const [kdf, params, keyLen, flags] of cases) {
        expectCryptError(() => deriveKeyFromSecret(kdf, Z32, params, keyLen, flags), code);
      }
      expectCryptError(() => deriveKeyFromSecret('HASH', Buffer.alloc(0), null), code);
      expectCryptError(() => deriveKeyFromSecret('TRUNCATE', 'secret' as unknown as Buffer, null), code);
    });
  });
});
