/**
 * NCryptSecretAgreement and NCryptDeriveKey: ECDH with a card key.
 *
 * The agreement runs on the card (CardConstructDHAgreement with the peer's BCRYPT_ECCPUBLIC_BLOB) and
 * the agreed secret stays there under an agreement index; the secret handle holds only that index.
 * NCryptDeriveKey asks the card for the derived key (CardDeriveKey), so the raw secret never reaches
 * this layer; freeing the handle destroys the agreement on the card (provider.ts, secret.ts).
 *
 * Codes where the reference is silent: a private key that cannot agree (RSA, ECDSA, public-only) →
 * NTE_NOT_SUPPORTED, the operation being one that key does not offer; a peer on another curve or not
 * an ECDH key → NTE_INVALID_PARAMETER; a key created but not finalized → NTE_BAD_KEY_STATE (as N11).
 * The card's own parameter and feature refusals (SCARD_E_INVALID_PARAMETER,
 * SCARD_E_UNSUPPORTED_FEATURE) come back as the NCrypt codes of the same meaning.
 */
import { CARD_DH_AGREEMENT_INFO_VERSION } from '../minidriver/constants.js';
import { encodeEccPublicBlob } from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import type { KdfParameter } from '../minidriver/structures.js';
import {
  BCRYPT_KDF_HASH, BCRYPT_KDF_HMAC, BCRYPT_KDF_RAW_SECRET, BCRYPT_KDF_SP80056A_CONCAT, KDF_USE_SECRET_AS_HMAC_KEY_FLAG,
  NCRYPT_ECDH_ALGORITHM_GROUP, NCRYPT_SILENT_FLAG,
} from './constants.js';
import { checkFlags } from './flags.js';
import { type NCryptKeyHandle, NCryptSecretHandle, useHandle } from './handles.js';
import { onCard } from './key-access.js';
import type { PersistedKey, PublicOnlyKey } from './key-model.js';

/** CARD_DERIVE_KEY version carrying dwKeyLen and pwszAlgId (minidriver v7). */
const CARD_DERIVE_KEY_VERSION = 2;

const SUPPORTED_KDFS: ReadonlySet<string> = new Set([BCRYPT_KDF_HASH, BCRYPT_KDF_HMAC, BCRYPT_KDF_RAW_SECRET, BCRYPT_KDF_SP80056A_CONCAT]);

