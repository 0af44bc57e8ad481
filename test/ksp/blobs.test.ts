/**
 * NCryptExportKey / NCryptImportKey on a SoftHSM2 card.
 *
 * Proof: every exported blob is parsed here, with the test's own parsers (never the codecs), and must
 * equal the public key graphene reads from the token; imported private keys sign on the card and the
 * signature verifies with node:crypto under the original key.
 */
import assert from 'node:assert/strict';
import crypto, { type KeyObject, randomBytes } from 'node:crypto';
import { NCryptExportKey, NCryptImportKey } from '../../ksp/blobs.js';
import { NCryptCreatePersistedKey, NCryptFinalizeKey } from '../../ksp/keys.js';
import { NCryptFreeObject } from '../../ksp/provider.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import {
  CALG_RSA_KEYX, CALG_RSA_SIGN, CURVE, type CurveBits, ECC_MAGIC, capiPrivateKeyBlob, eccPrivateBlob, eccPublicBlob, expectCryptError,
  graphenePublicKey, parseEccPublicBlob, parseRsaPublicBlob, reversed, verifyEcdsa,
} from '../pkcs11-bridge/helpers.js';
import { kspFixture } from './fixture.js';

const SILENT = 0x40;
const DO_NOT_FINALIZE = 0x400;
const OVERWRITE = 0x80;
const KEY_NAME = 45;
const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const RSA3 = 0x33415352;
const BITS = [256, 384, 521] as const;

// --- the test's own blob conversions (bcrypt.h / wincrypt.h layouts) ---------------------------------

const be = (b64url: string | undefined): Buffer => {
  const b = Buffer.from(b64url!, 'base64url');
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};
const spki = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' });
const sameKey = (a: KeyObject, b: KeyObject, what: string) => assert.ok(spki(a).equals(spki(b)), `${what}: not the same public key`);

/** BCRYPT_RSAKEY_BLOB {Magic, BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2} + big-endian fields. */
function bcryptRsaBlob(key: KeyObject, magic: number): Buffer {
  const j = key.export({ format: 'jwk' });
  const [e, n, p, q] = [be(j.e), be(j.n), j.p ? be(j.p) : Buffer.alloc(0), j.q ? be(j.q) : Buffer.alloc(0)];
  const pad = (v: string | undefined, w: number) => Buffer.concat([Buffer.alloc(w - be(v).length), be(v)]);
  const header = Buffer.alloc(24);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(n.length * 8, 4);
  header.writeUInt32LE(e.length, 8);
  header.writeUInt32LE(n.length, 12);
  if (magic === 0x31415352) return Buffer.concat([header, e, n]);
  header.writeUInt32LE(p.length, 16);
  header.writeUInt32LE(q.length, 20);
  if (magic === 0x32415352) return Buffer.concat([header, e, n, p, q]);
  return Buffer.concat([header, e, n, p, q, pad(j.dp, p.length), pad(j.dq, q.length), pad(j.qi, p.length), pad(j.d, n.length)]);
}

/** An RSAPUBLICBLOB parsed: the header fields and the key node:crypto builds from e and n. */
function parseBcryptRsaPublic(blob: Buffer) {
  const cbPublicExp = blob.readUInt32LE(8);
  const cbModulus = blob.readUInt32LE(12);
  assert.equal(blob.length, 24 + cbPublicExp + cbModulus, 'RSAPUBLICBLOB length is header + e + n');
  const e = blob.subarray(24, 24 + cbPublicExp);
  const n = blob.subarray(24 + cbPublicExp);
  return {
    magic: blob.readUInt32LE(0), bitLength: blob.readUInt32LE(4), cbPrime1: blob.readUInt32LE(16), cbPrime2: blob.readUInt32LE(20),
    key: crypto.createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' }),
  };
}

/** CAPI PUBLICKEYBLOB of a node:crypto RSA key (modulus little-endian). */
function capiPublicKeyBlob(key: KeyObject, aiKeyAlg: number): Buffer {
  const j = key.export({ format: 'jwk' });
  const n = be(j.n);
  const header = Buffer.alloc(20);
  header.writeUInt8(6, 0);
  header.writeUInt8(2, 1);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(0x31415352, 8);
  header.writeUInt32LE(n.length * 8, 12);
  header.writeUInt32LE(be(j.e).readUIntBE(0, be(j.e).length), 16);
  return Buffer.concat([header, reversed(n)]);
}

