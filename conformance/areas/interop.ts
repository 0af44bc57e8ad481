/**
 * The interoperability area: what the CNG and CryptoAPI front ends produce, checked by code p11-ksp
 * shares nothing with — node:crypto (keys built from blobs this suite reads by hand, blob-readers.ts)
 * and the `openssl` command (MSBLOB reading, dgst / pkeyutl verification); and what those tools
 * produce (OAEP / PKCS#1 ciphertexts, an ECDH key pair, a SIMPLEBLOB) accepted by the card.
 * The cases use a key the card already holds (keys.ts); the own-key cases (destructive) generate one
 * through CNG and run the same cases on it. The openssl checks are not applicable when `openssl` is
 * not on PATH.
 */
import { constants, createDecipheriv, createHash, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, verify, X509Certificate } from 'node:crypto';
import { AT_KEYEXCHANGE, CALG_RSA_KEYX, CALG_SHA_256 } from '../../minidriver/constants.js';
import {
  BCRYPT_ECCPUBLIC_BLOB, BCRYPT_RSAPUBLIC_BLOB, LEGACY_RSAPUBLIC_BLOB, NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_PAD_OAEP_FLAG, NCRYPT_PAD_PKCS1_FLAG,
  NCRYPT_PAD_PSS_FLAG,
} from '../../ksp/constants.js';
import { BCRYPT_KDF_HASH, BCRYPT_KDF_RAW_SECRET, KDF_HASH_ALGORITHM } from '../../minidriver/kdf.js';
import { NCryptDeriveKey, NCryptSecretAgreement } from '../../ksp/agreement.js';
import { NCryptExportKey, NCryptImportKey } from '../../ksp/blobs.js';
import { NCryptDecrypt } from '../../ksp/encryption.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import { NCryptGetProperty } from '../../ksp/properties.js';
import { NCryptFreeObject } from '../../ksp/provider.js';
import { NCryptSignHash } from '../../ksp/signing.js';
import { CALG_AES_256, KP_IV, MS_SCARD_PROV, PROV_RSA_FULL, PUBLICKEYBLOB, SIMPLEBLOB } from '../../csp-legacy/constants.js';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import { CryptExportKey, CryptImportKey } from '../../csp-legacy/blobs.js';
import { CryptDecrypt, CryptEncrypt } from '../../csp-legacy/encryption.js';
import { CryptCreateHash, CryptDestroyHash, CryptHashData, CryptSignHash } from '../../csp-legacy/hashes.js';
import type { HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGetKeyParam } from '../../csp-legacy/key-params.js';
import { CryptDestroyKey, CryptGetUserKey } from '../../csp-legacy/keys.js';
import type { CaseContext, ConformanceArea, ConformanceCase, EcCurve, TargetCapabilities } from '../case.js';
import { readBcryptRsaPublicBlob, readCapiPublicKeyBlob, reversed, writeBcryptEccPublicBlob } from './blob-readers.js';
import { withOpenedKey, withProvider } from './cng.js';
import { publicKeyOf } from './cng-checks.js';
import { check, checkEqual } from './expect.js';
import {
  type CardKeyRef, allOf, createOwnKey, curveBits, type KeyKind, kindName, needsExistingKey, needsMechanism, needsWritableCard, nodeCurveName,
  openExisting, qualified, requireExistingKey, smallestRsaSize,
} from './keys.js';
import { ecdsaRawToDer, needsOpenssl, opensslPkeyutlVerify, opensslReadMsBlob, opensslVerify } from './openssl.js';

const RSA: KeyKind = { algorithm: 'RSA' };
const RSA_KEYX: KeyKind = { algorithm: 'RSA', keySpec: AT_KEYEXCHANGE };
const CURVES: EcCurve[] = ['P-256', 'P-384', 'P-521'];

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function tampered(signature: Buffer, at = signature.length - 1): Buffer {
  const copy = Buffer.from(signature);
  copy[at] ^= 0x01;
  return copy;
}

