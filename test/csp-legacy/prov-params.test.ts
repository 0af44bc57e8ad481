/**
 * CryptGetProvParam / CryptSetProvParam on SoftHSM2 cards: every parameter of the smart card CSP, its
 * value checked against the card itself (container map, key sizes, certificate files, msroots, PIN
 * state), PROV_ENUMALGS(_EX) byte for byte, and the error paths (P1–P5).
 */
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { onCard } from '../../csp-legacy/card-access.js';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CRYPT_DEFAULT_CONTAINER_OPTIONAL, CRYPT_FIRST, CRYPT_IMPL_HARDWARE, CRYPT_IMPL_REMOVABLE, CRYPT_MACHINE_KEYSET,
  CRYPT_NEXT, CRYPT_SGC_ENUM, CRYPT_SILENT, CRYPT_VERIFYCONTEXT, MS_SCARD_PROV, PP_ADMIN_PIN, PP_CLIENT_HWND, PP_CONTAINER, PP_ENUMALGS,
  PP_ENUMALGS_EX, PP_ENUMCONTAINERS, PP_IMPTYPE, PP_KEYEXCHANGE_PIN, PP_KEYSET_TYPE, PP_KEYSPEC, PP_KEYSTORAGE, PP_KEYX_KEYSIZE_INC,
  PP_NAME, PP_PIN_PROMPT_STRING, PP_PROVTYPE, PP_ROOT_CERTSTORE, PP_SIG_KEYSIZE_INC, PP_SIGNATURE_PIN, PP_SMARTCARD_GUID,
  PP_SMARTCARD_READER, PP_UI_PROMPT, PP_UNIQUE_CONTAINER, PP_USER_CERTSTORE, PP_VERSION, PROV_RSA_FULL,
} from '../../csp-legacy/constants.js';
import type { HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGetProvParam, CryptSetProvParam, type UserCertificate } from '../../csp-legacy/prov-params.js';
import { CARD_CREATE_CONTAINER_KEY_GEN, ROLE_USER } from '../../minidriver/constants.js';
import { x509 } from '../../minidriver/x509.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import { setCardPromptText } from '../../smartcard/ui.js';
import { expectCryptError } from '../pkcs11-bridge/helpers.js';
import type { SoftHsmToken } from '../rigs/index.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { type CspFixture, cspFixture } from './fixture.js';

let fx: CspFixture;
let A: SoftHsmToken;
let B: SoftHsmToken;

/** A self-signed certificate made with WebCrypto and @peculiar/x509 (not with the code under test). */
async function makeCertificate(cn: string): Promise<x509.X509Certificate> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Date.now().toString(16), name: `CN=${cn}`, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as CryptoKeyPair, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
}

const der = (c: x509.X509Certificate): Buffer => Buffer.from(c.rawData);

/** Every value of an enumeration: CRYPT_FIRST, then CRYPT_NEXT until ERROR_NO_MORE_ITEMS. */
async function enumerate<T>(prov: HCRYPTPROV, param: number): Promise<T[]> {
  const out: T[] = [];
  for (let flags = CRYPT_FIRST; ; flags = CRYPT_NEXT) {
    try {
      out.push(await CryptGetProvParam(prov, param, flags) as T);
    } catch (err) {
      if ((err as { codeName?: string }).codeName === 'ERROR_NO_MORE_ITEMS') return out;
      throw err;
    }
    assert.ok(out.length < 1000, 'the enumeration ends');
  }
}

/** A CHAR[n] field: the text up to its NUL, after checking that everything past the NUL is zero. */
function charField(buffer: Buffer, offset: number, size: number, declaredLength: number): string {
  const field = buffer.subarray(offset, offset + size);
  const nul = field.indexOf(0);
  assert.ok(nul >= 0, 'NUL-terminated');
  assert.equal(declaredLength, nul + 1, 'the length field counts the NUL');
  assert.ok(field.subarray(nul).every((b) => b === 0), 'zero after the NUL');
  return field.subarray(0, nul).toString('latin1');
}

