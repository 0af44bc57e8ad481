/**
 * The CNG key lifecycle on SoftHSM2 cards: open by every kind of name, create + finalize (RSA and
 * every curve), NTE_EXISTS and overwrite, delete, enumeration over two cards, silent contexts and
 * handle hygiene. Each assertion is checked against the card itself (containers, keys) where it can be.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, verify } from 'node:crypto';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_SHA_256, CARD_CREATE_CONTAINER_KEY_GEN,
} from '../../minidriver/constants.js';
import {
  BCRYPT_ECDH_P256_ALGORITHM, BCRYPT_ECDSA_P256_ALGORITHM, BCRYPT_ECDSA_P384_ALGORITHM, BCRYPT_ECDSA_P521_ALGORITHM, BCRYPT_RSA_ALGORITHM,
  MS_SMART_CARD_KEY_STORAGE_PROVIDER, NCRYPT_ALLOW_SIGNING_FLAG, NCRYPT_KEY_USAGE_PROPERTY, NCRYPT_LENGTH_PROPERTY,
  NCRYPT_MACHINE_KEY_FLAG, NCRYPT_NAME_PROPERTY, NCRYPT_OVERWRITE_KEY_FLAG, NCRYPT_SILENT_FLAG, NCRYPT_UNIQUE_NAME_PROPERTY,
} from '../../ksp/constants.js';
import { NCryptCreatePersistedKey, NCryptDeleteKey, NCryptEnumKeys, NCryptFinalizeKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptEnumStorageProviders, NCryptFreeObject, NCryptIsAlgSupported, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptGetProperty, NCryptSetProperty } from '../../ksp/properties.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import { SOFTHSM2_MODULE, expectCryptError } from '../pkcs11-bridge/helpers.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { type KspFixture, kspFixture } from './fixture.js';
import type { SoftHsmToken } from '../rigs/index.js';

// Set inside the suite's top-level describe (run at load time, before SoftHSM2 starts), so the
// fixture's hooks belong to this suite and no other file's fixture replaces its service.
let fx: KspFixture;
let A: SoftHsmToken;
let B: SoftHsmToken;

async function cardNames(label: string): Promise<string[]> {
  return (await (await fx.card(label)).containers(true)).map((c) => c.name);
}

/** Signs on the card through the minidriver (the CNG signing call has its own suite) and verifies on the host. */
async function assertUsable(key: NCryptKeyHandle): Promise<void> {
  const state = key.state;
  assert.equal(state.kind, 'persisted');
  if (state.kind !== 'persisted') return;
  const hash = createHash('sha256').update('usable').digest();
  const signature = await state.card.module.CardSignData({ dwVersion: 2, bContainerIndex: state.container.index, dwKeySpec: state.keySpec, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: hash });
  if (state.algorithm.curve) {
    assert.ok(verify('sha256', Buffer.from('usable'), { key: state.publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'ECDSA signature verifies');
  } else {
    assert.ok(verify('sha256', Buffer.from('usable'), state.publicKey, Buffer.from(signature).reverse()), 'RSA signature (little-endian from the card) verifies');
  }
}

describe('ksp: keys', function () {
  fx = kspFixture('ksp-keys', 2);
  [A, B] = fx.tokens as [SoftHsmToken, SoftHsmToken];

describe('ksp: providers', () => {
  it('opens the smart card KSP by name and by null, and nothing else', async () => {
    const named = await NCryptOpenStorageProvider(MS_SMART_CARD_KEY_STORAGE_PROVIDER);
    assert.equal(await NCryptGetProperty(named, NCRYPT_NAME_PROPERTY), MS_SMART_CARD_KEY_STORAGE_PROVIDER);
    await NCryptFreeObject(named);
    await expectCryptError(() => NCryptOpenStorageProvider('Microsoft Software Key Storage Provider'), 'NTE_PROV_DLL_NOT_FOUND');
    await expectCryptError(() => NCryptOpenStorageProvider(null, 0x1), 'NTE_BAD_FLAGS');
    const list = await NCryptEnumStorageProviders();
    assert.deepEqual(list.map((p) => p.pszName), [MS_SMART_CARD_KEY_STORAGE_PROVIDER]);
  });

  it('NCryptIsAlgSupported: RSA and the three curves for ECDSA and ECDH; hashes and symmetric ciphers are not card keys', async () => {
    for (const alg of ['RSA', 'ECDSA_P256', 'ECDSA_P384', 'ECDSA_P521', 'ECDH_P256', 'ECDH_P384', 'ECDH_P521']) await NCryptIsAlgSupported(fx.prov, alg);
    for (const alg of ['SHA256', 'AES', 'DSA', 'RSA_SIGN']) await expectCryptError(() => NCryptIsAlgSupported(fx.prov, alg), 'NTE_NOT_SUPPORTED', alg);
    await expectCryptError(() => NCryptIsAlgSupported(fx.prov, 'RSA', NCRYPT_MACHINE_KEY_FLAG), 'NTE_BAD_FLAGS', 'flags are checked first (N4)');
  });

  it('a freed handle, null, a key handle in place of a provider and foreign objects are NTE_INVALID_HANDLE', async () => {
    const prov = await NCryptOpenStorageProvider(null);
    await NCryptFreeObject(prov);
    await expectCryptError(() => NCryptFreeObject(prov), 'NTE_INVALID_HANDLE', 'freeing twice');
    await expectCryptError(() => NCryptOpenKey(prov, 'x', 0), 'NTE_INVALID_HANDLE', 'use after free');
    await expectCryptError(() => NCryptOpenKey(null as never, 'x', 0), 'NTE_INVALID_HANDLE');
    await expectCryptError(() => NCryptOpenKey({ kind: 'provider' } as never, 'x', 0), 'NTE_INVALID_HANDLE');
    await expectCryptError(() => NCryptFreeObject(0 as never), 'NTE_INVALID_HANDLE', 'N13');
    const key = await fx.newKey(BCRYPT_ECDSA_P256_ALGORITHM);
    await expectCryptError(() => NCryptOpenKey(key as never, 'x', 0), 'NTE_INVALID_HANDLE', 'a key handle where a provider is expected');
    await expectCryptError(() => NCryptFinalizeKey(fx.prov as never), 'NTE_INVALID_HANDLE', 'a provider handle where a key is expected');
    await NCryptDeleteKey(key);
  });
});

describe('ksp: creating keys', () => {
  it('RSA: CreatePersistedKey + Length + FinalizeKey generates the key on the card, named as asked', async () => {
    const key = await NCryptCreatePersistedKey(fx.prov, BCRYPT_RSA_ALGORITHM, 'rsa-made', 0, NCRYPT_SILENT_FLAG);
    assert.equal(key.state.kind, 'pending');
    assert.ok(!(await cardNames(A.label)).includes('rsa-made') && !(await cardNames(B.label)).includes('rsa-made'), 'nothing reaches a card before finalize');
    await NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, 1024);
    await NCryptFinalizeKey(key, NCRYPT_SILENT_FLAG);
    assert.equal(key.state.kind, 'persisted');
    assert.equal(await NCryptGetProperty(key, NCRYPT_LENGTH_PROPERTY), 1024);
    const onA = (await cardNames(A.label)).includes('rsa-made');
    assert.ok(onA || (await cardNames(B.label)).includes('rsa-made'), 'the container is on a card');
    await assertUsable(key);
    await expectCryptError(() => NCryptFinalizeKey(key), 'NTE_INVALID_HANDLE', 'finalizing twice (N11)');
    await NCryptDeleteKey(key);
    assert.ok(!(await cardNames(A.label)).includes('rsa-made') && !(await cardNames(B.label)).includes('rsa-made'), 'deleted from the card');
    await expectCryptError(() => NCryptFreeObject(key), 'NTE_INVALID_HANDLE', 'NCryptDeleteKey freed the handle (N12)');
  });

  for (const alg of [BCRYPT_ECDSA_P256_ALGORITHM, BCRYPT_ECDSA_P384_ALGORITHM, BCRYPT_ECDSA_P521_ALGORITHM]) {
    it(`${alg}: finalized on the card with the curve's length, and usable`, async () => {
      const key = await fx.newKey(alg);
      assert.equal(await NCryptGetProperty(key, NCRYPT_LENGTH_PROPERTY), { ECDSA_P256: 256, ECDSA_P384: 384, ECDSA_P521: 521 }[alg]);
      await assertUsable(key);
      await NCryptDeleteKey(key);
    });
  }

  it('ECDH: a key-exchange key (legacy spec 0, listed as ECDH_P256)', async () => {
    const key = await fx.newKey(BCRYPT_ECDH_P256_ALGORITHM, { name: 'ecdh-made' });
    const listed = (await NCryptEnumKeys(fx.prov, null)).filter((k) => k.pszName === 'ecdh-made');
    assert.deepEqual(listed, [{ pszName: 'ecdh-made', pszAlgid: 'ECDH_P256', dwLegacyKeySpec: 0, dwFlags: 0 }]);
    await NCryptDeleteKey(key);
  });

  it('AT_SIGNATURE, or a signing-only key usage, puts an RSA key in the signature slot', async () => {
    const sig = await fx.newKey(BCRYPT_RSA_ALGORITHM, { name: 'rsa-sig', bits: 1024, legacyKeySpec: AT_SIGNATURE });
    const pending = await NCryptCreatePersistedKey(fx.prov, BCRYPT_RSA_ALGORITHM, 'rsa-usage', 0, NCRYPT_SILENT_FLAG);
    await NCryptSetProperty(pending, NCRYPT_LENGTH_PROPERTY, 1024);
    await NCryptSetProperty(pending, NCRYPT_KEY_USAGE_PROPERTY, NCRYPT_ALLOW_SIGNING_FLAG);
    await NCryptFinalizeKey(pending);
    const listed = (await NCryptEnumKeys(fx.prov, null)).filter((k) => k.pszName.startsWith('rsa-sig') || k.pszName === 'rsa-usage');
    assert.deepEqual(listed.map((k) => [k.pszName, k.dwLegacyKeySpec]).sort(), [['rsa-sig', AT_SIGNATURE], ['rsa-usage', AT_SIGNATURE]]);
    await expectCryptError(() => NCryptOpenKey(fx.prov, 'rsa-sig', AT_KEYEXCHANGE), 'NTE_BAD_KEYSET', 'the key-exchange slot is empty');
    await NCryptDeleteKey(sig);
    await NCryptDeleteKey(pending);
  });

  it('a null name makes a GUID-named container; its Name property says which', async () => {
    const key = await NCryptCreatePersistedKey(fx.prov, BCRYPT_ECDSA_P256_ALGORITHM, null, 0, NCRYPT_SILENT_FLAG);
    await expectCryptError(() => NCryptGetProperty(key, NCRYPT_NAME_PROPERTY), 'NTE_NOT_FOUND', 'no name before finalize');
    await NCryptFinalizeKey(key);
    const name = await NCryptGetProperty(key, NCRYPT_NAME_PROPERTY) as string;
    assert.match(name, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.ok((await NCryptEnumKeys(fx.prov, null)).some((k) => k.pszName === name));
    await NCryptDeleteKey(key);
  });

  it('a reader-qualified name creates on that reader\'s card', async () => {
    const readerB = await fx.readerOf(B.label);
    const key = await fx.newKey(BCRYPT_ECDSA_P256_ALGORITHM, { name: `\\\\.\\${readerB}\\on-b` });
    assert.ok((await cardNames(B.label)).includes('on-b'));
    assert.ok(!(await cardNames(A.label)).includes('on-b'));
    assert.equal(await NCryptGetProperty(key, NCRYPT_NAME_PROPERTY), 'on-b');
    assert.equal(await NCryptGetProperty(key, NCRYPT_UNIQUE_NAME_PROPERTY), `\\\\.\\${readerB}\\on-b`);
    await NCryptDeleteKey(key);
  });

  it('an existing name is NTE_EXISTS at NCryptCreatePersistedKey; NCRYPT_OVERWRITE_KEY_FLAG replaces the key', async () => {
    const first = await fx.newKey(BCRYPT_ECDSA_P256_ALGORITHM, { name: 'twice' });
    const firstKey = first.state.kind === 'persisted' ? first.state.publicKey : undefined;
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, BCRYPT_ECDSA_P256_ALGORITHM, 'twice', 0, NCRYPT_SILENT_FLAG), 'NTE_EXISTS', 'N10');
    const second = await NCryptCreatePersistedKey(fx.prov, BCRYPT_ECDSA_P384_ALGORITHM, 'twice', 0, NCRYPT_OVERWRITE_KEY_FLAG | NCRYPT_SILENT_FLAG);
    await NCryptFinalizeKey(second);
    const reopened = await NCryptOpenKey(fx.prov, 'twice', 0, NCRYPT_SILENT_FLAG);
    assert.equal(reopened.state.kind === 'persisted' && reopened.state.algorithm.algId, 'ECDSA_P384', 'the new key replaced the old');
    assert.ok(reopened.state.kind === 'persisted' && firstKey && !reopened.state.publicKey.equals(firstKey));
    const onCards = [...await cardNames(A.label), ...await cardNames(B.label)].filter((n) => n === 'twice');
    assert.equal(onCards.length, 1, 'one container of that name remains');
    await NCryptFreeObject(first);
    await NCryptFreeObject(reopened);
    await NCryptDeleteKey(second);
  });

  it('bad input: unknown algorithm, legacy key spec, flags, names too long, lengths the card cannot make', async () => {
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, 'AES', 'x', 0), 'NTE_NOT_SUPPORTED');
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, '', 'x', 0), 'NTE_INVALID_PARAMETER');
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, 'RSA', 'x', 3), 'NTE_INVALID_PARAMETER');
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, 'RSA', 'x', 0, 0x1000), 'NTE_BAD_FLAGS');
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, 'RSA', 'n'.repeat(40), 0), 'NTE_INVALID_PARAMETER', 'a card container name has at most 39 characters');
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, 'RSA', 'n'.repeat(513), 0), 'NTE_INVALID_PARAMETER', 'NCRYPT_MAX_KEY_NAME_LENGTH');
    await expectCryptError(() => NCryptCreatePersistedKey(fx.prov, 'RSA', 'a\\b', 0), 'NTE_INVALID_PARAMETER');
    const key = await NCryptCreatePersistedKey(fx.prov, 'RSA', 'odd-length', 0, NCRYPT_SILENT_FLAG);
    await expectCryptError(() => NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, 1000), 'NTE_INVALID_PARAMETER', 'not a multiple of 8');
    await expectCryptError(() => NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, 512), 'NTE_INVALID_PARAMETER', 'below 1024');
    await expectCryptError(() => NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, 8192), 'NTE_INVALID_PARAMETER', 'above 4096');
    await expectCryptError(() => NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, '2048' as never), 'NTE_INVALID_PARAMETER', 'a DWORD property takes a number');
    await expectCryptError(() => NCryptFinalizeKey(key, 0x2), 'NTE_BAD_FLAGS');
    await expectCryptError(() => NCryptDeleteKey(key), 'NTE_BAD_KEY_STATE', 'nothing stored yet');
    await NCryptFreeObject(key);
    assert.ok(!(await cardNames(A.label)).includes('odd-length'));
  });

  it('silent creation without a cached PIN is NTE_SILENT_CONTEXT and writes nothing; with the PIN set on the provider it succeeds', async () => {
    await fx.logout();
    try {
      const key = await NCryptCreatePersistedKey(fx.prov, BCRYPT_ECDSA_P256_ALGORITHM, 'silent-new', 0, NCRYPT_SILENT_FLAG);
      await expectCryptError(() => NCryptFinalizeKey(key, NCRYPT_SILENT_FLAG), 'NTE_SILENT_CONTEXT');
      assert.ok(!(await cardNames(A.label)).includes('silent-new') && !(await cardNames(B.label)).includes('silent-new'));
      const readerA = await fx.readerOf(A.label);
      const onA = await NCryptCreatePersistedKey(fx.prov, BCRYPT_ECDSA_P256_ALGORITHM, `\\\\.\\${readerA}\\silent-new`, 0, NCRYPT_SILENT_FLAG);
      await NCryptSetProperty(onA, 'SmartCardPin', A.pin);
      await NCryptFinalizeKey(onA, NCRYPT_SILENT_FLAG);
      assert.ok((await cardNames(A.label)).includes('silent-new'));
      await NCryptDeleteKey(onA, NCRYPT_SILENT_FLAG);
      await NCryptFreeObject(key);
    } finally {
      await fx.login();
    }
  });

  it('non-silent creation without a cached PIN asks the UI once, then the PIN is cached', async () => {
    await fx.logout();
    try {
      const ui = useScriptedUi();
      const readerA = await fx.readerOf(A.label);
      ui.pins = [A.pin];
      const key = await NCryptCreatePersistedKey(fx.prov, BCRYPT_ECDSA_P256_ALGORITHM, `\\\\.\\${readerA}\\asked`, 0);
      await NCryptFinalizeKey(key);
      assert.equal(ui.pinRequests.length, 1);
      assert.equal(ui.pinRequests[0]!.container, 'asked');
      await NCryptDeleteKey(key);
      assert.equal(ui.pinRequests.length, 1, 'the PIN was cached');
    } finally {
      await fx.login();
    }
  });
});

