import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import type { CardDeriveKey } from '../../minidriver/structures.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  assertNoSessionCheckedOut, CKO, CURVE, type CurveBits, ECC_MAGIC, eccPublicBlob, expectCryptError, grapheneObjects, graphenePublicKey, makeToken,
  newDriver, openContext, pin, readCmap, reversed, splitPoint,
} from './helpers.js';

const token = makeToken('br-ecdh');

const INDEX: Record<CurveBits, number> = { 256: 0, 384: 1, 521: 2 };
const SPEC: Record<CurveBits, number> = { 256: 6, 384: 7, 521: 8 };
const ECDSA_INDEX = 3;
const KDF_HASH_ALGORITHM = 0;
const KDF_SECRET_PREPEND = 1;
const KDF_SECRET_APPEND = 2;
const CARD_BUFFER_SIZE_ONLY = 0x20000000;

describe('pkcs11-bridge: ECDH (CardConstructDHAgreement, CardDeriveKey, CardDestroyDHAgreement)', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  const cardPoint = new Map<CurveBits, Buffer>();

  /** A node:crypto ECDH key pair and its BCRYPT_ECCPUBLIC_BLOB (ECK1/3/5). */
  const peer = (bits: CurveBits) => {
    const ecdh = crypto.createECDH(CURVE[bits].node);
    ecdh.generateKeys();
    const { x, y } = splitPoint(ecdh.getPublicKey(), bits);
    return { ecdh, blob: eccPublicBlob(ECC_MAGIC.ECDH[bits].pub, bits, x, y) };
  };
  const derive = (info: Partial<CardDeriveKey> & { bSecretAgreementIndex: number }) =>
    ctx.CardDeriveKey({ dwVersion: 2, dwFlags: 0, pwszKDF: 'TRUNCATE', pParameterList: null, ...info });

  before(async function () {
    this.timeout(60_000);
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    for (const bits of [256, 384, 521] as const) await ctx.CardCreateContainer(INDEX[bits], 1, SPEC[bits], bits);
    await ctx.CardCreateContainer(ECDSA_INDEX, 1, 3, 256);
    const names = (await readCmap(ctx)).map((r) => r?.name ?? '');
    for (const bits of [256, 384, 521] as const) {
      // The card's public point as graphene reads it, for node:crypto's side of the agreement.
      const jwk = graphenePublicKey(token.label, names[INDEX[bits]]!, 'EC', bits).export({ format: 'jwk' });
      cardPoint.set(bits, Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
    }
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
  });

  beforeEach(() => ctx.CardAuthenticatePin('user', pin(token.pin)));

  for (const bits of [256, 384, 521] as const) {
    it(`P-${bits}: TRUNCATE is node:crypto's computeSecret little-endian; HASH SHA256 is sha256(Z)`, async () => {
      const { ecdh, blob } = peer(bits);
      const z = ecdh.computeSecret(cardPoint.get(bits)!);
      assert.equal(z.length, CURVE[bits].bytes);
      const index = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[bits], dwFlags: 0, pbPublicKey: blob });
      assert.ok(Number.isInteger(index) && index >= 0 && index <= 255, 'a BYTE agreement index');
      assert.deepEqual(await derive({ bSecretAgreementIndex: index, pwszKDF: 'TRUNCATE' }), reversed(z));
      const hashParam = [{ type: KDF_HASH_ALGORITHM, value: Buffer.from('SHA256\0', 'utf16le') }];
      assert.deepEqual(await derive({ bSecretAgreementIndex: index, pwszKDF: 'HASH', pParameterList: hashParam }), crypto.createHash('sha256').update(z).digest());
      await ctx.CardDestroyDHAgreement(index);
    });
  }

  it('HASH with SECRET_PREPEND / SECRET_APPEND and the default SHA-1; size-only asks for the length', async () => {
    const { ecdh, blob } = peer(256);
    const z = ecdh.computeSecret(cardPoint.get(256)!);
    const index = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: blob });
    const pre = Buffer.from('before');
    const post = Buffer.from('after');
    assert.deepEqual(
      await derive({ bSecretAgreementIndex: index, pwszKDF: 'HASH', pParameterList: [{ type: KDF_SECRET_PREPEND, value: pre }, { type: KDF_SECRET_APPEND, value: post }] }),
      crypto.createHash('sha1').update(Buffer.concat([pre, z, post])).digest());
    const size = await derive({ bSecretAgreementIndex: index, pwszKDF: 'HASH', dwFlags: CARD_BUFFER_SIZE_ONLY, pParameterList: [{ type: KDF_HASH_ALGORITHM, value: 'SHA384' }] });
    assert.equal(size.length, 48);
    await ctx.CardDestroyDHAgreement(index);
  });

  it('agreements have distinct indexes; CardDestroyDHAgreement makes the index unusable (SCARD_E_INVALID_PARAMETER)', async () => {
    const a = peer(256);
    const b = peer(256);
    const ia = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: a.blob });
    const ib = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: b.blob });
    assert.notEqual(ia, ib);
    await ctx.CardDestroyDHAgreement(ia);
    await expectCryptError(() => derive({ bSecretAgreementIndex: ia }), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardDestroyDHAgreement(ia), 'SCARD_E_INVALID_PARAMETER');
    assert.deepEqual(await derive({ bSecretAgreementIndex: ib }), reversed(b.ecdh.computeSecret(cardPoint.get(256)!)), 'the other agreement still works');
    await ctx.CardDestroyDHAgreement(ib);
  });

  it('an agreement belongs to its context', async () => {
    const other = await openContext(driver, token.label);
    try {
      const { blob } = peer(256);
      const index = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: blob });
      await expectCryptError(() => other.CardDeriveKey({ dwVersion: 2, dwFlags: 0, pwszKDF: 'TRUNCATE', bSecretAgreementIndex: index, pParameterList: null }), 'SCARD_E_INVALID_PARAMETER');
      await ctx.CardDestroyDHAgreement(index);
    } finally {
      await other.CardDeleteContext();
    }
  });

  it('leaves no derived secret object on the token', async () => {
    const { blob } = peer(384);
    const index = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[384], dwFlags: 0, pbPublicKey: blob });
    await ctx.CardDestroyDHAgreement(index);
    const classes = new Set(grapheneObjects(token.label, token.pin).map((o) => o.cls));
    assert.deepEqual([...classes].sort(), [CKO.DATA, CKO.PUBLIC_KEY, CKO.PRIVATE_KEY].sort(), 'only files and key pairs; no CKO_SECRET_KEY left behind');
    assertNoSessionCheckedOut(ctx);
  });

  describe('errors', () => {
    it('a peer blob with an ECDSA magic, or a private blob, is SCARD_E_INVALID_PARAMETER', async () => {
      const { ecdh } = peer(256);
      const { x, y } = splitPoint(ecdh.getPublicKey(), 256);
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: eccPublicBlob(ECC_MAGIC.ECDSA[256].pub, 256, x, y) }), 'SCARD_E_INVALID_PARAMETER');
      const privateBlob = Buffer.concat([eccPublicBlob(ECC_MAGIC.ECDH[256].priv, 256, x, y), ecdh.getPrivateKey()]);
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: privateBlob }), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: Buffer.alloc(5) }), 'SCARD_E_INVALID_PARAMETER');
    });

    it('a peer point that is not on the curve is SCARD_E_INVALID_PARAMETER and leaves nothing behind', async () => {
      const x = Buffer.alloc(32, 0);
      x[31] = 1;
      const y = Buffer.alloc(32, 0);
      y[31] = 1;
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: eccPublicBlob(ECC_MAGIC.ECDH[256].pub, 256, x, y) }), 'SCARD_E_INVALID_PARAMETER');
      assertNoSessionCheckedOut(ctx);
    });

    it('a P-384 peer for the P-256 container is refused', async () => {
      const { blob } = peer(384);
      await assert.rejects(ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: blob }),
        (err: unknown) => err instanceof Error && ['SCARD_E_INVALID_PARAMETER', 'SCARD_E_NO_KEY_CONTAINER'].includes((err as { codeName?: string }).codeName ?? ''));
    });

    it('dwVersion 1 is ERROR_REVISION_MISMATCH; dwFlags 1 is SCARD_E_INVALID_PARAMETER', async () => {
      const { blob } = peer(256);
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 1, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: blob }), 'ERROR_REVISION_MISMATCH');
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 1, pbPublicKey: blob }), 'SCARD_E_INVALID_PARAMETER');
    });

    it('an ECDSA container has no key-exchange key: SCARD_E_NO_KEY_CONTAINER', async () => {
      const { blob } = peer(256);
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: ECDSA_INDEX, dwFlags: 0, pbPublicKey: blob }), 'SCARD_E_NO_KEY_CONTAINER');
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: 30, dwFlags: 0, pbPublicKey: blob }), 'SCARD_E_NO_KEY_CONTAINER');
    });

    it('an unknown KDF is SCARD_E_UNSUPPORTED_FEATURE; CARD_RETURN_KEY_HANDLE is SCARD_E_UNSUPPORTED_FEATURE', async () => {
      const { blob } = peer(256);
      const index = await ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: blob });
      await expectCryptError(() => derive({ bSecretAgreementIndex: index, pwszKDF: 'TLS_PRF' }), 'SCARD_E_UNSUPPORTED_FEATURE');
      await expectCryptError(() => derive({ bSecretAgreementIndex: index, dwFlags: 0x1000000 }), 'SCARD_E_UNSUPPORTED_FEATURE');
      await expectCryptError(() => derive({ bSecretAgreementIndex: index, dwFlags: 0x100 }), 'SCARD_E_INVALID_PARAMETER');
      await ctx.CardDestroyDHAgreement(index);
    });

    it('without the PIN: SCARD_W_SECURITY_VIOLATION', async () => {
      const { blob } = peer(256);
      await ctx.CardDeauthenticate('user');
      await expectCryptError(() => ctx.CardConstructDHAgreement({ dwVersion: 2, bContainerIndex: INDEX[256], dwFlags: 0, pbPublicKey: blob }), 'SCARD_W_SECURITY_VIOLATION');
      assertNoSessionCheckedOut(ctx);
    });
  });
});
