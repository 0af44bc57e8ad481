/**
 * The hash algorithms a card signs for, in every vocabulary the stack uses.
 *
 * Why: CARD_SIGNING_INFO names the hash by CAPI ALG_ID (aiHashAlg) or by CNG id (padding info
 * pszAlgId), PKCS#11 needs the DER DigestInfo prefix to build a CKM_RSA_PKCS input, node:crypto needs
 * its own name, and the KDFs need the digest. One table keeps those in step. CALG_SSL3_SHAMD5 is the
 * odd one: its "hash" is MD5 || SHA-1 (36 bytes), signed with no DigestInfo, and it has no CNG id.
 *
 * Lookups return undefined for unknown algorithms so each caller raises the code of its own layer
 * (NTE_BAD_ALGID in the CSP, SCARD_E_INVALID_PARAMETER in the minidriver).
 */
import { createHash } from 'node:crypto';
import { CryptError } from './errors.js';
import { CALG_MD5, CALG_SHA1, CALG_SHA_256, CALG_SHA_384, CALG_SHA_512, CALG_SSL3_SHAMD5 } from './constants.js';

export interface HashAlgorithm {
  /** CAPI ALG_ID. */
  calg: number;
  /** CNG algorithm id ('SHA256'...), null when CNG has none. */
  cngName: string | null;
  /** node:crypto digest name, null when the hash is not a single node digest (SSL3_SHAMD5). */
  nodeName: string | null;
  /** Digest length in bytes. */
  digestLength: number;
  /** DER DigestInfo up to and including the OCTET STRING header; empty when none is used. Treat as read-only. */
  digestInfoPrefix: Buffer;
}

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = [
  { calg: CALG_MD5, cngName: 'MD5', nodeName: 'md5', digestLength: 16, digestInfoPrefix: Buffer.from('3020300c06082a864886f70d020505000410', 'hex') },
  { calg: CALG_SHA1, cngName: 'SHA1', nodeName: 'sha1', digestLength: 20, digestInfoPrefix: Buffer.from('3021300906052b0e03021a05000414', 'hex') },
  { calg: CALG_SSL3_SHAMD5, cngName: null, nodeName: null, digestLength: 36, digestInfoPrefix: Buffer.alloc(0) },
  { calg: CALG_SHA_256, cngName: 'SHA256', nodeName: 'sha256', digestLength: 32, digestInfoPrefix: Buffer.from('3031300d060960864801650304020105000420', 'hex') },
  { calg: CALG_SHA_384, cngName: 'SHA384', nodeName: 'sha384', digestLength: 48, digestInfoPrefix: Buffer.from('3041300d060960864801650304020205000430', 'hex') },
  { calg: CALG_SHA_512, cngName: 'SHA512', nodeName: 'sha512', digestLength: 64, digestInfoPrefix: Buffer.from('3051300d060960864801650304020305000440', 'hex') },
];

export function hashByCalg(calg: number): HashAlgorithm | undefined {
  return HASH_ALGORITHMS.find((hash) => hash.calg === calg);
}

/** By CNG algorithm id, compared case-insensitively as CNG compares algorithm ids. */
export function hashByCngName(name: string): HashAlgorithm | undefined {
  if (typeof name !== 'string') return undefined;
  const wanted = name.toUpperCase();
  return HASH_ALGORITHMS.find((hash) => hash.cngName === wanted);
}

/** The digest of `data` under `hash`; for SSL3_SHAMD5 that is MD5(data) || SHA1(data). */
export function computeDigest(hash: HashAlgorithm, data: Uint8Array): Buffer {
  if (hash.calg === CALG_SSL3_SHAMD5) {
    return Buffer.concat([createHash('md5').update(data).digest(), createHash('sha1').update(data).digest()]);
  }
  if (hash.nodeName === null) throw new CryptError('SCARD_E_INVALID_PARAMETER', `hash 0x${hash.calg.toString(16)} has no node:crypto digest`);
  return createHash(hash.nodeName).update(data).digest();
}
