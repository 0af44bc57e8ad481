/**
 * NCryptEncrypt and NCryptDecrypt on a SoftHSM2 card: PKCS#1 v1.5, OAEP (SHA-1 and SHA-2, with and
 * without a label) and raw RSA. The private key never leaves the token, so decryption is checked on
 * ciphertexts node:crypto made with the public key graphene reads from the token (not one the code
 * under test produced), and encryption by the card decrypting it (and, for raw RSA, by equality with
 * node:crypto's result). Then every length and padding rule, every error path, silent contexts and
 * handles.
 */
import assert from 'node:assert/strict';
import crypto, { type KeyObject, randomBytes } from 'node:crypto';
import { CryptError } from '../../minidriver/errors.js';
import { NCryptImportKey } from '../../ksp/blobs.js';
import {
  NCRYPT_ALLOW_SIGNING_FLAG, NCRYPT_KEY_USAGE_PROPERTY, NCRYPT_MACHINE_KEY_FLAG, NCRYPT_NO_PADDING_FLAG, NCRYPT_PAD_OAEP_FLAG,
  NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG, NCRYPT_SILENT_FLAG,
} from '../../ksp/constants.js';
import { NCryptDecrypt, NCryptEncrypt } from '../../ksp/encryption.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import { NCryptCreatePersistedKey } from '../../ksp/keys.js';
import { NCryptGetProperty } from '../../ksp/properties.js';
import { NCryptFreeObject } from '../../ksp/provider.js';
import { ECC_MAGIC, eccPublicBlob, expectCryptError, graphenePublicKey, reversed, rsaPublicBlob } from '../pkcs11-bridge/helpers.js';
import { kspFixture } from './fixture.js';

const NONE = NCRYPT_NO_PADDING_FLAG;
const PKCS1 = NCRYPT_PAD_PKCS1_FLAG;
const OAEP = NCRYPT_PAD_OAEP_FLAG;
const SILENT = NCRYPT_SILENT_FLAG;
/** HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER): ncrypt.dll's answer to a NULL required pointer (N2). */
const NULL_REF_POINTER = 0x800706f4;
const NODE_HASH = { SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' } as const;

const modulusOf = (key: KeyObject): Buffer => Buffer.from(key.export({ format: 'jwk' }).n!, 'base64url');

function nodeOaep(publicKey: KeyObject, alg: keyof typeof NODE_HASH, label: Buffer | undefined, data: Buffer): Buffer {
  return crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: NODE_HASH[alg], ...(label ? { oaepLabel: label } : {}) }, data);
}

