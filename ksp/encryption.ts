/**
 * NCryptEncrypt and NCryptDecrypt (RSA).
 *
 * Encrypting is a public-key operation, done here with node:crypto on the key's public half, as the
 * smart card KSP does it in software: no card call, no PIN. Decrypting runs on the card:
 * CardRSADecrypt (version 2, the card removes the padding) under the card's PIN policy.
 *
 * Byte order (reference §3.9): CNG ciphertexts are big-endian, the minidriver's little-endian, so the
 * ciphertext is reversed on its way to the card, and a raw (NCRYPT_NO_PADDING_FLAG) result on its
 * way back.
 *
 * Codes where the reference is silent:
 *  - a ciphertext that is not the modulus length: NTE_INVALID_PARAMETER, like every length rule of
 *    these calls (N21, N23); one that is not below the modulus, or whose padding does not check out
 *    (wrong padding, OAEP hash or label, or not made for this key): NTE_BAD_DATA;
 *  - input too long for the padding (PKCS#1 over k − 11, OAEP over k − 2·hLen − 2), or a raw input
 *    not below the modulus: NTE_INVALID_PARAMETER;
 *  - ECC keys: NTE_NOT_SUPPORTED (CNG has no ECC encryption); an imported public key cannot decrypt:
 *    NTE_NOT_SUPPORTED; the AT_SIGNATURE key of a container: NTE_PERM for both calls — its usage
 *    (keyUsageOf) is signing only, and a ciphertext made for it could never be decrypted;
 *  - OAEP without pszAlgId: NTE_INVALID_PARAMETER; with MD5 or an unknown hash: NTE_NOT_SUPPORTED.
 * A padding failure is told apart from a card failure as paddingFailed (below) says, since modules
 * differ in how they report it.
 * pPaddingInfo is read only with NCRYPT_PAD_OAEP_FLAG, as Windows reads it.
 */
