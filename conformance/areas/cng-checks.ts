/**
 * What the CNG area checks on one card key, whichever way the case got it: an existing key (the
 * non-destructive cases) or one the case generated (the destructive ones). Each function opens
 * nothing and frees nothing: the case owns the handles.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { AT_KEYEXCHANGE, AT_SIGNATURE } from '../../minidriver/constants.js';
import {
  BCRYPT_ECCPUBLIC_BLOB, BCRYPT_PUBLIC_KEY_BLOB, BCRYPT_RSAPUBLIC_BLOB, LEGACY_RSAPUBLIC_BLOB, NCRYPT_ALGORITHM_GROUP_PROPERTY,
  NCRYPT_ALGORITHM_PROPERTY, NCRYPT_ALLOW_DECRYPT_FLAG, NCRYPT_ALLOW_EXPORT_FLAG, NCRYPT_ALLOW_KEY_AGREEMENT_FLAG,
  NCRYPT_ALLOW_SIGNING_FLAG, NCRYPT_BLOCK_LENGTH_PROPERTY, NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_EXPORT_POLICY_PROPERTY,
  NCRYPT_IMPL_HARDWARE_FLAG, NCRYPT_IMPL_TYPE_PROPERTY, NCRYPT_KEY_USAGE_PROPERTY, NCRYPT_LENGTHS_PROPERTY, NCRYPT_LENGTH_PROPERTY,
  NCRYPT_NAME_PROPERTY, NCRYPT_PAD_OAEP_FLAG, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG, NCRYPT_READER_PROPERTY,
  NCRYPT_SMARTCARD_GUID_PROPERTY, NCRYPT_UNIQUE_NAME_PROPERTY,
} from '../../ksp/constants.js';
import { NCryptExportKey } from '../../ksp/blobs.js';
import { NCryptDecrypt, NCryptEncrypt } from '../../ksp/encryption.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import { NCryptGetProperty, NCryptSetProperty } from '../../ksp/properties.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import type { CaseContext, EcCurve } from '../case.js';
import { readBcryptEccPublicBlob, readBcryptRsaPublicBlob, readCapiPublicKeyBlob } from './blob-readers.js';
import { check, checkEqual, expectCode } from './expect.js';
import { type KeyAlgorithm, qualified } from './keys.js';

export const PKCS1 = NCRYPT_PAD_PKCS1_FLAG;
export const PSS = NCRYPT_PAD_PSS_FLAG;
export const OAEP = NCRYPT_PAD_OAEP_FLAG;

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** What a key is, as the checks below expect its properties. */
export interface KeyFacts {
  container: string;
  algorithm: KeyAlgorithm;
  bits: number;
  /** RSA: AT_KEYEXCHANGE or AT_SIGNATURE; ECC: 0. */
  legacyKeySpec: number;
  hasCertificate: boolean;
}

export function cngAlgorithmId(algorithm: KeyAlgorithm, bits: number): string {
  return algorithm === 'RSA' ? 'RSA' : `${algorithm}_P${bits}`;
}

export function expectedUsage(facts: KeyFacts): number {
  if (facts.algorithm === 'ECDH') return NCRYPT_ALLOW_KEY_AGREEMENT_FLAG;
  if (facts.algorithm === 'ECDSA') return NCRYPT_ALLOW_SIGNING_FLAG;
  return facts.legacyKeySpec === AT_SIGNATURE ? NCRYPT_ALLOW_SIGNING_FLAG : NCRYPT_ALLOW_DECRYPT_FLAG | NCRYPT_ALLOW_SIGNING_FLAG;
}

