/**
 * The real smart card path through p11-ksp's CryptoAPI front end (csp-legacy): the same emulated CAC
 * card as cng.test.ts (libcacard in a private pcscd + vpcd, reached through OpenSC's PKCS#11 module,
 * selected by its ATR), used through CryptAcquireContext and the Crypt* calls an application makes.
 * The card, its keys and certificates are made when the suite starts (./fixture.ts); every signature
 * and decryption is checked against them with node:crypto, never against p11-ksp itself.
 *
 * Constraints: as cng.test.ts — one rig per process, started once in this file's top-level before()
 * and stopped in after(); root; the tests run in order on one card (the PIN tests leave it unblocked,
 * the removal tests leave it inserted). No assertion is about time.
 *
 * CryptoAPI's conventions checked here:
 *  - container names by reader: `\\.\<reader>\<container>` (level I) opens that container on the card
 *    in that reader, `\\.\<reader>\` (level II) the card's default container;
 *  - RSA signatures and ciphertexts are little-endian (the reverse of PKCS#1 and node:crypto);
 *  - the card's containers are synthesised from its keys (a read-only card): OpenSC marks the CAC keys
 *    for decryption, so each container holds an AT_KEYEXCHANGE key and no AT_SIGNATURE key; the
 *    AT_KEYEXCHANGE key signs too (CryptSignHash(AT_KEYEXCHANGE)), as on Windows;
 *  - OpenSC reports no PIN count until the final try (CARD_DATA_VALUE_UNKNOWN, then 1, then 0); the
 *    card's own counter is read from the rig's events ("pin-wrong tries-left=N").
 */
import assert from 'node:assert/strict';
import { constants, createHash, publicEncrypt, randomBytes, verify } from 'node:crypto';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_SHA_256, CRYPT_DELETEKEYSET, CRYPT_FIRST, CRYPT_NEWKEYSET, CRYPT_NEXT, CRYPT_OAEP, CRYPT_SILENT,
  CRYPT_VERIFYCONTEXT, KP_CERTIFICATE, MS_SCARD_PROV, PP_CONTAINER, PP_ENUMCONTAINERS, PP_KEYEXCHANGE_PIN, PP_SMARTCARD_READER,
  PP_ROOT_CERTSTORE, PP_UNIQUE_CONTAINER, PP_USER_CERTSTORE, PROV_RSA_FULL,
} from '../../csp-legacy/constants.js';
import { x509 } from '../../minidriver/x509.js';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import type { HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptCreateHash, CryptDestroyHash, CryptHashData, CryptSignHash, CryptVerifySignature } from '../../csp-legacy/hashes.js';
import { CryptGetKeyParam, CryptSetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptDestroyKey, CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { CryptGetProvParam, CryptSetProvParam, type UserCertificate } from '../../csp-legacy/prov-params.js';
import { CARD_DATA_VALUE_UNKNOWN, ROLE_USER } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import { cryptErrorOf, expectCryptError } from '../pkcs11-bridge/helpers.js';
import type { VirtualCardKey } from '../rigs/index.js';
import { realCardFixture } from './fixture.js';

const WRONG_PIN = '13579246';

/** A container of the card as the tests found it: its name, its key's slot, and what the rig made. */
interface CardContainerOf {
  name: string;
  keySpec: number;
  made: VirtualCardKey;
}

/** CryptoAPI's little-endian byte order of an RSA block ↔ PKCS#1's big-endian one. */
function reversed(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes).reverse();
}

