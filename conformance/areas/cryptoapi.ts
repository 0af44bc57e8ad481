/**
 * The CryptoAPI area: the Crypt* front end (csp-legacy/) on the target, as a CryptoAPI application
 * uses the smart card CSP (MS_SCARD_PROV, PROV_RSA_FULL): acquiring contexts at every level, provider
 * parameters, the card's key pairs (sign, verify, encrypt, decrypt, PUBLICKEYBLOB, KP_CERTIFICATE),
 * session keys wrapped by the card key (SIMPLEBLOB), handle rules; destructive: CRYPT_NEWKEYSET,
 * CryptGenKey, NTE_EXISTS, CRYPT_DELETEKEYSET in a container of the case's own. CryptoAPI has RSA
 * keys only: its cases use the card's existing RSA keys (keys.ts).
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { AT_KEYEXCHANGE, AT_SIGNATURE, CALG_SHA_256 } from '../../minidriver/constants.js';
import {
  CALG_3DES, CALG_AES_256, CRYPT_DELETEKEYSET, CRYPT_EXPORTABLE, CRYPT_FIRST, CRYPT_NEWKEYSET, CRYPT_NEXT, CRYPT_SILENT,
  CRYPT_VERIFYCONTEXT, KP_ALGID, KP_CERTIFICATE, KP_KEYLEN, MS_SCARD_PROV, PP_CONTAINER, PP_ENUMALGS, PP_ENUMALGS_EX,
  PP_ENUMCONTAINERS, PP_NAME, PP_PROVTYPE, PP_SMARTCARD_GUID, PP_SMARTCARD_READER, PP_UNIQUE_CONTAINER, PP_USER_CERTSTORE,
  PROV_RSA_FULL, SIMPLEBLOB,
} from '../../csp-legacy/constants.js';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import { CryptExportKey, CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptCreateHash, CryptDestroyHash, CryptHashData, CryptSignHash, CryptVerifySignature } from '../../csp-legacy/hashes.js';
import type { HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptDestroyKey, CryptGenKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import { CryptGetProvParam } from '../../csp-legacy/prov-params.js';
import type { CaseContext, ConformanceArea, ConformanceCase } from '../case.js';
import { readCapiPublicKeyBlob } from './blob-readers.js';
import { check, checkEqual, expectCode } from './expect.js';
import {
  type CardKeyRef, type KeyKind, needsExistingKey, needsRsaGeneration, needsWritableCard, qualified, requireExistingKey, smallestRsaSize,
} from './keys.js';

const RSA: KeyKind = { algorithm: 'RSA' };
const RSA_KEYX: KeyKind = { algorithm: 'RSA', keySpec: AT_KEYEXCHANGE };
const PUBLICKEYBLOB = 0x6;
const CALG_RSA_KEYX = 0xa400;
const CALG_RSA_SIGN = 0x2400;
const ERROR_NO_MORE_ITEMS = 'ERROR_NO_MORE_ITEMS';

/** A context on `container` (null: CRYPT_VERIFYCONTEXT with no name), released whatever happens. */
async function withContext<T>(container: string | null, flags: number, use: (prov: HCRYPTPROV) => Promise<T>): Promise<T> {
  const prov = await CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, flags);
  if (!prov) throw new Error('CryptAcquireContext gave no context');
  try {
    return await use(prov);
  } finally {
    await CryptReleaseContext(prov).catch(() => undefined);
  }
}

/** An existing RSA key pair of the card, through a context on its container (reader-qualified). */
async function withExistingKeyPair<T>(ctx: CaseContext, kind: KeyKind, use: (prov: HCRYPTPROV, key: HCRYPTKEY, ref: CardKeyRef) => Promise<T>): Promise<T> {
  const ref = requireExistingKey(ctx, kind);
  return withContext(qualified(ctx, ref.container), 0, async (prov) => {
    const key = await CryptGetUserKey(prov, ref.keySpec);
    try {
      return await use(prov, key, ref);
    } finally {
      await CryptDestroyKey(key).catch(() => undefined);
    }
  });
}

/** Every value of an enumerating parameter: CRYPT_FIRST, then CRYPT_NEXT until ERROR_NO_MORE_ITEMS. */
async function enumerate<T>(prov: HCRYPTPROV, param: number): Promise<T[]> {
  const out: T[] = [await CryptGetProvParam(prov, param, CRYPT_FIRST) as T];
  for (;;) {
    try {
      out.push(await CryptGetProvParam(prov, param, CRYPT_NEXT) as T);
    } catch (err) {
      if ((err as { codeName?: string }).codeName === ERROR_NO_MORE_ITEMS) return out;
      throw err;
    }
    if (out.length > 10_000) throw new Error('an enumeration that never ends');
  }
}

