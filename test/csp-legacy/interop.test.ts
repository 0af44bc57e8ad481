/**
 * The CryptoAPI front end against independent implementations, on SoftHSM2 cards:
 *  - PUBLICKEYBLOBs read by `openssl rsa -pubin -inform MSBLOB`, equal to the token's key (graphene);
 *  - CryptSignHash signatures reversed and verified by node:crypto and `openssl pkeyutl -verify`;
 *  - RSA ciphertexts made by node:crypto, reversed, decrypted on the card by CryptDecrypt;
 *  - a SIMPLEBLOB written here byte by byte from §3.4 around node:crypto's publicEncrypt, imported, and
 *    decrypting AES-256-CBC data node:crypto made; the hybrid flow (AES-256 session key, SIMPLEBLOB,
 *    CBC data) end to end, as the smart card walk-through does it;
 *  - one card, two front ends: a container made through CryptoAPI used through CNG, and a key made
 *    through CNG (legacy key spec AT_KEYEXCHANGE) used through CryptoAPI.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import crypto, { createCipheriv, createDecipheriv, createHash, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CryptExportKey, CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import { CryptCreateHash, CryptHashData, CryptSetHashParam, CryptSignHash, CryptVerifySignature } from '../../csp-legacy/hashes.js';
import type { HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { NCryptExportKey } from '../../ksp/blobs.js';
import { NCRYPT_LENGTH_PROPERTY, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_SILENT_FLAG } from '../../ksp/constants.js';
import { NCryptDecrypt } from '../../ksp/encryption.js';
import { NCryptCreatePersistedKey, NCryptFinalizeKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptSetProperty } from '../../ksp/properties.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import { cspFixture } from './fixture.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_AES_256, CALG_RSA_KEYX, CALG_SHA_256, CRYPT_EXPORTABLE, CRYPT_MACHINE_KEYSET, CRYPT_NOHASHOID,
  CRYPT_SILENT, HASHES, HP_HASHVAL, KP_ALGID, PUBLICKEYBLOB, SIMPLEBLOB, newKeyPair, publicKeyOf, reversed, tokenRsaPublicKeys,
} from './key-test-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'p11ksp-csp-interop-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let serial = 0;

function openssl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(run.error, undefined, `openssl runs: ${String(run.error)}`);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The public key openssl reads from a PUBLICKEYBLOB (MSBLOB), as PEM. */
function opensslReadsMsblob(blob: Buffer): KeyObject {
  const file = join(tmp, `k${++serial}.blob`);
  writeFileSync(file, blob);
  const run = openssl(['rsa', '-pubin', '-inform', 'MSBLOB', '-in', file, '-pubout', '-outform', 'PEM']);
  assert.equal(run.status, 0, `openssl reads the MSBLOB: ${run.stderr}`);
  return crypto.createPublicKey(run.stdout);
}

