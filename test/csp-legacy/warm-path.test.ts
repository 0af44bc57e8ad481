/**
 * What a warm CryptoAPI private-key operation asks of the token (design decision 4, "minimum token
 * I/O"; issue #5's performance goal: 2 token calls per warm operation), counted at three levels: the
 * minidriver entry points the front end calls on the card, the PKCS#11 functions that reach the module
 * through this process's pkcs11js instance (a counting pass-through; every call still goes to the real
 * SoftHSM2), and — independently of anything in this process — OpenSC's pkcs11-spy in a child process.
 * Warm: the context acquired, the key got, the PIN cached. Token I/O only — nothing here is about time.
 *
 * And what the warm path must not lose: a card logged out behind the front end's back (another
 * library) is authenticated again from the PIN cache, or through the UI unless the context is silent;
 * a CRYPT_MACHINE_KEYSET context reads PIN_INFO from the card, not from what is held; a removed card is
 * reported as removed.
 */
import assert from 'node:assert/strict';
import { constants, createCipheriv, createHash, publicEncrypt, randomBytes } from 'node:crypto';
import { CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import type { HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptCreateHash, CryptDestroyHash, CryptSetHashParam, CryptSignHash, CryptVerifySignature } from '../../csp-legacy/hashes.js';
import { CryptDestroyKey, CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { ENTRY_POINT_VERSIONS } from '../../minidriver/card-module.js';
import { ROLE_USER } from '../../minidriver/constants.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import type { SmartCard } from '../../smartcard/card.js';
import { distUrl, runUnderSpy, SPY_SERVICE_SETUP, spyAvailable } from '../native/pkcs11-spy.js';
import { expectCryptError, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { SUITE_MODULE, useScriptedUi } from '../smartcard/service-helpers.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_AES_256, CALG_SHA_256, type Counts, counting, CRYPT_MACHINE_KEYSET, CRYPT_NOHASHOID, CRYPT_OAEP,
  CRYPT_SILENT, HP_HASHVAL, publicKeyOf, reversed, simpleBlobOf, warmIo,
} from './key-test-helpers.js';

/** Operations per counted window (after one warm-up each). */
const N = 10;
const SIGN = { C_SignInit: N, C_Sign: N };
const DECRYPT = { C_DecryptInit: N, C_Decrypt: N };

describe('csp-legacy: the warm path (token I/O)', function () {
  this.timeout(120_000);
  const fx = cspFixture('csp-warm');
  const token = fx.tokens[0]!;
  let module: LoadedModule;
  let name: string;
  let prov: HCRYPTPROV;
  let exchange: HCRYPTKEY;
  let signature: HCRYPTKEY;
  let card: SmartCard;
  const digest = createHash('sha256').update('warm').digest();
  const plain = Buffer.from('a session key, say');

  before(async () => {
    // The same instance the service's driver loaded (one per process and path; p11-kit's client under
    // the remote transport): counting it counts every PKCS#11 call of the front end.
    module = acquireModule(SUITE_MODULE);
    name = fx.uniqueName();
    const made = await fx.newContainer(name);
    exchange = await CryptGenKey(made, AT_KEYEXCHANGE, 2048 << 16);
    signature = await CryptGenKey(made, AT_SIGNATURE, 2048 << 16);
    await CryptReleaseContext(made);
    prov = await fx.acquire(name); // as an application opens it: not silent, PIN cached already
    exchange = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
    signature = await CryptGetUserKey(prov, AT_SIGNATURE);
    card = prov.context.card!;
  });
  after(() => releaseModule(module));

  /** A signature as an application makes one: a hash object per signature, its value set, signed, destroyed. */
  async function signWith(context: HCRYPTPROV, keySpec: number, flags = 0): Promise<Buffer> {
    const hash = await CryptCreateHash(context, CALG_SHA_256);
    try {
      await CryptSetHashParam(hash, HP_HASHVAL, digest);
      return await CryptSignHash(hash, keySpec, null, flags);
    } finally {
      await CryptDestroyHash(hash);
    }
  }

  /** Card entry points one run of `op` calls (no warm-up). */
  function countOnce(op: () => Promise<unknown>): Promise<Counts> {
    return counting(card.module, Object.keys(ENTRY_POINT_VERSIONS), (entry) => entry, async () => { await op(); });
  }

  async function verifyWith(context: HCRYPTPROV, key: HCRYPTKEY, sig: Buffer, flags = 0): Promise<void> {
    const hash = await CryptCreateHash(context, CALG_SHA_256);
    await CryptSetHashParam(hash, HP_HASHVAL, digest);
    await CryptVerifySignature(hash, sig, key, null, flags);
    await CryptDestroyHash(hash);
  }

  it('CryptSignHash RSA-2048 (both slots, CRYPT_NOHASHOID, a silent context): one CardSignData, nothing else; on the token C_SignInit + C_Sign', async () => {
    const silent = await fx.acquire(name, CRYPT_SILENT);
    const cases: [string, () => Promise<Buffer>][] = [
      ['AT_KEYEXCHANGE', () => signWith(prov, AT_KEYEXCHANGE)],
      ['AT_SIGNATURE', () => signWith(prov, AT_SIGNATURE)],
      ['CRYPT_NOHASHOID', () => signWith(prov, AT_SIGNATURE, CRYPT_NOHASHOID)],
      ['silent context', () => signWith(silent, AT_KEYEXCHANGE)],
    ];
    for (const [what, sign] of cases) {
      const calls = await warmIo(card, module, N, sign);
      assert.deepEqual(calls.card, { CardSignData: N }, `${what}: card entry points (no PIN_INFO or Authenticated State look-up)`);
      assert.deepEqual(calls.pkcs11, SIGN, `${what}: PKCS#11 calls`);
    }
    // And the warm signatures are signatures: checked by the public halves.
    await verifyWith(prov, exchange, await signWith(prov, AT_KEYEXCHANGE));
    await verifyWith(prov, signature, await signWith(silent, AT_SIGNATURE, CRYPT_NOHASHOID), CRYPT_NOHASHOID);
  });

  it('CryptDecrypt RSA-2048 (PKCS#1 v1.5, CRYPT_OAEP): one CardRSADecrypt; on the token C_DecryptInit + C_Decrypt', async () => {
    // Ciphertexts made by node:crypto with the key's public half, little-endian as CryptoAPI takes them.
    const key = publicKeyOf(exchange);
    const cases: [string, Buffer, number][] = [
      ['PKCS#1 v1.5', reversed(publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plain)), 0],
      ['OAEP (SHA-1)', reversed(publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, plain)), CRYPT_OAEP],
    ];
    for (const [what, ciphertext, flags] of cases) {
      const decrypt = (): Promise<Buffer> => CryptDecrypt(exchange, null, true, flags, ciphertext);
      assert.deepEqual(await decrypt(), plain, what);
      const calls = await warmIo(card, module, N, decrypt);
      assert.deepEqual(calls.card, { CardRSADecrypt: N }, `${what}: card entry points`);
      assert.deepEqual(calls.pkcs11, DECRYPT, `${what}: PKCS#11 calls`);
    }
  });

  it('SIMPLEBLOB import (AES-256 wrapped by node:crypto): one CardRSADecrypt; on the token C_DecryptInit + C_Decrypt', async () => {
    const aes = randomBytes(32);
    const blob = simpleBlobOf(CALG_AES_256, publicEncrypt({ key: publicKeyOf(exchange), padding: constants.RSA_PKCS1_PADDING }, aes));
    const data = Buffer.from('data under the session key');
    const importOnce = async (): Promise<HCRYPTKEY> => CryptImportKey(prov, blob, exchange, 0);
    const imported = await importOnce();
    const ciphertext = await CryptEncrypt(imported, null, true, 0, data);
    await CryptDestroyKey(imported);
    const calls = await warmIo(card, module, N, async () => CryptDestroyKey(await importOnce()));
    assert.deepEqual(calls.card, { CardRSADecrypt: N }, 'card entry points');
    assert.deepEqual(calls.pkcs11, DECRYPT, 'PKCS#11 calls');
    // The unwrapped key is the one node:crypto wrapped: it decrypts what a key made from those bytes encrypted.
    const again = await importOnce();
    assert.deepEqual(await CryptDecrypt(again, null, true, 0, ciphertext), data);
    const cipher = createCipheriv('aes-256-cbc', aes, Buffer.alloc(16));
    assert.deepEqual(ciphertext, Buffer.concat([cipher.update(data), cipher.final()]));
    await CryptDestroyKey(again);
  });

  it('counted at the C level by pkcs11-spy (child process): a warm CryptSignHash is C_SignInit + C_Sign, a warm CryptDecrypt C_DecryptInit + C_Decrypt', function () {
    if (!spyAvailable()) this.skip();
    // A child process with its own smart card service over pkcs11-spy in front of SoftHSM2 (this suite's
    // token only, SOFTHSM2_CONF inherited), opening the container this suite made as an application
    // does: CryptAcquireContext, PP_KEYEXCHANGE_PIN, CryptGetUserKey. One warm-up operation, then N
    // operations between two marks of the spy log.
    const out = runUnderSpy(`
      ${SPY_SERVICE_SETUP}
      const { CryptAcquireContext, CryptReleaseContext } = await import(${JSON.stringify(distUrl('csp-legacy/context.js'))});
      const { CryptSetProvParam } = await import(${JSON.stringify(distUrl('csp-legacy/prov-params.js'))});
      const { CryptGetUserKey } = await import(${JSON.stringify(distUrl('csp-legacy/keys.js'))});
      const { CryptCreateHash, CryptSetHashParam, CryptSignHash, CryptDestroyHash } = await import(${JSON.stringify(distUrl('csp-legacy/hashes.js'))});
      const { CryptEncrypt, CryptDecrypt } = await import(${JSON.stringify(distUrl('csp-legacy/encryption.js'))});
      const { createHash } = await import('node:crypto');
      const { SPY_MODULE, SPY_LABEL, SPY_PIN, SPY_CONTAINER, SPY_N } = process.env;
      const MS_SCARD_PROV = 'Microsoft Base Smart Card Crypto Provider', PROV_RSA_FULL = 1, PP_KEYEXCHANGE_PIN = 32;
      const AT_KEYEXCHANGE = 1, CALG_SHA_256 = 0x800c, HP_HASHVAL = 2;
      const prov = await CryptAcquireContext(SPY_CONTAINER, MS_SCARD_PROV, PROV_RSA_FULL, 0);
      await CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, Buffer.from(SPY_PIN + '\\0', 'ascii'));
      const key = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
      const digest = createHash('sha256').update('spy').digest();
      const sign = async () => {
        const hash = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptSetHashParam(hash, HP_HASHVAL, digest);
        await CryptSignHash(hash, AT_KEYEXCHANGE);
        await CryptDestroyHash(hash);
      };
      const ciphertext = await CryptEncrypt(key, null, true, 0, Buffer.from('p11-ksp spy'));
      const decrypt = () => CryptDecrypt(key, null, true, 0, ciphertext);
      const window = async (op) => {
        await op();
        const from = mark();
        for (let i = 0; i < Number(SPY_N); i++) await op();
        return callsSince(from);
      };
      const signCalls = await window(sign);
      const decryptCalls = await window(decrypt);
      await CryptReleaseContext(prov);
      await setDefaultSmartCardService(null);
      console.log(JSON.stringify({ sign: signCalls, decrypt: decryptCalls }));
    `, SOFTHSM2_MODULE, { SPY_LABEL: token.label, SPY_PIN: token.pin, SPY_CONTAINER: name, SPY_N: String(N) }) as { sign: Record<string, number>; decrypt: Record<string, number> };
    assert.deepEqual(out.sign, SIGN, 'token calls of N warm CryptSignHash: C_SignInit + C_Sign each, nothing else');
    assert.deepEqual(out.decrypt, DECRYPT, 'token calls of N warm CryptDecrypt: C_DecryptInit + C_Decrypt each, nothing else');
  });

  it('a CRYPT_MACHINE_KEYSET context is never warm: it reads PIN_INFO from the card (no cached data), and still signs without a prompt', async () => {
    const machine = await fx.acquire(name, CRYPT_MACHINE_KEYSET | CRYPT_SILENT);
    const calls = await warmIo(card, module, N, () => signWith(machine, AT_KEYEXCHANGE));
    assert.equal(calls.card.CardSignData, N);
    assert.ok((calls.card.CardGetProperty ?? 0) >= N, `PIN_INFO read from the card for every signature (${JSON.stringify(calls.card)})`);
    await CryptReleaseContext(machine);
  });

  it('the card logged out behind the front end: the cached PIN authenticates it again, no UI, and the next signature is warm again', async () => {
    const ui = useScriptedUi(); // holds no PIN: asking it fails the test
    await signWith(prov, AT_KEYEXCHANGE);
    // Another library on the same module logs the application out; the card object is not told.
    await card.module.CardDeauthenticateEx(1 << ROLE_USER);
    const counted = await countOnce(() => signWith(prov, AT_KEYEXCHANGE));
    assert.equal(counted.CardSignData, 2, 'refused once, then signed');
    assert.equal(counted.CardAuthenticateEx, 1, 'the cached PIN was presented');
    assert.equal(ui.pinRequests.length, 0, 'the UI was not asked');
    const again = await countOnce(() => signWith(prov, AT_KEYEXCHANGE));
    assert.deepEqual(again, { CardSignData: 1 }, 'warm again');
  });

  it('logged out and the PIN no longer cached: a silent context fails with NTE_SILENT_CONTEXT, an interactive one asks the UI once', async () => {
    const silent = await fx.acquire(name, CRYPT_SILENT);
    const ciphertext = await CryptEncrypt(exchange, null, true, 0, plain);
    await signWith(prov, AT_KEYEXCHANGE);
    await card.module.CardDeauthenticateEx(1 << ROLE_USER);
    fx.service.pins.drop(pinCacheCard(card));
    const ui = useScriptedUi();
    await expectCryptError(() => signWith(silent, AT_KEYEXCHANGE), 'NTE_SILENT_CONTEXT', 'silent CryptSignHash');
    const silentKey = await CryptGetUserKey(silent, AT_KEYEXCHANGE); // public: no PIN
    await expectCryptError(() => CryptDecrypt(silentKey, null, true, 0, ciphertext), 'NTE_SILENT_CONTEXT', 'silent CryptDecrypt');
    assert.equal(ui.pinRequests.length, 0, 'a silent context never asks');
    ui.pins = [token.pin];
    assert.deepEqual(await CryptDecrypt(exchange, null, true, 0, ciphertext), plain);
    assert.equal(ui.pinRequests.length, 1, 'the interactive context asked once');
    assert.equal(fx.service.pins.has(pinCacheCard(card), ROLE_USER), true, 'and the PIN is cached again');
    await verifyWith(prov, exchange, await signWith(silent, AT_KEYEXCHANGE));
    assert.equal(ui.pinRequests.length, 1, 'the silent context is warm again');
  });

  it('a removed card is never warm: SCARD_W_REMOVED_CARD, and its PINs are gone', async () => {
    await signWith(prov, AT_KEYEXCHANGE);
    await fx.remove();
    await expectCryptError(() => signWith(prov, AT_KEYEXCHANGE), 'SCARD_W_REMOVED_CARD');
    assert.equal(card.knownAuthenticatedFor(ROLE_USER), false);
    assert.equal(fx.service.pins.has(pinCacheCard(card), ROLE_USER), false);
  });

});