/** CryptSignHash (SHA-256) with the key pair of `keySpec`; CryptVerifySignature accepts it and refuses it altered. */
async function checkSignVerify(prov: HCRYPTPROV, key: HCRYPTKEY, keySpec: number, bits: number): Promise<void> {
  const message = randomBytes(64);
  const hash = await CryptCreateHash(prov, CALG_SHA_256);
  await CryptHashData(hash, message);
  const signature = await CryptSignHash(hash, keySpec, null);
  checkEqual(signature.length, bits / 8, 'signature length (the modulus length)');
  await CryptVerifySignature(hash, signature, key, null);
  const altered = Buffer.from(signature);
  altered[0] ^= 0x01; // the least significant byte: CryptoAPI signatures are little-endian
  await expectCode(() => CryptVerifySignature(hash, altered, key, null), 'NTE_BAD_SIGNATURE', 'an altered signature');
  await CryptDestroyHash(hash);
}

const contextCases: ConformanceCase[] = [
  {
    id: 'context/levels',
    title: 'CryptAcquireContext by reader-qualified container, plain container, reader alone (VERIFYCONTEXT) and CRYPT_VERIFYCONTEXT with no name',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      const ref = requireExistingKey(ctx, RSA);
      const full = qualified(ctx, ref.container);
      await withContext(full, 0, async (prov) => {
        checkEqual(await CryptGetProvParam(prov, PP_CONTAINER), full, 'PP_CONTAINER of a reader-qualified context (as acquired)');
      });
      await withContext(ref.container, 0, async (prov) => {
        checkEqual(await CryptGetProvParam(prov, PP_CONTAINER), ref.container, 'PP_CONTAINER of a plain-name context');
        checkEqual(await CryptGetProvParam(prov, PP_SMARTCARD_READER), ctx.target.reader, 'the plain name found the target\'s card');
      });
      await withContext(qualified(ctx, ''), CRYPT_VERIFYCONTEXT, async (prov) => {
        checkEqual(await CryptGetProvParam(prov, PP_SMARTCARD_READER), ctx.target.reader, 'PP_SMARTCARD_READER of a reader-only context');
      });
      await withContext(null, CRYPT_VERIFYCONTEXT, async (prov) => {
        checkEqual(await CryptGetProvParam(prov, PP_NAME), MS_SCARD_PROV, 'PP_NAME of a CRYPT_VERIFYCONTEXT context');
      });
    },
  },
  {
    id: 'context/errors',
    title: 'CryptAcquireContext: a missing container NTE_BAD_KEYSET (also with VERIFYCONTEXT), bad flags NTE_BAD_FLAGS, bad types NTE_BAD_PROV_TYPE',
    async run(ctx) {
      const missing = `p11ksp-conf-absent-${randomBytes(4).toString('hex')}`;
      await expectCode(() => CryptAcquireContext(qualified(ctx, missing), MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT), 'NTE_BAD_KEYSET', 'a missing reader-qualified container');
      await expectCode(() => CryptAcquireContext(missing, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_VERIFYCONTEXT | CRYPT_SILENT), 'NTE_BAD_KEYSET', 'a missing container, VERIFYCONTEXT');
      await expectCode(() => CryptAcquireContext(null, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET), 'NTE_BAD_FLAGS', 'NEWKEYSET | DELETEKEYSET');
      await expectCode(() => CryptAcquireContext(null, MS_SCARD_PROV, 1000, CRYPT_VERIFYCONTEXT), 'NTE_BAD_PROV_TYPE', 'provider type 1000');
    },
  },
];