/** Every property a card key answers, with the values the key's facts fix. */
export async function checkKeyProperties(ctx: CaseContext, key: NCryptKeyHandle, facts: KeyFacts): Promise<void> {
  const rsa = facts.algorithm === 'RSA';
  checkEqual(await NCryptGetProperty(key, NCRYPT_ALGORITHM_PROPERTY), cngAlgorithmId(facts.algorithm, facts.bits), 'NCRYPT_ALGORITHM_PROPERTY');
  checkEqual(await NCryptGetProperty(key, NCRYPT_ALGORITHM_GROUP_PROPERTY), facts.algorithm, 'NCRYPT_ALGORITHM_GROUP_PROPERTY');
  checkEqual(await NCryptGetProperty(key, NCRYPT_LENGTH_PROPERTY), facts.bits, 'NCRYPT_LENGTH_PROPERTY');
  const lengths = await NCryptGetProperty(key, NCRYPT_LENGTHS_PROPERTY) as Buffer;
  checkEqual(lengths.length, 16, 'NCRYPT_LENGTHS_PROPERTY is an NCRYPT_SUPPORTED_LENGTHS (16 bytes)');
  const [min, max] = [lengths.readUInt32LE(0), lengths.readUInt32LE(4)];
  check(min <= facts.bits && facts.bits <= max, `NCRYPT_LENGTHS_PROPERTY ${min}..${max} includes the key's ${facts.bits} bits`);
  if (!rsa) check(min === facts.bits && max === facts.bits, 'an ECC key has exactly its curve\'s length');
  checkEqual(await NCryptGetProperty(key, NCRYPT_KEY_USAGE_PROPERTY), expectedUsage(facts), 'NCRYPT_KEY_USAGE_PROPERTY');
  checkEqual(await NCryptGetProperty(key, NCRYPT_EXPORT_POLICY_PROPERTY), 0, 'NCRYPT_EXPORT_POLICY_PROPERTY: not exportable');
  await expectCode(() => NCryptSetProperty(key, NCRYPT_EXPORT_POLICY_PROPERTY, NCRYPT_ALLOW_EXPORT_FLAG), 'NTE_NOT_SUPPORTED', 'making a card key exportable');
  checkEqual(await NCryptGetProperty(key, NCRYPT_NAME_PROPERTY), facts.container, 'NCRYPT_NAME_PROPERTY');
  checkEqual(await NCryptGetProperty(key, NCRYPT_UNIQUE_NAME_PROPERTY), qualified(ctx, facts.container), 'NCRYPT_UNIQUE_NAME_PROPERTY (reader-qualified)');
  checkEqual(await NCryptGetProperty(key, NCRYPT_READER_PROPERTY), ctx.target.reader, 'NCRYPT_READER_PROPERTY');
  const guid = await NCryptGetProperty(key, NCRYPT_SMARTCARD_GUID_PROPERTY) as Buffer;
  checkEqual(guid.length, 16, 'NCRYPT_SMARTCARD_GUID_PROPERTY is a 16-byte GUID');
  const impl = await NCryptGetProperty(key, NCRYPT_IMPL_TYPE_PROPERTY) as number;
  check((impl & NCRYPT_IMPL_HARDWARE_FLAG) !== 0, `NCRYPT_IMPL_TYPE_PROPERTY 0x${impl.toString(16)} has NCRYPT_IMPL_HARDWARE_FLAG`);
  if (rsa) checkEqual(await NCryptGetProperty(key, NCRYPT_BLOCK_LENGTH_PROPERTY), facts.bits / 8, 'NCRYPT_BLOCK_LENGTH_PROPERTY');
  else await expectCode(() => NCryptGetProperty(key, NCRYPT_BLOCK_LENGTH_PROPERTY), 'NTE_NOT_SUPPORTED', 'an ECC key has no block length');
}

/** The certificate property: the card's certificate of this key, or NTE_NOT_FOUND when it has none. */
export async function checkCertificateProperty(key: NCryptKeyHandle, facts: KeyFacts): Promise<X509Certificate | undefined> {
  if (!facts.hasCertificate) {
    await expectCode(() => NCryptGetProperty(key, NCRYPT_CERTIFICATE_PROPERTY), 'NTE_NOT_FOUND', 'a key without certificate');
    return undefined;
  }
  const der = await NCryptGetProperty(key, NCRYPT_CERTIFICATE_PROPERTY) as Buffer;
  const certificate = new X509Certificate(der);
  check(certificate.publicKey.equals(await publicKeyOf(key, facts.algorithm)), 'the certificate is of this key (its public key is the key\'s)');
  return certificate;
}

