/**
 * The addon's single-part signature and decryption (native/pkcs11-direct.cc, singlePartInto) on a real
 * SoftHSM2 token: the same results as pkcs11js's C_SignInit + C_Sign and C_DecryptInit + C_Decrypt
 * (checked through pkcs11js, a second path to the same token), the failing call's CK_RV with no
 * operation left behind, no crash on bad input; and the bridge using it when it can, pkcs11js when it
 * cannot, with the same signature either way. The count at the C level (2 calls per warm operation) is
 * pkcs11-spy's, in the ksp and csp-legacy warm-path suites.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { AT_KEYEXCHANGE, CALG_SHA_256, CARD_CREATE_CONTAINER_KEY_GEN } from '../../minidriver/constants.js';
import { loadNativeAddon } from '../../native/index.js';
import { DIRECT_DECRYPT, DIRECT_SIGN, directSinglePart, type DirectSinglePart } from '../../native/pkcs11-direct.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { counting, pkcs11FunctionNames } from '../support/call-counter.js';
import { makeToken, newDriver, pin, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { throwsCode } from '../support/throws-code.js';

const token = makeToken('native-single-part');
const A = pkcs11js;
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');


describe('native: a single-part signature or decryption in one crossing (singlePartInto)', () => {
  let module: LoadedModule;
  let direct: DirectSinglePart;
  let session: Buffer;
  let ec: { publicKey: Buffer; privateKey: Buffer };
  let rsa: { publicKey: Buffer; privateKey: Buffer };

  before(() => {
    module = acquireModule(SOFTHSM2_MODULE);
    assert.ok(module.singlePart, 'the addon is built, so the loaded module offers direct single-part calls');
    direct = module.singlePart;
    const p = module.pkcs11;
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.label);
    assert.ok(slot, `token ${token.label} not found`);
    session = p.C_OpenSession(slot, A.CKF_SERIAL_SESSION | A.CKF_RW_SESSION);
    p.C_Login(session, A.CKU_USER, token.pin);
    // Session objects: nothing is left on the token.
    ec = p.C_GenerateKeyPair(session, { mechanism: A.CKM_EC_KEY_PAIR_GEN },
      [{ type: A.CKA_TOKEN, value: false }, { type: A.CKA_EC_PARAMS, value: P256_PARAMS }, { type: A.CKA_VERIFY, value: true }],
      [{ type: A.CKA_TOKEN, value: false }, { type: A.CKA_SIGN, value: true }, { type: A.CKA_SENSITIVE, value: true }]);
    rsa = p.C_GenerateKeyPair(session, { mechanism: A.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [{ type: A.CKA_TOKEN, value: false }, { type: A.CKA_MODULUS_BITS, value: 2048 }, { type: A.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        { type: A.CKA_VERIFY, value: true }, { type: A.CKA_ENCRYPT, value: true }],
      [{ type: A.CKA_TOKEN, value: false }, { type: A.CKA_SIGN, value: true }, { type: A.CKA_DECRYPT, value: true }, { type: A.CKA_SENSITIVE, value: true }]);
  });

  after(() => {
    try { module.pkcs11.C_CloseSession(session); } finally { releaseModule(module); }
  });

  /** pkcs11js's verdict; it throws CKR_SIGNATURE_INVALID for a signature that does not match. */
  const verifies = (mechanism: number, publicKey: Buffer, data: Buffer, signature: Buffer): boolean => {
    module.pkcs11.C_VerifyInit(session, { mechanism }, publicKey);
    try {
      return module.pkcs11.C_Verify(session, data, signature);
    } catch (err) {
      if ((err as { code?: number }).code === A.CKR_SIGNATURE_INVALID) return false;
      throw err;
    }
  };

  it('ECDSA P-256: r‖s of 64 bytes that pkcs11js verifies on the public key', () => {
    const hash = randomBytes(32);
    const out = Buffer.alloc(64);
    assert.equal(direct(DIRECT_SIGN, session, A.CKM_ECDSA, ec.privateKey, hash, out), 64);
    assert.ok(verifies(A.CKM_ECDSA, ec.publicKey, hash, out));
    assert.ok(!verifies(A.CKM_ECDSA, ec.publicKey, randomBytes(32), out), 'and not for another hash');
  });

  it('RSA PKCS#1 v1.5: the same signature bytes as pkcs11js (the scheme is deterministic); handles as numbers work too', () => {
    const data = randomBytes(51);
    module.pkcs11.C_SignInit(session, { mechanism: A.CKM_RSA_PKCS }, rsa.privateKey);
    const viaPkcs11js = module.pkcs11.C_Sign(session, data, Buffer.alloc(256));
    const out = Buffer.alloc(256);
    assert.equal(direct(DIRECT_SIGN, session, A.CKM_RSA_PKCS, rsa.privateKey, data, out), 256);
    assert.deepEqual(out, viaPkcs11js);
    const asNumber = (h: Buffer) => Number(h.readBigUInt64LE(0));
    const again = Buffer.alloc(256);
    assert.equal(direct(DIRECT_SIGN, asNumber(session), A.CKM_RSA_PKCS, asNumber(rsa.privateKey), data, again), 256);
    assert.deepEqual(again, viaPkcs11js);
  });

  it('RSA decryption: PKCS#1 v1.5 returns the plaintext length (shorter than the buffer), CKM_RSA_X_509 the whole block', () => {
    const message = Buffer.from('p11-ksp single part');
    module.pkcs11.C_EncryptInit(session, { mechanism: A.CKM_RSA_PKCS }, rsa.publicKey);
    const ciphertext = module.pkcs11.C_Encrypt(session, message, Buffer.alloc(256));
    const out = Buffer.alloc(256, 0xee);
    const length = direct(DIRECT_DECRYPT, session, A.CKM_RSA_PKCS, rsa.privateKey, ciphertext, out);
    assert.equal(length, message.length);
    assert.deepEqual(out.subarray(0, length), message);
    const block = Buffer.alloc(256);
    assert.equal(direct(DIRECT_DECRYPT, session, A.CKM_RSA_X_509, rsa.privateKey, ciphertext, block), 256);
    assert.equal(block[0], 0x00);
    assert.equal(block[1], 0x02, 'an encryption block (type 2) of PKCS#1 v1.5');
    assert.deepEqual(block.subarray(256 - message.length), message);
  });

  it("a failing Init or single-part call answers the CK_RV pkcs11js reports for it, negated, and leaves no operation active", () => {
    const hash = randomBytes(32);
    const handle = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };
    /** The CK_RV pkcs11js throws for the same two calls. */
    const viaPkcs11js = (s: Buffer, mechanism: number, key: Buffer, data: Buffer): number => {
      try {
        module.pkcs11.C_SignInit(s, { mechanism }, key);
        module.pkcs11.C_Sign(s, data, Buffer.alloc(256));
      } catch (err) {
        return (err as { code: number }).code;
      }
      assert.fail('pkcs11js signed');
    };
    const cases: [string, Buffer, number, Buffer, Buffer][] = [
      ['an unknown key handle (C_SignInit)', session, A.CKM_ECDSA, handle(0xfffffffn), hash],
      ['CKM_ECDSA with an RSA key (C_SignInit)', session, A.CKM_ECDSA, rsa.privateKey, hash],
      ['more than a PKCS#1 v1.5 block holds (C_Sign)', session, A.CKM_RSA_PKCS, rsa.privateKey, randomBytes(300)],
      ['an unknown session', handle(0xffffffn), A.CKM_ECDSA, ec.privateKey, hash],
    ];
    for (const [what, s, mechanism, key, data] of cases) {
      const rv = viaPkcs11js(s, mechanism, key, data);
      assert.ok(rv > 0, what);
      assert.equal(direct(DIRECT_SIGN, s, mechanism, key, data, Buffer.alloc(256)), -rv, what);
      assert.equal(direct(DIRECT_SIGN, session, A.CKM_ECDSA, ec.privateKey, hash, Buffer.alloc(64)), 64, `${what}: the session signs again`);
    }
  });

  it('bad arguments are TypeError/RangeError, never a crash; a module not loaded in the process offers no direct calls', () => {
    const hash = randomBytes(32);
    throwsCode(() => direct(2 as never, session, A.CKM_ECDSA, ec.privateKey, hash, Buffer.alloc(64)), RangeError, 'ERR_OUT_OF_RANGE', 'operation 2');
    throwsCode(() => direct(DIRECT_SIGN, Buffer.alloc(4), A.CKM_ECDSA, ec.privateKey, hash, Buffer.alloc(64)), RangeError, 'ERR_OUT_OF_RANGE', 'a 4-byte session handle');
    throwsCode(() => direct(DIRECT_SIGN, session, -1, ec.privateKey, hash, Buffer.alloc(64)), RangeError, 'ERR_OUT_OF_RANGE', 'a negative mechanism');
    throwsCode(() => direct(DIRECT_SIGN, session, A.CKM_ECDSA, 'key' as never, hash, Buffer.alloc(64)), TypeError, 'ERR_INVALID_ARG_TYPE', 'a string key');
    throwsCode(() => direct(DIRECT_SIGN, session, A.CKM_ECDSA, ec.privateKey, [1, 2] as never, Buffer.alloc(64)), TypeError, 'ERR_INVALID_ARG_TYPE', 'an array as input');
    throwsCode(() => direct(DIRECT_SIGN, session, A.CKM_ECDSA, ec.privateKey, hash, new Uint16Array(32) as never), TypeError, 'ERR_INVALID_ARG_TYPE', 'a Uint16Array as output');
    const addon = loadNativeAddon();
    throwsCode(() => addon.singlePartInto(1e6, DIRECT_SIGN, session, A.CKM_ECDSA, ec.privateKey, hash, Buffer.alloc(64)), RangeError, 'ERR_OUT_OF_RANGE', 'an unknown module index');
    throwsCode(() => (addon.singlePartInto as (...a: unknown[]) => number)(0, DIRECT_SIGN), TypeError, 'ERR_INVALID_ARG_TYPE', 'too few arguments');
    assert.equal(directSinglePart('/nonexistent/libpkcs11.so'), undefined);
  });

  it('the bridge signs through it when the module offers it, through pkcs11js when not: the same signature', async () => {
    const driver = newDriver();
    const card = await driver.openCard({ label: token.label });
    await card.CardAuthenticatePin('user', pin(token.pin));
    await card.CardCreateContainer(0, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, 2048);
    const hash = randomBytes(32);
    const sign = () => card.CardSignData({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: hash });
    const holder = module as { singlePart: DirectSinglePart | undefined };
    const countPkcs11js = async (action: () => Promise<void>) => counting(module.pkcs11, pkcs11FunctionNames(module.pkcs11), (n) => n.replace(/Async$/, ''), action);
    try {
      await sign(); // warm: the key handle and the latency estimate (inline from here on)
      await sign();
      let directly: Buffer | undefined;
      let viaAddon = 0;
      const original = holder.singlePart!;
      holder.singlePart = (...args) => { viaAddon++; return original(...args); };
      const pkcs11jsWhenDirect = await countPkcs11js(async () => { directly = await sign(); });
      holder.singlePart = undefined; // as without the addon
      let viaPkcs11js: Buffer | undefined;
      const pkcs11jsWithout = await countPkcs11js(async () => { viaPkcs11js = await sign(); });
      assert.equal(viaAddon, 1, 'one direct crossing');
      assert.deepEqual(pkcs11jsWhenDirect, {}, 'no pkcs11js call beside it');
      assert.deepEqual(pkcs11jsWithout, { C_SignInit: 1, C_Sign: 1 });
      assert.deepEqual(directly, viaPkcs11js);
    } finally {
      holder.singlePart = direct;
      await card.CardDeleteContainer(0);
      await card.CardDeleteContext();
      await driver.close();
    }
  });
});
