/**
 * CryptGetKeyParam and CryptSetKeyParam.
 *
 * Session keys answer for themselves (session-key.ts: KP_IV, KP_MODE, KP_PADDING...). Card key pairs
 * and imported public keys answer here, from what the handle holds — no card call — except the card
 * data: KP_CERTIFICATE (the certificate file of the container slot) and KP_PIN_INFO.
 *
 * Values: DWORD parameters come back as numbers, the others as Buffers. Writes take a number or the
 * DWORD's 4 little-endian bytes for DWORD parameters, bytes for the others.
 *
 * Codes where the reference is silent (decided here):
 *  - KP_CERTIFICATE of a card key whose slot has no certificate: SCARD_E_NO_SUCH_CERTIFICATE, the Base
 *    smart card CSP's answer; of an imported public key (it has no slot): NTE_BAD_TYPE;
 *  - a certificate that is not DER X.509: NTE_BAD_DATA; one for another key: NTE_BAD_PUBLIC_KEY
 *    (smartcard/certificates.ts), checked before the card or the PIN is touched;
 *  - KP_PERMISSIONS of a card key or public key: 0x3B, as any non-exportable key (K4); setting
 *    CRYPT_EXPORT on it: NTE_BAD_DATA; any other value is accepted and changes nothing (K4);
 *  - KP_PIN_ID: ROLE_USER (the PIN every card key here is under); KP_PIN_INFO: the card's PIN_INFO
 *    of that PIN (36 bytes, cardmod.h's layout);
 *  - any other parameter of a card or public key: NTE_BAD_TYPE; dwFlags other than 0: NTE_BAD_FLAGS.
 */
import { ROLE_USER } from '../minidriver/constants.js';
import { encodePinInfo } from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import { assertCertifies } from '../smartcard/certificates.js';
import { onCard } from './card-access.js';
import {
  CRYPT_DECRYPT, CRYPT_ENCRYPT, CRYPT_EXPORT, CRYPT_MAC, CRYPT_READ, CRYPT_WRITE, KP_ALGID, KP_BLOCKLEN, KP_CERTIFICATE, KP_KEYLEN,
  KP_PERMISSIONS, KP_PIN_ID, KP_PIN_INFO,
} from './constants.js';
import { type HCRYPTKEY, useHandle } from './handles.js';
import type { CardKeyPair, PublicKeyOnly } from './key-model.js';
import { bytesArgument, checkFlags, dwordArgument, where } from './keys.js';

/** KP_PERMISSIONS of a key without CRYPT_EXPORT (K4): MAC | WRITE | READ | DECRYPT | ENCRYPT. */
export const NON_EXPORTABLE_PERMISSIONS = CRYPT_MAC | CRYPT_WRITE | CRYPT_READ | CRYPT_DECRYPT | CRYPT_ENCRYPT;

const PARAM_NAMES: Readonly<Record<number, string>> = {
  [KP_ALGID]: 'KP_ALGID', [KP_KEYLEN]: 'KP_KEYLEN', [KP_BLOCKLEN]: 'KP_BLOCKLEN', [KP_PERMISSIONS]: 'KP_PERMISSIONS',
  [KP_CERTIFICATE]: 'KP_CERTIFICATE', [KP_PIN_ID]: 'KP_PIN_ID', [KP_PIN_INFO]: 'KP_PIN_INFO',
};

function paramName(param: number): string {
  return PARAM_NAMES[param] ?? `dwParam ${param}`;
}

function badType(key: CardKeyPair | PublicKeyOnly, param: number, operation: string, settable: boolean): CryptError {
  const what = key.kind === 'card' ? 'a smart card key pair' : 'an imported public key';
  const offered = settable
    ? (key.kind === 'card' ? 'KP_CERTIFICATE and KP_PERMISSIONS' : 'KP_PERMISSIONS')
    : (key.kind === 'card' ? 'KP_ALGID, KP_KEYLEN, KP_BLOCKLEN, KP_PERMISSIONS, KP_CERTIFICATE, KP_PIN_ID and KP_PIN_INFO' : 'KP_ALGID, KP_KEYLEN, KP_BLOCKLEN and KP_PERMISSIONS');
  return new CryptError('NTE_BAD_TYPE', `${paramName(param)} is not a parameter ${settable ? 'to set on' : 'of'} ${what}; it offers ${offered}`, where(key, operation));
}

