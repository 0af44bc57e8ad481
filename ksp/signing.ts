/**
 * NCryptSignHash and NCryptVerifySignature.
 *
 * Signing runs on the card: one CardSignData under the card's PIN policy (key-access.ts). Everything
 * it needs is on the key handle (container index, key spec, size), so a warm signature is that one
 * card call; the checks before it are arithmetic on the arguments, never card reads.
 * Verifying is a public-key operation, done here on the key's public half as the smart card KSP does
 * it in software: no card call, no PIN, and imported public keys verify too.
 *
 * Byte order (reference §3.9): CNG RSA signatures are big-endian, the minidriver's little-endian, so
 * the card's result is reversed once, in place. ECDSA is IEEE P1363 r‖s on both sides.
 *
 * Codes where the reference is silent:
 *  - a padding flag on an ECDSA key: NTE_INVALID_PARAMETER, not NTE_BAD_FLAGS — the bits are the
 *    call's own, they just do not fit the key (BCrypt, under the Microsoft KSPs, answers
 *    STATUS_INVALID_PARAMETER). pPaddingInfo is ignored for ECDSA, as Windows ignores it;
 *  - an ECDH key, or (for signing) an imported public key: NTE_NOT_SUPPORTED;
 *  - an unknown pszAlgId: NTE_NOT_SUPPORTED; a known one with the wrong hash length:
 *    NTE_INVALID_PARAMETER (N21); a hash too long for the key: NTE_INVALID_PARAMETER.
 *  - PSS without cbSalt: the hash length (the usual choice, and .NET's).
 */
