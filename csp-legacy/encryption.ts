/**
 * CryptEncrypt and CryptDecrypt.
 *
 * Session keys (AES, 3DES) encrypt in host memory (session-key.ts). RSA keys: encrypting is a public-key
 * operation done here with node:crypto on the key's public half (card key or imported public key), as
 * the Base CSP does it in software — no card call, no PIN; decrypting runs on the card (CardRSADecrypt,
 * the card removes the padding) under the user PIN.
 *
 * Byte order (reference §3.9): CryptoAPI RSA ciphertexts are little-endian, the reverse of PKCS#1 and
 * node:crypto, and the same order as the minidriver's CARD_RSA_DECRYPT_INFO.pbData — so a ciphertext
 * made here is reversed once, and one to decrypt goes to the card as it is.
 *
 * hHash: the plaintext is hashed too — before encrypting, after decrypting (as Windows does).
 *
 * RSA rules (X4, X5): PKCS#1 v1.5 by default (plaintext at most k − 11 bytes), CRYPT_OAEP for OAEP with
 * SHA-1 (at most k − 42), more → NTE_BAD_LEN; any other flag → NTE_BAD_FLAGS; a CALG_RSA_SIGN key
 * (AT_SIGNATURE) refuses both calls with NTE_BAD_KEY; a ciphertext whose padding does not check out →
 * NTE_BAD_DATA. `Final` changes nothing for RSA: one call is one block.
 *
 * Codes where the reference is silent (decided here):
 *  - a ciphertext that is not exactly the modulus length: NTE_BAD_LEN (the length rule's code);
 *    one not below the modulus: NTE_BAD_DATA (it is no ciphertext of this key);
 *  - CryptDecrypt with an imported public key (no private half): NTE_BAD_KEY;
 *  - CRYPT_DECRYPT_RSA_NO_PADDING_CHECK: NTE_BAD_FLAGS (X5 allows CRYPT_OAEP only);
 *  - a hash already finished: NTE_BAD_HASH_STATE before anything is encrypted or decrypted.
 */
