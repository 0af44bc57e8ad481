/**
 * Hash objects and signatures on SoftHSM2 cards: CryptCreateHash ... CryptDestroyHash (H1–H4), and
 * CryptSignHash / CryptVerifySignature (S1–S4, §3.9) with both key specs, every hash, CRYPT_NOHASHOID
 * and CALG_SSL3_SHAMD5. Every signature is checked by node:crypto against the public key graphene reads
 * from the token, after reversing it (CryptoAPI signatures are little-endian); the verifier is checked
 * against signatures node:crypto makes with its own keys.
 */
import { strict as assert } from 'node:assert';
import crypto, { createHash } from 'node:crypto';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import { MS_SCARD_PROV, PROV_RSA_FULL } from '../../csp-legacy/constants.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import { CryptImportKey } from '../../csp-legacy/blobs.js';
import {
  CryptCreateHash, CryptDestroyHash, CryptGetHashParam, CryptHashData, CryptSetHashParam, CryptSignHash, CryptVerifySignature,
} from '../../csp-legacy/hashes.js';
import type { HCRYPTHASH, HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { expectCryptError, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { SUITE_MODULE, useScriptedUi } from '../smartcard/service-helpers.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_AES_256, CALG_HMAC, CALG_MD5, CALG_RSA_SIGN, CALG_SHA1, CALG_SHA_256, CALG_SSL3_SHAMD5,
  CRYPT_DELETEKEYSET, CRYPT_NOHASHOID, CRYPT_SILENT, CRYPT_VERIFYCONTEXT, CRYPT_X931_FORMAT, HASHES, HP_ALGID, HP_HASHSIZE, HP_HASHVAL, HP_HMAC_INFO,
  newKeyPair, pkcs1Type1, warmIo, publicKeyBlobOf, recoveredBlock, reversed, tokenRsaPublicKeys,
} from './key-test-helpers.js';

async function hashOf(prov: HCRYPTPROV, algId: number, data: Buffer): Promise<HCRYPTHASH> {
  const h = await CryptCreateHash(prov, algId, null, 0);
  await CryptHashData(h, data, 0);
  return h;
}

describe('csp-legacy: hashes and signatures', function () {
  const csp = cspFixture('csp-hash', 1);
  const message = Buffer.from('CryptoAPI signs this on the card');

  describe('hash objects (H1–H4)', () => {
    it('hashes MD5, SHA-1, SHA-256/384/512 as node:crypto does, in pieces; HP_ALGID and HP_HASHSIZE', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      for (const h of HASHES) {
        const hash = await CryptCreateHash(prov, h.algId);
        await CryptHashData(hash, message.subarray(0, 5));
        await CryptHashData(hash, new Uint8Array(message.subarray(5)));
        assert.equal(await CryptGetHashParam(hash, HP_ALGID), h.algId);
        assert.equal(await CryptGetHashParam(hash, HP_HASHSIZE), h.size);
        const value = await CryptGetHashParam(hash, HP_HASHVAL);
        assert.deepEqual(value, createHash(h.node).update(message).digest(), h.node);
        assert.deepEqual(await CryptGetHashParam(hash, HP_HASHVAL), value, 'HP_HASHVAL reads the same value again');
        await expectCryptError(() => CryptHashData(hash, message), 'NTE_BAD_HASH_STATE', 'reading the value finished the hash');
        await CryptDestroyHash(hash);
      }
      const empty = await CryptCreateHash(prov, CALG_SHA1);
      assert.deepEqual(await CryptGetHashParam(empty, HP_HASHVAL), createHash('sha1').digest(), 'the empty-input digest');
    });

    it('CryptCreateHash: unknown and keyed algorithms NTE_BAD_ALGID, flags NTE_BAD_FLAGS, a key for a plain hash NTE_BAD_KEY', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      for (const algId of [CALG_HMAC, 0x8005, 0x8001, 0x8002, CALG_AES_256, 0]) await expectCryptError(() => CryptCreateHash(prov, algId), 'NTE_BAD_ALGID', `0x${algId.toString(16)}`);
      await expectCryptError(() => CryptCreateHash(prov, CALG_SHA1, null, 1), 'NTE_BAD_FLAGS');
      const aes = await CryptGenKey(prov, CALG_AES_256, 0);
      await expectCryptError(() => CryptCreateHash(prov, CALG_SHA1, aes), 'NTE_BAD_KEY');
      await expectCryptError(() => CryptCreateHash(prov, CALG_SHA1, {} as HCRYPTKEY), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptCreateHash(prov, 'sha1' as unknown as number), 'ERROR_INVALID_PARAMETER');
    });

    it('CryptHashData flags other than 0 / CRYPT_USERDATA are NTE_BAD_FLAGS (H2); non-bytes ERROR_INVALID_PARAMETER', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const hash = await CryptCreateHash(prov, CALG_SHA_256);
      await CryptHashData(hash, message, 1);
      await expectCryptError(() => CryptHashData(hash, message, 2), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptHashData(hash, 'text' as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptHashData(hash, null as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      assert.deepEqual(await CryptGetHashParam(hash, HP_HASHVAL), createHash('sha256').update(message).digest());
    });

    it('parameters: unknown ones NTE_BAD_TYPE, flags NTE_BAD_FLAGS; HP_HASHVAL can be set (exact size) and finishes the hash', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const hash = await CryptCreateHash(prov, CALG_SHA_256);
      await expectCryptError(() => CryptGetHashParam(hash, HP_HMAC_INFO), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptGetHashParam(hash, 99), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptGetHashParam(hash, HP_ALGID, 1), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptSetHashParam(hash, HP_ALGID, Buffer.alloc(4)), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptSetHashParam(hash, HP_HASHVAL, Buffer.alloc(32), 1), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptSetHashParam(hash, HP_HASHVAL, Buffer.alloc(31)), 'NTE_BAD_LEN');
      const value = crypto.randomBytes(32);
      await CryptSetHashParam(hash, HP_HASHVAL, value);
      assert.deepEqual(await CryptGetHashParam(hash, HP_HASHVAL), value);
      await expectCryptError(() => CryptHashData(hash, message), 'NTE_BAD_HASH_STATE');
    });

    it('CALG_SSL3_SHAMD5 takes no data (NTE_BAD_ALGID, H4); its 36-byte value is set', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const hash = await CryptCreateHash(prov, CALG_SSL3_SHAMD5);
      assert.equal(await CryptGetHashParam(hash, HP_HASHSIZE), 36);
      await expectCryptError(() => CryptHashData(hash, message), 'NTE_BAD_ALGID');
      const value = Buffer.concat([createHash('md5').update(message).digest(), createHash('sha1').update(message).digest()]);
      await CryptSetHashParam(hash, HP_HASHVAL, value);
      assert.deepEqual(await CryptGetHashParam(hash, HP_HASHVAL), value);
    });

    it('handles: destroyed, zero, wrong-kind hashes and hashes of a released context are ERROR_INVALID_PARAMETER (C1)', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const hash = await CryptCreateHash(prov, CALG_SHA1);
      await CryptDestroyHash(hash);
      await expectCryptError(() => CryptDestroyHash(hash), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptHashData(hash, message), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetHashParam(null as unknown as HCRYPTHASH, HP_ALGID), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptHashData(prov as unknown as HCRYPTHASH, message), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptCreateHash(hash as unknown as HCRYPTPROV, CALG_SHA1), 'ERROR_INVALID_PARAMETER');
      const live = await CryptCreateHash(prov, CALG_SHA1);
      await CryptReleaseContext(prov);
      await expectCryptError(() => CryptDestroyHash(live), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetHashParam(live, HP_HASHVAL), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('CryptSignHash (S1, S2, §3.9)', () => {
    for (const spec of [AT_KEYEXCHANGE, AT_SIGNATURE]) {
      it(`${spec === AT_KEYEXCHANGE ? 'AT_KEYEXCHANGE' : 'AT_SIGNATURE'}: PKCS#1 v1.5 over DigestInfo ‖ H for every hash, little-endian`, async () => {
        const { prov, name } = await newKeyPair(csp, spec, 1024);
        const [tokenKey] = tokenRsaPublicKeys(csp.tokens[0]!.label, name);
        for (const h of HASHES) {
          const hash = await hashOf(prov, h.algId, message);
          const signature = await CryptSignHash(hash, spec, null, 0);
          assert.equal(signature.length, 128);
          assert.ok(crypto.verify(h.node, message, { key: tokenKey!, padding: crypto.constants.RSA_PKCS1_PADDING }, reversed(signature)), `${h.node} signature verifies reversed`);
          assert.ok(!crypto.verify(h.node, message, tokenKey!, signature), `${h.node}: not big-endian`);
          await expectCryptError(() => CryptHashData(hash, message), 'NTE_BAD_HASH_STATE', 'signing finished the hash');
          const pub = await CryptGetUserKey(prov, spec);
          const check = await hashOf(prov, h.algId, message);
          await CryptVerifySignature(check, signature, pub, null, 0);
        }
      });
    }

    it('CRYPT_NOHASHOID signs H alone; CALG_SSL3_SHAMD5 signs the raw 36 bytes', async () => {
      const { prov, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const [tokenKey] = tokenRsaPublicKeys(csp.tokens[0]!.label, name);
      const digest = createHash('sha256').update(message).digest();
      const noOid = await CryptSignHash(await hashOf(prov, CALG_SHA_256, message), AT_KEYEXCHANGE, null, CRYPT_NOHASHOID);
      assert.deepEqual(recoveredBlock(tokenKey!, noOid), pkcs1Type1(128, digest));
      const ssl3 = Buffer.concat([createHash('md5').update(message).digest(), createHash('sha1').update(message).digest()]);
      const shamd5 = await CryptCreateHash(prov, CALG_SSL3_SHAMD5);
      await CryptSetHashParam(shamd5, HP_HASHVAL, ssl3);
      const signature = await CryptSignHash(shamd5, AT_KEYEXCHANGE);
      assert.deepEqual(recoveredBlock(tokenKey!, signature), pkcs1Type1(128, ssl3));
      // A hash value set by HP_HASHVAL is signed as it is.
      const set = await CryptCreateHash(prov, CALG_SHA_256);
      await CryptSetHashParam(set, HP_HASHVAL, digest);
      assert.ok(crypto.verify('sha256', message, tokenKey!, reversed(await CryptSignHash(set, AT_KEYEXCHANGE))));
      // An SSL3_SHAMD5 hash with no value set has nothing to sign.
      await expectCryptError(async () => CryptSignHash(await CryptCreateHash(prov, CALG_SSL3_SHAMD5), AT_KEYEXCHANGE), 'NTE_BAD_HASH_STATE');
    });

    it('sDescription, when given, is hashed in first (S4)', async () => {
      const { prov, name } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      const [tokenKey] = tokenRsaPublicKeys(csp.tokens[0]!.label, name);
      const signature = await CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_SIGNATURE, 'note' as unknown as null);
      const expected = Buffer.concat([message, Buffer.from('note', 'utf16le')]);
      assert.ok(crypto.verify('sha1', expected, tokenKey!, reversed(signature)));
      const pub = await CryptGetUserKey(prov, AT_SIGNATURE);
      await CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), signature, pub, 'note' as unknown as null);
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), signature, pub), 'NTE_BAD_SIGNATURE');
      await expectCryptError(async () => CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_SIGNATURE, 5 as unknown as null), 'ERROR_INVALID_PARAMETER');
    });

    it('a missing key pair is NTE_NO_KEY (S1), unknown flags NTE_BAD_FLAGS, CRYPT_X931_FORMAT NTE_BAD_FLAGS', async () => {
      const { prov } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      await expectCryptError(async () => CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_KEYEXCHANGE), 'NTE_NO_KEY');
      await expectCryptError(async () => CryptSignHash(await hashOf(prov, CALG_SHA1, message), 3), 'NTE_NO_KEY');
      await expectCryptError(async () => CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_SIGNATURE, null, 0x8), 'NTE_BAD_FLAGS');
      await expectCryptError(async () => CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_SIGNATURE, null, CRYPT_X931_FORMAT), 'NTE_BAD_FLAGS');
      const noContainer = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(async () => CryptSignHash(await hashOf(noContainer, CALG_SHA1, message), AT_SIGNATURE), 'NTE_NO_KEY');
      await expectCryptError(() => CryptSignHash(null as unknown as HCRYPTHASH, AT_SIGNATURE), 'ERROR_INVALID_PARAMETER');
    });

    describe('PIN', () => {
      afterEach(() => csp.login());

      it('silent without a cached PIN: NTE_SILENT_CONTEXT; CRYPT_VERIFYCONTEXT with a name: NTE_PERM; the UI is asked once', async () => {
        const { name } = await newKeyPair(csp, AT_SIGNATURE, 1024);
        await csp.logout();
        const silent = await csp.acquire(name, CRYPT_SILENT);
        await expectCryptError(async () => CryptSignHash(await hashOf(silent, CALG_SHA1, message), AT_SIGNATURE), 'NTE_SILENT_CONTEXT');
        const verify = await csp.acquire(await csp.qualified(name), (CRYPT_VERIFYCONTEXT | CRYPT_SILENT) >>> 0);
        await expectCryptError(async () => CryptSignHash(await hashOf(verify, CALG_SHA1, message), AT_SIGNATURE), 'NTE_PERM');
        const ui = useScriptedUi();
        ui.pins = [csp.tokens[0]!.pin];
        const noisy = await csp.acquire(name, 0);
        for (let i = 0; i < 3; i++) await CryptSignHash(await hashOf(noisy, CALG_SHA_256, message), AT_SIGNATURE);
        assert.equal(ui.pinRequests.length, 1, 'asked once, then cached');
        // Now cached: the silent context signs too.
        await CryptSignHash(await hashOf(silent, CALG_SHA1, message), AT_SIGNATURE);
      });
    });

    it('a key replaced by another context is found again: the signature is made and verifies with the new key', async () => {
      const { prov, name } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      await CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_SIGNATURE); // the context now remembers the slot
      const other = await csp.acquire(name, CRYPT_SILENT);
      const replaced = await CryptGenKey(other, AT_SIGNATURE, 1024 << 16);
      const signature = await CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_SIGNATURE);
      await CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), signature, replaced);
    });
  });

  describe('the warm path (token I/O)', () => {
    const N = 10;
    let module: LoadedModule;
    before(() => { module = acquireModule(SUITE_MODULE); });
    after(() => releaseModule(module));

    it('a warm CryptSignHash is one CardSignData; on the token C_SignInit + C_Sign', async () => {
      const { prov } = await newKeyPair(csp, AT_KEYEXCHANGE, 2048);
      const card = await csp.card();
      const digest = createHash('sha256').update(message).digest();
      const sign = async (): Promise<void> => {
        const hash = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptSetHashParam(hash, HP_HASHVAL, digest);
        await CryptSignHash(hash, AT_KEYEXCHANGE);
        await CryptDestroyHash(hash);
      };
      const calls = await warmIo(card, module, N, sign);
      assert.deepEqual(calls.card, { CardSignData: N }, 'card entry points');
      assert.deepEqual(calls.pkcs11, { C_SignInit: N, C_Sign: N }, 'PKCS#11 calls');
    });
  });

  describe('a key deleted under a context', () => {
    it('CryptSignHash and CryptDecrypt give NTE_NO_KEY once another context deleted the container', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      await CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_KEYEXCHANGE); // remembered by the context
      const ciphertext = await CryptEncrypt(key, null, true, 0, message);
      assert.equal(await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DELETEKEYSET | CRYPT_SILENT), null);
      await expectCryptError(async () => CryptSignHash(await hashOf(prov, CALG_SHA1, message), AT_KEYEXCHANGE), 'NTE_NO_KEY');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, ciphertext), 'NTE_NO_KEY');
    });
  });

  describe('CryptVerifySignature (S3, §3.9)', () => {
    const signer = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });

    async function importedKey(prov: HCRYPTPROV, aiKeyAlg?: number): Promise<HCRYPTKEY> {
      return CryptImportKey(prov, publicKeyBlobOf(signer.publicKey, aiKeyAlg), null, 0);
    }

    it('verifies node:crypto signatures (reversed) under an imported public key, every hash; with and without DigestInfo', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const pub = await importedKey(prov);
      const sigKey = await importedKey(prov, CALG_RSA_SIGN);
      for (const h of HASHES) {
        const signature = reversed(crypto.sign(h.node, message, signer.privateKey));
        await CryptVerifySignature(await hashOf(prov, h.algId, message), signature, pub);
        await CryptVerifySignature(await hashOf(prov, h.algId, message), signature, sigKey);
        await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, h.algId, message), signature, pub, null, CRYPT_NOHASHOID), 'NTE_BAD_SIGNATURE', `${h.node}: DigestInfo present but CRYPT_NOHASHOID`);
        // Without DigestInfo: accepted with and without CRYPT_NOHASHOID (§3.9).
        const digest = createHash(h.node).update(message).digest();
        const bare = reversed(crypto.privateEncrypt({ key: signer.privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, digest));
        await CryptVerifySignature(await hashOf(prov, h.algId, message), bare, pub, null, CRYPT_NOHASHOID);
        await CryptVerifySignature(await hashOf(prov, h.algId, message), bare, pub, null, 0);
      }
    });

    it('refuses wrong signatures: big-endian, altered, of another message, wrong length (NTE_BAD_SIGNATURE), not below the modulus', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const pub = await importedKey(prov);
      const good = reversed(crypto.sign('sha256', message, signer.privateKey));
      const cases: [string, Buffer][] = [
        ['big-endian', reversed(good)],
        ['altered', Buffer.from(good).fill(0x5a, 10, 11)],
        ['shorter', good.subarray(1)],
        ['longer', Buffer.concat([good, Buffer.alloc(1)])],
        ['empty', Buffer.alloc(0)],
        ['all 0xff', Buffer.alloc(128, 0xff)],
      ];
      for (const [what, signature] of cases) {
        await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA_256, message), signature, pub), 'NTE_BAD_SIGNATURE', what);
      }
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA_256, Buffer.from('other')), good, pub), 'NTE_BAD_SIGNATURE');
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_MD5, message), good, pub), 'NTE_BAD_SIGNATURE', 'another hash algorithm');
    });

    it('argument errors: flags, X9.31, a session key, NULL key or signature, and the hash finished after', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const pub = await importedKey(prov);
      const good = reversed(crypto.sign('sha1', message, signer.privateKey));
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), good, pub, null, 0x10), 'NTE_BAD_FLAGS');
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), good, pub, null, CRYPT_X931_FORMAT), 'NTE_BAD_FLAGS');
      const aes = await CryptGenKey(prov, CALG_AES_256, 0);
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), good, aes), 'NTE_BAD_KEY');
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), good, null as unknown as HCRYPTKEY), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(async () => CryptVerifySignature(await hashOf(prov, CALG_SHA1, message), null as unknown as Uint8Array, pub), 'ERROR_INVALID_PARAMETER');
      const hash = await hashOf(prov, CALG_SHA1, message);
      await CryptVerifySignature(hash, good, pub);
      await expectCryptError(() => CryptHashData(hash, message), 'NTE_BAD_HASH_STATE', 'verifying finished the hash');
    });
  });
});