/**
 * The key a case of its own made (the own-key cases below), standing in for the card's existing key
 * while that case runs the same checks on it.
 */
const ownKeys = new WeakMap<CaseContext, CardKeyRef>();

function fits(ref: CardKeyRef, kind: KeyKind): boolean {
  return ref.algorithm === kind.algorithm && (!kind.curve || curveBits(kind.curve) === ref.bits) && (kind.keySpec === undefined || ref.keySpec === kind.keySpec);
}

/** The case's own key when it has one of that kind, else the card's existing key. */
function keyFor(ctx: CaseContext, kind: KeyKind): CardKeyRef {
  const own = ownKeys.get(ctx);
  return own && fits(own, kind) ? own : requireExistingKey(ctx, kind);
}

function withCngKey<T>(ctx: CaseContext, kind: KeyKind, use: (key: NCryptKeyHandle, ref: CardKeyRef) => Promise<T>): Promise<T> {
  return withOpenedKey(keyFor(ctx, kind), use);
}

async function withCapiKey<T>(ctx: CaseContext, kind: KeyKind, use: (prov: HCRYPTPROV, key: HCRYPTKEY, ref: CardKeyRef) => Promise<T>): Promise<T> {
  const ref = keyFor(ctx, kind);
  const prov = await CryptAcquireContext(qualified(ctx, ref.container), MS_SCARD_PROV, PROV_RSA_FULL, 0);
  if (!prov) throw new Error('CryptAcquireContext gave no context');
  try {
    const key = await CryptGetUserKey(prov, ref.keySpec);
    try {
      return await use(prov, key, ref);
    } finally {
      await CryptDestroyKey(key).catch(() => undefined);
    }
  } finally {
    await CryptReleaseContext(prov).catch(() => undefined);
  }
}

const blobCases: ConformanceCase[] = [
  {
    id: 'blobs/rsa-same-key-everywhere',
    title: 'An RSA key\'s CNG RSAPUBLICBLOB, CNG CAPIPUBLICBLOB, CryptoAPI PUBLICKEYBLOB (read by hand) and its certificate name one public key',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      const cng = await withCngKey(ctx, RSA, async (key, ref) => {
        const bcrypt = readBcryptRsaPublicBlob(await NCryptExportKey(key, null, BCRYPT_RSAPUBLIC_BLOB, null));
        checkEqual(bcrypt.bits, ref.bits, 'RSAPUBLICBLOB BitLength');
        const legacy = readCapiPublicKeyBlob(await NCryptExportKey(key, null, LEGACY_RSAPUBLIC_BLOB, null));
        check(legacy.key.equals(bcrypt.key), 'CNG\'s CAPIPUBLICBLOB is the RSAPUBLICBLOB\'s key');
        if (ref.hasCertificate) {
          const certificate = new X509Certificate(await NCryptGetProperty(key, NCRYPT_CERTIFICATE_PROPERTY) as Buffer);
          check(certificate.publicKey.equals(bcrypt.key), 'the certificate holds the exported key');
        }
        return bcrypt.key;
      });
      await withCapiKey(ctx, RSA, async (_prov, key) => {
        const capi = readCapiPublicKeyBlob(await CryptExportKey(key, null, PUBLICKEYBLOB, 0));
        check(capi.key.equals(cng), 'CryptoAPI\'s PUBLICKEYBLOB is the key CNG exports');
      });
    },
  },
  {
    id: 'blobs/openssl-msblob',
    title: 'openssl reads the CryptoAPI PUBLICKEYBLOB and CNG\'s CAPIPUBLICBLOB (rsa -pubin -inform MSBLOB) as the same key node:crypto reads',
    requires: { applicable: allOf(needsExistingKey(RSA), needsOpenssl) },
    async run(ctx) {
      await withCapiKey(ctx, RSA, async (_prov, key) => {
        const blob = await CryptExportKey(key, null, PUBLICKEYBLOB, 0);
        const der = await opensslReadMsBlob(blob);
        check(der.equals(readCapiPublicKeyBlob(blob).key.export({ format: 'der', type: 'spki' })), 'openssl\'s SubjectPublicKeyInfo equals the hand-read key');
      });
      await withCngKey(ctx, RSA, async (key) => {
        const blob = await NCryptExportKey(key, null, LEGACY_RSAPUBLIC_BLOB, null);
        const der = await opensslReadMsBlob(blob);
        check(der.equals((await publicKeyOf(key, 'RSA')).export({ format: 'der', type: 'spki' })), 'openssl reads CNG\'s CAPIPUBLICBLOB as the key CNG exports');
      });
    },
  },
];

