import assert from 'node:assert/strict';
import crypto, { randomBytes } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  CALG_RSA_KEYX, CALG_RSA_SIGN, capiPrivateKeyBlob, CKO, ECC_MAGIC, eccPrivateBlob, eccPublicBlob, grapheneObjects, makeToken,
  newDriver, openContext, parseEccPublicBlob, parseRsaPublicBlob, pin, readCmap, reversed, verifyEcdsa, openContextPerSuite
} from './helpers.js';

const token = makeToken('br-import');

const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const KEY_IMPORT = 2;

describe('pkcs11-bridge: CARD_CREATE_CONTAINER_KEY_IMPORT', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  const privateKeyOf = async (index: number) => {
    const name = (await readCmap(ctx))[index]!.name;
    const priv = grapheneObjects(token.label, token.pin).filter((o) => o.cls === CKO.PRIVATE_KEY && o.label === name);
    assert.equal(priv.length, 1, `one private key labelled ${name}`);
    return priv[0]!;
  };

  openContextPerSuite(token.label, (d, c) => { driver = d; ctx = c; }, token.pin);

  it('a PRIVATEKEYBLOB of a node:crypto RSA-2048 key becomes an AT_KEYEXCHANGE key that signs and decrypts for it', async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    await ctx.CardCreateContainer(0, KEY_IMPORT, AT_KEYEXCHANGE, 2048, capiPrivateKeyBlob(privateKey, CALG_RSA_KEYX));

    const info = await ctx.CardGetContainerInfo(0);
    const blob = parseRsaPublicBlob(info.pbKeyExPublicKey!);
    assert.equal(blob.modulus.toString('base64url'), publicKey.export({ format: 'jwk' }).n, 'the container holds that modulus');
    assert.equal(blob.aiKeyAlg, CALG_RSA_KEYX);
    assert.equal((await readCmap(ctx))[0]!.keyxBits, 2048);

    const message = randomBytes(100);
    const signature = await ctx.CardSignData({
      dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: 0x800c,
      pbData: crypto.createHash('sha256').update(message).digest(),
    });
    assert.ok(crypto.verify('sha256', message, publicKey, reversed(signature)), 'verifies with the imported key\'s public key');

    const secret = randomBytes(32);
    const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
    const plain = await ctx.CardRSADecrypt({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, pbData: reversed(ciphertext), dwPaddingType: 2 });
    assert.deepEqual(plain, secret);

    const priv = await privateKeyOf(0);
    assert.equal(priv.sensitive, true, 'imported private key is CKA_SENSITIVE');
    assert.equal(priv.extractable, false, 'imported private key is not extractable');
    assert.equal(priv.private, true);
    assert.equal(priv.token, true);
  });

  it('a PRIVATEKEYBLOB (CALG_RSA_SIGN) of a 1024-bit key becomes an AT_SIGNATURE key', async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    await ctx.CardCreateContainer(1, KEY_IMPORT, AT_SIGNATURE, 1024, capiPrivateKeyBlob(privateKey, CALG_RSA_SIGN));
    const info = await ctx.CardGetContainerInfo(1);
    assert.equal(info.pbKeyExPublicKey, null);
    assert.equal(parseRsaPublicBlob(info.pbSigPublicKey!).aiKeyAlg, CALG_RSA_SIGN);
    const message = randomBytes(10);
    const signature = await ctx.CardSignData({
      dwVersion: 2, bContainerIndex: 1, dwKeySpec: AT_SIGNATURE, dwSigningFlags: 0, aiHashAlg: 0x8004,
      pbData: crypto.createHash('sha1').update(message).digest(),
    });
    assert.ok(crypto.verify('sha1', message, publicKey, reversed(signature)));
    assert.equal((await readCmap(ctx))[1]!.sigBits, 1024);
  });

  for (const bits of [256, 384] as const) {
    it(`a BCRYPT ECDSA P-${bits} private blob becomes an AT_ECDSA key whose signatures verify with the node:crypto key`, async () => {
      const index = bits === 256 ? 2 : 3;
      const keySpec = bits === 256 ? 3 : 4;
      const hash = bits === 256 ? 'sha256' : 'sha384';
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: bits === 256 ? 'P-256' : 'P-384' });
      await ctx.CardCreateContainer(index, KEY_IMPORT, keySpec, bits, eccPrivateBlob(privateKey, ECC_MAGIC.ECDSA[bits].priv, bits));
      const info = await ctx.CardGetContainerInfo(index);
      const blob = parseEccPublicBlob(info.pbSigPublicKey!);
      const jwk = publicKey.export({ format: 'jwk' });
      assert.equal(blob.magic, ECC_MAGIC.ECDSA[bits].pub);
      assert.equal(blob.x.toString('base64url'), jwk.x);
      assert.equal(blob.y.toString('base64url'), jwk.y);
      const message = randomBytes(50);
      const rs = await ctx.CardSignData({
        dwVersion: 2, bContainerIndex: index, dwKeySpec: keySpec, dwSigningFlags: 0, aiHashAlg: 0,
        pbData: crypto.createHash(hash).update(message).digest(),
      });
      assert.ok(verifyEcdsa(publicKey, hash, message, rs));
      const priv = await privateKeyOf(index);
      assert.equal(priv.sensitive, true);
      assert.equal(priv.extractable, false);
    });
  }

  it('a BCRYPT ECDH P-256 private blob becomes an AT_ECDHE key that agrees on the secret node:crypto computes', async () => {
    const mine = crypto.createECDH('prime256v1');
    mine.generateKeys();
    const imported = crypto.createPrivateKey({
      key: { kty: 'EC', crv: 'P-256', d: mine.getPrivateKey().toString('base64url'), x: mine.getPublicKey().subarray(1, 33).toString('base64url'), y: mine.getPublicKey().subarray(33).toString('base64url') },
      format: 'jwk',
    });
    await ctx.CardCreateContainer(4, KEY_IMPORT, 6, 256, eccPrivateBlob(imported, ECC_MAGIC.ECDH[256].priv, 256));
    const peer = crypto.createECDH('prime256v1');
    peer.generateKeys();
    const index = await ctx.CardConstructDHAgreement({
      dwVersion: 2, bContainerIndex: 4, dwFlags: 0,
      pbPublicKey: eccPublicBlob(ECC_MAGIC.ECDH[256].pub, 256, peer.getPublicKey().subarray(1, 33), peer.getPublicKey().subarray(33)),
    });
    const z = await ctx.CardDeriveKey({ dwVersion: 2, dwFlags: 0, pwszKDF: 'TRUNCATE', bSecretAgreementIndex: index, pParameterList: null });
    assert.deepEqual(z, reversed(peer.computeSecret(mine.getPublicKey())));
    await ctx.CardDestroyDHAgreement(index);
  });
});
