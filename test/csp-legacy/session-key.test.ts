import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CSP_ALGORITHMS, cipherByAlgId, hashRowByAlgId } from '../../csp-legacy/algorithms.js';
import { generateSessionKey, importSessionKey, type SessionKey } from '../../csp-legacy/session-key.js';
import { expectCryptError } from '../minidriver/expect-crypt-error.js';

// Values typed from cryptoapi-cng.md §1.1, §1.2, §1.4, not imported from the module under test.
const CALG_AES_128 = 0x660e;
const CALG_AES_192 = 0x660f;
const CALG_AES_256 = 0x6610;
const CALG_AES = 0x6611;
const CALG_3DES = 0x6603;
const CALG_3DES_112 = 0x6609;
const CALG_DES = 0x6601;
const CALG_RC2 = 0x6602;
const CALG_RC4 = 0x6801;
const CALG_SHA1 = 0x8004;
const CALG_RSA_KEYX = 0xa400;
const CRYPT_EXPORTABLE = 0x1;
const CRYPT_USER_PROTECTED = 0x2;
const CRYPT_CREATE_SALT = 0x4;
const CRYPT_NO_SALT = 0x10;
const CRYPT_PREGEN = 0x40;
const CRYPT_IPSEC_HMAC_KEY = 0x100;
const CRYPT_SGCKEY = 0x2000;
const CRYPT_ARCHIVABLE = 0x4000;
const CRYPT_OAEP = 0x40;
const KP_IV = 1;
const KP_SALT = 2;
const KP_PADDING = 3;
const KP_MODE = 4;
const KP_MODE_BITS = 5;
const KP_PERMISSIONS = 6;
const KP_ALGID = 7;
const KP_BLOCKLEN = 8;
const KP_KEYLEN = 9;
const KP_SALT_EX = 10;
const KP_EFFECTIVE_KEYLEN = 19;
const KP_CERTIFICATE = 26;
const CRYPT_EXPORT = 0x4;
const CRYPT_MODE_CBC = 1;
const CRYPT_MODE_ECB = 2;
const CRYPT_MODE_OFB = 3;
const CRYPT_MODE_CFB = 4;
const PKCS5_PADDING = 1;
const RANDOM_PADDING = 2;
const ZERO_PADDING = 3;

interface Case {
  algId: number;
  label: string;
  key: Buffer;
  block: number;
  keyBits: number;
  effectiveBits: number;
  /** openssl enc cipher name without the mode. */
  openssl: string;
}

