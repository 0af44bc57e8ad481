/**
 * The real smart card path through p11-ksp's CNG front end: an emulated CAC card (libcacard) in a
 * private PC/SC stack (pcscd + vpcd), reached through OpenSC's PKCS#11 module — the module users load
 * for their cards — and served by a smart card service whose registry selects it by the card's ATR.
 * Everything below the test goes through NCrypt*; the card, its keys and certificates are made when
 * the suite starts (./fixture.ts).
 *
 * Constraints: one rig per process (libpcsclite reads PCSCLITE_CSOCK_NAME once), so the rig starts
 * once, in this file's top-level before(), and stops in after(); it needs root (pcscd runs in its own
 * mount and network namespaces) and the packages of scripts/debian-packages.txt. The tests run in
 * order and share the card: the PIN tests leave it unblocked, the removal tests leave it inserted.
 * No assertion is about time; token I/O is counted instead.
 *
 * What OpenSC's card does differently from SoftHSM2 and what that means here:
 *  - no ATR in PKCS#11: the bridge reads it from pcscd's reader table for the slot's reader, so
 *    registrations by ATR (Calais' rule) select OpenSC's cards; a card no registration claims is not
 *    served at all;
 *  - read-only (no C_CreateObject, no key generation): containers are synthesised from the keys,
 *    CP_CARD_READ_ONLY is true, and creating a key fails in card selection with
 *    SCARD_E_READ_ONLY_CARD before any PIN is asked (Windows' Base CSP skips read-only cards when it
 *    looks for one to create on; with no card left the code says why); every other write (delete a
 *    key, store a certificate) is SCARD_E_READ_ONLY_CARD too, before anything reaches the card;
 *  - no CKF_USER_PIN_COUNT_LOW, only "final try" and "locked": after a wrong PIN the tries left are
 *    CARD_DATA_VALUE_UNKNOWN until one is left (a PIN prompt then shows no count), then 1, then 0 (the
 *    card answers 63 C0 to the try that blocks it, so that try is SCARD_W_WRONG_CHV with 0 left), then
 *    SCARD_W_CHV_BLOCKED;
 *  - a removal fails the call in flight with CKR_DEVICE_REMOVED and empties the slot; after
 *    reinsertion the token is back in the same slot with every old session dead.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, createHash, publicEncrypt, randomBytes, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import {
  MS_SMART_CARD_KEY_STORAGE_PROVIDER, NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_PAD_OAEP_FLAG, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG,
  NCRYPT_PIN_PROPERTY, NCRYPT_READER_PROPERTY, NCRYPT_SILENT_FLAG, NCRYPT_SMARTCARD_GUID_PROPERTY, NCRYPT_USER_CERTSTORE_PROPERTY,
} from '../../ksp/constants.js';
import { NCryptDecrypt } from '../../ksp/encryption.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import { NCryptCreatePersistedKey, NCryptDeleteKey, NCryptEnumKeys, NCryptFinalizeKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptGetProperty, NCryptSetProperty } from '../../ksp/properties.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import {
  AT_KEYEXCHANGE, CARD_DATA_VALUE_UNKNOWN, CARD_PADDING_NONE, CARD_PADDING_OAEP, CARD_PADDING_PKCS1, CARD_PADDING_PSS,
  CP_CARD_READ_ONLY, CP_ENUM_ALGORITHMS, CP_PADDING_SCHEMES, ROLE_USER,
} from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import { createSmartCardService } from '../../default-service.js';
import { acquireModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import { parseContainerSpec } from '../../smartcard/container-spec.js';
import { Interaction } from '../../smartcard/ui.js';
import { rankProviders } from '../../smartcard/registry/index.js';
import { cryptErrorOf, expectCryptError } from '../pkcs11-bridge/helpers.js';
import { OPENSC_MODULE, type VirtualCardKey } from '../rigs/index.js';
import { ANY_TOKEN_REGISTRATION, ATR_REGISTRATION, MASKED_ATR_REGISTRATION, OTHER_ATR_REGISTRATION, realCardFixture } from './fixture.js';

const PKCS1 = NCRYPT_PAD_PKCS1_FLAG;
const WRONG_PIN = '13579246';

interface CardKey {
  /** The container name NCryptEnumKeys gives. */
  name: string;
  handle: NCryptKeyHandle;
  /** What the rig made for this key (its certificate: the independent public key). */
  made: VirtualCardKey;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** `openssl pkeyutl -verify` of a signature over a SHA-256 digest; true when openssl says it verifies. */