const signatureCases: ConformanceCase[] = [
  {
    id: 'signatures/cng-rsa-pkcs1',
    title: 'NCryptSignHash (PKCS#1 v1.5, SHA-256) verifies with node:crypto and with openssl dgst and pkeyutl; a tampered one fails in openssl',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withCngKey(ctx, RSA, async (key) => {
        const publicKey = await publicKeyOf(key, 'RSA');
        const message = randomBytes(100);
        const signature = await NCryptSignHash(key, { pszAlgId: 'SHA256' }, sha256(message), NCRYPT_PAD_PKCS1_FLAG);
        check(verify('sha256', message, publicKey, signature), 'node:crypto verifies the signature');
        if (needsOpenssl()) {
          ctx.note(`openssl not checked: ${needsOpenssl()}`);
          return;
        }
        check(await opensslVerify(publicKey, message, signature), 'openssl dgst -sha256 -verify says "Verified OK"');
        check(await opensslPkeyutlVerify(publicKey, sha256(message), signature), 'openssl pkeyutl -verify (digest:sha256) verifies it');
        check(!(await opensslVerify(publicKey, message, tampered(signature))), 'openssl rejects the signature with one bit flipped');
      });
    },
  },
  {
    id: 'signatures/cng-rsa-pss',
    title: 'NCryptSignHash (PSS, SHA-256, 32-byte salt) verifies with node:crypto and with openssl (rsa_padding_mode:pss)',
    requires: { applicable: allOf(needsExistingKey(RSA), needsMechanism('CKM_RSA_PKCS_PSS')) },
    async run(ctx) {
      await withCngKey(ctx, RSA, async (key) => {
        const publicKey = await publicKeyOf(key, 'RSA');
        const message = randomBytes(100);
        const signature = await NCryptSignHash(key, { pszAlgId: 'SHA256', cbSalt: 32 }, sha256(message), NCRYPT_PAD_PSS_FLAG);
        check(verify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature), 'node:crypto verifies the PSS signature');
        if (needsOpenssl()) {
          ctx.note(`openssl not checked: ${needsOpenssl()}`);
          return;
        }
        check(await opensslVerify(publicKey, message, signature, { pss: 32 }), 'openssl verifies the PSS signature with salt length 32');
        check(!(await opensslVerify(publicKey, message, signature, { pss: 20 })), 'openssl rejects it with salt length 20');
      });
    },
  },
  ...CURVES.map((curve): ConformanceCase => ({
    id: `signatures/cng-ecdsa-${curve.toLowerCase()}`,
    title: `NCryptSignHash with an ECDSA ${curve} key: r||s verifies with node:crypto and, as DER, with openssl`,
    requires: { applicable: needsExistingKey({ algorithm: 'ECDSA', curve }) },
    async run(ctx) {
      await withCngKey(ctx, { algorithm: 'ECDSA', curve }, async (key) => {
        const publicKey = await publicKeyOf(key, 'ECDSA');
        const message = randomBytes(100);
        const signature = await NCryptSignHash(key, null, sha256(message), 0);
        check(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'node:crypto verifies r||s');
        if (needsOpenssl()) {
          ctx.note(`openssl not checked: ${needsOpenssl()}`);
          return;
        }
        check(await opensslVerify(publicKey, message, ecdsaRawToDer(signature)), 'openssl dgst -sha256 -verify verifies the DER form');
        check(!(await opensslVerify(publicKey, message, ecdsaRawToDer(tampered(signature, 1)))), 'openssl rejects a tampered r');
      });
    },
  })),
  {
    id: 'signatures/capi-rsa',
    title: 'CryptSignHash (SHA-256) is little-endian: reversed, it verifies with node:crypto and openssl against the PUBLICKEYBLOB read by hand',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withCapiKey(ctx, RSA, async (prov, key, ref) => {
        const publicKey = readCapiPublicKeyBlob(await CryptExportKey(key, null, PUBLICKEYBLOB, 0)).key;
        const message = randomBytes(100);
        const hash = await CryptCreateHash(prov, CALG_SHA_256, null, 0);
        let signature: Buffer;
        try {
          await CryptHashData(hash, message, 0);
          signature = await CryptSignHash(hash, ref.keySpec, null, 0);
        } finally {
          await CryptDestroyHash(hash).catch(() => undefined);
        }
        checkEqual(signature.length, ref.bits / 8, 'signature length');
        const bigEndian = reversed(signature);
        check(verify('sha256', message, publicKey, bigEndian), 'node:crypto verifies the reversed signature');
        check(!verify('sha256', message, publicKey, signature), 'the unreversed bytes do not verify (the order is little-endian)');
        if (needsOpenssl()) {
          ctx.note(`openssl not checked: ${needsOpenssl()}`);
          return;
        }
        check(await opensslVerify(publicKey, message, bigEndian), 'openssl verifies the reversed signature');
      });
    },
  },
];