describe('real card: CryptoAPI over OpenSC and an emulated CAC card (pcscd + vpcd + libcacard)', function () {
  this.timeout(120_000);
  const fx = realCardFixture({ keys: 3, maxTries: 3 });
  const contexts: HCRYPTPROV[] = [];
  const containers: CardContainerOf[] = [];
  const cardIdentity = () => ({ identity: { serial: fx.card.serial, label: fx.card.label } });
  const pinCached = () => fx.service.pins.has(pinCacheCard(cardIdentity()), ROLE_USER);
  const qualified = (name: string) => `\\\\.\\${fx.reader}\\${name}`;

  /** A live context (released when the suite ends). */
  async function acquire(container: string | null, flags = 0): Promise<HCRYPTPROV> {
    const prov = await CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, flags);
    contexts.push(prov);
    return prov;
  }

  /** CryptSignHash(SHA-256) of `text` with the context's key in `keySpec`; the signature as returned (little-endian). */
  async function signText(prov: HCRYPTPROV, keySpec: number, text: string): Promise<Buffer> {
    const hash = await CryptCreateHash(prov, CALG_SHA_256);
    try {
      await CryptHashData(hash, Buffer.from(text));
      return await CryptSignHash(hash, keySpec);
    } finally {
      await CryptDestroyHash(hash);
    }
  }

  /** Signs with the container's key and checks the reversed signature with node:crypto against the rig's certificate. */
  async function signAndCheck(prov: HCRYPTPROV, container: CardContainerOf, text: string): Promise<void> {
    const signature = await signText(prov, container.keySpec, text);
    assert.equal(signature.length, 256);
    assert.ok(verify('sha256', Buffer.from(text), container.made.publicKey, reversed(signature)), `${container.name}: node:crypto verifies the reversed signature`);
    assert.equal(verify('sha256', Buffer.from(text), container.made.publicKey, signature), false, 'as returned, the signature is little-endian');
  }

  /** A wrong PIN presented through PP_KEYEXCHANGE_PIN: its error and the card's own count of tries left (the rig's event). */
  async function wrongPin(prov: HCRYPTPROV): Promise<{ err: CryptError; cardTriesLeft: string | undefined }> {
    const from = fx.card.glueEvents.length;
    const err = await cryptErrorOf(() => CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, WRONG_PIN));
    return { err, cardTriesLeft: await nextPinEvent(from) };
  }

  /** The card's first PIN event after position `from` (the glue reports it on its own stdout, so it may trail the call). */
  async function nextPinEvent(from: number): Promise<string | undefined> {
    const find = () => fx.card.glueEvents.slice(from).find((e) => e.startsWith('pin-'));
    for (let i = 0; i < 400 && !find(); i++) await new Promise((r) => setTimeout(r, 10));
    return find();
  }

  after(async () => {
    // Runs after the fixture's after() (mocha keeps definition order): releasing contexts is host-side only.
    for (const prov of contexts) if (!prov.released) await CryptReleaseContext(prov);
  });

  describe('containers, certificates and keys (no PIN)', () => {
    it('CRYPT_VERIFYCONTEXT on the reader (\\\\.\\<reader>\\): PP_ENUMCONTAINERS lists one container per key pair of the card, CRYPT_FIRST starts over, the end is ERROR_NO_MORE_ITEMS', async () => {
      const ui = fx.useUi(); // asks nothing: public data only
      const prov = await acquire(qualified(''), CRYPT_VERIFYCONTEXT);
      assert.equal(await CryptGetProvParam(prov, PP_SMARTCARD_READER), fx.reader);
      const names: string[] = [await CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_FIRST) as string];
      for (;;) {
        try {
          names.push(await CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_NEXT) as string);
        } catch (err) {
          assert.ok(CryptError.is(err, 'ERROR_NO_MORE_ITEMS'), String(err));
          break;
        }
        assert.ok(names.length <= fx.card.keys.length, `more containers than key pairs: ${JSON.stringify(names)}`);
      }
      assert.equal(names.length, fx.card.keys.length, JSON.stringify(names));
      assert.equal(new Set(names).size, names.length, 'each container once');
      assert.equal(await CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_FIRST), names[0], 'CRYPT_FIRST starts over');
      assert.equal(ui.pinRequests.length + ui.cardRequests.length, 0);
      for (const name of names) containers.push({ name, keySpec: 0, made: undefined as unknown as VirtualCardKey });
    });

    it('PP_USER_CERTSTORE of that context holds every certificate on the card, each with its container and key spec (AT_KEYEXCHANGE)', async () => {
      const ui = fx.useUi();
      const prov = await acquire(qualified(''), CRYPT_VERIFYCONTEXT | CRYPT_SILENT);
      const certs = await CryptGetProvParam(prov, PP_USER_CERTSTORE) as UserCertificate[];
      const ders = certs.map((c) => Buffer.from(c.rawData).toString('hex')).sort();
      assert.deepEqual(ders, fx.card.keys.map((k) => k.certificate.raw.toString('hex')).sort(), 'exactly the certificates the rig put on the card');
      assert.deepEqual(certs.map((c) => c.container).sort(), containers.map((c) => c.name).sort(), 'one certificate per container');
      for (const cert of certs) {
        assert.equal(cert.keySpec, AT_KEYEXCHANGE, 'OpenSC marks the CAC keys for decryption: the key-exchange slot');
        const entry = containers.find((c) => c.name === cert.container)!;
        entry.keySpec = cert.keySpec;
        entry.made = fx.card.keys.find((k) => k.certificate.raw.equals(Buffer.from(cert.rawData)))!;
      }
      assert.equal(ui.pinRequests.length, 0);
    });

    it('each container opens by its reader-qualified name (level I): PP_CONTAINER, PP_UNIQUE_CONTAINER, CryptGetUserKey of its slot whose KP_CERTIFICATE is the certificate of its key; AT_SIGNATURE is NTE_NO_KEY', async () => {
      const ui = fx.useUi();
      for (const container of containers) {
        const prov = await acquire(qualified(container.name), CRYPT_SILENT);
        assert.equal(await CryptGetProvParam(prov, PP_CONTAINER), qualified(container.name), 'PP_CONTAINER as acquired');
        assert.equal(await CryptGetProvParam(prov, PP_UNIQUE_CONTAINER), qualified(container.name));
        const key = await CryptGetUserKey(prov, container.keySpec);
        const der = await CryptGetKeyParam(key, KP_CERTIFICATE) as Buffer;
        assert.deepEqual(der, container.made.certificate.raw, `${container.name}: the slot's certificate`);
        await CryptDestroyKey(key);
        await expectCryptError(() => CryptGetUserKey(prov, AT_SIGNATURE), 'NTE_NO_KEY', `${container.name}: no signature key`);
        await CryptReleaseContext(prov);
      }
      assert.equal(ui.pinRequests.length, 0);
    });

    it('the reader alone (level II) opens the card\'s default container, one of those listed; a container name alone (level III) finds its card', async () => {
      const prov = await acquire(qualified(''), CRYPT_SILENT);
      const name = await CryptGetProvParam(prov, PP_CONTAINER) as string;
      const container = containers.find((c) => c.name === name);
      assert.ok(container, `the default container "${name}" is one of the card's`);
      const key = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      assert.deepEqual(await CryptGetKeyParam(key, KP_CERTIFICATE), container.made.certificate.raw);
      await CryptReleaseContext(prov);
      const byName = await acquire(containers[1]!.name, CRYPT_SILENT);
      assert.equal(await CryptGetProvParam(byName, PP_UNIQUE_CONTAINER), qualified(containers[1]!.name));
      await CryptReleaseContext(byName);
    });
  });

  describe('writes to the read-only card: SCARD_E_READ_ONLY_CARD before any PIN is asked', () => {
    beforeEach(() => {
      assert.equal(pinCached(), false, 'no PIN is cached for these tests: a prompt would show');
    });

    it('CRYPT_NEWKEYSET: silent, SCARD_E_READ_ONLY_CARD; with a UI, the card prompt says the card is read-only and no PIN is asked', async () => {
      const name = `capi-new-${randomBytes(4).toString('hex')}`;
      await expectCryptError(() => CryptAcquireContext(qualified(name), MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT), 'SCARD_E_READ_ONLY_CARD', 'level I, silent');
      await expectCryptError(() => CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT), 'SCARD_E_READ_ONLY_CARD', 'level III, silent');
      await expectCryptError(() => CryptAcquireContext(qualified(''), MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT), 'SCARD_E_READ_ONLY_CARD', 'level II (a new GUID name), silent');
      const ui = fx.useUi();
      ui.onSelectCard = () => null; // the person has no other card: cancel
      await expectCryptError(() => CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET), 'SCARD_W_CANCELLED_BY_USER', 'with a UI');
      assert.ok(ui.cardRequests.length >= 1);
      assert.equal(ui.cardRequests[0]!.operation, 'create');
      assert.match(ui.cardRequests[0]!.reason, /read-only/, 'the prompt says why this card will not do');
      assert.equal(ui.pinRequests.length, 0);
      assert.equal(containers.length, (await fx.service.knownCards()[0]!.containers(true)).length, 'nothing changed on the card');
    });

    it('CryptGenKey(AT_SIGNATURE) and CryptGenKey(AT_KEYEXCHANGE) in a card container: SCARD_E_READ_ONLY_CARD, no PIN asked, no login or key generation reaches the card', async () => {
      const container = containers[0]!;
      const prov = await acquire(qualified(container.name));
      const ui = fx.useUi(); // holds no PIN: a prompt would fail the call with another error
      const calls = await fx.countCalls(async () => {
        for (const slot of [AT_SIGNATURE, AT_KEYEXCHANGE]) {
          const err = await cryptErrorOf(() => CryptGenKey(prov, slot, 0));
          assert.equal(err.codeName, 'SCARD_E_READ_ONLY_CARD', `slot ${slot}: ${err.message}`);
        }
      });
      assert.equal(ui.pinRequests.length, 0, 'no PIN is asked for a key that cannot be made');
      for (const call of ['C_Login', 'C_GenerateKeyPair', 'C_CreateObject', 'C_DestroyObject']) assert.equal(calls[call], undefined, `${call}: ${JSON.stringify(calls)}`);
      const key = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      assert.deepEqual(await CryptGetKeyParam(key, KP_CERTIFICATE), container.made.certificate.raw, 'the slot keeps its key');
      await CryptReleaseContext(prov);
    });

    it('CRYPT_DELETEKEYSET: SCARD_E_READ_ONLY_CARD, silent or with a UI, no PIN asked; the container stays', async () => {
      const container = containers[2]!;
      await expectCryptError(() => CryptAcquireContext(qualified(container.name), MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DELETEKEYSET | CRYPT_SILENT), 'SCARD_E_READ_ONLY_CARD', 'silent');
      const ui = fx.useUi();
      const calls = await fx.countCalls(async () => {
        const err = await cryptErrorOf(() => CryptAcquireContext(qualified(container.name), MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DELETEKEYSET));
        assert.equal(err.codeName, 'SCARD_E_READ_ONLY_CARD', err.message);
        assert.match(err.message, /read-only/);
      });
      assert.equal(ui.pinRequests.length, 0, 'no PIN is asked for a container that cannot be deleted');
      for (const call of ['C_Login', 'C_DestroyObject']) assert.equal(calls[call], undefined, `${call}: ${JSON.stringify(calls)}`);
      const prov = await acquire(qualified(container.name), CRYPT_SILENT);
      assert.equal(await CryptGetProvParam(prov, PP_CONTAINER), qualified(container.name), 'the container is still on the card');
      await CryptReleaseContext(prov);
    });

    it('CryptSetKeyParam(KP_CERTIFICATE) and CryptSetProvParam(PP_ROOT_CERTSTORE): SCARD_E_READ_ONLY_CARD, no PIN asked, nothing written', async () => {
      const container = containers[0]!;
      const prov = await acquire(qualified(container.name));
      const key = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      const ui = fx.useUi(); // holds no PIN: a prompt would fail the call with another error
      const calls = await fx.countCalls(async () => {
        await expectCryptError(() => CryptSetKeyParam(key, KP_CERTIFICATE, container.made.certificate.raw), 'SCARD_E_READ_ONLY_CARD', 'KP_CERTIFICATE');
        await expectCryptError(() => CryptSetProvParam(prov, PP_ROOT_CERTSTORE, [new x509.X509Certificate(container.made.certificate.raw)]), 'SCARD_E_READ_ONLY_CARD', 'PP_ROOT_CERTSTORE');
      });
      assert.equal(ui.pinRequests.length, 0, 'no PIN is asked for a write that cannot happen');
      for (const call of ['C_Login', 'C_CreateObject', 'C_SetAttributeValue', 'C_DestroyObject']) assert.equal(calls[call], undefined, `${call}: ${JSON.stringify(calls)}`);
      assert.deepEqual(await CryptGetKeyParam(key, KP_CERTIFICATE), container.made.certificate.raw, 'the certificate is unchanged');
      await CryptReleaseContext(prov);
    });
  });

  describe('signing and decryption on the card', () => {
    let prov: HCRYPTPROV;
    let key: HCRYPTKEY;

    it('the first CryptSignHash asks the UI for the PIN once; every container\'s key signs SHA-256, and the reversed signature verifies with node:crypto against the card\'s certificate', async () => {
      const ui = fx.useUi();
      ui.pins = [fx.card.pin];
      for (const container of containers) {
        const ctx = await acquire(qualified(container.name));
        await signAndCheck(ctx, container, `capi ${container.name}`);
        if (container === containers[0]) prov = ctx;
        else await CryptReleaseContext(ctx);
      }
      assert.equal(ui.pinRequests.length, 1, 'one PIN for the card');
      assert.equal(ui.pinRequests[0]!.szReader, fx.reader);
      assert.ok(pinCached());
    });

    it('CryptVerifySignature accepts the card\'s signature with the card key and refuses a changed one (NTE_BAD_SIGNATURE)', async () => {
      key = await CryptGetUserKey(prov, containers[0]!.keySpec);
      const signature = await signText(prov, containers[0]!.keySpec, 'verify me');
      const check = async (sig: Buffer) => {
        const hash = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptHashData(hash, Buffer.from('verify me'));
        try {
          await CryptVerifySignature(hash, sig, key);
        } finally {
          await CryptDestroyHash(hash);
        }
      };
      await check(signature);
      const changed = Buffer.from(signature);
      changed[0]! ^= 0x01;
      await expectCryptError(() => check(changed), 'NTE_BAD_SIGNATURE');
    });

    it('CryptDecrypt opens what node:crypto encrypted to the certificate key, reversed to little-endian: PKCS#1 v1.5, and OAEP (SHA-1) with CRYPT_OAEP', async () => {
      const publicKey = containers[0]!.made.publicKey;
      const message = randomBytes(32);
      const pkcs1 = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, message);
      assert.deepEqual(await CryptDecrypt(key, null, true, 0, reversed(pkcs1)), message, 'PKCS#1 v1.5');
      const oaep = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, message);
      assert.deepEqual(await CryptDecrypt(key, null, true, CRYPT_OAEP, reversed(oaep)), message, 'OAEP');
      await expectCryptError(() => CryptDecrypt(key, null, true, CRYPT_OAEP, reversed(pkcs1)), 'NTE_BAD_DATA', 'a PKCS#1 v1.5 block taken as OAEP');
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, pkcs1), 'NTE_BAD_DATA', 'a big-endian ciphertext');
    });

    it('CryptEncrypt with the card key (its public half, on the host) and CryptDecrypt on the card round-trip', async () => {
      const message = randomBytes(40);
      const ciphertext = await CryptEncrypt(key, null, true, 0, message);
      assert.equal(ciphertext.length, 256);
      assert.deepEqual(await CryptDecrypt(key, null, true, 0, ciphertext), message);
    });
  });

  describe('the PIN', () => {
    it('a wrong PP_KEYEXCHANGE_PIN is SCARD_W_WRONG_CHV and the card counts it down (tries left: unknown, then 1); the right PIN resets the count', async () => {
      const prov = await acquire(qualified(containers[0]!.name), CRYPT_SILENT);
      const first = await wrongPin(prov);
      assert.equal(first.err.codeName, 'SCARD_W_WRONG_CHV');
      assert.equal(first.err.attemptsRemaining, CARD_DATA_VALUE_UNKNOWN, 'OpenSC shows no count until the final try');
      assert.equal(first.cardTriesLeft, 'pin-wrong tries-left=2', 'the card counted it');
      assert.ok(!first.err.message.includes(WRONG_PIN) && !first.err.message.includes(fx.card.pin), 'no PIN in the message');
      const second = await wrongPin(prov);
      assert.equal(second.err.codeName, 'SCARD_W_WRONG_CHV');
      assert.equal(second.err.attemptsRemaining, 1);
      assert.equal(second.cardTriesLeft, 'pin-wrong tries-left=1');
      await CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, fx.card.pin);
      await signAndCheck(prov, containers[0]!, 'after the right PIN');
      const again = await wrongPin(prov);
      assert.equal(again.cardTriesLeft, 'pin-wrong tries-left=2', 'the right PIN reset the card\'s count');
      await CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, fx.card.pin);
    });

    it('three wrong PINs block it: SCARD_W_WRONG_CHV with 0 left, then SCARD_W_CHV_BLOCKED for the right PIN and for a signature (no prompt); unblocked, the card works again', async () => {
      const container = containers[1]!;
      const prov = await acquire(qualified(container.name));
      const seen: [string, number | undefined, string | undefined][] = [];
      for (let i = 0; i < 3; i++) {
        const { err, cardTriesLeft } = await wrongPin(prov);
        seen.push([err.codeName, err.attemptsRemaining, cardTriesLeft]);
      }
      assert.deepEqual(seen, [
        ['SCARD_W_WRONG_CHV', CARD_DATA_VALUE_UNKNOWN, 'pin-wrong tries-left=2'],
        ['SCARD_W_WRONG_CHV', 1, 'pin-wrong tries-left=1'],
        ['SCARD_W_WRONG_CHV', 0, 'pin-wrong tries-left=0'],
      ]);
      const blocked = await cryptErrorOf(() => CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, fx.card.pin));
      assert.equal(blocked.codeName, 'SCARD_W_CHV_BLOCKED', blocked.message);
      assert.equal(blocked.attemptsRemaining, 0);
      const ui = fx.useUi();
      await expectCryptError(() => signText(prov, container.keySpec, 'blocked'), 'SCARD_W_CHV_BLOCKED', 'a signature');
      assert.equal(ui.pinRequests.length, 0, 'a blocked PIN is not asked for');

      await fx.card.unblockPin();
      await CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, fx.card.pin);
      await signAndCheck(prov, container, 'unblocked');
      await CryptReleaseContext(prov);
    });
  });

  describe('removal and reinsertion', () => {
    it('a removal during use is SCARD_W_REMOVED_CARD and drops the card\'s PIN; after reinsertion the old context keeps failing and a new context works after one PIN prompt, in the same process', async () => {
      const container = containers[0]!;
      const prov = await acquire(qualified(container.name));
      const key = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      await signAndCheck(prov, container, 'before the removal');
      assert.ok(pinCached(), 'the PIN is cached');

      await fx.card.remove();
      const removed = await cryptErrorOf(() => signText(prov, container.keySpec, 'removed'));
      assert.equal(removed.codeName, 'SCARD_W_REMOVED_CARD', removed.message);
      assert.equal(pinCached(), false, 'the PIN of the removed card is dropped');
      assert.equal(fx.service.knownCards().length, 0, 'the card\'s open context is dropped');
      const ciphertext = reversed(publicEncrypt({ key: container.made.publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('removed')));
      await expectCryptError(() => CryptDecrypt(key, null, true, 0, ciphertext), 'SCARD_W_REMOVED_CARD', 'a decryption with the key of the old context');
      await expectCryptError(() => CryptAcquireContext(qualified(container.name), MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT), 'NTE_SILENT_CONTEXT', 'no card in the reader, no UI');

      await fx.card.insert();
      await expectCryptError(() => signText(prov, container.keySpec, 'old context'), 'SCARD_W_REMOVED_CARD', 'the context from before the removal');
      const ui = fx.useUi();
      ui.pins = [fx.card.pin];
      const fresh = await acquire(qualified(container.name));
      await signAndCheck(fresh, container, 'after reinsertion');
      await signAndCheck(fresh, container, 'after reinsertion, warm');
      const freshKey = await CryptGetUserKey(fresh, AT_KEYEXCHANGE);
      assert.deepEqual(await CryptDecrypt(freshKey, null, true, 0, ciphertext), Buffer.from('removed'));
      assert.equal(ui.pinRequests.length, 1, 'the reinserted card needs its PIN again, once');
      await expectCryptError(() => signText(prov, container.keySpec, 'old context'), 'SCARD_W_REMOVED_CARD', 'the old context still');
      await CryptReleaseContext(prov);
      await CryptReleaseContext(fresh);
    });
  });
});