/** The rows expected of this provider with no card to ask (RSA: Microsoft's 1024/384/16384), typed from §3.6 and the algorithm table. */
const EXPECTED_ROWS: { algId: number; bits: [number, number, number]; protocols: number; name: string; longName: string }[] = [
  { algId: 0x6609, bits: [112, 112, 112], protocols: 0, name: '3DES TWO KEY', longName: 'Two Key Triple DES' },
  { algId: 0x6603, bits: [168, 168, 168], protocols: 0, name: '3DES', longName: 'Three Key Triple DES' },
  { algId: 0x660e, bits: [128, 128, 128], protocols: 0, name: 'AES-128', longName: 'Advanced Encryption Standard (AES-128)' },
  { algId: 0x660f, bits: [192, 192, 192], protocols: 0, name: 'AES-192', longName: 'Advanced Encryption Standard (AES-192)' },
  { algId: 0x6610, bits: [256, 256, 256], protocols: 0, name: 'AES-256', longName: 'Advanced Encryption Standard (AES-256)' },
  { algId: 0x8004, bits: [160, 160, 160], protocols: 0x20, name: 'SHA-1', longName: 'Secure Hash Algorithm (SHA-1)' },
  { algId: 0x800c, bits: [256, 256, 256], protocols: 0x20, name: 'SHA-256', longName: 'Secure Hash Algorithm (SHA-256)' },
  { algId: 0x800d, bits: [384, 384, 384], protocols: 0x20, name: 'SHA-384', longName: 'Secure Hash Algorithm (SHA-384)' },
  { algId: 0x800e, bits: [512, 512, 512], protocols: 0x20, name: 'SHA-512', longName: 'Secure Hash Algorithm (SHA-512)' },
  { algId: 0x8003, bits: [128, 128, 128], protocols: 0x20, name: 'MD5', longName: 'Message Digest 5 (MD5)' },
  { algId: 0x8008, bits: [288, 288, 288], protocols: 0, name: 'SSL3 SHAMD5', longName: 'SSL3 SHAMD5' },
  { algId: 0x2400, bits: [1024, 384, 16384], protocols: 0x30, name: 'RSA_SIGN', longName: 'RSA Signature' },
  { algId: 0xa400, bits: [1024, 384, 16384], protocols: 0x30, name: 'RSA_KEYX', longName: 'RSA Key Exchange' },
];