import { constants, createHash, type KeyObject, publicDecrypt } from 'node:crypto';
import type { CurveInfo, CurveName } from '../minidriver/codecs/index.js';
import {
  CARD_PADDING_INFO_PRESENT, CARD_PADDING_PKCS1, CARD_PADDING_PSS, CARD_SIGNING_INFO_CURRENT_VERSION,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { HashAlgorithm } from '../minidriver/hash-algorithms.js';
import type { CardSigningInfo } from '../minidriver/structures.js';
import {
  NCRYPT_ECDH_ALGORITHM_GROUP, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG, NCRYPT_RSA_ALGORITHM_GROUP, NCRYPT_SILENT_FLAG,
} from './constants.js';
import { checkFlags } from './flags.js';
import { type NCryptKeyHandle, useHandle } from './handles.js';
import { onCard } from './key-access.js';
import {
  algIdOf, bytesArgument, digestInfoHash, type FinalizedKey, finalizedKey, mgf1Hash, onePaddingFlag, paddingInfoArgument,
  privateKey, rsaModulusBytes, type SignaturePaddingInfo, where,
} from './padding-info.js';

export type { SignaturePaddingInfo } from './padding-info.js';

const SIGNATURE_FLAGS = NCRYPT_PAD_PKCS1_FLAG | NCRYPT_PAD_PSS_FLAG | NCRYPT_SILENT_FLAG;
const PADDING_FLAGS = NCRYPT_PAD_PKCS1_FLAG | NCRYPT_PAD_PSS_FLAG;
const PADDING_NAMES = 'NCRYPT_PAD_PKCS1_FLAG or NCRYPT_PAD_PSS_FLAG';

/** An RSA signature's padding, checked against the hash and the key size. */
interface RsaSignaturePadding {
  type: typeof CARD_PADDING_PKCS1 | typeof CARD_PADDING_PSS;
  /** null: PKCS#1 v1.5 over the caller's bytes, no DigestInfo (pszAlgId NULL). */
  hash: HashAlgorithm | null;
  saltBytes: number;
}

function invalid(message: string, key: FinalizedKey, operation: string): CryptError {
  return new CryptError('NTE_INVALID_PARAMETER', message, where(key, operation));
}

function checkHashLength(hash: HashAlgorithm, data: Buffer, key: FinalizedKey, operation: string): void {
  if (data.length !== hash.digestLength) throw invalid(`a ${hash.cngName} hash is ${hash.digestLength} bytes, got ${data.length}; check pszAlgId`, key, operation);
}

function rsaSignaturePadding(key: FinalizedKey, paddingInfo: SignaturePaddingInfo | null | undefined, data: Buffer, flags: number, bits: number, operation: string): RsaSignaturePadding {
  const flag = onePaddingFlag(flags, PADDING_FLAGS, PADDING_NAMES, key, operation);
  const k = rsaModulusBytes(bits);
  if (flag === NCRYPT_PAD_PKCS1_FLAG) {
    const algId = algIdOf(paddingInfoArgument(paddingInfo, 'BCRYPT_PKCS1_PADDING_INFO', key, operation), key, operation);
    const hash = algId === null ? null : digestInfoHash(algId, key, operation);
    if (hash) checkHashLength(hash, data, key, operation);
    if (data.length === 0) throw invalid('the hash is empty', key, operation);
    // EMSA-PKCS1-v1_5 needs 11 bytes of the block besides DigestInfo ‖ hash.
    const encoded = (hash?.digestInfoPrefix.length ?? 0) + data.length;
    if (encoded > k - 11) throw invalid(`${encoded} bytes to sign do not fit a PKCS#1 v1.5 block of a ${bits}-bit key (at most ${k - 11})`, key, operation);
    return { type: CARD_PADDING_PKCS1, hash, saltBytes: 0 };
  }
  const info = paddingInfoArgument(paddingInfo, 'BCRYPT_PSS_PADDING_INFO', key, operation);
  const algId = algIdOf(info, key, operation);
  if (algId === null) throw invalid('PSS needs the hash algorithm in pszAlgId', key, operation);
  const hash = mgf1Hash(algId, 'PSS', key, operation);
  checkHashLength(hash, data, key, operation);
  const saltBytes = info.cbSalt ?? hash.digestLength;
  const maxSalt = ((bits + 6) >> 3) - hash.digestLength - 2; // emLen − hLen − 2, emLen = ⌈(bits − 1)/8⌉
  if (!Number.isInteger(saltBytes) || saltBytes < 0 || saltBytes > maxSalt) {
    throw invalid(`cbSalt must be a whole number from 0 to ${maxSalt} for ${hash.cngName} with a ${bits}-bit key, not ${String(info.cbSalt)}`, key, operation);
  }
  return { type: CARD_PADDING_PSS, hash, saltBytes };
}

/** ECDSA takes the hash as it is: no padding flag, and something to sign. */
function checkEcdsaInput(data: Buffer, flags: number, key: FinalizedKey, operation: string): void {
  if (flags & PADDING_FLAGS) throw invalid(`${key.algorithm.algId} signatures take no padding; leave ${PADDING_NAMES} out of dwFlags`, key, operation);
  if (data.length === 0) throw invalid('the hash is empty', key, operation);
}

function refuseEcdh(key: FinalizedKey, operation: string): void {
  if (key.algorithm.group === NCRYPT_ECDH_ALGORITHM_GROUP) {
    throw new CryptError('NTE_NOT_SUPPORTED', `${key.algorithm.algId} keys agree secrets and do not sign; use an ECDSA or RSA key`, where(key, operation));
  }
}

/**
 * Signs a hash with the card key. RSA: NCRYPT_PAD_PKCS1_FLAG (BCRYPT_PKCS1_PADDING_INFO; pszAlgId
 * NULL signs the bytes with no DigestInfo) or NCRYPT_PAD_PSS_FLAG (BCRYPT_PSS_PADDING_INFO); the
 * result is big-endian, the modulus length. ECDSA: no padding; r‖s, 2·⌈bits/8⌉ bytes.
 * NCRYPT_SILENT_FLAG: fail with NTE_SILENT_CONTEXT rather than ask for a PIN.
 */
export function NCryptSignHash(hKey: NCryptKeyHandle, paddingInfo: SignaturePaddingInfo | null, hash: Uint8Array, flags = 0): Promise<Buffer> {
  try {
    return signHash(hKey, paddingInfo, hash, flags);
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * NCryptSignHash's body. Not an async function: a warm ECDSA signature is the card's own Promise,
 * passed on, since every Promise on the path is a measurable share of a ~75 µs signature.
 */
function signHash(hKey: NCryptKeyHandle, paddingInfo: SignaturePaddingInfo | null, hash: Uint8Array, flags: number): Promise<Buffer> {
  const operation = 'NCryptSignHash';
  const handle = useHandle(hKey, 'key', operation);
  const f = checkFlags(flags, SIGNATURE_FLAGS, operation);
  const data = bytesArgument(hash, 'pbHashValue', operation);
  const key = privateKey(handle, operation, 'sign');
  refuseEcdh(key, operation);
  const info: CardSigningInfo = {
    dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.container.index, dwKeySpec: key.keySpec,
    dwSigningFlags: 0, aiHashAlg: 0, pbData: data,
  };
  const rsa = key.algorithm.group === NCRYPT_RSA_ALGORITHM_GROUP;
  if (rsa) {
    const padding = rsaSignaturePadding(key, paddingInfo, data, f, key.bits, operation);
    info.dwSigningFlags = CARD_PADDING_INFO_PRESENT;
    info.dwPaddingType = padding.type;
    info.pPaddingInfo = padding.type === CARD_PADDING_PSS
      ? { pszAlgId: padding.hash!.cngName, cbSalt: padding.saltBytes }
      : { pszAlgId: padding.hash?.cngName ?? null };
  } else {
    checkEcdsaInput(data, f, key, operation);
  }
  const signature = onCard(handle, key, f, operation, true, () => key.card.module.CardSignData(info));
  // The driver's buffer is ours to keep: turn an RSA signature big-endian where it lies.
  return rsa ? signature.then(reverseInPlace) : signature;
}

const reverseInPlace = (signature: Buffer): Buffer => signature.reverse();

/**
 * Checks a signature against a hash with the key's public half (card key or imported public key),
 * under the same flags and padding rules as NCryptSignHash. A signature that does not match:
 * NTE_BAD_SIGNATURE; one of the wrong length: NTE_INVALID_PARAMETER (reference N21).
 */
export async function NCryptVerifySignature(hKey: NCryptKeyHandle, paddingInfo: SignaturePaddingInfo | null, hash: Uint8Array, signature: Uint8Array, flags = 0): Promise<void> {
  const operation = 'NCryptVerifySignature';
  const handle = useHandle(hKey, 'key', operation);
  const f = checkFlags(flags, SIGNATURE_FLAGS, operation);
  const data = bytesArgument(hash, 'pbHashValue', operation);
  const sig = bytesArgument(signature, 'pbSignature', operation);
  const key = finalizedKey(handle, operation);
  refuseEcdh(key, operation);
  let valid: boolean;
  if (key.algorithm.group === NCRYPT_RSA_ALGORITHM_GROUP) {
    // The size of the modulus itself: an imported blob's BitLength may disagree with it (N19).
    const bits = key.publicKey.asymmetricKeyDetails!.modulusLength!;
    const padding = rsaSignaturePadding(key, paddingInfo, data, f, bits, operation);
    if (sig.length !== rsaModulusBytes(bits)) throw invalid(`an RSA signature of this key is ${rsaModulusBytes(bits)} bytes, got ${sig.length}`, key, operation);
    valid = verifyRsa(key.publicKey, padding, data, sig, bits);
  } else {
    checkEcdsaInput(data, f, key, operation);
    const curve = key.algorithm.curve!;
    if (sig.length !== 2 * curve.byteLength) throw invalid(`an ${key.algorithm.algId} signature is r‖s, ${2 * curve.byteLength} bytes, got ${sig.length}`, key, operation);
    valid = verifyEcdsa(curve, key.publicKey, data, sig);
  }
  if (!valid) throw new CryptError('NTE_BAD_SIGNATURE', 'the signature does not match this hash under this key and padding', where(key, operation));
}

// --- RSA: the public operation, then the encoding checked here (RFC 8017 §8.2.2, §9.1.2) ---

function verifyRsa(publicKey: KeyObject, padding: RsaSignaturePadding, data: Buffer, sig: Buffer, bits: number): boolean {
  let em: Buffer;
  try {
    em = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, sig);
  } catch {
    return false; // not below the modulus: no signature of this key
  }
  return padding.type === CARD_PADDING_PKCS1 ? em.equals(pkcs1Block(em.length, padding.hash, data)) : pssMatches(em, data, padding.hash!, padding.saltBytes, bits);
}

/** EMSA-PKCS1-v1_5: 00 01 FF… 00 ‖ DigestInfo ‖ H, compared whole (no lenient parsing). */
function pkcs1Block(k: number, hash: HashAlgorithm | null, data: Buffer): Buffer {
  const block = Buffer.alloc(k, 0xff);
  block[0] = 0x00;
  block[1] = 0x01;
  const prefix = hash?.digestInfoPrefix ?? Buffer.alloc(0);
  const start = k - prefix.length - data.length;
  block[start - 1] = 0x00;
  prefix.copy(block, start);
  data.copy(block, start + prefix.length);
  return block;
}

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const parts: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0, produced = 0; produced < length; i++) {
    counter.writeUInt32BE(i);
    const block = createHash(hash).update(seed).update(counter).digest();
    parts.push(block);
    produced += block.length;
  }
  return Buffer.concat(parts).subarray(0, length);
}