/** `openssl pkeyutl -verify` of a big-endian PKCS#1 v1.5 signature over a digest. */
function opensslVerifies(publicKey: KeyObject, digest: Buffer, signatureBE: Buffer, digestName: string | null): boolean {
  const base = join(tmp, `v${++serial}`);
  writeFileSync(`${base}.pem`, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(`${base}.in`, digest);
  writeFileSync(`${base}.sig`, signatureBE);
  const options = ['-pkeyopt', 'rsa_padding_mode:pkcs1', ...(digestName ? ['-pkeyopt', `digest:${digestName}`] : [])];
  const run = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', `${base}.pem`, '-in', `${base}.in`, '-sigfile', `${base}.sig`, ...options]);
  return run.status === 0 && run.stdout.includes('Signature Verified Successfully');
}

describe('csp-legacy: interoperability', function () {
  const csp = cspFixture('csp-interop', 1);
  const label = (): string => csp.tokens[0]!.label;

  it('PUBLICKEYBLOBs of both slots are read by `openssl rsa -pubin -inform MSBLOB` as the token\'s keys', async () => {
    const name = csp.uniqueName();
    const prov = await csp.newContainer(name);
    const keys = [await CryptGenKey(prov, AT_KEYEXCHANGE, 2048 << 16), await CryptGenKey(prov, AT_SIGNATURE, 1024 << 16)];
    const onToken = tokenRsaPublicKeys(label(), name);
    assert.equal(onToken.length, 2);
    for (const key of keys) {
      const read = opensslReadsMsblob(await CryptExportKey(key, null, PUBLICKEYBLOB));
      assert.ok(onToken.some((k) => k.equals(read)), 'openssl reads a key the token holds');
      assert.ok(read.equals(publicKeyOf(key)));
    }
    assert.ok(!onToken[0]!.equals(onToken[1]!));
  });

  it('CryptSignHash signatures, reversed, verify with node:crypto and `openssl pkeyutl -verify` (every hash, both slots, CRYPT_NOHASHOID)', async () => {
    const message = Buffer.from('interoperable signature');
    for (const spec of [AT_KEYEXCHANGE, AT_SIGNATURE]) {
      const { prov, name } = await newKeyPair(csp, spec, 1024);
      const [tokenKey] = tokenRsaPublicKeys(label(), name);
      for (const h of HASHES) {
        const hash = await CryptCreateHash(prov, h.algId);
        await CryptHashData(hash, message);
        const signature = await CryptSignHash(hash, spec);
        const digest = createHash(h.node).update(message).digest();
        assert.ok(crypto.verify(h.node, message, tokenKey!, reversed(signature)), `node:crypto, ${h.node}`);
        assert.ok(opensslVerifies(tokenKey!, digest, reversed(signature), h.node), `openssl, ${h.node}`);
        assert.ok(!opensslVerifies(tokenKey!, digest, signature, h.node), `openssl refuses it unreversed, ${h.node}`);
      }
      const bare = await CryptCreateHash(prov, CALG_SHA_256);
      await CryptHashData(bare, message);
      const noOid = await CryptSignHash(bare, spec, null, CRYPT_NOHASHOID);
      assert.ok(opensslVerifies(tokenKey!, createHash('sha256').update(message).digest(), reversed(noOid), null), 'openssl, no DigestInfo');
    }
  });

  it('RSA ciphertexts made by node:crypto with the token\'s key, reversed, decrypt on the card', async () => {
    const { key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 2048);
    const [tokenKey] = tokenRsaPublicKeys(label(), name);
    for (const size of [0, 1, 100, 256 - 11]) {
      const plaintext = crypto.randomBytes(size);
      const ciphertext = crypto.publicEncrypt({ key: tokenKey!, padding: crypto.constants.RSA_PKCS1_PADDING }, plaintext);
      assert.deepEqual(await CryptDecrypt(key, null, true, 0, reversed(ciphertext)), plaintext, `${size} bytes`);
    }
  });

  it('a SIMPLEBLOB written here from §3.4 with node:crypto imports through the card and decrypts node:crypto\'s AES-256-CBC data', async () => {
    const { prov, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
    const [tokenKey] = tokenRsaPublicKeys(label(), name);
    const aesKey = crypto.randomBytes(32);
    const wrapped = crypto.publicEncrypt({ key: tokenKey!, padding: crypto.constants.RSA_PKCS1_PADDING }, aesKey);
    const header = Buffer.alloc(12);
    header[0] = 0x01; // SIMPLEBLOB
    header[1] = 0x02; // CUR_BLOB_VERSION
    header.writeUInt16LE(0, 2);
    header.writeUInt32LE(0x6610, 4); // CALG_AES_256
    header.writeUInt32LE(0xa400, 8); // CALG_RSA_KEYX
    const blob = Buffer.concat([header, Buffer.from(wrapped).reverse()]);
    const session = await CryptImportKey(prov, blob, await CryptGetUserKey(prov, AT_KEYEXCHANGE), 0);
    assert.equal(await CryptGetKeyParam(session, KP_ALGID), CALG_AES_256);
    const plaintext = crypto.randomBytes(1000);
    const cipher = createCipheriv('aes-256-cbc', aesKey, Buffer.alloc(16));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    assert.deepEqual(await CryptDecrypt(session, null, true, 0, ciphertext), plaintext);
    // Piecewise too (whole blocks, then the final one), as an application streaming a file does.
    const session2 = await CryptImportKey(prov, blob, await CryptGetUserKey(prov, AT_KEYEXCHANGE), 0);
    const first = await CryptDecrypt(session2, null, false, 0, ciphertext.subarray(0, 512));
    const rest = await CryptDecrypt(session2, null, true, 0, ciphertext.subarray(512));
    assert.deepEqual(Buffer.concat([first, rest]), plaintext);
  });

  it('the hybrid flow: silent probe, create on NTE_BAD_KEYSET, exchange key, AES-256 session key + SIMPLEBLOB + CBC data, decrypted on the card', async () => {
    const name = csp.uniqueName();
    // The walk-through: open silently; on NTE_BAD_KEYSET create the container, then the exchange key.
    let prov: HCRYPTPROV;
    try {
      prov = await csp.acquire(name, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
      assert.fail('the container does not exist yet');
    } catch (err) {
      assert.equal((err as { codeName?: string }).codeName, 'NTE_BAD_KEYSET');
      prov = await csp.newContainer(name);
    }
    const exchange = await CryptGenKey(prov, AT_KEYEXCHANGE, 1024 << 16);
    const plaintext = Buffer.from('Here is some sample data!'.repeat(40));
    const aes = await CryptGenKey(prov, CALG_AES_256, CRYPT_EXPORTABLE);
    const ciphertext = await CryptEncrypt(aes, null, true, 0, plaintext);
    const simple = await CryptExportKey(aes, exchange, SIMPLEBLOB, 0);
    assert.equal(simple.readUInt32LE(8), CALG_RSA_KEYX);
    await CryptReleaseContext(prov);
    // Later, elsewhere: only the card (and its PIN) can recover the key.
    const reader = await csp.acquire(name, CRYPT_SILENT);
    const recovered = await CryptImportKey(reader, simple, await CryptGetUserKey(reader, AT_KEYEXCHANGE), 0);
    assert.deepEqual(await CryptDecrypt(recovered, null, true, 0, ciphertext), plaintext);
    // The key inside the SIMPLEBLOB is the one node:crypto needs for the CBC data: unwrap it with the card
    // through a second import made exportable, and decrypt with node:crypto.
    const exportable = await CryptImportKey(reader, simple, await CryptGetUserKey(reader, AT_KEYEXCHANGE), CRYPT_EXPORTABLE);
    const raw = (await CryptExportKey(exportable, null, 0x8 /* PLAINTEXTKEYBLOB */)).subarray(12);
    const decipher = createDecipheriv('aes-256-cbc', raw, Buffer.alloc(16));
    assert.deepEqual(Buffer.concat([decipher.update(ciphertext), decipher.final()]), plaintext);
  });

  describe('one card, two front ends', () => {
    it('a container made through CryptoAPI opens through CNG by its name; CNG signs, CryptoAPI verifies (and back)', async () => {
      const { prov, key, name } = await newKeyPair(csp, AT_KEYEXCHANGE, 1024);
      const ncrypt = await NCryptOpenStorageProvider(null);
      try {
        const cngKey = await NCryptOpenKey(ncrypt, name, AT_KEYEXCHANGE, NCRYPT_SILENT_FLAG);
        const message = Buffer.from('signed by CNG');
        const digest = createHash('sha256').update(message).digest();
        const cngSignature = await NCryptSignHash(cngKey, { pszAlgId: 'SHA256' }, digest, NCRYPT_PAD_PKCS1_FLAG | NCRYPT_SILENT_FLAG);
        const hash = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptSetHashParam(hash, HP_HASHVAL, digest);
        await CryptVerifySignature(hash, reversed(cngSignature), key); // CNG big-endian, CryptoAPI little-endian
        // CryptoAPI signs, CNG verifies.
        const mine = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptHashData(mine, message);
        const capiSignature = await CryptSignHash(mine, AT_KEYEXCHANGE);
        await NCryptVerifySignature(cngKey, { pszAlgId: 'SHA256' }, digest, reversed(capiSignature), NCRYPT_PAD_PKCS1_FLAG);
        // CryptoAPI encrypts, CNG decrypts on the card.
        const secret = Buffer.from('for CNG');
        assert.deepEqual(await NCryptDecrypt(cngKey, reversed(await CryptEncrypt(key, null, true, 0, secret)), null, NCRYPT_PAD_PKCS1_FLAG | NCRYPT_SILENT_FLAG), secret);
        await NCryptFreeObject(cngKey);
      } finally {
        await NCryptFreeObject(ncrypt);
      }
    });

    it('a key made through CNG (RSA, legacy key spec AT_KEYEXCHANGE) is CryptGetUserKey(AT_KEYEXCHANGE) of its container', async () => {
      const name = csp.uniqueName();
      const ncrypt = await NCryptOpenStorageProvider(null);
      try {
        const cngKey = await NCryptCreatePersistedKey(ncrypt, 'RSA', name, AT_KEYEXCHANGE, NCRYPT_SILENT_FLAG);
        await NCryptSetProperty(cngKey, NCRYPT_LENGTH_PROPERTY, 1024);
        await NCryptFinalizeKey(cngKey, NCRYPT_SILENT_FLAG);
        const prov = await csp.acquire(name, CRYPT_SILENT);
        const key = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
        assert.equal(await CryptGetKeyParam(key, KP_ALGID), CALG_RSA_KEYX);
        assert.deepEqual(await CryptExportKey(key, null, PUBLICKEYBLOB), await NCryptExportKey(cngKey, null, 'CAPIPUBLICBLOB', null), 'the same PUBLICKEYBLOB from both front ends');
        const [tokenKey] = tokenRsaPublicKeys(label(), name);
        assert.ok(publicKeyOf(key).equals(tokenKey!));
        // CryptoAPI signs with it; CNG verifies. CryptoAPI encrypts; CNG decrypts, and the other way round.
        const message = Buffer.from('made by CNG, used by CryptoAPI');
        const hash = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptHashData(hash, message);
        const signature = await CryptSignHash(hash, AT_KEYEXCHANGE);
        await NCryptVerifySignature(cngKey, { pszAlgId: 'SHA256' }, createHash('sha256').update(message).digest(), reversed(signature), NCRYPT_PAD_PKCS1_FLAG);
        const ciphertext = await CryptEncrypt(key, null, true, 0, message);
        assert.deepEqual(await NCryptDecrypt(cngKey, reversed(ciphertext), null, NCRYPT_PAD_PKCS1_FLAG | NCRYPT_SILENT_FLAG), message);
        const cngCipher = crypto.publicEncrypt({ key: tokenKey!, padding: crypto.constants.RSA_PKCS1_PADDING }, message);
        assert.deepEqual(await CryptDecrypt(key, null, true, 0, reversed(cngCipher)), message);
        await expectNoSignatureKey(prov);
        await NCryptFreeObject(cngKey);
      } finally {
        await NCryptFreeObject(ncrypt);
      }
    });
  });
});

async function expectNoSignatureKey(prov: HCRYPTPROV): Promise<void> {
  await assert.rejects(() => CryptGetUserKey(prov, AT_SIGNATURE), (err: { codeName?: string }) => err.codeName === 'NTE_NO_KEY');
}