/**
 * CryptGetKeyParam(hKey, dwParam, dwFlags) → a number (DWORD parameters) or a Buffer. Card keys and
 * public keys: KP_ALGID, KP_KEYLEN and KP_BLOCKLEN (bits), KP_PERMISSIONS, and for card keys
 * KP_CERTIFICATE (DER), KP_PIN_ID and KP_PIN_INFO. Session keys: their own parameters.
 */
export async function CryptGetKeyParam(hKey: HCRYPTKEY, param: number, flags = 0): Promise<Buffer | number> {
  const operation = 'CryptGetKeyParam';
  const handle = useHandle(hKey, 'key', operation);
  const p = dwordArgument(param, 'dwParam', operation);
  checkFlags(flags, 0, operation);
  const key = handle.key;
  if (key.kind === 'session') return key.session.getParam(p);
  switch (p) {
    case KP_ALGID: return key.algId;
    case KP_KEYLEN: return key.bits;
    case KP_BLOCKLEN: return key.bits;
    case KP_PERMISSIONS: return NON_EXPORTABLE_PERMISSIONS;
  }
  if (key.kind !== 'card') throw badType(key, p, operation, false);
  const prov = handle.prov;
  const noCache = prov.context.machine;
  switch (p) {
    case KP_CERTIFICATE: {
      const der = await onCard(prov, key.card, operation, false, () => key.card.readCertificate(key.container.index, key.keySpec, noCache));
      if (!der) {
        throw new CryptError('SCARD_E_NO_SUCH_CERTIFICATE', 'this key has no certificate on the card; store one with CryptSetKeyParam(KP_CERTIFICATE)', where(key, operation));
      }
      return der;
    }
    case KP_PIN_ID: return ROLE_USER;
    case KP_PIN_INFO: return encodePinInfo(await onCard(prov, key.card, operation, false, () => key.card.pinInfo(ROLE_USER, noCache)));
    default: throw badType(key, p, operation, false);
  }
}

/** A DWORD parameter value: a number, or its 4 little-endian bytes. */
function dwordValue(value: unknown, param: number, operation: string): number {
  if (value instanceof Uint8Array) {
    if (value.length !== 4) throw new CryptError('ERROR_INVALID_PARAMETER', `${paramName(param)} is a DWORD: pass a number or 4 little-endian bytes, not ${value.length} bytes`, { operation });
    return Buffer.from(value.buffer, value.byteOffset, 4).readUInt32LE(0);
  }
  return dwordArgument(value, paramName(param), operation);
}

/**
 * CryptSetKeyParam(hKey, dwParam, pbData, dwFlags). Card keys: KP_CERTIFICATE stores the DER
 * certificate on the card in the key's slot after checking it certifies this key (needs the PIN);
 * KP_PERMISSIONS may not add CRYPT_EXPORT. Public keys: KP_PERMISSIONS. Session keys: their own.
 */
export async function CryptSetKeyParam(hKey: HCRYPTKEY, param: number, value: Uint8Array | number, flags = 0): Promise<void> {
  const operation = 'CryptSetKeyParam';
  const handle = useHandle(hKey, 'key', operation);
  const p = dwordArgument(param, 'dwParam', operation);
  checkFlags(flags, 0, operation);
  const key = handle.key;
  if (key.kind === 'session') {
    key.session.setParam(p, value);
    return;
  }
  if (p === KP_PERMISSIONS) {
    if (dwordValue(value, p, operation) & CRYPT_EXPORT) {
      throw new CryptError('NTE_BAD_DATA', `this key is not exportable${key.kind === 'card' ? ' (its private key never leaves the card)' : ''}, so CRYPT_EXPORT cannot be granted; leave that bit out of KP_PERMISSIONS`, where(key, operation));
    }
    return; // accepted, and changes nothing (K4)
  }
  if (key.kind !== 'card' || p !== KP_CERTIFICATE) throw badType(key, p, operation, true);
  const der = bytesArgument(value, 'pbData (the DER certificate)', operation);
  assertCertifies(der, key.publicKey, operation);
  const copy = Buffer.from(der);
  key.card.assertWritable(operation, 'no certificate can be stored on it', key.container.name); // before the PIN is asked
  await onCard(handle.prov, key.card, operation, true, () => key.card.writeCertificate(key.container.index, key.keySpec, copy));
}
