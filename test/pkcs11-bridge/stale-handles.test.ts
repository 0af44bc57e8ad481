import assert from 'node:assert/strict';
import crypto, { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { deleteKeyPair, findSlotByLabel, generateKeyPair, loadModule } from '../rigs/index.js';
import {
  assertNoSessionCheckedOut, CKO, digest, expectCryptError, grapheneDestroy, grapheneObjects, graphenePublicKey, makeToken, newDriver,
  openContext, parseCardCf, pin, readCmap, SOFTHSM2_MODULE, verifyEcdsa, verifyRsaPkcs1,
} from './helpers.js';

const token = makeToken('br-stale');

const RSA_A = 0; // deleted by another driver
const EC_B = 1; // keys destroyed behind everybody's back (graphene)
const RSA_C = 2; // stays
const EC_D = 4; // used after another driver logs the process out

describe('pkcs11-bridge: stale handles and state changed behind a context\'s back', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let other: Pkcs11Minidriver;
  let ctx2: CardModule;

  const signRsa = (c: CardModule, index: number, message: Buffer) => c.CardSignData({
    dwVersion: 2, bContainerIndex: index, dwKeySpec: 1, dwSigningFlags: 0, aiHashAlg: 0x800c, pbData: digest('sha256', message),
  });
  const signEc = (c: CardModule, index: number, message: Buffer) => c.CardSignData({
    dwVersion: 2, bContainerIndex: index, dwKeySpec: 3, dwSigningFlags: 0, aiHashAlg: 0, pbData: digest('sha256', message),
  });

  before(async function () {
    this.timeout(60_000);
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(RSA_A, 1, 1, 1024);
    await ctx.CardCreateContainer(EC_B, 1, 3, 256);
    await ctx.CardCreateContainer(RSA_C, 1, 1, 1024);
    await ctx.CardCreateContainer(EC_D, 1, 3, 256);
    // Every key is used once, so its private handle is cached by the context.
    for (const i of [RSA_A, RSA_C]) await signRsa(ctx, i, randomBytes(8));
    for (const i of [EC_B, EC_D]) await signEc(ctx, i, randomBytes(8));
    other = newDriver();
    ctx2 = await openContext(other, token.label);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
    await other.close();
  });

  it('a container another driver deleted: CardSignData is SCARD_E_NO_KEY_CONTAINER, not a crash', async () => {
    await ctx2.CardAuthenticatePin('user', pin(token.pin));
    await ctx2.CardDeleteContainer(RSA_A);
    await expectCryptError(() => signRsa(ctx, RSA_A, randomBytes(8)), 'SCARD_E_NO_KEY_CONTAINER');
    assertNoSessionCheckedOut(ctx);
    const records = await readCmap(ctx);
    assert.equal(records[RSA_A], null, 'the cmapfile read afterwards has the record zeroed');
  });

  it('a container another driver deleted: CardGetContainerInfo is SCARD_E_NO_KEY_CONTAINER, not the old key', async () => {
    await ctx2.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(5, 1, 3, 256);
    assert.ok((await ctx.CardGetContainerInfo(5)).pbSigPublicKey, 'first context knows container 5');
    await ctx2.CardDeleteContainer(5);
    await expectCryptError(() => ctx.CardGetContainerInfo(5), 'SCARD_E_NO_KEY_CONTAINER');
  });

  it('keys destroyed behind every driver\'s back (graphene): SCARD_E_NO_KEY_CONTAINER; the cmapfile reconciles their size to 0', async () => {
    const name = (await readCmap(ctx))[EC_B]!.name;
    assert.equal((await readCmap(ctx))[EC_B]!.sigBits, 256);
    const cfBefore = parseCardCf(await ctx.CardReadFile(null, 'cardcf'));
    assert.equal(grapheneDestroy(token.label, token.pin, (o) => (o.cls === CKO.PRIVATE_KEY || o.cls === CKO.PUBLIC_KEY) && o.label === name), 2);
    await expectCryptError(() => signEc(ctx, EC_B, randomBytes(8)), 'SCARD_E_NO_KEY_CONTAINER');
    assertNoSessionCheckedOut(ctx);
    const record = (await readCmap(ctx))[EC_B];
    assert.ok(record === null || (record.sigBits === 0 && record.keyxBits === 0), `the cmapfile no longer lists the key: ${JSON.stringify(record && { ...record, raw: undefined })}`);
    const cfAfter = parseCardCf(await ctx.CardReadFile(null, 'cardcf'));
    assert.ok(cfAfter.containers !== cfBefore.containers, 'the containers freshness counter in cardcf moved, so caches drop the container');
    assert.equal(grapheneObjects(token.label, token.pin).filter((o) => o.label === name).length, 0);
  });

  it('the other containers keep working after all that', async () => {
    const names = (await readCmap(ctx)).map((r) => r?.name ?? '');
    const m = randomBytes(30);
    assert.ok(verifyRsaPkcs1(graphenePublicKey(token.label, names[RSA_C]!, 'RSA'), 'sha256', m, await signRsa(ctx, RSA_C, m)));
    assert.ok(verifyEcdsa(graphenePublicKey(token.label, names[EC_D]!, 'EC', 256), 'sha256', m, await signEc(ctx, EC_D, m)));
  });

  it('a container created by one driver is seen by a driver opened earlier and by a fresh driver', async () => {
    await ctx2.CardAuthenticatePin('user', pin(token.pin));
    await ctx2.CardCreateContainer(3, 1, 4, 384);
    const info2 = await ctx2.CardGetContainerInfo(3);
    assert.deepEqual(await ctx.CardGetContainerInfo(3), info2, 'the driver opened earlier re-reads the token');
    const name = (await readCmap(ctx2))[3]!.name;
    assert.equal((await readCmap(ctx))[3]!.name, name);
    const fresh = newDriver();
    try {
      const ctx3 = await openContext(fresh, token.label);
      assert.deepEqual(await ctx3.CardGetContainerInfo(3), info2);
      assert.equal((await readCmap(ctx3))[3]!.name, name);
      assert.equal((await readCmap(ctx3))[3]!.sigBits, 384);
    } finally {
      await fresh.close();
    }
    const m = randomBytes(12);
    const rs = await ctx.CardSignData({ dwVersion: 2, bContainerIndex: 3, dwKeySpec: 4, dwSigningFlags: 0, aiHashAlg: 0, pbData: digest('sha384', m) });
    assert.ok(crypto.verify('sha384', m, { key: graphenePublicKey(token.label, name, 'EC', 384), dsaEncoding: 'ieee-p1363' }, rs), 'and signs with it');
  });

  it('when another driver logs the process out, signing is SCARD_W_SECURITY_VIOLATION (not NO_KEY_CONTAINER) until re-authentication', async () => {
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await signEc(ctx, EC_D, randomBytes(8)); // private handle cached
    await ctx2.CardAuthenticatePin('user', pin(token.pin));
    await ctx2.CardDeauthenticate('user'); // C_Logout: the whole process, every private handle
    await expectCryptError(() => signEc(ctx, EC_D, randomBytes(8)), 'SCARD_W_SECURITY_VIOLATION');
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    const m = randomBytes(8);
    const name = (await readCmap(ctx))[EC_D]!.name;
    assert.ok(verifyEcdsa(graphenePublicKey(token.label, name, 'EC', 256), 'sha256', m, await signEc(ctx, EC_D, m)), 'signs after re-authentication');
  });

  it('a key pair deleted by pkcs11-tool in another process: SCARD_E_NO_KEY_CONTAINER, and it leaves the cmapfile', async () => {
    const tool = { modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin };
    generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'dd01', label: 'tool-doomed' });
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    const index = (await readCmap(ctx)).findIndex((r) => r?.name === 'tool-doomed');
    assert.ok(index >= 0, 'the tool key is a container');
    const m = randomBytes(8);
    assert.ok(verifyEcdsa(graphenePublicKey(token.label, 'tool-doomed', 'EC', 256), 'sha256', m, await signEc(ctx, index, m)), 'signs (private handle cached)');
    deleteKeyPair(tool, 'dd01');
    await expectCryptError(() => signEc(ctx, index, randomBytes(8)), 'SCARD_E_NO_KEY_CONTAINER');
    assertNoSessionCheckedOut(ctx);
    const info = await ctx.CardGetContainerInfo(index).catch((err: unknown) => err);
    assert.ok(info instanceof Error || (info as { pbSigPublicKey: unknown }).pbSigPublicKey === null, 'no public key published for it any more');
    const record = (await readCmap(ctx))[index];
    assert.ok(record === null || record.sigBits === 0, 'the cmapfile no longer lists its size');
  });

  it('another library in the process logs the application out: SCARD_W_SECURITY_VIOLATION, then re-authentication works', async () => {
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await signEc(ctx, EC_D, randomBytes(8)); // private handle cached
    const { pkcs11 } = loadModule(SOFTHSM2_MODULE); // the same library instance, another user of it
    const session = pkcs11.C_OpenSession(findSlotByLabel(pkcs11, token.label), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      pkcs11.C_Logout(session);
    } finally {
      pkcs11.C_CloseSession(session);
    }
    await expectCryptError(() => signEc(ctx, EC_D, randomBytes(8)), 'SCARD_W_SECURITY_VIOLATION');
    assertNoSessionCheckedOut(ctx);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    const m = randomBytes(8);
    const name = (await readCmap(ctx))[EC_D]!.name;
    assert.ok(verifyEcdsa(graphenePublicKey(token.label, name, 'EC', 256), 'sha256', m, await signEc(ctx, EC_D, m)));
  });
});
