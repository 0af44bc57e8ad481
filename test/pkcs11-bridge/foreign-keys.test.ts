import assert from 'node:assert/strict';
import crypto, { randomBytes } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { generateKeyPair } from '../rigs/index.js';
import {
  CALG_RSA_KEYX, ECC_MAGIC, graphenePublicKey, makeToken, newDriver, openContext, parseEccPublicBlob, parseRsaPublicBlob, pin,
  readCmap, reversed, SOFTHSM2_MODULE, verifyEcdsa,
} from './helpers.js';

const token = makeToken('br-foreign');

describe('pkcs11-bridge: key pairs made by another tool (pkcs11-tool, in another process)', () => {
  let driver: Pkcs11Minidriver;
  let early: CardModule;

  before(async () => {
    driver = newDriver();
    // A context that exists before the keys do: the keys must still appear for new contexts.
    early = await openContext(driver, token.label);
    const tool = { modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin };
    generateKeyPair(tool, { keyType: 'rsa:2048', id: 'a1', label: 'tool-rsa' });
    generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'b2', label: 'tool-ec' });
  });

  after(async () => {
    await early.CardDeleteContext();
    await driver.close();
  });

  const findByName = async (ctx: CardModule, name: string) => {
    const records = await readCmap(ctx);
    const index = records.findIndex((r) => r?.name === name);
    assert.ok(index >= 0, `a container named "${name}" in ${JSON.stringify(records.map((r) => r?.name ?? null))}`);
    return { index, record: records[index]! };
  };

  it('each key pair is a container named by its label, in a new context of the same driver', async () => {
    const ctx = await openContext(driver, token.label);
    const rsa = await findByName(ctx, 'tool-rsa');
    const ec = await findByName(ctx, 'tool-ec');
    assert.notEqual(rsa.index, ec.index);
    assert.equal(rsa.record.keyxBits, 2048, 'an RSA key that decrypts is the key-exchange key');
    assert.equal(rsa.record.sigBits, 0);
    assert.equal(ec.record.sigBits, 256, 'an EC key that signs is the ECDSA key');
    assert.equal(ec.record.keyxBits, 0);
    assert.equal(rsa.record.flags & 1, 1);
    assert.equal(ec.record.flags & 1, 1);
    await ctx.CardDeleteContext();
  });

  it('a fresh driver sees the same containers at the same indexes', async () => {
    const ctx = await openContext(driver, token.label);
    const rsa = await findByName(ctx, 'tool-rsa');
    const other = newDriver();
    try {
      const ctx2 = await openContext(other, token.label);
      assert.equal((await findByName(ctx2, 'tool-rsa')).index, rsa.index, 'the cmapfile on the token fixes the index');
    } finally {
      await other.close();
    }
  });

  it('CardGetContainerInfo publishes the keys graphene reads', async () => {
    const ctx = await openContext(driver, token.label);
    const rsa = await findByName(ctx, 'tool-rsa');
    const ec = await findByName(ctx, 'tool-ec');
    const rsaBlob = parseRsaPublicBlob((await ctx.CardGetContainerInfo(rsa.index)).pbKeyExPublicKey!);
    assert.equal(rsaBlob.aiKeyAlg, CALG_RSA_KEYX);
    const rsaJwk = graphenePublicKey(token.label, 'tool-rsa', 'RSA').export({ format: 'jwk' });
    assert.equal(rsaBlob.modulus.toString('base64url'), rsaJwk.n);
    const ecBlob = parseEccPublicBlob((await ctx.CardGetContainerInfo(ec.index)).pbSigPublicKey!);
    assert.equal(ecBlob.magic, ECC_MAGIC.ECDSA[256].pub);
    const ecJwk = graphenePublicKey(token.label, 'tool-ec', 'EC', 256).export({ format: 'jwk' });
    assert.equal(ecBlob.x.toString('base64url'), ecJwk.x);
    assert.equal(ecBlob.y.toString('base64url'), ecJwk.y);
  });

  it('their signatures verify with the public keys graphene reads', async () => {
    const ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    const rsa = await findByName(ctx, 'tool-rsa');
    const ec = await findByName(ctx, 'tool-ec');
    const message = randomBytes(77);
    const rsaSig = await ctx.CardSignData({
      dwVersion: 2, bContainerIndex: rsa.index, dwKeySpec: 1, dwSigningFlags: 0, aiHashAlg: 0x800c,
      pbData: crypto.createHash('sha256').update(message).digest(),
    });
    assert.ok(crypto.verify('sha256', message, graphenePublicKey(token.label, 'tool-rsa', 'RSA'), reversed(rsaSig)));
    const ecSig = await ctx.CardSignData({
      dwVersion: 2, bContainerIndex: ec.index, dwKeySpec: 3, dwSigningFlags: 0, aiHashAlg: 0,
      pbData: crypto.createHash('sha256').update(message).digest(),
    });
    assert.ok(verifyEcdsa(graphenePublicKey(token.label, 'tool-ec', 'EC', 256), 'sha256', message, ecSig));
    await ctx.CardDeauthenticate('user');
  });

  it('the context opened before the keys existed finds them too', async () => {
    const rsa = await findByName(early, 'tool-rsa');
    const info = await early.CardGetContainerInfo(rsa.index);
    assert.ok(info.pbKeyExPublicKey);
  });

  describe('labels that cannot be container names', () => {
    const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const longLabel = 'a-label-far-too-long-to-be-a-windows-container-name';

    before(() => {
      const tool = { modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin };
      generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'c1', label: longLabel });
      generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'c2', label: 'tool-ec' }); // a second key with a used label
      generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'c3', label: 'back\\slash' });
    });

    it('get a derived GUID name (≤ 39 chars), distinct from every other container, stable across drivers', async () => {
      const ctx = await openContext(driver, token.label);
      const records = (await readCmap(ctx)).filter((r) => r !== null);
      const names = records.map((r) => r!.name);
      assert.equal(new Set(names).size, names.length, `container names are unique: ${names}`);
      assert.ok(!names.includes(longLabel));
      assert.ok(!names.some((n) => n.includes('\\')), 'no backslash in a container name');
      assert.ok(names.every((n) => n.length > 0 && n.length <= 39));
      assert.equal(names.filter((n) => n === 'tool-ec').length, 1, 'the first tool-ec keeps its name');
      const derived = names.filter((n) => GUID.test(n));
      assert.ok(derived.length >= 3, `three derived names: ${names}`);
      const other = newDriver();
      try {
        const again = (await readCmap(await openContext(other, token.label))).map((r) => r?.name ?? null);
        assert.deepEqual(again, (await readCmap(ctx)).map((r) => r?.name ?? null), 'the same map from a fresh driver');
      } finally {
        await other.close();
      }
    });

    it('each of those keys is its own ECDSA container that signs', async () => {
      const ctx = await openContext(driver, token.label);
      await ctx.CardAuthenticatePin('user', pin(token.pin));
      const records = await readCmap(ctx);
      const ecIndexes = records.flatMap((r, i) => (r && r.sigBits === 256 ? [i] : []));
      assert.equal(ecIndexes.length, 4, 'tool-ec plus three more EC containers');
      for (const i of ecIndexes) {
        const info = await ctx.CardGetContainerInfo(i);
        const blob = parseEccPublicBlob(info.pbSigPublicKey!);
        const message = randomBytes(20);
        const rs = await ctx.CardSignData({ dwVersion: 2, bContainerIndex: i, dwKeySpec: 3, dwSigningFlags: 0, aiHashAlg: 0, pbData: crypto.createHash('sha256').update(message).digest() });
        assert.ok(verifyEcdsa(blob.key, 'sha256', message, rs), `container ${i} signs with the key it publishes`);
      }
      await ctx.CardDeauthenticate('user');
    });
  });
});
