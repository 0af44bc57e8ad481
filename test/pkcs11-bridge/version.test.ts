import assert from 'node:assert/strict';
import type { CardModule } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import type { CardData } from '../../minidriver/structures.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { expectCryptError, makeToken, newDriver } from './helpers.js';

const token = makeToken('br-version');

describe('pkcs11-bridge: CardAcquireContext and version negotiation', () => {
  let driver: Pkcs11Minidriver;
  let hScard: unknown;
  const contexts: CardModule[] = [];

  const acquire = async (dwVersion: number, flags = 0): Promise<{ ctx: CardModule; data: CardData }> => {
    const data: CardData = { dwVersion, hScard };
    const ctx = await driver.CardAcquireContext(data, flags);
    contexts.push(ctx);
    return { ctx, data };
  };

  before(async () => {
    driver = newDriver();
    const reader = (await driver.listReaders()).find((r) => r.card?.label === token.label);
    assert.ok(reader?.hScard, 'the token is a reader with a card handle');
    hScard = reader.hScard;
  });

  after(async () => {
    for (const ctx of contexts) await ctx.CardDeleteContext();
    await driver.close();
  });

  it('refuses dwVersion 3 (and 0) with ERROR_REVISION_MISMATCH', async () => {
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 3, hScard }), 'ERROR_REVISION_MISMATCH');
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 0, hScard }), 'ERROR_REVISION_MISMATCH');
  });

  for (const v of [4, 5, 6, 7]) {
    it(`accepts dwVersion ${v} unchanged, in the context and in CARD_DATA`, async () => {
      const { ctx, data } = await acquire(v);
      assert.equal(ctx.dwVersion, v);
      assert.equal(data.dwVersion, v);
    });
  }

  it('negotiates dwVersion 8 down to 7 (and writes it back into CARD_DATA)', async () => {
    const { ctx, data } = await acquire(8);
    assert.equal(ctx.dwVersion, 7);
    assert.equal(data.dwVersion, 7);
  });

  it('a v4 context answers SCARD_E_UNSUPPORTED_FEATURE for v5+ entry points but serves v4 ones', async () => {
    const { ctx } = await acquire(4);
    await expectCryptError(() => ctx.CardGetProperty('Read Only Mode'), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardGetProperty');
    await expectCryptError(() => ctx.CardAuthenticateEx(1, 0, Buffer.from(token.pin)), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardAuthenticateEx');
    await expectCryptError(() => ctx.CardDeriveKey({ dwVersion: 2, dwFlags: 0, pwszKDF: 'TRUNCATE', bSecretAgreementIndex: 0, pParameterList: null }), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardDeriveKey');
    await expectCryptError(() => ctx.CardDestroyDHAgreement(0), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardDestroyDHAgreement');
    assert.equal((await ctx.CardReadFile(null, 'cardid')).length, 16, 'CardReadFile is v4');
    assert.equal((await ctx.CardQueryCapabilities()).dwVersion, 1, 'CardQueryCapabilities is v4');
  });

  it('a v5 context has CardDeriveKey (the driver answers, not the version gate) but not v6 entry points', async () => {
    const { ctx } = await acquire(5);
    await expectCryptError(() => ctx.CardDeriveKey({ dwVersion: 2, dwFlags: 0, pwszKDF: 'TRUNCATE', bSecretAgreementIndex: 42, pParameterList: null }), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardGetContainerProperty(0, 'PIN Identifier'), 'SCARD_E_UNSUPPORTED_FEATURE');
    await expectCryptError(() => ctx.CardDeauthenticateEx(2), 'SCARD_E_UNSUPPORTED_FEATURE');
  });

  it('a v6 context has CardGetProperty but not the v7 CardCreateContainerEx', async () => {
    const { ctx } = await acquire(6);
    assert.equal(await ctx.CardGetProperty('Read Only Mode'), false);
    await expectCryptError(() => ctx.CardCreateContainerEx(0, 1, 2, 2048, null, 1), 'SCARD_E_UNSUPPORTED_FEATURE');
  });

  it('CARD_SECURE_KEY_INJECTION_NO_CARD_MODE is SCARD_E_UNSUPPORTED_FEATURE, other flags SCARD_E_INVALID_PARAMETER', async () => {
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard }, 1), 'SCARD_E_UNSUPPORTED_FEATURE');
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard }, 2), 'SCARD_E_INVALID_PARAMETER');
  });

  it('a bad hScard is SCARD_E_INVALID_HANDLE (missing, foreign object, another driver\'s card)', async () => {
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard: undefined }), 'SCARD_E_INVALID_HANDLE');
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard: {} }), 'SCARD_E_INVALID_HANDLE');
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard: 'reader 0' }), 'SCARD_E_INVALID_HANDLE');
    const other = newDriver();
    try {
      const foreign = (await other.listReaders()).find((r) => r.card?.label === token.label)?.hScard;
      assert.ok(foreign);
      await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard: foreign }), 'SCARD_E_INVALID_HANDLE');
    } finally {
      await other.close();
    }
  });

  it('a deleted context answers SCARD_E_INVALID_HANDLE; other contexts on the card keep working', async () => {
    const { ctx } = await acquire(7);
    const { ctx: sibling } = await acquire(7);
    await ctx.CardDeleteContext();
    await expectCryptError(() => ctx.CardReadFile(null, 'cardid'), 'SCARD_E_INVALID_HANDLE');
    await expectCryptError(() => ctx.CardGetProperty('Card Identifier'), 'SCARD_E_INVALID_HANDLE');
    assert.equal((await sibling.CardReadFile(null, 'cardid')).length, 16);
  });

  it('a closed driver refuses new work', async () => {
    const d = newDriver();
    const ctx = await d.openCard({ label: token.label });
    await d.close();
    await expectCryptError(() => d.listReaders(), 'SCARD_E_NO_SERVICE');
    await assert.rejects(ctx.CardReadFile(null, 'cardid'), (err: unknown) => err instanceof CryptError);
  });
});
