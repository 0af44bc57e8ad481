import { strict as assert } from 'node:assert';
import { constants, createHash, generateKeyPairSync, publicDecrypt, sign } from 'node:crypto';
import { createHashState } from '../../csp-legacy/hash-state.js';
import { expectCryptError } from '../minidriver/expect-crypt-error.js';

// ALG_IDs typed from cryptoapi-cng.md §1.2, not imported from the module under test.
const CALG_MD2 = 0x8001;
const CALG_MD4 = 0x8002;
const CALG_MD5 = 0x8003;
const CALG_SHA1 = 0x8004;
const CALG_MAC = 0x8005;
const CALG_SSL3_SHAMD5 = 0x8008;
const CALG_HMAC = 0x8009;
const CALG_SHA_256 = 0x800c;
const CALG_SHA_384 = 0x800d;
const CALG_SHA_512 = 0x800e;
const CALG_AES_256 = 0x6610;
const CALG_RSA_SIGN = 0x2400;
const CRYPT_USERDATA = 1;

/** FIPS 180-2 / RFC 1321 vectors: the digests of "abc" and of empty input. */
const VECTORS = [
  {
    algId: CALG_MD5, node: 'md5', size: 16,
    abc: '900150983cd24fb0d6963f7d28e17f72', empty: 'd41d8cd98f00b204e9800998ecf8427e',
  },
  {
    algId: CALG_SHA1, node: 'sha1', size: 20,
    abc: 'a9993e364706816aba3e25717850c26c9cd0d89d', empty: 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  },
  {
    algId: CALG_SHA_256, node: 'sha256', size: 32,
    abc: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    empty: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  },
  {
    algId: CALG_SHA_384, node: 'sha384', size: 48,
    abc: 'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
    empty: '38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b',
  },
  {
    algId: CALG_SHA_512, node: 'sha512', size: 64,
    abc: 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    empty: 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
  },
];

/** The DER DigestInfo prefixes of PKCS#1 (RFC 8017 §9.2 note 1), written out here. */
const DIGEST_INFO_PREFIX: Record<number, string> = {
  [CALG_MD5]: '3020300c06082a864886f70d020505000410',
  [CALG_SHA1]: '3021300906052b0e03021a05000414',
  [CALG_SHA_256]: '3031300d060960864801650304020105000420',
  [CALG_SHA_384]: '3041300d060960864801650304020205000430',
  [CALG_SHA_512]: '3051300d060960864801650304020305000440',
};