const decryptionCases: ConformanceCase[] = [
  {
    id: 'decrypt/cng-pkcs1-from-node',
    title: 'A PKCS#1 v1.5 ciphertext made by node:crypto decrypts on the card through NCryptDecrypt',
    requires: { applicable: allOf(needsExistingKey(RSA_KEYX), needsMechanism('CKM_RSA_PKCS')) },
    async run(ctx) {
      await withCngKey(ctx, RSA_KEYX, async (key) => {
        const secret = randomBytes(32);
        const ciphertext = publicEncrypt({ key: await publicKeyOf(key, 'RSA'), padding: constants.RSA_PKCS1_PADDING }, secret);
        check((await NCryptDecrypt(key, ciphertext, null, NCRYPT_PAD_PKCS1_FLAG)).equals(secret), 'the card gives back node:crypto\'s plaintext');
      });
    },
  },
  {
    id: 'decrypt/cng-oaep-from-node',
    title: 'An OAEP (SHA-256, label) ciphertext made by node:crypto decrypts on the card through NCryptDecrypt',
    requires: { applicable: allOf(needsExistingKey(RSA_KEYX), needsMechanism('CKM_RSA_PKCS_OAEP')) },
    async run(ctx) {
      await withCngKey(ctx, RSA_KEYX, async (key) => {
        const secret = randomBytes(32);
        const label = Buffer.from('p11-ksp interop');
        const ciphertext = publicEncrypt({ key: await publicKeyOf(key, 'RSA'), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, secret);
        check((await NCryptDecrypt(key, ciphertext, { pszAlgId: 'SHA256', pbLabel: label }, NCRYPT_PAD_OAEP_FLAG)).equals(secret), 'the card gives back node:crypto\'s plaintext');
      });
    },
  },
  {
    id: 'decrypt/capi-pkcs1-from-node',
    title: 'A PKCS#1 v1.5 ciphertext made by node:crypto, reversed to little-endian, decrypts through CryptDecrypt with the card\'s AT_KEYEXCHANGE key',
    requires: { applicable: allOf(needsExistingKey(RSA_KEYX), needsMechanism('CKM_RSA_PKCS')) },
    async run(ctx) {
      await withCapiKey(ctx, RSA_KEYX, async (_prov, key) => {
        const publicKey = readCapiPublicKeyBlob(await CryptExportKey(key, null, PUBLICKEYBLOB, 0)).key;
        const secret = randomBytes(32);
        const ciphertext = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, secret);
        check((await CryptDecrypt(key, null, true, 0, reversed(ciphertext))).equals(secret), 'CryptDecrypt gives back node:crypto\'s plaintext');
      });
    },
  },
  {
    id: 'decrypt/capi-simpleblob-from-node',
    title: 'A SIMPLEBLOB (AES-256) built with node:crypto imports under the card\'s AT_KEYEXCHANGE key, and its session key encrypts what node:crypto decrypts',
    requires: { applicable: allOf(needsExistingKey(RSA_KEYX), needsMechanism('CKM_RSA_PKCS')) },
    async run(ctx) {
      await withCapiKey(ctx, RSA_KEYX, async (prov, exchangeKey) => {
        const publicKey = readCapiPublicKeyBlob(await CryptExportKey(exchangeKey, null, PUBLICKEYBLOB, 0)).key;
        const sessionKey = randomBytes(32);
        const header = Buffer.alloc(12);
        header.writeUInt8(SIMPLEBLOB, 0);
        header.writeUInt8(2, 1); // CUR_BLOB_VERSION
        header.writeUInt32LE(CALG_AES_256, 4);
        header.writeUInt32LE(CALG_RSA_KEYX, 8); // the ALG_ID of the key that wraps it
        const wrapped = reversed(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sessionKey));
        const imported = await CryptImportKey(prov, Buffer.concat([header, wrapped]), exchangeKey, 0);
        try {
          const iv = await CryptGetKeyParam(imported, KP_IV, 0) as Buffer;
          const plaintext = randomBytes(45);
          const ciphertext = await CryptEncrypt(imported, null, true, 0, plaintext);
          const decipher = createDecipheriv('aes-256-cbc', sessionKey, iv);
          check(Buffer.concat([decipher.update(ciphertext), decipher.final()]).equals(plaintext), 'node:crypto (AES-256-CBC, the key\'s KP_IV, PKCS#7) decrypts what the imported key encrypted');
        } finally {
          await CryptDestroyKey(imported).catch(() => undefined);
        }
      });
    },
  },
];