const paramCases: ConformanceCase[] = [
  {
    id: 'params/identity',
    title: 'PP_NAME, PP_PROVTYPE, PP_CONTAINER, PP_UNIQUE_CONTAINER (re-acquirable), PP_SMARTCARD_READER, PP_SMARTCARD_GUID',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      const ref = requireExistingKey(ctx, RSA);
      await withContext(ref.container, 0, async (prov) => {
        checkEqual(await CryptGetProvParam(prov, PP_NAME), MS_SCARD_PROV, 'PP_NAME');
        checkEqual(await CryptGetProvParam(prov, PP_PROVTYPE), PROV_RSA_FULL, 'PP_PROVTYPE');
        const unique = await CryptGetProvParam(prov, PP_UNIQUE_CONTAINER) as string;
        checkEqual(unique, qualified(ctx, ref.container), 'PP_UNIQUE_CONTAINER (reader-qualified)');
        await withContext(unique, CRYPT_SILENT, async (again) => {
          checkEqual(await CryptGetProvParam(again, PP_SMARTCARD_READER), ctx.target.reader, 'a context acquired by PP_UNIQUE_CONTAINER');
        });
        checkEqual(await CryptGetProvParam(prov, PP_SMARTCARD_READER), ctx.target.reader, 'PP_SMARTCARD_READER');
        checkEqual((await CryptGetProvParam(prov, PP_SMARTCARD_GUID) as Buffer).length, 16, 'PP_SMARTCARD_GUID is 16 bytes');
        await expectCode(() => CryptGetProvParam(prov, 0x7fff), 'NTE_BAD_TYPE', 'an unknown parameter');
      });
    },
  },
  {
    id: 'params/enum-containers',
    title: 'PP_ENUMCONTAINERS on the reader lists every existing container, then ERROR_NO_MORE_ITEMS',
    requires: { applicable: (c) => (c.existingContainers.length ? undefined : 'no existing containers on the card') },
    async run(ctx) {
      await withContext(qualified(ctx, ''), CRYPT_VERIFYCONTEXT, async (prov) => {
        const names = await enumerate<string>(prov, PP_ENUMCONTAINERS);
        for (const container of ctx.capabilities.existingContainers) check(names.includes(container.name), `PP_ENUMCONTAINERS lists "${container.name}"`);
        await expectCode(() => CryptGetProvParam(prov, PP_ENUMCONTAINERS, CRYPT_NEXT), ERROR_NO_MORE_ITEMS, 'after the end');
      });
    },
  },
  {
    id: 'params/enum-algs',
    title: 'PP_ENUMALGS (32-byte PROV_ENUMALGS) and PP_ENUMALGS_EX (88-byte PROV_ENUMALGS_EX) list RSA, SHA-256, AES-256 and 3DES',
    async run() {
      await withContext(null, CRYPT_VERIFYCONTEXT, async (prov) => {
        const rows = await enumerate<Buffer>(prov, PP_ENUMALGS);
        check(rows.every((r) => Buffer.isBuffer(r) && r.length === 32), 'every PROV_ENUMALGS row is 32 bytes');
        const rowsEx = await enumerate<Buffer>(prov, PP_ENUMALGS_EX);
        check(rowsEx.every((r) => Buffer.isBuffer(r) && r.length === 88), 'every PROV_ENUMALGS_EX row is 88 bytes');
        for (const [name, algId] of [['CALG_RSA_KEYX', CALG_RSA_KEYX], ['CALG_RSA_SIGN', CALG_RSA_SIGN], ['CALG_SHA_256', CALG_SHA_256], ['CALG_AES_256', CALG_AES_256], ['CALG_3DES', CALG_3DES]] as const) {
          check(rows.some((r) => r.readUInt32LE(0) === algId), `PP_ENUMALGS lists ${name}`);
          check(rowsEx.some((r) => r.readUInt32LE(0) === algId), `PP_ENUMALGS_EX lists ${name}`);
        }
      });
    },
  },
  {
    id: 'params/user-certstore',
    title: 'PP_USER_CERTSTORE holds the certificate of every existing container that has one',
    requires: { applicable: (c) => (c.existingContainers.some((x) => x.hasCertificate) ? undefined : 'no existing container with a certificate') },
    async run(ctx) {
      await withContext(qualified(ctx, ''), CRYPT_VERIFYCONTEXT, async (prov) => {
        const store = await CryptGetProvParam(prov, PP_USER_CERTSTORE) as { rawData: ArrayBuffer }[];
        const withCertificates = ctx.capabilities.existingContainers.filter((x) => x.hasCertificate).length;
        check(Array.isArray(store) && store.length >= withCertificates, `PP_USER_CERTSTORE holds at least ${withCertificates} certificates (got ${Array.isArray(store) ? store.length : typeof store})`);
        for (const certificate of store) new X509Certificate(Buffer.from(certificate.rawData));
        ctx.note(`${store.length} certificate(s) in the user store`);
      });
    },
  },
];