describe('csp-legacy: provider parameters', function () {
  fx = cspFixture('csp-pp', 2);
  [A, B] = fx.tokens as [SoftHsmToken, SoftHsmToken];
  let onA: string;

  before(async () => {
    onA = fx.uniqueName();
    await fx.newContainer(onA, A.label);
  });

  afterEach(async () => {
    setCardPromptText(null);
    await fx.login();
  });

  describe('fixed values (P5)', () => {
    it('PP_NAME, PP_PROVTYPE, PP_VERSION 0x200, PP_KEYSPEC 3, PP_KEYSET_TYPE 0 or CRYPT_MACHINE_KEYSET, with a card or none', async () => {
      for (const prov of [await fx.acquire(onA), await fx.acquire(null, CRYPT_VERIFYCONTEXT)]) {
        assert.equal(await CryptGetProvParam(prov, PP_NAME), MS_SCARD_PROV);
        assert.equal(await CryptGetProvParam(prov, PP_PROVTYPE), PROV_RSA_FULL);
        assert.equal(await CryptGetProvParam(prov, PP_VERSION), 0x200);
        assert.equal(await CryptGetProvParam(prov, PP_KEYSPEC), AT_KEYEXCHANGE | AT_SIGNATURE);
        assert.equal(await CryptGetProvParam(prov, PP_KEYSET_TYPE), 0);
      }
      assert.equal(await CryptGetProvParam(await fx.acquire(onA, CRYPT_MACHINE_KEYSET), PP_KEYSET_TYPE), CRYPT_MACHINE_KEYSET);
    });

    it('PP_SIG_KEYSIZE_INC / PP_KEYX_KEYSIZE_INC: the card\'s step (CardQueryKeySizes); 8 with no card bound', async () => {
      const prov = await fx.acquire(onA);
      const card = await fx.card(A.label);
      assert.equal(await CryptGetProvParam(prov, PP_SIG_KEYSIZE_INC), (await card.keySizes(AT_SIGNATURE)).dwIncrementalBitlen);
      assert.equal(await CryptGetProvParam(prov, PP_KEYX_KEYSIZE_INC), (await card.keySizes(AT_KEYEXCHANGE)).dwIncrementalBitlen);
      const verify = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      assert.equal(await CryptGetProvParam(verify, PP_SIG_KEYSIZE_INC), 8);
      assert.equal(await CryptGetProvParam(verify, PP_KEYX_KEYSIZE_INC), 8);
    });

    it('PP_IMPTYPE: hardware, and removable when the card\'s reader is; with no card bound hardware | removable', async () => {
      const prov = await fx.acquire(onA);
      const entry = (await fx.service.snapshot()).find((e) => e.card?.label === A.label)!;
      assert.equal(await CryptGetProvParam(prov, PP_IMPTYPE), CRYPT_IMPL_HARDWARE | (entry.state.removable ? CRYPT_IMPL_REMOVABLE : 0));
      assert.equal(await CryptGetProvParam(await fx.acquire(null, CRYPT_VERIFYCONTEXT), PP_IMPTYPE), CRYPT_IMPL_HARDWARE | CRYPT_IMPL_REMOVABLE);
    });
  });

  describe('containers', () => {
    it('PP_CONTAINER as acquired (P4); PP_UNIQUE_CONTAINER is reader-qualified and CryptAcquireContext takes it back', async () => {
      const reader = await fx.readerOf(A.label);
      const card = await fx.card(A.label);
      const defaultA = (await card.defaultContainer(true))!;
      const cases: [string | null, string][] = [[onA, onA], [await fx.qualified(onA, A.label), await fx.qualified(onA, A.label)], [await fx.qualified('', A.label), defaultA.name]];
      for (const [name, container] of cases) {
        const prov = await fx.acquire(name);
        assert.equal(await CryptGetProvParam(prov, PP_CONTAINER), container, String(name));
        const unique = await CryptGetProvParam(prov, PP_UNIQUE_CONTAINER) as string;
        assert.equal(unique, `\\\\.\\${reader}\\${prov.context.container!.name}`);
        const again = await fx.acquire(unique, CRYPT_SILENT);
        assert.equal(again.context.card, prov.context.card);
        assert.equal(again.context.container?.index, prov.context.container?.index, 'the same container');
        await CryptReleaseContext(again);
      }
      const four = await fx.acquire(null);
      assert.equal(await CryptGetProvParam(four, PP_CONTAINER), four.context.container!.name);
      const verify = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptGetProvParam(verify, PP_UNIQUE_CONTAINER), 'NTE_BAD_KEYSET', 'no container');
      const optional = await fx.acquire(await fx.qualified('', B.label), CRYPT_DEFAULT_CONTAINER_OPTIONAL | CRYPT_VERIFYCONTEXT);
      if (!optional.context.container) await expectCryptError(() => CryptGetProvParam(optional, PP_UNIQUE_CONTAINER), 'NTE_BAD_KEYSET');
    });

    it('PP_ENUMCONTAINERS: the card\'s containers in map order, then ERROR_NO_MORE_ITEMS; CRYPT_FIRST restarts, 0 continues', async () => {
      const made = [fx.uniqueName(), fx.uniqueName(), fx.uniqueName()];
      for (const name of made) await fx.newContainer(name, B.label);
      const onCard = (await (await fx.card(B.label)).containers(true)).map((c) => c.name);
      for (const name of made) assert.ok(onCard.includes(name));
      const prov = await fx.acquire(made[1]!);
      assert.deepEqual(await enumerate<string>(prov, PP_ENUMCONTAINERS), onCard);
      await expectCryptError(() => CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_NEXT), 'ERROR_NO_MORE_ITEMS', 'stays at the end');
      assert.equal(await CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_FIRST), onCard[0]);
      assert.equal(await CryptGetProvParam(prov, PP_ENUMCONTAINERS, 0), onCard[1], 'flags 0 continues');
      assert.equal(await CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_FIRST | CRYPT_NEXT), onCard[0], 'CRYPT_FIRST wins');
      // A container made meanwhile shows up at the next CRYPT_FIRST, not in the enumeration under way.
      const later = fx.uniqueName();
      await fx.newContainer(later, B.label);
      const rest = [];
      for (;;) {
        try { rest.push(await CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_NEXT)); } catch { break; }
      }
      assert.ok(!rest.includes(later));
      assert.ok((await enumerate<string>(prov, PP_ENUMCONTAINERS)).includes(later));
      const other = await enumerate<string>(await fx.acquire(onA), PP_ENUMCONTAINERS);
      assert.deepEqual(other, (await (await fx.card(A.label)).containers(true)).map((c) => c.name), "another context: its own card's");
    });

    it('PP_ENUMCONTAINERS on CRYPT_VERIFYCONTEXT: a reader names the card; a null name binds the first card', async () => {
      const byReader = await fx.acquire(await fx.qualified('', B.label), CRYPT_VERIFYCONTEXT | CRYPT_SILENT);
      assert.deepEqual(await enumerate<string>(byReader, PP_ENUMCONTAINERS), (await (await fx.card(B.label)).containers(true)).map((c) => c.name));
      const unbound = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const names = await enumerate<string>(unbound, PP_ENUMCONTAINERS);
      assert.ok(unbound.context.card);
      assert.deepEqual(names, (await unbound.context.card.containers(true)).map((c) => c.name));
      await expectCryptError(() => CryptGetProvParam(unbound, PP_ENUMCONTAINERS, CRYPT_SGC_ENUM), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptGetProvParam(unbound, PP_ENUMCONTAINERS, 0x20), 'NTE_BAD_FLAGS');
    });
  });

  describe('algorithms (§3.6, P3)', () => {
    it('PROV_ENUMALGS: 32 bytes, aiAlgid | dwBitLen | dwNameLen | szName[20], byte for byte', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const rows = await enumerate<Buffer>(prov, PP_ENUMALGS);
      assert.equal(rows.length, EXPECTED_ROWS.length);
      rows.forEach((row, i) => {
        const want = EXPECTED_ROWS[i]!;
        assert.ok(Buffer.isBuffer(row));
        assert.equal(row.length, 32);
        assert.equal(row.readUInt32LE(0), want.algId, want.name);
        assert.equal(row.readUInt32LE(4), want.bits[0]);
        assert.equal(charField(row, 12, 20, row.readUInt32LE(8)), want.name);
      });
      // Written out: CALG_AES_256 (0x6610), 256 bits, "AES-256" (8 with the NUL).
      assert.equal(rows[4]!.toString('hex'), '10660000' + '00010000' + '08000000' + Buffer.from('AES-256').toString('hex') + '00'.repeat(13));
      // CALG_SHA1 (0x8004), 160 bits, "SHA-1".
      assert.equal(rows[5]!.toString('hex'), '04800000' + 'a0000000' + '06000000' + '5348412d31' + '00'.repeat(15));
    });

    it('PROV_ENUMALGS_EX: 88 bytes, lengths, protocols and both names, byte for byte', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const rows = await enumerate<Buffer>(prov, PP_ENUMALGS_EX);
      assert.equal(rows.length, EXPECTED_ROWS.length);
      rows.forEach((row, i) => {
        const want = EXPECTED_ROWS[i]!;
        assert.equal(row.length, 88);
        assert.equal(row.readUInt32LE(0), want.algId);
        assert.deepEqual([row.readUInt32LE(4), row.readUInt32LE(8), row.readUInt32LE(12)], want.bits, want.name);
        assert.equal(row.readUInt32LE(16), want.protocols);
        assert.equal(charField(row, 24, 20, row.readUInt32LE(20)), want.name);
        assert.equal(charField(row, 48, 40, row.readUInt32LE(44)), want.longName);
      });
      // Written out: the reference's row CALG_RSA_KEYX, 1024 / 384 / 16384, SIGNING|IPSEC, 9 "RSA_KEYX", 17 "RSA Key Exchange".
      const rsaKeyx = '00a40000' + '00040000' + '80010000' + '00400000' + '30000000'
        + '09000000' + '5253415f4b455958' + '00'.repeat(12)
        + '11000000' + Buffer.from('RSA Key Exchange').toString('hex') + '00'.repeat(24);
      assert.equal(rows[12]!.toString('hex'), rsaKeyx);
      assert.equal(rsaKeyx.length, 176);
    });

    it('the cursors: CRYPT_FIRST restarts, 0 continues, the end is ERROR_NO_MORE_ITEMS and stays; the two enumerations are separate', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const first = await CryptGetProvParam(prov, PP_ENUMALGS, CRYPT_FIRST) as Buffer;
      const second = await CryptGetProvParam(prov, PP_ENUMALGS, 0) as Buffer;
      assert.notDeepEqual(first, second);
      const ex = await CryptGetProvParam(prov, PP_ENUMALGS_EX, CRYPT_FIRST) as Buffer;
      assert.equal(ex.readUInt32LE(0), first.readUInt32LE(0), 'PP_ENUMALGS_EX has its own cursor');
      assert.equal((await CryptGetProvParam(prov, PP_ENUMALGS, CRYPT_NEXT) as Buffer).readUInt32LE(0), EXPECTED_ROWS[2]!.algId);
      await enumerate(prov, PP_ENUMALGS);
      await expectCryptError(() => CryptGetProvParam(prov, PP_ENUMALGS, CRYPT_NEXT), 'ERROR_NO_MORE_ITEMS');
      await expectCryptError(() => CryptGetProvParam(prov, PP_ENUMALGS, 0), 'ERROR_NO_MORE_ITEMS');
      assert.deepEqual(await CryptGetProvParam(prov, PP_ENUMALGS, CRYPT_FIRST), first);
      await expectCryptError(() => CryptGetProvParam(prov, PP_ENUMALGS_EX, CRYPT_SGC_ENUM), 'NTE_BAD_FLAGS');
    });

    it('with a card: the RSA rows carry the card\'s key lengths (CardQueryKeySizes)', async () => {
      const prov = await fx.acquire(onA);
      const card = await fx.card(A.label);
      const rows = await enumerate<Buffer>(prov, PP_ENUMALGS_EX);
      for (const [algId, keySpec] of [[0x2400, AT_SIGNATURE], [0xa400, AT_KEYEXCHANGE]] as const) {
        const row = rows.find((r) => r.readUInt32LE(0) === algId)!;
        const sizes = await card.keySizes(keySpec);
        assert.deepEqual([row.readUInt32LE(4), row.readUInt32LE(8), row.readUInt32LE(12)], [sizes.dwDefaultBitlen, sizes.dwMinimumBitlen, sizes.dwMaximumBitlen]);
        const short = (await enumerate<Buffer>(prov, PP_ENUMALGS)).find((r) => r.readUInt32LE(0) === algId)!;
        assert.equal(short.readUInt32LE(4), sizes.dwDefaultBitlen);
      }
    });
  });

  describe('PINs', () => {
    it('PP_KEYEXCHANGE_PIN / PP_SIGNATURE_PIN: presented to the card now, verified and cached; a NUL-terminated string or bytes', async () => {
      const card = await fx.card(A.label);
      const key = pinCacheCard(card);
      for (const [param, value] of [[PP_KEYEXCHANGE_PIN, `${A.pin}\0`], [PP_SIGNATURE_PIN, A.pin], [PP_KEYEXCHANGE_PIN, Buffer.from(`${A.pin}\0`)], [PP_SIGNATURE_PIN, new Uint8Array(Buffer.from(A.pin))]] as const) {
        await fx.logout();
        assert.equal(fx.service.pins.has(key, ROLE_USER), false);
        const prov = await fx.acquire(onA, CRYPT_SILENT);
        const given = typeof value === 'string' ? value : Buffer.from(value);
        await CryptSetProvParam(prov, param, value);
        assert.ok(fx.service.pins.has(key, ROLE_USER), 'cached');
        assert.ok(await card.isAuthenticated(ROLE_USER), 'the card accepted it');
        if (typeof value !== 'string') assert.deepEqual(Buffer.from(value), given, "the caller's bytes are left as they were");
        // Private work of the silent context now runs without any UI.
        assert.equal(await onCard(prov, card, 'test', true, async () => 'done'), 'done');
      }
    });

    it('a wrong PIN is SCARD_W_WRONG_CHV with the tries left; it is neither cached nor in the message', async () => {
      await fx.logout();
      const prov = await fx.acquire(onA, CRYPT_SILENT);
      const wrong = `${A.pin}9x`;
      const err = await expectCryptError(() => CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, `${wrong}\0`), 'SCARD_W_WRONG_CHV');
      assert.equal(typeof err.attemptsRemaining, 'number');
      assert.ok(!err.message.includes(wrong) && !err.message.includes(A.pin), 'no PIN in the message');
      assert.equal(fx.service.pins.has(pinCacheCard(await fx.card(A.label)), ROLE_USER), false);
    });

    it('an empty PIN is SCARD_E_INVALID_CHV; values of other types ERROR_INVALID_PARAMETER; reading a PIN NTE_BAD_TYPE', async () => {
      const prov = await fx.acquire(onA);
      for (const empty of ['', '\0', Buffer.alloc(0), Buffer.from([0, 0x31])]) await expectCryptError(() => CryptSetProvParam(prov, PP_SIGNATURE_PIN, empty), 'SCARD_E_INVALID_CHV', JSON.stringify(empty));
      for (const bad of [1234, null, undefined, {}, [1, 2]]) await expectCryptError(() => CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, bad as never), 'ERROR_INVALID_PARAMETER', String(bad));
      await expectCryptError(() => CryptGetProvParam(prov, PP_KEYEXCHANGE_PIN), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptGetProvParam(prov, PP_SIGNATURE_PIN), 'NTE_BAD_TYPE');
      await expectCryptError(() => CryptSetProvParam(prov, PP_KEYEXCHANGE_PIN, A.pin, 1), 'NTE_BAD_FLAGS');
    });

    it('a CRYPT_VERIFYCONTEXT context with no name takes the PIN for the first card present', async () => {
      await fx.logout();
      await fx.remove(B.label);
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT | CRYPT_SILENT);
      await CryptSetProvParam(prov, PP_SIGNATURE_PIN, `${A.pin}\0`);
      assert.equal(prov.context.card, await fx.card(A.label), 'bound to the card present');
      assert.ok(fx.service.pins.has(pinCacheCard(prov.context.card!), ROLE_USER));
      assert.equal(prov.context.container, undefined);
    });
  });

  describe('certificate stores', () => {
    it('PP_USER_CERTSTORE: every user certificate of the card, each carrying its container and key spec', async () => {
      const card = await fx.card(B.label);
      const kx = fx.uniqueName();
      const sig = fx.uniqueName();
      const both = fx.uniqueName();
      const certs: Record<string, x509.X509Certificate> = {};
      for (const [name, specs] of [[kx, [AT_KEYEXCHANGE]], [sig, [AT_SIGNATURE]], [both, [AT_KEYEXCHANGE, AT_SIGNATURE]]] as const) {
        const container = (await fx.newContainer(name, B.label)).context.container!;
        for (const keySpec of specs) {
          await card.createKey(container.index, CARD_CREATE_CONTAINER_KEY_GEN, keySpec, 1024, null);
          const cert = await makeCertificate(`${name}-${keySpec}`);
          await card.writeCertificate(container.index, keySpec, der(cert));
          certs[`${name}/${keySpec}`] = cert;
        }
      }
      await fx.newContainer(fx.uniqueName(), B.label); // a container with no certificate adds nothing
      const prov = await fx.acquire(sig, CRYPT_SILENT);
      const store = await CryptGetProvParam(prov, PP_USER_CERTSTORE) as UserCertificate[];
      assert.ok(Array.isArray(store));
      const mine = store.filter((c) => [kx, sig, both].includes(c.container));
      assert.equal(mine.length, 4);
      for (const cert of mine) {
        assert.ok(cert instanceof x509.X509Certificate);
        const expected = certs[`${cert.container}/${cert.keySpec}`];
        assert.ok(expected, `${cert.container}/${cert.keySpec}`);
        assert.deepEqual(der(cert), der(expected));
        assert.deepEqual(Object.keys(cert).filter((k) => k === 'container' || k === 'keySpec'), [], 'not enumerable');
      }
      assert.deepEqual(mine.map((c) => `${c.container}/${c.keySpec}`), [`${kx}/1`, `${sig}/2`, `${both}/1`, `${both}/2`], 'container order, key exchange first');
      // A verify context on the reader reads them too (public data), and CRYPT_MACHINE_KEYSET from the card.
      const verify = await fx.acquire(await fx.qualified('', B.label), CRYPT_VERIFYCONTEXT | CRYPT_MACHINE_KEYSET);
      assert.equal((await CryptGetProvParam(verify, PP_USER_CERTSTORE) as UserCertificate[]).length, store.length);
      assert.deepEqual(await CryptGetProvParam(await fx.acquire(onA), PP_USER_CERTSTORE), [], 'a card with no certificates');
    });

    it('PP_ROOT_CERTSTORE: empty at first; setting writes the card\'s msroots (a PKCS#7 bag) that reads back', async () => {
      const prov = await fx.acquire(onA);
      const card = await fx.card(A.label);
      assert.deepEqual(await CryptGetProvParam(prov, PP_ROOT_CERTSTORE), []);
      const roots = [await makeCertificate('root one'), await makeCertificate('root two')];
      await CryptSetProvParam(prov, PP_ROOT_CERTSTORE, roots);
      const back = await CryptGetProvParam(prov, PP_ROOT_CERTSTORE) as x509.X509Certificate[];
      assert.deepEqual(back.map(der), roots.map(der));
      const onCard = await card.readRootStore(true);
      assert.ok(onCard, 'msroots is on the card');
      assert.deepEqual(Array.from(new x509.X509Certificates(new Uint8Array(onCard)), der), roots.map(der), 'a PKCS#7 bag of the certificates');
      const fresh = await fx.acquire(onA, CRYPT_MACHINE_KEYSET);
      assert.deepEqual((await CryptGetProvParam(fresh, PP_ROOT_CERTSTORE) as x509.X509Certificate[]).map(der), roots.map(der));
      await CryptSetProvParam(prov, PP_ROOT_CERTSTORE, []);
      assert.deepEqual(await CryptGetProvParam(prov, PP_ROOT_CERTSTORE), [], 'replaced by an empty store');
    });

    it('PP_ROOT_CERTSTORE set: a verify context NTE_PERM; silent without a PIN NTE_SILENT_CONTEXT; values that are no certificates refused', async () => {
      const roots = [await makeCertificate('root three')];
      await expectCryptError(() => CryptSetProvParam(fx.acquire(onA, CRYPT_VERIFYCONTEXT) as never, PP_ROOT_CERTSTORE, roots), 'ERROR_INVALID_PARAMETER', 'a promise is no handle');
      const verify = await fx.acquire(onA, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptSetProvParam(verify, PP_ROOT_CERTSTORE, roots), 'NTE_PERM');
      await fx.logout();
      const silent = await fx.acquire(onA, CRYPT_SILENT);
      await expectCryptError(() => CryptSetProvParam(silent, PP_ROOT_CERTSTORE, roots), 'NTE_SILENT_CONTEXT');
      await fx.login();
      for (const bad of [der(roots[0]!), 'x', 3, null, [1], [der(roots[0]!)], roots[0]]) {
        await expectCryptError(() => CryptSetProvParam(silent, PP_ROOT_CERTSTORE, bad as never), 'ERROR_INVALID_PARAMETER', String(bad));
      }
      await expectCryptError(() => CryptSetProvParam(silent, PP_ROOT_CERTSTORE, [{ rawData: new Uint8Array([1, 2, 3]).buffer }] as never), 'NTE_BAD_DATA', 'not a certificate');
    });
  });

  describe('the card', () => {
    it('PP_SMARTCARD_READER: the reader of the context\'s card', async () => {
      assert.equal(await CryptGetProvParam(await fx.acquire(onA), PP_SMARTCARD_READER), await fx.readerOf(A.label));
      assert.equal(await CryptGetProvParam(await fx.acquire(await fx.qualified('', B.label), CRYPT_VERIFYCONTEXT), PP_SMARTCARD_READER), await fx.readerOf(B.label));
    });

    it('PP_SMARTCARD_READER set: binds a context that has no card yet; the same reader again is accepted, another NTE_BAD_DATA', async () => {
      const readerB = await fx.readerOf(B.label);
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await CryptSetProvParam(prov, PP_SMARTCARD_READER, readerB);
      assert.equal(prov.context.card, await fx.card(B.label));
      assert.deepEqual(await enumerate<string>(prov, PP_ENUMCONTAINERS), (await (await fx.card(B.label)).containers(true)).map((c) => c.name));
      await CryptSetProvParam(prov, PP_SMARTCARD_READER, readerB);
      await expectCryptError(() => CryptSetProvParam(prov, PP_SMARTCARD_READER, fx.readerOf(A.label) as never), 'ERROR_INVALID_PARAMETER', 'a promise is no text');
      await expectCryptError(async () => CryptSetProvParam(prov, PP_SMARTCARD_READER, await fx.readerOf(A.label)), 'NTE_BAD_DATA');
      const other = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptSetProvParam(other, PP_SMARTCARD_READER, 'No Such Reader'), 'SCARD_E_UNKNOWN_READER');
      await expectCryptError(() => CryptSetProvParam(other, PP_SMARTCARD_READER, ''), 'ERROR_INVALID_PARAMETER');
      assert.equal(other.context.card, undefined);
      const readerA = await fx.readerOf(A.label);
      await fx.remove(A.label);
      await expectCryptError(() => CryptSetProvParam(other, PP_SMARTCARD_READER, readerA), 'SCARD_E_NO_SMARTCARD', 'an empty reader');
      assert.equal(other.context.card, undefined);
    });

    it('PP_SMARTCARD_GUID: the card\'s 16-byte identifier (cardid); read-only', async () => {
      const prov = await fx.acquire(onA);
      const guid = await CryptGetProvParam(prov, PP_SMARTCARD_GUID) as Buffer;
      assert.equal(guid.length, 16);
      assert.deepEqual(guid, Buffer.from(await (await fx.card(A.label)).module.CardReadFile(null, 'cardid')));
      assert.notDeepEqual(await CryptGetProvParam(await fx.acquire(await fx.qualified('', B.label), CRYPT_VERIFYCONTEXT), PP_SMARTCARD_GUID), guid);
      await expectCryptError(() => CryptSetProvParam(prov, PP_SMARTCARD_GUID, guid), 'NTE_BAD_TYPE');
    });
  });

  describe('prompts', () => {
    it('PP_UI_PROMPT: the text reaches the card prompt a UI receives, for the whole process; \'\' restores the default; set-only', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const text = 'Insert the badge issued by Contoso';
      await CryptSetProvParam(prov, PP_UI_PROMPT, text);
      const ui = useScriptedUi();
      const missing = fx.uniqueName();
      await expectCryptError(() => CryptAcquireContext(missing, null, PROV_RSA_FULL, 0), 'SCARD_W_CANCELLED_BY_USER');
      assert.equal(ui.cardRequests.length, 1);
      assert.equal(ui.cardRequests[0]!.prompt, text);
      await CryptReleaseContext(prov);
      await expectCryptError(() => CryptAcquireContext(missing, null, PROV_RSA_FULL, 0), 'SCARD_W_CANCELLED_BY_USER');
      assert.equal(ui.cardRequests[1]!.prompt, text, 'persists beyond the context');
      const other = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await CryptSetProvParam(other, PP_UI_PROMPT, Buffer.from('Badge, please\0', 'utf16le'));
      await expectCryptError(() => CryptAcquireContext(missing, null, PROV_RSA_FULL, 0), 'SCARD_W_CANCELLED_BY_USER');
      assert.equal(ui.cardRequests[2]!.prompt, 'Badge, please', 'UTF-16LE bytes up to the NUL');
      await CryptSetProvParam(other, PP_UI_PROMPT, '');
      await expectCryptError(() => CryptAcquireContext(missing, null, PROV_RSA_FULL, 0), 'SCARD_W_CANCELLED_BY_USER');
      assert.ok(ui.cardRequests[3]!.prompt.includes(missing), 'the default prompt names the container');
      await expectCryptError(() => CryptGetProvParam(other, PP_UI_PROMPT), 'NTE_BAD_TYPE');
      for (const bad of [5, null, Buffer.from([1, 2, 3])]) await expectCryptError(() => CryptSetProvParam(other, PP_UI_PROMPT, bad as never), 'ERROR_INVALID_PARAMETER', String(bad));
    });

    it('PP_PIN_PROMPT_STRING: the text reaches the PIN prompt of the context\'s card work; set-only', async () => {
      await fx.logout();
      const prov = await fx.acquire(onA);
      const text = 'PIN of the encryption key, please';
      await CryptSetProvParam(prov, PP_PIN_PROMPT_STRING, text);
      assert.equal(prov.context.pinPrompt, text);
      const ui = useScriptedUi();
      ui.pins = [A.pin];
      await onCard(prov, prov.context.card!, 'test', true, async () => undefined);
      assert.equal(ui.pinRequests.length, 1);
      assert.equal(ui.pinRequests[0]!.prompt, text);
      await CryptSetProvParam(prov, PP_PIN_PROMPT_STRING, '');
      assert.equal(prov.context.pinPrompt, undefined);
      await expectCryptError(() => CryptGetProvParam(prov, PP_PIN_PROMPT_STRING), 'NTE_BAD_TYPE');
    });
  });

  describe('errors', () => {
    it('unknown parameters are NTE_BAD_TYPE (P5), read or set; so are reading a set-only and setting a read-only one', async () => {
      const prov = await fx.acquire(onA);
      for (const param of [0, 0x7f, 0x1000, PP_ADMIN_PIN, PP_KEYSTORAGE, -1, 1.5, 'PP_NAME' as never, null as never]) {
        await expectCryptError(() => CryptGetProvParam(prov, param), 'NTE_BAD_TYPE', `get ${String(param)}`);
        await expectCryptError(() => CryptSetProvParam(prov, param, 'x'), 'NTE_BAD_TYPE', `set ${String(param)}`);
      }
      for (const param of [PP_NAME, PP_CONTAINER, PP_UNIQUE_CONTAINER, PP_ENUMCONTAINERS, PP_ENUMALGS_EX, PP_PROVTYPE, PP_VERSION, PP_KEYSPEC, PP_USER_CERTSTORE, PP_IMPTYPE]) {
        await expectCryptError(() => CryptSetProvParam(prov, param, 'x'), 'NTE_BAD_TYPE', `set ${param}`);
      }
      await expectCryptError(() => CryptSetProvParam(prov, PP_CLIENT_HWND, 0), 'NTE_BAD_TYPE', 'PP_CLIENT_HWND: no windows here');
    });

    it('dwFlags other than the parameter\'s are NTE_BAD_FLAGS; a released or foreign handle ERROR_INVALID_PARAMETER', async () => {
      const prov = await fx.acquire(onA);
      for (const param of [PP_NAME, PP_CONTAINER, PP_SMARTCARD_READER, PP_USER_CERTSTORE]) {
        await expectCryptError(() => CryptGetProvParam(prov, param, CRYPT_FIRST), 'NTE_BAD_FLAGS', `${param}`);
      }
      await expectCryptError(() => CryptGetProvParam(prov, PP_NAME, -1), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptGetProvParam(prov, PP_NAME, 'x' as never), 'NTE_BAD_FLAGS');
      await expectCryptError(() => CryptSetProvParam(prov, PP_PIN_PROMPT_STRING, 'x', CRYPT_FIRST), 'NTE_BAD_FLAGS');
      const released = await CryptAcquireContext(null, null, PROV_RSA_FULL, CRYPT_VERIFYCONTEXT);
      await CryptReleaseContext(released);
      await expectCryptError(() => CryptGetProvParam(released, PP_NAME), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptSetProvParam(released, PP_UI_PROMPT, 'x'), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetProvParam(null as never, PP_NAME), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGetProvParam(0 as never, PP_NAME), 'ERROR_INVALID_PARAMETER');
    });
  });
});
