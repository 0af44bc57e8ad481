/**
 * CryptExportKey / CryptImportKey on SoftHSM2 cards (E1–E5, K2, §3.1–§3.5): PUBLICKEYBLOB layout checked
 * against the token's key (graphene) and round-tripped byte for byte; SIMPLEBLOB wrapped for card keys
 * and for public keys the test owns (unwrapped here with node:crypto), unwrapped on the card; the
 * PLAINTEXTKEYBLOB of exportable keys; PRIVATEKEYBLOB refused on export and put onto the card on
 * import; every malformed blob, flag and handle refusal.
 */
import { strict as assert } from 'node:assert';
import crypto, { createCipheriv } from 'node:crypto';
import { CryptExportKey, CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import { CryptCreateHash, CryptHashData, CryptSignHash } from '../../csp-legacy/hashes.js';
import type { HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { capiPrivateKeyBlob, expectCryptError } from '../pkcs11-bridge/helpers.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_3DES, CALG_AES_128, CALG_AES_256, CALG_RC4, CALG_RSA_KEYX, CALG_RSA_SIGN, CALG_SHA_256, CRYPT_EXPORTABLE,
  CRYPT_IPSEC_HMAC_KEY, CRYPT_OAEP, CRYPT_SILENT, CRYPT_USER_PROTECTED, CRYPT_VERIFYCONTEXT, KP_ALGID, KP_KEYLEN, KP_PERMISSIONS, OPAQUEKEYBLOB,
  PLAINTEXTKEYBLOB, PRIVATEKEYBLOB, PUBLICKEYBLOB, RSA1, SIMPLEBLOB, newKeyPair, plaintextKeyBlobOf, publicKeyBlobOf, publicKeyOf,
  rawPrivateBlock, reversed, simpleBlobOf, tokenPrivateKeys, tokenRsaPublicKeys, unpadType2,
} from './key-test-helpers.js';

describe('csp-legacy: key blobs (CryptExportKey, CryptImportKey)', function () {
  const csp = cspFixture('csp-blobs', 1);
  const own = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const data = Buffer.from('wrapped session keys carry this');

  async function verifyContext(): Promise<HCRYPTPROV> {
    return csp.acquire(null, CRYPT_VERIFYCONTEXT);
  }

  describe('PUBLICKEYBLOB', () => {
    it('export: §3.2 layout, aiKeyAlg of the slot, modulus little-endian equal to the token\'s key; no card call needed', async () => {
      const name = csp.uniqueName();
      const prov = await csp.newContainer(name);
      const keyx = await CryptGenKey(prov, AT_KEYEXCHANGE, 1024 << 16);
      const sig = await CryptGenKey(prov, AT_SIGNATURE, 2048 << 16);
      const onToken = tokenRsaPublicKeys(csp.tokens[0]!.label, name);
      for (const [key, aiKeyAlg, bits] of [[keyx, CALG_RSA_KEYX, 1024], [sig, CALG_RSA_SIGN, 2048]] as const) {
        const blob = await CryptExportKey(key, null, PUBLICKEYBLOB, 0);
        assert.equal(blob.length, 20 + bits / 8);
        assert.deepEqual([blob[0], blob[1], blob.readUInt16LE(2), blob.readUInt32LE(4)], [PUBLICKEYBLOB, 2, 0, aiKeyAlg]);
        assert.deepEqual([blob.readUInt32LE(8), blob.readUInt32LE(12), blob.readUInt32LE(16)], [RSA1, bits, 65537]);
        const modulus = reversed(blob.subarray(20));
        assert.ok(onToken.some((k) => Buffer.from(k.export({ format: 'jwk' }).n!, 'base64url').equals(modulus)), 'the token holds this modulus');
      }
    });

    it('import: a public key in host memory that does not change the container (K2); export gives the same bytes back (E5)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      for (const aiKeyAlg of [CALG_RSA_KEYX, CALG_RSA_SIGN]) {
        const blob = publicKeyBlobOf(own.publicKey, aiKeyAlg);
        const pub = await CryptImportKey(prov, blob, null, 0);
        assert.ok(publicKeyOf(pub).equals(own.publicKey));
        assert.equal(await CryptGetKeyParam(pub, KP_ALGID), aiKeyAlg);
        assert.deepEqual(await CryptExportKey(pub, null, PUBLICKEYBLOB), blob);
        const padded = await CryptImportKey(prov, Buffer.concat([blob, Buffer.alloc(8, 0xee)]), null, 0);
        assert.deepEqual(await CryptExportKey(padded, null, PUBLICKEYBLOB), blob, 'trailing bytes ignored');
      }
      await expectCryptError(() => CryptGetUserKey(prov, AT_KEYEXCHANGE), 'NTE_NO_KEY', 'the exchange slot stays empty');
      assert.ok(publicKeyOf(await CryptGetUserKey(prov, AT_SIGNATURE)).equals(publicKeyOf(key)), 'the signature slot keeps its key');
      // A card key's blob imports too and exports identically.
      const cardBlob = await CryptExportKey(key, null, PUBLICKEYBLOB);
      assert.deepEqual(await CryptExportKey(await CryptImportKey(await verifyContext(), cardBlob), null, PUBLICKEYBLOB), cardBlob);
    });

    it('import refuses malformed blobs: short, version, reserved, magic, unknown bType (NTE_BAD_DATA / NTE_BAD_TYPE), aiKeyAlg (NTE_BAD_ALGID)', async () => {
      const prov = await verifyContext();
      const blob = publicKeyBlobOf(own.publicKey);
      const edit = (offset: number, write: (b: Buffer) => void): Buffer => { const b = Buffer.from(blob); write(b.subarray(offset)); return b; };
      const cases: [string, Buffer, string][] = [
        ['empty', Buffer.alloc(0), 'NTE_BAD_DATA'],
        ['7 bytes', blob.subarray(0, 7), 'NTE_BAD_DATA'],
        ['header only', blob.subarray(0, 20), 'NTE_BAD_DATA'],
        ['one byte short', blob.subarray(0, blob.length - 1), 'NTE_BAD_DATA'],
        ['bVersion 3', edit(1, (b) => { b[0] = 3; }), 'NTE_BAD_DATA'],
        ['reserved', edit(2, (b) => { b[0] = 1; }), 'NTE_BAD_DATA'],
        ['magic RSA2', edit(8, (b) => b.writeUInt32LE(0x32415352)), 'NTE_BAD_DATA'],
        ['bitlen 0', edit(12, (b) => b.writeUInt32LE(0)), 'NTE_BAD_DATA'],
        ['bitlen beyond the data', edit(12, (b) => b.writeUInt32LE(2048)), 'NTE_BAD_DATA'],
        ['exponent 0', edit(16, (b) => b.writeUInt32LE(0)), 'NTE_BAD_DATA'],
        ['bType 0x42', edit(0, (b) => { b[0] = 0x42; }), 'NTE_BAD_TYPE'],
        ['aiKeyAlg CALG_AES_256', edit(4, (b) => b.writeUInt32LE(CALG_AES_256)), 'NTE_BAD_ALGID'],
      ];
      for (const [what, bytes, code] of cases) await expectCryptError(() => CryptImportKey(prov, bytes, null, 0), code as never, what);
      await expectCryptError(() => CryptImportKey(prov, 'blob' as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptImportKey(prov, null as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptImportKey(prov, blob, null, CRYPT_OAEP), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptImportKey(prov, blob, null, 0x10000), 'NTE_BAD_FLAGS');
      const aes = await CryptGenKey(prov, CALG_AES_128, 0);
      await expectCryptError(() => CryptImportKey(prov, blob, aes, 0), 'NTE_BAD_KEY', 'a PUBLICKEYBLOB is not encrypted');
    });

    it('export refuses: a session key (NTE_BAD_KEY, E4), a non-null hExpKey (NTE_BAD_KEY), CRYPT_OAEP and unknown flags (NTE_BAD_FLAGS)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const aes = await CryptGenKey(prov, CALG_AES_256, CRYPT_EXPORTABLE);
      await expectCryptError(() => CryptExportKey(aes, null, PUBLICKEYBLOB), 'NTE_BAD_KEY');
      await expectCryptError(() => CryptExportKey(key, key, PUBLICKEYBLOB), 'NTE_BAD_KEY');
      await expectCryptError(() => CryptExportKey(key, null, PUBLICKEYBLOB, CRYPT_OAEP), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptExportKey(key, null, PUBLICKEYBLOB, 0x100), 'NTE_BAD_FLAGS');
    });
  });

  describe('PRIVATEKEYBLOB', () => {
    it('export is refused: card keys NTE_BAD_KEY_STATE (E2), public keys NTE_BAD_KEY_STATE, session keys NTE_BAD_KEY', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      await expectCryptError(() => CryptExportKey(key, null, PRIVATEKEYBLOB), 'NTE_BAD_KEY_STATE');
      const pub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey), null, CRYPT_EXPORTABLE);
      await expectCryptError(() => CryptExportKey(pub, null, PRIVATEKEYBLOB), 'NTE_BAD_KEY_STATE');
      await expectCryptError(async () => CryptExportKey(await CryptGenKey(prov, CALG_AES_128, CRYPT_EXPORTABLE), null, PRIVATEKEYBLOB), 'NTE_BAD_KEY');
    });

    it('import puts the key on the card in the slot aiKeyAlg names, replacing one there; it signs and decrypts there, and never comes back out', async () => {
      const { prov, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const keyx = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const sig = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const importedX = await CryptImportKey(prov, capiPrivateKeyBlob(keyx.privateKey, CALG_RSA_KEYX), null, 0);
      const importedS = await CryptImportKey(prov, capiPrivateKeyBlob(sig.privateKey, CALG_RSA_SIGN), null, 0);
      assert.equal(await CryptGetKeyParam(importedX, KP_ALGID), CALG_RSA_KEYX);
      assert.equal(await CryptGetKeyParam(importedS, KP_ALGID), CALG_RSA_SIGN);
      assert.equal(await CryptGetKeyParam(importedS, KP_KEYLEN), 2048);
      const onToken = tokenRsaPublicKeys(csp.tokens[0]!.label, name);
      assert.equal(onToken.length, 2, 'the generated exchange key was replaced, the signature key added');
      assert.ok(onToken.some((k) => k.equals(keyx.publicKey)) && onToken.some((k) => k.equals(sig.publicKey)));
      assert.ok(tokenPrivateKeys(csp.tokens[0]!.label, csp.tokens[0]!.pin, name).every((o) => o.sensitive === true && o.extractable === false));
      // A fresh context finds them.
      const again = await csp.acquire(name, CRYPT_SILENT);
      const x = await CryptGetUserKey(again, AT_KEYEXCHANGE);
      assert.ok(publicKeyOf(x).equals(keyx.publicKey));
      const ciphertext = reversed(crypto.publicEncrypt({ key: keyx.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, data));
      assert.deepEqual(await CryptDecrypt(x, null, true, 0, ciphertext), data);
      const hash = await CryptCreateHash(again, CALG_SHA_256);
      await CryptHashData(hash, data);
      assert.ok(crypto.verify('sha256', data, sig.publicKey, reversed(await CryptSignHash(hash, AT_SIGNATURE))));
      await expectCryptError(() => CryptExportKey(x, null, PRIVATEKEYBLOB), 'NTE_BAD_KEY_STATE');
    });

    it('import refuses: CRYPT_EXPORTABLE (NTE_BAD_FLAGS), inconsistent or truncated blobs (NTE_BAD_DATA), no container (NTE_BAD_KEYSET), verify-only (NTE_PERM)', async () => {
      const { prov, name } = await newKeyPair(csp, AT_SIGNATURE, 1024);
      const pair = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const blob = capiPrivateKeyBlob(pair.privateKey, CALG_RSA_KEYX);
      await expectCryptError(() => CryptImportKey(prov, blob, null, CRYPT_EXPORTABLE), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptImportKey(prov, blob, null, CRYPT_OAEP), 'NTE_BAD_FLAGS');
      const broken = Buffer.from(blob);
      broken[20 + 128 + 3] ^= 0x01; // a byte of prime1
      await expectCryptError(() => CryptImportKey(prov, broken, null, 0), 'NTE_BAD_DATA', 'p·q ≠ n');
      await expectCryptError(() => CryptImportKey(prov, blob.subarray(0, blob.length - 1), null, 0), 'NTE_BAD_DATA', 'truncated');
      const wrongAlg = Buffer.from(blob);
      wrongAlg.writeUInt32LE(CALG_AES_128, 4);
      await expectCryptError(() => CryptImportKey(prov, wrongAlg, null, 0), 'NTE_BAD_ALGID');
      await expectCryptError(async () => CryptImportKey(await verifyContext(), blob, null, 0), 'NTE_BAD_KEYSET');
      const verify = await csp.acquire(await csp.qualified(name), (CRYPT_VERIFYCONTEXT | CRYPT_SILENT) >>> 0);
      await expectCryptError(() => CryptImportKey(verify, blob, null, 0), 'NTE_PERM');
      await expectCryptError(() => CryptImportKey(prov, blob, null, CRYPT_USER_PROTECTED), 'NTE_SILENT_CONTEXT');
      await expectCryptError(() => CryptGetUserKey(prov, AT_KEYEXCHANGE), 'NTE_NO_KEY', 'nothing was imported');
    });
  });

  describe('SIMPLEBLOB', () => {
    it('export wraps an exportable session key for the card\'s exchange key (§3.4); import unwraps it on the card', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      for (const algId of [CALG_AES_128, CALG_AES_256, CALG_3DES]) {
        const session = await CryptGenKey(prov, algId, CRYPT_EXPORTABLE);
        const blob = await CryptExportKey(session, key, SIMPLEBLOB, 0);
        assert.equal(blob.length, 12 + 128);
        assert.deepEqual([blob[0], blob[1], blob.readUInt16LE(2), blob.readUInt32LE(4), blob.readUInt32LE(8)], [SIMPLEBLOB, 2, 0, algId, CALG_RSA_KEYX]);
        const imported = await CryptImportKey(prov, blob, key, 0);
        assert.equal(await CryptGetKeyParam(imported, KP_ALGID), algId);
        assert.equal(await CryptGetKeyParam(imported, KP_PERMISSIONS), 0x3b, 'imported without CRYPT_EXPORTABLE: not exportable');
        assert.deepEqual(await CryptDecrypt(imported, null, true, 0, await CryptEncrypt(session, null, true, 0, data)), data);
        // With CRYPT_OAEP on both sides.
        const oaep = await CryptExportKey(session, key, SIMPLEBLOB, CRYPT_OAEP);
        const viaOaep = await CryptImportKey(prov, oaep, key, CRYPT_OAEP | CRYPT_EXPORTABLE);
        assert.equal(await CryptGetKeyParam(viaOaep, KP_PERMISSIONS), 0x3f);
        assert.deepEqual(await CryptDecrypt(viaOaep, null, true, 0, await CryptEncrypt(session, null, true, 0, data)), data);
        await expectCryptError(() => CryptImportKey(prov, oaep, key, 0), 'NTE_BAD_DATA', 'OAEP block read as PKCS#1');
        await expectCryptError(() => CryptImportKey(prov, blob, key, CRYPT_OAEP), 'NTE_BAD_DATA', 'PKCS#1 block read as OAEP');
      }
    });

    it('wrapped for a public key the test owns: the block is PKCS#1 v1.5 type 2 of the raw key, little-endian', async () => {
      const prov = await verifyContext();
      const pub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey), null, 0);
      const session = await CryptGenKey(prov, CALG_AES_256, CRYPT_EXPORTABLE);
      const plain = await CryptExportKey(session, null, PLAINTEXTKEYBLOB);
      const raw = plain.subarray(12);
      const blob = await CryptExportKey(session, pub, SIMPLEBLOB);
      assert.deepEqual(unpadType2(rawPrivateBlock(own.privateKey, blob.subarray(12))), raw);
      const oaep = await CryptExportKey(session, pub, SIMPLEBLOB, CRYPT_OAEP);
      assert.deepEqual(crypto.privateDecrypt({ key: own.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, reversed(oaep.subarray(12))), raw);
      // The ciphertext the session key makes is AES-256-CBC with a zero IV under that raw key.
      const cipher = createCipheriv('aes-256-cbc', raw, Buffer.alloc(16));
      assert.deepEqual(await CryptEncrypt(session, null, true, 0, data), Buffer.concat([cipher.update(data), cipher.final()]));
    });

    it('export refuses: non-exportable (NTE_BAD_KEY_STATE, E3), no or a wrong wrapping key (NTE_BAD_PUBLIC_KEY), a key pair as hKey (NTE_BAD_KEY)', async () => {
      const { prov, key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const sig = await CryptGenKey(prov, AT_SIGNATURE, 1024 << 16);
      const session = await CryptGenKey(prov, CALG_AES_256, CRYPT_EXPORTABLE);
      const locked = await CryptGenKey(prov, CALG_AES_256, 0);
      await expectCryptError(() => CryptExportKey(locked, key, SIMPLEBLOB), 'NTE_BAD_KEY_STATE');
      await expectCryptError(() => CryptExportKey(session, null, SIMPLEBLOB), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptExportKey(session, sig, SIMPLEBLOB), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptExportKey(session, locked, SIMPLEBLOB), 'NTE_BAD_PUBLIC_KEY');
      const signPub = await CryptImportKey(prov, publicKeyBlobOf(own.publicKey, CALG_RSA_SIGN));
      await expectCryptError(() => CryptExportKey(session, signPub, SIMPLEBLOB), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptExportKey(key, key, SIMPLEBLOB), 'NTE_BAD_KEY');
      await expectCryptError(() => CryptExportKey(session, key, SIMPLEBLOB, 0x1), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptExportKey(session, {} as HCRYPTKEY, SIMPLEBLOB), 'ERROR_INVALID_PARAMETER');
    });

    it('import refuses: no card exchange key as hPubKey (NTE_BAD_PUBLIC_KEY), short or corrupt blobs (NTE_BAD_DATA), algorithms (NTE_BAD_ALGID), flags; trailing bytes are ignored', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const sig = await CryptGenKey(prov, AT_SIGNATURE, 1024 << 16);
      const [tokenKey] = tokenRsaPublicKeys(csp.tokens[0]!.label, name).filter((k) => k.equals(publicKeyOf(key)));
      const raw = crypto.randomBytes(16);
      const wrap = (payload: Buffer) => crypto.publicEncrypt({ key: tokenKey!, padding: crypto.constants.RSA_PKCS1_PADDING }, payload);
      const blob = simpleBlobOf(CALG_AES_128, wrap(raw));
      const pub = await CryptImportKey(prov, await CryptExportKey(key, null, PUBLICKEYBLOB));
      await expectCryptError(() => CryptImportKey(prov, blob, null, 0), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptImportKey(prov, blob, sig, 0), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptImportKey(prov, blob, pub, 0), 'NTE_BAD_PUBLIC_KEY', 'a public key cannot unwrap');
      await expectCryptError(() => CryptImportKey(prov, blob.subarray(0, 11), key, 0), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptImportKey(prov, blob.subarray(0, blob.length - 1), key, 0), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptImportKey(prov, simpleBlobOf(CALG_RC4, wrap(raw)), key, 0), 'NTE_BAD_ALGID');
      await expectCryptError(() => CryptImportKey(prov, simpleBlobOf(CALG_AES_256, wrap(raw)), key, 0), 'NTE_BAD_DATA', 'a 16-byte key for AES-256');
      const corrupt = Buffer.from(blob);
      corrupt[12] ^= 0x55;
      await expectCryptError(() => CryptImportKey(prov, corrupt, key, 0), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptImportKey(prov, blob, key, CRYPT_IPSEC_HMAC_KEY), 'NTE_BAD_FLAGS');
      const imported = await CryptImportKey(prov, Buffer.concat([blob, Buffer.alloc(8, 0xcc)]), key, 0);
      const cipher = createCipheriv('aes-128-cbc', raw, Buffer.alloc(16));
      assert.deepEqual(await CryptDecrypt(imported, null, true, 0, Buffer.concat([cipher.update(data), cipher.final()])), data);
    });

    it('unwrapping needs the PIN: silent without it NTE_SILENT_CONTEXT', async () => {
      const { key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const blob = await CryptExportKey(await CryptGenKey(await verifyContext(), CALG_AES_128, CRYPT_EXPORTABLE), key, SIMPLEBLOB);
      await csp.logout();
      try {
        const silent = await csp.acquire(name, CRYPT_SILENT);
        await expectCryptError(async () => CryptImportKey(silent, blob, await CryptGetUserKey(silent, AT_KEYEXCHANGE), 0), 'NTE_SILENT_CONTEXT');
      } finally {
        await csp.login();
      }
    });
  });

  describe('PLAINTEXTKEYBLOB and blob types', () => {
    it('CRYPT_USER_PROTECTED in a silent context: NTE_SILENT_CONTEXT for session keys (A10), ignored for a PUBLICKEYBLOB', async () => {
      const silent = await csp.acquire(null, (CRYPT_VERIFYCONTEXT | CRYPT_SILENT) >>> 0);
      await expectCryptError(() => CryptImportKey(silent, plaintextKeyBlobOf(CALG_AES_128, crypto.randomBytes(16)), null, CRYPT_USER_PROTECTED), 'NTE_SILENT_CONTEXT');
      const pub = await CryptImportKey(silent, publicKeyBlobOf(own.publicKey), null, CRYPT_USER_PROTECTED);
      assert.ok(publicKeyOf(pub).equals(own.publicKey));
      const loud = await verifyContext();
      assert.equal(await CryptGetKeyParam(await CryptImportKey(loud, plaintextKeyBlobOf(CALG_AES_128, crypto.randomBytes(16)), null, CRYPT_USER_PROTECTED), KP_ALGID), CALG_AES_128);
    });

    it('exports an exportable session key (§3.5) and imports it back (key bytes, length, CRYPT_EXPORTABLE)', async () => {
      const prov = await verifyContext();
      const raw = crypto.randomBytes(32);
      const blob = plaintextKeyBlobOf(CALG_AES_256, raw);
      const key = await CryptImportKey(prov, blob, null, CRYPT_EXPORTABLE);
      assert.deepEqual(await CryptExportKey(key, null, PLAINTEXTKEYBLOB), blob);
      const locked = await CryptImportKey(prov, blob, null, 0);
      await expectCryptError(() => CryptExportKey(locked, null, PLAINTEXTKEYBLOB), 'NTE_BAD_KEY_STATE');
      await expectCryptError(() => CryptExportKey(locked, null, SIMPLEBLOB), 'NTE_BAD_PUBLIC_KEY');
      await expectCryptError(() => CryptImportKey(prov, plaintextKeyBlobOf(CALG_AES_256, raw.subarray(0, 16)), null, 0), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptImportKey(prov, blob.subarray(0, blob.length - 1), null, 0), 'NTE_BAD_DATA');
      await expectCryptError(() => CryptImportKey(prov, plaintextKeyBlobOf(CALG_RC4, raw.subarray(0, 16)), null, 0), 'NTE_BAD_ALGID');
      await expectCryptError(() => CryptImportKey(prov, blob, null, CRYPT_OAEP), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptImportKey(prov, blob, key, 0), 'NTE_BAD_KEY');
      await expectCryptError(() => CryptExportKey(key, key, PLAINTEXTKEYBLOB), 'NTE_BAD_KEY');
    });

    it('key pairs have no PLAINTEXTKEYBLOB or SIMPLEBLOB (NTE_BAD_KEY); unknown and unoffered blob types are NTE_BAD_TYPE (E4)', async () => {
      const { key } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      await expectCryptError(() => CryptExportKey(key, null, PLAINTEXTKEYBLOB), 'NTE_BAD_KEY');
      for (const type of [0, OPAQUEKEYBLOB, 0xa, 0xb, 0x42]) await expectCryptError(() => CryptExportKey(key, null, type), 'NTE_BAD_TYPE', `type ${type}`);
      const prov = await verifyContext();
      const opaque = Buffer.from([OPAQUEKEYBLOB, 2, 0, 0, 0x10, 0x66, 0, 0, 1, 2, 3, 4]);
      await expectCryptError(() => CryptImportKey(prov, opaque, null, 0), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptExportKey(key, null, 'PUBLICKEYBLOB' as unknown as number), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptExportKey(null as unknown as HCRYPTKEY, null, PUBLICKEYBLOB), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptImportKey(key as unknown as HCRYPTPROV, opaque), 'ERROR_INVALID_PARAMETER');
    });
  });
});
