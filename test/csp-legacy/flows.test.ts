/**
 * The two application flows of issue #5, end to end on SoftHSM2 cards, through the CryptoAPI calls an
 * application makes:
 *
 *  1. Create a container silently (the smart card architecture's "Create a new container in silent
 *     context"): acquire the reader (level II) with CRYPT_DEFAULT_CONTAINER_OPTIONAL, set
 *     PP_KEYEXCHANGE_PIN, release, acquire the level I name with CRYPT_NEWKEYSET, CryptGenKey.
 *  2. Open silently and fall back (the classic smart card encryption walk-through): acquire with
 *     CRYPT_SILENT | CRYPT_MACHINE_KEYSET; on NTE_BAD_KEYSET create with CRYPT_NEWKEYSET (and make the
 *     exchange key); a silent context cannot get the PIN for a decryption (NTE_SILENT_CONTEXT);
 *     reopened non-silently the UI is asked once and the PIN is then cached.
 *
 * The card is asked what happened at each step (its container map, container info, PIN state), and
 * the token through graphene, independently of the code under test.
 */
import assert from 'node:assert/strict';
import { constants, createHash, publicEncrypt, verify } from 'node:crypto';
import { CryptExportKey } from '../../csp-legacy/blobs.js';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptDecrypt } from '../../csp-legacy/encryption.js';
import {
  CRYPT_DEFAULT_CONTAINER_OPTIONAL, CRYPT_MACHINE_KEYSET, CRYPT_NEWKEYSET, CRYPT_SILENT, MS_SCARD_PROV, PP_CONTAINER, PP_KEYEXCHANGE_PIN,
  PP_UNIQUE_CONTAINER, PROV_RSA_FULL,
} from '../../csp-legacy/constants.js';
import { CryptCreateHash, CryptSetHashParam, CryptSignHash } from '../../csp-legacy/hashes.js';
import { CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { CryptGetProvParam, CryptSetProvParam } from '../../csp-legacy/prov-params.js';
import { containerKeySpecs } from '../../minidriver/codecs/index.js';
import { ROLE_USER } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import { expectCryptError } from '../pkcs11-bridge/helpers.js';
import type { SoftHsmToken } from '../rigs/index.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { type CspFixture, cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, CALG_SHA_256, HP_HASHVAL, PUBLICKEYBLOB, reversed, tokenPrivateKeys, tokenRsaPublicKeys,
} from './key-test-helpers.js';

let fx: CspFixture;
let A: SoftHsmToken;

/** The modulus of a PUBLICKEYBLOB, big-endian, read from the reference's layout (§3.2: 20 header bytes, then n little-endian). */
function rsaModulusOfBlob(blob: Uint8Array): Buffer {
  const bits = Buffer.from(blob).readUInt32LE(12);
  return reversed(blob.subarray(20, 20 + bits / 8));
}

