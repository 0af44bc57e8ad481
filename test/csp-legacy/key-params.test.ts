/**
 * CryptGetKeyParam / CryptSetKeyParam on SoftHSM2 cards: what card key pairs and imported public keys
 * report (KP_ALGID, KP_KEYLEN, KP_BLOCKLEN, KP_PERMISSIONS, KP_PIN_ID, KP_PIN_INFO), KP_CERTIFICATE read
 * and written (the certificate checked against the key, stored on the card under the PIN, and read back
 * by the CNG front end as an independent reader), K4's permission rule, session keys answering for
 * themselves, and every refusal.
 */
import { strict as assert } from 'node:assert';
import crypto, { webcrypto } from 'node:crypto';
import { CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptGetKeyParam, CryptSetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptDestroyKey, CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import type { HCRYPTKEY } from '../../csp-legacy/handles.js';
import { NCRYPT_CERTIFICATE_PROPERTY } from '../../ksp/constants.js';
import { NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptGetProperty } from '../../ksp/properties.js';
import { x509 } from '../../minidriver/x509.js';
import { expectCryptError } from '../pkcs11-bridge/helpers.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_AES_256, CALG_RSA_KEYX, CALG_RSA_SIGN, CRYPT_EXPORT, CRYPT_EXPORTABLE, CRYPT_MACHINE_KEYSET, CRYPT_SILENT,
  CRYPT_VERIFYCONTEXT, KP_ALGID, KP_BLOCKLEN, KP_CERTIFICATE, KP_IV, KP_KEYLEN, KP_MODE, KP_PERMISSIONS, KP_PIN_ID, KP_PIN_INFO, newKeyPair,
  publicKeyBlobOf, publicKeyOf,
} from './key-test-helpers.js';

const ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const ca = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

/** A certificate for `subjectKey`, issued by a throw-away CA (the card key need not sign it). */
async function certificateFor(subjectKey: crypto.KeyObject, cn: string): Promise<Buffer> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a', subject: `CN=${cn}`, issuer: 'CN=Test CA', notBefore: new Date('2025-01-01'), notAfter: new Date('2035-01-01'),
    publicKey: await webcrypto.subtle.importKey('spki', subjectKey.export({ format: 'der', type: 'spki' }), ALG, true, ['verify']),
    signingKey: await webcrypto.subtle.importKey('pkcs8', ca.privateKey.export({ format: 'der', type: 'pkcs8' }), ALG, false, ['sign']),
    signingAlgorithm: ALG,
  });
  return Buffer.from(cert.rawData);
}