describe('csp-legacy hash state (CryptCreateHash ... HP_HASHVAL)', () => {
  for (const v of VECTORS) {
    describe(`ALG_ID 0x${v.algId.toString(16)} (${v.node})`, () => {
      it('reports HP_ALGID and HP_HASHSIZE and hashes the known "abc" vector', () => {
        const h = createHashState(v.algId, 'CryptCreateHash');
        assert.equal(h.algId, v.algId);
        assert.equal(h.size, v.size);
        assert.equal(h.finished, false);
        h.update(Buffer.from('abc'), 0);
        assert.equal(h.value().toString('hex'), v.abc);
      });

      it('data given in pieces (and as a Uint8Array view) hashes as one piece', () => {
        const data = Buffer.from('The quick brown fox jumps over the lazy dog, several times over. '.repeat(5));
        const h = createHashState(v.algId, 'CryptCreateHash');
        const backing = new Uint8Array(data.length + 10);
        backing.set(data, 5);
        const view = backing.subarray(5, 5 + data.length);
        h.update(view.subarray(0, 7), 0);
        h.update(view.subarray(7, 7), 0);
        h.update(view.subarray(7, 100), CRYPT_USERDATA);
        h.update(view.subarray(100), 0);
        assert.deepEqual(h.value(), createHash(v.node).update(data).digest());
      });

      it('H1: the value of a hash fed nothing is the empty-input digest', () => {
        assert.equal(createHashState(v.algId, 'CryptCreateHash').value().toString('hex'), v.empty);
      });

      it('digestInfo() is the DER DigestInfo a node:crypto PKCS#1 v1.5 signature carries', () => {
        const h = createHashState(v.algId, 'CryptCreateHash');
        h.update(Buffer.from('abc'), 0);
        const info = h.digestInfo();
        assert.equal(info.toString('hex'), DIGEST_INFO_PREFIX[v.algId] + v.abc);
        const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
        const signature = sign(v.node, Buffer.from('abc'), privateKey);
        assert.deepEqual(publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature), info);
        assert.equal(h.finished, true, 'building the DigestInfo finishes the hash');
      });
    });
  }

  it('H1: HP_HASHVAL finishes the hash; reading again gives the same value; more data is NTE_BAD_HASH_STATE', () => {
    const h = createHashState(CALG_SHA_256, 'CryptCreateHash');
    h.update(Buffer.from('ab'), 0);
    const first = h.value();
    assert.equal(h.finished, true);
    assert.deepEqual(h.value(), first);
    assert.deepEqual(h.value(), first);
    const err = expectCryptError(() => h.update(Buffer.from('c'), 0), 'NTE_BAD_HASH_STATE');
    assert.equal(err.operation, 'CryptHashData');
    assert.equal(err.code, 0x8009000c);
    assert.deepEqual(h.value(), createHash('sha256').update('ab').digest(), 'the refused data was not hashed');
    expectCryptError(() => h.update(Buffer.alloc(0), 0), 'NTE_BAD_HASH_STATE');
  });

  it('value() hands out copies: changing one does not change the hash value', () => {
    const h = createHashState(CALG_SHA1, 'CryptCreateHash');
    const v1 = h.value();
    v1.fill(0);
    assert.equal(h.value().toString('hex'), VECTORS[1]!.empty);
  });

  it('H2: CryptHashData flags other than 0 / CRYPT_USERDATA are NTE_BAD_FLAGS, checked before the state', () => {
    const h = createHashState(CALG_MD5, 'CryptCreateHash');
    for (const flags of [2, 4, 0x40, 0x80000000, 0xffffffff, -1, 1.5, Number.NaN]) {
      expectCryptError(() => h.update(Buffer.from('x'), flags), 'NTE_BAD_FLAGS');
    }
    assert.equal(h.finished, false);
    assert.equal(h.value().toString('hex'), VECTORS[0]!.empty, 'nothing was hashed by the refused calls');
    expectCryptError(() => h.update(Buffer.from('x'), 2), 'NTE_BAD_FLAGS');
  });

  it('data that is not bytes is ERROR_INVALID_PARAMETER', () => {
    const h = createHashState(CALG_SHA1, 'CryptCreateHash');
    expectCryptError(() => h.update('abc' as unknown as Uint8Array, 0), 'ERROR_INVALID_PARAMETER');
    expectCryptError(() => h.update(null as unknown as Uint8Array, 0), 'ERROR_INVALID_PARAMETER');
    expectCryptError(() => h.setValue([1, 2] as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
  });

  describe('setting HP_HASHVAL', () => {
    it('sets the value to sign and finishes the hash', () => {
      const h = createHashState(CALG_SHA_256, 'CryptCreateHash');
      h.update(Buffer.from('ignored'), 0);
      const value = Buffer.alloc(32, 0xab);
      h.setValue(value);
      value.fill(0);
      assert.equal(h.finished, true);
      assert.deepEqual(h.value(), Buffer.alloc(32, 0xab), 'the hash keeps its own copy');
      expectCryptError(() => h.update(Buffer.from('more'), 0), 'NTE_BAD_HASH_STATE');
      assert.equal(h.digestInfo().toString('hex'), DIGEST_INFO_PREFIX[CALG_SHA_256] + 'ab'.repeat(32));
    });

    it('a value of the wrong length is NTE_BAD_LEN and leaves the hash as it was', () => {
      const h = createHashState(CALG_SHA1, 'CryptCreateHash');
      h.update(Buffer.from('a'), 0);
      for (const length of [0, 19, 21, 32]) {
        const err = expectCryptError(() => h.setValue(Buffer.alloc(length)), 'NTE_BAD_LEN');
        assert.equal(err.operation, 'CryptSetHashParam');
      }
      assert.equal(h.finished, false);
      h.update(Buffer.from('bc'), 0);
      assert.equal(h.value().toString('hex'), VECTORS[1]!.abc);
    });

    it('may be set again on a finished hash; the new value replaces the old', () => {
      const h = createHashState(CALG_MD5, 'CryptCreateHash');
      h.value();
      h.setValue(Buffer.alloc(16, 1));
      assert.deepEqual(h.value(), Buffer.alloc(16, 1));
    });
  });

  describe('CALG_SSL3_SHAMD5 (H4)', () => {
    it('is 36 bytes, cannot hash data (NTE_BAD_ALGID), and takes its value through HP_HASHVAL', () => {
      const h = createHashState(CALG_SSL3_SHAMD5, 'CryptCreateHash');
      assert.equal(h.algId, CALG_SSL3_SHAMD5);
      assert.equal(h.size, 36);
      const err = expectCryptError(() => h.update(Buffer.from('abc'), 0), 'NTE_BAD_ALGID');
      assert.match(err.message, /HP_HASHVAL/);
      const md5sha1 = Buffer.concat([createHash('md5').update('abc').digest(), createHash('sha1').update('abc').digest()]);
      h.setValue(md5sha1);
      assert.deepEqual(h.value(), md5sha1);
      assert.deepEqual(h.digestInfo(), md5sha1, 'signed with no DigestInfo');
      expectCryptError(() => h.update(Buffer.from('abc'), 0), 'NTE_BAD_ALGID');
    });

    it('flags are checked before the algorithm', () => {
      const h = createHashState(CALG_SSL3_SHAMD5, 'CryptCreateHash');
      expectCryptError(() => h.update(Buffer.from('abc'), 2), 'NTE_BAD_FLAGS');
    });

    it('has no value to read before one is set (NTE_BAD_HASH_STATE), and refuses values that are not 36 bytes', () => {
      const h = createHashState(CALG_SSL3_SHAMD5, 'CryptCreateHash');
      const err = expectCryptError(() => h.value('CryptSignHash'), 'NTE_BAD_HASH_STATE');
      assert.equal(err.operation, 'CryptSignHash');
      expectCryptError(() => h.digestInfo(), 'NTE_BAD_HASH_STATE');
      assert.equal(h.finished, false);
      expectCryptError(() => h.setValue(Buffer.alloc(35)), 'NTE_BAD_LEN');
      expectCryptError(() => h.setValue(Buffer.alloc(20)), 'NTE_BAD_LEN');
      h.setValue(Buffer.alloc(36, 7));
      assert.equal(h.finished, true);
    });
  });

  it('offers SHA-256/384/512 although the provider type is PROV_RSA_FULL (the smart card CSP, unlike H3)', () => {
    for (const algId of [CALG_SHA_256, CALG_SHA_384, CALG_SHA_512]) assert.equal(createHashState(algId, 'CryptCreateHash').algId, algId);
  });

  it('refuses keyed hashes, MD2, MD4 and non-hash ALG_IDs with NTE_BAD_ALGID, naming what is offered', () => {
    for (const algId of [CALG_HMAC, CALG_MAC, CALG_MD2, CALG_MD4, CALG_AES_256, CALG_RSA_SIGN, 0, 0x800a, 0xffffffff]) {
      const err = expectCryptError(() => createHashState(algId, 'CryptCreateHash'), 'NTE_BAD_ALGID');
      assert.equal(err.operation, 'CryptCreateHash');
      assert.match(err.message, /CALG_SHA_256/);
      assert.match(err.message, /CALG_SSL3_SHAMD5/);
    }
    assert.match(expectCryptError(() => createHashState(CALG_HMAC, 'CryptCreateHash'), 'NTE_BAD_ALGID').message, /keyed hashes/);
  });
});
