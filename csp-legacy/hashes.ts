/**
 * Hash objects and signatures: CryptCreateHash, CryptHashData, CryptGetHashParam, CryptSetHashParam,
 * CryptDestroyHash, CryptSignHash, CryptVerifySignature.
 *
 * Hashing runs on the host (hash-state.ts). Signing runs on the card: one CardSignData with the hash's
 * ALG_ID, the card building PKCS#1 v1.5 over DigestInfo ‖ H (CRYPT_NOHASHOID: H alone; CALG_SSL3_SHAMD5:
 * the raw 36 bytes), under the user PIN. The key is the context's container slot named by dwKeySpec
 * (S1: AT_KEYEXCHANGE keys sign too), remembered by the context, so a warm signature is that one card
 * call. Verifying is a public-key operation done here (node:crypto), no card call, no PIN.
 *
 * Byte order (reference §3.9): CryptoAPI signatures are little-endian — the minidriver's order too, so
 * the card's signature is returned as it comes, and one to verify is reversed once for node:crypto.
 *
 * Codes where the reference is silent (decided here):
 *  - CryptCreateHash with a key for a hash that takes none: NTE_BAD_KEY (after the algorithm and the
 *    flags are checked, as Windows orders them); keyed hashes (CALG_HMAC, CALG_MAC) are not offered
 *    (NTE_BAD_ALGID, algorithms.ts), so that check comes first for them;
 *  - CRYPT_X931_FORMAT: NTE_BAD_FLAGS for both calls — the card signs PKCS#1 v1.5 only, and a flag a
 *    provider does not take is NTE_BAD_FLAGS in CryptoAPI;
 *  - CryptVerifySignature with a session key: NTE_BAD_KEY; an imported CALG_RSA_SIGN public key verifies
 *    (it is what signature keys are for);
 *  - a hash too long for the key's PKCS#1 block (DigestInfo ‖ H over k − 11 bytes): NTE_BAD_LEN;
 *  - sDescription, when given (S4 says it should be NULL), is hashed first as UTF-16LE without its NUL,
 *    as Windows' CSPs do; anything but a string or null: ERROR_INVALID_PARAMETER.
 * With CRYPT_NOHASHOID only a signature without DigestInfo verifies; without it, both do (§3.9).
 */
import { constants, publicDecrypt } from 'node:crypto';
import { CARD_SIGNING_INFO_CURRENT_VERSION } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { hashByCalg } from '../minidriver/hash-algorithms.js';
import type { CardSigningInfo } from '../minidriver/structures.js';
import { onCard } from './card-access.js';
import { CRYPT_NOHASHOID, CRYPT_X931_FORMAT, HP_ALGID, HP_HASHSIZE, HP_HASHVAL } from './constants.js';
import { HCRYPTHASH, type HCRYPTKEY, type HCRYPTPROV, useHandle } from './handles.js';
import { createHashState, type HashState } from './hash-state.js';
import { bytesArgument, checkFlags, dwordArgument, forgetSlotKey, keyGone, optionalKeyHandle, rsaModulus, slotKey, where } from './keys.js';

const SIGNATURE_FLAGS = CRYPT_NOHASHOID | CRYPT_X931_FORMAT;
const PKCS1_OVERHEAD = 11;

/** CRYPT_NOHASHOID and CRYPT_X931_FORMAT are the call's flags (S1); X9.31 is not offered (NTE_BAD_FLAGS). */
function signatureFlags(flags: unknown, operation: string): number {
  const f = checkFlags(flags, SIGNATURE_FLAGS, operation);
  if (f & CRYPT_X931_FORMAT) {
    throw new CryptError('NTE_BAD_FLAGS', 'CRYPT_X931_FORMAT is not offered: the card signs PKCS#1 v1.5 only; pass 0 or CRYPT_NOHASHOID', { operation });
  }
  return f;
}

/** sDescription: null, or a string hashed in first as UTF-16LE (S4). */
function hashDescription(hash: HashState, description: unknown, operation: string): void {
  if (description === null || description === undefined) return;
  if (typeof description !== 'string') throw new CryptError('ERROR_INVALID_PARAMETER', 'sDescription must be null (or a string, which is hashed first)', { operation });
  hash.update(Buffer.from(description, 'utf16le'), 0, operation);
}

/**
 * CryptCreateHash(hProv, Algid, hKey, dwFlags): a hash object of CALG_MD5, CALG_SHA1,
 * CALG_SHA_256/384/512 or CALG_SSL3_SHAMD5 (value set with HP_HASHVAL). hKey must be null; dwFlags 0.
 * Works on every context, with or without a container.
 */
