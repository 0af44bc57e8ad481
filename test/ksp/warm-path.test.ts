/**
 * What a warm CNG operation asks of the token (design decision 4, "minimum token I/O"), counted at both
 * levels: the minidriver entry points the front end calls on the card, and the PKCS#11 functions that
 * reach the module (a counting wrapper around the process's one pkcs11js instance of SoftHSM2; every
 * call still goes to the real module). Warm: the key is open and the PIN cached. Token I/O only — no
 * assertion here is about time.
 *
 * And what the warm path must not lose: a card logged out behind the front end's back (another
 * library) is authenticated again from the PIN cache, or through the UI unless the call is silent; a
 * removed card is reported as removed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ENTRY_POINT_VERSIONS } from '../../minidriver/card-module.js';
import { ROLE_USER } from '../../minidriver/constants.js';
import { NCRYPT_PAD_OAEP_FLAG, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG, NCRYPT_SILENT_FLAG } from '../../ksp/constants.js';
import { NCryptDecrypt, NCryptEncrypt } from '../../ksp/encryption.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import { NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptFreeObject } from '../../ksp/provider.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import { directAttributeReadStatus, isDirectAttributeReadAvailable } from '../../native/pkcs11-direct.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import type { SmartCard } from '../../smartcard/card.js';
import { distUrl, runUnderSpy, SPY_SERVICE_SETUP, spyAvailable } from '../native/pkcs11-spy.js';
import { expectCryptError, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { localModuleOnly, SUITE_MODULE, TEST_TRANSPORT, useScriptedUi } from '../smartcard/service-helpers.js';
import { counting, countPkcs11Calls, type Counts, warmIo } from '../support/call-counter.js';
import { kspFixture } from './fixture.js';

const PKCS1 = NCRYPT_PAD_PKCS1_FLAG;
/** Operations per counted window (after one warm-up each). */
const N = 10;


