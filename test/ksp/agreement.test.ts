/**
 * NCryptSecretAgreement / NCryptDeriveKey with card ECDH keys on SoftHSM2.
 *
 * Proof: node:crypto computes the same agreed secret from its own key pair and the card's public point
 * (read by graphene, not by the code under test), and every KDF's output is recomputed here from that
 * secret with node:crypto hashes and HMACs, following the CNG definitions.
 */
import assert from 'node:assert/strict';
import crypto, { type ECDH } from 'node:crypto';
import { NCryptSecretAgreement, NCryptDeriveKey } from '../../ksp/agreement.js';
import { NCryptImportKey } from '../../ksp/blobs.js';
import { NCryptCreatePersistedKey } from '../../ksp/keys.js';
import { NCryptFreeObject } from '../../ksp/provider.js';
import { destroySecret } from '../../ksp/secret.js';
import type { NCryptKeyHandle, NCryptSecretHandle } from '../../ksp/handles.js';
import { CURVE, type CurveBits, ECC_MAGIC, eccPrivateBlob, eccPublicBlob, expectCryptError, graphenePublicKey, reversed, splitPoint } from '../pkcs11-bridge/helpers.js';
import { kspFixture } from './fixture.js';
import { localModuleOnly, TEST_TRANSPORT } from '../smartcard/service-helpers.js';
import { NCryptGetProperty } from '../../ksp/properties.js';
import { NCRYPT_ALGORITHM_PROPERTY } from '../../ksp/constants.js';

const SILENT = 0x40;
const KDF_USE_SECRET_AS_HMAC_KEY_FLAG = 0x1;
// NCryptBuffer types (bcrypt.h)
const HASH_ALGORITHM = 0;
const PREPEND = 1;
const APPEND = 2;
const HMAC_KEY = 3;
const ALGORITHMID = 8;
const PARTYUINFO = 9;
const PARTYVINFO = 10;
const SUPPPUBINFO = 11;
const BITS = [256, 384, 521] as const;
/** SP800_56A_CONCAT's hash when none is named: the one of the curve's size. */
const CURVE_HASH: Record<CurveBits, string> = { 256: 'sha256', 384: 'sha384', 521: 'sha512' };

/** KDF_HASH_ALGORITHM as Windows passes it: a NUL-terminated UTF-16LE string. */
const hashName = (name: string) => ({ type: HASH_ALGORITHM, value: Buffer.from(`${name}\0`, 'utf16le') });
const sha = (alg: string, ...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), crypto.createHash(alg)).digest();
const hmac = (alg: string, key: Buffer, ...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), crypto.createHmac(alg, key)).digest();

let serial = 0;
const uniqueName = (what: string) => `${what}-${++serial}-${Date.now().toString(36)}`;

/**
 * p11-kit 0.24 (Debian 12) cannot carry CKM_ECDH1_DERIVE's parameters over its RPC protocol: the
 * server answers CKR_MECHANISM_INVALID, which is NTE_NOT_SUPPORTED here (asserted below).
 */
const NO_REMOTE_ECDH = 'p11-kit 0.24 remoting has no CKM_ECDH1_DERIVE';

