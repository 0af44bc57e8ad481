/**
 * Minidriver cases: containers and private-key operations on keys the card already holds —
 * CardGetContainerInfo (bad index → SCARD_E_NO_KEY_CONTAINER), CardSignData (PKCS#1, PSS, ECDSA,
 * CARD_BUFFER_SIZE_ONLY), CardRSADecrypt (raw v1, PKCS#1 and OAEP v2, short input) and
 * CardConstructDHAgreement + CardDeriveKey. Every result is checked with node:crypto against the
 * public key CardGetContainerInfo reported, never against the code under test. The helpers are
 * shared with the destructive cases, which run the same checks on keys of their own.
 */
import { constants, createHash, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes, verify, type KeyObject } from 'node:crypto';
import {
  AT_KEYEXCHANGE, CALG_SHA_256, CARD_BUFFER_SIZE_ONLY, CARD_DERIVE_KEY_CURRENT_VERSION, CARD_DH_AGREEMENT_INFO_VERSION,
  CARD_PADDING_INFO_PRESENT, CARD_PADDING_NONE, CARD_PADDING_OAEP, CARD_PADDING_PKCS1, CARD_PADDING_PSS,
  CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION, CARD_RSA_KEY_DECRYPT_INFO_VERSION_ONE, CARD_SIGNING_INFO_BASIC_VERSION,
  CARD_SIGNING_INFO_CURRENT_VERSION,
} from '../../minidriver/constants.js';
import type { CardModule } from '../../minidriver/card-module.js';
import { BCRYPT_KDF_HASH, BCRYPT_KDF_RAW_SECRET, KDF_HASH_ALGORITHM, KDF_SECRET_PREPEND } from '../../minidriver/kdf.js';
import type { CaseContext, ConformanceCase, EcCurve } from '../case.js';
import { reversed, writeBcryptEccPublicBlob } from './blob-readers.js';
import { check, checkEqual, expectCode } from './expect.js';
import { type CardKeyRef, allOf, curveBits, type KeyKind, needsExistingKey, needsMechanism, nodeCurveName, requireExistingKey } from './keys.js';
import { authenticateUser, containerIndex, minidriverKeySpec, slotPublicKey, unusedIndex, withCardModule } from './minidriver-support.js';

const RSA: KeyKind = { algorithm: 'RSA' };
const RSA_KEYX: KeyKind = { algorithm: 'RSA', keySpec: AT_KEYEXCHANGE };
const CURVES: EcCurve[] = ['P-256', 'P-384', 'P-521'];

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** A key of the card in a context: its index and key spec, and its public key as node:crypto reads it. */
export interface MinidriverKey {
  index: number;
  keySpec: number;
  publicKey: KeyObject;
}

export async function locateKey(md: CardModule, ref: CardKeyRef): Promise<MinidriverKey> {
  const index = await containerIndex(md, ref.container);
  const keySpec = minidriverKeySpec(ref);
  return { index, keySpec, publicKey: await slotPublicKey(md, index, keySpec) };
}

