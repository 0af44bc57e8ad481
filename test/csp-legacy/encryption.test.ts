/**
 * CryptEncrypt and CryptDecrypt on SoftHSM2 cards (X1–X5, §3.9): RSA with the card's exchange key
 * (encrypt on the host, decrypt on the card), both paddings and their length limits, little-endian
 * ciphertexts checked against node:crypto's private key operations on keys the test owns, every
 * refusal (AT_SIGNATURE keys, public keys, bad padding, wrong lengths, flags), the hHash parameter,
 * session keys through the same calls, and the PIN rules of silent and verify-only contexts.
 */
import { strict as assert } from 'node:assert';
import crypto, { createCipheriv, createHash } from 'node:crypto';
import { CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import { CryptCreateHash, CryptGetHashParam } from '../../csp-legacy/hashes.js';
import type { HCRYPTHASH, HCRYPTKEY } from '../../csp-legacy/handles.js';
import { CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { acquireModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { expectCryptError, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { SUITE_MODULE, useScriptedUi } from '../smartcard/service-helpers.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_AES_256, CALG_RSA_SIGN, CALG_SHA1, CALG_SHA_256, CRYPT_DECRYPT_RSA_NO_PADDING_CHECK, CRYPT_OAEP,
  CRYPT_SILENT, CRYPT_VERIFYCONTEXT, HP_HASHVAL, newKeyPair, plaintextKeyBlobOf, publicKeyBlobOf, rawPrivateBlock, reversed,
  tokenRsaPublicKeys, unpadType2, warmIo,
} from './key-test-helpers.js';

describe('csp-legacy: CryptEncrypt / CryptDecrypt', function () {
  const csp = cspFixture('csp-encrypt', 1);
  const plaintext = Buffer.from('Here is some sample data!');
  const own = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });

  describe('RSA with the card key', () => {
    it('CryptEncrypt (no PIN) and CryptDecrypt on the card round-trip, PKCS#1 v1.5 and CRYPT_OAEP, at the length limits', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      for (const [flags, max] of [[0, 128 - 11], [CRYPT_OAEP, 128 - 42]] as const) {
        for (const data of [plaintext, Buffer.alloc(0), crypto.randomBytes(max)]) {
          const ciphertext = await CryptEncrypt(key, null, true, flags, data);
          assert.equal(ciphertext.length, 128, 'the modulus length (X1)');
          assert.notDeepEqual(await CryptEncrypt(key, null, true, flags, data), ciphertext, 'randomized');
          assert.deepEqual(await CryptDecrypt(key, null, true, flags, ciphertext), data);
        }
        await expectCryptError(() => CryptEncrypt(key, null, true, flags, Buffer.alloc(max + 1)), 'NTE_BAD_LEN', `flags ${flags}: one byte too many`);
      }
      const other = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      assert.deepEqual(await CryptDecrypt(other, null, false, 0, await CryptEncrypt(key, null, false, 0, plaintext)), plaintext, 'Final does not matter for RSA');
    });

    it('the ciphertext is little-endian PKCS#1 v1.5 type 2 / OAEP SHA-1: node:crypto decrypts it reversed (key the test owns)', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const pub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey), null, 0);
      const pkcs1 = await CryptEncrypt(pub, null, true, 0, plaintext);
      assert.deepEqual(unpadType2(rawPrivateBlock(own.privateKey, pkcs1)), plaintext);
      const oaep = await CryptEncrypt(pub, null, true, CRYPT_OAEP, plaintext);
      assert.deepEqual(crypto.privateDecrypt({ key: own.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, reversed(oaep)), plaintext);
      await expectCryptError(() => CryptDecrypt(pub, null, true, 0, pkcs1), 'NTE_BAD_KEY', 'a public key cannot decrypt');
    });

    it('decrypts node:crypto ciphertexts made with the token\'s public key, reversed; refuses them big-endian', async () => {
      const { key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const [tokenKey] = tokenRsaPublicKeys(csp.tokens[0]!.label, name);
      const pkcs1 = crypto.publicEncrypt({ key: tokenKey!, padding: crypto.constants.RSA_PKCS1_PADDING }, plaintext);
      assert.deepEqual(await CryptDecrypt(key, null, true, 0, reversed(pkcs1)), plaintext);
      const oaep = crypto.publicEncrypt({ key: tokenKey!, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, plaintext);
      assert.deepEqual(await CryptDecrypt(key, null, true, CRYPT_OAEP, reversed(oaep)), plaintext);
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, pkcs1), 'NTE_BAD_DATA', 'big-endian');
      await expectCryptError(() => CryptDecrypt(key, null, true, CRYPT_OAEP, reversed(pkcs1)), 'NTE_BAD_DATA', 'PKCS#1 ciphertext read as OAEP');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, reversed(oaep)), 'NTE_BAD_DATA', 'OAEP ciphertext read as PKCS#1');
    });

    it('refuses malformed ciphertexts: wrong length NTE_BAD_LEN, not below the modulus NTE_BAD_DATA, bad padding NTE_BAD_DATA', async () => {
      const { key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const good = await CryptEncrypt(key, null, true, 0, plaintext);
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, good.subarray(1)), 'NTE_BAD_LEN');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, Buffer.concat([good, Buffer.alloc(1)])), 'NTE_BAD_LEN');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, Buffer.alloc(0)), 'NTE_BAD_LEN');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, Buffer.alloc(128, 0xff)), 'NTE_BAD_DATA');
      const garbage = crypto.randomBytes(128);
      garbage[127] = 0x01; // little-endian: the top byte is last; keep it below the modulus
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, garbage), 'NTE_BAD_DATA');
      // The key still works after the failures.
      assert.deepEqual(await CryptDecrypt(key, null, true, 0, good), plaintext);
    });

    it('the AT_SIGNATURE key, and a CALG_RSA_SIGN public key, refuse both calls with NTE_BAD_KEY (X4)', async () => {
      const { key } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      await expectCryptError(() => CryptEncrypt(key, null, true, 0, plaintext), 'NTE_BAD_KEY');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, Buffer.alloc(128, 1)), 'NTE_BAD_KEY');
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const sigPub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey, CALG_RSA_SIGN), null, 0);
      await expectCryptError(() => CryptEncrypt(sigPub, null, true, 0, plaintext), 'NTE_BAD_KEY');
    });

    it('flags other than CRYPT_OAEP are NTE_BAD_FLAGS (X5), CRYPT_DECRYPT_RSA_NO_PADDING_CHECK included', async () => {
      const { key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const good = await CryptEncrypt(key, null, true, 0, plaintext);
      for (const flags of [CRYPT_DECRYPT_RSA_NO_PADDING_CHECK, 0x1, 0x80, CRYPT_OAEP | 0x2, -1]) {
        await expectCryptError(() => CryptEncrypt(key, null, true, flags, plaintext), 'NTE_BAD_FLAGS', `encrypt 0x${flags.toString(16)}`);
        await expectCryptError(() => CryptDecrypt(key, null, true, flags, good), 'NTE_BAD_FLAGS', `decrypt 0x${flags.toString(16)}`);
      }
    });

    it('argument errors: NULL or non-bytes data, a non-boolean Final, bad handles → ERROR_INVALID_PARAMETER (C1)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      await expectCryptError(() => CryptEncrypt(key, null, true, 0, null as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptEncrypt(key, null, true, 0, 'text' as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptDecrypt(key, null, 'yes' as unknown as boolean, 0, Buffer.alloc(128)), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptEncrypt(prov as unknown as HCRYPTKEY, null, true, 0, plaintext), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptEncrypt(key, key as unknown as HCRYPTHASH, true, 0, plaintext), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptDecrypt(null as unknown as HCRYPTKEY, null, true, 0, plaintext), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('hHash', () => {
    it('CryptEncrypt hashes the plaintext before encrypting, CryptDecrypt after decrypting (RSA and session keys)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const expected = createHash('sha256').update(plaintext).digest();
      const h1 = await CryptCreateHash(prov, CALG_SHA_256);
      const ciphertext = await CryptEncrypt(key, h1, true, 0, plaintext);
      assert.deepEqual(await CryptGetHashParam(h1, HP_HASHVAL), expected);
      const h2 = await CryptCreateHash(prov, CALG_SHA_256);
      await CryptDecrypt(key, h2, true, 0, ciphertext);
      assert.deepEqual(await CryptGetHashParam(h2, HP_HASHVAL), expected);
      const aes = await CryptGenKey(prov, CALG_AES_256, 0);
      const h3 = await CryptCreateHash(prov, CALG_SHA1);
      const h4 = await CryptCreateHash(prov, CALG_SHA1);
      assert.deepEqual(await CryptDecrypt(aes, h4, true, 0, await CryptEncrypt(aes, h3, true, 0, plaintext)), plaintext);
      assert.deepEqual(await CryptGetHashParam(h3, HP_HASHVAL), createHash('sha1').update(plaintext).digest());
      assert.deepEqual(await CryptGetHashParam(h4, HP_HASHVAL), createHash('sha1').update(plaintext).digest());
    });

    it('a finished hash is NTE_BAD_HASH_STATE before anything is encrypted or decrypted; too-long plaintext leaves the hash untouched', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const finished = await CryptCreateHash(prov, CALG_SHA1);
      await CryptGetHashParam(finished, HP_HASHVAL);
      await expectCryptError(() => CryptEncrypt(key, finished, true, 0, plaintext), 'NTE_BAD_HASH_STATE');
      await expectCryptError(() => CryptDecrypt(key, finished, true, 0, Buffer.alloc(128, 1)), 'NTE_BAD_HASH_STATE');
      const h = await CryptCreateHash(prov, CALG_SHA1);
      await expectCryptError(() => CryptEncrypt(key, h, true, 0, Buffer.alloc(200)), 'NTE_BAD_LEN');
      assert.deepEqual(await CryptGetHashParam(h, HP_HASHVAL), createHash('sha1').digest(), 'nothing was hashed');
    });
  });

  describe('session keys through CryptEncrypt / CryptDecrypt', () => {
    it('AES-256: CBC, PKCS#5 padding, zero IV by default, as node:crypto computes it; CRYPT_OAEP is NTE_BAD_FLAGS', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const raw = crypto.randomBytes(32);
      const aes = await CryptImportKey(prov, plaintextKeyBlobOf(CALG_AES_256, raw), null, 0);
      const ciphertext = await CryptEncrypt(aes, null, true, 0, plaintext);
      const cipher = createCipheriv('aes-256-cbc', raw, Buffer.alloc(16));
      assert.deepEqual(ciphertext, Buffer.concat([cipher.update(plaintext), cipher.final()]));
      assert.deepEqual(await CryptDecrypt(aes, null, true, 0, ciphertext), plaintext);
      await expectCryptError(() => CryptEncrypt(aes, null, true, CRYPT_OAEP, plaintext), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptDecrypt(aes, null, true, CRYPT_OAEP, ciphertext), 'NTE_BAD_FLAGS');
    });
  });

  describe('the warm path (token I/O)', () => {
    it('a warm RSA CryptDecrypt is one CardRSADecrypt; on the token C_DecryptInit + C_Decrypt', async () => {
      const module = acquireModule(SUITE_MODULE);
      try {
        const { key } = await newKeyPair(csp, AT_KEYEXCHANGE, 2048);
        const ciphertext = await CryptEncrypt(key, null, true, 0, plaintext);
        const calls = await warmIo(await csp.card(), module, 10, () => CryptDecrypt(key, null, true, 0, ciphertext));
        assert.deepEqual(calls.card, { CardRSADecrypt: 10 }, 'card entry points');
        assert.deepEqual(calls.pkcs11, { C_DecryptInit: 10, C_Decrypt: 10 }, 'PKCS#11 calls');
      } finally {
        releaseModule(module);
      }
    });
  });

  describe('PIN', () => {
    afterEach(() => csp.login());

    it('decrypting needs the PIN: silent without it NTE_SILENT_CONTEXT, verify-only NTE_PERM; encrypting never does; the UI is asked once', async () => {
      const { key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const ciphertext = await CryptEncrypt(key, null, true, 0, plaintext);
      await csp.logout();
      const silent = await csp.acquire(name, CRYPT_SILENT);
      const silentKey = await CryptGetUserKey(silent, AT_KEYEXCHANGE);
      assert.equal((await CryptEncrypt(silentKey, null, true, 0, plaintext)).length, 128, 'encrypting needs no PIN');
      await expectCryptError(() => CryptDecrypt(silentKey, null, true, 0, ciphertext), 'NTE_SILENT_CONTEXT');
      const verify = await csp.acquire(await csp.qualified(name), (CRYPT_VERIFYCONTEXT | CRYPT_SILENT) >>> 0);
      const verifyKey = await CryptGetUserKey(verify, AT_KEYEXCHANGE);
      await expectCryptError(() => CryptDecrypt(verifyKey, null, true, 0, ciphertext), 'NTE_PERM');
      const ui = useScriptedUi();
      ui.pins = [csp.tokens[0]!.pin];
      const noisy = await CryptGetUserKey(await csp.acquire(name, 0), AT_KEYEXCHANGE);
      assert.deepEqual(await CryptDecrypt(noisy, null, true, 0, ciphertext), plaintext);
      assert.deepEqual(await CryptDecrypt(noisy, null, true, 0, ciphertext), plaintext);
      assert.equal(ui.pinRequests.length, 1);
      assert.deepEqual(await CryptDecrypt(silentKey, null, true, 0, ciphertext), plaintext, 'the silent context uses the cached PIN now');
    });
  });
});