const keyCases: ConformanceCase[] = [
  {
    id: 'keys/get-user-key',
    title: 'CryptGetUserKey gives the existing key pair (KP_ALGID, KP_KEYLEN); a missing key spec is NTE_NO_KEY',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withExistingKeyPair(ctx, RSA, async (prov, key, ref) => {
        checkEqual(await CryptGetKeyParam(key, KP_ALGID), ref.keySpec === AT_KEYEXCHANGE ? CALG_RSA_KEYX : CALG_RSA_SIGN, 'KP_ALGID');
        checkEqual(await CryptGetKeyParam(key, KP_KEYLEN), ref.bits, 'KP_KEYLEN');
        const container = ctx.capabilities.existingContainers.find((c) => c.name === ref.container)!;
        const other = ref.keySpec === AT_KEYEXCHANGE ? AT_SIGNATURE : AT_KEYEXCHANGE;
        if (!container.keys.some((k) => k.keySpec === other)) await expectCode(() => CryptGetUserKey(prov, other), 'NTE_NO_KEY', `the empty key spec ${other}`);
        await expectCode(() => CryptGetUserKey(prov, 9), 'NTE_NO_KEY', 'key spec 9');
      });
    },
  },
  {
    id: 'keys/certificate',
    title: 'KP_CERTIFICATE of an existing key pair with a certificate: the certificate of that key',
    requires: { applicable: (c) => (c.existingContainers.some((x) => x.hasCertificate && x.keys.some((k) => k.algorithm === 'RSA')) ? undefined : 'no existing RSA key with a certificate') },
    async run(ctx) {
      const container = ctx.capabilities.existingContainers.find((x) => x.hasCertificate && x.keys.some((k) => k.algorithm === 'RSA'))!;
      const keySpec = container.keys.find((k) => k.algorithm === 'RSA')!.keySpec;
      await withContext(qualified(ctx, container.name), 0, async (prov) => {
        const key = await CryptGetUserKey(prov, keySpec);
        const certificate = new X509Certificate(await CryptGetKeyParam(key, KP_CERTIFICATE) as Buffer);
        const blobKey = readCapiPublicKeyBlob(await CryptExportKey(key, null, PUBLICKEYBLOB)).key;
        check(certificate.publicKey.equals(blobKey), 'the certificate\'s public key is the key pair\'s');
        await CryptDestroyKey(key);
      });
    },
  },
  {
    id: 'keys/publickeyblob',
    title: 'CryptExportKey(PUBLICKEYBLOB) of an existing key pair: bType 6, the key\'s ALG_ID and length',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withExistingKeyPair(ctx, RSA, async (_prov, key, ref) => {
        const blob = readCapiPublicKeyBlob(await CryptExportKey(key, null, PUBLICKEYBLOB));
        checkEqual(blob.bits, ref.bits, 'RSAPUBKEY bitlen');
        checkEqual(blob.aiKeyAlg, ref.keySpec === AT_KEYEXCHANGE ? CALG_RSA_KEYX : CALG_RSA_SIGN, 'BLOBHEADER aiKeyAlg');
        await expectCode(() => CryptExportKey(key, null, 0x7 /* PRIVATEKEYBLOB */), 'NTE_BAD_KEY_STATE', 'a private key blob of a card key');
      });
    },
  },
  {
    id: 'sign/sign-verify',
    title: 'CryptSignHash (SHA-256) with an existing key pair; CryptVerifySignature accepts it, not an altered one',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withExistingKeyPair(ctx, RSA, (prov, key, ref) => checkSignVerify(prov, key, ref.keySpec, ref.bits));
    },
  },
  {
    id: 'encrypt/card-key',
    title: 'CryptEncrypt with the existing key-exchange key, CryptDecrypt on the card gives the data back',
    requires: { applicable: needsExistingKey(RSA_KEYX) },
    async run(ctx) {
      await withExistingKeyPair(ctx, RSA_KEYX, async (_prov, key, ref) => {
        const data = randomBytes(32);
        const ciphertext = await CryptEncrypt(key, null, true, 0, data);
        checkEqual(ciphertext.length, ref.bits / 8, 'ciphertext length');
        check((await CryptDecrypt(key, null, true, 0, ciphertext)).equals(data), 'the card decrypts CryptEncrypt\'s ciphertext');
      });
    },
  },
  ...([['aes-256', CALG_AES_256], ['3des', CALG_3DES]] as const).map(([tag, algId]): ConformanceCase => ({
    id: `session/${tag}-simpleblob`,
    title: `a ${tag.toUpperCase()} session key encrypts; exported as a SIMPLEBLOB under the card's key-exchange key and imported back (unwrapped on the card), it decrypts`,
    requires: { applicable: needsExistingKey(RSA_KEYX) },
    async run(ctx) {
      await withExistingKeyPair(ctx, RSA_KEYX, async (prov, exchange) => {
        const session = await CryptGenKey(prov, algId, CRYPT_EXPORTABLE);
        const data = randomBytes(100);
        const ciphertext = await CryptEncrypt(session, null, true, 0, data);
        const simple = await CryptExportKey(session, exchange, SIMPLEBLOB);
        checkEqual(simple[0], SIMPLEBLOB, 'BLOBHEADER bType');
        checkEqual(simple.readUInt32LE(4), algId, 'BLOBHEADER aiKeyAlg');
        checkEqual(simple.readUInt32LE(8), CALG_RSA_KEYX, 'the wrapping algorithm');
        const unwrapped = await CryptImportKey(prov, simple, exchange, 0);
        check((await CryptDecrypt(unwrapped, null, true, 0, ciphertext)).equals(data), 'the unwrapped key decrypts the data');
        await CryptDestroyKey(session);
        await CryptDestroyKey(unwrapped);
      });
    },
  })),
];

