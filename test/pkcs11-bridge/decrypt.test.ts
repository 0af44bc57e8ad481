import assert from 'node:assert/strict';
import crypto, { type KeyObject, randomBytes } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import type { CardRsaDecryptInfo } from '../../minidriver/structures.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  assertNoSessionCheckedOut, expectCryptError, graphenePublicKey, makeToken, newDriver, openContext, pin, readCmap, reversed,
} from './helpers.js';

const token = makeToken('br-decrypt');

const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const CARD_PADDING_NONE = 1;
const CARD_PADDING_PKCS1 = 2;
const CARD_PADDING_PSS = 4;
const CARD_PADDING_OAEP = 8;
const KX = 0;
const SIG = 1;

describe('pkcs11-bridge: CardRSADecrypt', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let publicKey: KeyObject;

  const decrypt = (info: Partial<CardRsaDecryptInfo> & { pbData: Buffer }) =>
    ctx.CardRSADecrypt({ dwVersion: 2, bContainerIndex: KX, dwKeySpec: AT_KEYEXCHANGE, ...info });

  before(async function () {
    this.timeout(60_000);
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(KX, 1, AT_KEYEXCHANGE, 2048);
    await ctx.CardCreateContainer(SIG, 1, AT_SIGNATURE, 2048);
    publicKey = graphenePublicKey(token.label, (await readCmap(ctx))[KX]!.name, 'RSA');
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
  });

  beforeEach(() => ctx.CardAuthenticatePin('user', pin(token.pin)));

  describe('v2: the card removes the padding', () => {
    it('OAEP SHA-256 with a label (node:crypto RSA_PKCS1_OAEP_PADDING, oaepHash sha256, oaepLabel)', async () => {
      const secret = randomBytes(32);
      const label = Buffer.from('p11-ksp test label');
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, secret);
      const plain = await decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA256', pbLabel: label } });
      assert.deepEqual(plain, secret);
    });

    it('OAEP SHA-256 without a label', async () => {
      const secret = randomBytes(32);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
      assert.deepEqual(await decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA256' } }), secret);
    });

    for (const [alg, node] of [['SHA1', 'sha1'], ['SHA384', 'sha384'], ['SHA512', 'sha512']] as const) {
      it(`OAEP ${alg} with a label`, async () => {
        const secret = randomBytes(24);
        const label = Buffer.from(`label for ${alg}`);
        const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: node, oaepLabel: label }, secret);
        assert.deepEqual(await decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: alg, pbLabel: label } }), secret);
      });
    }

    it('OAEP with the wrong label or the wrong hash is refused (SCARD_E_INVALID_PARAMETER), never garbage', async () => {
      const secret = randomBytes(32);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('right') }, secret);
      await expectCryptError(() => decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA256', pbLabel: Buffer.from('wrong') } }), 'SCARD_E_INVALID_PARAMETER', 'wrong label');
      await expectCryptError(() => decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA256' } }), 'SCARD_E_INVALID_PARAMETER', 'no label');
      await expectCryptError(() => decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA384', pbLabel: Buffer.from('right') } }), 'SCARD_E_INVALID_PARAMETER', 'wrong hash');
      await expectCryptError(() => decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'MD5' } }), 'SCARD_E_INVALID_PARAMETER', 'MD5 is no OAEP hash');
      assertNoSessionCheckedOut(ctx);
    });

    it('OAEP SHA-1: a ciphertext made without a label does not decrypt when a label is asked for', async () => {
      const secret = randomBytes(32);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, secret);
      await expectCryptError(() => decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA1', pbLabel: Buffer.from('a label') } }), 'SCARD_E_INVALID_PARAMETER');
    });

    it('OAEP SHA-1 without a label', async () => {
      const secret = randomBytes(32);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, secret);
      assert.deepEqual(await decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA1' } }), secret);
    });

    it('PKCS#1 v1.5 (RSA_PKCS1_PADDING)', async () => {
      const secret = randomBytes(48);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
      assert.deepEqual(await decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_PKCS1 }), secret);
    });

    it('CARD_PADDING_NONE returns the raw block little-endian (RSA_NO_PADDING)', async () => {
      const block = Buffer.concat([Buffer.from([0x00]), randomBytes(255)]);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, block);
      const raw = await decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_NONE });
      assert.equal(raw.length, 256);
      assert.deepEqual(raw, reversed(block));
    });
  });

  describe('v1: the raw block, little-endian, for the CSP to unpad', () => {
    it('returns the PKCS#1 type-2 block of a node:crypto RSA_PKCS1_PADDING ciphertext', async () => {
      const secret = randomBytes(20);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
      const raw = await decrypt({ dwVersion: 1, pbData: reversed(ciphertext) });
      assert.equal(raw.length, 256);
      const block = reversed(raw);
      assert.equal(block[0], 0x00);
      assert.equal(block[1], 0x02, 'PKCS#1 encryption block');
      const separator = block.indexOf(0x00, 2);
      assert.ok(separator >= 10, 'at least 8 bytes of non-zero padding');
      assert.deepEqual(block.subarray(separator + 1), secret);
    });

    it('ignores padding fields in a v1 structure (they are not part of it)', async () => {
      const block = Buffer.concat([Buffer.from([0x00]), randomBytes(255)]);
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, block);
      assert.deepEqual(await decrypt({ dwVersion: 1, pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_PKCS1 }), reversed(block));
    });
  });

  describe('errors', () => {
    it('a ciphertext shorter than the modulus is SCARD_E_INSUFFICIENT_BUFFER', async () => {
      await expectCryptError(() => decrypt({ pbData: randomBytes(255), dwPaddingType: CARD_PADDING_PKCS1 }), 'SCARD_E_INSUFFICIENT_BUFFER');
      await expectCryptError(() => decrypt({ dwVersion: 1, pbData: randomBytes(128) }), 'SCARD_E_INSUFFICIENT_BUFFER');
    });

    it('a ciphertext longer than the modulus is SCARD_E_INVALID_PARAMETER', async () => {
      await expectCryptError(() => decrypt({ pbData: randomBytes(257), dwPaddingType: CARD_PADDING_PKCS1 }), 'SCARD_E_INVALID_PARAMETER');
    });

    it('AT_SIGNATURE is SCARD_E_INVALID_PARAMETER (signature keys never decrypt)', async () => {
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, randomBytes(8));
      await expectCryptError(() => decrypt({ bContainerIndex: SIG, dwKeySpec: AT_SIGNATURE, pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_PKCS1 }), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => decrypt({ bContainerIndex: KX, dwKeySpec: AT_SIGNATURE, pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_PKCS1 }), 'SCARD_E_INVALID_PARAMETER');
    });

    it('PSS is not a decryption padding: SCARD_E_INVALID_PARAMETER', async () => {
      await expectCryptError(() => decrypt({ pbData: randomBytes(256), dwPaddingType: CARD_PADDING_PSS }), 'SCARD_E_INVALID_PARAMETER');
    });

    it('an empty container is SCARD_E_NO_KEY_CONTAINER', async () => {
      await expectCryptError(() => decrypt({ bContainerIndex: 9, pbData: randomBytes(256), dwPaddingType: CARD_PADDING_PKCS1 }), 'SCARD_E_NO_KEY_CONTAINER');
    });

    it('without the PIN: SCARD_W_SECURITY_VIOLATION', async () => {
      const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, randomBytes(8));
      await ctx.CardDeauthenticate('user');
      await expectCryptError(() => decrypt({ pbData: reversed(ciphertext), dwPaddingType: CARD_PADDING_PKCS1 }), 'SCARD_W_SECURITY_VIOLATION');
      assertNoSessionCheckedOut(ctx);
    });
  });
});