export async function CryptCreateHash(hProv: HCRYPTPROV, algId: number, hKey: HCRYPTKEY | null = null, flags = 0): Promise<HCRYPTHASH> {
  const operation = 'CryptCreateHash';
  const prov = useHandle(hProv, 'prov', operation);
  const alg = dwordArgument(algId, 'Algid', operation);
  const key = optionalKeyHandle(hKey, operation);
  const state = createHashState(alg, operation);
  checkFlags(flags, 0, operation);
  if (key) {
    throw new CryptError('NTE_BAD_KEY', `${hashByCalg(alg)?.cngName ?? 'this'} hashes take no key; pass null as hKey`, where(key.key, operation));
  }
  return new HCRYPTHASH(prov, state);
}

/**
 * CryptHashData(hHash, pbData, dwFlags): adds data to the hash. dwFlags 0 or CRYPT_USERDATA (H2); a
 * finished hash → NTE_BAD_HASH_STATE (H1); CALG_SSL3_SHAMD5 takes no data (NTE_BAD_ALGID, H4).
 */
export async function CryptHashData(hHash: HCRYPTHASH, data: Uint8Array, flags = 0): Promise<void> {
  const operation = 'CryptHashData';
  const handle = useHandle(hHash, 'hash', operation);
  handle.hash.update(bytesArgument(data, 'pbData', operation), flags, operation);
}

/**
 * CryptGetHashParam(hHash, dwParam, dwFlags): HP_ALGID and HP_HASHSIZE (numbers), HP_HASHVAL (the value;
 * reading it finishes the hash and gives the same bytes every time, H1). Others: NTE_BAD_TYPE.
 */
export async function CryptGetHashParam(hHash: HCRYPTHASH, param: number, flags = 0): Promise<Buffer | number> {
  const operation = 'CryptGetHashParam';
  const handle = useHandle(hHash, 'hash', operation);
  const p = dwordArgument(param, 'dwParam', operation);
  checkFlags(flags, 0, operation);
  switch (p) {
    case HP_ALGID: return handle.hash.algId;
    case HP_HASHSIZE: return handle.hash.size;
    case HP_HASHVAL: return handle.hash.value(operation);
    default: throw new CryptError('NTE_BAD_TYPE', `dwParam ${p} is not a hash parameter here; read HP_ALGID, HP_HASHVAL or HP_HASHSIZE`, { operation });
  }
}

/**
 * CryptSetHashParam(hHash, dwParam, pbData, dwFlags): HP_HASHVAL sets the value to sign (exactly
 * HP_HASHSIZE bytes) and finishes the hash. Others: NTE_BAD_TYPE.
 */
export async function CryptSetHashParam(hHash: HCRYPTHASH, param: number, value: Uint8Array, flags = 0): Promise<void> {
  const operation = 'CryptSetHashParam';
  const handle = useHandle(hHash, 'hash', operation);
  const p = dwordArgument(param, 'dwParam', operation);
  checkFlags(flags, 0, operation);
  if (p !== HP_HASHVAL) throw new CryptError('NTE_BAD_TYPE', `dwParam ${p} cannot be set here; only HP_HASHVAL can`, { operation });
  handle.hash.setValue(bytesArgument(value, 'pbData', operation), operation);
}

/** CryptDestroyHash(hHash): releases the hash. A released, zero or wrong-kind handle: ERROR_INVALID_PARAMETER (C1). */
export async function CryptDestroyHash(hHash: HCRYPTHASH): Promise<void> {
  const operation = 'CryptDestroyHash';
  const handle = useHandle(hHash, 'hash', operation);
  handle.released = true;
  handle.prov.children.delete(handle);
}

/**
 * CryptSignHash(hHash, dwKeySpec, sDescription, dwFlags) → the signature, little-endian, the modulus
 * length. The card key of the context's container slot dwKeySpec signs (AT_KEYEXCHANGE or
 * AT_SIGNATURE; NTE_NO_KEY when absent) PKCS#1 v1.5 over DigestInfo ‖ H, or H alone with
 * CRYPT_NOHASHOID. Finishes the hash. Needs the PIN (CRYPT_SILENT without a cached PIN:
 * NTE_SILENT_CONTEXT).
 */