describe('csp-legacy: key parameters', function () {
  const csp = cspFixture('csp-kparam', 1);

  describe('card key pairs and public keys', () => {
    it('report KP_ALGID, KP_KEYLEN, KP_BLOCKLEN (bits) and KP_PERMISSIONS 0x3B (K4)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const sig = await CryptGenKey(prov, AT_SIGNATURE, 2048 << 16);
      for (const [k, algId, bits] of [[key, CALG_RSA_KEYX, 1024], [sig, CALG_RSA_SIGN, 2048]] as const) {
        assert.equal(await CryptGetKeyParam(k, KP_ALGID), algId);
        assert.equal(await CryptGetKeyParam(k, KP_KEYLEN), bits);
        assert.equal(await CryptGetKeyParam(k, KP_BLOCKLEN), bits);
        assert.equal(await CryptGetKeyParam(k, KP_PERMISSIONS), 0x3b);
      }
      const own = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const pub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey, CALG_RSA_SIGN), null, 0);
      assert.equal(await CryptGetKeyParam(pub, KP_ALGID), CALG_RSA_SIGN);
      assert.equal(await CryptGetKeyParam(pub, KP_KEYLEN), 1024);
      assert.equal(await CryptGetKeyParam(pub, KP_BLOCKLEN), 1024);
      assert.equal(await CryptGetKeyParam(pub, KP_PERMISSIONS), 0x3b);
    });

    it('KP_PIN_ID is ROLE_USER (1); KP_PIN_INFO the card\'s PIN_INFO (36 bytes)', async () => {
      const { key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      assert.equal(await CryptGetKeyParam(key, KP_PIN_ID), 1);
      const info = await CryptGetKeyParam(key, KP_PIN_INFO) as Buffer;
      assert.equal(info.length, 36);
      const card = await csp.card();
      const expected = await card.pinInfo(1);
      const dword = (i: number) => info.readUInt32LE(4 * i);
      assert.deepEqual(
        [dword(0), dword(1), dword(2), dword(3), dword(4), dword(5), dword(6), dword(7), dword(8)],
        [expected.dwVersion, expected.PinType, expected.PinPurpose, expected.dwChangePermission, expected.dwUnblockPermission,
          expected.PinCachePolicy.dwVersion, expected.PinCachePolicy.PinCachePolicyType, expected.PinCachePolicy.dwPinCachePolicyInfo, expected.dwFlags],
      );
    });

    it('parameters a key pair does not have are NTE_BAD_TYPE; flags NTE_BAD_FLAGS; a public key has no card data', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      for (const param of [KP_IV, KP_MODE, 0, 99, 0xffff]) await expectCryptError(() => CryptGetKeyParam(key, param), 'NTE_BAD_TYPE', `get ${param}`);
      for (const param of [KP_ALGID, KP_KEYLEN, KP_IV, KP_PIN_ID, 99]) await expectCryptError(() => CryptSetKeyParam(key, param, 1), 'NTE_BAD_TYPE', `set ${param}`);
      await expectCryptError(() => CryptGetKeyParam(key, KP_ALGID, 1), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptSetKeyParam(key, KP_PERMISSIONS, 0x3b, 1), 'NTE_BAD_FLAGS');
      const own = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const pub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey), null, 0);
      for (const param of [KP_CERTIFICATE, KP_PIN_ID, KP_PIN_INFO, KP_IV]) await expectCryptError(() => CryptGetKeyParam(pub, param), 'NTE_BAD_TYPE', `public ${param}`);
      await expectCryptError(async () => CryptSetKeyParam(pub, KP_CERTIFICATE, await certificateFor(own.publicKey, 'x')), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptGetKeyParam(key, '7' as unknown as number), 'ERROR_INVALID_PARAMETER');
    });

    it('KP_PERMISSIONS: CRYPT_EXPORT cannot be granted (NTE_BAD_DATA); other values are accepted and change nothing (K4)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      await expectCryptError(() => CryptSetKeyParam(key, KP_PERMISSIONS, 0x3b | CRYPT_EXPORT), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptSetKeyParam(key, KP_PERMISSIONS, Buffer.from([0x3f, 0, 0, 0])), 'NTE_BAD_DATA');
      await CryptSetKeyParam(key, KP_PERMISSIONS, 0);
      await CryptSetKeyParam(key, KP_PERMISSIONS, Buffer.from([0x3b, 0, 0, 0]));
      assert.equal(await CryptGetKeyParam(key, KP_PERMISSIONS), 0x3b);
      await expectCryptError(() => CryptSetKeyParam(key, KP_PERMISSIONS, Buffer.from([1, 2])), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptSetKeyParam(key, KP_PERMISSIONS, 'x' as unknown as number), 'ERROR_INVALID_PARAMETER');
      const own = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const pub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey), null, 0);
      await expectCryptError(() => CryptSetKeyParam(pub, KP_PERMISSIONS, CRYPT_EXPORT), 'NTE_BAD_DATA');
    });
  });

  describe('KP_CERTIFICATE', () => {
    afterEach(() => csp.login());

    it('absent: SCARD_E_NO_SUCH_CERTIFICATE; written: stored on the card for that slot, read back here and by CNG', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const sig = await CryptGenKey(prov, AT_SIGNATURE, 1024 << 16);
      await expectCryptError(() => CryptGetKeyParam(key, KP_CERTIFICATE), 'SCARD_E_NO_SUCH_CERTIFICATE');
      const der = await certificateFor(publicKeyOf(key), name);
      await CryptSetKeyParam(key, KP_CERTIFICATE, der);
      assert.deepEqual(await CryptGetKeyParam(key, KP_CERTIFICATE), der);
      await expectCryptError(() => CryptGetKeyParam(sig, KP_CERTIFICATE), 'SCARD_E_NO_SUCH_CERTIFICATE', 'the other slot has none');
      // Another context, reading the card itself, and the CNG front end see it too.
      const machine = await csp.acquire(name, CRYPT_MACHINE_KEYSET | CRYPT_SILENT);
      assert.deepEqual(await CryptGetKeyParam(await CryptGetUserKey(machine, AT_KEYEXCHANGE), KP_CERTIFICATE), der);
      const ncrypt = await NCryptOpenStorageProvider(null);
      const cngKey = await NCryptOpenKey(ncrypt, name, AT_KEYEXCHANGE, 0x40);
      assert.deepEqual(await NCryptGetProperty(cngKey, NCRYPT_CERTIFICATE_PROPERTY), der);
      await NCryptFreeObject(cngKey);
      await NCryptFreeObject(ncrypt);
      // The signature slot takes its own certificate.
      const sigDer = await certificateFor(publicKeyOf(sig), `${name}-sig`);
      await CryptSetKeyParam(sig, KP_CERTIFICATE, sigDer);
      assert.deepEqual(await CryptGetKeyParam(sig, KP_CERTIFICATE), sigDer);
      assert.deepEqual(await CryptGetKeyParam(key, KP_CERTIFICATE), der);
    });

    it('refuses a certificate of another key (NTE_BAD_PUBLIC_KEY), non-certificates (NTE_BAD_DATA), non-bytes (ERROR_INVALID_PARAMETER)', async () => {
      const { key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      await expectCryptError(async () => CryptSetKeyParam(key, KP_CERTIFICATE, await certificateFor(stranger.publicKey, 'x')), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptSetKeyParam(key, KP_CERTIFICATE, Buffer.from('not a certificate')), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptSetKeyParam(key, KP_CERTIFICATE, 5), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptSetKeyParam(key, KP_CERTIFICATE, null as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetKeyParam(key, KP_CERTIFICATE), 'SCARD_E_NO_SUCH_CERTIFICATE', 'nothing was written');
    });

    it('writing needs the PIN (silent without it: NTE_SILENT_CONTEXT; verify-only: NTE_PERM); reading never does', async () => {
      const { key, name } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      const der = await certificateFor(publicKeyOf(key), name);
      await csp.logout();
      const silent = await CryptGetUserKey(await csp.acquire(name, CRYPT_SILENT), AT_SIGNATURE);
      await expectCryptError(() => CryptSetKeyParam(silent, KP_CERTIFICATE, der), 'NTE_SILENT_CONTEXT');
      const verify = await CryptGetUserKey(await csp.acquire(await csp.qualified(name), (CRYPT_VERIFYCONTEXT | CRYPT_SILENT) >>> 0), AT_SIGNATURE);
      await expectCryptError(() => CryptSetKeyParam(verify, KP_CERTIFICATE, der), 'NTE_PERM');
      await csp.login();
      await CryptSetKeyParam(silent, KP_CERTIFICATE, der);
      await csp.logout();
      assert.deepEqual(await CryptGetKeyParam(verify, KP_CERTIFICATE), der, 'read without a PIN, from a verify-only context');
    });
  });

  describe('session keys and handles', () => {
    it('session keys answer for themselves (KP_ALGID, KP_KEYLEN, KP_IV, KP_PERMISSIONS with CRYPT_EXPORT when exportable)', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      const aes = await CryptGenKey(prov, CALG_AES_256, CRYPT_EXPORTABLE);
      assert.equal(await CryptGetKeyParam(aes, KP_ALGID), CALG_AES_256);
      assert.equal(await CryptGetKeyParam(aes, KP_KEYLEN), 256);
      assert.equal(await CryptGetKeyParam(aes, KP_BLOCKLEN), 128);
      assert.equal(await CryptGetKeyParam(aes, KP_PERMISSIONS), 0x3f);
      const iv = crypto.randomBytes(16);
      await CryptSetKeyParam(aes, KP_IV, iv);
      assert.deepEqual(await CryptGetKeyParam(aes, KP_IV), iv);
      await expectCryptError(() => CryptGetKeyParam(aes, KP_CERTIFICATE), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptGetKeyParam(aes, KP_IV, 1), 'NTE_BAD_FLAGS');
    });

    it('destroyed or wrong-kind handles are ERROR_INVALID_PARAMETER (C1)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      await CryptDestroyKey(key);
      await expectCryptError(() => CryptGetKeyParam(key, KP_ALGID), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptSetKeyParam(key, KP_PERMISSIONS, 0), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetKeyParam(prov as unknown as HCRYPTKEY, KP_ALGID), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetKeyParam(null as unknown as HCRYPTKEY, KP_ALGID), 'ERROR_INVALID_PARAMETER');
    });
  });
});