describe('ksp: NCryptEncrypt / NCryptDecrypt', function () {
  this.timeout(120_000);
  // Inside the describe: its hooks (the service's close) run before the suite-wide root hooks.
  const fx = kspFixture('ksp-crypt');
  const token = fx.tokens[0]!;

  interface CardKey { handle: NCryptKeyHandle; name: string; publicKey: KeyObject }
  const keys = new Map<string, CardKey>();
  const key = (id: string): CardKey => keys.get(id)!;

  before(async () => {
    let serial = 0;
    const make = async (id: string, algId: string, options: { bits?: number; legacyKeySpec?: number } = {}) => {
      const name = `crypt-${id}-${++serial}-${Date.now().toString(36)}`;
      const handle = await fx.newKey(algId, { ...options, name });
      keys.set(id, { handle, name, publicKey: algId === 'RSA' ? graphenePublicKey(token.label, name, 'RSA') : graphenePublicKey(token.label, name, 'EC', 256) });
    };
    await make('rsa1024', 'RSA', { bits: 1024 });
    await make('rsa2048', 'RSA', { bits: 2048 });
    await make('rsa-sig', 'RSA', { bits: 1024, legacyKeySpec: 2 /* AT_SIGNATURE */ });
    await make('ecdsa', 'ECDSA_P256');
    await make('ecdh', 'ECDH_P256');
  });

  describe('PKCS#1 v1.5', () => {
    for (const bits of [1024, 2048] as const) {
      it(`${bits}-bit: big-endian ciphertexts of the modulus length, randomized, that the card decrypts`, async () => {
        const k = key(`rsa${bits}`);
        const secret = randomBytes(32);
        const first = await NCryptEncrypt(k.handle, secret, null, PKCS1);
        const second = await NCryptEncrypt(k.handle, secret, null, PKCS1);
        assert.equal(first.length, bits / 8);
        assert.notDeepEqual(first, second, 'PKCS#1 v1.5 encryption is randomized (N23)');
        assert.deepEqual(await NCryptDecrypt(k.handle, first, null, PKCS1), secret);
        assert.deepEqual(await NCryptDecrypt(k.handle, second, null, PKCS1 | SILENT), secret);
        await expectCryptError(() => NCryptDecrypt(k.handle, reversed(first), null, PKCS1), 'NTE_BAD_DATA', 'little-endian is not the CNG order');
      });
    }

    it('a node:crypto ciphertext (publicEncrypt, RSA_PKCS1_PADDING) decrypts on the card', async () => {
      const k = key('rsa2048');
      const secret = randomBytes(48);
      const ciphertext = crypto.publicEncrypt({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
      assert.deepEqual(await NCryptDecrypt(k.handle, ciphertext, null, PKCS1), secret);
    });

    it('k − 11 bytes is the most it takes; an empty message works too', async () => {
      const k = key('rsa1024');
      const largest = randomBytes(117);
      assert.deepEqual(await NCryptDecrypt(k.handle, await NCryptEncrypt(k.handle, largest, null, PKCS1), null, PKCS1), largest);
      await expectCryptError(() => NCryptEncrypt(k.handle, randomBytes(118), null, PKCS1), 'NTE_INVALID_PARAMETER', 'k − 10 bytes');
      const empty = await NCryptDecrypt(k.handle, await NCryptEncrypt(k.handle, Buffer.alloc(0), null, PKCS1), null, PKCS1);
      assert.equal(empty.length, 0);
    });

    it('padding info is not read with PKCS#1 or no padding (only OAEP has any)', async () => {
      const k = key('rsa1024');
      const secret = randomBytes(16);
      const ciphertext = await NCryptEncrypt(k.handle, secret, { pszAlgId: 'NOT-A-HASH' }, PKCS1);
      assert.deepEqual(await NCryptDecrypt(k.handle, ciphertext, { pszAlgId: 'NOT-A-HASH' }, PKCS1), secret);
    });
  });

  describe('OAEP', () => {
    const label = Buffer.from('p11-ksp OAEP label');
    const cases = [
      { alg: 'SHA1', label: undefined }, { alg: 'SHA1', label }, { alg: 'SHA256', label: undefined }, { alg: 'SHA256', label },
      { alg: 'SHA384', label }, { alg: 'SHA512', label: undefined },
    ] as const;
    for (const c of cases) {
      it(`2048-bit, ${c.alg}, ${c.label ? 'with' : 'without'} a label: NCryptEncrypt and node:crypto ciphertexts decrypt on the card; another label or hash does not`, async () => {
        const k = key('rsa2048');
        const secret = randomBytes(32);
        const info = { pszAlgId: c.alg, ...(c.label ? { pbLabel: c.label } : {}) };
        const ours = await NCryptEncrypt(k.handle, secret, info, OAEP);
        assert.equal(ours.length, 256);
        assert.notDeepEqual(await NCryptEncrypt(k.handle, secret, info, OAEP), ours, 'OAEP is randomized');
        assert.deepEqual(await NCryptDecrypt(k.handle, ours, info, OAEP), secret, 'our ciphertext');
        const theirs = nodeOaep(k.publicKey, c.alg, c.label, secret);
        assert.deepEqual(await NCryptDecrypt(k.handle, theirs, info, OAEP), secret, "node:crypto's ciphertext");
        const otherLabel = { pszAlgId: c.alg, pbLabel: c.label ? Buffer.from('another label') : Buffer.from('a label') };
        await expectCryptError(() => NCryptDecrypt(k.handle, theirs, otherLabel, OAEP), 'NTE_BAD_DATA', 'another label');
        if (c.label) await expectCryptError(() => NCryptDecrypt(k.handle, theirs, { pszAlgId: c.alg }, OAEP), 'NTE_BAD_DATA', 'no label');
        const otherHash = c.alg === 'SHA256' ? 'SHA1' : 'SHA256';
        await expectCryptError(() => NCryptDecrypt(k.handle, theirs, { ...info, pszAlgId: otherHash }, OAEP), 'NTE_BAD_DATA', 'another hash');
      });
    }

    it('1024-bit, SHA-1: both ways, and lower-case algorithm ids', async () => {
      const k = key('rsa1024');
      const secret = randomBytes(20);
      assert.deepEqual(await NCryptDecrypt(k.handle, nodeOaep(k.publicKey, 'SHA1', undefined, secret), { pszAlgId: 'sha1' }, OAEP), secret);
      assert.deepEqual(await NCryptDecrypt(k.handle, await NCryptEncrypt(k.handle, secret, { pszAlgId: 'sha1' }, OAEP), { pszAlgId: 'SHA1' }, OAEP), secret);
    });

    it('k − 2·hLen − 2 bytes is the most it takes (nothing at all for SHA-512 with a 1024-bit key)', async () => {
      const k = key('rsa2048');
      const largest = randomBytes(256 - 64 - 2);
      assert.deepEqual(await NCryptDecrypt(k.handle, await NCryptEncrypt(k.handle, largest, { pszAlgId: 'SHA256' }, OAEP), { pszAlgId: 'SHA256' }, OAEP), largest);
      await expectCryptError(() => NCryptEncrypt(k.handle, randomBytes(191), { pszAlgId: 'SHA256' }, OAEP), 'NTE_INVALID_PARAMETER', 'one byte more');
      await expectCryptError(() => NCryptEncrypt(key('rsa1024').handle, Buffer.alloc(0), { pszAlgId: 'SHA512' }, OAEP), 'NTE_INVALID_PARAMETER', 'SHA-512, 1024-bit');
    });

    it('an empty label is no label', async () => {
      const k = key('rsa1024');
      const secret = randomBytes(16);
      const ciphertext = await NCryptEncrypt(k.handle, secret, { pszAlgId: 'SHA256', pbLabel: Buffer.alloc(0) }, OAEP);
      assert.deepEqual(await NCryptDecrypt(k.handle, ciphertext, { pszAlgId: 'SHA256' }, OAEP), secret);
    });
  });

  describe('no padding', () => {
    it('raw RSA of exactly k bytes below the modulus: the same ciphertext node:crypto makes, and the card gives the block back', async () => {
      for (const id of ['rsa1024', 'rsa2048']) {
        const k = key(id);
        const n = modulusOf(k.publicKey);
        const block = randomBytes(n.length);
        block[0] = n[0]! - 1; // below the modulus
        const ciphertext = await NCryptEncrypt(k.handle, block, null, NONE);
        assert.deepEqual(ciphertext, crypto.publicEncrypt({ key: k.publicKey, padding: crypto.constants.RSA_NO_PADDING }, block), `${id}: raw RSA is deterministic`);
        assert.deepEqual(await NCryptDecrypt(k.handle, ciphertext, null, NONE), block, `${id}: decrypts to the block, big-endian`);
        // A block with leading zero bytes keeps them: the result is always k bytes.
        const small = Buffer.alloc(n.length);
        small[n.length - 1] = 7;
        assert.deepEqual(await NCryptDecrypt(k.handle, await NCryptEncrypt(k.handle, small, null, NONE), null, NONE), small);
      }
    });

    it('a raw decryption shows the padding: 00 02 PS 00 ‖ M for PKCS#1, a leading 00 for OAEP', async () => {
      const k = key('rsa1024');
      const secret = randomBytes(24);
      const block = await NCryptDecrypt(k.handle, crypto.publicEncrypt({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret), null, NONE);
      assert.equal(block.length, 128);
      assert.deepEqual([block[0], block[1]], [0, 2]);
      assert.equal(block[128 - 24 - 1], 0);
      assert.ok(!block.subarray(2, 128 - 24 - 1).includes(0), 'PS has no zero byte');
      assert.deepEqual(block.subarray(128 - 24), secret);
      const oaep = await NCryptDecrypt(k.handle, nodeOaep(k.publicKey, 'SHA1', undefined, secret), null, NONE);
      assert.equal(oaep[0], 0);
    });

    it('input not exactly k bytes, or not below the modulus: NTE_INVALID_PARAMETER (N23)', async () => {
      const k = key('rsa1024');
      const n = modulusOf(k.publicKey);
      for (const [what, input] of [
        ['"Hello world" (12 bytes)', Buffer.from('Hello world\0')], ['k − 1 bytes', randomBytes(127)], ['k + 1 bytes', Buffer.concat([Buffer.alloc(1), randomBytes(128)])],
        ['empty', Buffer.alloc(0)], ['the modulus itself', n], ['all ones', Buffer.alloc(128, 0xff)],
      ] as const) {
        await expectCryptError(() => NCryptEncrypt(k.handle, input, null, NONE), 'NTE_INVALID_PARAMETER', what);
      }
      const nMinusOne = Buffer.from(n);
      nMinusOne[127]! -= 1; // n is odd
      assert.equal((await NCryptEncrypt(k.handle, nMinusOne, null, NONE)).length, 128, 'n − 1 is the largest input');
    });
  });

  describe('what does not decrypt', () => {
    it('a ciphertext decrypted with another padding: NTE_BAD_DATA, never garbage', async () => {
      const k = key('rsa1024');
      const secret = randomBytes(16);
      const pkcs1 = crypto.publicEncrypt({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
      await expectCryptError(() => NCryptDecrypt(k.handle, pkcs1, { pszAlgId: 'SHA1' }, OAEP), 'NTE_BAD_DATA', 'PKCS#1 as OAEP');
      // A signature-type block (00 01 FF… 00 ‖ M), encrypted raw, is no PKCS#1 encryption block.
      const type1 = Buffer.alloc(128, 0xff);
      type1[0] = 0;
      type1[1] = 1;
      type1[128 - 17] = 0;
      secret.copy(type1, 128 - 16);
      const raw = await NCryptEncrypt(k.handle, type1, null, NONE);
      await expectCryptError(() => NCryptDecrypt(k.handle, raw, null, PKCS1), 'NTE_BAD_DATA', 'type 1 block as PKCS#1');
      await expectCryptError(() => NCryptDecrypt(k.handle, raw, { pszAlgId: 'SHA256' }, OAEP), 'NTE_BAD_DATA', 'type 1 block as OAEP');
    });

    it("another key's ciphertext: NTE_BAD_DATA", async () => {
      const k = key('rsa1024');
      const other = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const secret = randomBytes(16);
      for (let i = 0; i < 3; i++) {
        const ciphertext = crypto.publicEncrypt({ key: other.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
        await expectCryptError(() => NCryptDecrypt(k.handle, ciphertext, { pszAlgId: 'SHA256' }, OAEP), 'NTE_BAD_DATA', `attempt ${i}`);
      }
    });

    it('a ciphertext not of the modulus length: NTE_INVALID_PARAMETER; not below the modulus: NTE_BAD_DATA', async () => {
      const k = key('rsa1024');
      const ciphertext = await NCryptEncrypt(k.handle, randomBytes(16), null, PKCS1);
      for (const [what, input] of [['one short', ciphertext.subarray(1)], ['one long', Buffer.concat([Buffer.alloc(1), ciphertext])], ['empty', Buffer.alloc(0)]] as const) {
        for (const flags of [PKCS1, NONE]) await expectCryptError(() => NCryptDecrypt(k.handle, input, null, flags), 'NTE_INVALID_PARAMETER', `${what}, flags ${flags}`);
      }
      await expectCryptError(() => NCryptDecrypt(k.handle, Buffer.alloc(128, 0xff), null, NONE), 'NTE_BAD_DATA', 'all ones');
      await expectCryptError(() => NCryptDecrypt(k.handle, modulusOf(k.publicKey), null, PKCS1), 'NTE_BAD_DATA', 'the modulus');
    });
  });

  describe('errors', () => {
    const secret = Buffer.from('Hello world\0');

    it('unknown flag bits: NTE_BAD_FLAGS, before any other check (N4)', async () => {
      const k = key('rsa1024');
      for (const flags of [NCRYPT_PAD_PSS_FLAG, 51342 /* WNT test_NCryptEncrypt */, NCRYPT_MACHINE_KEY_FLAG, 0x100, PKCS1 | 0x1000]) {
        await expectCryptError(() => NCryptEncrypt(k.handle, null as unknown as Uint8Array, null, flags), 'NTE_BAD_FLAGS', `encrypt, flags ${flags}`);
        await expectCryptError(() => NCryptDecrypt(k.handle, null as unknown as Uint8Array, null, flags), 'NTE_BAD_FLAGS', `decrypt, flags ${flags}`);
      }
      await expectCryptError(() => NCryptEncrypt(key('ecdsa').handle, secret, null, NCRYPT_PAD_PSS_FLAG), 'NTE_BAD_FLAGS', 'ECC key');
    });

    it('RSA needs exactly one padding flag: NTE_INVALID_PARAMETER', async () => {
      const k = key('rsa1024');
      const ciphertext = await NCryptEncrypt(k.handle, secret, null, PKCS1);
      for (const flags of [0, SILENT, PKCS1 | OAEP, NONE | PKCS1, NONE | OAEP | PKCS1]) {
        await expectCryptError(() => NCryptEncrypt(k.handle, secret, { pszAlgId: 'SHA1' }, flags), 'NTE_INVALID_PARAMETER', `encrypt, flags ${flags}`);
        await expectCryptError(() => NCryptDecrypt(k.handle, ciphertext, { pszAlgId: 'SHA1' }, flags), 'NTE_INVALID_PARAMETER', `decrypt, flags ${flags}`);
      }
    });

    it('OAEP padding info: required, with a SHA-1/SHA-2 hash and label bytes', async () => {
      const k = key('rsa1024');
      const ciphertext = nodeOaep(k.publicKey, 'SHA1', undefined, secret);
      const cases = [
        ['no padding info', null, 'NTE_INVALID_PARAMETER'], ['no pszAlgId', { pszAlgId: null }, 'NTE_INVALID_PARAMETER'],
        ['pszAlgId ""', { pszAlgId: '' }, 'NTE_INVALID_PARAMETER'], ['MD5', { pszAlgId: 'MD5' }, 'NTE_NOT_SUPPORTED'],
        ['unknown hash', { pszAlgId: 'SHA3_256' }, 'NTE_NOT_SUPPORTED'], ['label as text', { pszAlgId: 'SHA1', pbLabel: 'label' as unknown as Uint8Array }, 'NTE_INVALID_PARAMETER'],
      ] as const;
      for (const [what, info, code] of cases) {
        await expectCryptError(() => NCryptEncrypt(k.handle, secret, info, OAEP), code, `encrypt: ${what}`);
        await expectCryptError(() => NCryptDecrypt(k.handle, ciphertext, info, OAEP), code, `decrypt: ${what}`);
      }
    });

    it('a NULL input: HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER) (N2); bytes of another type: NTE_INVALID_PARAMETER', async () => {
      const k = key('rsa1024');
      for (const [what, action] of [
        ['encrypt', () => NCryptEncrypt(k.handle, null as unknown as Uint8Array, null, PKCS1)],
        ['decrypt', () => NCryptDecrypt(k.handle, undefined as unknown as Uint8Array, null, PKCS1)],
      ] as const) {
        const err = await action().then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof CryptError, `${what}: a CryptError`);
        assert.equal(err.code, NULL_REF_POINTER, `${what}: ${err.message}`);
      }
      await expectCryptError(() => NCryptEncrypt(k.handle, 'Hello' as unknown as Uint8Array, null, PKCS1), 'NTE_INVALID_PARAMETER', 'text');
      await expectCryptError(() => NCryptDecrypt(k.handle, [1, 2, 3] as unknown as Uint8Array, null, PKCS1), 'NTE_INVALID_PARAMETER', 'an array');
      const view = new Uint8Array(await NCryptEncrypt(k.handle, new Uint8Array(secret), null, PKCS1));
      assert.deepEqual(await NCryptDecrypt(k.handle, view, null, PKCS1), secret, 'plain Uint8Arrays work');
    });

    it('ECC keys neither encrypt nor decrypt: NTE_NOT_SUPPORTED', async () => {
      for (const id of ['ecdsa', 'ecdh']) {
        await expectCryptError(() => NCryptEncrypt(key(id).handle, secret, null, PKCS1), 'NTE_NOT_SUPPORTED', `${id}: encrypt`);
        await expectCryptError(() => NCryptDecrypt(key(id).handle, Buffer.alloc(64), null, PKCS1), 'NTE_NOT_SUPPORTED', `${id}: decrypt`);
      }
      const jwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
      const imported = await NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, eccPublicBlob(ECC_MAGIC.ECDH[256].pub, 256, Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')));
      await expectCryptError(() => NCryptEncrypt(imported, secret, null, PKCS1), 'NTE_NOT_SUPPORTED', 'imported ECC key');
      await NCryptFreeObject(imported);
    });

    it('the AT_SIGNATURE key, whose usage is signing only: NTE_PERM for both calls', async () => {
      const k = key('rsa-sig');
      assert.equal(await NCryptGetProperty(k.handle, NCRYPT_KEY_USAGE_PROPERTY), NCRYPT_ALLOW_SIGNING_FLAG, 'Key Usage says so');
      await expectCryptError(() => NCryptEncrypt(k.handle, secret, null, PKCS1), 'NTE_PERM', 'encrypt');
      const ciphertext = crypto.publicEncrypt({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
      await expectCryptError(() => NCryptDecrypt(k.handle, ciphertext, null, PKCS1), 'NTE_PERM', 'decrypt');
    });

    it('a key not finalized: NTE_BAD_KEY_STATE (N11); an imported public key encrypts for the card but cannot decrypt: NTE_NOT_SUPPORTED', async () => {
      const pending = await NCryptCreatePersistedKey(fx.prov, 'RSA', `crypt-pending-${Date.now().toString(36)}`, 0, SILENT);
      await expectCryptError(() => NCryptEncrypt(pending, secret, null, PKCS1), 'NTE_BAD_KEY_STATE', 'encrypt');
      await expectCryptError(() => NCryptDecrypt(pending, Buffer.alloc(256), null, PKCS1), 'NTE_BAD_KEY_STATE', 'decrypt');
      await NCryptFreeObject(pending);
      const k = key('rsa2048');
      const imported = await NCryptImportKey(fx.prov, null, 'RSAPUBLICBLOB', null, rsaPublicBlob(k.publicKey));
      const ciphertext = await NCryptEncrypt(imported, secret, { pszAlgId: 'SHA256' }, OAEP);
      await expectCryptError(() => NCryptDecrypt(imported, ciphertext, { pszAlgId: 'SHA256' }, OAEP), 'NTE_NOT_SUPPORTED', 'decrypt with a public key');
      assert.deepEqual(await NCryptDecrypt(k.handle, ciphertext, { pszAlgId: 'SHA256' }, OAEP), secret, 'the card key decrypts it');
      await NCryptFreeObject(imported);
    });

    it('handles: a provider handle, null, a stranger, a freed key handle → NTE_INVALID_HANDLE (N1)', async () => {
      const freed = await fx.newKey('RSA', { bits: 1024 });
      await NCryptFreeObject(freed);
      for (const [what, h] of [['provider', fx.prov], ['null', null], ['undefined', undefined], ['number', 0], ['freed', freed]] as const) {
        await expectCryptError(() => NCryptEncrypt(h as unknown as NCryptKeyHandle, secret, null, PKCS1), 'NTE_INVALID_HANDLE', `encrypt: ${what}`);
        await expectCryptError(() => NCryptDecrypt(h as unknown as NCryptKeyHandle, Buffer.alloc(128), null, PKCS1), 'NTE_INVALID_HANDLE', `decrypt: ${what}`);
      }
    });

    it('silent with no PIN cached: decrypting is NTE_SILENT_CONTEXT; encrypting needs no PIN', async () => {
      const k = key('rsa1024');
      await fx.logout();
      let ciphertext: Buffer;
      try {
        ciphertext = await NCryptEncrypt(k.handle, secret, null, PKCS1 | SILENT);
        await expectCryptError(() => NCryptDecrypt(k.handle, ciphertext, null, PKCS1 | SILENT), 'NTE_SILENT_CONTEXT', 'flag');
        await expectCryptError(() => NCryptDecrypt(k.handle, ciphertext, null, PKCS1), 'NTE_SILENT_CONTEXT', 'key made silently');
      } finally {
        await fx.login();
      }
      assert.deepEqual(await NCryptDecrypt(k.handle, ciphertext, null, PKCS1 | SILENT), secret, 'decrypts once the PIN is cached');
    });
  });
});