/** CardSignData, PKCS#1 v1.5 (aiHashAlg, version 1) and, when the token lists it, PSS (version 2); RSA signatures are little-endian. */
export async function checkRsaSignatures(ctx: CaseContext, md: CardModule, key: MinidriverKey): Promise<void> {
  const message = randomBytes(64);
  const digest = sha256(message);
  const bytes = (key.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const sized = { dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: CARD_BUFFER_SIZE_ONLY, aiHashAlg: CALG_SHA_256, pbData: digest, cbSignedData: 0 };
  await md.CardSignData(sized);
  checkEqual(sized.cbSignedData, bytes, 'cbSignedData with CARD_BUFFER_SIZE_ONLY');

  const pkcs1 = await md.CardSignData({ dwVersion: CARD_SIGNING_INFO_BASIC_VERSION, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: digest });
  checkEqual(pkcs1.length, bytes, 'PKCS#1 signature length');
  check(verify('sha256', message, key.publicKey, reversed(pkcs1)), 'node:crypto verifies the PKCS#1 v1.5 SHA-256 signature (reversed from little-endian)');
  check(!verify('sha256', message, key.publicKey, pkcs1) || pkcs1.equals(reversed(pkcs1)), 'the signature is little-endian: unreversed it does not verify');

  if (ctx.capabilities.mechanisms.has('CKM_RSA_PKCS_PSS')) {
    const pss = await md.CardSignData({
      dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: CARD_PADDING_INFO_PRESENT,
      aiHashAlg: 0, pbData: digest, dwPaddingType: CARD_PADDING_PSS, pPaddingInfo: { pszAlgId: 'SHA256', cbSalt: 32 },
    });
    check(verify('sha256', message, { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, reversed(pss)), 'node:crypto verifies the PSS SHA-256 signature');
  } else {
    ctx.note('PSS not checked: the token lists no CKM_RSA_PKCS_PSS');
  }
  await expectCode(() => md.CardSignData({ dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: 0x80, aiHashAlg: CALG_SHA_256, pbData: digest }),
    'SCARD_E_INVALID_PARAMETER', 'CardSignData with an unknown signing flag 0x80');
  await expectCode(() => md.CardSignData({ dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: digest.subarray(0, 20) }),
    'SCARD_E_INVALID_PARAMETER', 'CardSignData with a 20-byte "SHA-256" hash');
}

export async function checkEcdsaSignature(md: CardModule, key: MinidriverKey, curve: EcCurve): Promise<void> {
  const message = randomBytes(64);
  const signature = await md.CardSignData({ dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: 0, aiHashAlg: 0, pbData: sha256(message) });
  const half = Math.ceil(curveBits(curve) / 8);
  checkEqual(signature.length, 2 * half, `ECDSA ${curve} signature length (r||s)`);
  check(verify('sha256', message, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature), `node:crypto verifies the ECDSA ${curve} signature as big-endian r||s`);
}


/** A PKCS#1 v1.5 block as the card returns it raw: 00 02 PS 00 M. */
function unpadPkcs1(block: Buffer): Buffer {
  check(block[0] === 0 && block[1] === 2, 'the raw block starts 00 02 (PKCS#1 v1.5 type 2)');
  const end = block.indexOf(0, 2);
  check(end >= 10, 'the raw block has at least 8 padding bytes and a 00 separator');
  return block.subarray(end + 1);
}

/** CardRSADecrypt: version 1 (raw, little-endian), version 2 with PKCS#1 and with OAEP, and a short ciphertext. */
export async function checkRsaDecrypt(ctx: CaseContext, md: CardModule, key: MinidriverKey): Promise<void> {
  const bytes = (key.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const secret = randomBytes(32);
  const pkcs1 = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, secret);
  const base = { bContainerIndex: key.index, dwKeySpec: key.keySpec };
  if (ctx.capabilities.mechanisms.has('CKM_RSA_X_509')) {
    const raw = await md.CardRSADecrypt({ ...base, dwVersion: CARD_RSA_KEY_DECRYPT_INFO_VERSION_ONE, pbData: reversed(pkcs1) });
    checkEqual(raw.length, bytes, 'a version-1 CardRSADecrypt returns the whole block');
    check(unpadPkcs1(reversed(raw)).equals(secret), 'the raw block (little-endian) holds the node:crypto PKCS#1 plaintext');
  } else {
    ctx.note('raw (version 1) decryption not checked: the token lists no CKM_RSA_X_509');
  }
  if (ctx.capabilities.mechanisms.has('CKM_RSA_PKCS')) {
    const plain = await md.CardRSADecrypt({ ...base, dwVersion: CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION, pbData: reversed(pkcs1), dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: null });
    check(plain.equals(secret), 'version 2 with CARD_PADDING_PKCS1 returns the plaintext node:crypto encrypted');
  }
  if (ctx.capabilities.mechanisms.has('CKM_RSA_PKCS_OAEP')) {
    const oaep = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, secret);
    const plain = await md.CardRSADecrypt({ ...base, dwVersion: CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION, pbData: reversed(oaep), dwPaddingType: CARD_PADDING_OAEP, pPaddingInfo: { pszAlgId: 'SHA1' } });
    check(plain.equals(secret), 'version 2 with CARD_PADDING_OAEP (SHA-1) returns the plaintext node:crypto encrypted');
  } else {
    ctx.note('OAEP not checked: the token lists no CKM_RSA_PKCS_OAEP');
  }
  await expectCode(() => md.CardRSADecrypt({ ...base, dwVersion: CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION, pbData: reversed(pkcs1).subarray(1), dwPaddingType: CARD_PADDING_NONE }),
    'SCARD_E_INSUFFICIENT_BUFFER', 'CardRSADecrypt with a ciphertext one byte shorter than the modulus');
}

/** ECDH with a node:crypto key pair: the TRUNCATE secret (little-endian Z) and a HASH-KDF key match node:crypto's. */
export async function checkEcdhAgreement(md: CardModule, key: MinidriverKey, curve: EcCurve): Promise<void> {
  const peer = generateKeyPairSync('ec', { namedCurve: nodeCurveName(curve) });
  const z = diffieHellman({ privateKey: peer.privateKey, publicKey: key.publicKey });
  const agreement = await md.CardConstructDHAgreement({ dwVersion: CARD_DH_AGREEMENT_INFO_VERSION, bContainerIndex: key.index, dwFlags: 0, pbPublicKey: writeBcryptEccPublicBlob(peer.publicKey, 'ECDH') });
  try {
    const truncate = await md.CardDeriveKey({ dwVersion: CARD_DERIVE_KEY_CURRENT_VERSION, dwFlags: 0, pwszKDF: BCRYPT_KDF_RAW_SECRET, bSecretAgreementIndex: agreement, pParameterList: null });
    check(truncate.equals(reversed(z)), `the TRUNCATE secret is node:crypto's ${curve} Z, little-endian`);
    const prepend = randomBytes(8);
    const hashed = await md.CardDeriveKey({
      dwVersion: CARD_DERIVE_KEY_CURRENT_VERSION, dwFlags: 0, pwszKDF: BCRYPT_KDF_HASH, bSecretAgreementIndex: agreement,
      pParameterList: [{ type: KDF_HASH_ALGORITHM, value: 'SHA256' }, { type: KDF_SECRET_PREPEND, value: prepend }],
    });
    check(hashed.equals(createHash('sha256').update(prepend).update(z).digest()), 'the HASH KDF (SHA-256, prepend) equals SHA-256(prepend || Z)');
    await expectCode(() => md.CardDeriveKey({ dwVersion: CARD_DERIVE_KEY_CURRENT_VERSION, dwFlags: 0, pwszKDF: 'NO_SUCH_KDF', bSecretAgreementIndex: agreement, pParameterList: null }),
      'SCARD_E_UNSUPPORTED_FEATURE', 'CardDeriveKey with an unknown KDF');
  } finally {
    await md.CardDestroyDHAgreement(agreement, 0);
  }
  await expectCode(() => md.CardDeriveKey({ dwVersion: CARD_DERIVE_KEY_CURRENT_VERSION, dwFlags: 0, pwszKDF: BCRYPT_KDF_RAW_SECRET, bSecretAgreementIndex: agreement, pParameterList: null }),
    'SCARD_E_INVALID_PARAMETER', 'CardDeriveKey on a destroyed agreement');
}

/** Runs `use` on an existing key of that kind with the user authenticated. */
async function withExisting(ctx: CaseContext, kind: KeyKind, use: (md: CardModule, key: MinidriverKey, ref: CardKeyRef) => Promise<void>): Promise<void> {
  const ref = requireExistingKey(ctx, kind);
  await withCardModule(ctx, async (md) => {
    const key = await locateKey(md, ref);
    await authenticateUser(ctx, md);
    await use(md, key, ref);
  });
}

export const minidriverContainerCases: ConformanceCase[] = [
  {
    id: 'containers/info',
    title: 'CardGetContainerInfo reports each existing key in its slot with the probe\'s size; an unused index is SCARD_E_NO_KEY_CONTAINER, a flag SCARD_E_INVALID_PARAMETER',
    requires: { applicable: (c) => (c.existingContainers.length ? undefined : 'the card has no container') },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        for (const container of ctx.capabilities.existingContainers) {
          const index = await containerIndex(md, container.name);
          for (const k of container.keys) {
            const ref: CardKeyRef = { container: container.name, algorithm: k.algorithm, bits: k.bits, keySpec: k.keySpec, legacyKeySpec: k.keySpec, hasCertificate: container.hasCertificate };
            const publicKey = await slotPublicKey(md, index, minidriverKeySpec(ref));
            const bits = publicKey.asymmetricKeyType === 'rsa' ? publicKey.asymmetricKeyDetails?.modulusLength : curveBitsOf(publicKey);
            checkEqual(bits, k.bits, `size of the ${k.algorithm} key in "${container.name}"`);
          }
        }
        const bad = await unusedIndex(md);
        await expectCode(() => md.CardGetContainerInfo(bad, 0), 'SCARD_E_NO_KEY_CONTAINER', `CardGetContainerInfo of unused index ${bad}`);
        await expectCode(() => md.CardGetContainerInfo(256, 0), 'SCARD_E_INVALID_PARAMETER', 'CardGetContainerInfo of index 256 (not a BYTE)');
        const first = await containerIndex(md, ctx.capabilities.existingContainers[0]!.name);
        await expectCode(() => md.CardGetContainerInfo(first, 0x1), 'SCARD_E_INVALID_PARAMETER', 'CardGetContainerInfo with dwFlags 1');
      });
    },
  },
  {
    id: 'sign/rsa',
    title: 'CardSignData with an existing RSA key: PKCS#1 v1.5 and PSS verify with node:crypto; SIZE_ONLY gives the length; bad flags and hash lengths are SCARD_E_INVALID_PARAMETER',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withExisting(ctx, RSA, (md, key) => checkRsaSignatures(ctx, md, key));
    },
  },
  ...CURVES.map((curve): ConformanceCase => ({
    id: `sign/ecdsa-${curve.toLowerCase()}`,
    title: `CardSignData with an existing ECDSA ${curve} key: r||s verifies with node:crypto`,
    requires: { applicable: needsExistingKey({ algorithm: 'ECDSA', curve }) },
    async run(ctx) {
      await withExisting(ctx, { algorithm: 'ECDSA', curve }, (md, key) => checkEcdsaSignature(md, key, curve));
    },
  })),
  {
    id: 'sign/not-authenticated',
    title: 'CardSignData without the user PIN (after CardDeauthenticate) is SCARD_W_SECURITY_VIOLATION; a missing slot is SCARD_E_NO_KEY_CONTAINER',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      const ref = requireExistingKey(ctx, RSA);
      await withCardModule(ctx, async (md) => {
        const key = await locateKey(md, ref);
        await md.CardDeauthenticate('user', 0);
        await expectCode(() => md.CardSignData({ dwVersion: 2, bContainerIndex: key.index, dwKeySpec: key.keySpec, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: sha256(Buffer.from('x')) }),
          'SCARD_W_SECURITY_VIOLATION', 'CardSignData before CardAuthenticatePin');
        const bad = await unusedIndex(md);
        await expectCode(() => md.CardSignData({ dwVersion: 2, bContainerIndex: bad, dwKeySpec: key.keySpec, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: sha256(Buffer.from('x')) }),
          'SCARD_E_NO_KEY_CONTAINER', `CardSignData on unused index ${bad}`);
        await authenticateUser(ctx, md); // leave the card as the other cases expect it: PIN verified
      });
    },
  },
  {
    id: 'decrypt/rsa',
    title: 'CardRSADecrypt with an existing AT_KEYEXCHANGE key: node:crypto PKCS#1 and OAEP ciphertexts decrypt (raw v1 and v2 padding); a short ciphertext is SCARD_E_INSUFFICIENT_BUFFER',
    requires: { applicable: needsExistingKey(RSA_KEYX) },
    async run(ctx) {
      await withExisting(ctx, RSA_KEYX, (md, key) => checkRsaDecrypt(ctx, md, key));
    },
  },
  ...CURVES.map((curve): ConformanceCase => ({
    id: `agreement/ecdh-${curve.toLowerCase()}`,
    title: `CardConstructDHAgreement + CardDeriveKey with an existing ECDH ${curve} key agree with node:crypto (TRUNCATE, HASH); destroyed agreements are refused`,
    requires: { applicable: allOf(needsExistingKey({ algorithm: 'ECDH', curve }), needsMechanism('CKM_ECDH1_DERIVE')) },
    async run(ctx) {
      await withExisting(ctx, { algorithm: 'ECDH', curve }, (md, key) => checkEcdhAgreement(md, key, curve));
    },
  })),
];

function curveBitsOf(key: KeyObject): number | undefined {
  const named = key.asymmetricKeyDetails?.namedCurve;
  return { prime256v1: 256, secp384r1: 384, secp521r1: 521 }[named ?? ''];
}