import { constants, publicEncrypt } from 'node:crypto';
import {
  AT_KEYEXCHANGE, CALG_RSA_KEYX, CARD_PADDING_NONE, CARD_PADDING_OAEP, CARD_PADDING_PKCS1, CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { CardRsaDecryptInfo } from '../minidriver/structures.js';
import { onCard } from './card-access.js';
import { CRYPT_OAEP } from './constants.js';
import { type HCRYPTHASH, type HCRYPTKEY, type HCRYPTPROV, useHandle } from './handles.js';
import type { HashState } from './hash-state.js';
import type { CardKeyPair, PublicKeyOnly } from './key-model.js';
import { belowModulus, bytesArgument, checkFlags, keyGone, rsaModulus, where } from './keys.js';

/** OAEP's overhead with SHA-1: 2·20 + 2 bytes (X4). */
const OAEP_SHA1_OVERHEAD = 42;
const PKCS1_OVERHEAD = 11;

type RsaKey = CardKeyPair | PublicKeyOnly;

/** `Final` as Windows' BOOL: a boolean, or a number (0 false). */
function finalArgument(value: unknown, operation: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value !== 0;
  throw new CryptError('ERROR_INVALID_PARAMETER', `Final must be a boolean, not ${value === null ? 'null' : typeof value}`, { operation });
}

/** hHash: null, or a live hash handle (ERROR_INVALID_PARAMETER otherwise, C1) not yet finished. */
function hashArgument(hHash: unknown, operation: string): HashState | null {
  if (hHash === null || hHash === undefined) return null;
  const hash = useHandle(hHash, 'hash', operation).hash;
  if (hash.finished) {
    throw new CryptError('NTE_BAD_HASH_STATE', 'the hash passed as hHash is finished (its value was read, set or signed); create a new hash to hash the data', { operation });
  }
  return hash;
}

/** An RSA key that may encrypt and decrypt: not a CALG_RSA_SIGN key (X4). */
function exchangeKey(key: RsaKey, operation: string): RsaKey {
  if (key.algId !== CALG_RSA_KEYX) {
    const which = key.kind === 'card' ? 'the AT_SIGNATURE key of its container' : 'a CALG_RSA_SIGN public key';
    throw new CryptError('NTE_BAD_KEY', `this is ${which}, which signs only; encrypt and decrypt with an AT_KEYEXCHANGE (CALG_RSA_KEYX) key`, where(key, operation));
  }
  return key;
}

/** NTE_BAD_LEN when a plaintext is too long for the key and padding (X4). */
function checkPlaintextLength(key: RsaKey, length: number, oaep: boolean, operation: string): void {
  const k = rsaModulus(key.publicKey).length;
  const max = k - (oaep ? OAEP_SHA1_OVERHEAD : PKCS1_OVERHEAD);
  if (length > max) {
    throw new CryptError('NTE_BAD_LEN', `${oaep ? 'OAEP (SHA-1)' : 'PKCS#1 v1.5'} encrypts at most ${max} bytes with this ${k * 8}-bit key; got ${length}`, where(key, operation));
  }
}

/**
 * RSA encryption with a public key, as CryptoAPI lays it out: PKCS#1 v1.5 type 2 (or OAEP SHA-1),
 * the result little-endian, the modulus length. NTE_BAD_LEN when the plaintext is too long.
 */
export function rsaPublicEncrypt(key: RsaKey, plaintext: Buffer, oaep: boolean, operation: string): Buffer {
  checkPlaintextLength(key, plaintext.length, oaep, operation);
  const padding = oaep ? constants.RSA_PKCS1_OAEP_PADDING : constants.RSA_PKCS1_PADDING;
  return publicEncrypt({ key: key.publicKey, padding, ...(oaep ? { oaepHash: 'sha1' } : {}) }, plaintext).reverse();
}

/**
 * Decrypts a little-endian RSA block on the card with the container's AT_KEYEXCHANGE key, the card
 * removing PKCS#1 v1.5 (or OAEP SHA-1) padding. Lengths and the value are checked before the card is
 * asked; a padding that does not check out is NTE_BAD_DATA. Needs the PIN (through `prov`'s context).
 */
export async function cardRsaDecrypt(prov: HCRYPTPROV, key: CardKeyPair, blockLE: Buffer, oaep: boolean, operation: string): Promise<Buffer> {
  const k = rsaModulus(key.publicKey).length;
  if (blockLE.length !== k) {
    throw new CryptError('NTE_BAD_LEN', `an RSA ciphertext of this ${k * 8}-bit key is exactly ${k} bytes; got ${blockLE.length}`, where(key, operation));
  }
  if (!belowModulus(Buffer.from(blockLE).reverse(), key.publicKey)) {
    throw new CryptError('NTE_BAD_DATA', 'the input is not a ciphertext of this key (read little-endian, it is not below the modulus)', where(key, operation));
  }
  const dwPaddingType = oaep ? CARD_PADDING_OAEP : CARD_PADDING_PKCS1;
  const info: CardRsaDecryptInfo = {
    dwVersion: CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION, bContainerIndex: key.container.index, dwKeySpec: AT_KEYEXCHANGE,
    pbData: Buffer.from(blockLE), dwPaddingType, pPaddingInfo: oaep ? { pszAlgId: 'SHA1' } : null,
  };
  const module = key.card.module;
  return onCard(prov, key.card, operation, true, () => module.CardRSADecrypt(info).catch(async (err: unknown) => {
    if (await paddingFailed(err, () => module.CardRSADecrypt({ ...info, dwPaddingType: CARD_PADDING_NONE, pPaddingInfo: null }))) {
      throw new CryptError('NTE_BAD_DATA', `the ciphertext does not decrypt to ${oaep ? 'an OAEP (SHA-1)' : 'a PKCS#1 v1.5'} block under this key (check CRYPT_OAEP, the byte order — CryptoAPI ciphertexts are little-endian — and the key)`, { ...where(key, operation), cause: err });
    }
    throw keyGone(err, key, operation);
  }));
}

/**
 * Whether a failed card decryption failed on the padding. Length and value were checked first, so
 * SCARD_E_INVALID_PARAMETER means the padding. Modules that report any decryption failure as a general
 * error (SoftHSM2: SCARD_E_UNEXPECTED) are asked for the raw block: if the card gives it, key and card
 * work and it was the padding; if not, the original error stands.
 */
async function paddingFailed(err: unknown, decryptRaw: () => Promise<Buffer>): Promise<boolean> {
  if (CryptError.is(err, 'SCARD_E_INVALID_PARAMETER')) return true;
  if (!CryptError.is(err, 'SCARD_E_UNEXPECTED')) return false;
  return decryptRaw().then((raw) => { raw.fill(0); return true; }, () => false);
}

/**
 * CryptEncrypt(hKey, hHash, Final, dwFlags, pbData) → the ciphertext. Session keys: block cipher
 * rules (X1–X3). RSA (AT_KEYEXCHANGE card key or CALG_RSA_KEYX public key): one block, PKCS#1 v1.5 or
 * CRYPT_OAEP, little-endian, the modulus length; no PIN.
 */
export async function CryptEncrypt(hKey: HCRYPTKEY, hHash: HCRYPTHASH | null, final: boolean, flags: number, data: Uint8Array): Promise<Buffer> {
  const operation = 'CryptEncrypt';
  const handle = useHandle(hKey, 'key', operation);
  const hash = hashArgument(hHash, operation);
  const isFinal = finalArgument(final, operation);
  const f = checkFlags(flags, CRYPT_OAEP, operation);
  const input = bytesArgument(data, 'pbData', operation);
  const key = handle.key;
  if (key.kind === 'session') {
    checkFlags(f, 0, operation); // CRYPT_OAEP is an RSA flag (X5); refused before the hash takes the data
    hash?.update(input, 0, operation);
    return key.session.encrypt(input, isFinal, f, operation);
  }
  exchangeKey(key, operation);
  const oaep = (f & CRYPT_OAEP) !== 0;
  checkPlaintextLength(key, input.length, oaep, operation); // before the hash takes the data
  hash?.update(input, 0, operation);
  return rsaPublicEncrypt(key, input, oaep, operation);
}

/**
 * CryptDecrypt(hKey, hHash, Final, dwFlags, pbData) → the plaintext. Session keys: block cipher rules
 * (X2, X3). RSA: the container's AT_KEYEXCHANGE key decrypts on the card a little-endian ciphertext of
 * exactly the modulus length, PKCS#1 v1.5 or CRYPT_OAEP; needs the PIN (CRYPT_SILENT contexts without
 * a cached PIN: NTE_SILENT_CONTEXT).
 */
export async function CryptDecrypt(hKey: HCRYPTKEY, hHash: HCRYPTHASH | null, final: boolean, flags: number, data: Uint8Array): Promise<Buffer> {
  const operation = 'CryptDecrypt';
  const handle = useHandle(hKey, 'key', operation);
  const hash = hashArgument(hHash, operation);
  const isFinal = finalArgument(final, operation);
  const f = checkFlags(flags, CRYPT_OAEP, operation);
  const input = bytesArgument(data, 'pbData', operation);
  const key = handle.key;
  let plaintext: Buffer;
  if (key.kind === 'session') {
    plaintext = key.session.decrypt(input, isFinal, f, operation);
  } else {
    exchangeKey(key, operation);
    if (key.kind !== 'card') {
      throw new CryptError('NTE_BAD_KEY', 'this handle holds an imported public key, which has no private key to decrypt with; use the card key (CryptGetUserKey(AT_KEYEXCHANGE))', { operation });
    }
    plaintext = await cardRsaDecrypt(handle.prov, key, input, (f & CRYPT_OAEP) !== 0, operation);
  }
  hash?.update(plaintext, 0, operation);
  return plaintext;
}