/** EMSA-PSS-VERIFY with the salt length given (CNG checks cbSalt, it does not recover it). */
function pssMatches(block: Buffer, mHash: Buffer, hash: HashAlgorithm, saltBytes: number, bits: number): boolean {
  const emBits = bits - 1;
  const emLen = (emBits + 7) >> 3;
  let em = block;
  if (em.length > emLen) { // bits ≡ 1 (mod 8): the block has a zero byte above EM
    if (em[0] !== 0) return false;
    em = em.subarray(em.length - emLen);
  }
  const hLen = hash.digestLength;
  if (emLen < hLen + saltBytes + 2 || em[emLen - 1] !== 0xbc) return false;
  const dbLen = emLen - hLen - 1;
  const h = em.subarray(dbLen, dbLen + hLen);
  const topMask = 0xff >> (8 * emLen - emBits);
  if ((em[0]! & ~topMask & 0xff) !== 0) return false;
  const db = mgf1(hash.nodeName!, h, dbLen);
  for (let i = 0; i < dbLen; i++) db[i] ^= em[i]!;
  db[0] &= topMask;
  const psLen = dbLen - saltBytes - 1;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const expected = createHash(hash.nodeName!).update(Buffer.alloc(8)).update(mHash).update(db.subarray(dbLen - saltBytes)).digest();
  return expected.equals(h);
}

