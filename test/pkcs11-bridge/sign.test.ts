import assert from 'node:assert/strict';
import crypto, { type KeyObject, randomBytes } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import type { CardSigningInfo } from '../../minidriver/structures.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  assertNoSessionCheckedOut, CURVE, type CurveBits, digest, expectCryptError, graphenePublicKey, makeToken, newDriver, openContext,
  pin, readCmap, reversed, rsaRecover, verifyEcdsa, verifyRsaPkcs1,
} from './helpers.js';

const token = makeToken('br-sign');

const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const CARD_PADDING_INFO_PRESENT = 0x40000000;
const CARD_BUFFER_SIZE_ONLY = 0x20000000;
const CARD_PADDING_NONE = 1;
const CARD_PADDING_PKCS1 = 2;
const CARD_PADDING_PSS = 4;

const RSA_KX = 0; // AT_KEYEXCHANGE RSA 2048
const RSA_SIG = 1; // AT_SIGNATURE RSA 2048
const EC_INDEX: Record<CurveBits, number> = { 256: 2, 384: 3, 521: 4 };
const EC_SPEC: Record<CurveBits, number> = { 256: 3, 384: 4, 521: 5 };

describe('pkcs11-bridge: CardSignData', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let rsaKx: KeyObject;
  let rsaSig: KeyObject;
  const ecKeys = new Map<CurveBits, KeyObject>();

  const sign = (info: Partial<CardSigningInfo> & { pbData: Buffer }) =>
    ctx.CardSignData({ dwVersion: 2, bContainerIndex: RSA_KX, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: 0, ...info });

  before(async function () {
    this.timeout(120_000);
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(RSA_KX, 1, AT_KEYEXCHANGE, 2048);
    await ctx.CardCreateContainer(RSA_SIG, 1, AT_SIGNATURE, 2048);
    for (const bits of [256, 384, 521] as const) await ctx.CardCreateContainer(EC_INDEX[bits], 1, EC_SPEC[bits], bits);
    // The verifying keys come from the token through graphene, not from the bridge's blobs.
    const names = (await readCmap(ctx)).map((r) => r?.name ?? '');
    rsaKx = graphenePublicKey(token.label, names[RSA_KX]!, 'RSA');
    rsaSig = graphenePublicKey(token.label, names[RSA_SIG]!, 'RSA');
    for (const bits of [256, 384, 521] as const) ecKeys.set(bits, graphenePublicKey(token.label, names[EC_INDEX[bits]]!, 'EC', bits));
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
  });

  beforeEach(() => ctx.CardAuthenticatePin('user', pin(token.pin)));

  describe('RSA PKCS#1 v1.5 from aiHashAlg (no padding info)', () => {
    const hashes = [
      { calg: 0x8003, name: 'CALG_MD5', node: 'md5' },
      { calg: 0x8004, name: 'CALG_SHA1', node: 'sha1' },
      { calg: 0x800c, name: 'CALG_SHA_256', node: 'sha256' },
      { calg: 0x800d, name: 'CALG_SHA_384', node: 'sha384' },
      { calg: 0x800e, name: 'CALG_SHA_512', node: 'sha512' },
    ];
    for (const h of hashes) {
      for (const dwVersion of [1, 2]) {
        it(`${h.name}, CARD_SIGNING_INFO v${dwVersion}: little-endian signature that node:crypto verifies`, async () => {
          const message = randomBytes(200);
          const signature = await sign({ dwVersion, aiHashAlg: h.calg, pbData: digest(h.node, message) });
          assert.equal(signature.length, 256);
          assert.ok(verifyRsaPkcs1(rsaKx, h.node, message, signature), 'verifies after reversing to big-endian');
          assert.ok(!crypto.verify(h.node, message, rsaKx, signature), 'and not as given (it is little-endian)');
        });
      }
    }

    it('CALG_SSL3_SHAMD5: the 36-byte MD5||SHA-1 signed with no DigestInfo', async () => {
      const message = randomBytes(90);
      const hash = Buffer.concat([digest('md5', message), digest('sha1', message)]);
      const signature = await sign({ aiHashAlg: 0x8008, pbData: hash });
      assert.deepEqual(rsaRecover(rsaKx, signature), hash);
    });

    it('the AT_SIGNATURE key signs too', async () => {
      const message = randomBytes(33);
      const signature = await sign({ bContainerIndex: RSA_SIG, dwKeySpec: AT_SIGNATURE, aiHashAlg: 0x800c, pbData: digest('sha256', message) });
      assert.ok(verifyRsaPkcs1(rsaSig, 'sha256', message, signature));
    });
  });

  describe('RSA with padding information (CARD_PADDING_INFO_PRESENT)', () => {
    for (const [alg, node] of [['SHA256', 'sha256'], ['SHA1', 'sha1'], ['SHA512', 'sha512']] as const) {
      it(`PKCS1 with pszAlgId ${alg}`, async () => {
        const message = randomBytes(64);
        const signature = await sign({
          dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: { pszAlgId: alg }, pbData: digest(node, message),
        });
        assert.ok(verifyRsaPkcs1(rsaKx, node, message, signature));
      });
    }

    it('PKCS1 with pszAlgId null signs the data as given (no DigestInfo)', async () => {
      const data = randomBytes(48);
      const signature = await sign({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: { pszAlgId: null }, pbData: data });
      assert.deepEqual(rsaRecover(rsaKx, signature), data);
    });

    for (const [alg, node, salt] of [['SHA256', 'sha256', 32], ['SHA384', 'sha384', 48], ['SHA256', 'sha256', 0]] as const) {
      it(`PSS ${alg}, salt ${salt}`, async () => {
        const message = randomBytes(64);
        const signature = await sign({
          dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PSS, pPaddingInfo: { pszAlgId: alg, cbSalt: salt }, pbData: digest(node, message),
        });
        assert.equal(signature.length, 256);
        assert.ok(crypto.verify(node, message, { key: rsaKx, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: salt }, reversed(signature)),
          `PSS verifies with salt length ${salt}`);
      });
    }

    it('CARD_PADDING_NONE: the raw RSA operation on a modulus-length block', async () => {
      const block = Buffer.concat([Buffer.from([0x00, 0x01]), randomBytes(254)]);
      const signature = await sign({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_NONE, pPaddingInfo: null, pbData: block });
      assert.deepEqual(rsaRecover(rsaKx, signature, crypto.constants.RSA_NO_PADDING), block);
    });
  });

  describe('ECDSA', () => {
    for (const bits of [256, 384, 521] as const) {
      it(`P-${bits}: r||s of ${2 * CURVE[bits].bytes} bytes, big-endian, verified as IEEE P1363`, async () => {
        const message = randomBytes(100);
        const rs = await sign({ bContainerIndex: EC_INDEX[bits], dwKeySpec: EC_SPEC[bits], pbData: digest(CURVE[bits].hash, message) });
        assert.equal(rs.length, 2 * CURVE[bits].bytes);
        assert.ok(verifyEcdsa(ecKeys.get(bits)!, CURVE[bits].hash, message, rs));
      });
    }
  });

  describe('CARD_BUFFER_SIZE_ONLY', () => {
    it('returns an empty buffer and sets cbSignedData (RSA 256, P-256 64, P-521 132) without signing', async () => {
      const cases = [
        { index: RSA_KX, spec: AT_KEYEXCHANGE, aiHashAlg: 0x800c, data: randomBytes(32), size: 256 },
        { index: EC_INDEX[256], spec: EC_SPEC[256], aiHashAlg: 0, data: randomBytes(32), size: 64 },
        { index: EC_INDEX[521], spec: EC_SPEC[521], aiHashAlg: 0, data: randomBytes(64), size: 132 },
      ];
      for (const c of cases) {
        const info: CardSigningInfo = { dwVersion: 2, bContainerIndex: c.index, dwKeySpec: c.spec, dwSigningFlags: CARD_BUFFER_SIZE_ONLY, aiHashAlg: c.aiHashAlg, pbData: c.data };
        const out = await ctx.CardSignData(info);
        assert.equal(out.length, 0);
        assert.equal(info.cbSignedData, c.size);
      }
    });
  });

  describe('errors', () => {
    const cases: { what: string; info: () => Partial<CardSigningInfo> & { pbData: Buffer }; code: 'SCARD_E_INVALID_PARAMETER' | 'SCARD_E_NO_KEY_CONTAINER' }[] = [
      { what: 'SHA-256 hash of 31 bytes', info: () => ({ aiHashAlg: 0x800c, pbData: randomBytes(31) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'SHA-1 hash of 32 bytes', info: () => ({ aiHashAlg: 0x8004, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'SSL3_SHAMD5 of 20 bytes', info: () => ({ aiHashAlg: 0x8008, pbData: randomBytes(20) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'unknown ALG_ID 0x8001 (MD2)', info: () => ({ aiHashAlg: 0x8001, pbData: randomBytes(16) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'unknown ALG_ID 0x1234', info: () => ({ aiHashAlg: 0x1234, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'bad flags 0x100', info: () => ({ dwSigningFlags: 0x100, aiHashAlg: 0x800c, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'bad flags 0x80000000', info: () => ({ dwSigningFlags: 0x80000000, aiHashAlg: 0x800c, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'padding info in a v1 structure', info: () => ({ dwVersion: 1, dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: { pszAlgId: 'SHA256' }, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'padding type 3', info: () => ({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: 3, pPaddingInfo: { pszAlgId: 'SHA256' }, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'PKCS1 with unknown pszAlgId', info: () => ({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: { pszAlgId: 'SHA3_256' }, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'PKCS1 SHA256 hash of 20 bytes', info: () => ({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: { pszAlgId: 'SHA256' }, pbData: randomBytes(20) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'PSS without hash', info: () => ({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PSS, pPaddingInfo: { pszAlgId: null, cbSalt: 32 }, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'PSS SHA256 hash of 48 bytes', info: () => ({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_PSS, pPaddingInfo: { pszAlgId: 'SHA256', cbSalt: 32 }, pbData: randomBytes(48) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'CARD_PADDING_NONE of 255 bytes', info: () => ({ dwSigningFlags: CARD_PADDING_INFO_PRESENT, dwPaddingType: CARD_PADDING_NONE, pbData: randomBytes(255) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'container index 256', info: () => ({ bContainerIndex: 256, aiHashAlg: 0x800c, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'key spec 9', info: () => ({ dwKeySpec: 9, aiHashAlg: 0x800c, pbData: randomBytes(32) }), code: 'SCARD_E_INVALID_PARAMETER' },
      { what: 'an empty container', info: () => ({ bContainerIndex: 77, aiHashAlg: 0x800c, pbData: randomBytes(32) }), code: 'SCARD_E_NO_KEY_CONTAINER' },
      { what: 'AT_SIGNATURE of a container with only a key-exchange key', info: () => ({ dwKeySpec: AT_SIGNATURE, aiHashAlg: 0x800c, pbData: randomBytes(32) }), code: 'SCARD_E_NO_KEY_CONTAINER' },
      { what: 'AT_ECDSA_P384 of the P-256 container', info: () => ({ bContainerIndex: EC_INDEX[256], dwKeySpec: EC_SPEC[384], pbData: randomBytes(48) }), code: 'SCARD_E_NO_KEY_CONTAINER' },
    ];
    for (const c of cases) {
      it(`${c.what} → ${c.code}`, async () => {
        await expectCryptError(() => sign(c.info()), c.code, c.what);
        assertNoSessionCheckedOut(ctx, c.what);
      });
    }
  });

  describe('malformed CARD_SIGNING_INFO', () => {
    it('no pbData, or a string instead of bytes, is SCARD_E_INVALID_PARAMETER; dwVersion 3 is ERROR_REVISION_MISMATCH', async () => {
      await expectCryptError(() => ctx.CardSignData(null as unknown as CardSigningInfo), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => sign({ aiHashAlg: 0x800c, pbData: 'x'.repeat(32) as unknown as Buffer }), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => sign({ dwVersion: 3, aiHashAlg: 0x800c, pbData: randomBytes(32) }), 'ERROR_REVISION_MISMATCH');
    });
  });

  describe('authentication', () => {
    it('before the PIN: SCARD_W_SECURITY_VIOLATION for RSA and ECDSA', async () => {
      const fresh = newDriver();
      try {
        await ctx.CardDeauthenticate('user');
        const c = await openContext(fresh, token.label);
        await expectCryptError(() => c.CardSignData({ dwVersion: 2, bContainerIndex: RSA_KX, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: 0x800c, pbData: randomBytes(32) }), 'SCARD_W_SECURITY_VIOLATION');
        await expectCryptError(() => c.CardSignData({ dwVersion: 2, bContainerIndex: EC_INDEX[256], dwKeySpec: EC_SPEC[256], dwSigningFlags: 0, aiHashAlg: 0, pbData: randomBytes(32) }), 'SCARD_W_SECURITY_VIOLATION');
        assertNoSessionCheckedOut(c);
      } finally {
        await fresh.close();
      }
    });

    it('after CardDeauthenticate: SCARD_W_SECURITY_VIOLATION; after authenticating again it signs (fresh private handles)', async () => {
      const message = randomBytes(20);
      const hash = digest('sha256', message);
      assert.ok(verifyRsaPkcs1(rsaKx, 'sha256', message, await sign({ aiHashAlg: 0x800c, pbData: hash })), 'signs while authenticated');
      assert.ok(verifyEcdsa(ecKeys.get(256)!, 'sha256', message, await sign({ bContainerIndex: EC_INDEX[256], dwKeySpec: EC_SPEC[256], pbData: hash })));
      for (let round = 0; round < 2; round++) {
        await ctx.CardDeauthenticate('user');
        await expectCryptError(() => sign({ aiHashAlg: 0x800c, pbData: hash }), 'SCARD_W_SECURITY_VIOLATION', `round ${round} RSA`);
        await expectCryptError(() => sign({ bContainerIndex: EC_INDEX[256], dwKeySpec: EC_SPEC[256], pbData: hash }), 'SCARD_W_SECURITY_VIOLATION', `round ${round} EC`);
        await ctx.CardAuthenticatePin('user', pin(token.pin));
        assert.ok(verifyRsaPkcs1(rsaKx, 'sha256', message, await sign({ aiHashAlg: 0x800c, pbData: hash })), `round ${round}: RSA signs again`);
        assert.ok(verifyEcdsa(ecKeys.get(256)!, 'sha256', message, await sign({ bContainerIndex: EC_INDEX[256], dwKeySpec: EC_SPEC[256], pbData: hash })), `round ${round}: ECDSA signs again`);
      }
      assertNoSessionCheckedOut(ctx);
    });

    it('after CardDeauthenticateEx(ROLE_USER set): SCARD_W_SECURITY_VIOLATION, then signs after CardAuthenticateEx', async () => {
      await ctx.CardDeauthenticateEx(1 << 1);
      await expectCryptError(() => sign({ aiHashAlg: 0x800c, pbData: randomBytes(32) }), 'SCARD_W_SECURITY_VIOLATION');
      await ctx.CardAuthenticateEx(1, 0, pin(token.pin));
      const message = randomBytes(20);
      assert.ok(verifyRsaPkcs1(rsaKx, 'sha256', message, await sign({ aiHashAlg: 0x800c, pbData: digest('sha256', message) })));
    });
  });
});