function opensslVerifies(certPem: string, digest: Buffer, signature: Buffer, pss: boolean): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-real-card-openssl-'));
  try {
    const cert = join(dir, 'cert.pem');
    const pub = join(dir, 'pub.pem');
    writeFileSync(cert, certPem);
    writeFileSync(join(dir, 'digest.bin'), digest);
    writeFileSync(join(dir, 'sig.bin'), signature);
    execFileSync('openssl', ['x509', '-in', cert, '-pubkey', '-noout', '-out', pub], { stdio: 'pipe' });
    const options = ['-pkeyopt', 'digest:sha256', ...(pss ? ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_pss_saltlen:32'] : [])];
    try {
      const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-in', join(dir, 'digest.bin'), '-sigfile', join(dir, 'sig.bin'), ...options], { encoding: 'utf8', stdio: 'pipe' });
      return /Signature Verified Successfully/.test(out);
    } catch {
      return false;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The certificates of a PKCS#7 bag as openssl reads them (DER of each). */
function opensslBagCertificates(bag: Buffer): Buffer[] {
  const pem = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs'], { input: bag, encoding: 'utf8', stdio: 'pipe' });
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p).raw);
}

describe('real card: CNG over OpenSC and an emulated CAC card (pcscd + vpcd + libcacard)', function () {
  this.timeout(120_000);
  const fx = realCardFixture({ keys: 3, maxTries: 3 });
  let prov: NCryptProvHandle;
  const keys: CardKey[] = [];
  const cardIdentity = () => ({ identity: { serial: fx.card.serial, label: fx.card.label } });
  /** Signs a SHA-256 digest with PKCS#1 v1.5 and checks it against the rig's certificate. */
  const signAndCheck = async (key: CardKey, text: string): Promise<void> => {
    const digest = sha256(text);
    const signature = await NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, digest, PKCS1);
    assert.ok(verify('sha256', Buffer.from(text), key.made.publicKey, signature), `${key.name}: node:crypto verifies`);
  };

  before(async () => {
    prov = await NCryptOpenStorageProvider(MS_SMART_CARD_KEY_STORAGE_PROVIDER);
  });

  after(async () => {
    // Runs after the fixture's after() (mocha keeps definition order): freeing handles is host-side only.
    for (const key of keys) if (!key.handle.freed) await NCryptFreeObject(key.handle);
    if (prov && !prov.freed) await NCryptFreeObject(prov);
  });

  describe('registration by the card\'s ATR', () => {
    it('the reader reports the card\'s ATR, read by the bridge from pcscd, and SCardStatus names the ATR registration', async () => {
      const status = await fx.service.SCardStatus(fx.reader);
      assert.equal(status.present, true);
      assert.equal(status.atr?.toString('hex').toUpperCase(), fx.card.atr, 'the ATR pcscd has for the reader');
      assert.equal(status.card?.label, fx.card.label);
      assert.equal(status.card?.serial, fx.card.serial);
      assert.equal(status.provider, ATR_REGISTRATION);
      assert.equal(status.guid?.length, 16, 'the card GUID (synthesised from the serial on a read-only card)');
    });

    it('the exact-ATR registration wins over the masked-ATR and the criteria-less ones (installed earlier); a higher-priority registration for another ATR does not claim the card', async () => {
      const entry = (await fx.service.snapshot()).find((e) => e.szReader === fx.reader)!;
      const ranked = rankProviders(fx.registrations, entry.state, { module: entry.module }).map((r) => r.name);
      assert.deepEqual(ranked, [ATR_REGISTRATION, MASKED_ATR_REGISTRATION, ANY_TOKEN_REGISTRATION]);
    });

    it('a registry that claims only another card type serves nothing here: the reader shows the card and its ATR, but no provider, and a name on that reader is SCARD_E_UNKNOWN_CARD', async () => {
      const home = mkdtempSync(join(tmpdir(), 'p11ksp-real-card-other-'));
      const other = await createSmartCardService({ home, globalCache: false, registrations: fx.registrations.filter((r) => r.name === OTHER_ATR_REGISTRATION) });
      try {
        const entry = (await other.snapshot()).find((e) => e.szReader === fx.reader)!;
        assert.equal(entry.present, true);
        assert.equal(entry.atr?.toString('hex').toUpperCase(), fx.card.atr);
        assert.equal(entry.provider, undefined);
        assert.equal(entry.card, undefined, 'an unknown card is not served');
        assert.equal((await other.SCardStatus(fx.reader)).card?.label, fx.card.label, 'SCardStatus still says what is in the reader');
        await expectCryptError(() => other.select({ spec: parseContainerSpec(`\\\\.\\${fx.reader}\\`, 't'), operation: 'open', interaction: new Interaction(true) }, 'test'), 'SCARD_E_UNKNOWN_CARD');
        assert.equal(other.knownCards().length, 0);
      } finally {
        await other.close();
        rmSync(home, { recursive: true, force: true });
      }
    });

    it('an empty reader of the same module has no ATR and no provider', async () => {
      const empty = (await fx.service.snapshot()).filter((e) => e.szReader !== fx.reader);
      assert.ok(empty.length > 0, 'vpcd offers a second slot');
      for (const e of empty) {
        const status = await fx.service.SCardStatus(e.szReader);
        assert.equal(status.present, false);
        assert.equal(status.atr, undefined);
        assert.equal(status.provider, undefined);
      }
    });
  });

  describe('containers from the card\'s keys (a read-only card)', () => {
    it('NCryptEnumKeys lists one RSA key-exchange container per key pair on the card, with no PIN', async () => {
      const ui = fx.useUi(); // asks nothing: enumeration never needs the PIN
      const listed = await NCryptEnumKeys(prov, null, NCRYPT_SILENT_FLAG);
      assert.equal(listed.length, fx.card.keys.length, JSON.stringify(listed));
      for (const k of listed) {
        assert.equal(k.pszAlgid, 'RSA');
        assert.equal(k.dwLegacyKeySpec, AT_KEYEXCHANGE, 'OpenSC marks the CAC keys for decryption: the key-exchange slot');
      }
      assert.equal(new Set(listed.map((k) => k.pszName)).size, listed.length, 'one container per key');
      assert.deepEqual(await NCryptEnumKeys(prov, `\\\\.\\${fx.reader}\\`), listed, 'the reader-scoped list is the same');
      assert.equal(ui.pinRequests.length, 0);
    });

    it('each container opens, on the reader and card of the service, and its certificate is the one the rig made for that key', async () => {
      const listed = await NCryptEnumKeys(prov, null);
      const seen = new Set<string>();
      for (const { pszName } of listed) {
        const handle = await NCryptOpenKey(prov, pszName, 0, 0);
        assert.equal(await NCryptGetProperty(handle, NCRYPT_READER_PROPERTY), fx.reader);
        const der = await NCryptGetProperty(handle, NCRYPT_CERTIFICATE_PROPERTY) as Buffer;
        const made = fx.card.keys.find((k) => k.certificate.raw.equals(der));
        assert.ok(made, `the certificate of "${pszName}" is one the rig made`);
        seen.add(made.id);
        keys.push({ name: pszName, handle, made });
      }
      assert.equal(seen.size, fx.card.keys.length, 'every key of the card, each once');
      const guid = await NCryptGetProperty(keys[0]!.handle, NCRYPT_SMARTCARD_GUID_PROPERTY) as Buffer;
      assert.deepEqual(guid, (await fx.service.SCardStatus(fx.reader)).guid);
    });

    it('NCRYPT_USER_CERTSTORE_PROPERTY lists every certificate of the card (openssl reads the PKCS#7 bag)', async () => {
      const bag = await NCryptGetProperty(keys[0]!.handle, NCRYPT_USER_CERTSTORE_PROPERTY) as Buffer;
      const ders = opensslBagCertificates(bag).map((d) => d.toString('hex')).sort();
      assert.deepEqual(ders, fx.card.keys.map((k) => k.certificate.raw.toString('hex')).sort());
    });

    it('the card is read-only (CP_CARD_READ_ONLY)', async () => {
      const card = keys[0]!.handle.state.kind === 'persisted' ? keys[0]!.handle.state.card : undefined;
      assert.ok(card);
      assert.equal(card.readOnly, true);
      assert.equal(await card.module.CardGetProperty(CP_CARD_READ_ONLY), true);
    });

    it('CP_ENUM_ALGORITHMS and CP_PADDING_SCHEMES say what this RSA-only card does, by its mechanisms as pkcs11js lists them', async () => {
      const card = keys[0]!.handle.state.kind === 'persisted' ? keys[0]!.handle.state.card : undefined;
      assert.ok(card);
      const opensc = acquireModule(OPENSC_MODULE); // the driver's instance
      try {
        const slot = (card.module as unknown as { token: { slot: Buffer } }).token.slot;
        const mechanisms = new Set(opensc.pkcs11.C_GetMechanismList(slot));
        assert.ok(mechanisms.has(pkcs11js.CKM_RSA_PKCS) && !mechanisms.has(pkcs11js.CKM_ECDSA) && !mechanisms.has(pkcs11js.CKM_ECDH1_DERIVE), 'the emulated CAC card: RSA, no ECC');
        assert.deepEqual(await card.module.CardGetProperty(CP_ENUM_ALGORITHMS, 2), ['RSA'], 'no ECC algorithm is promised');
        const expected = (mechanisms.has(pkcs11js.CKM_RSA_X_509) ? CARD_PADDING_NONE : 0)
          | CARD_PADDING_PKCS1
          | (mechanisms.has(pkcs11js.CKM_RSA_PKCS_PSS) ? CARD_PADDING_PSS : 0)
          | (mechanisms.has(pkcs11js.CKM_RSA_PKCS_OAEP) || mechanisms.has(pkcs11js.CKM_RSA_X_509) ? CARD_PADDING_OAEP : 0);
        assert.equal(await card.module.CardGetProperty(CP_PADDING_SCHEMES), expected);
      } finally {
        releaseModule(opensc);
      }
    });

    it('creating a key fails with SCARD_E_READ_ONLY_CARD at NCryptFinalizeKey, before any PIN is asked; the UI is asked for another card when there is one', async () => {
      const pending = await NCryptCreatePersistedKey(prov, 'RSA', `real-card-new-${randomBytes(4).toString('hex')}`, 0, 0);
      await expectCryptError(() => NCryptFinalizeKey(pending, NCRYPT_SILENT_FLAG), 'SCARD_E_READ_ONLY_CARD', 'silent');
      const ui = fx.useUi();
      ui.onSelectCard = () => null; // the person has no other card: cancel
      await expectCryptError(() => NCryptFinalizeKey(pending, 0), 'SCARD_W_CANCELLED_BY_USER', 'with a UI');
      assert.equal(ui.cardRequests.length, 1);
      assert.equal(ui.cardRequests[0]!.operation, 'create');
      assert.match(ui.cardRequests[0]!.reason, /read-only/, 'the prompt says why this card will not do');
      assert.equal(ui.pinRequests.length, 0, 'no PIN is asked for a card that cannot take the key');
      await NCryptFreeObject(pending);
      assert.equal((await NCryptEnumKeys(prov, null)).length, fx.card.keys.length, 'nothing changed on the card');
    });

    it('deleting a key fails with SCARD_E_READ_ONLY_CARD at NCryptDeleteKey, before any PIN is asked (with a UI, no PIN cached): no login reaches the card', async () => {
      const key = keys[2]!;
      assert.equal(fx.service.pins.has(pinCacheCard(cardIdentity()), ROLE_USER), false, 'no PIN cached yet');
      const ui = fx.useUi(); // holds no PIN: a prompt would fail the call with another error
      const calls = await fx.countCalls(async () => {
        const err = await cryptErrorOf(() => NCryptDeleteKey(key.handle, 0));
        assert.equal(err.codeName, 'SCARD_E_READ_ONLY_CARD', err.message);
        assert.match(err.message, /read-only/);
      });
      assert.equal(ui.pinRequests.length, 0, 'no PIN is asked for a key that cannot be deleted');
      assert.equal(ui.cardRequests.length, 0);
      for (const call of ['C_Login', 'C_DestroyObject', 'C_CreateObject', 'C_SetAttributeValue']) assert.equal(calls[call], undefined, `${call}: ${JSON.stringify(calls)}`);
      assert.equal(key.handle.freed, false, 'a failed NCryptDeleteKey leaves the handle');
      assert.equal((await NCryptEnumKeys(prov, null)).length, fx.card.keys.length, 'nothing changed on the card');
    });

    it('a name the card holds is NTE_EXISTS already at NCryptCreatePersistedKey', async () => {
      await expectCryptError(() => NCryptCreatePersistedKey(prov, 'RSA', keys[0]!.name, 0, 0), 'NTE_EXISTS');
    });
  });

  describe('signing and decryption on the card', () => {
    it('the first private-key use asks the UI for the PIN once; every key then signs PKCS#1 v1.5 SHA-256 (node:crypto and openssl verify with the certificate key)', async () => {
      const ui = fx.useUi();
      ui.pins = [fx.card.pin];
      for (const key of keys) {
        const digest = sha256(`pkcs1 ${key.name}`);
        const signature = await NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, digest, PKCS1);
        assert.equal(signature.length, 256);
        assert.ok(verify('sha256', Buffer.from(`pkcs1 ${key.name}`), key.made.publicKey, signature), `${key.name}: node:crypto`);
        assert.ok(opensslVerifies(key.made.certPem, digest, signature, false), `${key.name}: openssl pkeyutl`);
        await NCryptVerifySignature(key.handle, { pszAlgId: 'SHA256' }, digest, signature, PKCS1);
      }
      assert.equal(ui.pinRequests.length, 1, 'one PIN for the card');
      assert.equal(ui.pinRequests[0]!.szReader, fx.reader);
      assert.equal(ui.pinRequests[0]!.retry, false);
    });

    it('signs RSA-PSS (SHA-256, 32-byte salt): OpenSC pads, the card signs raw; node:crypto and openssl verify', async () => {
      for (const key of keys) {
        const digest = sha256(`pss ${key.name}`);
        const signature = await NCryptSignHash(key.handle, { pszAlgId: 'SHA256', cbSalt: 32 }, digest, NCRYPT_PAD_PSS_FLAG);
        assert.ok(verify('sha256', Buffer.from(`pss ${key.name}`), { key: key.made.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature), `${key.name}: node:crypto`);
        assert.ok(opensslVerifies(key.made.certPem, digest, signature, true), `${key.name}: openssl pkeyutl`);
      }
    });

    it('decrypts what node:crypto encrypted to the certificate key: PKCS#1 v1.5, OAEP SHA-1, OAEP SHA-256, OAEP SHA-256 with a label', async () => {
      const key = keys[0]!;
      const message = randomBytes(32);
      const pkcs1 = publicEncrypt({ key: key.made.publicKey, padding: constants.RSA_PKCS1_PADDING }, message);
      assert.deepEqual(await NCryptDecrypt(key.handle, pkcs1, null, PKCS1), message);
      const sha1 = publicEncrypt({ key: key.made.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, message);
      assert.deepEqual(await NCryptDecrypt(key.handle, sha1, { pszAlgId: 'SHA1' }, NCRYPT_PAD_OAEP_FLAG), message);
      const sha256oaep = publicEncrypt({ key: key.made.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, message);
      assert.deepEqual(await NCryptDecrypt(key.handle, sha256oaep, { pszAlgId: 'SHA256' }, NCRYPT_PAD_OAEP_FLAG), message);
      const label = Buffer.from('p11-ksp label');
      const labelled = publicEncrypt({ key: key.made.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, message);
      assert.deepEqual(await NCryptDecrypt(key.handle, labelled, { pszAlgId: 'SHA256', pbLabel: label }, NCRYPT_PAD_OAEP_FLAG), message);
      await expectCryptError(() => NCryptDecrypt(key.handle, labelled, { pszAlgId: 'SHA256', pbLabel: Buffer.from('another label') }, NCRYPT_PAD_OAEP_FLAG), 'NTE_BAD_DATA', 'wrong label');
    });

    it('writing to the read-only card is SCARD_E_READ_ONLY_CARD before anything reaches it: deleting a key, storing a certificate', async () => {
      const key = keys[2]!;
      const calls = await fx.countCalls(async () => {
        await expectCryptError(() => NCryptDeleteKey(key.handle, NCRYPT_SILENT_FLAG), 'SCARD_E_READ_ONLY_CARD', 'NCryptDeleteKey');
        await expectCryptError(() => NCryptSetProperty(key.handle, NCRYPT_CERTIFICATE_PROPERTY, key.made.certificate.raw, NCRYPT_SILENT_FLAG), 'SCARD_E_READ_ONLY_CARD', 'NCRYPT_CERTIFICATE_PROPERTY');
      });
      for (const write of ['C_CreateObject', 'C_DestroyObject', 'C_SetAttributeValue', 'C_GenerateKeyPair']) assert.equal(calls[write], undefined, write);
      assert.equal(key.handle.freed, false, 'a failed NCryptDeleteKey leaves the handle');
      assert.equal((await NCryptEnumKeys(prov, null)).length, fx.card.keys.length);
      await signAndCheck(key, 'still there');
    });

    it('a warm signature is C_SignInit + C_Sign and a warm decryption C_DecryptInit + C_Decrypt: nothing else reaches OpenSC', async () => {
      const key = keys[1]!;
      await signAndCheck(key, 'warm-up');
      const digest = sha256('warm');
      const signCalls = await fx.countCalls(async () => {
        for (let i = 0; i < 5; i++) await NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, digest, PKCS1);
      });
      assert.deepEqual(signCalls, { C_SignInit: 5, C_Sign: 5 });
      const ciphertext = publicEncrypt({ key: key.made.publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('warm'));
      await NCryptDecrypt(key.handle, ciphertext, null, PKCS1);
      const decryptCalls = await fx.countCalls(async () => {
        for (let i = 0; i < 5; i++) await NCryptDecrypt(key.handle, ciphertext, null, PKCS1);
      });
      assert.deepEqual(decryptCalls, { C_DecryptInit: 5, C_Decrypt: 5 });
    });

    it('opening a key and listing the keys stay cheap on the token: each key object read in two calls per look, no C_GetSessionInfo (an APDU on OpenSC), no login, no new session', async () => {
      const calls = await fx.countCalls(async () => {
        const handle = await NCryptOpenKey(prov, keys[2]!.name, 0, 0);
        await NCryptFreeObject(handle);
        await NCryptEnumKeys(prov, null);
      });
      const detail = JSON.stringify(calls);
      assert.equal(calls.C_GetSessionInfo, undefined, detail);
      assert.equal(calls.C_Login, undefined, detail);
      assert.equal(calls.C_OpenSession, undefined, `the sessions are reused: ${detail}`);
      // Logged in, the card shows 2 objects per key (public and private); a look at the keys is one
      // search for each class. A read-only card has no data cache, so each map read and container info
      // is a look of its own (the reason each must stay cheap).
      const looks = calls.C_FindObjectsInit! / 2;
      assert.ok(Number.isInteger(looks) && looks > 0, detail);
      assert.ok(calls.C_GetAttributeValue! <= looks * 2 * (2 * keys.length), `at most two attribute reads per key object and look: ${detail}`);
      assert.ok((calls.C_GetTokenInfo ?? 0) <= 1, `the reader list reads the token information once: ${detail}`);
    });
  });

  describe('the PIN', () => {
    it('a wrong PIN (NCRYPT_PIN_PROPERTY) is SCARD_W_WRONG_CHV: tries left unknown, then 1 on the final try; the right PIN resets the count', async () => {
      const key = keys[0]!;
      const first = await cryptErrorOf(() => NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, WRONG_PIN));
      assert.equal(first.codeName, 'SCARD_W_WRONG_CHV');
      assert.equal(first.attemptsRemaining, CARD_DATA_VALUE_UNKNOWN, 'OpenSC shows no count until the final try');
      assert.ok(!first.message.includes(WRONG_PIN) && !first.message.includes(fx.card.pin), 'no PIN in the message');
      const second = await cryptErrorOf(() => NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, WRONG_PIN));
      assert.equal(second.codeName, 'SCARD_W_WRONG_CHV');
      assert.equal(second.attemptsRemaining, 1);
      await NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, fx.card.pin);
      await signAndCheck(key, 'after the right PIN');
      const again = await cryptErrorOf(() => NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, WRONG_PIN));
      assert.equal(again.attemptsRemaining, CARD_DATA_VALUE_UNKNOWN, 'three tries again: the right PIN reset the count');
      await NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, fx.card.pin);
    });

    it('through the UI: a wrong PIN is asked again with retry and the tries left, and a signature goes through with the right one', async () => {
      const key = keys[1]!;
      fx.service.pins.drop(pinCacheCard(cardIdentity()));
      const state = key.handle.state;
      assert.equal(state.kind, 'persisted');
      if (state.kind === 'persisted') await state.card.deauthenticate(ROLE_USER); // as if another library logged out
      const ui = fx.useUi();
      ui.pins = [WRONG_PIN, WRONG_PIN, fx.card.pin];
      await signAndCheck(key, 'through the UI');
      assert.equal(ui.pinRequests.length, 3);
      assert.deepEqual(ui.pinRequests.map((r) => r.retry), [false, true, true]);
      assert.deepEqual(ui.pinRequests.map((r) => r.attemptsRemaining), [undefined, undefined, 1], 'the tries left once the card says (the final try)');
      assert.deepEqual(ui.pinRequests.map((r) => r.container), [key.name, key.name, key.name]);
    });

    it('three wrong PINs block it: the third is SCARD_W_WRONG_CHV with 0 left, then SCARD_W_CHV_BLOCKED even for the right PIN and for a signature (no prompt); unblocked (the rig\'s stand-in for an administrator), it works again', async () => {
      const key = keys[0]!;
      const codes: [string, number | undefined][] = [];
      for (let i = 0; i < 3; i++) {
        const err = await cryptErrorOf(() => NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, WRONG_PIN));
        codes.push([err.codeName, err.attemptsRemaining]);
      }
      assert.deepEqual(codes, [['SCARD_W_WRONG_CHV', CARD_DATA_VALUE_UNKNOWN], ['SCARD_W_WRONG_CHV', 1], ['SCARD_W_WRONG_CHV', 0]]);
      const blocked = await cryptErrorOf(() => NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, fx.card.pin));
      assert.equal(blocked.codeName, 'SCARD_W_CHV_BLOCKED');
      assert.equal(blocked.attemptsRemaining, 0);
      const ui = fx.useUi();
      await expectCryptError(() => NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, sha256('blocked'), PKCS1), 'SCARD_W_CHV_BLOCKED', 'a signature with the cached PIN');
      assert.equal(ui.pinRequests.length, 0, 'a blocked PIN is not asked for');

      await fx.card.unblockPin();
      await NCryptSetProperty(key.handle, NCRYPT_PIN_PROPERTY, fx.card.pin);
      await signAndCheck(key, 'unblocked');
    });
  });

  describe('removal and reinsertion', () => {
    it('a removal during use is SCARD_W_REMOVED_CARD; the card\'s PIN and handles go; after reinsertion the old handle keeps failing, a new one works after one PIN prompt', async () => {
      const [key, other] = [keys[0]!, keys[1]!];
      await signAndCheck(key, 'before the removal');
      assert.ok(fx.service.pins.has(pinCacheCard(cardIdentity()), ROLE_USER), 'the PIN is cached');

      await fx.card.remove();
      const removed = await cryptErrorOf(() => NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, sha256('removed'), PKCS1));
      assert.equal(removed.codeName, 'SCARD_W_REMOVED_CARD', removed.message);
      assert.equal(fx.service.pins.has(pinCacheCard(cardIdentity()), ROLE_USER), false, 'the PIN of the removed card is dropped');
      assert.equal(fx.service.knownCards().length, 0, 'the card\'s open context is dropped');
      await expectCryptError(() => NCryptSignHash(other.handle, { pszAlgId: 'SHA256' }, sha256('removed'), PKCS1), 'SCARD_W_REMOVED_CARD', 'another key of the card');
      await expectCryptError(() => NCryptOpenKey(prov, key.name, 0, NCRYPT_SILENT_FLAG), 'NTE_SILENT_CONTEXT', 'no card to open the key on');
      assert.deepEqual(await NCryptEnumKeys(prov, null), [], 'no card, no keys');

      await fx.card.insert();
      await expectCryptError(() => NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, sha256('old handle'), PKCS1), 'SCARD_W_REMOVED_CARD', 'the handle from before the removal');
      const ui = fx.useUi();
      ui.pins = [fx.card.pin];
      const fresh = await NCryptOpenKey(prov, key.name, 0, 0);
      await signAndCheck({ ...key, handle: fresh }, 'after reinsertion');
      await signAndCheck({ ...key, handle: fresh }, 'after reinsertion, warm');
      assert.equal(ui.pinRequests.length, 1, 'the reinserted card needs its PIN again, once');
      await expectCryptError(() => NCryptSignHash(key.handle, { pszAlgId: 'SHA256' }, sha256('old handle'), PKCS1), 'SCARD_W_REMOVED_CARD', 'the old handle still');
      assert.equal((await NCryptEnumKeys(prov, null)).length, fx.card.keys.length);
      key.handle = fresh;
      await NCryptFreeObject(other.handle);
      other.handle = await NCryptOpenKey(prov, other.name, 0, 0);
    });

    it('a removal while nobody uses the card drops its PIN too, when the service watches the readers', async () => {
      await signAndCheck(keys[0]!, 'before an idle removal');
      const cached = () => fx.service.pins.has(pinCacheCard(cardIdentity()), ROLE_USER);
      assert.ok(cached());
      fx.service.monitor(50);
      await fx.card.remove();
      for (let i = 0; i < 400 && cached(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(cached(), false, 'the watcher saw the removal and dropped the PIN');
      await fx.card.insert();
      const ui = fx.useUi();
      ui.pins = [fx.card.pin];
      const reopened = await NCryptOpenKey(prov, keys[0]!.name, 0, 0);
      await signAndCheck({ ...keys[0]!, handle: reopened }, 'after an idle removal');
      assert.equal(ui.pinRequests.length, 1);
      await NCryptFreeObject(reopened);
    });
  });
});
