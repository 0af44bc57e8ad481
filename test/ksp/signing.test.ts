/**
 * NCryptSignHash and NCryptVerifySignature on a SoftHSM2 card: RSA PKCS#1 v1.5 (every hash, and raw),
 * PSS with several salts, ECDSA on the three curves. Every signature is checked three ways — by
 * node:crypto and by `openssl pkeyutl` against the public key graphene reads from the token (never one
 * the code under test produced), and by NCryptVerifySignature — and the verifier is checked against
 * node:crypto's own signatures under imported public keys. Then every error path, silent contexts,
 * handles, and what a warm signature asks of the card.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto, { createHash, type KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTRY_POINT_VERSIONS } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import {
  NCRYPT_MACHINE_KEY_FLAG, NCRYPT_NO_PADDING_FLAG, NCRYPT_PAD_OAEP_FLAG, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG, NCRYPT_SILENT_FLAG,
} from '../../ksp/constants.js';
import { NCryptImportKey } from '../../ksp/blobs.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import { NCryptCreatePersistedKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptFreeObject } from '../../ksp/provider.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import { CURVE, type CurveBits, ECC_MAGIC, eccPublicBlob, expectCryptError, graphenePublicKey, reversed, rsaPublicBlob } from '../pkcs11-bridge/helpers.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { kspFixture } from './fixture.js';

const PKCS1 = NCRYPT_PAD_PKCS1_FLAG;
const PSS = NCRYPT_PAD_PSS_FLAG;
const SILENT = NCRYPT_SILENT_FLAG;
/** HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER): ncrypt.dll's answer to a NULL required pointer (N2). */
const NULL_REF_POINTER = 0x800706f4;
const HASHES = { SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' } as const;

// --- independent checks: openssl in a child process, DER written here ---------------------------

const tmp = mkdtempSync(join(tmpdir(), 'p11ksp-sign-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fileSerial = 0;

/** `openssl pkeyutl -verify` of `signature` over `input` (a hash, or raw bytes) with -pkeyopt options. */
function opensslVerifies(publicKey: KeyObject, input: Buffer, signature: Buffer, pkeyopts: string[]): boolean {
  const base = join(tmp, `v${++fileSerial}`);
  writeFileSync(`${base}.pem`, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(`${base}.in`, input);
  writeFileSync(`${base}.sig`, signature);
  const args = ['pkeyutl', '-verify', '-pubin', '-inkey', `${base}.pem`, '-in', `${base}.in`, '-sigfile', `${base}.sig`, ...pkeyopts.flatMap((o) => ['-pkeyopt', o])];
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.ok(run.error === undefined, `openssl runs: ${String(run.error)}`);
  return run.status === 0 && run.stdout.includes('Signature Verified Successfully');
}

function derLength(n: number): Buffer {
  return n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]);
}

function derInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v = magnitude.subarray(i);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return Buffer.concat([Buffer.from([0x02]), derLength(v.length), v]);
}

/** IEEE P1363 r‖s → DER Ecdsa-Sig-Value, for openssl. */
function p1363ToDer(rs: Buffer): Buffer {
  const half = rs.length / 2;
  const body = Buffer.concat([derInteger(rs.subarray(0, half)), derInteger(rs.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

function ecPublicBlob(key: KeyObject, usage: 'ECDSA' | 'ECDH', bits: CurveBits): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return eccPublicBlob(ECC_MAGIC[usage][bits].pub, bits, Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url'));
}

const digest = (hash: string, data: Buffer): Buffer => createHash(hash).update(data).digest();
const flipped = (b: Buffer, at = 7): Buffer => { const c = Buffer.from(b); c[at] ^= 0x01; return c; };

describe('ksp: NCryptSignHash / NCryptVerifySignature', function () {
  this.timeout(120_000);
  // Inside the describe: its hooks (the service's close) run before the suite-wide root hooks.
  const fx = kspFixture('ksp-sign');
  const token = fx.tokens[0]!;

  interface CardKey { handle: NCryptKeyHandle; name: string; publicKey: KeyObject }
  const keys = new Map<string, CardKey>();
  const key = (id: string): CardKey => keys.get(id)!;
  let serial = 0;

  async function makeKey(id: string, algId: string, options: { bits?: number; legacyKeySpec?: number } = {}): Promise<CardKey> {
    const name = `sign-${id}-${++serial}-${Date.now().toString(36)}`;
    const handle = await fx.newKey(algId, { ...options, name });
    const curve = /_P(256|384|521)$/.exec(algId);
    const publicKey = curve ? graphenePublicKey(token.label, name, 'EC', Number(curve[1]) as CurveBits) : graphenePublicKey(token.label, name, 'RSA');
    const made = { handle, name, publicKey };
    keys.set(id, made);
    return made;
  }

  before(async () => {
    await makeKey('rsa1024', 'RSA', { bits: 1024 });
    await makeKey('rsa2048', 'RSA', { bits: 2048 });
    await makeKey('rsa-sig', 'RSA', { bits: 1024, legacyKeySpec: 2 /* AT_SIGNATURE */ });
    for (const bits of [256, 384, 521] as const) await makeKey(`P${bits}`, `ECDSA_P${bits}`);
    await makeKey('ecdh', 'ECDH_P256');
  });

  describe('RSA PKCS#1 v1.5', () => {
    for (const bits of [1024, 2048] as const) {
      for (const alg of ['SHA1', 'SHA256', 'SHA384', 'SHA512'] as const) {
        it(`${bits}-bit, ${alg}: a big-endian modulus-length signature that node:crypto, openssl and NCryptVerifySignature accept`, async () => {
          const k = key(`rsa${bits}`);
          const message = randomBytes(40);
          const hash = digest(HASHES[alg], message);
          const signature = await NCryptSignHash(k.handle, { pszAlgId: alg }, hash, PKCS1);
          assert.equal(signature.length, bits / 8);
          assert.ok(crypto.verify(HASHES[alg], message, k.publicKey, signature), 'node:crypto verifies it');
          assert.ok(!crypto.verify(HASHES[alg], message, k.publicKey, reversed(signature)), 'and not reversed: the result is big-endian');
          assert.ok(opensslVerifies(k.publicKey, hash, signature, ['rsa_padding_mode:pkcs1', `digest:${HASHES[alg]}`]), 'openssl verifies it');
          await NCryptVerifySignature(k.handle, { pszAlgId: alg }, hash, signature, PKCS1);
          assert.deepEqual(await NCryptSignHash(k.handle, { pszAlgId: alg }, hash, PKCS1), signature, 'PKCS#1 v1.5 is deterministic');
        });
      }
    }

    it('pszAlgId null or "": the bytes are signed as given, with no DigestInfo', async () => {
      const k = key('rsa1024');
      const data = randomBytes(36); // e.g. the MD5‖SHA-1 of TLS 1.0
      const signature = await NCryptSignHash(k.handle, { pszAlgId: null }, data, PKCS1);
      assert.deepEqual(crypto.publicDecrypt({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, signature), data);
      assert.ok(opensslVerifies(k.publicKey, data, signature, ['rsa_padding_mode:pkcs1']), 'openssl verifies the raw signature');
      assert.deepEqual(await NCryptSignHash(k.handle, { pszAlgId: '' }, data, PKCS1), signature, '"" is the same as null');
      await NCryptVerifySignature(k.handle, { pszAlgId: null }, data, signature, PKCS1);
      await NCryptVerifySignature(k.handle, { pszAlgId: '' }, data, signature, PKCS1);
      // The largest input a 1024-bit block takes: k − 11 bytes.
      const largest = randomBytes(117);
      const big = await NCryptSignHash(k.handle, { pszAlgId: null }, largest, PKCS1);
      assert.deepEqual(crypto.publicDecrypt({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, big), largest);
    });

    it('a DigestInfo signature is not a raw one, nor the other way round', async () => {
      const k = key('rsa1024');
      const hash = digest('sha256', randomBytes(8));
      const withOid = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
      const raw = await NCryptSignHash(k.handle, { pszAlgId: null }, hash, PKCS1);
      assert.notDeepEqual(withOid, raw);
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: null }, hash, withOid, PKCS1), 'NTE_BAD_SIGNATURE');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, raw, PKCS1), 'NTE_BAD_SIGNATURE');
    });

    it('MD5, and algorithm ids in any case (CNG compares them case-insensitively)', async () => {
      const k = key('rsa1024');
      const message = randomBytes(20);
      const md5 = await NCryptSignHash(k.handle, { pszAlgId: 'MD5' }, digest('md5', message), PKCS1);
      assert.ok(crypto.verify('md5', message, k.publicKey, md5));
      const hash = digest('sha256', message);
      assert.deepEqual(await NCryptSignHash(k.handle, { pszAlgId: 'sha256' }, hash, PKCS1), await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1));
    });

    it('the AT_SIGNATURE key of a container signs', async () => {
      const k = key('rsa-sig');
      const message = randomBytes(20);
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, digest('sha256', message), PKCS1);
      assert.ok(crypto.verify('sha256', message, k.publicKey, signature));
    });

    it('RSA-4096: a 512-byte signature', async function () {
      this.timeout(600_000);
      const k = await makeKey('rsa4096', 'RSA', { bits: 4096 });
      const message = randomBytes(20);
      const hash = digest('sha384', message);
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA384' }, hash, PKCS1);
      assert.equal(signature.length, 512);
      assert.ok(crypto.verify('sha384', message, k.publicKey, signature));
      await NCryptVerifySignature(k.handle, { pszAlgId: 'SHA384' }, hash, signature, PKCS1);
      const pss = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256', cbSalt: 32 }, digest('sha256', message), PSS);
      assert.ok(crypto.verify('sha256', message, { key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, pss));
    });
  });

  describe('RSA PSS', () => {
    const cases = [
      { bits: 2048, alg: 'SHA256', salt: 32 }, { bits: 2048, alg: 'SHA256', salt: 0 }, { bits: 1024, alg: 'SHA1', salt: 20 },
      { bits: 2048, alg: 'SHA384', salt: 48 }, { bits: 2048, alg: 'SHA512', salt: 64 }, { bits: 1024, alg: 'SHA512', salt: 10 },
    ] as const;
    for (const { bits, alg, salt } of cases) {
      it(`${bits}-bit, ${alg}, salt ${salt}: node:crypto, openssl and NCryptVerifySignature accept it, with that salt length only`, async () => {
        const k = key(`rsa${bits}`);
        const message = randomBytes(40);
        const hash = digest(HASHES[alg], message);
        const info = { pszAlgId: alg, cbSalt: salt };
        const signature = await NCryptSignHash(k.handle, info, hash, PSS);
        assert.equal(signature.length, bits / 8);
        assert.ok(crypto.verify(HASHES[alg], message, { key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: salt }, signature), 'node:crypto verifies it');
        assert.ok(opensslVerifies(k.publicKey, hash, signature, ['rsa_padding_mode:pss', `rsa_pss_saltlen:${salt}`, `digest:${HASHES[alg]}`]), 'openssl verifies it');
        await NCryptVerifySignature(k.handle, info, hash, signature, PSS);
        await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: alg, cbSalt: salt + 1 }, hash, signature, PSS), 'NTE_BAD_SIGNATURE', 'another salt length');
        await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: alg }, hash, signature, PKCS1), 'NTE_BAD_SIGNATURE', 'as PKCS#1');
        const again = await NCryptSignHash(k.handle, info, hash, PSS);
        if (salt > 0) assert.notDeepEqual(again, signature, 'a salted signature is randomized');
        else assert.deepEqual(again, signature, 'with no salt PSS is deterministic');
      });
    }

    it('cbSalt left out: the hash length', async () => {
      const k = key('rsa2048');
      const message = randomBytes(16);
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, digest('sha256', message), PSS);
      const pss = (saltLength: number) => ({ key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength });
      assert.ok(crypto.verify('sha256', message, pss(32), signature));
      assert.ok(!crypto.verify('sha256', message, pss(0), signature));
      await NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256', cbSalt: 32 }, digest('sha256', message), signature, PSS);
    });

    it('the largest salt a key takes (emLen − hLen − 2), and not one byte more', async () => {
      const k = key('rsa1024');
      const message = randomBytes(16);
      const hash = digest('sha256', message);
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256', cbSalt: 94 }, hash, PSS);
      assert.ok(crypto.verify('sha256', message, { key: k.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 94 }, signature));
      await NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256', cbSalt: 94 }, hash, signature, PSS);
      for (const cbSalt of [95, -1, 1.5, Number.NaN]) {
        await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: 'SHA256', cbSalt }, hash, PSS), 'NTE_INVALID_PARAMETER', `cbSalt ${cbSalt}`);
        await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256', cbSalt }, hash, signature, PSS), 'NTE_INVALID_PARAMETER', `verify, cbSalt ${cbSalt}`);
      }
    });
  });

  describe('ECDSA', () => {
    for (const bits of [256, 384, 521] as const) {
      it(`P-${bits}: r‖s of ${2 * CURVE[bits].bytes} bytes that node:crypto, openssl (as DER) and NCryptVerifySignature accept`, async () => {
        const k = key(`P${bits}`);
        const message = randomBytes(40);
        const hash = digest(CURVE[bits].hash, message);
        const signature = await NCryptSignHash(k.handle, null, hash);
        assert.equal(signature.length, 2 * CURVE[bits].bytes);
        assert.ok(crypto.verify(CURVE[bits].hash, message, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'node:crypto verifies it');
        assert.ok(opensslVerifies(k.publicKey, hash, p1363ToDer(signature), []), 'openssl verifies it');
        assert.ok(!opensslVerifies(k.publicKey, hash, p1363ToDer(flipped(signature)), []), 'openssl refuses a damaged one (the check can fail)');
        await NCryptVerifySignature(k.handle, null, hash, signature);
        await expectCryptError(() => NCryptVerifySignature(k.handle, null, hash, flipped(signature)), 'NTE_BAD_SIGNATURE', 'r damaged');
        await expectCryptError(() => NCryptVerifySignature(k.handle, null, hash, flipped(signature, signature.length - 1)), 'NTE_BAD_SIGNATURE', 's damaged');
        await expectCryptError(() => NCryptVerifySignature(k.handle, null, flipped(hash), signature), 'NTE_BAD_SIGNATURE', 'another hash');
      });
    }

    it('hashes shorter and longer than the curve (longer ones are truncated to the order, as FIPS 186-4 says)', async () => {
      for (const [id, hash] of [['P256', 'sha1'], ['P256', 'sha512'], ['P521', 'sha256'], ['P384', 'sha512']] as const) {
        const k = key(id);
        const message = randomBytes(24);
        const signature = await NCryptSignHash(k.handle, null, digest(hash, message));
        assert.ok(crypto.verify(hash, message, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, signature), `${id} with ${hash}`);
        await NCryptVerifySignature(k.handle, null, digest(hash, message), signature);
      }
    });

    it('padding info is ignored for ECDSA, as Windows ignores it', async () => {
      const k = key('P256');
      const message = randomBytes(24);
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA1' }, digest('sha256', message), SILENT);
      assert.ok(crypto.verify('sha256', message, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, signature));
      await NCryptVerifySignature(k.handle, { pszAlgId: 'SHA1' }, digest('sha256', message), signature);
    });

    it('r or s out of range (0, or not below the order) never verifies', async () => {
      const k = key('P256');
      const hash = digest('sha256', randomBytes(8));
      const good = await NCryptSignHash(k.handle, null, hash);
      const r = good.subarray(0, 32);
      const s = good.subarray(32);
      for (const [what, sig] of [['r = 0', Buffer.concat([Buffer.alloc(32), s])], ['s = 0', Buffer.concat([r, Buffer.alloc(32)])], ['s = 2²⁵⁶ − 1', Buffer.concat([r, Buffer.alloc(32, 0xff)])]] as const) {
        await expectCryptError(() => NCryptVerifySignature(k.handle, null, hash, sig), 'NTE_BAD_SIGNATURE', what);
      }
    });
  });

  describe('NCryptVerifySignature', () => {
    it('verifies node:crypto signatures under imported public keys, logged out and silent (no card, no PIN)', async () => {
      const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const rsaHandle = await NCryptImportKey(fx.prov, null, 'RSAPUBLICBLOB', null, rsaPublicBlob(rsa.publicKey));
      const ecHandle = await NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, ecPublicBlob(ec.publicKey, 'ECDSA', 384));
      await fx.logout();
      try {
        const message = randomBytes(30);
        const h256 = digest('sha256', message);
        await NCryptVerifySignature(rsaHandle, { pszAlgId: 'SHA256' }, h256, crypto.sign('sha256', message, rsa.privateKey), PKCS1 | SILENT);
        const pss = crypto.sign('sha256', message, { key: rsa.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 });
        await NCryptVerifySignature(rsaHandle, { pszAlgId: 'SHA256', cbSalt: 20 }, h256, pss, PSS | SILENT);
        await expectCryptError(() => NCryptVerifySignature(rsaHandle, { pszAlgId: 'SHA256', cbSalt: 32 }, h256, pss, PSS | SILENT), 'NTE_BAD_SIGNATURE', 'salt 32');
        const raw = crypto.privateEncrypt({ key: rsa.privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, h256);
        await NCryptVerifySignature(rsaHandle, { pszAlgId: null }, h256, raw, PKCS1 | SILENT);
        for (const hash of ['sha256', 'sha384', 'sha512', 'sha1']) {
          const signature = crypto.sign(hash, message, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
          await NCryptVerifySignature(ecHandle, null, digest(hash, message), signature, SILENT);
          await expectCryptError(() => NCryptVerifySignature(ecHandle, null, digest(hash, message), flipped(signature, 50), SILENT), 'NTE_BAD_SIGNATURE', hash);
        }
        // A card key verifies with no PIN too: its public half is on the handle.
        const k = key('rsa1024');
        await fx.login();
        const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, h256, PKCS1);
        await fx.logout();
        await NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, h256, signature, PKCS1 | SILENT);
      } finally {
        await fx.login();
        await NCryptFreeObject(rsaHandle);
        await NCryptFreeObject(ecHandle);
      }
    });

    it('a signature that does not match: NTE_BAD_SIGNATURE', async () => {
      const k = key('rsa2048');
      const hash = digest('sha256', randomBytes(8));
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, flipped(signature), PKCS1), 'NTE_BAD_SIGNATURE', 'damaged');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, flipped(hash), signature, PKCS1), 'NTE_BAD_SIGNATURE', 'another hash');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, reversed(signature), PKCS1), 'NTE_BAD_SIGNATURE', 'little-endian');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, Buffer.alloc(256, 0xff), PKCS1), 'NTE_BAD_SIGNATURE', 'not below the modulus');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, Buffer.alloc(256), PKCS1), 'NTE_BAD_SIGNATURE', 'zero');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256', cbSalt: 32 }, hash, signature, PSS), 'NTE_BAD_SIGNATURE', 'as PSS');
      await expectCryptError(() => NCryptVerifySignature(key('rsa1024').handle, { pszAlgId: 'SHA256' }, hash, signature.subarray(0, 128), PKCS1), 'NTE_BAD_SIGNATURE', 'another key');
    });

    it('a signature of the wrong length: NTE_INVALID_PARAMETER (N21)', async () => {
      const k = key('rsa1024');
      const hash = digest('sha256', randomBytes(8));
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
      for (const [what, sig] of [['4 bytes', signature.subarray(0, 4)], ['one short', signature.subarray(1)], ['one long', Buffer.concat([Buffer.alloc(1), signature])], ['empty', Buffer.alloc(0)]] as const) {
        await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, sig, PKCS1), 'NTE_INVALID_PARAMETER', what);
      }
      const ec = key('P256');
      const ecSig = await NCryptSignHash(ec.handle, null, hash);
      await expectCryptError(() => NCryptVerifySignature(ec.handle, null, hash, ecSig.subarray(1)), 'NTE_INVALID_PARAMETER', 'ECDSA one short');
      await expectCryptError(() => NCryptVerifySignature(ec.handle, null, hash, p1363ToDer(ecSig)), 'NTE_INVALID_PARAMETER', 'ECDSA as DER');
    });
  });

  describe('errors', () => {
    const hash = digest('sha256', Buffer.from('errors'));

    it('unknown flag bits: NTE_BAD_FLAGS, before any other check (N4)', async () => {
      const k = key('rsa1024');
      for (const flags of [NCRYPT_PAD_OAEP_FLAG, NCRYPT_NO_PADDING_FLAG, NCRYPT_MACHINE_KEY_FLAG, 0x100, PKCS1 | 0x10000, -1, 2 ** 32]) {
        await expectCryptError(() => NCryptSignHash(k.handle, null, Buffer.alloc(0), flags), 'NTE_BAD_FLAGS', `sign, flags ${flags}`);
        await expectCryptError(() => NCryptVerifySignature(k.handle, null, Buffer.alloc(0), Buffer.alloc(0), flags), 'NTE_BAD_FLAGS', `verify, flags ${flags}`);
      }
      await expectCryptError(() => NCryptSignHash(key('P256').handle, null, hash, NCRYPT_PAD_OAEP_FLAG), 'NTE_BAD_FLAGS', 'ECDSA');
    });

    it('RSA without one padding flag and its padding info: NTE_INVALID_PARAMETER (N21)', async () => {
      const k = key('rsa1024');
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
      const cases = [
        ['flags 0, no padding info', null, 0], ['flags 0 with padding info', { pszAlgId: 'SHA256' }, 0],
        ['PKCS#1 without padding info', null, PKCS1], ['PSS without padding info', null, PSS],
        ['PKCS#1 and PSS', { pszAlgId: 'SHA256', cbSalt: 32 }, PKCS1 | PSS], ['padding info not an object', 'SHA256' as unknown as null, PKCS1],
      ] as const;
      for (const [what, info, flags] of cases) {
        await expectCryptError(() => NCryptSignHash(k.handle, info, hash, flags), 'NTE_INVALID_PARAMETER', `sign: ${what}`);
        await expectCryptError(() => NCryptVerifySignature(k.handle, info, hash, signature, flags), 'NTE_INVALID_PARAMETER', `verify: ${what}`);
      }
    });

    it('a hash whose length does not match pszAlgId: NTE_INVALID_PARAMETER (N21)', async () => {
      const k = key('rsa1024');
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
      for (const [what, info, data, flags] of [
        ['4 bytes for SHA256', { pszAlgId: 'SHA256' }, hash.subarray(0, 4), PKCS1], ['32 bytes for MD5', { pszAlgId: 'MD5' }, hash, PKCS1],
        ['32 bytes for SHA1', { pszAlgId: 'SHA1' }, hash, PKCS1], ['PSS: 32 bytes for SHA512', { pszAlgId: 'SHA512', cbSalt: 0 }, hash, PSS],
      ] as const) {
        await expectCryptError(() => NCryptSignHash(k.handle, info, data, flags), 'NTE_INVALID_PARAMETER', `sign: ${what}`);
        await expectCryptError(() => NCryptVerifySignature(k.handle, info, data, signature, flags), 'NTE_INVALID_PARAMETER', `verify: ${what}`);
      }
    });

    it('hash algorithms the card does not sign with: NTE_NOT_SUPPORTED; PSS needs one, and not MD5', async () => {
      const k = key('rsa1024');
      for (const pszAlgId of ['SHA3_256', 'MD4', 'MD2', 'RSA', 'sha-256']) {
        await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId }, hash, PKCS1), 'NTE_NOT_SUPPORTED', `PKCS#1 ${pszAlgId}`);
        await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId, cbSalt: 0 }, hash, PSS), 'NTE_NOT_SUPPORTED', `PSS ${pszAlgId}`);
      }
      await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: 'MD5', cbSalt: 0 }, digest('md5', hash), PSS), 'NTE_NOT_SUPPORTED', 'PSS with MD5');
      await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: null, cbSalt: 0 }, hash, PSS), 'NTE_INVALID_PARAMETER', 'PSS without pszAlgId');
      await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: 256 as unknown as string }, hash, PKCS1), 'NTE_INVALID_PARAMETER', 'pszAlgId a number');
    });

    it('input a key cannot sign: too long for a raw PKCS#1 block, or empty', async () => {
      const k = key('rsa1024');
      await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: null }, randomBytes(118), PKCS1), 'NTE_INVALID_PARAMETER', 'k − 10 bytes');
      await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: null }, Buffer.alloc(0), PKCS1), 'NTE_INVALID_PARAMETER', 'empty, RSA');
      await expectCryptError(() => NCryptSignHash(key('P384').handle, null, Buffer.alloc(0)), 'NTE_INVALID_PARAMETER', 'empty, ECDSA');
    });

    it('a NULL hash or signature: HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER) (N2); bytes of another type: NTE_INVALID_PARAMETER', async () => {
      const k = key('rsa1024');
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
      for (const [what, action] of [
        ['sign, hash null', () => NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, null as unknown as Uint8Array, PKCS1)],
        ['sign, hash undefined', () => NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, undefined as unknown as Uint8Array, PKCS1)],
        ['verify, hash null', () => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, null as unknown as Uint8Array, signature, PKCS1)],
        ['verify, signature null', () => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, null as unknown as Uint8Array, PKCS1)],
      ] as const) {
        const err = await action().then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof CryptError, `${what}: a CryptError`);
        assert.equal(err.code, NULL_REF_POINTER, `${what}: ${err.message}`);
      }
      await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash.toString('hex') as unknown as Uint8Array, PKCS1), 'NTE_INVALID_PARAMETER', 'hash as a string');
      await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, [...signature] as unknown as Uint8Array, PKCS1), 'NTE_INVALID_PARAMETER', 'signature as an array');
      // A Uint8Array that is not a Buffer is fine.
      const view = new Uint8Array(hash);
      assert.deepEqual(await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, view, PKCS1), signature);
    });

    it('ECDSA keys take no padding flag: NTE_INVALID_PARAMETER', async () => {
      const k = key('P256');
      const signature = await NCryptSignHash(k.handle, null, hash);
      for (const flags of [PKCS1, PSS, PKCS1 | SILENT]) {
        await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, flags), 'NTE_INVALID_PARAMETER', `sign, flags ${flags}`);
        await expectCryptError(() => NCryptVerifySignature(k.handle, { pszAlgId: 'SHA256' }, hash, signature, flags), 'NTE_INVALID_PARAMETER', `verify, flags ${flags}`);
      }
    });

    it('ECDH keys neither sign nor verify: NTE_NOT_SUPPORTED', async () => {
      const k = key('ecdh');
      await expectCryptError(() => NCryptSignHash(k.handle, null, hash), 'NTE_NOT_SUPPORTED', 'sign');
      await expectCryptError(() => NCryptVerifySignature(k.handle, null, hash, Buffer.alloc(64)), 'NTE_NOT_SUPPORTED', 'verify');
      const imported = await NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, ecPublicBlob(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'ECDH', 256));
      await expectCryptError(() => NCryptVerifySignature(imported, null, hash, Buffer.alloc(64)), 'NTE_NOT_SUPPORTED', 'imported ECDH key');
      await NCryptFreeObject(imported);
    });

    it('a key not finalized: NTE_BAD_KEY_STATE (N11); an imported public key cannot sign: NTE_NOT_SUPPORTED', async () => {
      const pending = await NCryptCreatePersistedKey(fx.prov, 'RSA', `sign-pending-${Date.now().toString(36)}`, 0, SILENT);
      await expectCryptError(() => NCryptSignHash(pending, { pszAlgId: 'SHA256' }, hash, PKCS1), 'NTE_BAD_KEY_STATE', 'sign');
      await expectCryptError(() => NCryptVerifySignature(pending, { pszAlgId: 'SHA256' }, hash, Buffer.alloc(256), PKCS1), 'NTE_BAD_KEY_STATE', 'verify');
      await NCryptFreeObject(pending);
      const imported = await NCryptImportKey(fx.prov, null, 'RSAPUBLICBLOB', null, rsaPublicBlob(key('rsa1024').publicKey));
      await expectCryptError(() => NCryptSignHash(imported, { pszAlgId: 'SHA256' }, hash, PKCS1), 'NTE_NOT_SUPPORTED', 'sign with a public key');
      // …but it verifies what the card key signed: the same public key.
      await NCryptVerifySignature(imported, { pszAlgId: 'SHA256' }, hash, await NCryptSignHash(key('rsa1024').handle, { pszAlgId: 'SHA256' }, hash, PKCS1), PKCS1);
      await NCryptFreeObject(imported);
    });

    it('handles: a provider handle, null, a stranger, a freed key handle → NTE_INVALID_HANDLE (N1)', async () => {
      const freed = await fx.newKey('ECDSA_P256');
      const signature = await NCryptSignHash(freed, null, hash);
      await NCryptFreeObject(freed);
      for (const [what, h] of [['provider', fx.prov], ['null', null], ['undefined', undefined], ['object', {}], ['freed', freed]] as const) {
        await expectCryptError(() => NCryptSignHash(h as unknown as NCryptKeyHandle, null, hash), 'NTE_INVALID_HANDLE', `sign: ${what}`);
        await expectCryptError(() => NCryptVerifySignature(h as unknown as NCryptKeyHandle, null, hash, signature), 'NTE_INVALID_HANDLE', `verify: ${what}`);
      }
    });

    it('silent with no PIN cached: NTE_SILENT_CONTEXT, from the flag or from a key opened silently', async () => {
      const k = key('rsa1024');
      await fx.logout();
      try {
        await expectCryptError(() => NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1 | SILENT), 'NTE_SILENT_CONTEXT', 'RSA, flag');
        await expectCryptError(() => NCryptSignHash(key('P256').handle, null, hash, SILENT), 'NTE_SILENT_CONTEXT', 'ECDSA, flag');
        const silentKey = await NCryptOpenKey(fx.prov, k.name, 0, SILENT);
        try {
          await expectCryptError(() => NCryptSignHash(silentKey, { pszAlgId: 'SHA256' }, hash, PKCS1), 'NTE_SILENT_CONTEXT', 'key opened silently');
        } finally {
          await NCryptFreeObject(silentKey);
        }
      } finally {
        await fx.login();
      }
      const signature = await NCryptSignHash(k.handle, { pszAlgId: 'SHA256' }, hash, PKCS1 | SILENT);
      assert.ok(crypto.verify('sha256', Buffer.from('errors'), k.publicKey, signature), 'signs again once the PIN is cached');
    });

    it('not silent with no PIN cached: the UI is asked once, and the PIN it gave serves the next signature', async () => {
      const k = key('P384');
      // The fixture's keys were made silently, and a handle keeps that: open one that is not.
      const handle = await NCryptOpenKey(fx.prov, k.name, 0, 0);
      await fx.logout();
      const ui = useScriptedUi();
      ui.pins = [token.pin];
      try {
        const message = randomBytes(8);
        const first = await NCryptSignHash(handle, null, digest('sha384', message));
        const second = await NCryptSignHash(handle, null, digest('sha384', message));
        assert.equal(ui.pinRequests.length, 1, 'one prompt');
        for (const signature of [first, second]) assert.ok(crypto.verify('sha384', message, { key: k.publicKey, dsaEncoding: 'ieee-p1363' }, signature));
      } finally {
        await fx.login();
        await NCryptFreeObject(handle);
      }
    });
  });

  describe('the warm path', () => {
    it('a warm signature is one CardSignData: no container, file, PIN or authentication-state reads on the card', async () => {
      const rsa = key('rsa2048');
      const ec = key('P256');
      const hash = digest('sha256', Buffer.from('warm'));
      const state = rsa.handle.state;
      assert.ok(state.kind === 'persisted');
      const module = state.card.module as unknown as Record<string, (...args: unknown[]) => unknown>;
      const calls = new Map<string, number>();
      const entryPoints = Object.keys(ENTRY_POINT_VERSIONS);
      const originals = entryPoints.map((name) => [name, Object.getOwnPropertyDescriptor(module, name)] as const);
      for (const name of entryPoints) {
        const original = module[name]!;
        // Counts and passes through to the real driver (the call itself is untouched).
        module[name] = function (this: unknown, ...args: unknown[]) {
          calls.set(name, (calls.get(name) ?? 0) + 1);
          return original.apply(this, args);
        };
      }
      try {
        await NCryptSignHash(rsa.handle, { pszAlgId: 'SHA256' }, hash, PKCS1); // warm-up
        calls.clear();
        for (let i = 0; i < 20; i++) {
          await NCryptSignHash(rsa.handle, { pszAlgId: 'SHA256' }, hash, PKCS1);
          await NCryptSignHash(ec.handle, null, hash);
        }
      } finally {
        for (const [name, descriptor] of originals) {
          if (descriptor) Object.defineProperty(module, name, descriptor);
          else delete module[name];
        }
      }
      assert.equal(calls.get('CardSignData'), 40, 'one CardSignData per signature');
      // Not even CardGetProperty: the PIN policy is held per card and the authentication state is known
      // to this process (the warm path of smartcard/authentication.ts; warm-path.test.ts counts more).
      const others = [...calls.keys()].filter((name) => name !== 'CardSignData');
      assert.deepEqual(others, [], 'no other card entry point');
    });
  });
});