export async function CryptSignHash(hHash: HCRYPTHASH, keySpec: number, description: null = null, flags = 0): Promise<Buffer> {
  const operation = 'CryptSignHash';
  const handle = useHandle(hHash, 'hash', operation);
  const spec = dwordArgument(keySpec, 'dwKeySpec', operation);
  const f = signatureFlags(flags, operation);
  const prov = handle.prov;
  const key = await slotKey(prov, spec, operation);
  const hash = handle.hash;
  const algorithm = hashByCalg(hash.algId);
  if (!algorithm) throw new CryptError('NTE_BAD_ALGID', `hash ALG_ID 0x${hash.algId.toString(16)} cannot be signed by the card`, where(key, operation));
  hashDescription(hash, description, operation);
  const value = hash.value(operation);
  const noOid = (f & CRYPT_NOHASHOID) !== 0;
  const encoded = (noOid ? 0 : algorithm.digestInfoPrefix.length) + value.length;
  const k = rsaModulus(key.publicKey).length;
  if (encoded > k - PKCS1_OVERHEAD) {
    throw new CryptError('NTE_BAD_LEN', `${encoded} bytes to sign do not fit a PKCS#1 v1.5 block of this ${k * 8}-bit key (at most ${k - PKCS1_OVERHEAD})`, where(key, operation));
  }
  const info: CardSigningInfo = {
    dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: key.container.index, dwKeySpec: key.keySpec,
    dwSigningFlags: noOid ? CRYPT_NOHASHOID : 0, aiHashAlg: hash.algId, pbData: value,
  };
  try {
    // The minidriver returns RSA signatures little-endian: CryptoAPI's order already.
    return await onCard(prov, key.card, operation, true, () => key.card.module.CardSignData(info));
  } catch (err) {
    // The slot may have changed under the context (another context or process): read it afresh next time.
    forgetSlotKey(prov, spec);
    throw keyGone(err, key, operation);
  }
}

/** EMSA-PKCS1-v1_5 type 1 block of k bytes around `payload`. */
function pkcs1Block(k: number, payload: Buffer): Buffer {
  const block = Buffer.alloc(k, 0xff);
  block[0] = 0x00;
  block[1] = 0x01;
  block[k - payload.length - 1] = 0x00;
  payload.copy(block, k - payload.length);
  return block;
}

/**
 * CryptVerifySignature(hHash, pbSignature, hPubKey, sDescription, dwFlags): checks a little-endian
 * PKCS#1 v1.5 signature over the hash with the key's public half (a card key or an imported public key),
 * on the host. A signature not of the modulus length, or that does not match: NTE_BAD_SIGNATURE (S3).
 * Finishes the hash.
 */
export async function CryptVerifySignature(hHash: HCRYPTHASH, signature: Uint8Array, hPubKey: HCRYPTKEY, description: null = null, flags = 0): Promise<void> {
  const operation = 'CryptVerifySignature';
  const handle = useHandle(hHash, 'hash', operation);
  const keyHandle = useHandle(hPubKey, 'key', operation);
  const f = signatureFlags(flags, operation);
  const key = keyHandle.key;
  if (key.kind === 'session') {
    throw new CryptError('NTE_BAD_KEY', 'a session key does not verify signatures; pass the signer\'s RSA public key (CryptImportKey of its PUBLICKEYBLOB, or CryptGetUserKey)', { operation });
  }
  const k = rsaModulus(key.publicKey).length;
  // S3: the length is checked before the pointer.
  const length = signature instanceof Uint8Array ? signature.length : -1;
  if (length >= 0 && length !== k) {
    throw new CryptError('NTE_BAD_SIGNATURE', `a signature of this ${k * 8}-bit key is ${k} bytes; got ${length}`, where(key, operation));
  }
  const sig = bytesArgument(signature, 'pbSignature', operation);
  const hash = handle.hash;
  const algorithm = hashByCalg(hash.algId);
  hashDescription(hash, description, operation);
  const value = hash.value(operation);
  const noOid = (f & CRYPT_NOHASHOID) !== 0;
  let block: Buffer;
  try {
    block = publicDecrypt({ key: key.publicKey, padding: constants.RSA_NO_PADDING }, Buffer.from(sig).reverse());
  } catch {
    block = Buffer.alloc(0); // not below the modulus: no signature of this key
  }
  const payloads = [value];
  if (!noOid && algorithm && algorithm.digestInfoPrefix.length > 0) payloads.unshift(Buffer.concat([algorithm.digestInfoPrefix, value]));
  const valid = block.length === k && payloads.some((p) => p.length <= k - PKCS1_OVERHEAD && block.equals(pkcs1Block(k, p)));
  if (!valid) {
    throw new CryptError('NTE_BAD_SIGNATURE', `the signature does not match this hash under this key${noOid ? ' (CRYPT_NOHASHOID: no DigestInfo expected)' : ''}; CryptoAPI signatures are little-endian`, where(key, operation));
  }
}
