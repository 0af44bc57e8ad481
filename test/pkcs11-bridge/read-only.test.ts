import assert from 'node:assert/strict';
import crypto, { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { configurePinCounterShim, generateKeyPair } from '../rigs/index.js';
import {
  CKO, digest, expectCryptError, grapheneObjects, graphenePublicKey, makeToken, newDriver, openContext, pin, readCmap, reversed,
  SOFTHSM2_MODULE,
} from './helpers.js';

// SoftHSM2 cannot make a token write-protected (no setting sets CKF_WRITE_PROTECTED; as root a chmod
// of the token directory changes nothing). So the token refuses data objects through the pin-counter
// shim's fault injection: every C_CreateObject returns CKR_TOKEN_WRITE_PROTECTED (0xE2), as a
// read-only card's module would. The key pair comes from pkcs11-tool on SoftHSM2 directly.
const token = makeToken('br-readonly');

describe('pkcs11-bridge: a token that refuses data objects is a read-only card with a synthesised file system', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  before(async () => {
    generateKeyPair({ modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin }, { keyType: 'rsa:2048', id: 'c3', label: 'ro-key' });
    const setup = configurePinCounterShim({ failAfter: [{ after: 0, ckr: pkcs11js.CKR_TOKEN_WRITE_PROTECTED, function: 'C_CreateObject' }] });
    driver = newDriver(setup.modulePath);
    ctx = await openContext(driver, token.label);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
    process.env.P11KSP_SHIM_FAIL_AFTER = '';
  });

  it('CP_CARD_READ_ONLY is TRUE; no key generation, no import, no space, no enrollment, no global cache', async () => {
    assert.equal(await ctx.CardGetProperty('Read Only Mode'), true);
    assert.equal((await ctx.CardQueryCapabilities()).fKeyGen, false);
    assert.equal(await ctx.CardGetProperty('Key Import Support'), 0);
    assert.equal(await ctx.CardGetProperty('Supports Windows x.509 Enrollment'), false);
    assert.notEqual(await ctx.CardGetProperty('Cache Mode'), 1, 'GLOBAL_CACHE needs a writable cardcf');
    const space = await ctx.CardQueryFreeSpace();
    assert.equal(space.dwBytesAvailable, 0);
    assert.equal(space.dwKeyContainersAvailable, 0);
  });

  it('cardid is derived from the token serial (its hex bytes repeated to 16), also as CP_CARD_GUID', async () => {
    const serialBytes = Buffer.from(token.serial, 'hex');
    assert.equal(serialBytes.length, token.serial.length / 2, 'SoftHSM2 serials are hex');
    const expected = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) expected[i] = serialBytes[i % serialBytes.length]!;
    assert.deepEqual(await ctx.CardReadFile(null, 'cardid'), expected);
    assert.deepEqual(await ctx.CardGetProperty('Card Identifier'), expected);
  });

  it('has the mandatory files: cardcf 6 zero bytes, cardapps "mscp", a synthesised cmapfile with one record for the key', async () => {
    assert.deepEqual(await ctx.CardReadFile(null, 'cardcf'), Buffer.alloc(6));
    assert.deepEqual(await ctx.CardReadFile(null, 'cardapps'), Buffer.from('6d73637000000000', 'hex'));
    const cmap = await ctx.CardReadFile('mscp', 'cmapfile');
    assert.equal(cmap.length, 86, 'one record');
    const [record] = await readCmap(ctx);
    assert.equal(record!.name, 'ro-key');
    assert.equal(record!.flags, 0x03, 'valid and default');
    assert.equal(record!.keyxBits, 2048, 'pkcs11-tool\'s RSA key decrypts: the key-exchange slot');
    assert.equal(record!.sigBits, 0);
    const root = await ctx.CardEnumFiles(null);
    for (const name of ['cardid', 'cardcf', 'cardapps', 'mscp']) assert.ok(root.includes(name), `${name} in ${root}`);
    assert.ok((await ctx.CardEnumFiles('mscp')).includes('cmapfile'));
  });

  it('writes are SCARD_E_UNSUPPORTED_FEATURE, and nothing reaches the token', async () => {
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await expectCryptError(() => ctx.CardWriteFile(null, 'cardcf', 0, Buffer.from('010100000000', 'hex')), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardWriteFile');
    await expectCryptError(() => ctx.CardWriteFile('mscp', 'cmapfile', 0, Buffer.alloc(86)), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardWriteFile cmapfile');
    await expectCryptError(() => ctx.CardCreateFile('mscp', 'newfile', 0, 1), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardCreateFile');
    await expectCryptError(() => ctx.CardDeleteFile('mscp', 'cmapfile'), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardDeleteFile');
    await expectCryptError(() => ctx.CardCreateDirectory('newdir', 1), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardCreateDirectory');
    await expectCryptError(() => ctx.CardCreateContainer(1, 1, 1, 2048), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardCreateContainer');
    await expectCryptError(() => ctx.CardDeleteContainer(0), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardDeleteContainer');
    await expectCryptError(() => ctx.CardSetProperty('Read Only Mode', false), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardSetProperty');
    await ctx.CardSetProperty('Parent Window', 7);
    await ctx.CardSetProperty('PIN Context String', 'read-only card');
    const objects = grapheneObjects(token.label, token.pin);
    assert.equal(objects.filter((o) => o.cls === CKO.DATA).length, 0, 'no data object was created');
    assert.deepEqual(objects.map((o) => o.cls).sort(), [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY].sort(), 'the key pair is still there');
    assert.deepEqual(await ctx.CardReadFile(null, 'cardcf'), Buffer.alloc(6));
  });

  it('still signs and decrypts with its key', async () => {
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    const publicKey = graphenePublicKey(token.label, 'ro-key', 'RSA');
    const message = randomBytes(40);
    const signature = await ctx.CardSignData({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: 1, dwSigningFlags: 0, aiHashAlg: 0x800c, pbData: digest('sha256', message) });
    assert.ok(crypto.verify('sha256', message, publicKey, reversed(signature)));
    const secret = randomBytes(16);
    const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
    assert.deepEqual(await ctx.CardRSADecrypt({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: 1, pbData: reversed(ciphertext), dwPaddingType: 2 }), secret);
    const info = await ctx.CardGetContainerInfo(0);
    assert.ok(info.pbKeyExPublicKey);
    assert.equal(info.pbSigPublicKey, null);
  });

  it('a second context of the read-only card sees the same synthesised cmapfile and cardid', async () => {
    const second = await openContext(driver, token.label);
    assert.deepEqual(await second.CardReadFile('mscp', 'cmapfile'), await ctx.CardReadFile('mscp', 'cmapfile'));
    assert.deepEqual(await second.CardReadFile(null, 'cardid'), await ctx.CardReadFile(null, 'cardid'));
    await second.CardDeleteContext();
  });
});