/** The key's public part as exported under its own blob type (read by hand, not by the code under test). */
export async function publicKeyOf(key: NCryptKeyHandle, algorithm: KeyAlgorithm) {
  return algorithm === 'RSA'
    ? readBcryptRsaPublicBlob(await NCryptExportKey(key, null, BCRYPT_RSAPUBLIC_BLOB, null)).key
    : readBcryptEccPublicBlob(await NCryptExportKey(key, null, BCRYPT_ECCPUBLIC_BLOB, null)).key;
}

/** Public export under every blob type the key has, all the same key; private export refused. */
export async function checkExports(key: NCryptKeyHandle, facts: KeyFacts): Promise<void> {
  if (facts.algorithm === 'RSA') {
    const bcrypt = readBcryptRsaPublicBlob(await NCryptExportKey(key, null, BCRYPT_RSAPUBLIC_BLOB, null));
    checkEqual(bcrypt.bits, facts.bits, 'RSAPUBLICBLOB BitLength');
    const generic = readBcryptRsaPublicBlob(await NCryptExportKey(key, null, BCRYPT_PUBLIC_KEY_BLOB, null));
    check(generic.key.equals(bcrypt.key), 'PUBLICBLOB is the RSAPUBLICBLOB');
    const capi = readCapiPublicKeyBlob(await NCryptExportKey(key, null, LEGACY_RSAPUBLIC_BLOB, null));
    check(capi.key.equals(bcrypt.key), 'LEGACY_RSAPUBLIC_BLOB (CAPIPUBLICBLOB) is the same key');
    checkEqual(capi.aiKeyAlg, facts.legacyKeySpec === AT_KEYEXCHANGE ? 0xa400 : 0x2400, 'CAPIPUBLICBLOB aiKeyAlg (CALG_RSA_KEYX / CALG_RSA_SIGN by slot)');
    await expectCode(() => NCryptExportKey(key, null, BCRYPT_ECCPUBLIC_BLOB, null), 'NTE_BAD_TYPE', 'an ECC blob of an RSA key');
    for (const type of ['RSAPRIVATEBLOB', 'RSAFULLPRIVATEBLOB', 'PRIVATEBLOB', 'CAPIPRIVATEBLOB', 'PKCS8_PRIVATEKEY']) {
      await expectCode(() => NCryptExportKey(key, null, type, null), 'NTE_NOT_SUPPORTED', `private export ${type}`);
    }
  } else {
    const ecc = readBcryptEccPublicBlob(await NCryptExportKey(key, null, BCRYPT_ECCPUBLIC_BLOB, null));
    checkEqual(ecc.use, facts.algorithm, 'ECCPUBLICBLOB magic: ECDSA or ECDH as the key is');
    checkEqual(ecc.curve, `P-${facts.bits}`, 'ECCPUBLICBLOB magic: the key\'s curve');
    const generic = readBcryptEccPublicBlob(await NCryptExportKey(key, null, BCRYPT_PUBLIC_KEY_BLOB, null));
    check(generic.key.equals(ecc.key), 'PUBLICBLOB is the ECCPUBLICBLOB');
    await expectCode(() => NCryptExportKey(key, null, LEGACY_RSAPUBLIC_BLOB, null), 'NTE_BAD_TYPE', 'a CAPI RSA blob of an ECC key');
    for (const type of ['ECCPRIVATEBLOB', 'PRIVATEBLOB', 'PKCS8_PRIVATEKEY']) {
      await expectCode(() => NCryptExportKey(key, null, type, null), 'NTE_NOT_SUPPORTED', `private export ${type}`);
    }
  }
  await expectCode(() => NCryptExportKey(key, null, 'NOSUCHBLOB', null), 'NTE_BAD_TYPE', 'an unknown blob type');
}