const agreementCases: ConformanceCase[] = CURVES.map((curve): ConformanceCase => ({
  id: `agreement/cng-ecdh-${curve.toLowerCase()}`,
  title: `NCryptSecretAgreement of an existing ECDH ${curve} key with a node:crypto key pair agrees with node:crypto (TRUNCATE and HASH SHA-256)`,
  requires: { applicable: allOf(needsExistingKey({ algorithm: 'ECDH', curve }), needsMechanism('CKM_ECDH1_DERIVE')) },
  async run(ctx) {
    await withProvider(async (prov) => {
      const ref = keyFor(ctx, { algorithm: 'ECDH', curve });
      const key = await openExisting(prov, ref);
      const peer = generateKeyPairSync('ec', { namedCurve: nodeCurveName(curve) });
      const peerHandle = await NCryptImportKey(prov, null, BCRYPT_ECCPUBLIC_BLOB, null, writeBcryptEccPublicBlob(peer.publicKey, 'ECDH'), 0);
      try {
        const z = diffieHellman({ privateKey: peer.privateKey, publicKey: await publicKeyOf(key, 'ECDH') });
        const secret = await NCryptSecretAgreement(key, peerHandle, 0);
        try {
          check((await NCryptDeriveKey(secret, BCRYPT_KDF_RAW_SECRET, null, 0)).equals(reversed(z)), 'TRUNCATE gives node:crypto\'s Z, little-endian');
          check((await NCryptDeriveKey(secret, BCRYPT_KDF_HASH, [{ type: KDF_HASH_ALGORITHM, value: 'SHA256' }], 0)).equals(sha256(z)), 'HASH (SHA-256) gives SHA-256(Z)');
        } finally {
          await NCryptFreeObject(secret).catch(() => undefined);
        }
      } finally {
        await NCryptFreeObject(peerHandle).catch(() => undefined);
        await NCryptFreeObject(key).catch(() => undefined);
      }
    });
  },
}));

