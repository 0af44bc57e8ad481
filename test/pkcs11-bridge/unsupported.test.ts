import assert from 'node:assert/strict';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { expectCryptError, makeToken, newDriver, openContext, pin, readCmap } from './helpers.js';

const token = makeToken('br-unsupported');

describe('pkcs11-bridge: entry points a PKCS#11 token cannot offer answer SCARD_E_UNSUPPORTED_FEATURE', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  before(async () => {
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(0, 1, 3, 256);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
  });

  const calls: [string, () => Promise<unknown>][] = [
    ['CardGetChallenge', () => ctx.CardGetChallenge()],
    ['CardAuthenticateChallenge', () => ctx.CardAuthenticateChallenge(Buffer.alloc(8))],
    ['CardGetChallengeEx', () => ctx.CardGetChallengeEx(2)],
    ['CardSetContainerProperty', () => ctx.CardSetContainerProperty(0, 'PIN Identifier', 1)],
    ['MDImportSessionKey', () => ctx.MDImportSessionKey('KeyBlob', 'AES', Buffer.alloc(32))],
    ['MDEncryptData', () => ctx.MDEncryptData(1, 'Import Key Pair', Buffer.alloc(16), 0)],
    ['CardImportSessionKey', () => ctx.CardImportSessionKey(0, null, 'KeyBlob', 'AES', Buffer.alloc(32), 0)],
    ['CardGetSharedKeyHandle', () => ctx.CardGetSharedKeyHandle(Buffer.alloc(16), 0)],
    ['CardGetAlgorithmProperty', () => ctx.CardGetAlgorithmProperty('AES', 'ChainingMode', 0)],
    ['CardGetKeyProperty', () => ctx.CardGetKeyProperty(1, 'ChainingMode', 0)],
    ['CardSetKeyProperty', () => ctx.CardSetKeyProperty(1, 'IV', Buffer.alloc(16), 0)],
    ['CardDestroyKey', () => ctx.CardDestroyKey(1)],
    ['CardProcessEncryptedData', () => ctx.CardProcessEncryptedData(1, 'Authenticate', [Buffer.alloc(16)], 0)],
    ['CardCreateContainerEx bound to ROLE_ADMIN', () => ctx.CardCreateContainerEx(1, 1, 3, 256, null, 2)],
    ['CardCreateContainerEx bound to PIN 3', () => ctx.CardCreateContainerEx(1, 1, 3, 256, null, 3)],
    ['CardChangeAuthenticator with a challenge-response key', () => ctx.CardChangeAuthenticator('admin', Buffer.alloc(24), Buffer.alloc(24), 0, 1)],
    ['CardUnblockPin with challenge-response', () => ctx.CardUnblockPin('user', Buffer.alloc(8), pin('new-pin-1'), 0, 1)],
  ];

  for (const [what, call] of calls) {
    it(what, async () => {
      await expectCryptError(call, 'SCARD_E_UNSUPPORTED_FEATURE', what);
    });
  }

  it('nothing above created a container at index 1', async () => {
    assert.equal((await readCmap(ctx))[1] ?? null, null);
  });

  it('CardCreateContainerEx bound to ROLE_USER (1) works like CardCreateContainer', async () => {
    await ctx.CardCreateContainerEx(2, 1, 3, 256, null, 1);
    assert.equal((await readCmap(ctx))[2]!.sigBits, 256);
    assert.equal(await ctx.CardGetContainerProperty(2, 'PIN Identifier'), 1);
  });
});