describe('csp-legacy: application flows', function () {
  fx = cspFixture('csp-flows', 2);
  [A] = fx.tokens as [SoftHsmToken];

  afterEach(async () => {
    await fx.login();
  });

  it('flow 1: a container created silently, the PIN given through PP_KEYEXCHANGE_PIN on a reader context', async () => {
    await fx.logout(); // nothing cached: only the PIN the application sets may be used
    const ui = useScriptedUi(); // present, so that any prompt would be seen (and fail the test)
    const card = await fx.card(A.label);
    const name = fx.uniqueName();
    const readerName = await fx.qualified('', A.label);
    const containerName = await fx.qualified(name, A.label);

    // Without the PIN step, a silent creation is refused and nothing is written.
    await expectCryptError(() => CryptAcquireContext(containerName, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT), 'NTE_SILENT_CONTEXT');
    assert.equal(await fx.onCard(name, A.label), undefined);

    // 1. The reader (type II), no container needed.
    const reader = await CryptAcquireContext(readerName, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DEFAULT_CONTAINER_OPTIONAL | CRYPT_SILENT);
    assert.equal(reader.context.card, card);
    // 2. The PIN, NUL-terminated ASCII, as a C program passes it.
    await CryptSetProvParam(reader, PP_KEYEXCHANGE_PIN, Buffer.from(`${A.pin}\0`, 'ascii'));
    assert.ok(fx.service.pins.has(pinCacheCard(card), ROLE_USER), 'cached for the process');
    // 3. Release.
    await CryptReleaseContext(reader);
    // 4. The container (type I), created silently.
    const prov = await CryptAcquireContext(containerName, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT);
    assert.equal(prov.context.card, card);
    assert.equal(await CryptGetProvParam(prov, PP_CONTAINER), containerName);
    assert.equal(await CryptGetProvParam(prov, PP_UNIQUE_CONTAINER), containerName);
    const made = await fx.onCard(name, A.label);
    assert.ok(made, 'the container is on the card');
    assert.deepEqual(containerKeySpecs(await card.containerInfo(made.index, true)), [], 'and holds no key yet (A3)');
    assert.equal(ui.cardRequests.length + ui.pinRequests.length, 0, 'never a prompt');

    // 5. CryptGenKey(AT_KEYEXCHANGE), silent, the card's default length: the only PIN this process has
    // is the one PP_KEYEXCHANGE_PIN gave (fx.logout() dropped the rest, and the UI holds none).
    const sizes = await card.keySizes(AT_KEYEXCHANGE);
    const key = await CryptGenKey(prov, AT_KEYEXCHANGE);
    assert.equal(ui.cardRequests.length + ui.pinRequests.length, 0, 'never a prompt, key generation included');

    // What the card holds now, read around csp-legacy: the container info the card gives (not the
    // data cache), and the token's own objects through graphene.
    const info = await card.containerInfo(made.index, true);
    assert.deepEqual(containerKeySpecs(info), [AT_KEYEXCHANGE], 'the container holds one key pair, in the AT_KEYEXCHANGE slot');
    const onToken = tokenRsaPublicKeys(A.label, name);
    assert.equal(onToken.length, 1, 'one RSA public key object under the container\'s name');
    const tokenKey = onToken[0]!;
    assert.equal(tokenKey.asymmetricKeyDetails?.modulusLength, sizes.dwDefaultBitlen, 'the card\'s default length');
    assert.deepEqual(rsaModulusOfBlob(info.pbKeyExPublicKey!), Buffer.from(tokenKey.export({ format: 'jwk' }).n!, 'base64url'), 'CONTAINER_INFO and the token agree on the key');
    assert.deepEqual(await CryptExportKey(key, null, PUBLICKEYBLOB), Buffer.from(info.pbKeyExPublicKey!), 'the handle\'s PUBLICKEYBLOB is the card\'s');
    const privates = tokenPrivateKeys(A.label, A.pin, name);
    assert.equal(privates.length, 1, 'one private key object');
    assert.equal(privates[0]!.sensitive, true, 'sensitive');
    assert.equal(privates[0]!.extractable, false, 'never extractable');

    // The PIN is cached for the process, not just left on the card's login: with the card logged out,
    // the new key still signs silently, and the token's public key verifies the signature.
    await card.deauthenticate(ROLE_USER);
    const digest = createHash('sha256').update('flow 1').digest();
    const hash = await CryptCreateHash(prov, CALG_SHA_256);
    await CryptSetHashParam(hash, HP_HASHVAL, digest);
    const signature = await CryptSignHash(hash, AT_KEYEXCHANGE);
    assert.ok(verify('sha256', Buffer.from('flow 1'), { key: tokenKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(signature).reverse()), 'node:crypto verifies it with the token\'s key');
    assert.equal(ui.cardRequests.length + ui.pinRequests.length, 0, 'still never a prompt');

    await CryptReleaseContext(prov);
  });

  it('flow 2: open silently, create on NTE_BAD_KEYSET, silent contexts cannot get the PIN, a non-silent one asks once', async () => {
    await fx.logout();
    await fx.remove(fx.tokens[1]!.label); // one card present: the scripted UI answers with its PIN
    const ui = useScriptedUi();
    const name = fx.uniqueName();
    const prompts = (): number => ui.cardRequests.length + ui.pinRequests.length;

    // Silent probe, as the walk-through opens: the container does not exist yet.
    let probe: CryptError | undefined;
    try {
      await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
    } catch (err) {
      probe = err as CryptError;
    }
    assert.ok(probe instanceof CryptError && probe.codeName === 'NTE_BAD_KEYSET', `the probe fails with NTE_BAD_KEYSET (${String(probe)})`);
    assert.equal(prompts(), 0, 'the silent probe asked nothing');

    // On NTE_BAD_KEYSET, create with CRYPT_NEWKEYSET (not silent: creating may ask for the PIN, and does).
    ui.pins = [A.pin];
    const created = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET);
    assert.equal(ui.pinRequests.length, 1, 'the PIN was asked once to create');
    const card = created.context.card!;
    const made = (await card.containers(true)).find((c) => c.name === name);
    assert.ok(made, 'created on the card');
    assert.deepEqual(containerKeySpecs(await card.containerInfo(made.index, true)), [], 'empty');
    // The walk-through's next step: no exchange key yet, so one is made (the PIN is cached: no prompt).
    await expectCryptError(() => CryptGetUserKey(created, AT_KEYEXCHANGE), 'NTE_NO_KEY');
    await CryptGenKey(created, AT_KEYEXCHANGE, 1024 << 16);
    assert.deepEqual(containerKeySpecs(await card.containerInfo(made.index, true)), [AT_KEYEXCHANGE]);
    assert.equal(ui.pinRequests.length, 1);
    await CryptReleaseContext(created);

    // A ciphertext for the card's key, made by node:crypto with the public key graphene reads from the
    // token, little-endian as CryptoAPI takes it.
    const secret = Buffer.from('flow 2: only the card can read this');
    const [tokenKey] = tokenRsaPublicKeys(A.label, name);
    assert.ok(tokenKey, 'the key pair is on the token');
    const ciphertext = reversed(publicEncrypt({ key: tokenKey, padding: constants.RSA_PKCS1_PADDING }, secret));

    // The application runs again later (as a new process finds the card: no PIN cached, logged out).
    fx.service.pins.drop(pinCacheCard(card)); // fx.logout() would look for the removed card too
    await card.deauthenticate(ROLE_USER);
    // Silent probe: now the container is there; public work needs no PIN, the decryption does and fails.
    const silent = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
    assert.equal(silent.context.container?.name, name);
    const silentKey = await CryptGetUserKey(silent, AT_KEYEXCHANGE);
    await expectCryptError(() => CryptDecrypt(silentKey, null, true, 0, ciphertext), 'NTE_SILENT_CONTEXT');
    assert.equal(ui.pinRequests.length, 1, 'a silent context never prompts');
    await CryptReleaseContext(silent);

    // Reopened non-silently: the UI is asked exactly once, then the PIN is cached.
    ui.pins = [A.pin];
    const noisy = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_MACHINE_KEYSET);
    const key = await CryptGetUserKey(noisy, AT_KEYEXCHANGE);
    assert.deepEqual(await CryptDecrypt(key, null, true, 0, ciphertext), secret);
    assert.equal(ui.pinRequests.length, 2, 'asked once on reopening');
    assert.equal(ui.pinRequests[1]!.container, name, 'for this container');
    assert.ok(fx.service.pins.has(pinCacheCard(card), ROLE_USER), 'cached');
    await card.deauthenticate(ROLE_USER); // the card forgets; the cache does not
    assert.deepEqual(await CryptDecrypt(key, null, true, 0, ciphertext), secret);
    assert.equal(ui.pinRequests.length, 2, 'the cached PIN served');
    // And with the PIN cached, even a silent context now decrypts.
    const again = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
    assert.deepEqual(await CryptDecrypt(await CryptGetUserKey(again, AT_KEYEXCHANGE), null, true, 0, ciphertext), secret);
    assert.equal(ui.pinRequests.length, 2);
    assert.equal(ui.cardRequests.length, 0, 'one card present: never a card prompt');
    await CryptReleaseContext(again);
    await CryptReleaseContext(noisy);
  });
});