const existingKeyCases = [...blobCases, ...signatureCases, ...decryptionCases, ...agreementCases];

/**
 * A destructive case that makes a key of its own through CNG and runs every interop case of that
 * kind on it, so that a token with no keys of its own is checked too. The runner deletes the
 * container afterwards.
 */
function ownKeyCase(kind: KeyKind, algId: string, bits: (c: TargetCapabilities) => number | undefined, more?: (c: TargetCapabilities) => string | undefined): ConformanceCase {
  const stem = `io-${kind.algorithm.toLowerCase()}${kind.curve ? kind.curve.slice(2) : ''}`;
  return {
    id: `own-key/${kind.algorithm.toLowerCase()}${kind.curve ? `-${kind.curve.toLowerCase()}` : ''}`,
    title: `A ${kindName(kind)} key generated through CNG in an own container passes every interop case of its kind`,
    requires: { destructive: true, slow: true, applicable: needsWritableCard((c) => (bits(c) === undefined ? `the token generates no ${kindName(kind)} key` : undefined) ?? more?.(c)) },
    async run(ctx) {
      const size = bits(ctx.capabilities)!;
      await withProvider(async (prov) => {
        const legacyKeySpec = kind.algorithm === 'RSA' ? AT_KEYEXCHANGE : 0;
        const { key, name } = await createOwnKey(ctx, prov, stem, algId, kind.algorithm === 'RSA' ? { bits: size, legacyKeySpec } : { legacyKeySpec });
        await NCryptFreeObject(key);
        const ref: CardKeyRef = { container: name, algorithm: kind.algorithm, bits: size, keySpec: kind.algorithm === 'RSA' ? AT_KEYEXCHANGE : 0, legacyKeySpec, hasCertificate: false };
        const withOwn: TargetCapabilities = { ...ctx.capabilities, existingContainers: [{ name, keys: [{ keySpec: ref.keySpec, algorithm: kind.algorithm, bits: size }], hasCertificate: false }] };
        ownKeys.set(ctx, ref);
        let ran = 0;
        try {
          for (const c of existingKeyCases) {
            const reason = c.requires?.applicable?.(withOwn);
            if (reason) continue;
            await c.run(ctx).catch((err: unknown) => {
              throw new Error(`${c.id} on the own key: ${(err as Error).message}`, { cause: err });
            });
            ctx.note(`${c.id}: passed`);
            ran++;
          }
        } finally {
          ownKeys.delete(ctx);
        }
        check(ran > 0, `at least one interop case applies to a ${kindName(kind)} key`);
      });
    },
  };
}

const smallestRsa = (c: TargetCapabilities): number | undefined => (c.rsaKeySizes.includes(2048) ? 2048 : smallestRsaSize(c));
const hasCurve = (curve: EcCurve) => (c: TargetCapabilities): number | undefined => (c.ecCurves.includes(curve) ? curveBits(curve) : undefined);

const ownKeyCases: ConformanceCase[] = [
  ownKeyCase(RSA_KEYX, 'RSA', smallestRsa),
  ...CURVES.map((curve) => ownKeyCase({ algorithm: 'ECDSA', curve }, `ECDSA_P${curve.slice(2)}`, hasCurve(curve))),
  ...CURVES.map((curve) => ownKeyCase({ algorithm: 'ECDH', curve }, `ECDH_P${curve.slice(2)}`, hasCurve(curve), needsMechanism('CKM_ECDH1_DERIVE'))),
];

export const interopArea: ConformanceArea = {
  id: 'interop',
  title: 'Interoperability (blobs and signatures checked with node:crypto and openssl)',
  cases: [...existingKeyCases, ...ownKeyCases],
};