describe('ksp: NCryptSecretAgreement / NCryptDeriveKey', function () {
  // Inside the describe (run at load time, so the tokens still exist before SoftHSM2 starts): the
  // fixture's hooks then belong to this suite, and other files' fixtures do not replace its service.
  const fx = kspFixture('ksp-agree');
  this.timeout(120_000);
  const ecdh = new Map<CurveBits, { handle: NCryptKeyHandle; point: Buffer }>();
  let ecdsa: NCryptKeyHandle;
  let rsa: NCryptKeyHandle;
  const open: (NCryptKeyHandle | NCryptSecretHandle)[] = [];
  const track = <T extends NCryptKeyHandle | NCryptSecretHandle>(h: T): T => (open.push(h), h);

  /** A node:crypto ECDH key pair and its ECK public blob imported as a public-only key. */
  const peer = async (bits: CurveBits): Promise<{ node: ECDH; handle: NCryptKeyHandle }> => {
    const node = crypto.createECDH(CURVE[bits].node);
    node.generateKeys();
    const { x, y } = splitPoint(node.getPublicKey(), bits);
    return { node, handle: track(await NCryptImportKey(fx.prov, null, 'ECCPUBLICBLOB', null, eccPublicBlob(ECC_MAGIC.ECDH[bits].pub, bits, x, y))) };
  };

  /** The card key, a node peer, the secret handle and the Z node:crypto computes for it. */
  const agree = async (bits: CurveBits) => {
    const p = await peer(bits);
    const secret = track(await NCryptSecretAgreement(ecdh.get(bits)!.handle, p.handle, SILENT));
    return { secret, z: p.node.computeSecret(ecdh.get(bits)!.point) };
  };

  before(async () => {
    for (const bits of BITS) {
      const name = uniqueName(`ecdh${bits}`);
      const handle = await fx.newKey(`ECDH_P${bits}`, { name });
      const jwk = graphenePublicKey(fx.tokens[0]!.label, name, 'EC', bits).export({ format: 'jwk' });
      ecdh.set(bits, { handle, point: Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]) });
    }
    ecdsa = await fx.newKey('ECDSA_P256');
    rsa = await fx.newKey('RSA', { bits: 1024 });
  });

  afterEach(async () => {
    for (const h of open.splice(0)) if (!h.freed) await NCryptFreeObject(h);
  });

  after(async () => {
    for (const h of [...[...ecdh.values()].map((e) => e.handle), ecdsa, rsa]) if (h && !h.freed) await NCryptFreeObject(h);
  });

  for (const bits of BITS) {
    it(`P-${bits}: every KDF gives what node:crypto derives from its own side of the agreement`, async function () {
      localModuleOnly(this, NO_REMOTE_ECDH);
      const { secret, z } = await agree(bits);
      assert.equal(z.length, CURVE[bits].bytes);
      const derive = (kdf: string, params: { type: number; value: Buffer | string }[] | null, flags = 0) => NCryptDeriveKey(secret, kdf, params, flags);

      assert.deepEqual(await derive('TRUNCATE', null), reversed(z), 'TRUNCATE: Z little-endian');
      assert.deepEqual(await derive('HASH', null), sha('sha1', z), 'HASH: SHA1 by default');
      const [p1, p2, a1, a2] = ['pre-1', 'pre-2', 'app-1', 'app-2'].map((s) => Buffer.from(s));
      assert.deepEqual(
        await derive('HASH', [{ type: PREPEND, value: p1! }, hashName('SHA256'), { type: APPEND, value: a1! }, { type: PREPEND, value: p2! }, { type: APPEND, value: a2! }]),
        sha('sha256', p1!, p2!, z, a1!, a2!), 'HASH: prepends and appends concatenated in list order (N24)');
      assert.deepEqual(await derive('HASH', [{ type: HASH_ALGORITHM, value: 'SHA512' }]), sha('sha512', z), 'HASH: hash named by a string');

      const macKey = crypto.randomBytes(24);
      assert.deepEqual(await derive('HMAC', [hashName('SHA384'), { type: HMAC_KEY, value: macKey }, { type: PREPEND, value: p1! }]), hmac('sha384', macKey, p1!, z), 'HMAC with KDF_HMAC_KEY');
      assert.deepEqual(await derive('HMAC', [hashName('SHA256')], KDF_USE_SECRET_AS_HMAC_KEY_FLAG), hmac('sha256', z, z), 'HMAC keyed by the secret');

      const algId = Buffer.from('AES\0', 'utf16le');
      const u = Buffer.from('Alice');
      const v = Buffer.from('Bob');
      const otherInfo = Buffer.concat([algId, u, v]);
      const counter1 = Buffer.from([0, 0, 0, 1]);
      assert.deepEqual(
        await derive('SP800_56A_CONCAT', [{ type: ALGORITHMID, value: algId }, { type: PARTYUINFO, value: u }, { type: PARTYVINFO, value: v }]),
        sha(CURVE_HASH[bits], counter1, z, otherInfo), 'SP800-56A with the curve\'s hash');
      const pub = Buffer.from('supp-pub');
      assert.deepEqual(
        await derive('SP800_56A_CONCAT', [hashName('SHA256'), { type: ALGORITHMID, value: algId }, { type: PARTYUINFO, value: u }, { type: PARTYVINFO, value: v }, { type: SUPPPUBINFO, value: pub }]),
        sha('sha256', counter1, z, otherInfo, pub), 'SP800-56A with SHA256 and SuppPubInfo');
    });
  }

  it('an ECDH private key imported onto the card agrees on the secret node:crypto computes with the original key', async function () {
    localModuleOnly(this, NO_REMOTE_ECDH);
    const mine = crypto.createECDH('secp384r1');
    mine.generateKeys();
    const { x, y } = splitPoint(mine.getPublicKey(), 384);
    const original = crypto.createPrivateKey({ key: { kty: 'EC', crv: 'P-384', d: mine.getPrivateKey().toString('base64url'), x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
    const imported = track(await NCryptImportKey(fx.prov, null, 'ECCPRIVATEBLOB', [{ type: 45, value: uniqueName('imported-ecdh') }], eccPrivateBlob(original, ECC_MAGIC.ECDH[384].priv, 384), SILENT));
    const p = await peer(384);
    const secret = track(await NCryptSecretAgreement(imported, p.handle));
    assert.deepEqual(await NCryptDeriveKey(secret, 'TRUNCATE', null), reversed(mine.computeSecret(p.node.getPublicKey())));
  });

  it('two card keys agree with each other in both directions (the peer may be a persisted key\'s public part)', async function () {
    localModuleOnly(this, NO_REMOTE_ECDH);
    const other = track(await fx.newKey('ECDH_P256'));
    const ab = track(await NCryptSecretAgreement(ecdh.get(256)!.handle, other));
    const ba = track(await NCryptSecretAgreement(other, ecdh.get(256)!.handle));
    assert.deepEqual(await NCryptDeriveKey(ab, 'HASH', [hashName('SHA256')]), await NCryptDeriveKey(ba, 'HASH', [hashName('SHA256')]));
  });

  it('a freed or destroyed secret: NTE_INVALID_HANDLE', async function () {
    localModuleOnly(this, NO_REMOTE_ECDH);
    const { secret } = await agree(256);
    await NCryptFreeObject(secret);
    await expectCryptError(() => NCryptDeriveKey(secret, 'TRUNCATE', null), 'NTE_INVALID_HANDLE', 'freed');
    const second = (await agree(256)).secret;
    await destroySecret(second.secret);
    await expectCryptError(() => NCryptDeriveKey(second, 'TRUNCATE', null), 'NTE_INVALID_HANDLE', 'destroyed');
    await expectCryptError(() => NCryptDeriveKey(ecdh.get(256)!.handle as never, 'TRUNCATE', null), 'NTE_INVALID_HANDLE', 'key handle');
  });

  it('NCryptDeriveKey faults: unknown KDF NTE_NOT_SUPPORTED, bad parameters NTE_INVALID_PARAMETER, bad flags NTE_BAD_FLAGS', async function () {
    localModuleOnly(this, NO_REMOTE_ECDH);
    const { secret } = await agree(256);
    const derive = (kdf: unknown, params: unknown, flags = 0) => NCryptDeriveKey(secret, kdf as string, params as null, flags);
    await expectCryptError(() => derive('TLS_PRF', null), 'NTE_NOT_SUPPORTED', 'TLS_PRF');
    await expectCryptError(() => derive('HKDF', null), 'NTE_NOT_SUPPORTED', 'HKDF');
    await expectCryptError(() => derive('hash', null), 'NTE_NOT_SUPPORTED', 'names are exact');
    await expectCryptError(() => derive(null, null), 'NTE_INVALID_PARAMETER', 'no KDF');
    await expectCryptError(() => derive('HASH', 'x'), 'NTE_INVALID_PARAMETER', 'list not an array');
    await expectCryptError(() => derive('HASH', [{ type: 'a', value: Buffer.alloc(1) }]), 'NTE_INVALID_PARAMETER', 'type not a number');
    await expectCryptError(() => derive('HASH', [{ type: PREPEND, value: 5 }]), 'NTE_INVALID_PARAMETER', 'value not bytes');
    await expectCryptError(() => derive('HASH', [null]), 'NTE_INVALID_PARAMETER', 'null buffer');
    await expectCryptError(() => derive('HASH', [{ type: 99, value: Buffer.alloc(1) }]), 'NTE_INVALID_PARAMETER', 'unknown buffer type');
    await expectCryptError(() => derive('HASH', [{ type: HMAC_KEY, value: Buffer.alloc(1) }]), 'NTE_INVALID_PARAMETER', 'HMAC key for HASH');
    await expectCryptError(() => derive('HASH', [hashName('MD4')]), 'NTE_INVALID_PARAMETER', 'unknown hash');
    await expectCryptError(() => derive('TRUNCATE', [hashName('SHA256')]), 'NTE_INVALID_PARAMETER', 'parameters for TRUNCATE');
    await expectCryptError(() => derive('HMAC', null), 'NTE_INVALID_PARAMETER', 'HMAC without a key');
    await expectCryptError(() => derive('HMAC', [{ type: HMAC_KEY, value: Buffer.alloc(4) }], KDF_USE_SECRET_AS_HMAC_KEY_FLAG), 'NTE_INVALID_PARAMETER', 'two HMAC keys');
    await expectCryptError(() => derive('SP800_56A_CONCAT', [{ type: PARTYUINFO, value: Buffer.alloc(1) }, { type: PARTYVINFO, value: Buffer.alloc(1) }]), 'NTE_INVALID_PARAMETER', 'no AlgorithmID');
    await expectCryptError(() => derive('HASH', null, KDF_USE_SECRET_AS_HMAC_KEY_FLAG), 'NTE_BAD_FLAGS', 'HMAC flag with HASH');
    await expectCryptError(() => derive('HASH', null, SILENT), 'NTE_BAD_FLAGS', 'silent');
    await expectCryptError(() => derive('NOSUCHKDF', null, 0x100), 'NTE_BAD_FLAGS', 'flags before the KDF (N4)');
    assert.equal((await derive('TRUNCATE', null)).length, 32, 'the secret still works after refused calls');
  });

  // Only in the remote pass: the local pass proves the agreement itself.
  if (TEST_TRANSPORT === 'p11kit-remote') it('through p11-kit 0.24\'s remoting, ECDH is NTE_NOT_SUPPORTED with the token\'s reason, and the key stays usable', async () => {
    const p = await peer(256);
    const err = await expectCryptError(() => NCryptSecretAgreement(ecdh.get(256)!.handle, p.handle, SILENT), 'NTE_NOT_SUPPORTED');
    assert.match(String(err.cause), /CKR_MECHANISM_INVALID/);
    assert.equal(await NCryptGetProperty(ecdh.get(256)!.handle, NCRYPT_ALGORITHM_PROPERTY), 'ECDH_P256', 'the key handle still works');
  });

  it('NCryptSecretAgreement faults', async () => {
    const p256 = (await peer(256)).handle;
    const p384 = (await peer(384)).handle;
    const key256 = ecdh.get(256)!.handle;
    await expectCryptError(() => NCryptSecretAgreement(key256, p384), 'NTE_INVALID_PARAMETER', 'peer on another curve');
    const ecdsaPeer = track(await NCryptImportKey(fx.prov, null, 'PUBLICBLOB', null, await ecdsaBlobOf()));
    await expectCryptError(() => NCryptSecretAgreement(key256, ecdsaPeer), 'NTE_INVALID_PARAMETER', 'ECDSA peer');
    await expectCryptError(() => NCryptSecretAgreement(key256, rsa), 'NTE_INVALID_PARAMETER', 'RSA peer');
    await expectCryptError(() => NCryptSecretAgreement(ecdsa, p256), 'NTE_NOT_SUPPORTED', 'ECDSA private key');
    await expectCryptError(() => NCryptSecretAgreement(rsa, p256), 'NTE_NOT_SUPPORTED', 'RSA private key');
    await expectCryptError(() => NCryptSecretAgreement(p256, p256), 'NTE_NOT_SUPPORTED', 'public-only key as the private side');
    await expectCryptError(() => NCryptSecretAgreement(key256, p256, 0x1), 'NTE_BAD_FLAGS');
    await expectCryptError(() => NCryptSecretAgreement(fx.prov as never, p256), 'NTE_INVALID_HANDLE', 'provider as key');
    await expectCryptError(() => NCryptSecretAgreement(key256, null as never), 'NTE_INVALID_HANDLE', 'no peer');
    const pending = track(await NCryptCreatePersistedKey(fx.prov, 'ECDH_P256', uniqueName('pending'), 0, SILENT));
    await expectCryptError(() => NCryptSecretAgreement(pending, p256), 'NTE_BAD_KEY_STATE', 'pending private key');
    await expectCryptError(() => NCryptSecretAgreement(key256, pending), 'NTE_BAD_KEY_STATE', 'pending peer');
    const freedPeer = (await peer(256)).handle;
    await NCryptFreeObject(freedPeer);
    await expectCryptError(() => NCryptSecretAgreement(key256, freedPeer), 'NTE_INVALID_HANDLE', 'freed peer');
  });

  it('silent with no PIN cached: NTE_SILENT_CONTEXT', async () => {
    const p = (await peer(256)).handle;
    await fx.logout();
    try {
      await expectCryptError(() => NCryptSecretAgreement(ecdh.get(256)!.handle, p, SILENT), 'NTE_SILENT_CONTEXT');
    } finally {
      await fx.login();
    }
  });

  /** An ECDSA P-256 public blob (ECS1) of a fresh node key. */
  async function ecdsaBlobOf(): Promise<Buffer> {
    const node = crypto.createECDH('prime256v1');
    node.generateKeys();
    const { x, y } = splitPoint(node.getPublicKey(), 256);
    return eccPublicBlob(ECC_MAGIC.ECDSA[256].pub, 256, x, y);
  }
});