/** NCryptSecretAgreement(hPrivKey, hPubKey, dwFlags) → a secret handle. Flags: NCRYPT_SILENT_FLAG. */
export async function NCryptSecretAgreement(hPrivKey: NCryptKeyHandle, hPubKey: NCryptKeyHandle, flags = 0): Promise<NCryptSecretHandle> {
  const operation = 'NCryptSecretAgreement';
  const privHandle = useHandle(hPrivKey, 'key', operation);
  const pubHandle = useHandle(hPubKey, 'key', operation);
  checkFlags(flags, NCRYPT_SILENT_FLAG, operation);
  const key = privateSide(privHandle, operation);
  const peer = peerSide(pubHandle, key, operation);

  const jwk = peer.publicKey.export({ format: 'jwk' });
  const pbPublicKey = encodeEccPublicBlob({ curve: key.algorithm.curve!.name, usage: 'ECDH', x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url') });
  let agreementIndex: number;
  try {
    agreementIndex = await onCard(privHandle, key, flags, operation, true, () => key.card.module.CardConstructDHAgreement({
      dwVersion: CARD_DH_AGREEMENT_INFO_VERSION, bContainerIndex: key.container.index, dwFlags: 0, pbPublicKey,
    }));
  } catch (err) {
    throw asNCryptError(err, operation);
  }
  return new NCryptSecretHandle(privHandle.provider, { key, agreementIndex, destroyed: false });
}

function privateSide(handle: NCryptKeyHandle, operation: string): PersistedKey {
  const key = handle.state;
  if (key.kind === 'pending') throw new CryptError('NTE_BAD_KEY_STATE', 'the private key is not finalized yet; call NCryptFinalizeKey first', { operation });
  if (key.kind === 'public') throw new CryptError('NTE_NOT_SUPPORTED', 'the first key must be a card ECDH key (a private key); this handle holds a public key only', { operation });
  if (key.algorithm.group !== NCRYPT_ECDH_ALGORITHM_GROUP) {
    throw new CryptError('NTE_NOT_SUPPORTED', `a ${key.algorithm.algId} key does not do secret agreement; use an ECDH_P256/P384/P521 key`, { operation, container: key.container.name });
  }
  return key;
}

function peerSide(handle: NCryptKeyHandle, key: PersistedKey, operation: string): PersistedKey | PublicOnlyKey {
  const peer = handle.state;
  if (peer.kind === 'pending') throw new CryptError('NTE_BAD_KEY_STATE', 'the public key is not finalized yet; call NCryptFinalizeKey first', { operation });
  if (peer.algorithm.group !== NCRYPT_ECDH_ALGORITHM_GROUP || peer.algorithm.curve?.name !== key.algorithm.curve!.name) {
    throw new CryptError('NTE_INVALID_PARAMETER', `the peer key is ${peer.algorithm.algId}, the card key ${key.algorithm.algId}: both must be ECDH keys on the same curve (import the peer as an ECK public blob)`, { operation });
  }
  return peer;
}

/**
 * NCryptDeriveKey(hSharedSecret, pwszKDF, pParameterList, dwFlags) → the derived key bytes, of the KDF's
 * natural length (a digest; |Z| for TRUNCATE, which comes little-endian as Windows returns it).
 * KDFs: HASH, HMAC, TRUNCATE, SP800_56A_CONCAT. Flags: KDF_USE_SECRET_AS_HMAC_KEY_FLAG, with HMAC only.
 * PREPEND / APPEND buffers are concatenated in list order (N24).
 */
export async function NCryptDeriveKey(hSecret: NCryptSecretHandle, kdf: string, parameterList: readonly KdfParameter[] | null, flags = 0): Promise<Buffer> {
  const operation = 'NCryptDeriveKey';
  const handle = useHandle(hSecret, 'secret', operation);
  const { secret } = handle;
  if (secret.destroyed) throw new CryptError('NTE_INVALID_HANDLE', 'this secret was destroyed (its card went away); agree a new one with NCryptSecretAgreement', { operation });
  checkFlags(flags, KDF_USE_SECRET_AS_HMAC_KEY_FLAG, operation);
  if (typeof kdf !== 'string' || kdf.length === 0) throw new CryptError('NTE_INVALID_PARAMETER', 'pwszKDF must name a key derivation function (BCRYPT_KDF_HASH, ...)', { operation });
  if (!SUPPORTED_KDFS.has(kdf)) throw new CryptError('NTE_NOT_SUPPORTED', `KDF "${kdf}" is not offered; use HASH, HMAC, SP800_56A_CONCAT or TRUNCATE`, { operation });
  if ((flags & KDF_USE_SECRET_AS_HMAC_KEY_FLAG) && kdf !== BCRYPT_KDF_HMAC) {
    throw new CryptError('NTE_BAD_FLAGS', 'KDF_USE_SECRET_AS_HMAC_KEY_FLAG goes with the HMAC KDF only', { operation });
  }
  const pParameterList = parametersOf(parameterList, operation);
  const { key } = secret;
  try {
    return await key.card.module.CardDeriveKey({
      dwVersion: CARD_DERIVE_KEY_VERSION, dwFlags: flags, pwszKDF: kdf, bSecretAgreementIndex: secret.agreementIndex, pParameterList, dwKeyLen: 0,
    });
  } catch (err) {
    await handle.provider.service.cardFailed(key.card, err);
    throw asNCryptError(err, operation);
  }
}

/** The NCryptBuffer list, shape-checked (what each KDF accepts is the card's KDF table's to judge). */
function parametersOf(parameterList: unknown, operation: string): KdfParameter[] | null {
  if (parameterList === null || parameterList === undefined) return null;
  if (!Array.isArray(parameterList)) throw new CryptError('NTE_INVALID_PARAMETER', 'pParameterList must be an array of { type, value } buffers or null', { operation });
  return (parameterList as unknown[]).map((entry, i) => {
    const { type, value } = (typeof entry === 'object' && entry !== null ? entry : {}) as Partial<KdfParameter>;
    if (typeof type !== 'number' || !Number.isInteger(type) || type < 0) throw new CryptError('NTE_INVALID_PARAMETER', `buffer ${i} needs an integer BufferType (KDF_HASH_ALGORITHM, KDF_SECRET_PREPEND, ...)`, { operation });
    if (!(value instanceof Uint8Array) && typeof value !== 'string') throw new CryptError('NTE_INVALID_PARAMETER', `buffer ${i} needs a value: bytes, or a string for KDF_HASH_ALGORITHM`, { operation });
    return { type, value };
  });
}

/** Card refusals of the caller's input become the NCrypt codes of the same meaning; anything else passes. */
function asNCryptError(err: unknown, operation: string): unknown {
  if (!(err instanceof CryptError)) return err;
  if (err.codeName === 'SCARD_E_INVALID_PARAMETER') return new CryptError('NTE_INVALID_PARAMETER', `the card refused the request: ${err.message}`, { operation, cause: err });
  if (err.codeName === 'SCARD_E_UNSUPPORTED_FEATURE') return new CryptError('NTE_NOT_SUPPORTED', `the card does not offer this: ${err.message}`, { operation, cause: err });
  return err;
}
