/**
 * CryptGenKey, CryptGetUserKey and CryptDestroyKey on SoftHSM2 cards: key pairs generated into both
 * slots of a container (checked against the token through graphene, never through the code under
 * test), key lengths, the replaced slot, session keys, silent and verify-only contexts, the PIN asked
 * once through the UI, and handle hygiene (C1, K1–K3, A3, A4, A10).
 */
import { strict as assert } from 'node:assert';
import { CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptGetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptDestroyKey, CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import type { HCRYPTPROV } from '../../csp-legacy/handles.js';
import { expectCryptError } from '../pkcs11-bridge/helpers.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_3DES, CALG_AES, CALG_AES_128, CALG_AES_256, CALG_RC4, CALG_RSA_KEYX, CALG_RSA_SIGN,
  CRYPT_ARCHIVABLE, CRYPT_CREATE_SALT, CRYPT_EXPORTABLE, CRYPT_MACHINE_KEYSET, CRYPT_SILENT, CRYPT_USER_PROTECTED, CRYPT_VERIFYCONTEXT,
  KP_ALGID, KP_KEYLEN, newKeyPair, publicKeyOf, tokenPrivateKeys, tokenRsaPublicKeys,
} from './key-test-helpers.js';

describe('csp-legacy: keys (CryptGenKey, CryptGetUserKey, CryptDestroyKey)', function () {
  const csp = cspFixture('csp-keys', 1);

  function token() {
    return csp.tokens[0]!;
  }

  describe('card key pairs', () => {
    it('CryptGenKey(AT_KEYEXCHANGE) makes an RSA key on the card in the key-exchange slot (KP_ALGID CALG_RSA_KEYX)', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      assert.equal(await CryptGetKeyParam(key, KP_ALGID), CALG_RSA_KEYX);
      assert.equal(await CryptGetKeyParam(key, KP_KEYLEN), 1024);
      const onToken = tokenRsaPublicKeys(token().label, name);
      assert.equal(onToken.length, 1, 'one RSA public key on the token under the container name');
      assert.ok(onToken[0]!.equals(publicKeyOf(key)), 'the handle holds the public key the token holds');
      const privates = tokenPrivateKeys(token().label, token().pin, name);
      assert.equal(privates.length, 1);
      assert.equal(privates[0]!.sensitive, true);
      assert.equal(privates[0]!.extractable, false, 'the private key cannot leave the token');
      const again = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      assert.notEqual(again, key, 'each CryptGetUserKey is a new handle (K1)');
      assert.ok(publicKeyOf(again).equals(publicKeyOf(key)));
      await expectCryptError(() => CryptGetUserKey(prov, AT_SIGNATURE), 'NTE_NO_KEY', 'empty signature slot');
    });

    it('CryptGenKey(AT_SIGNATURE) and (CALG_RSA_SIGN) fill the signature slot; CALG_RSA_KEYX the exchange slot; both live side by side', async () => {
      const name = csp.uniqueName();
      const prov = await csp.newContainer(name);
      const sig = await CryptGenKey(prov, CALG_RSA_SIGN, 1024 << 16);
      assert.equal(await CryptGetKeyParam(sig, KP_ALGID), CALG_RSA_SIGN);
      const keyx = await CryptGenKey(prov, CALG_RSA_KEYX, 1024 << 16);
      assert.equal(await CryptGetKeyParam(keyx, KP_ALGID), CALG_RSA_KEYX);
      const onToken = tokenRsaPublicKeys(token().label, name);
      assert.equal(onToken.length, 2);
      assert.ok(onToken.some((k) => k.equals(publicKeyOf(sig))) && onToken.some((k) => k.equals(publicKeyOf(keyx))));
      assert.ok(!publicKeyOf(sig).equals(publicKeyOf(keyx)), 'two different keys');
      const gotSig = await CryptGetUserKey(prov, AT_SIGNATURE);
      assert.equal(await CryptGetKeyParam(gotSig, KP_ALGID), CALG_RSA_SIGN);
      assert.ok(publicKeyOf(gotSig).equals(publicKeyOf(sig)));
      const viaAtSignature = await newKeyPair(csp, AT_SIGNATURE, 1024);
      assert.equal(await CryptGetKeyParam(viaAtSignature.key, KP_ALGID), CALG_RSA_SIGN);
    });

    it('takes the key length from the upper 16 bits of dwFlags, and the card default for 0', async () => {
      const card = await csp.card();
      const sizes = await card.keySizes(AT_KEYEXCHANGE);
      const prov = await csp.newContainer();
      const byDefault = await CryptGenKey(prov, AT_KEYEXCHANGE, 0);
      assert.equal(await CryptGetKeyParam(byDefault, KP_KEYLEN), sizes.dwDefaultBitlen);
      assert.equal(publicKeyOf(byDefault).asymmetricKeyDetails!.modulusLength, sizes.dwDefaultBitlen);
    });

    it('refuses lengths the card cannot make with NTE_BAD_FLAGS, leaving the container empty', async () => {
      const card = await csp.card();
      const sizes = await card.keySizes(AT_KEYEXCHANGE);
      const name = csp.uniqueName();
      const prov = await csp.newContainer(name);
      for (const bits of [sizes.dwMinimumBitlen - 8, sizes.dwMaximumBitlen + sizes.dwIncrementalBitlen, sizes.dwMinimumBitlen + 8, 0xffff]) {
        await expectCryptError(() => CryptGenKey(prov, AT_KEYEXCHANGE, bits << 16), 'NTE_BAD_FLAGS', `${bits} bits`);
      }
      assert.equal(tokenRsaPublicKeys(token().label, name).length, 0, 'nothing was generated');
      await expectCryptError(() => CryptGetUserKey(prov, AT_KEYEXCHANGE), 'NTE_NO_KEY');
    });

    it('refuses CRYPT_EXPORTABLE, CRYPT_ARCHIVABLE and flags a key pair does not take (NTE_BAD_FLAGS)', async () => {
      const name = csp.uniqueName();
      const prov = await csp.newContainer(name);
      for (const flags of [CRYPT_EXPORTABLE, CRYPT_ARCHIVABLE, CRYPT_CREATE_SALT, (0x8000_0000 | 0x20) >>> 0, -1, 1.5]) {
        await expectCryptError(() => CryptGenKey(prov, AT_KEYEXCHANGE, flags), 'NTE_BAD_FLAGS', `flags ${flags}`);
      }
      await expectCryptError(() => CryptGenKey(prov, AT_KEYEXCHANGE, 'x' as unknown as number), 'NTE_BAD_FLAGS');
      assert.equal(tokenRsaPublicKeys(token().label, name).length, 0);
    });

    it('replaces the key of a slot that already holds one, as Windows does (K2)', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const second = await CryptGenKey(prov, AT_KEYEXCHANGE, 1024 << 16);
      assert.ok(!publicKeyOf(second).equals(publicKeyOf(key)));
      const onToken = tokenRsaPublicKeys(token().label, name);
      assert.equal(onToken.length, 1, 'the old key pair is gone from the token');
      assert.ok(onToken[0]!.equals(publicKeyOf(second)));
      const reopened = await csp.acquire(name, CRYPT_SILENT);
      assert.ok(publicKeyOf(await CryptGetUserKey(reopened, AT_KEYEXCHANGE)).equals(publicKeyOf(second)));
    });

    it('keys persist: another context, and a CRYPT_MACHINE_KEYSET one reading the card, get the same key', async () => {
      const { key, name } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      for (const flags of [0, CRYPT_SILENT, CRYPT_MACHINE_KEYSET | CRYPT_SILENT]) {
        const prov = await csp.acquire(name, flags);
        const got = await CryptGetUserKey(prov, AT_SIGNATURE);
        assert.ok(publicKeyOf(got).equals(publicKeyOf(key)), `flags 0x${flags.toString(16)}`);
        await expectCryptError(() => CryptGetUserKey(prov, AT_KEYEXCHANGE), 'NTE_NO_KEY');
        await CryptReleaseContext(prov);
      }
    });

    it('CryptGetUserKey: a new container has no key (A3); unknown key specs are NTE_NO_KEY (K1); a non-number is ERROR_INVALID_PARAMETER', async () => {
      const prov = await csp.newContainer();
      await expectCryptError(() => CryptGetUserKey(prov, AT_KEYEXCHANGE), 'NTE_NO_KEY');
      await expectCryptError(() => CryptGetUserKey(prov, AT_SIGNATURE), 'NTE_NO_KEY');
      await CryptGenKey(prov, AT_KEYEXCHANGE, 1024 << 16);
      for (const spec of [0, 3, 0xa400, 0xffffffff]) await expectCryptError(() => CryptGetUserKey(prov, spec), 'NTE_NO_KEY', `spec ${spec}`);
      await expectCryptError(() => CryptGetUserKey(prov, '1' as unknown as number), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGenKey(prov, null as unknown as number), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('PIN, silent and verify-only contexts', () => {
    afterEach(() => csp.login());

    it('CryptGenKey in a CRYPT_SILENT context works with the PIN cached and fails with NTE_SILENT_CONTEXT without it', async () => {
      const name = csp.uniqueName();
      const prov = await csp.newContainer(name);
      await CryptGenKey(prov, AT_SIGNATURE, 1024 << 16); // PIN cached by the fixture
      await csp.logout();
      const silent = await csp.acquire(name, CRYPT_SILENT);
      await expectCryptError(() => CryptGenKey(silent, AT_KEYEXCHANGE, 1024 << 16), 'NTE_SILENT_CONTEXT');
      assert.equal(tokenRsaPublicKeys(token().label, name).length, 1, 'nothing more was generated');
      // Reading a public key never needs the PIN.
      await CryptGetUserKey(silent, AT_SIGNATURE);
    });

    it('a non-silent context asks the UI for the PIN once, then uses the cache', async () => {
      const name = csp.uniqueName();
      await csp.newContainer(name);
      await csp.logout();
      const ui = useScriptedUi();
      ui.pins = [token().pin];
      const prov = await csp.acquire(name, 0);
      await CryptGenKey(prov, AT_KEYEXCHANGE, 1024 << 16);
      await CryptGenKey(prov, AT_SIGNATURE, 1024 << 16);
      assert.equal(ui.pinRequests.length, 1, 'one prompt for two key generations');
      assert.equal(ui.pinRequests[0]!.container, name);
    });

    it('a wrong PIN from the UI is asked again; cancelling gives the cancel code and generates nothing', async () => {
      const name = csp.uniqueName();
      await csp.newContainer(name);
      await csp.logout();
      const ui = useScriptedUi();
      ui.pins = ['wrong-pin', null];
      const prov = await csp.acquire(name, 0);
      const err = await expectCryptError(() => CryptGenKey(prov, AT_KEYEXCHANGE, 1024 << 16), 'SCARD_W_CANCELLED_BY_USER');
      assert.ok(!err.message.includes('wrong-pin') && !err.message.includes(token().pin), 'no PIN in the message');
      assert.equal(ui.pinRequests.length, 2);
      assert.equal(ui.pinRequests[1]!.retry, true);
      assert.equal(tokenRsaPublicKeys(token().label, name).length, 0);
    });

    it('CRYPT_USER_PROTECTED: NTE_SILENT_CONTEXT in a silent context (A10), accepted in a non-silent one', async () => {
      const name = csp.uniqueName();
      const silent = await csp.newContainer(name);
      await expectCryptError(() => CryptGenKey(silent, AT_KEYEXCHANGE, (1024 << 16) | CRYPT_USER_PROTECTED), 'NTE_SILENT_CONTEXT');
      await expectCryptError(() => CryptGenKey(silent, CALG_AES_128, CRYPT_USER_PROTECTED), 'NTE_SILENT_CONTEXT', 'session key too');
      const noisy = await csp.acquire(name, 0);
      const key = await CryptGenKey(noisy, AT_KEYEXCHANGE, (1024 << 16) | CRYPT_USER_PROTECTED);
      assert.equal(await CryptGetKeyParam(key, KP_ALGID), CALG_RSA_KEYX);
    });

    it('CRYPT_VERIFYCONTEXT with a container name: public keys readable, generation refused (NTE_PERM)', async () => {
      const { key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const verify = await csp.acquire(await csp.qualified(name), (CRYPT_VERIFYCONTEXT | CRYPT_SILENT) >>> 0);
      assert.ok(publicKeyOf(await CryptGetUserKey(verify, AT_KEYEXCHANGE)).equals(publicKeyOf(key)));
      await expectCryptError(() => CryptGenKey(verify, AT_SIGNATURE, 1024 << 16), 'NTE_PERM');
      assert.equal(tokenRsaPublicKeys(token().label, name).length, 1);
    });

    it('CRYPT_VERIFYCONTEXT with no name: no key pair (NTE_NO_KEY, A4), no container to generate into (NTE_BAD_KEYSET), session keys work', async () => {
      const verify = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptGetUserKey(verify, AT_KEYEXCHANGE), 'NTE_NO_KEY');
      await expectCryptError(() => CryptGetUserKey(verify, AT_SIGNATURE), 'NTE_NO_KEY');
      await expectCryptError(() => CryptGenKey(verify, AT_KEYEXCHANGE, 1024 << 16), 'NTE_BAD_KEYSET');
      const aes = await CryptGenKey(verify, CALG_AES_256, CRYPT_EXPORTABLE);
      assert.equal(await CryptGetKeyParam(aes, KP_ALGID), CALG_AES_256);
    });
  });

  describe('session keys', () => {
    it('CryptGenKey makes AES and 3DES keys in host memory, any context', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      for (const [algId, bits] of [[CALG_AES_128, 128], [CALG_AES_256, 256], [CALG_3DES, 192]] as const) {
        const key = await CryptGenKey(prov, algId, 0);
        assert.equal(await CryptGetKeyParam(key, KP_ALGID), algId);
        assert.equal(await CryptGetKeyParam(key, KP_KEYLEN), bits);
        await CryptDestroyKey(key);
      }
    });

    it('unsupported algorithms are NTE_BAD_ALGID (K3): generic CALG_AES, RC4, unknown ids', async () => {
      const prov = await csp.acquire(null, CRYPT_VERIFYCONTEXT);
      for (const algId of [CALG_AES, CALG_RC4, 0x1234, 0]) await expectCryptError(() => CryptGenKey(prov, algId, 0), 'NTE_BAD_ALGID', `0x${algId.toString(16)}`);
    });
  });

  describe('handles (C1)', () => {
    it('zero, foreign, wrong-kind and released handles are ERROR_INVALID_PARAMETER', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      for (const bad of [null, undefined, 0, {}, key]) {
        await expectCryptError(() => CryptGetUserKey(bad as unknown as HCRYPTPROV, AT_KEYEXCHANGE), 'ERROR_INVALID_PARAMETER');
        await expectCryptError(() => CryptGenKey(bad as unknown as HCRYPTPROV, CALG_AES_128, 0), 'ERROR_INVALID_PARAMETER');
      }
      await expectCryptError(() => CryptDestroyKey(prov as never), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptDestroyKey(null as never), 'ERROR_INVALID_PARAMETER');
    });

    it('CryptDestroyKey releases one handle (others of the same key stay usable); twice is ERROR_INVALID_PARAMETER; the key stays on the card', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const other = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      await CryptDestroyKey(key);
      await expectCryptError(() => CryptDestroyKey(key), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetKeyParam(key, KP_ALGID), 'ERROR_INVALID_PARAMETER');
      assert.equal(await CryptGetKeyParam(other, KP_ALGID), CALG_RSA_KEYX);
      assert.equal(tokenRsaPublicKeys(token().label, name).length, 1, 'destroying a handle deletes nothing');
      const aes = await CryptGenKey(prov, CALG_AES_128, 0);
      await CryptDestroyKey(aes);
      await expectCryptError(() => CryptGetKeyParam(aes, KP_ALGID), 'ERROR_INVALID_PARAMETER');
    });

    it('keys die with their context: after CryptReleaseContext every call on them is ERROR_INVALID_PARAMETER', async () => {
      const { prov, key } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      const aes = await CryptGenKey(prov, CALG_AES_256, 0);
      await CryptReleaseContext(prov);
      await expectCryptError(() => CryptDestroyKey(key), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptDestroyKey(aes), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetUserKey(prov, AT_SIGNATURE), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGenKey(prov, AT_SIGNATURE, 0), 'ERROR_INVALID_PARAMETER');
    });
  });
});