const CASES: Case[] = [
  { algId: CALG_AES_128, label: 'AES-128', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'), block: 16, keyBits: 128, effectiveBits: 128, openssl: 'aes-128' },
  { algId: CALG_AES_192, label: 'AES-192', key: Buffer.from('8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', 'hex'), block: 16, keyBits: 192, effectiveBits: 192, openssl: 'aes-192' },
  { algId: CALG_AES_256, label: 'AES-256', key: Buffer.from('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 'hex'), block: 16, keyBits: 256, effectiveBits: 256, openssl: 'aes-256' },
  { algId: CALG_3DES, label: '3DES', key: Buffer.from('0123456789abcdef23456789abcdef01456789abcdef0123', 'hex'), block: 8, keyBits: 192, effectiveBits: 168, openssl: 'des-ede3' },
  // openssl's des-ede is two-key Triple DES: an implementation of K1 K2 K1 independent of ours.
  { algId: CALG_3DES_112, label: '3DES_112', key: Buffer.from('0123456789abcdeffedcba9876543210', 'hex'), block: 8, keyBits: 128, effectiveBits: 112, openssl: 'des-ede' },
];

const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;

/** `openssl enc` over `data`: the reference implementation for every ciphertext below. */
function openssl(cipher: string, key: Buffer, iv: Buffer | null, data: Buffer, options: { decrypt?: boolean; nopad?: boolean } = {}): Buffer {
  const args = ['enc', options.decrypt ? '-d' : '-e', `-${cipher}`, '-K', key.toString('hex')];
  if (iv !== null) args.push('-iv', iv.toString('hex'));
  if (options.nopad) args.push('-nopad');
  const run = spawnSync('openssl', args, { input: data });
  assert.equal(run.status, 0, `openssl ${args.join(' ')} failed: ${run.stderr?.toString()}`);
  return run.stdout;
}

function requireOpenssl(ctx: Mocha.Context): void {
  if (!HAVE_OPENSSL) ctx.skip();
}

/** PKCS#5 padding written out here, for the modes openssl runs without padding (CFB). */
function pad(data: Buffer, block: number): Buffer {
  const n = block - (data.length % block);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

function message(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff));
}

describe('csp-legacy session keys (CryptGenKey / CryptImportKey, CryptEncrypt / CryptDecrypt)', () => {
  const live: SessionKey[] = [];
  const keep = (key: SessionKey): SessionKey => {
    live.push(key);
    return key;
  };
  const imported = (c: Case, flags = 0): SessionKey => keep(importSessionKey(c.algId, c.key, flags, 'CryptImportKey'));
  afterEach(() => {
    for (const key of live.splice(0)) key.destroy();
  });

  describe('the algorithm table', () => {
    it('lists the session ciphers with their stored, effective and block lengths', () => {
      assert.deepEqual(CSP_ALGORITHMS.filter((a) => a.kind === 'cipher').map((a) => a.algId).sort(), [CALG_3DES, CALG_3DES_112, CALG_AES_128, CALG_AES_192, CALG_AES_256].sort());
      for (const c of CASES) {
        const row = cipherByAlgId(c.algId)!;
        assert.equal(row.keyBytes * 8, c.keyBits);
        assert.equal(row.effectiveBits, c.effectiveBits);
        assert.equal(row.blockBytes, c.block);
        assert.equal(row.defaultBits, c.effectiveBits, 'PROV_ENUMALGS reports the effective length');
      }
      for (const algId of [CALG_AES, CALG_DES, CALG_RC2, CALG_RC4, CALG_SHA1]) assert.equal(cipherByAlgId(algId), undefined);
      assert.equal(hashRowByAlgId(CALG_SHA1)?.defaultBits, 160);
      assert.equal(hashRowByAlgId(CALG_AES_128), undefined);
    });

    it('has names that fit PROV_ENUMALGS_EX (szName[20], szLongName[40], NUL included) and one row per ALG_ID', () => {
      for (const row of CSP_ALGORITHMS) {
        assert.ok(row.name.length <= 19 && /^[\x20-\x7e]+$/.test(row.name), row.name);
        assert.ok(row.longName.length <= 39 && /^[\x20-\x7e]+$/.test(row.longName), row.longName);
      }
      assert.equal(new Set(CSP_ALGORITHMS.map((row) => row.algId)).size, CSP_ALGORITHMS.length);
      assert.deepEqual(CSP_ALGORITHMS.filter((row) => row.kind === 'rsa').map((row) => row.algId), [0x2400, CALG_RSA_KEYX]);
    });
  });

  describe('CryptGenKey', () => {
    for (const c of CASES) {
      it(`${c.label}: default parameters (CBC, zero IV, PKCS5, permissions 0x3B)`, () => {
        const key = keep(generateSessionKey(c.algId, 0, 'CryptGenKey'));
        assert.equal(key.algId, c.algId);
        assert.equal(key.bits, c.keyBits);
        assert.equal(key.blockBits, c.block * 8);
        assert.equal(key.exportable, false);
        assert.equal(key.getParam(KP_ALGID), c.algId);
        assert.equal(key.getParam(KP_KEYLEN), c.keyBits);
        assert.equal(key.getParam(KP_EFFECTIVE_KEYLEN), c.effectiveBits);
        assert.equal(key.getParam(KP_BLOCKLEN), c.block * 8);
        assert.equal(key.getParam(KP_MODE), CRYPT_MODE_CBC);
        assert.equal(key.getParam(KP_MODE_BITS), 8);
        assert.equal(key.getParam(KP_PADDING), PKCS5_PADDING);
        assert.equal(key.getParam(KP_PERMISSIONS), 0x3b);
        assert.deepEqual(key.getParam(KP_IV), Buffer.alloc(c.block));
        assert.deepEqual(key.getParam(KP_SALT), Buffer.alloc(0));
        assert.equal(key.keyBytes().length, c.keyBits / 8);
      });
    }

    it('makes a fresh random key every time', () => {
      const a = keep(generateSessionKey(CALG_AES_256, 0, 'CryptGenKey')).keyBytes();
      const b = keep(generateSessionKey(CALG_AES_256, 0, 'CryptGenKey')).keyBytes();
      assert.notDeepEqual(a, b);
      assert.notDeepEqual(a, Buffer.alloc(32));
    });

    it('gives Triple DES keys odd parity in every byte', () => {
      for (const algId of [CALG_3DES, CALG_3DES_112]) {
        for (let i = 0; i < 8; i++) {
          for (const byte of keep(generateSessionKey(algId, 0, 'CryptGenKey')).keyBytes()) {
            let ones = 0;
            for (let v = byte; v; v >>= 1) ones += v & 1;
            assert.equal(ones % 2, 1, `byte 0x${byte.toString(16)}`);
          }
        }
      }
    });

    it('a generated key encrypts and decrypts its own data', () => {
      for (const c of CASES) {
        const key = keep(generateSessionKey(c.algId, 0, 'CryptGenKey'));
        const plain = message(45);
        assert.deepEqual(key.decrypt(key.encrypt(plain, true, 0), true, 0), plain);
      }
    });

    it('K4: CRYPT_EXPORTABLE gives permissions 0x3F', () => {
      const key = keep(generateSessionKey(CALG_AES_128, CRYPT_EXPORTABLE, 'CryptGenKey'));
      assert.equal(key.exportable, true);
      assert.equal(key.getParam(KP_PERMISSIONS), 0x3f);
    });

    it('takes the key length in the upper 16 bits: 0 or the algorithm\'s (3DES: stored or effective), else NTE_BAD_FLAGS', () => {
      const ok: [number, number][] = [
        [CALG_AES_128, 128], [CALG_AES_192, 192], [CALG_AES_256, 256], [CALG_3DES, 192], [CALG_3DES, 168], [CALG_3DES_112, 128], [CALG_3DES_112, 112],
      ];
      for (const [algId, bits] of ok) assert.equal(keep(generateSessionKey(algId, (bits << 16) | CRYPT_EXPORTABLE, 'CryptGenKey')).algId, algId);
      const bad: [number, number][] = [[CALG_AES_128, 256], [CALG_AES_128, 64], [CALG_AES_256, 128], [CALG_3DES, 112], [CALG_3DES, 128], [CALG_3DES_112, 192], [CALG_3DES_112, 168], [CALG_AES_192, 1]];
      for (const [algId, bits] of bad) {
        const err = expectCryptError(() => generateSessionKey(algId, bits << 16, 'CryptGenKey'), 'NTE_BAD_FLAGS');
        assert.equal(err.operation, 'CryptGenKey');
      }
    });

    it('accepts CRYPT_EXPORTABLE, CRYPT_NO_SALT, CRYPT_CREATE_SALT in the low word; other flags are NTE_BAD_FLAGS', () => {
      const key = keep(generateSessionKey(CALG_AES_256, CRYPT_EXPORTABLE | CRYPT_NO_SALT | CRYPT_CREATE_SALT, 'CryptGenKey'));
      assert.deepEqual(key.getParam(KP_SALT), Buffer.alloc(0), 'no salt for AES even with CRYPT_CREATE_SALT');
      for (const flags of [CRYPT_USER_PROTECTED, CRYPT_PREGEN, CRYPT_ARCHIVABLE, CRYPT_SGCKEY, 0x8000, -1, 1.5, 0x1_0000_0000]) {
        expectCryptError(() => generateSessionKey(CALG_AES_256, flags, 'CryptGenKey'), 'NTE_BAD_FLAGS');
      }
    });

    it('K3: generic CALG_AES, DES, RC2, RC4 and non-cipher ALG_IDs are NTE_BAD_ALGID', () => {
      for (const algId of [CALG_AES, CALG_DES, CALG_RC2, CALG_RC4, CALG_SHA1, CALG_RSA_KEYX, 0, 1, 2]) {
        const err = expectCryptError(() => generateSessionKey(algId, 0, 'CryptGenKey'), 'NTE_BAD_ALGID');
        assert.match(err.message, /CALG_AES_256/);
      }
      assert.match(expectCryptError(() => generateSessionKey(CALG_AES, 0, 'CryptGenKey'), 'NTE_BAD_ALGID').message, /key length/);
      expectCryptError(() => generateSessionKey(CALG_AES, 0x12345678 as number, 'CryptGenKey'), 'NTE_BAD_ALGID');
    });
  });

  describe('importSessionKey', () => {
    it('takes the key bytes as given and copies them', () => {
      for (const c of CASES) {
        const bytes = Buffer.from(c.key);
        const key = keep(importSessionKey(c.algId, bytes, 0, 'CryptImportKey'));
        bytes.fill(0);
        assert.deepEqual(key.keyBytes(), c.key);
        assert.equal(key.exportable, false);
        assert.equal(key.getParam(KP_PERMISSIONS), 0x3b);
      }
    });

    it('a key length that is not the algorithm\'s is NTE_BAD_DATA (3DES 24 bytes, 3DES_112 16)', () => {
      const bad: [number, number][] = [
        [CALG_AES_128, 15], [CALG_AES_128, 17], [CALG_AES_128, 24], [CALG_AES_192, 16], [CALG_AES_256, 16], [CALG_AES_256, 0],
        [CALG_3DES, 16], [CALG_3DES, 21], [CALG_3DES_112, 24], [CALG_3DES_112, 14], [CALG_3DES_112, 8],
      ];
      for (const [algId, length] of bad) {
        const err = expectCryptError(() => importSessionKey(algId, Buffer.alloc(length, 1), 0, 'CryptImportKey'), 'NTE_BAD_DATA');
        assert.equal(err.operation, 'CryptImportKey');
      }
      expectCryptError(() => importSessionKey(CALG_AES_128, Buffer.alloc(20, 1), CRYPT_IPSEC_HMAC_KEY, 'CryptImportKey'), 'NTE_BAD_DATA');
    });

    it('flags: CRYPT_EXPORTABLE makes the key exportable; documented import flags pass; others are NTE_BAD_FLAGS', () => {
      const c = CASES[0]!;
      assert.equal(imported(c, CRYPT_EXPORTABLE).getParam(KP_PERMISSIONS), 0x3f);
      assert.equal(imported(c, CRYPT_OAEP | CRYPT_NO_SALT | CRYPT_IPSEC_HMAC_KEY | CRYPT_USER_PROTECTED).exportable, false);
      for (const flags of [CRYPT_SGCKEY, CRYPT_ARCHIVABLE, 0x8, 0x10000, -1]) {
        expectCryptError(() => importSessionKey(c.algId, c.key, flags, 'CryptImportKey'), 'NTE_BAD_FLAGS');
      }
    });

    it('an unknown algorithm is NTE_BAD_ALGID; key bytes that are not bytes are ERROR_INVALID_PARAMETER', () => {
      expectCryptError(() => importSessionKey(CALG_RC4, Buffer.alloc(16), 0, 'CryptImportKey'), 'NTE_BAD_ALGID');
      expectCryptError(() => importSessionKey(CALG_AES, Buffer.alloc(16), 0, 'CryptImportKey'), 'NTE_BAD_ALGID');
      expectCryptError(() => importSessionKey(CALG_AES_128, 'x'.repeat(16) as unknown as Uint8Array, 0, 'CryptImportKey'), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('CBC with PKCS#5 padding, checked against openssl enc', () => {
    for (const c of CASES) {
      it(`${c.label}: one final call of 0, 1, block − 1, block, 2 blocks + 3 bytes`, function () {
        requireOpenssl(this);
        const key = imported(c);
        for (const length of [0, 1, c.block - 1, c.block, 2 * c.block + 3]) {
          const plain = message(length);
          const expected = openssl(`${c.openssl}-cbc`, c.key, Buffer.alloc(c.block), plain);
          const cipher = key.encrypt(plain, true, 0);
          assert.deepEqual(cipher, expected, `length ${length}`);
          assert.equal(cipher.length, (Math.floor(length / c.block) + 1) * c.block, 'X1/X2: one more block when final');
          assert.deepEqual(key.decrypt(expected, true, 0), plain, `decrypt, length ${length}`);
        }
      });

      it(`${c.label}: a KP_IV set by the caller is the one used`, function () {
        requireOpenssl(this);
        const key = imported(c);
        const iv = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex').subarray(0, c.block);
        key.setParam(KP_IV, iv);
        assert.deepEqual(key.getParam(KP_IV), iv);
        const plain = message(37);
        const expected = openssl(`${c.openssl}-cbc`, c.key, iv, plain);
        assert.deepEqual(key.encrypt(plain, true, 0), expected);
        assert.deepEqual(key.decrypt(expected, true, 0), plain);
      });

      it(`${c.label}: ciphertext in pieces decrypts with openssl, and openssl's decrypts in pieces`, function () {
        requireOpenssl(this);
        const key = imported(c);
        const plain = message(5 * c.block + 5);
        const pieces = [key.encrypt(plain.subarray(0, c.block), false, 0), key.encrypt(plain.subarray(c.block, 4 * c.block), false, 0), key.encrypt(plain.subarray(4 * c.block), true, 0)];
        assert.deepEqual(openssl(`${c.openssl}-cbc`, c.key, Buffer.alloc(c.block), Buffer.concat(pieces), { decrypt: true }), plain);
        const theirs = openssl(`${c.openssl}-cbc`, c.key, Buffer.alloc(c.block), plain);
        const back = [key.decrypt(theirs.subarray(0, 2 * c.block), false, 0), key.decrypt(theirs.subarray(2 * c.block, 3 * c.block), false, 0), key.decrypt(theirs.subarray(3 * c.block), true, 0)];
        assert.deepEqual(Buffer.concat(back), plain);
      });
    }

    it('3DES_112 is K1 K2 K1: the same ciphertext as three-key Triple DES with K3 = K1 (node:crypto)', () => {
      const c = CASES[4]!;
      const plain = message(30);
      const k1k2k1 = Buffer.concat([c.key, c.key.subarray(0, 8)]);
      const reference = createCipheriv('des-ede3-cbc', k1k2k1, Buffer.alloc(8));
      assert.deepEqual(imported(c).encrypt(plain, true, 0), Buffer.concat([reference.update(plain), reference.final()]));
    });
  });

  describe('chaining across calls (X2)', () => {
    for (const c of [CASES[0]!, CASES[3]!]) {
      for (const mode of [CRYPT_MODE_CBC, CRYPT_MODE_CFB, CRYPT_MODE_ECB]) {
        it(`${c.label}, mode ${mode}: several non-final calls then a final one give the one-shot ciphertext`, () => {
          const oneShot = imported(c);
          const pieces = imported(c);
          const iv = Buffer.alloc(c.block, 0x5a);
          for (const key of [oneShot, pieces]) {
            key.setParam(KP_MODE, mode);
            key.setParam(KP_IV, iv);
          }
          const plain = message(6 * c.block + 9);
          const expected = oneShot.encrypt(plain, true, 0);
          const got = Buffer.concat([
            pieces.encrypt(plain.subarray(0, c.block), false, 0),
            pieces.encrypt(plain.subarray(c.block, c.block), false, 0),
            pieces.encrypt(plain.subarray(c.block, 4 * c.block), false, 0),
            pieces.encrypt(plain.subarray(4 * c.block, 6 * c.block), false, 0),
            pieces.encrypt(plain.subarray(6 * c.block), true, 0),
          ]);
          assert.deepEqual(got, expected);
          const back = Buffer.concat([
            pieces.decrypt(expected.subarray(0, 3 * c.block), false, 0),
            pieces.decrypt(expected.subarray(3 * c.block, 3 * c.block), false, 0),
            pieces.decrypt(expected.subarray(3 * c.block, 5 * c.block), false, 0),
            pieces.decrypt(expected.subarray(5 * c.block), true, 0),
          ]);
          assert.deepEqual(back, plain);
        });
      }
    }

    it('the final call resets the register to KP_IV: the same message encrypts the same way twice', () => {
      const key = imported(CASES[2]!);
      const plain = message(40);
      const first = key.encrypt(plain, true, 0);
      assert.deepEqual(key.encrypt(plain, true, 0), first);
      key.encrypt(message(32), false, 0);
      assert.notDeepEqual(key.encrypt(plain, true, 0), first, 'an unfinished message chains into the next call');
      assert.deepEqual(key.encrypt(plain, true, 0), first);
    });

    it('setting KP_IV restarts the chaining', () => {
      const key = imported(CASES[0]!);
      const plain = message(20);
      const fresh = key.encrypt(plain, true, 0);
      key.encrypt(message(16), false, 0);
      key.setParam(KP_IV, Buffer.alloc(16));
      assert.deepEqual(key.encrypt(plain, true, 0), fresh);
    });

    it('non-final data that is not whole blocks is NTE_BAD_DATA and leaves the chaining as it was', () => {
      for (const c of [CASES[0]!, CASES[3]!]) {
        const reference = imported(c);
        const key = imported(c);
        const plain = message(3 * c.block);
        const expected = reference.encrypt(plain, true, 0);
        const first = key.encrypt(plain.subarray(0, c.block), false, 0);
        for (const length of [1, c.block - 1, c.block + 1]) {
          expectCryptError(() => key.encrypt(message(length), false, 0), 'NTE_BAD_DATA');
          expectCryptError(() => key.decrypt(message(length), false, 0), 'NTE_BAD_DATA');
        }
        assert.deepEqual(Buffer.concat([first, key.encrypt(plain.subarray(c.block), true, 0)]), expected);
      }
    });
  });

  describe('padding (X2, X3)', () => {
    it('aligned data gets a whole block of padding on the final call', () => {
      for (const c of CASES) {
        const key = imported(c);
        const plain = message(2 * c.block);
        const cipher = key.encrypt(plain, true, 0);
        assert.equal(cipher.length, 3 * c.block);
        const k = c.algId === CALG_3DES_112 ? Buffer.concat([c.key, c.key.subarray(0, 8)]) : c.key;
        const raw = createDecipheriv(`${c.block === 8 ? 'des-ede3' : `aes-${c.keyBits}`}-cbc`, k, Buffer.alloc(c.block)).setAutoPadding(false);
        const decrypted = Buffer.concat([raw.update(cipher), raw.final()]);
        assert.deepEqual(decrypted.subarray(2 * c.block), Buffer.alloc(c.block, c.block));
        assert.deepEqual(decrypted.subarray(0, 2 * c.block), plain);
      }
    });

    it('bad padding on the final decrypt is NTE_BAD_DATA, and the key is back at KP_IV for the next message', function () {
      requireOpenssl(this);
      const c = CASES[0]!;
      const iv = Buffer.alloc(16);
      const good = openssl('aes-128-cbc', c.key, iv, message(21));
      const badBlocks = [
        Buffer.concat([message(15), Buffer.from([0x00])]), // pad length 0
        Buffer.concat([message(15), Buffer.from([0x11])]), // longer than a block
        Buffer.concat([message(13), Buffer.from([0x03, 0x02, 0x03])]), // pad bytes disagree
        Buffer.concat([message(31), Buffer.from([0x20])]), // longer than a block, though not than the data
      ];
      const key = imported(c);
      for (const badEnd of badBlocks) {
        // A message whose first block decrypts in a non-final call (moving the register off the IV) and
        // whose end, in the final call, carries the bad padding.
        const bad = openssl('aes-128-cbc', c.key, iv, Buffer.concat([message(16), badEnd]), { nopad: true });
        assert.deepEqual(key.decrypt(bad.subarray(0, 16), false, 0), message(16));
        const err = expectCryptError(() => key.decrypt(bad.subarray(16), true, 0), 'NTE_BAD_DATA');
        assert.equal(err.operation, 'CryptDecrypt');
        assert.deepEqual(key.decrypt(good, true, 0), message(21), 'the next message decrypts from KP_IV');
      }
      // The same ends, padded correctly by openssl, decrypt: the refusals above were about the padding alone.
      for (const badEnd of badBlocks) {
        const fine = openssl('aes-128-cbc', c.key, iv, Buffer.concat([message(16), badEnd]));
        assert.deepEqual(key.decrypt(fine, true, 0), Buffer.concat([message(16), badEnd]));
      }
    });

    it('a final ciphertext that is empty or not whole blocks is NTE_BAD_DATA and resets the register', () => {
      const c = CASES[0]!;
      const key = imported(c);
      const good = imported(c).encrypt(message(40), true, 0);
      for (const bad of [Buffer.alloc(0), Buffer.alloc(15), Buffer.alloc(17)]) {
        key.decrypt(good.subarray(0, 16), false, 0);
        expectCryptError(() => key.decrypt(bad, true, 0), 'NTE_BAD_DATA');
        assert.deepEqual(key.decrypt(good, true, 0), message(40));
      }
    });

    it('a non-final call may be empty and changes nothing', () => {
      const key = imported(CASES[0]!);
      assert.equal(key.encrypt(Buffer.alloc(0), false, 0).length, 0);
      assert.equal(key.decrypt(Buffer.alloc(0), false, 0).length, 0);
      assert.deepEqual(key.encrypt(message(3), true, 0), imported(CASES[0]!).encrypt(message(3), true, 0));
    });
  });

  describe('modes (KP_MODE)', () => {
    it('ECB matches openssl enc -ecb, and takes no IV', function () {
      requireOpenssl(this);
      for (const c of [CASES[2]!, CASES[3]!]) {
        const key = imported(c);
        key.setParam(KP_MODE, CRYPT_MODE_ECB);
        key.setParam(KP_IV, Buffer.alloc(c.block, 0x77));
        assert.equal(key.getParam(KP_MODE), CRYPT_MODE_ECB);
        const plain = message(3 * c.block + 2);
        const expected = openssl(`${c.openssl}-ecb`, c.key, null, plain);
        assert.deepEqual(key.encrypt(plain, true, 0), expected);
        assert.deepEqual(key.decrypt(expected, true, 0), plain);
      }
    });

    it('CFB is 8-bit feedback over PKCS#5-padded data: openssl enc -cfb8 of the padded message', function () {
      requireOpenssl(this);
      for (const c of [CASES[0]!, CASES[3]!, CASES[4]!]) {
        const key = imported(c);
        key.setParam(KP_MODE, CRYPT_MODE_CFB);
        const iv = Buffer.alloc(c.block, 0x3c);
        key.setParam(KP_IV, iv);
        const plain = message(2 * c.block + 5);
        // openssl has no two-key CFB8: run 3DES_112 as three-key with K3 = K1.
        const [name, k] = c.algId === CALG_3DES_112 ? ['des-ede3', Buffer.concat([c.key, c.key.subarray(0, 8)])] : [c.openssl, c.key];
        const expected = openssl(`${name}-cfb8`, k, iv, pad(plain, c.block));
        assert.deepEqual(key.encrypt(plain, true, 0), expected);
        assert.deepEqual(key.decrypt(expected, true, 0), plain);
      }
    });

    it('OFB can be set, but encrypting or decrypting with it is NTE_BAD_ALGID; CBC works again after', () => {
      const key = imported(CASES[0]!);
      key.setParam(KP_MODE, CRYPT_MODE_OFB);
      assert.equal(key.getParam(KP_MODE), CRYPT_MODE_OFB);
      for (const final of [false, true]) {
        expectCryptError(() => key.encrypt(message(16), final, 0), 'NTE_BAD_ALGID');
        expectCryptError(() => key.decrypt(message(16), final, 0), 'NTE_BAD_ALGID');
      }
      expectCryptError(() => key.encrypt(message(3), false, 0), 'NTE_BAD_ALGID');
      key.setParam(KP_MODE, CRYPT_MODE_CBC);
      assert.deepEqual(key.encrypt(message(3), true, 0), imported(CASES[0]!).encrypt(message(3), true, 0));
    });

    it('an unknown mode is NTE_BAD_DATA; a DWORD may come as its 4 little-endian bytes', () => {
      const key = imported(CASES[0]!);
      for (const mode of [0, 5, 6, 0xffffffff]) expectCryptError(() => key.setParam(KP_MODE, mode), 'NTE_BAD_DATA');
      assert.equal(key.getParam(KP_MODE), CRYPT_MODE_CBC);
      key.setParam(KP_MODE, Buffer.from([CRYPT_MODE_ECB, 0, 0, 0]));
      assert.equal(key.getParam(KP_MODE), CRYPT_MODE_ECB);
      key.setParam(KP_MODE, new Uint8Array([9, CRYPT_MODE_CFB, 0, 0, 0]).subarray(1));
      assert.equal(key.getParam(KP_MODE), CRYPT_MODE_CFB);
    });
  });

  describe('key parameters', () => {
    it('KP_IV: one block; another length is NTE_BAD_DATA; a number is ERROR_INVALID_PARAMETER; reads are copies', () => {
      for (const c of [CASES[0]!, CASES[3]!]) {
        const key = imported(c);
        for (const length of [0, c.block - 1, c.block + 1, 2 * c.block]) expectCryptError(() => key.setParam(KP_IV, Buffer.alloc(length, 1)), 'NTE_BAD_DATA');
        expectCryptError(() => key.setParam(KP_IV, 0), 'ERROR_INVALID_PARAMETER');
        assert.deepEqual(key.getParam(KP_IV), Buffer.alloc(c.block));
        const iv = Buffer.alloc(c.block, 9);
        key.setParam(KP_IV, iv);
        iv.fill(0);
        (key.getParam(KP_IV) as Buffer).fill(0);
        assert.deepEqual(key.getParam(KP_IV), Buffer.alloc(c.block, 9));
      }
    });

    it('KP_MODE_BITS: 8 is accepted, other widths are NTE_BAD_DATA', () => {
      const key = imported(CASES[0]!);
      key.setParam(KP_MODE_BITS, 8);
      for (const bits of [0, 1, 64, 128]) expectCryptError(() => key.setParam(KP_MODE_BITS, bits), 'NTE_BAD_DATA');
      assert.equal(key.getParam(KP_MODE_BITS), 8);
    });

    it('KP_PADDING: PKCS5_PADDING only; RANDOM_PADDING and ZERO_PADDING are NTE_BAD_DATA', () => {
      const key = imported(CASES[0]!);
      key.setParam(KP_PADDING, PKCS5_PADDING);
      for (const padding of [RANDOM_PADDING, ZERO_PADDING, 0]) expectCryptError(() => key.setParam(KP_PADDING, padding), 'NTE_BAD_DATA');
      assert.equal(key.getParam(KP_PADDING), PKCS5_PADDING);
    });

    it('K4: CRYPT_EXPORT cannot be added to a non-exportable key (NTE_BAD_DATA); other bits can be changed', () => {
      const key = imported(CASES[0]!);
      expectCryptError(() => key.setParam(KP_PERMISSIONS, 0x3f), 'NTE_BAD_DATA');
      expectCryptError(() => key.setParam(KP_PERMISSIONS, CRYPT_EXPORT), 'NTE_BAD_DATA');
      assert.equal(key.getParam(KP_PERMISSIONS), 0x3b);
      assert.equal(key.exportable, false);
      key.setParam(KP_PERMISSIONS, 0x0b);
      assert.equal(key.getParam(KP_PERMISSIONS), 0x0b);
    });

    it('K4: clearing CRYPT_EXPORT of an exportable key is accepted and ignored', () => {
      const key = imported(CASES[0]!, CRYPT_EXPORTABLE);
      key.setParam(KP_PERMISSIONS, 0x3b);
      assert.equal(key.getParam(KP_PERMISSIONS), 0x3f);
      key.setParam(KP_PERMISSIONS, 0);
      assert.equal(key.getParam(KP_PERMISSIONS), CRYPT_EXPORT);
      assert.equal(key.exportable, true);
    });

    it('DWORD parameters of the wrong shape are ERROR_INVALID_PARAMETER', () => {
      const key = imported(CASES[0]!);
      for (const param of [KP_MODE, KP_MODE_BITS, KP_PADDING, KP_PERMISSIONS]) {
        for (const value of [-1, 1.5, 0x1_0000_0000, Buffer.alloc(3), Buffer.alloc(8), '1', null]) {
          expectCryptError(() => key.setParam(param, value as unknown as number), 'ERROR_INVALID_PARAMETER');
        }
      }
    });

    it('read-only parameters are NTE_BAD_TYPE to set; salts are NTE_BAD_KEY; unknown parameters are NTE_BAD_TYPE', () => {
      const key = imported(CASES[3]!);
      for (const param of [KP_ALGID, KP_KEYLEN, KP_BLOCKLEN, KP_EFFECTIVE_KEYLEN]) {
        expectCryptError(() => key.setParam(param, 128), 'NTE_BAD_TYPE');
      }
      expectCryptError(() => key.setParam(KP_SALT, Buffer.alloc(11)), 'NTE_BAD_KEY');
      expectCryptError(() => key.setParam(KP_SALT_EX, Buffer.alloc(4)), 'NTE_BAD_KEY');
      for (const param of [0, KP_SALT_EX, KP_CERTIFICATE, 12, 999]) {
        const err = expectCryptError(() => key.getParam(param), 'NTE_BAD_TYPE');
        assert.equal(err.operation, 'CryptGetKeyParam');
      }
      for (const param of [0, KP_CERTIFICATE, 999]) expectCryptError(() => key.setParam(param, 1), 'NTE_BAD_TYPE');
      assert.equal(key.getParam(KP_ALGID), CALG_3DES);
    });
  });

  describe('CryptEncrypt / CryptDecrypt flags (X5)', () => {
    it('any flag is NTE_BAD_FLAGS; CRYPT_OAEP is for RSA keys only', () => {
      const key = imported(CASES[0]!);
      for (const flags of [1, 2, 0x20, 0x80000000]) {
        expectCryptError(() => key.encrypt(message(16), true, flags), 'NTE_BAD_FLAGS');
        expectCryptError(() => key.decrypt(message(16), true, flags), 'NTE_BAD_FLAGS');
      }
      const err = expectCryptError(() => key.encrypt(message(16), true, CRYPT_OAEP), 'NTE_BAD_FLAGS');
      assert.match(err.message, /RSA/);
      assert.equal(err.operation, 'CryptEncrypt');
      expectCryptError(() => key.decrypt(message(16), true, CRYPT_OAEP), 'NTE_BAD_FLAGS');
      assert.deepEqual(key.encrypt(message(5), true, 0), imported(CASES[0]!).encrypt(message(5), true, 0), 'refused calls left the chaining alone');
    });

    it('data that is not bytes is ERROR_INVALID_PARAMETER', () => {
      const key = imported(CASES[0]!);
      expectCryptError(() => key.encrypt('plain' as unknown as Uint8Array, true, 0), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => key.decrypt(undefined as unknown as Uint8Array, true, 0), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('key bytes and destroy', () => {
    it('keyBytes() returns a copy', () => {
      const key = imported(CASES[2]!, CRYPT_EXPORTABLE);
      key.keyBytes().fill(0);
      assert.deepEqual(key.keyBytes(), CASES[2]!.key);
    });

    it('destroy() wipes the key; every later use is NTE_BAD_KEY; destroying twice is harmless', () => {
      const key = importSessionKey(CALG_AES_128, CASES[0]!.key, 0, 'CryptImportKey');
      assert.equal(key.destroyed, false);
      key.destroy();
      key.destroy();
      assert.equal(key.destroyed, true);
      expectCryptError(() => key.getParam(KP_ALGID), 'NTE_BAD_KEY');
      expectCryptError(() => key.setParam(KP_MODE, CRYPT_MODE_ECB), 'NTE_BAD_KEY');
      expectCryptError(() => key.encrypt(message(16), true, 0), 'NTE_BAD_KEY');
      expectCryptError(() => key.decrypt(message(16), true, 0), 'NTE_BAD_KEY');
      const err = expectCryptError(() => key.keyBytes(), 'NTE_BAD_KEY');
      assert.equal(err.operation, 'CryptExportKey');
    });

    it('error messages name the calling operation and never carry key bytes', () => {
      const c = CASES[0]!;
      const key = imported(c);
      const err = expectCryptError(() => key.encrypt(message(3), false, 0, 'CryptEncrypt(custom)'), 'NTE_BAD_DATA');
      assert.equal(err.operation, 'CryptEncrypt(custom)');
      const badImport = expectCryptError(() => importSessionKey(CALG_AES_256, c.key, 0, 'CryptImportKey'), 'NTE_BAD_DATA');
      assert.ok(!badImport.message.includes(c.key.toString('hex')));
      assert.ok(!String(key).includes(c.key.toString('hex')));
    });
  });
});
