import {
  AT_KEYEXCHANGE, CARD_BUFFER_SIZE_ONLY, CARD_PADDING_INFO_PRESENT, CARD_PADDING_NONE, CARD_PADDING_OAEP,
  CARD_PADDING_PKCS1, CARD_PADDING_PSS,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { hashByCalg, hashByCngName } from '../minidriver/hash-algorithms.js';
import type { CardRsaDecryptInfo, CardSigningInfo } from '../minidriver/structures.js';
import type { CardState } from './card-state.js';
import { type CardContextCore, checkFlags, keyPairFor } from './context-core.js';
import { privateKeyHandle, type KeyPair } from './key-pairs.js';
import { ECDSA, RSA_DECRYPT, RSA_SIGN, hashBytes } from './mechanisms.js';
import { DECRYPT_CALLS, OneShot, SIGN_CALLS } from './one-shot.js';
import { oaepUnpad } from './oaep-unpad.js';
import { type Mechanism, type Pkcs11Handle, pk } from './pkcs11.js';

/** CRYPT_NOHASHOID in dwSigningFlags: PKCS#1 v1.5 without the DigestInfo. */
const CRYPT_NOHASHOID = 0x1;
const SIGN_FLAGS = CARD_PADDING_INFO_PRESENT | CARD_BUFFER_SIZE_ONLY | CRYPT_NOHASHOID;

function reversed(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  for (let i = 0, j = b.length - 1; j >= 0; i++, j--) out[i] = b[j];
  return out;
}

/** A Buffer view of the caller's bytes, without copying when they already are a Buffer. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function rsaModulusBytes(pair: KeyPair): number {
  return (pair.bits + 7) >> 3;
}

/** The mechanism and the exact bytes to hand the token for an RSA signature. */
function rsaSignInput(info: CardSigningInfo, pair: KeyPair, flags: number): { mechanism: Mechanism; data: Buffer } {
  const data = Buffer.from(info.pbData);
  const op = 'CardSignData';
  if (flags & CARD_PADDING_INFO_PRESENT) {
    if ((info.dwVersion || 1) < 2) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'padding information needs CARD_SIGNING_INFO version 2', { operation: op });
    const padding = info.pPaddingInfo;
    switch (info.dwPaddingType) {
      case CARD_PADDING_PKCS1: {
        const hash = padding?.pszAlgId ? hashByCngName(padding.pszAlgId) : undefined;
        if (padding?.pszAlgId && !hash) throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown hash algorithm "${padding.pszAlgId}"`, { operation: op });
        if (hash && data.length !== hash.digestLength) throw new CryptError('SCARD_E_INVALID_PARAMETER', `a ${hash.cngName} hash is ${hash.digestLength} bytes, got ${data.length}`, { operation: op });
        return { mechanism: RSA_SIGN[CARD_PADDING_PKCS1](), data: hash ? Buffer.concat([hash.digestInfoPrefix, data]) : data };
      }
      case CARD_PADDING_PSS: {
        const algId = padding?.pszAlgId ?? null;
        const bytes = algId ? hashBytes(algId) : undefined;
        if (bytes !== undefined && data.length !== bytes) throw new CryptError('SCARD_E_INVALID_PARAMETER', `a ${algId} hash is ${bytes} bytes, got ${data.length}`, { operation: op });
        return { mechanism: RSA_SIGN[CARD_PADDING_PSS](algId, padding?.cbSalt ?? bytes ?? 0), data };
      }
      case CARD_PADDING_NONE:
        if (data.length !== rsaModulusBytes(pair)) throw new CryptError('SCARD_E_INVALID_PARAMETER', `unpadded RSA input must be ${rsaModulusBytes(pair)} bytes`, { operation: op });
        return { mechanism: RSA_SIGN[CARD_PADDING_NONE](), data };
      default:
        throw new CryptError('SCARD_E_INVALID_PARAMETER', `padding type ${info.dwPaddingType} cannot sign; use CARD_PADDING_PKCS1, CARD_PADDING_PSS or CARD_PADDING_NONE`, { operation: op });
    }
  }
  // No padding info: PKCS#1 v1.5, with the DigestInfo of aiHashAlg unless CRYPT_NOHASHOID or no hash.
  if (info.aiHashAlg && !(flags & CRYPT_NOHASHOID)) {
    const hash = hashByCalg(info.aiHashAlg);
    if (!hash) throw new CryptError('SCARD_E_INVALID_PARAMETER', `hash ALG_ID 0x${info.aiHashAlg.toString(16)} is not one a card signs`, { operation: op });
    if (data.length !== hash.digestLength) throw new CryptError('SCARD_E_INVALID_PARAMETER', `a hash of ALG_ID 0x${info.aiHashAlg.toString(16)} is ${hash.digestLength} bytes, got ${data.length}`, { operation: op });
    return { mechanism: RSA_SIGN[CARD_PADDING_PKCS1](), data: Buffer.concat([hash.digestInfoPrefix, data]) };
  }
  return { mechanism: RSA_SIGN[CARD_PADDING_PKCS1](), data };
}

/**
 * CardSignData. RSA signatures come back little-endian (the minidriver's byte order), ECDSA as r||s
 * big-endian of fixed width. Once the key is open this is C_SignInit + C_Sign and nothing else.
 */
export function cardSignData(ctx: CardContextCore, info: CardSigningInfo): Promise<Buffer> {
  const operation = 'CardSignData';
  ctx.assertOpen(operation);
  if (!info || !(info.pbData instanceof Uint8Array)) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'pInfo with pbData is required', { operation });
  if (info.dwVersion > 2) throw new CryptError('ERROR_REVISION_MISMATCH', `CARD_SIGNING_INFO version ${info.dwVersion} is newer than 2`, { operation });
  const flags = checkFlags(info.dwSigningFlags, SIGN_FLAGS, operation);
  const pair = keyPairFor(ctx, info.bContainerIndex, info.dwKeySpec, operation);
  const container = ctx.state.records[info.bContainerIndex]?.wszGuid ?? '';
  const isRsa = pair.kind === 'RSA';
  const signatureBytes = isRsa ? rsaModulusBytes(pair) : 2 * pair.curve!.byteLength;
  info.cbSignedData = signatureBytes;
  if (flags & CARD_BUFFER_SIZE_ONLY) return Promise.resolve(Buffer.alloc(0));

  const { mechanism, data } = isRsa ? rsaSignInput(info, pair, flags) : { mechanism: ECDSA, data: asBuffer(info.pbData) };
  // The output buffer is ours: RSA signatures are reversed in place (natively) rather than copied.
  return oneShotOf(ctx.state, pair, 'sign').run({ mechanism, data, outputBytes: signatureBytes, finish: isRsa ? reverseInPlace : asIs, container });
}

/**
 * CardRSADecrypt. The ciphertext is little-endian and exactly the modulus length. Version 1, or
 * CARD_PADDING_NONE, returns the raw block (little-endian) for the CSP to unpad; version 2 with
 * CARD_PADDING_PKCS1 or CARD_PADDING_OAEP lets the token remove the padding and returns the plaintext.
 */
export function cardRsaDecrypt(ctx: CardContextCore, info: CardRsaDecryptInfo): Promise<Buffer> {
  const operation = 'CardRSADecrypt';
  ctx.assertOpen(operation);
  if (!info || !(info.pbData instanceof Uint8Array)) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'pInfo with pbData is required', { operation });
  if (info.dwVersion > 2) throw new CryptError('ERROR_REVISION_MISMATCH', `CARD_RSA_DECRYPT_INFO version ${info.dwVersion} is newer than 2`, { operation });
  if (info.dwKeySpec !== AT_KEYEXCHANGE) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'only the AT_KEYEXCHANGE key decrypts', { operation });
  const pair = keyPairFor(ctx, info.bContainerIndex, info.dwKeySpec, operation);
  const container = ctx.state.records[info.bContainerIndex]?.wszGuid ?? '';
  const k = rsaModulusBytes(pair);
  if (info.pbData.length < k) throw new CryptError('SCARD_E_INSUFFICIENT_BUFFER', `the ciphertext must be ${k} bytes (the modulus length), got ${info.pbData.length}`, { operation, container });
  if (info.pbData.length > k) throw new CryptError('SCARD_E_INVALID_PARAMETER', `the ciphertext must be ${k} bytes (the modulus length), got ${info.pbData.length}`, { operation, container });

  const padding = (info.dwVersion ?? 0) >= 2 ? info.dwPaddingType ?? CARD_PADDING_NONE : CARD_PADDING_NONE;
  let mechanism: Mechanism;
  if (padding === CARD_PADDING_NONE) mechanism = RSA_DECRYPT[CARD_PADDING_NONE]();
  else if (padding === CARD_PADDING_PKCS1) mechanism = RSA_DECRYPT[CARD_PADDING_PKCS1]();
  else if (padding === CARD_PADDING_OAEP) mechanism = RSA_DECRYPT[CARD_PADDING_OAEP](info.pPaddingInfo?.pszAlgId ?? null, info.pPaddingInfo?.pbLabel);
  else throw new CryptError('SCARD_E_INVALID_PARAMETER', `padding type ${padding} cannot decrypt; use CARD_PADDING_NONE, CARD_PADDING_PKCS1 or CARD_PADDING_OAEP`, { operation });

  const input = reversed(info.pbData);
  const oaepVariant = `${(info.pPaddingInfo?.pszAlgId ?? 'SHA1').toUpperCase()}${info.pPaddingInfo?.pbLabel?.length ? '+label' : ''}`;
  const unpadHere = (): Promise<Buffer> => {
    // The token cannot remove this OAEP padding: decrypt raw on the token, unpad here.
    const hash = hashByCngName(info.pPaddingInfo?.pszAlgId ?? 'SHA1');
    if (!hash?.nodeName) return Promise.reject(new CryptError('SCARD_E_INVALID_PARAMETER', `OAEP hash "${info.pPaddingInfo?.pszAlgId}" is not supported`, { operation }));
    return cardRsaDecrypt(ctx, { ...info, dwPaddingType: CARD_PADDING_NONE }).then((rawLe) => oaepUnpad(reversed(rawLe), hash.nodeName!, info.pPaddingInfo?.pbLabel, operation));
  };
  // OAEP labels are handled inconsistently by modules (SoftHSM2 2.6 ignores them or fails with
  // CKR_GENERAL_ERROR), so a label is always checked here, on the raw block.
  const hasLabel = (info.pPaddingInfo?.pbLabel?.length ?? 0) > 0;
  if (padding === CARD_PADDING_OAEP && (hasLabel || ctx.token.oaepRefused.has(oaepVariant))) return unpadHere();
  // The raw block goes back little-endian; a plaintext is copied off the modulus-sized buffer.
  const decrypted = oneShotOf(ctx.state, pair, 'decrypt').run({ mechanism, data: input, outputBytes: k, finish: padding === CARD_PADDING_NONE ? reversed : copy, container });
  if (padding !== CARD_PADDING_OAEP) return decrypted;
  return decrypted.catch((err: unknown) => {
    const refused = err instanceof CryptError && (err.nativeCode === pk.CKR_ARGUMENTS_BAD || err.nativeCode === pk.CKR_MECHANISM_PARAM_INVALID || err.nativeCode === pk.CKR_MECHANISM_INVALID);
    if (!refused) throw err;
    ctx.token.oaepRefused.add(oaepVariant);
    return unpadHere();
  });
}

const reverseInPlace = (b: Buffer): Buffer => b.reverse();
const asIs = (b: Buffer): Buffer => b;
const copy = (b: Buffer): Buffer => Buffer.from(b);

const ONE_SHOTS = {
  sign: { operation: 'CardSignData', calls: SIGN_CALLS },
  decrypt: { operation: 'CardRSADecrypt', calls: DECRYPT_CALLS },
} as const;

/** The pair's single-part operation of this kind, made at its first use and kept with the pair. */
function oneShotOf(state: CardState, pair: KeyPair, kind: keyof typeof ONE_SHOTS): OneShot {
  const { operation, calls } = ONE_SHOTS[kind];
  return (pair.oneShots ??= {})[kind] ??= new OneShot(
    state.token, operation, calls, state.token.dispatcher.estimate(`${kind}:${pair.kind}:${pair.bits}`), pair,
    (session, container) => requirePrivateKey(state, session, pair, operation, container),
  );
}

/** The private key of a pair; invisible before login, which the caller must do first. */
export function requirePrivateKey(state: CardState, session: Pkcs11Handle, pair: KeyPair, operation: string, container: string): Pkcs11Handle {
  const token = state.token;
  const handle = privateKeyHandle(token, session, pair);
  if (!handle && token.login === 'user' && !token.isLoggedIn(session)) {
    // Someone else in this process (another library on the same module) logged the application out.
    token.sessionLost();
    state.forgetPrivateHandles();
  }
  if (!handle) {
    throw new CryptError(
      token.login === 'user' ? 'SCARD_E_NO_KEY_CONTAINER' : 'SCARD_W_SECURITY_VIOLATION',
      token.login === 'user' ? 'the private key is gone from the card' : 'the private key needs the user PIN: call CardAuthenticatePin first',
      { operation, card: state.name, container },
    );
  }
  return handle;
}