// --- ECDSA of a given hash (FIPS 186-4 §6.4.2) ---
// node:crypto verifies ECDSA only over a message it hashes itself, so the verification equation is
// computed here. Everything in it is public, so nothing needs to be constant-time.

/** Domain parameters of the three curves (FIPS 186-4 D.1.2; a = −3 on each). */
const DOMAINS: Readonly<Record<CurveName, { p: bigint; n: bigint; g: Point }>> = {
  'P-256': {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    g: [0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n, 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n, 1n],
  },
  'P-384': {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    g: [
      0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
      0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn, 1n,
    ],
  },
  'P-521': {
    p: 2n ** 521n - 1n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    g: [
      0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
      0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n, 1n,
    ],
  },
};

/** Jacobian coordinates (x = X/Z², y = Y/Z³); Z = 0 is the point at infinity. */
type Point = readonly [bigint, bigint, bigint];
const INFINITY: Point = [1n, 1n, 0n];

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`);
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** a^e mod m; inverses are a^(m−2) since p and n are prime. */
function modPow(a: bigint, e: bigint, m: bigint): bigint {
  let result = 1n;
  for (let base = mod(a, m); e > 0n; e >>= 1n, base = base * base % m) if (e & 1n) result = result * base % m;
  return result;
}

/** Doubling for a = −3 ("dbl-2001-b"). */
function double([x, y, z]: Point, p: bigint): Point {
  if (z === 0n || y === 0n) return INFINITY;
  const delta = z * z % p;
  const gamma = y * y % p;
  const beta = x * gamma % p;
  const alpha = mod(3n * (x - delta) * (x + delta), p);
  const x3 = mod(alpha * alpha - 8n * beta, p);
  const z3 = mod((y + z) * (y + z) - gamma - delta, p);
  const y3 = mod(alpha * (4n * beta - x3) - 8n * gamma * gamma, p);
  return [x3, y3, z3];
}

function add(a: Point, b: Point, p: bigint): Point {
  if (a[2] === 0n) return b;
  if (b[2] === 0n) return a;
  const z1z1 = a[2] * a[2] % p;
  const z2z2 = b[2] * b[2] % p;
  const u1 = a[0] * z2z2 % p;
  const u2 = b[0] * z1z1 % p;
  const s1 = a[1] * b[2] % p * z2z2 % p;
  const s2 = b[1] * a[2] % p * z1z1 % p;
  if (u1 === u2) return s1 === s2 ? double(a, p) : INFINITY;
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  const h2 = h * h % p;
  const h3 = h2 * h % p;
  const u1h2 = u1 * h2 % p;
  const x3 = mod(r * r - h3 - 2n * u1h2, p);
  const y3 = mod(r * (u1h2 - x3) - s1 * h3, p);
  return [x3, y3, a[2] * b[2] % p * h % p];
}

/** u1·G + u2·Q in one pass over the bits (Shamir's trick). */
function twoScalarMultiply(u1: bigint, g: Point, u2: bigint, q: Point, p: bigint): Point {
  const gq = add(g, q, p);
  let r = INFINITY;
  for (let i = BigInt(Math.max(u1.toString(2).length, u2.toString(2).length) - 1); i >= 0n; i--) {
    r = double(r, p);
    const b1 = (u1 >> i) & 1n;
    const b2 = (u2 >> i) & 1n;
    if (b1 && b2) r = add(r, gq, p);
    else if (b1) r = add(r, g, p);
    else if (b2) r = add(r, q, p);
  }
  return r;
}

const publicPoints = new WeakMap<KeyObject, Point>();

function publicPoint(publicKey: KeyObject): Point {
  let q = publicPoints.get(publicKey);
  if (!q) {
    const jwk = publicKey.export({ format: 'jwk' });
    q = [toBigInt(Buffer.from(jwk.x!, 'base64url')), toBigInt(Buffer.from(jwk.y!, 'base64url')), 1n];
    publicPoints.set(publicKey, q);
  }
  return q;
}

function verifyEcdsa(curve: CurveInfo, publicKey: KeyObject, hash: Buffer, sig: Buffer): boolean {
  const { p, n, g } = DOMAINS[curve.name];
  const r = toBigInt(sig.subarray(0, curve.byteLength));
  const s = toBigInt(sig.subarray(curve.byteLength));
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  // The hash's leftmost bits, as many as the order has (a longer hash is truncated, not reduced).
  const excess = hash.length * 8 - n.toString(2).length;
  const e = excess > 0 ? toBigInt(hash) >> BigInt(excess) : toBigInt(hash);
  const w = modPow(s, n - 2n, n);
  const point = twoScalarMultiply(e * w % n, g, r * w % n, publicPoint(publicKey), p);
  if (point[2] === 0n) return false;
  const zInv = modPow(point[2], p - 2n, p);
  return point[0] * zInv % p * zInv % p % n === r;
}