describe('ksp: the warm path (token I/O)', function () {
  this.timeout(120_000);
  const fx = kspFixture('ksp-warm');
  const token = fx.tokens[0]!;
  let module: LoadedModule;
  let rsa: NCryptKeyHandle;
  let ec: NCryptKeyHandle;
  /** The ECDSA key opened without NCRYPT_SILENT_FLAG (fx.newKey's handles are silent): it may ask. */
  let ecLoud: NCryptKeyHandle;
  const rsaName = `warm-rsa-${Date.now().toString(36)}`;
  const ecName = `warm-p256-${Date.now().toString(36)}`;
  const hash = createHash('sha256').update('warm').digest();

  before(async () => {
    // The same instance the service's driver loaded (one per process and path; p11-kit's client under
    // the remote transport): counting it counts every PKCS#11 call of the front end.
    module = acquireModule(SUITE_MODULE);
    rsa = await fx.newKey('RSA', { name: rsaName, bits: 2048 });
    ec = await fx.newKey('ECDSA_P256', { name: ecName });
    ecLoud = await NCryptOpenKey(fx.prov, ecName, 0, 0);
  });
  after(() => releaseModule(module));

  const cardOf = (handle: NCryptKeyHandle): SmartCard => {
    assert.ok(handle.state.kind === 'persisted');
    return handle.state.card;
  };

  /** Card entry points and PKCS#11 functions called by `action` (C_xxxAsync counted as C_xxx). */
  async function io(card: SmartCard, action: () => Promise<void>): Promise<{ card: Counts; pkcs11: Counts }> {
    let pkcs11: Counts = {};
    const entries = await counting(card.module, Object.keys(ENTRY_POINT_VERSIONS), (name) => name, async () => {
      pkcs11 = await countPkcs11Calls(module, action);
    });
    return { card: entries, pkcs11 };
  }

  /** One warm-up call, then N counted ones. */
  const warm = (card: SmartCard, op: () => Promise<unknown>) => warmIo(card, module, N, op);

  it('NCryptSignHash (RSA PKCS#1 and PSS, ECDSA): one CardSignData, nothing else; on the token C_SignInit + C_Sign', async () => {
    const cases: [string, NCryptKeyHandle, () => Promise<Buffer>][] = [
      ['RSA PKCS#1', rsa, () => NCryptSignHash(rsa, { pszAlgId: 'SHA256' }, hash, PKCS1)],
      ['RSA PSS', rsa, () => NCryptSignHash(rsa, { pszAlgId: 'SHA256', cbSalt: 32 }, hash, NCRYPT_PAD_PSS_FLAG)],
      ['ECDSA P-256', ec, () => NCryptSignHash(ec, null, hash)],
      ['ECDSA P-256, silent', ec, () => NCryptSignHash(ec, null, hash, NCRYPT_SILENT_FLAG)],
    ];
    for (const [what, handle, sign] of cases) {
      const calls = await warm(cardOf(handle), sign);
      assert.deepEqual(calls.card, { CardSignData: N }, `${what}: card entry points (no PIN_INFO or Authenticated State look-up)`);
      assert.deepEqual(calls.pkcs11, { C_SignInit: N, C_Sign: N }, `${what}: PKCS#11 calls`);
    }
    await NCryptVerifySignature(ec, null, hash, await NCryptSignHash(ec, null, hash)); // and it still signs
  });

  it('NCryptDecrypt (PKCS#1 v1.5, OAEP): one CardRSADecrypt; on the token C_DecryptInit + C_Decrypt', async () => {
    const plain = Buffer.from('a session key, say');
    const oaep = { pszAlgId: 'SHA256' };
    const cases: [string, () => Promise<Buffer>][] = [
      ['PKCS#1 v1.5', await NCryptEncrypt(rsa, plain, null, PKCS1).then((c) => () => NCryptDecrypt(rsa, c, null, PKCS1))],
      ['OAEP SHA-256', await NCryptEncrypt(rsa, plain, oaep, NCRYPT_PAD_OAEP_FLAG).then((c) => () => NCryptDecrypt(rsa, c, oaep, NCRYPT_PAD_OAEP_FLAG))],
    ];
    for (const [what, decrypt] of cases) {
      assert.deepEqual(await decrypt(), plain, what);
      const calls = await warm(cardOf(rsa), decrypt);
      assert.deepEqual(calls.card, { CardRSADecrypt: N }, `${what}: card entry points`);
      assert.deepEqual(calls.pkcs11, { C_DecryptInit: N, C_Decrypt: N }, `${what}: PKCS#11 calls`);
    }
  });

  it('NCryptOpenKey of a known name, warm cache: one card call (the cardcf read that checks the handle), no more token calls than that read', async () => {
    const card = cardOf(rsa);
    // What one cardcf read costs on this driver: the floor of any open that checks the handle and the
    // cache's freshness. On SoftHSM2 loaded here, label and value are read together, into buffers of
    // the known lengths, in one C_GetAttributeValue through the native addon: none through pkcs11js
    // (whose reads are two module calls, lengths then values); the C-level count is the pkcs11-spy
    // test below. p11-kit's client hands the addon another, uninitialised instance of itself, so
    // there the read is one pkcs11js C_GetAttributeValue (two module calls inside it), and nothing
    // else: no search for the file again.
    const floor = await io(card, async () => { await card.module.CardReadFile(null, 'cardcf'); });
    if (TEST_TRANSPORT === 'local') {
      assert.equal(isDirectAttributeReadAvailable(SUITE_MODULE), true, 'the addon reads in one call on this module (npm run build:native)');
      assert.deepEqual(floor.pkcs11, {}, 'a warm cardcf read makes no pkcs11js call: its one C_GetAttributeValue goes through the addon');
    } else {
      assert.match(directAttributeReadStatus(SUITE_MODULE) ?? '', /another instance/, 'the addon refuses p11-kit\'s client');
      assert.deepEqual(floor.pkcs11, { C_GetAttributeValue: 1 }, 'through p11-kit: one pkcs11js read');
    }
    const open = async (): Promise<void> => NCryptFreeObject(await NCryptOpenKey(fx.prov, rsaName, 0, NCRYPT_SILENT_FLAG));
    const calls = await warm(card, open);
    assert.deepEqual(calls.card, { CardReadFile: N }, 'card entry points: the handle check only (cmapfile and container info come from the cache)');
    const perOpen = Object.fromEntries(Object.entries(calls.pkcs11).map(([f, n]) => [f, n / N]));
    assert.deepEqual(perOpen, floor.pkcs11, 'PKCS#11 calls per open: exactly those of one cardcf read');
  });

  it('NCryptOpenKey of a known name, warm cache, counted at the C level by pkcs11-spy (child process): exactly one C_GetAttributeValue', function () {
    if (!spyAvailable()) this.skip();
    // A child process with its own smart card service over pkcs11-spy in front of SoftHSM2 (this suite's
    // token only, SOFTHSM2_CONF inherited), opening the key this suite made: one warm-up open (cold:
    // the data cache is per process), then N warm opens between two marks of the spy log.
    const out = runUnderSpy(`
      ${SPY_SERVICE_SETUP}
      const { NCryptFreeObject, NCryptOpenStorageProvider } = await import(${JSON.stringify(distUrl('ksp/provider.js'))});
      const { NCryptOpenKey } = await import(${JSON.stringify(distUrl('ksp/keys.js'))});
      const { NCryptSetProperty } = await import(${JSON.stringify(distUrl('ksp/properties.js'))});
      const { NCRYPT_PIN_PROPERTY, NCRYPT_SILENT_FLAG } = await import(${JSON.stringify(distUrl('ksp/constants.js'))});
      const { SPY_MODULE, SPY_LABEL, SPY_PIN, SPY_KEY, SPY_N } = process.env;
      const prov = await NCryptOpenStorageProvider(null);
      await NCryptSetProperty(prov, NCRYPT_PIN_PROPERTY, SPY_PIN);
      const open = async () => NCryptFreeObject(await NCryptOpenKey(prov, SPY_KEY, 0, NCRYPT_SILENT_FLAG));
      await open();
      const from = mark();
      for (let i = 0; i < Number(SPY_N); i++) await open();
      const calls = callsSince(from);
      await NCryptFreeObject(prov);
      await setDefaultSmartCardService(null);
      console.log(JSON.stringify({ calls }));
    `, SOFTHSM2_MODULE, { SPY_LABEL: token.label, SPY_PIN: token.pin, SPY_KEY: rsaName, SPY_N: String(N) }) as { calls: Counts };
    assert.deepEqual(out.calls, { C_GetAttributeValue: N }, 'token calls of N warm opens: one C_GetAttributeValue each (the cardcf read), nothing else');
  });

  it('the card logged out behind the front end: the cached PIN authenticates it again, no UI, and the next signature is warm again', async () => {
    const card = cardOf(ecLoud);
    const ui = useScriptedUi(); // holds no PIN: asking it fails the test
    await NCryptSignHash(ecLoud, null, hash);
    // Another library on the same module logs the application out; the card object is not told.
    await card.module.CardDeauthenticateEx(1 << ROLE_USER);
    const recovered = await io(card, async () => { await NCryptSignHash(ecLoud, null, hash); });
    assert.equal(recovered.card.CardSignData, 2, 'refused once, then signed');
    assert.equal(recovered.card.CardAuthenticateEx, 1, 'the cached PIN was presented');
    assert.equal(ui.pinRequests.length, 0, 'the UI was not asked');
    const again = await io(card, async () => { await NCryptSignHash(ecLoud, null, hash); });
    assert.deepEqual(again.card, { CardSignData: 1 }, 'warm again');
  });

  it('logged out and the PIN no longer cached: a silent call fails with NTE_SILENT_CONTEXT, an interactive one asks the UI', async () => {
    const card = cardOf(ecLoud);
    await NCryptSignHash(ecLoud, null, hash);
    await card.module.CardDeauthenticateEx(1 << ROLE_USER);
    fx.service.pins.drop(pinCacheCard(card));
    const ui = useScriptedUi();
    await expectCryptError(() => NCryptSignHash(ecLoud, null, hash, NCRYPT_SILENT_FLAG), 'NTE_SILENT_CONTEXT', 'silent call');
    await expectCryptError(() => NCryptSignHash(ec, null, hash), 'NTE_SILENT_CONTEXT', 'key opened silent');
    assert.equal(ui.pinRequests.length, 0, 'a silent call never asks');
    ui.pins = [token.pin];
    await NCryptVerifySignature(ecLoud, null, hash, await NCryptSignHash(ecLoud, null, hash));
    assert.equal(ui.pinRequests.length, 1, 'the interactive call asked once');
    assert.equal(fx.service.pins.has(pinCacheCard(card), ROLE_USER), true, 'and the PIN is cached again');
  });

  it('a removed card is never warm: SCARD_W_REMOVED_CARD, and its PINs are gone', async () => {
    const card = cardOf(ec);
    await NCryptSignHash(ec, null, hash);
    await fx.remove();
    await expectCryptError(() => NCryptSignHash(ec, null, hash, NCRYPT_SILENT_FLAG), 'SCARD_W_REMOVED_CARD');
    assert.equal(card.knownAuthenticatedFor(ROLE_USER), false);
    assert.equal(fx.service.pins.has(pinCacheCard(card), ROLE_USER), false);
  });
});
