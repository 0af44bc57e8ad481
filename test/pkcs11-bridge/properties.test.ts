import assert from 'node:assert/strict';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { expectCryptError, makeToken, newDriver, openContext, pin, openContextPerSuite } from './helpers.js';

const token = makeToken('br-props');

const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const UNKNOWN = 0xffffffff;

describe('pkcs11-bridge: card and container properties', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  openContextPerSuite(token.label, (d, c) => { driver = d; ctx = c; });

  describe('CardGetProperty: every CP_* with its dwFlags and value type', () => {
    it('Free Space: CARD_FREE_SPACE_INFO, bytes unknown on SoftHSM2, 128 containers', async () => {
      const fs = await ctx.CardGetProperty('Free Space');
      assert.deepEqual(Object.keys(fs).sort(), ['dwBytesAvailable', 'dwKeyContainersAvailable', 'dwMaxKeyContainers', 'dwVersion']);
      for (const v of Object.values(fs)) assert.equal(typeof v, 'number', 'DWORD fields are numbers');
      assert.equal(fs.dwVersion, 1);
      assert.equal(fs.dwBytesAvailable, UNKNOWN, 'SoftHSM2 reports no free memory figure');
      assert.equal(fs.dwMaxKeyContainers, 128);
      assert.ok(fs.dwKeyContainersAvailable <= 128 && fs.dwKeyContainersAvailable > 0);
    });

    it('Capabilities: CARD_CAPABILITIES with key generation', async () => {
      assert.deepEqual(await ctx.CardGetProperty('Capabilities'), { dwVersion: 1, fCertificateCompression: true, fKeyGen: true });
    });

    it('Key Sizes (dwFlags = key spec): RSA 1024..4096 step 1024 default 2048; ECC fixed', async () => {
      const rsa = { dwVersion: 1, dwMinimumBitlen: 1024, dwDefaultBitlen: 2048, dwMaximumBitlen: 4096, dwIncrementalBitlen: 1024 };
      assert.deepEqual(await ctx.CardGetProperty('Key Sizes', AT_KEYEXCHANGE), rsa);
      assert.deepEqual(await ctx.CardGetProperty('Key Sizes', AT_SIGNATURE), rsa);
      for (const [spec, bits] of [[3, 256], [4, 384], [5, 521], [6, 256], [7, 384], [8, 521]] as const) {
        const sizes = await ctx.CardGetProperty('Key Sizes', spec);
        assert.equal(sizes.dwMinimumBitlen, bits, `key spec ${spec}`);
        assert.equal(sizes.dwDefaultBitlen, bits);
        assert.equal(sizes.dwMaximumBitlen, bits);
        assert.equal(sizes.dwIncrementalBitlen, 0);
      }
      assert.deepEqual(await ctx.CardQueryKeySizes(AT_KEYEXCHANGE), rsa, 'CardQueryKeySizes agrees');
    });

    it('Read Only Mode false, Cache Mode GLOBAL_CACHE (1), Supports Windows x.509 Enrollment true', async () => {
      assert.equal(await ctx.CardGetProperty('Read Only Mode'), false);
      assert.equal(await ctx.CardGetProperty('Cache Mode'), 1);
      assert.equal(await ctx.CardGetProperty('Supports Windows x.509 Enrollment'), true);
    });

    it('Card Identifier is the 16 bytes of the cardid file; Card Serial Number the token serial', async () => {
      const guid = await ctx.CardGetProperty('Card Identifier');
      assert.ok(Buffer.isBuffer(guid));
      assert.equal(guid.length, 16);
      assert.deepEqual(guid, await ctx.CardReadFile(null, 'cardid'));
      assert.deepEqual(await ctx.CardGetProperty('Card Serial Number'), Buffer.from(token.serial, 'latin1'));
    });

    it('PIN Information for PIN 1 (user) and PIN 2 (admin)', async () => {
      const policy = { dwVersion: 6, PinCachePolicyType: 0, dwPinCachePolicyInfo: 0 };
      assert.deepEqual(await ctx.CardGetProperty('PIN Information', 1), {
        dwVersion: 6, PinType: 0, PinPurpose: 5 /* PrimaryCardPin */, dwChangePermission: 1 << 1, dwUnblockPermission: 1 << 2, PinCachePolicy: policy, dwFlags: 0,
      });
      assert.deepEqual(await ctx.CardGetProperty('PIN Information', 2), {
        dwVersion: 6, PinType: 0, PinPurpose: 4 /* AdministratorPin */, dwChangePermission: 1 << 2, dwUnblockPermission: 0, PinCachePolicy: policy, dwFlags: 0,
      });
    });

    it('PIN List = user | admin; Authenticated State follows the login', async () => {
      assert.equal(await ctx.CardGetProperty('PIN List'), (1 << 1) | (1 << 2));
      await ctx.CardDeauthenticateEx(0xff);
      assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
      await ctx.CardAuthenticatePin('user', pin(token.pin));
      assert.equal(await ctx.CardGetProperty('Authenticated State'), 1 << 1);
      await ctx.CardDeauthenticate('user');
      assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
    });

    it('PIN Strength Verify / Change / Unblock: plaintext (1) for PIN 1 and 2', async () => {
      for (const name of ['PIN Strength Verify', 'PIN Strength Change', 'PIN Strength Unblock'] as const) {
        for (const id of [1, 2]) assert.equal(await ctx.CardGetProperty(name, id), 1, `${name} ${id}`);
      }
    });

    it('Key Import Support: plain text (1); Padding Schemes: NONE|PKCS1|PSS|OAEP; Algorithms; Chaining Modes', async () => {
      assert.equal(await ctx.CardGetProperty('Key Import Support'), 1);
      assert.equal(await ctx.CardGetProperty('Padding Schemes'), 1 | 2 | 4 | 8);
      const asymmetric = await ctx.CardGetProperty('Algorithms', 2);
      assert.ok(Array.isArray(asymmetric) && asymmetric.every((a) => typeof a === 'string'));
      for (const a of ['RSA', 'ECDSA_P256', 'ECDSA_P384', 'ECDSA_P521', 'ECDH_P256', 'ECDH_P384', 'ECDH_P521']) assert.ok(asymmetric.includes(a), a);
      assert.deepEqual(await ctx.CardGetProperty('Algorithms', 1), [], 'no on-card ciphers');
      assert.deepEqual(await ctx.CardGetProperty('Chaining Modes'), []);
    });
  });

  describe('CardGetProperty errors', () => {
    it('wrong dwFlags are SCARD_E_INVALID_PARAMETER', async () => {
      await expectCryptError(() => ctx.CardGetProperty('Free Space', 1), 'SCARD_E_INVALID_PARAMETER', 'Free Space 1');
      await expectCryptError(() => ctx.CardGetProperty('Read Only Mode', 2), 'SCARD_E_INVALID_PARAMETER', 'Read Only Mode 2');
      await expectCryptError(() => ctx.CardGetProperty('Card Identifier', 1), 'SCARD_E_INVALID_PARAMETER', 'Card Identifier 1');
      await expectCryptError(() => ctx.CardGetProperty('Key Sizes', 0), 'SCARD_E_INVALID_PARAMETER', 'Key Sizes 0');
      await expectCryptError(() => ctx.CardGetProperty('Key Sizes', 9), 'SCARD_E_INVALID_PARAMETER', 'Key Sizes 9');
      await expectCryptError(() => ctx.CardGetProperty('PIN Information', 3), 'SCARD_E_INVALID_PARAMETER', 'PIN Information 3');
      await expectCryptError(() => ctx.CardGetProperty('PIN Information', 9), 'SCARD_E_INVALID_PARAMETER', 'PIN Information 9');
      await expectCryptError(() => ctx.CardGetProperty('PIN Strength Verify', 5), 'SCARD_E_INVALID_PARAMETER', 'PIN Strength Verify 5');
      await expectCryptError(() => ctx.CardGetProperty('Algorithms', 0), 'SCARD_E_INVALID_PARAMETER', 'Algorithms 0');
    });

    it('an unknown property name is SCARD_E_INVALID_PARAMETER', async () => {
      await expectCryptError(() => ctx.CardGetProperty('No Such Property' as 'Free Space'), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardGetProperty('free space' as 'Free Space'), 'SCARD_E_INVALID_PARAMETER');
    });

    it('write-only properties cannot be read: SCARD_E_INVALID_PARAMETER', async () => {
      await expectCryptError(() => ctx.CardGetProperty('Parent Window'), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardGetProperty('PIN Context String'), 'SCARD_E_INVALID_PARAMETER');
    });
  });

  describe('CardSetProperty', () => {
    it('Parent Window and PIN Context String are accepted', async () => {
      await ctx.CardSetProperty('Parent Window', 0x1234);
      await ctx.CardSetProperty('PIN Context String', 'Sign the contract');
    });

    it('Read Only Mode, Card Identifier, Cache Mode, PIN Information cannot be set: SCARD_E_UNSUPPORTED_FEATURE', async () => {
      const cardid = await ctx.CardReadFile(null, 'cardid');
      await expectCryptError(() => ctx.CardSetProperty('Read Only Mode', true), 'SCARD_E_UNSUPPORTED_FEATURE');
      await expectCryptError(() => ctx.CardSetProperty('Card Identifier', Buffer.alloc(16)), 'SCARD_E_UNSUPPORTED_FEATURE');
      await expectCryptError(() => ctx.CardSetProperty('Cache Mode', 3), 'SCARD_E_UNSUPPORTED_FEATURE');
      await expectCryptError(() => ctx.CardSetProperty('Free Space', { dwVersion: 1, dwBytesAvailable: 0, dwKeyContainersAvailable: 0, dwMaxKeyContainers: 0 }), 'SCARD_E_UNSUPPORTED_FEATURE');
      assert.equal(await ctx.CardGetProperty('Read Only Mode'), false);
      assert.deepEqual(await ctx.CardReadFile(null, 'cardid'), cardid);
    });

    it('bad values, flags and names are SCARD_E_INVALID_PARAMETER', async () => {
      await expectCryptError(() => ctx.CardSetProperty('Parent Window', 'not a window' as unknown as number), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardSetProperty('PIN Context String', 42 as unknown as string), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardSetProperty('Parent Window', 1, 1), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardSetProperty('Nope' as 'Parent Window', 1), 'SCARD_E_INVALID_PARAMETER');
    });
  });

  describe('container properties, free space, capabilities', () => {
    before(async () => {
      await ctx.CardAuthenticatePin('user', pin(token.pin));
      await ctx.CardCreateContainer(0, 1, 3, 256);
    });

    it('CardGetContainerProperty "PIN Identifier" is ROLE_USER (1); "Container Info" equals CardGetContainerInfo', async () => {
      assert.equal(await ctx.CardGetContainerProperty(0, 'PIN Identifier'), 1);
      assert.deepEqual(await ctx.CardGetContainerProperty(0, 'Container Info'), await ctx.CardGetContainerInfo(0));
    });

    it('CardGetContainerProperty errors: empty index, bad flags, unknown name, Associated ECDH Key', async () => {
      await expectCryptError(() => ctx.CardGetContainerProperty(5, 'PIN Identifier'), 'SCARD_E_NO_KEY_CONTAINER');
      await expectCryptError(() => ctx.CardGetContainerProperty(0, 'PIN Identifier', 1), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardGetContainerProperty(0, 'Nope' as 'PIN Identifier'), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardGetContainerProperty(0, 'Associated ECDH Key'), 'SCARD_E_UNSUPPORTED_FEATURE');
    });

    it('CardQueryFreeSpace equals the Free Space property and counts containers down', async () => {
      const before = await ctx.CardQueryFreeSpace();
      assert.deepEqual(before, await ctx.CardGetProperty('Free Space'));
      await ctx.CardCreateContainer(1, 1, 3, 256);
      const after = await ctx.CardQueryFreeSpace();
      assert.equal(after.dwKeyContainersAvailable, before.dwKeyContainersAvailable - 1);
      assert.equal(after.dwMaxKeyContainers, before.dwMaxKeyContainers);
      await ctx.CardDeleteContainer(1);
      assert.equal((await ctx.CardQueryFreeSpace()).dwKeyContainersAvailable, before.dwKeyContainersAvailable);
      await expectCryptError(() => ctx.CardQueryFreeSpace(1), 'SCARD_E_INVALID_PARAMETER');
    });

    it('CardQueryCapabilities equals the Capabilities property; CardQueryKeySizes(9) is SCARD_E_INVALID_PARAMETER', async () => {
      assert.deepEqual(await ctx.CardQueryCapabilities(), await ctx.CardGetProperty('Capabilities'));
      await expectCryptError(() => ctx.CardQueryKeySizes(9), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardQueryKeySizes(AT_KEYEXCHANGE, 1), 'SCARD_E_INVALID_PARAMETER');
    });
  });
});