const handleCases: ConformanceCase[] = [
  {
    id: 'handles/released',
    title: 'a released context, a destroyed key or hash, and null are ERROR_INVALID_PARAMETER',
    async run() {
      const released = await CryptAcquireContext(null, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_VERIFYCONTEXT);
      await CryptReleaseContext(released!);
      await expectCode(() => CryptGetProvParam(released!, PP_NAME), 'ERROR_INVALID_PARAMETER', 'a released context');
      await expectCode(() => CryptGetProvParam(null as never, PP_NAME), 'ERROR_INVALID_PARAMETER', 'a null context');
      await withContext(null, CRYPT_VERIFYCONTEXT, async (prov) => {
        const key = await CryptGenKey(prov, CALG_AES_256, 0);
        await CryptDestroyKey(key);
        await expectCode(() => CryptEncrypt(key, null, true, 0, Buffer.alloc(16)), 'ERROR_INVALID_PARAMETER', 'a destroyed key');
        const hash = await CryptCreateHash(prov, CALG_SHA_256);
        await CryptDestroyHash(hash);
        await expectCode(() => CryptHashData(hash, Buffer.alloc(1)), 'ERROR_INVALID_PARAMETER', 'a destroyed hash');
      });
    },
  },
];

const destructiveCases: ConformanceCase[] = [
  {
    id: 'create/newkeyset-genkey-delete',
    title: 'CRYPT_NEWKEYSET + CryptGenKey(AT_KEYEXCHANGE, AT_SIGNATURE): both sign and verify; NEWKEYSET again NTE_EXISTS; CRYPT_DELETEKEYSET removes it',
    requires: { destructive: true, applicable: needsWritableCard(needsRsaGeneration) },
    async run(ctx) {
      const bits = smallestRsaSize(ctx.capabilities)!;
      const name = qualified(ctx, ctx.ownContainer('csp'));
      await withContext(name, CRYPT_NEWKEYSET, async (prov) => {
        await expectCode(() => CryptGetUserKey(prov, AT_KEYEXCHANGE), 'NTE_NO_KEY', 'a new container holds no key');
        for (const keySpec of [AT_KEYEXCHANGE, AT_SIGNATURE]) {
          ctx.progress(`generating the ${keySpec === AT_KEYEXCHANGE ? 'AT_KEYEXCHANGE' : 'AT_SIGNATURE'} ${bits}-bit key`);
          const key = await CryptGenKey(prov, keySpec, bits << 16);
          checkEqual(await CryptGetKeyParam(key, KP_KEYLEN), bits, 'KP_KEYLEN of the generated key');
          await checkSignVerify(prov, key, keySpec, bits);
          await CryptDestroyKey(key);
        }
        check((await enumerate<string>(prov, PP_ENUMCONTAINERS)).includes(name.slice(name.lastIndexOf('\\') + 1)), 'PP_ENUMCONTAINERS lists the new container');
      });
      await expectCode(() => CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET), 'NTE_EXISTS', 'CRYPT_NEWKEYSET of a name in use');
      checkEqual(await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DELETEKEYSET), null, 'CRYPT_DELETEKEYSET gives no context');
      await expectCode(() => CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT), 'NTE_BAD_KEYSET', 'the deleted container');
    },
  },
];

export const cryptoapiArea: ConformanceArea = {
  id: 'cryptoapi',
  title: 'CryptoAPI smart card CSP (Crypt*)',
  cases: [...contextCases, ...paramCases, ...keyCases, ...handleCases, ...destructiveCases],
};