/** RSA PKCS#1 v1.5 over SHA-256: a modulus-length signature NCryptVerifySignature accepts, and not a tampered one. */
export async function checkRsaPkcs1Signature(key: NCryptKeyHandle, bits: number): Promise<Buffer> {
  const digest = sha256(randomBytes(32));
  const signature = await NCryptSignHash(key, { pszAlgId: 'SHA256' }, digest, PKCS1);
  checkEqual(signature.length, bits / 8, 'PKCS#1 signature length (the modulus length)');
  await NCryptVerifySignature(key, { pszAlgId: 'SHA256' }, digest, signature, PKCS1);
  const tampered = Buffer.from(signature);
  tampered[tampered.length - 1] ^= 0x01;
  await expectCode(() => NCryptVerifySignature(key, { pszAlgId: 'SHA256' }, digest, tampered, PKCS1), 'NTE_BAD_SIGNATURE', 'a tampered PKCS#1 signature');
  return signature;
}

/** RSA-PSS over SHA-256 with a 32-byte salt; verification with another salt length fails. */
export async function checkRsaPssSignature(key: NCryptKeyHandle, bits: number): Promise<void> {
  const digest = sha256(randomBytes(32));
  const signature = await NCryptSignHash(key, { pszAlgId: 'SHA256', cbSalt: 32 }, digest, PSS);
  checkEqual(signature.length, bits / 8, 'PSS signature length');
  await NCryptVerifySignature(key, { pszAlgId: 'SHA256', cbSalt: 32 }, digest, signature, PSS);
  await expectCode(() => NCryptVerifySignature(key, { pszAlgId: 'SHA256', cbSalt: 20 }, digest, signature, PSS), 'NTE_BAD_SIGNATURE', 'PSS verified with another salt length');
}

const CURVE_BYTES: Record<EcCurve, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** ECDSA: an r‖s signature of twice the curve's byte length that verifies; a tampered one does not. */
export async function checkEcdsaSignature(key: NCryptKeyHandle, curve: EcCurve): Promise<void> {
  const digest = sha256(randomBytes(32));
  const signature = await NCryptSignHash(key, null, digest, 0);
  checkEqual(signature.length, 2 * CURVE_BYTES[curve], `ECDSA ${curve} signature length (r‖s)`);
  await NCryptVerifySignature(key, null, digest, signature, 0);
  const tampered = Buffer.from(signature);
  tampered[0] ^= 0x01;
  await expectCode(() => NCryptVerifySignature(key, null, digest, tampered, 0), 'NTE_BAD_SIGNATURE', 'a tampered ECDSA signature');
  await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256' }, digest, PKCS1), 'NTE_INVALID_PARAMETER', 'an ECDSA key with a padding flag');
}

/** RSA PKCS#1 v1.5 encryption: NCryptEncrypt (public, host side) and NCryptDecrypt on the card round-trip. */
export async function checkRsaPkcs1Decrypt(key: NCryptKeyHandle, bits: number): Promise<void> {
  const secret = randomBytes(32);
  const ciphertext = await NCryptEncrypt(key, secret, null, PKCS1);
  checkEqual(ciphertext.length, bits / 8, 'PKCS#1 ciphertext length');
  const plaintext = await NCryptDecrypt(key, ciphertext, null, PKCS1);
  check(plaintext.equals(secret), 'the card decrypts what NCryptEncrypt encrypted (PKCS#1)');
}

/** RSA-OAEP (SHA-256, with a label): round trip; another label fails with NTE_BAD_DATA. */
export async function checkRsaOaepDecrypt(key: NCryptKeyHandle): Promise<void> {
  const secret = randomBytes(32);
  const pbLabel = Buffer.from('p11-ksp conformance');
  const ciphertext = await NCryptEncrypt(key, secret, { pszAlgId: 'SHA256', pbLabel }, OAEP);
  const plaintext = await NCryptDecrypt(key, ciphertext, { pszAlgId: 'SHA256', pbLabel }, OAEP);
  check(plaintext.equals(secret), 'the card decrypts what NCryptEncrypt encrypted (OAEP SHA-256, label)');
  await expectCode(() => NCryptDecrypt(key, ciphertext, { pszAlgId: 'SHA256', pbLabel: Buffer.from('another label') }, OAEP), 'NTE_BAD_DATA', 'OAEP with another label');
}
