/**
 * The algorithms this CryptoAPI provider offers: the one table the session keys, the hashes and
 * PP_ENUMALGS / PP_ENUMALGS_EX read, so what the provider enumerates is exactly what it does.
 *
 * The provider is the Base Smart Card CSP, type PROV_RSA_FULL. Unlike Microsoft's software
 * PROV_RSA_FULL providers, which refuse SHA-2 and AES there (reference H3, K3), the smart card CSP
 * offers SHA-256/384/512 and AES-128/192/256 under PROV_RSA_FULL: ported smart card code asks for them.
 *
 * Left out on purpose: RC2, RC4, DES and the generic CALG_AES (key length unspecified, NTE_BAD_ALGID on
 * Windows too), MD2, MD4, CALG_MAC and CALG_HMAC (keyed hashes). Asking for them gives NTE_BAD_ALGID.
 *
 * Lengths are what PROV_ENUMALGS_EX reports (reference §3.6), in bits. Triple DES reports its effective
 * length (168 / 112), as Windows does, while KP_KEYLEN reports the stored length (192 / 128).
 * RSA key lengths depend on the card (CardQueryKeySizes), so those rows carry none.
 */
import { type HashAlgorithm, hashByCalg } from '../minidriver/hash-algorithms.js';
import {
  CALG_3DES, CALG_3DES_112, CALG_AES_128, CALG_AES_192, CALG_AES_256, CALG_MD5, CALG_RSA_KEYX, CALG_RSA_SIGN, CALG_SHA1,
  CALG_SHA_256, CALG_SHA_384, CALG_SHA_512, CALG_SSL3_SHAMD5, CRYPT_FLAG_IPSEC, CRYPT_FLAG_SIGNING,
} from './constants.js';

interface AlgorithmRow {
  algId: number;
  /** The wincrypt.h name, for messages: 'CALG_AES_256'. */
  calgName: string;
  /** PROV_ENUMALGS(_EX).szName: at most 19 characters (20 with the NUL). */
  name: string;
  /** PROV_ENUMALGS_EX.szLongName: at most 39 characters (40 with the NUL). */
  longName: string;
  /** PROV_ENUMALGS_EX.dwProtocols (CRYPT_FLAG_*). */
  protocols: number;
}

/** PROV_ENUMALGS_EX dwDefaultLen / dwMinLen / dwMaxLen, in bits. */
export interface AlgorithmLengths {
  defaultBits: number;
  minBits: number;
  maxBits: number;
}

/** A block cipher for session keys in host memory (node:crypto). */
export interface CipherAlgorithm extends AlgorithmRow, AlgorithmLengths {
  kind: 'cipher';
  /** Stored key length in bytes: what KP_KEYLEN reports (× 8) and what a PLAINTEXTKEYBLOB carries. */
  keyBytes: number;
  /** Block length in bytes (KP_BLOCKLEN × 8). */
  blockBytes: number;
  /** KP_EFFECTIVE_KEYLEN in bits: the key bits that count (Triple DES: parity bits excluded). */
  effectiveBits: number;
  /** node:crypto cipher name without the mode: `${nodeBase}-cbc`, `-ecb`, `-cfb8`. */
  nodeBase: string;
}

export interface HashRow extends AlgorithmRow, AlgorithmLengths {
  kind: 'hash';
  /** The minidriver's hash row: node:crypto name, digest length, DigestInfo prefix. */
  hash: HashAlgorithm;
}

/** A card key pair's algorithm. Its lengths come from the card (CardQueryKeySizes). */
export interface RsaRow extends AlgorithmRow {
  kind: 'rsa';
}

export type CspAlgorithm = CipherAlgorithm | HashRow | RsaRow;

function cipher(algId: number, calgName: string, name: string, longName: string, keyBytes: number, blockBytes: number, effectiveBits: number, nodeBase: string): CipherAlgorithm {
  return { kind: 'cipher', algId, calgName, name, longName, protocols: 0, defaultBits: effectiveBits, minBits: effectiveBits, maxBits: effectiveBits, keyBytes, blockBytes, effectiveBits, nodeBase };
}