describe('ksp: opening keys', () => {
  let keyA: NCryptKeyHandle;
  let readerA: string;
  before(async () => {
    readerA = await fx.readerOf(A.label);
    keyA = await fx.newKey(BCRYPT_ECDSA_P256_ALGORITHM, { name: `\\\\.\\${await fx.readerOf(A.label)}\\open-me` });
  });
  after(async () => { await NCryptDeleteKey(await NCryptOpenKey(fx.prov, 'open-me', 0, NCRYPT_SILENT_FLAG)); });

  it('by plain name, reader-qualified name, and reader alone (its default container)', async () => {
    const plain = await NCryptOpenKey(fx.prov, 'open-me', 0, NCRYPT_SILENT_FLAG);
    const qualified = await NCryptOpenKey(fx.prov, `\\\\.\\${readerA}\\open-me`, 0, NCRYPT_SILENT_FLAG);
    for (const k of [plain, qualified]) {
      assert.equal(k.state.kind === 'persisted' && k.state.card.szReader, readerA);
      assert.ok(k.state.kind === 'persisted' && keyA.state.kind === 'persisted' && k.state.publicKey.equals(keyA.state.publicKey));
      await NCryptFreeObject(k);
    }
    const byReader = await NCryptOpenKey(fx.prov, `\\\\.\\${readerA}\\`, 0, NCRYPT_SILENT_FLAG);
    const card = await fx.card(A.label);
    assert.equal(byReader.state.kind === 'persisted' && byReader.state.container.name, (await card.defaultContainer(true))!.name);
    await NCryptFreeObject(byReader);
  });

  it('MACHINE_KEY is accepted (card keys are neither user nor machine keys)', async () => {
    const k = await NCryptOpenKey(fx.prov, 'open-me', 0, NCRYPT_SILENT_FLAG | NCRYPT_MACHINE_KEY_FLAG);
    await NCryptFreeObject(k);
  });

  it('missing names are NTE_BAD_KEYSET (N9); an unknown reader SCARD_E_UNKNOWN_READER; bad flags and specs fail first', async () => {
    await expectCryptError(() => NCryptOpenKey(fx.prov, 'no-such-key', 0, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET');
    await expectCryptError(() => NCryptOpenKey(fx.prov, `\\\\.\\${readerA}\\no-such-key`, 0, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET');
    await expectCryptError(() => NCryptOpenKey(fx.prov, '\\\\.\\No Such Reader\\open-me', 0, NCRYPT_SILENT_FLAG), 'SCARD_E_UNKNOWN_READER');
    await expectCryptError(() => NCryptOpenKey(fx.prov, 'open-me', 0, NCRYPT_OVERWRITE_KEY_FLAG), 'NTE_BAD_FLAGS');
    await expectCryptError(() => NCryptOpenKey(fx.prov, 'open-me', 7), 'NTE_INVALID_PARAMETER');
    await expectCryptError(() => NCryptOpenKey(fx.prov, 'open-me', AT_KEYEXCHANGE, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET', 'an ECDSA key is in the signature slot; AT_KEYEXCHANGE names the empty one');
  });

  it('a name only on a removed card: silent → NTE_BAD_KEYSET; with a UI the person is asked for the card', async () => {
    await fx.remove(A.label);
    await expectCryptError(() => NCryptOpenKey(fx.prov, 'open-me', 0, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET');
    const ui = useScriptedUi();
    ui.onSelectCard = () => { fx.control.hidden.delete(A.label); return { szReader: readerA }; };
    const k = await NCryptOpenKey(fx.prov, 'open-me', 0);
    assert.equal(ui.cardRequests.length, 1);
    assert.equal(k.state.kind === 'persisted' && k.state.container.name, 'open-me');
    await NCryptFreeObject(k);
    // A handle from before the removal reports it (reopen the key); the reinserted card is unharmed.
    await expectCryptError(() => NCryptGetProperty(keyA, 'SmartCardPinInfo'), 'SCARD_W_REMOVED_CARD');
    const again = await NCryptOpenKey(fx.prov, 'open-me', 0, NCRYPT_SILENT_FLAG);
    assert.equal(again.state.kind === 'persisted' && again.state.card.isRemoved, false);
    await NCryptFreeObject(again);
  });

  it('a key stays usable after its provider handle is freed', async () => {
    const prov = await NCryptOpenStorageProvider(null);
    const k = await NCryptOpenKey(prov, 'open-me', 0, NCRYPT_SILENT_FLAG);
    await NCryptFreeObject(prov);
    await assertUsable(k);
    assert.equal(await NCryptGetProperty(k, NCRYPT_NAME_PROPERTY), 'open-me');
    await NCryptFreeObject(k);
  });

  it('a container made by pkcs11-tool (a key pair with no cmapfile record) opens by its label', async () => {
    const result = spawnSync('pkcs11-tool', ['--module', SOFTHSM2_MODULE, '--token-label', B.label, '--login', '--pin', B.pin,
      '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'from-tool', '--id', 'a1b2'], { encoding: 'utf8', env: process.env });
    assert.equal(result.status, 0, result.stderr);
    const listed = (await NCryptEnumKeys(fx.prov, `\\\\.\\${await fx.readerOf(B.label)}\\`)).filter((k) => k.pszName === 'from-tool');
    assert.equal(listed.length, 1, 'enumerated');
    assert.equal(listed[0]!.pszAlgid, 'ECDSA_P256');
    const k = await NCryptOpenKey(fx.prov, 'from-tool', 0, NCRYPT_SILENT_FLAG);
    await assertUsable(k);
    await NCryptDeleteKey(k);
    assert.ok(!(await cardNames(B.label)).includes('from-tool'));
  });
});

describe('ksp: enumerating keys', () => {
  it('lists every key of every card, one entry per key, and a reader scope lists one card', async () => {
    const readerA = await fx.readerOf(A.label);
    const readerB = await fx.readerOf(B.label);
    const a = await fx.newKey(BCRYPT_RSA_ALGORITHM, { name: `\\\\.\\${readerA}\\enum-a`, bits: 1024 });
    const b = await fx.newKey(BCRYPT_ECDSA_P384_ALGORITHM, { name: `\\\\.\\${readerB}\\enum-b` });
    // A second key in enum-a's signature slot, made through the card: the container is listed twice.
    const cardA = await fx.card(A.label);
    const enumA = (await cardA.findContainer('enum-a', true))!;
    await cardA.createKey(enumA.index, CARD_CREATE_CONTAINER_KEY_GEN, AT_SIGNATURE, 1024, null);
    const all = await NCryptEnumKeys(fx.prov, null, NCRYPT_SILENT_FLAG);
    assert.deepEqual(all.filter((k) => k.pszName.startsWith('enum-')).sort((x, y) => x.pszName.localeCompare(y.pszName) || x.dwLegacyKeySpec - y.dwLegacyKeySpec), [
      { pszName: 'enum-a', pszAlgid: 'RSA', dwLegacyKeySpec: AT_KEYEXCHANGE, dwFlags: 0 },
      { pszName: 'enum-a', pszAlgid: 'RSA', dwLegacyKeySpec: AT_SIGNATURE, dwFlags: 0 },
      { pszName: 'enum-b', pszAlgid: 'ECDSA_P384', dwLegacyKeySpec: 0, dwFlags: 0 },
    ]);
    const onlyB = await NCryptEnumKeys(fx.prov, `\\\\.\\${readerB}\\`);
    assert.ok(onlyB.some((k) => k.pszName === 'enum-b') && !onlyB.some((k) => k.pszName === 'enum-a'));
    assert.deepEqual((await NCryptEnumKeys(fx.prov, null, NCRYPT_MACHINE_KEY_FLAG)).map((k) => k.dwFlags).filter((f) => f !== NCRYPT_MACHINE_KEY_FLAG), []);
    const sig = await NCryptOpenKey(fx.prov, 'enum-a', AT_SIGNATURE, NCRYPT_SILENT_FLAG);
    assert.ok(sig.state.kind === 'persisted' && a.state.kind === 'persisted' && !sig.state.publicKey.equals(a.state.publicKey), 'the signature slot is another key');
    await NCryptFreeObject(sig);
    await NCryptDeleteKey(a);
    await NCryptDeleteKey(b);
  });

  it('a removed card is left out; scopes must be readers; unknown readers and empty readers say so', async () => {
    const readerB = await fx.readerOf(B.label);
    const k = await fx.newKey(BCRYPT_ECDSA_P256_ALGORITHM, { name: `\\\\.\\${readerB}\\gone-soon` });
    await fx.remove(B.label);
    assert.ok(!(await NCryptEnumKeys(fx.prov, null)).some((e) => e.pszName === 'gone-soon'));
    await expectCryptError(() => NCryptEnumKeys(fx.prov, `\\\\.\\${readerB}\\`), 'SCARD_E_NO_SMARTCARD');
    fx.control.hidden.clear();
    await fx.login(B.label);
    await expectCryptError(() => NCryptEnumKeys(fx.prov, '\\\\.\\Nowhere\\'), 'SCARD_E_UNKNOWN_READER');
    await expectCryptError(() => NCryptEnumKeys(fx.prov, 'plain-name'), 'NTE_INVALID_PARAMETER');
    await expectCryptError(() => NCryptEnumKeys(fx.prov, null, NCRYPT_OVERWRITE_KEY_FLAG), 'NTE_BAD_FLAGS');
    await NCryptDeleteKey(await NCryptOpenKey(fx.prov, 'gone-soon', 0, NCRYPT_SILENT_FLAG));
    await NCryptFreeObject(k);
  });
});
});