import { constants, type KeyObject, publicEncrypt } from 'node:crypto';
import {
  CARD_PADDING_NONE, CARD_PADDING_OAEP, CARD_PADDING_PKCS1, CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { CardRsaDecryptInfo, PaddingInfo } from '../minidriver/structures.js';
import {
  NCRYPT_ALLOW_DECRYPT_FLAG, NCRYPT_NO_PADDING_FLAG, NCRYPT_PAD_OAEP_FLAG, NCRYPT_PAD_PKCS1_FLAG, NCRYPT_SILENT_FLAG,
} from './constants.js';
import { checkFlags } from './flags.js';
import { type NCryptKeyHandle, useHandle } from './handles.js';
import { onCard } from './key-access.js';
import {
  algIdOf, belowModulus, bytesArgument, type FinalizedKey, finalizedKey, mgf1Hash, type OaepPaddingInfo, onePaddingFlag,
  paddingInfoArgument, privateKey, requireRsa, requireUsage, rsaModulusBytes, where,
} from './padding-info.js';

export type { OaepPaddingInfo } from './padding-info.js';

const PADDING_FLAGS = NCRYPT_NO_PADDING_FLAG | NCRYPT_PAD_PKCS1_FLAG | NCRYPT_PAD_OAEP_FLAG;
const ENCRYPTION_FLAGS = PADDING_FLAGS | NCRYPT_SILENT_FLAG;
const PADDING_NAMES = 'NCRYPT_NO_PADDING_FLAG, NCRYPT_PAD_PKCS1_FLAG or NCRYPT_PAD_OAEP_FLAG';

/** The padding of one call, checked; OAEP with its hash and label. */
interface RsaEncryptionPadding {
  flag: number;
  oaep?: { hash: string; hashBytes: number; cngName: string; label: Buffer | undefined };
}

function invalid(message: string, key: FinalizedKey, operation: string): CryptError {
  return new CryptError('NTE_INVALID_PARAMETER', message, where(key, operation));
}

/** An RSA key that may encrypt/decrypt, and the padding the flags and padding info ask for. */
function rsaEncryptionPadding(key: FinalizedKey, paddingInfo: OaepPaddingInfo | null | undefined, flags: number, operation: string, what: string): RsaEncryptionPadding {
  requireRsa(key, operation, what);
  requireUsage(key, NCRYPT_ALLOW_DECRYPT_FLAG, operation, what);
  const flag = onePaddingFlag(flags, PADDING_FLAGS, PADDING_NAMES, key, operation);
  if (flag !== NCRYPT_PAD_OAEP_FLAG) return { flag };
  const info = paddingInfoArgument(paddingInfo, 'BCRYPT_OAEP_PADDING_INFO', key, operation);
  const algId = algIdOf(info, key, operation);
  if (algId === null) throw invalid('OAEP needs the hash algorithm in pszAlgId', key, operation);
  const hash = mgf1Hash(algId, 'OAEP', key, operation);
  const label = info.pbLabel;
  if (label !== undefined && label !== null && !(label instanceof Uint8Array)) throw invalid('pbLabel must be a Uint8Array or Buffer', key, operation);
  return { flag, oaep: { hash: hash.nodeName, hashBytes: hash.digestLength, cngName: hash.cngName!, label: label?.length ? Buffer.from(label) : undefined } };
}

/**
 * Encrypts with the key's public half. NCRYPT_PAD_PKCS1_FLAG: PKCS#1 v1.5 (randomized), input at
 * most k − 11 bytes. NCRYPT_PAD_OAEP_FLAG: OAEP with BCRYPT_OAEP_PADDING_INFO's hash (MGF1 of the
 * same hash) and label. NCRYPT_NO_PADDING_FLAG: raw RSA of exactly k bytes below the modulus (N23).
 * The result is big-endian, k bytes. NCRYPT_SILENT_FLAG is accepted (nothing here asks for a PIN).
 */
export async function NCryptEncrypt(hKey: NCryptKeyHandle, input: Uint8Array, paddingInfo: OaepPaddingInfo | null, flags = 0): Promise<Buffer> {
  const operation = 'NCryptEncrypt';
  const handle = useHandle(hKey, 'key', operation);
  const f = checkFlags(flags, ENCRYPTION_FLAGS, operation);
  const data = bytesArgument(input, 'pbInput', operation);
  const key = finalizedKey(handle, operation);
  const padding = rsaEncryptionPadding(key, paddingInfo, f, operation, 'encrypt');
  const k = rsaModulusBytes(key.publicKey.asymmetricKeyDetails!.modulusLength!);
  switch (padding.flag) {
    case NCRYPT_NO_PADDING_FLAG:
      if (data.length !== k) throw invalid(`unpadded input must be exactly the modulus length, ${k} bytes; got ${data.length}`, key, operation);
      if (!belowModulus(data, key.publicKey)) throw invalid('unpadded input must be numerically below the modulus', key, operation);
      return encrypt(key.publicKey, constants.RSA_NO_PADDING, data);
    case NCRYPT_PAD_PKCS1_FLAG:
      if (data.length > k - 11) throw invalid(`PKCS#1 v1.5 encrypts at most ${k - 11} bytes with this key; got ${data.length}`, key, operation);
      return encrypt(key.publicKey, constants.RSA_PKCS1_PADDING, data);
    default: {
      const oaep = padding.oaep!;
      const max = k - 2 * oaep.hashBytes - 2;
      if (data.length > max) throw invalid(`OAEP with ${oaep.cngName} encrypts at most ${max} bytes with this key; got ${data.length}`, key, operation);
      return encrypt(key.publicKey, constants.RSA_PKCS1_OAEP_PADDING, data, oaep.hash, oaep.label);
    }
  }
}

function encrypt(publicKey: KeyObject, padding: number, data: Buffer, oaepHash?: string, oaepLabel?: Buffer): Buffer {
  return publicEncrypt({ key: publicKey, padding, ...(oaepHash ? { oaepHash } : {}), ...(oaepLabel ? { oaepLabel } : {}) }, data);
}

/**
 * Decrypts on the card with the same flags as NCryptEncrypt; the ciphertext is big-endian, exactly
 * the modulus length. NCRYPT_NO_PADDING_FLAG returns the raw block (k bytes, big-endian); PKCS#1 and
 * OAEP return the plaintext. Needs the PIN (NCRYPT_SILENT_FLAG: NTE_SILENT_CONTEXT instead of a prompt).
 */
export async function NCryptDecrypt(hKey: NCryptKeyHandle, input: Uint8Array, paddingInfo: OaepPaddingInfo | null, flags = 0): Promise<Buffer> {
  const operation = 'NCryptDecrypt';
  const handle = useHandle(hKey, 'key', operation);
  const f = checkFlags(flags, ENCRYPTION_FLAGS, operation);
  const data = bytesArgument(input, 'pbInput', operation);
  const key = privateKey(handle, operation, 'decrypt');
  const padding = rsaEncryptionPadding(key, paddingInfo, f, operation, 'decrypt');
  const k = rsaModulusBytes(key.bits);
  if (data.length !== k) throw invalid(`the ciphertext must be exactly the modulus length, ${k} bytes; got ${data.length}`, key, operation);
  if (!belowModulus(data, key.publicKey)) throw new CryptError('NTE_BAD_DATA', 'the input is not a ciphertext of this key (it is not below the modulus)', where(key, operation));

  let dwPaddingType: number = CARD_PADDING_NONE;
  let pPaddingInfo: PaddingInfo | null = null;
  if (padding.flag === NCRYPT_PAD_PKCS1_FLAG) dwPaddingType = CARD_PADDING_PKCS1;
  else if (padding.oaep) {
    dwPaddingType = CARD_PADDING_OAEP;
    pPaddingInfo = { pszAlgId: padding.oaep.cngName, ...(padding.oaep.label ? { pbLabel: padding.oaep.label } : {}) };
  }
  const info: CardRsaDecryptInfo = {
    dwVersion: CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION, bContainerIndex: key.container.index, dwKeySpec: key.keySpec,
    pbData: Buffer.from(data).reverse(), dwPaddingType, pPaddingInfo,
  };
  const card = key.card.module;
  const plain = await onCard(handle, key, f, operation, true, () => card.CardRSADecrypt(info).catch(async (err: unknown) => {
    if (await paddingFailed(err, dwPaddingType, () => card.CardRSADecrypt({ ...info, dwPaddingType: CARD_PADDING_NONE, pPaddingInfo: null }))) {
      throw new CryptError('NTE_BAD_DATA', 'the ciphertext does not decrypt under this key with this padding (check the padding flag, and the OAEP hash and label)', { ...where(key, operation), cause: err });
    }
    throw err;
  }));
  // A raw block comes back little-endian in a buffer that is ours: turn it big-endian in place.
  return dwPaddingType === CARD_PADDING_NONE ? plain.reverse() : plain;
}

/**
 * Whether a failed card decryption failed on the padding. Length, value and padding parameters were
 * all checked before the card was asked, so SCARD_E_INVALID_PARAMETER (the driver's word for a
 * ciphertext that does not unpad) means the padding. Some modules (SoftHSM2) report any decryption
 * failure as a general error (SCARD_E_UNEXPECTED): then the card is asked for the raw block, and if
 * it can give it, the key and card work and it was the padding; if not, the original error stands.
 */
async function paddingFailed(err: unknown, paddingType: number, decryptRaw: () => Promise<Buffer>): Promise<boolean> {
  if (CryptError.is(err, 'SCARD_E_INVALID_PARAMETER')) return true;
  if (paddingType === CARD_PADDING_NONE || !CryptError.is(err, 'SCARD_E_UNEXPECTED')) return false;
  return decryptRaw().then((raw) => { raw.fill(0); return true; }, () => false);
}