const ecPublicBlobOf = (key: KeyObject, usage: 'ECDSA' | 'ECDH', bits: CurveBits): Buffer => {
  const j = key.export({ format: 'jwk' });
  return eccPublicBlob(ECC_MAGIC[usage][bits].pub, bits, Buffer.from(j.x!, 'base64url'), Buffer.from(j.y!, 'base64url'));
};

const named = (name: string) => [{ type: KEY_NAME, value: name }];
let serial = 0;
const uniqueName = (what: string) => `${what}-${++serial}-${Date.now().toString(36)}`;

describe('ksp: NCryptExportKey / NCryptImportKey', function () {
  // Inside the describe (run at load time, so the tokens still exist before SoftHSM2 starts): the
  // fixture's hooks then belong to this suite, and other files' fixtures do not replace its service.
  const fx = kspFixture('ksp-blob');
  this.timeout(120_000);
  const label = () => fx.tokens[0]!.label;

  /** Signs on the card through the minidriver, in the container the KSP wrote. */
  async function cardSign(name: string, keySpec: number, aiHashAlg: number, hash: Buffer): Promise<Buffer> {
    const card = await fx.card();
    const container = await card.findContainer(name, true);
    assert.ok(container, `the card holds a container "${name}"`);
    return card.module.CardSignData({ dwVersion: 2, bContainerIndex: container.index, dwKeySpec: keySpec, dwSigningFlags: 0, aiHashAlg, pbData: hash });
  }

  const keys = new Map<string, { handle: NCryptKeyHandle; name: string }>();
  const key = (id: string) => keys.get(id)!.handle;

  before(async () => {
    const make = async (id: string, algId: string, options: { bits?: number; legacyKeySpec?: number } = {}) => {
      const name = uniqueName(id);
      keys.set(id, { handle: await fx.newKey(algId, { ...options, name }), name });
    };
    await make('rsa-kx', 'RSA', { bits: 2048, legacyKeySpec: AT_KEYEXCHANGE });
    await make('rsa-sig', 'RSA', { bits: 1024, legacyKeySpec: AT_SIGNATURE });
    for (const bits of BITS) {
      await make(`ECDSA_P${bits}`, `ECDSA_P${bits}`);
      await make(`ECDH_P${bits}`, `ECDH_P${bits}`);
    }
  });

  after(async () => {
    for (const { handle } of keys.values()) if (!handle.freed) await NCryptFreeObject(handle);
  });

  describe('export of card keys', () => {
    it('RSA: RSAPUBLICBLOB and PUBLICBLOB are the token\'s public key; CAPIPUBLICBLOB names the slot in aiKeyAlg', async () => {
      for (const [id, aiKeyAlg, bits] of [['rsa-kx', CALG_RSA_KEYX, 2048], ['rsa-sig', CALG_RSA_SIGN, 1024]] as const) {
        const token = graphenePublicKey(label(), keys.get(id)!.name, 'RSA');
        const blob = await NCryptExportKey(key(id), null, 'RSAPUBLICBLOB', null);
        const parsed = parseBcryptRsaPublic(blob);
        assert.equal(parsed.magic, 0x31415352, 'RSA1');
        assert.equal(parsed.bitLength, bits);
        assert.equal(parsed.cbPrime1 + parsed.cbPrime2, 0);
        sameKey(parsed.key, token, `${id} RSAPUBLICBLOB`);
        assert.deepEqual(await NCryptExportKey(key(id), null, 'PUBLICBLOB', null), blob, 'PUBLICBLOB of an RSA key is its RSAPUBLICBLOB');

        const capi = parseRsaPublicBlob(await NCryptExportKey(key(id), null, 'CAPIPUBLICBLOB', null, SILENT));
        assert.deepEqual([capi.bType, capi.bVersion, capi.reserved, capi.aiKeyAlg, capi.magic, capi.bitLen], [6, 2, 0, aiKeyAlg, 0x31415352, bits]);
        assert.equal(capi.length, 20 + bits / 8);
        sameKey(capi.key, token, `${id} CAPIPUBLICBLOB`);
      }
    });

    for (const bits of BITS) {
      it(`P-${bits}: ECCPUBLICBLOB and PUBLICBLOB carry the curve's ECDSA or ECDH magic and the token's point`, async () => {
        for (const usage of ['ECDSA', 'ECDH'] as const) {
          const id = `${usage}_P${bits}`;
          const token = graphenePublicKey(label(), keys.get(id)!.name, 'EC', bits);
          const blob = await NCryptExportKey(key(id), null, 'ECCPUBLICBLOB', null);
          const parsed = parseEccPublicBlob(blob);
          assert.equal(parsed.magic, ECC_MAGIC[usage][bits].pub, `${id} magic`);
          assert.equal(parsed.cbKey, CURVE[bits].bytes);
          assert.equal(blob.length, 8 + 2 * CURVE[bits].bytes);
          sameKey(parsed.key, token, id);
          assert.deepEqual(await NCryptExportKey(key(id), null, 'PUBLICBLOB', null), blob);
        }
      });
    }

    it('needs no PIN: a silent export works with the card logged out', async () => {
      await fx.logout();
      try {
        const parsed = parseEccPublicBlob(await NCryptExportKey(key('ECDH_P256'), null, 'ECCPUBLICBLOB', null, SILENT));
        sameKey(parsed.key, graphenePublicKey(label(), keys.get('ECDH_P256')!.name, 'EC', 256), 'logged out');
      } finally {
        await fx.login();
      }
    });

    it('private blob types: NTE_NOT_SUPPORTED, card keys are never exportable', async () => {
      for (const type of ['RSAPRIVATEBLOB', 'RSAFULLPRIVATEBLOB', 'PRIVATEBLOB', 'CAPIPRIVATEBLOB', 'PKCS8_PRIVATEKEY']) {
        await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, type, null), 'NTE_NOT_SUPPORTED', type);
      }
      for (const type of ['ECCPRIVATEBLOB', 'PRIVATEBLOB', 'PKCS8_PRIVATEKEY']) {
        await expectCryptError(() => NCryptExportKey(key('ECDSA_P256'), null, type, null), 'NTE_NOT_SUPPORTED', type);
      }
    });

    it('a blob type the key cannot produce, or an unknown one: NTE_BAD_TYPE; no blob type: NTE_INVALID_PARAMETER', async () => {
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, 'ECCPUBLICBLOB', null), 'NTE_BAD_TYPE', 'ECC blob of RSA');
      await expectCryptError(() => NCryptExportKey(key('ECDH_P384'), null, 'RSAPUBLICBLOB', null), 'NTE_BAD_TYPE', 'RSA blob of ECC');
      await expectCryptError(() => NCryptExportKey(key('ECDSA_P256'), null, 'CAPIPUBLICBLOB', null), 'NTE_BAD_TYPE', 'CAPI blob of ECC');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, 'CAPIDSAPUBLICBLOB', null), 'NTE_BAD_TYPE', 'DSA');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, 'NOSUCHBLOB', null), 'NTE_BAD_TYPE', 'unknown');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, null as unknown as string, null), 'NTE_INVALID_PARAMETER', 'null');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, '', null), 'NTE_INVALID_PARAMETER', 'empty');
    });

    it('flags, handles, wrapping key and parameter list', async () => {
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, 'PUBLICBLOB', null, 0x1), 'NTE_BAD_FLAGS', 'flag 1');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, 'PUBLICBLOB', null, 0x800), 'NTE_BAD_FLAGS', 'EXPORT_LEGACY');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), key('rsa-sig'), 'PUBLICBLOB', null), 'NTE_NOT_SUPPORTED', 'wrapping key');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), fx.prov as unknown as NCryptKeyHandle, 'PUBLICBLOB', null), 'NTE_INVALID_HANDLE', 'provider as wrapping key');
      await expectCryptError(() => NCryptExportKey(fx.prov as unknown as NCryptKeyHandle, null, 'PUBLICBLOB', null), 'NTE_INVALID_HANDLE', 'provider as key');
      await expectCryptError(() => NCryptExportKey(null as unknown as NCryptKeyHandle, null, 'PUBLICBLOB', null), 'NTE_INVALID_HANDLE', 'null key');
      await expectCryptError(() => NCryptExportKey(key('rsa-kx'), null, 'PUBLICBLOB', [{ type: 0, value: 'x' }] as unknown as null), 'NTE_INVALID_PARAMETER', 'parameter list');
    });

    it('a created, not finalized key: NTE_BAD_KEY_STATE (N11); a freed handle: NTE_INVALID_HANDLE', async () => {
      const pending = await NCryptCreatePersistedKey(fx.prov, 'ECDSA_P256', uniqueName('pending'), 0, SILENT);
      await expectCryptError(() => NCryptExportKey(pending, null, 'PUBLICBLOB', null), 'NTE_BAD_KEY_STATE', 'pending PUBLICBLOB');
      await expectCryptError(() => NCryptExportKey(pending, null, 'ECCPRIVATEBLOB', null), 'NTE_BAD_KEY_STATE', 'pending private');
      await NCryptFreeObject(pending);
      await expectCryptError(() => NCryptExportKey(pending, null, 'PUBLICBLOB', null), 'NTE_INVALID_HANDLE', 'freed');
    });
  });

  describe('import of public blobs', () => {
    it('RSA under RSAPUBLICBLOB, PUBLICBLOB and CAPIPUBLICBLOB: a public-only key that exports the same key', async () => {
      const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const blob = bcryptRsaBlob(publicKey, 0x31415352);
      for (const type of ['RSAPUBLICBLOB', 'PUBLICBLOB']) {
        const h = await NCryptImportKey(fx.prov, null, type, null, blob, SILENT);
        assert.deepEqual(await NCryptExportKey(h, null, 'RSAPUBLICBLOB', null), blob, `${type} round trip`);
        sameKey(parseBcryptRsaPublic(await NCryptExportKey(h, null, 'PUBLICBLOB', null)).key, publicKey, type);
        await NCryptFreeObject(h);
      }
      const capi = capiPublicKeyBlob(publicKey, CALG_RSA_KEYX);
      const h = await NCryptImportKey(fx.prov, null, 'CAPIPUBLICBLOB', null, capi);
      assert.deepEqual(await NCryptExportKey(h, null, 'CAPIPUBLICBLOB', null), capi);
      sameKey(parseBcryptRsaPublic(await NCryptExportKey(h, null, 'RSAPUBLICBLOB', null)).key, publicKey, 'CAPI');
      await expectCryptError(() => NCryptExportKey(h, null, 'RSAFULLPRIVATEBLOB', null), 'NTE_BAD_TYPE', 'private blob of a public key');
      await NCryptFreeObject(h);
    });

    for (const bits of BITS) {
      it(`P-${bits}: ECDSA and ECDH public blobs under ECCPUBLICBLOB and PUBLICBLOB keep curve, use and point`, async () => {
        const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: CURVE[bits].crv });
        for (const usage of ['ECDSA', 'ECDH'] as const) {
          const blob = ecPublicBlobOf(publicKey, usage, bits);
          for (const type of ['ECCPUBLICBLOB', 'PUBLICBLOB']) {
            const h = await NCryptImportKey(fx.prov, null, type, null, blob);
            assert.deepEqual(await NCryptExportKey(h, null, 'ECCPUBLICBLOB', null), blob, `${usage} ${type}`);
            sameKey(parseEccPublicBlob(await NCryptExportKey(h, null, 'PUBLICBLOB', null)).key, publicKey, `${usage} ${type}`);
            await expectCryptError(() => NCryptExportKey(h, null, 'RSAPUBLICBLOB', null), 'NTE_BAD_TYPE');
            await NCryptFreeObject(h);
          }
        }
      });
    }

    it('N19: exact length, overruns and cbKey faults are NTE_BAD_DATA; unknown Magic NTE_INVALID_PARAMETER; BitLength mismatch accepted', async () => {
      const imp = (type: string, data: Uint8Array) => NCryptImportKey(fx.prov, null, type, null, data);
      const rsa = bcryptRsaBlob(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 0x31415352);
      await expectCryptError(() => imp('RSAPUBLICBLOB', Buffer.concat([rsa, Buffer.alloc(1)])), 'NTE_BAD_DATA', 'one byte long');
      await expectCryptError(() => imp('RSAPUBLICBLOB', rsa.subarray(0, rsa.length - 1)), 'NTE_BAD_DATA', 'one byte short');
      const overrun = Buffer.from(rsa);
      overrun.writeUInt32LE(0xffffff00, 12);
      await expectCryptError(() => imp('PUBLICBLOB', overrun), 'NTE_BAD_DATA', 'cbModulus overrun');
      const unknown = Buffer.from(rsa);
      unknown.writeUInt32LE(0x12345678, 0);
      await expectCryptError(() => imp('RSAPUBLICBLOB', unknown), 'NTE_INVALID_PARAMETER', 'unknown RSA magic');
      await expectCryptError(() => imp('PUBLICBLOB', unknown), 'NTE_INVALID_PARAMETER', 'unknown generic magic');
      const rsa2Magic = Buffer.from(rsa);
      rsa2Magic.writeUInt32LE(0x32415352, 0);
      await expectCryptError(() => imp('PUBLICBLOB', rsa2Magic), 'NTE_INVALID_PARAMETER', 'private magic under PUBLICBLOB');
      await expectCryptError(() => imp('PUBLICBLOB', Buffer.from([1, 2])), 'NTE_BAD_DATA', 'two bytes');
      const oddBits = Buffer.from(rsa);
      oddBits.writeUInt32LE(1000, 4);
      await NCryptFreeObject(await imp('RSAPUBLICBLOB', oddBits));

      const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const ecc = ecPublicBlobOf(publicKey, 'ECDH', 384);
      await expectCryptError(() => imp('ECCPUBLICBLOB', Buffer.concat([ecc, Buffer.alloc(1)])), 'NTE_BAD_DATA', 'ECC long');
      await expectCryptError(() => imp('ECCPUBLICBLOB', ecc.subarray(0, ecc.length - 1)), 'NTE_BAD_DATA', 'ECC short');
      const cbKey = Buffer.from(ecc);
      cbKey.writeUInt32LE(32, 4);
      await expectCryptError(() => imp('ECCPUBLICBLOB', cbKey), 'NTE_BAD_DATA', 'cbKey of another curve');
      const eccUnknown = Buffer.from(ecc);
      eccUnknown.writeUInt32LE(0x394b4345, 0);
      await expectCryptError(() => imp('ECCPUBLICBLOB', eccUnknown), 'NTE_INVALID_PARAMETER', 'unknown ECC magic');
      const privMagic = Buffer.from(ecc);
      privMagic.writeUInt32LE(ECC_MAGIC.ECDH[384].priv, 0);
      await expectCryptError(() => imp('ECCPUBLICBLOB', privMagic), 'NTE_BAD_DATA', 'private magic under ECCPUBLICBLOB');
      const offCurve = Buffer.from(ecc);
      offCurve[offCurve.length - 1]! ^= 1;
      await expectCryptError(() => imp('ECCPUBLICBLOB', offCurve), 'NTE_BAD_DATA', 'point not on the curve');
      await expectCryptError(() => imp('PUBLICBLOB', offCurve), 'NTE_BAD_DATA', 'point not on the curve (generic)');
      await expectCryptError(() => imp('ECCPUBLICBLOB', rsa), 'NTE_INVALID_PARAMETER', 'RSA blob as ECC');

      const capi = capiPublicKeyBlob(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, CALG_RSA_SIGN);
      const badVersion = Buffer.from(capi);
      badVersion[1] = 3;
      await expectCryptError(() => imp('CAPIPUBLICBLOB', badVersion), 'NTE_BAD_DATA', 'CAPI bVersion 3');
      await expectCryptError(() => imp('CAPIPUBLICBLOB', capi.subarray(0, 100)), 'NTE_BAD_DATA', 'CAPI short');
    });

    it('an exponent wider than 32 bits imports, and then has no CAPIPUBLICBLOB (NTE_BAD_TYPE)', async () => {
      const n = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }).n!;
      const wide = crypto.createPublicKey({ key: { kty: 'RSA', n, e: Buffer.from('0100000001', 'hex').toString('base64url') }, format: 'jwk' });
      const h = await NCryptImportKey(fx.prov, null, 'RSAPUBLICBLOB', null, bcryptRsaBlob(wide, 0x31415352));
      sameKey(parseBcryptRsaPublic(await NCryptExportKey(h, null, 'RSAPUBLICBLOB', null)).key, wide, 'wide exponent');
      await expectCryptError(() => NCryptExportKey(h, null, 'CAPIPUBLICBLOB', null), 'NTE_BAD_TYPE');
      await NCryptFreeObject(h);
    });

    it('argument faults: flags, handles, blob type, data, a key name on a public blob', async () => {
      const blob = ecPublicBlobOf(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'ECDSA', 256);
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, blob, 0x10000), 'NTE_BAD_FLAGS');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, blob, 0x1), 'NTE_BAD_FLAGS');
      await expectCryptError(() => NCryptImportKey(key('rsa-kx') as never, null, 'ECCPUBLICBLOB', null, blob), 'NTE_INVALID_HANDLE', 'key as provider');
      await expectCryptError(() => NCryptImportKey(fx.prov, key('rsa-kx'), 'ECCPUBLICBLOB', null, blob), 'NTE_NOT_SUPPORTED', 'import key');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'KeyDataBlob', null, blob), 'NTE_BAD_TYPE', 'symmetric blob');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'PKCS8_PRIVATEKEY', null, blob), 'NTE_BAD_TYPE', 'PKCS#8');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 42 as unknown as string, null, blob), 'NTE_INVALID_PARAMETER', 'blob type');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, null as unknown as Uint8Array), 'NTE_INVALID_PARAMETER', 'no data');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', named('pub'), blob), 'NTE_NOT_SUPPORTED', 'named public');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', 'x' as never, blob), 'NTE_INVALID_PARAMETER', 'parameter list');
    });
  });

  describe('with the signing calls', () => {
    it('a card key\'s exported public blob, imported back, verifies NCryptSignHash signatures (RSA PKCS#1, ECDSA)', async () => {
      const hash = crypto.createHash('sha256').update(randomBytes(30)).digest();
      for (const [id, type, padding, flags] of [['rsa-kx', 'RSAPUBLICBLOB', { pszAlgId: 'SHA256' }, 2], ['ECDSA_P256', 'ECCPUBLICBLOB', null, 0]] as const) {
        const signature = await NCryptSignHash(key(id), padding, hash, flags | SILENT);
        const pub = await NCryptImportKey(fx.prov, null, 'PUBLICBLOB', null, await NCryptExportKey(key(id), null, type, null));
        await NCryptVerifySignature(pub, padding, hash, signature, flags);
        signature[signature.length - 1]! ^= 1;
        await expectCryptError(() => NCryptVerifySignature(pub, padding, hash, signature, flags), 'NTE_BAD_SIGNATURE', id);
        await NCryptFreeObject(pub);
      }
    });

    it('an imported private key signs through NCryptSignHash for its original public key', async () => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const h = await NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(uniqueName('signer')), eccPrivateBlob(privateKey, ECC_MAGIC.ECDSA[384].priv, 384));
      const message = randomBytes(50);
      const rs = await NCryptSignHash(h, null, crypto.createHash('sha384').update(message).digest());
      assert.ok(verifyEcdsa(publicKey, 'sha384', message, rs));
      await NCryptFreeObject(h);
    });
  });

  describe('import of private blobs onto the card', () => {
    it('RSAFULLPRIVATEBLOB with a name: the container holds the key, which signs for the original key', async () => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const name = uniqueName('rsa3');
      const h = await NCryptImportKey(fx.prov, null, 'RSAFULLPRIVATEBLOB', named(name), bcryptRsaBlob(privateKey, RSA3), SILENT);
      sameKey(graphenePublicKey(label(), name, 'RSA'), publicKey, 'token');
      sameKey(parseBcryptRsaPublic(await NCryptExportKey(h, null, 'PUBLICBLOB', null)).key, publicKey, 'export');
      assert.equal(parseRsaPublicBlob(await NCryptExportKey(h, null, 'CAPIPUBLICBLOB', null)).aiKeyAlg, CALG_RSA_KEYX, 'AT_KEYEXCHANGE');
      const message = randomBytes(64);
      const signature = await cardSign(name, AT_KEYEXCHANGE, 0x800c, crypto.createHash('sha256').update(message).digest());
      assert.ok(crypto.verify('sha256', message, publicKey, reversed(signature)), 'the card signature verifies with the original key');
      await NCryptFreeObject(h);
    });

    it('RSAPRIVATEBLOB under PRIVATEBLOB, the name as UTF-16LE bytes; a CAPIPRIVATEBLOB with CALG_RSA_SIGN lands in the signature slot', async () => {
      const a = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const nameA = uniqueName('rsa2');
      const hA = await NCryptImportKey(fx.prov, null, 'PRIVATEBLOB', [{ type: KEY_NAME, value: Buffer.from(`${nameA}\0`, 'utf16le') }], bcryptRsaBlob(a.privateKey, 0x32415352));
      sameKey(graphenePublicKey(label(), nameA, 'RSA'), a.publicKey, 'RSA2 token');
      const m = randomBytes(20);
      assert.ok(crypto.verify('sha256', m, a.publicKey, reversed(await cardSign(nameA, AT_KEYEXCHANGE, 0x800c, crypto.createHash('sha256').update(m).digest()))));
      await NCryptFreeObject(hA);

      const b = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
      const nameB = uniqueName('capi');
      const hB = await NCryptImportKey(fx.prov, null, 'CAPIPRIVATEBLOB', named(nameB), capiPrivateKeyBlob(b.privateKey, CALG_RSA_SIGN));
      sameKey(graphenePublicKey(label(), nameB, 'RSA'), b.publicKey, 'CAPI token');
      assert.equal(parseRsaPublicBlob(await NCryptExportKey(hB, null, 'CAPIPUBLICBLOB', null)).aiKeyAlg, CALG_RSA_SIGN, 'AT_SIGNATURE');
      assert.ok(crypto.verify('sha1', m, b.publicKey, reversed(await cardSign(nameB, AT_SIGNATURE, 0x8004, crypto.createHash('sha1').update(m).digest()))));
      await NCryptFreeObject(hB);
    });

    for (const bits of BITS) {
      it(`P-${bits}: an ECDSA private blob (ECCPRIVATEBLOB, PRIVATEBLOB) becomes a card key whose signatures verify with the original key`, async () => {
        for (const type of ['ECCPRIVATEBLOB', 'PRIVATEBLOB']) {
          const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: CURVE[bits].crv });
          const name = uniqueName(`ec${bits}`);
          const h = await NCryptImportKey(fx.prov, null, type, named(name), eccPrivateBlob(privateKey, ECC_MAGIC.ECDSA[bits].priv, bits));
          sameKey(graphenePublicKey(label(), name, 'EC', bits), publicKey, `${type} token`);
          const exported = parseEccPublicBlob(await NCryptExportKey(h, null, 'ECCPUBLICBLOB', null));
          assert.equal(exported.magic, ECC_MAGIC.ECDSA[bits].pub);
          sameKey(exported.key, publicKey, `${type} export`);
          const message = randomBytes(40);
          const spec = { 256: 3, 384: 4, 521: 5 }[bits];
          const rs = await cardSign(name, spec, 0, crypto.createHash(CURVE[bits].hash).update(message).digest());
          assert.ok(verifyEcdsa(publicKey, CURVE[bits].hash, message, rs), `${type}: card signature verifies`);
          await NCryptFreeObject(h);
        }
      });
    }

    it('NCRYPT_DO_NOT_FINALIZE_FLAG: a pending key (export NTE_BAD_KEY_STATE) that NCryptFinalizeKey writes', async () => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const name = uniqueName('later');
      const h = await NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(name), eccPrivateBlob(privateKey, ECC_MAGIC.ECDSA[256].priv, 256), DO_NOT_FINALIZE | SILENT);
      await expectCryptError(() => NCryptExportKey(h, null, 'PUBLICBLOB', null), 'NTE_BAD_KEY_STATE');
      assert.ok(!(await (await fx.card()).findContainer(name, true)), 'nothing on the card before finalize');
      const held = (h.state as { importKeyData?: Buffer }).importKeyData!;
      assert.ok(held.some((b) => b !== 0), 'the pending key holds the private key until finalize');
      await NCryptFinalizeKey(h, SILENT);
      assert.ok(held.every((b) => b === 0), 'finalize wipes the private key it wrote');
      sameKey(parseEccPublicBlob(await NCryptExportKey(h, null, 'PUBLICBLOB', null)).key, publicKey, 'after finalize');
      sameKey(graphenePublicKey(label(), name, 'EC', 256), publicKey, 'token after finalize');
      await NCryptFreeObject(h);
    });

    it('a pending import freed without finalize: its private key is wiped and nothing reaches the card', async () => {
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const name = uniqueName('dropped');
      const h = await NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(name), eccPrivateBlob(privateKey, ECC_MAGIC.ECDSA[256].priv, 256), DO_NOT_FINALIZE | SILENT);
      const held = (h.state as { importKeyData?: Buffer }).importKeyData!;
      await NCryptFreeObject(h);
      assert.ok(held.every((b) => b === 0), 'NCryptFreeObject wipes the pending private key');
      assert.ok(!(await (await fx.card()).findContainer(name, true)), 'nothing on the card');
    });

    it('an existing name: NTE_EXISTS, unless NCRYPT_OVERWRITE_KEY_FLAG replaces the key', async () => {
      const name = uniqueName('again');
      const first = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await NCryptFreeObject(await NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(name), eccPrivateBlob(first.privateKey, ECC_MAGIC.ECDSA[256].priv, 256)));
      const second = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const blob = eccPrivateBlob(second.privateKey, ECC_MAGIC.ECDSA[256].priv, 256);
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(name), blob), 'NTE_EXISTS');
      sameKey(graphenePublicKey(label(), name, 'EC', 256), first.publicKey, 'the first key stays');
      const h = await NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(name), blob, OVERWRITE);
      sameKey(graphenePublicKey(label(), name, 'EC', 256), second.publicKey, 'replaced');
      await NCryptFreeObject(h);
    });

    it('silent with no PIN cached: NTE_SILENT_CONTEXT, and nothing is written', async () => {
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const name = uniqueName('silent');
      await fx.logout();
      try {
        await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', named(name), eccPrivateBlob(privateKey, ECC_MAGIC.ECDSA[256].priv, 256), SILENT), 'NTE_SILENT_CONTEXT');
      } finally {
        await fx.login();
      }
      assert.ok(!(await (await fx.card()).findContainer(name, true)), 'no container was left');
    });

    it('without a key name: NTE_NOT_SUPPORTED; bad name buffers: NTE_INVALID_PARAMETER', async () => {
      const blob = eccPrivateBlob(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, ECC_MAGIC.ECDSA[256].priv, 256);
      const err = await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', null, blob), 'NTE_NOT_SUPPORTED');
      assert.match(err.message, /NCRYPTBUFFER_PKCS_KEY_NAME/, 'the message says how to name the key');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', [], blob), 'NTE_NOT_SUPPORTED', 'empty list');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', [{ type: 44, value: 'x' }], blob), 'NTE_INVALID_PARAMETER', 'other buffer type');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', [{ type: KEY_NAME, value: '' }], blob), 'NTE_INVALID_PARAMETER', 'empty name');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', [...named('a'), ...named('b')], blob), 'NTE_INVALID_PARAMETER', 'two names');
      await expectCryptError(() => NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', [{ type: KEY_NAME, value: Buffer.from([1, 2, 3]) }], blob), 'NTE_INVALID_PARAMETER', 'odd UTF-16');
    });

    it('inconsistent or malformed private blobs: NTE_BAD_DATA; unknown Magic: NTE_INVALID_PARAMETER; nothing reaches the card', async () => {
      const imp = (type: string, data: Uint8Array) => NCryptImportKey(fx.prov, null, type, named(uniqueName('bad')), data);
      const before = (await (await fx.card()).containers(true)).length;

      const a = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
      const b = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
      const full = bcryptRsaBlob(a, RSA3);
      const wrongD = Buffer.concat([full.subarray(0, full.length - 128), bcryptRsaBlob(b, RSA3).subarray(full.length - 128)]);
      await expectCryptError(() => imp('RSAFULLPRIVATEBLOB', wrongD), 'NTE_BAD_DATA', 'd of another key');
      const rsa2 = bcryptRsaBlob(a, 0x32415352);
      const badPrime = Buffer.from(rsa2);
      badPrime[badPrime.length - 1]! ^= 2;
      await expectCryptError(() => imp('RSAPRIVATEBLOB', badPrime), 'NTE_BAD_DATA', 'p·q ≠ n');
      await expectCryptError(() => imp('RSAPRIVATEBLOB', rsa2.subarray(1)), 'NTE_INVALID_PARAMETER', 'shifted: unknown magic');
      await expectCryptError(() => imp('RSAPRIVATEBLOB', Buffer.concat([rsa2, Buffer.alloc(1)])), 'NTE_BAD_DATA', 'one byte long');
      await expectCryptError(() => imp('CAPIPRIVATEBLOB', capiPrivateKeyBlob(a, CALG_RSA_KEYX).subarray(0, 500)), 'NTE_BAD_DATA', 'truncated PRIVATEKEYBLOB');

      const e1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const e2 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const mixed = Buffer.concat([eccPrivateBlob(e1, ECC_MAGIC.ECDSA[256].priv, 256).subarray(0, 72), eccPrivateBlob(e2, ECC_MAGIC.ECDSA[256].priv, 256).subarray(72)]);
      await expectCryptError(() => imp('ECCPRIVATEBLOB', mixed), 'NTE_BAD_DATA', 'd of another point');
      const zeroD = Buffer.concat([eccPrivateBlob(e1, ECC_MAGIC.ECDSA[256].priv, 256).subarray(0, 72), Buffer.alloc(32)]);
      await expectCryptError(() => imp('ECCPRIVATEBLOB', zeroD), 'NTE_BAD_DATA', 'd = 0');
      await expectCryptError(() => imp('ECCPRIVATEBLOB', ecPublicBlobOf(crypto.createPublicKey(e1), 'ECDSA', 256)), 'NTE_BAD_DATA', 'public blob as private');
      await expectCryptError(() => imp('PRIVATEBLOB', ecPublicBlobOf(crypto.createPublicKey(e1), 'ECDSA', 256)), 'NTE_INVALID_PARAMETER', 'public magic under PRIVATEBLOB');
      const unknownMagic = eccPrivateBlob(e1, ECC_MAGIC.ECDSA[256].priv, 256);
      unknownMagic.writeUInt32LE(0x37534345, 0);
      await expectCryptError(() => imp('ECCPRIVATEBLOB', unknownMagic), 'NTE_INVALID_PARAMETER', 'unknown ECC magic');

      assert.equal((await (await fx.card()).containers(true)).length, before, 'no container was created by a refused import');
    });
  });
});