function hash(algId: number, calgName: string, name: string, longName: string, protocols: number): HashRow {
  const row = hashByCalg(algId);
  if (row === undefined) throw new Error(`hash 0x${algId.toString(16)} is missing from minidriver/hash-algorithms`);
  const bits = row.digestLength * 8;
  return { kind: 'hash', algId, calgName, name, longName, protocols, defaultBits: bits, minBits: bits, maxBits: bits, hash: row };
}

/** In PP_ENUMALGS order: ciphers, hashes, then the card's key pairs. */
export const CSP_ALGORITHMS: readonly CspAlgorithm[] = [
  // 3DES_112 is two-key Triple DES (K1 K2 K1): 16 stored bytes, 112 effective bits.
  cipher(CALG_3DES_112, 'CALG_3DES_112', '3DES TWO KEY', 'Two Key Triple DES', 16, 8, 112, 'des-ede3'),
  cipher(CALG_3DES, 'CALG_3DES', '3DES', 'Three Key Triple DES', 24, 8, 168, 'des-ede3'),
  cipher(CALG_AES_128, 'CALG_AES_128', 'AES-128', 'Advanced Encryption Standard (AES-128)', 16, 16, 128, 'aes-128'),
  cipher(CALG_AES_192, 'CALG_AES_192', 'AES-192', 'Advanced Encryption Standard (AES-192)', 24, 16, 192, 'aes-192'),
  cipher(CALG_AES_256, 'CALG_AES_256', 'AES-256', 'Advanced Encryption Standard (AES-256)', 32, 16, 256, 'aes-256'),
  hash(CALG_SHA1, 'CALG_SHA1', 'SHA-1', 'Secure Hash Algorithm (SHA-1)', CRYPT_FLAG_SIGNING),
  hash(CALG_SHA_256, 'CALG_SHA_256', 'SHA-256', 'Secure Hash Algorithm (SHA-256)', CRYPT_FLAG_SIGNING),
  hash(CALG_SHA_384, 'CALG_SHA_384', 'SHA-384', 'Secure Hash Algorithm (SHA-384)', CRYPT_FLAG_SIGNING),
  hash(CALG_SHA_512, 'CALG_SHA_512', 'SHA-512', 'Secure Hash Algorithm (SHA-512)', CRYPT_FLAG_SIGNING),
  hash(CALG_MD5, 'CALG_MD5', 'MD5', 'Message Digest 5 (MD5)', CRYPT_FLAG_SIGNING),
  // Only ever set through HP_HASHVAL (TLS client authentication signs it); never a signing hash by itself.
  hash(CALG_SSL3_SHAMD5, 'CALG_SSL3_SHAMD5', 'SSL3 SHAMD5', 'SSL3 SHAMD5', 0),
  { kind: 'rsa', algId: CALG_RSA_SIGN, calgName: 'CALG_RSA_SIGN', name: 'RSA_SIGN', longName: 'RSA Signature', protocols: CRYPT_FLAG_SIGNING | CRYPT_FLAG_IPSEC },
  { kind: 'rsa', algId: CALG_RSA_KEYX, calgName: 'CALG_RSA_KEYX', name: 'RSA_KEYX', longName: 'RSA Key Exchange', protocols: CRYPT_FLAG_SIGNING | CRYPT_FLAG_IPSEC },
];

export function algorithmByAlgId(algId: number): CspAlgorithm | undefined {
  return CSP_ALGORITHMS.find((row) => row.algId === algId);
}

export function cipherByAlgId(algId: number): CipherAlgorithm | undefined {
  const row = algorithmByAlgId(algId);
  return row?.kind === 'cipher' ? row : undefined;
}

export function hashRowByAlgId(algId: number): HashRow | undefined {
  const row = algorithmByAlgId(algId);
  return row?.kind === 'hash' ? row : undefined;
}

/** The names of the rows of one kind, for messages that say what is supported. */
export function supportedNames(kind: CspAlgorithm['kind']): string {
  return CSP_ALGORITHMS.filter((row) => row.kind === kind).map((row) => row.calgName).join(', ');
}
