import { createPublicKey } from 'node:crypto';
import {
  CARD_BUFFER_SIZE_ONLY, CARD_DH_AGREEMENT_INFO_VERSION, CARD_RETURN_KEY_HANDLE,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { curveByName, decodeEccBlob, toUncompressedPoint } from '../minidriver/codecs/index.js';
import { deriveKeyFromSecret, KDF_USE_SECRET_AS_HMAC_KEY_FLAG } from '../minidriver/kdf.js';
import type { CardDeriveKey, CardDhAgreementInfo } from '../minidriver/structures.js';
import { type CardContextCore, checkFlags, keyPairFor } from './context-core.js';
import { requirePrivateKey } from './context-crypto.js';
import { type EcdhParams, pk } from './pkcs11.js';

const A = pk;

/**
 * ECDH. CardConstructDHAgreement runs CKM_ECDH1_DERIVE on the token with the card's ECDH key and keeps
 * the agreed secret Z (not a private key: a session value) in this context, under an index; CardDeriveKey
 * applies a CNG key derivation function to it; CardDestroyDHAgreement wipes it.
 */
export async function cardConstructDHAgreement(ctx: CardContextCore, info: CardDhAgreementInfo): Promise<number> {
  const operation = 'CardConstructDHAgreement';
  ctx.assertOpen(operation);
  if (!info || !(info.pbPublicKey instanceof Uint8Array)) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'pAgreementInfo with pbPublicKey is required', { operation });
  if (info.dwVersion !== CARD_DH_AGREEMENT_INFO_VERSION) throw new CryptError('ERROR_REVISION_MISMATCH', `CARD_DH_AGREEMENT_INFO must be version ${CARD_DH_AGREEMENT_INFO_VERSION}`, { operation });
  checkFlags(info.dwFlags, 0, operation);
  const peer = decodeEccBlob(info.pbPublicKey);
  if (peer.isPrivate || peer.usage !== 'ECDH') throw new CryptError('SCARD_E_INVALID_PARAMETER', 'the peer key must be an ECDH public key blob', { operation });
  try {
    // The token answers an off-curve point with CKR_GENERAL_ERROR at best: check it here first.
    createPublicKey({ key: { kty: 'EC', crv: peer.curve, x: peer.x.toString('base64url'), y: peer.y.toString('base64url') }, format: 'jwk' });
  } catch {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `the peer public key is not a point on ${peer.curve}`, { operation });
  }
  const keySpec = curveByName(peer.curve)!.ecdhKeySpec;
  const pair = keyPairFor(ctx, info.bContainerIndex, keySpec, operation);
  const container = ctx.state.records[info.bContainerIndex]?.wszGuid ?? '';
  const index = freeIndex(ctx, operation);
  const secret = await ctx.token.pooled(operation, async (s) => {
    const key = requirePrivateKey(ctx.state, s, pair, operation, container);
    const derived = await ctx.token.pkcs11.C_DeriveKeyAsync(s, {
      mechanism: A.CKM_ECDH1_DERIVE,
      parameter: { type: A.CK_PARAMS_EC_DH, kdf: A.CKD_NULL, publicData: toUncompressedPoint(peer.x, peer.y, peer.curve) } as EcdhParams,
    }, key, [
      { type: A.CKA_CLASS, value: A.CKO_SECRET_KEY },
      { type: A.CKA_KEY_TYPE, value: A.CKK_GENERIC_SECRET },
      { type: A.CKA_TOKEN, value: false },
      { type: A.CKA_SENSITIVE, value: false },
      { type: A.CKA_EXTRACTABLE, value: true },
      { type: A.CKA_VALUE_LEN, value: pair.curve!.byteLength },
    ]);
    try {
      return Buffer.from(ctx.token.attributes(s, derived, [A.CKA_VALUE])[0]);
    } finally {
      ctx.token.pkcs11.C_DestroyObject(s, derived);
    }
  }, container);
  ctx.agreements.set(index, secret);
  return index;
}

function freeIndex(ctx: CardContextCore, operation: string): number {
  for (let i = 0; i < 256; i++) if (!ctx.agreements.has(i)) return i;
  throw new CryptError('SCARD_E_NO_MEMORY', 'all 256 agreement slots are in use; destroy some with CardDestroyDHAgreement', { operation });
}

export async function cardDeriveKey(ctx: CardContextCore, info: CardDeriveKey): Promise<Buffer> {
  const operation = 'CardDeriveKey';
  ctx.assertOpen(operation);
  if (!info || typeof info.pwszKDF !== 'string') throw new CryptError('SCARD_E_INVALID_PARAMETER', 'pAgreementInfo with pwszKDF is required', { operation });
  if (info.dwVersion > 2) throw new CryptError('ERROR_REVISION_MISMATCH', `CARD_DERIVE_KEY version ${info.dwVersion} is newer than 2`, { operation });
  const flags = checkFlags(info.dwFlags, CARD_BUFFER_SIZE_ONLY | CARD_RETURN_KEY_HANDLE | KDF_USE_SECRET_AS_HMAC_KEY_FLAG, operation);
  if (flags & CARD_RETURN_KEY_HANDLE) throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'derived keys are returned as bytes; on-card key handles are not offered', { operation });
  const secret = ctx.agreements.get(info.bSecretAgreementIndex);
  if (!secret) throw new CryptError('SCARD_E_INVALID_PARAMETER', `no secret agreement ${info.bSecretAgreementIndex}`, { operation });
  const key = deriveKeyFromSecret(info.pwszKDF, secret, info.pParameterList, info.dwKeyLen, flags & KDF_USE_SECRET_AS_HMAC_KEY_FLAG);
  if (flags & CARD_BUFFER_SIZE_ONLY) return Buffer.alloc(key.length);
  return key;
}

export async function cardDestroyDHAgreement(ctx: CardContextCore, index: number, flags?: number): Promise<void> {
  const operation = 'CardDestroyDHAgreement';
  ctx.assertOpen(operation);
  checkFlags(flags, 0, operation);
  const secret = ctx.agreements.get(index);
  if (!secret) throw new CryptError('SCARD_E_INVALID_PARAMETER', `no secret agreement ${index}`, { operation });
  secret.fill(0);
  ctx.agreements.delete(index);
}
