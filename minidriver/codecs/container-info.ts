/**
 * CONTAINER_INFO from plain key descriptions.
 *
 * Why: CardGetContainerInfo must put each public key in the right slot with the right tag — RSA as a
 * PUBLICKEYBLOB whose aiKeyAlg names the slot (CALG_RSA_SIGN / CALG_RSA_KEYX), EC as a
 * BCRYPT_ECCKEY_BLOB whose magic names it (ECDSA in the signature slot, ECDH in the key-exchange
 * slot). Base CSP/KSP decides what a key may do from these tags, so the pairing lives in one place.
 */
import { AT_KEYEXCHANGE, AT_SIGNATURE, CALG_RSA_KEYX, CALG_RSA_SIGN, PUBLICKEYBLOB } from '../constants.js';
import { CryptError } from '../errors.js';
import type { ContainerInfo } from '../structures.js';
import { encodeRsaPublicKeyBlob } from './capi-rsa-blob.js';
import { type CurveName, curveByMagic } from './curves.js';
import { encodeEccPublicBlob } from './ecc-blob.js';

/** CONTAINER_INFO_CURRENT_VERSION (cardmod.h); not in constants.ts. */
export const CONTAINER_INFO_CURRENT_VERSION = 1;

/** A public key as a token describes it (big-endian numbers). */
export type ContainerKeyDescription =
  | { kind: 'RSA'; modulus: Uint8Array; publicExponent: Uint8Array }
  | { kind: 'EC'; curve: CurveName; x: Uint8Array; y: Uint8Array };

export interface ContainerKeys {
  /** The AT_SIGNATURE / AT_ECDSA_* key, if the container has one. */
  signature?: ContainerKeyDescription | null;
  /** The AT_KEYEXCHANGE / AT_ECDHE_* key, if the container has one. */
  keyExchange?: ContainerKeyDescription | null;
}

type Slot = 'signature' | 'keyExchange';

function publicKeyBlob(key: ContainerKeyDescription | null | undefined, slot: Slot): Buffer | null {
  if (key === null || key === undefined) return null;
  switch (key.kind) {
    case 'RSA':
      return encodeRsaPublicKeyBlob({
        modulus: key.modulus,
        publicExponent: key.publicExponent,
        aiKeyAlg: slot === 'signature' ? CALG_RSA_SIGN : CALG_RSA_KEYX,
      });
    case 'EC':
      return encodeEccPublicBlob({ curve: key.curve, usage: slot === 'signature' ? 'ECDSA' : 'ECDH', x: key.x, y: key.y });
    default:
      throw new CryptError('SCARD_E_INVALID_PARAMETER', `CONTAINER_INFO: unknown key kind ${String((key as { kind?: unknown }).kind)} in the ${slot} slot`);
  }
}

export function buildContainerInfo(keys: ContainerKeys): ContainerInfo {
  if (typeof keys !== 'object' || keys === null) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'CONTAINER_INFO: expected key descriptions');
  return {
    dwVersion: CONTAINER_INFO_CURRENT_VERSION,
    pbSigPublicKey: publicKeyBlob(keys.signature, 'signature'),
    pbKeyExPublicKey: publicKeyBlob(keys.keyExchange, 'keyExchange'),
  };
}

/**
 * The minidriver key spec of each key a CONTAINER_INFO holds, key-exchange slot first: RSA keys by
 * their slot (AT_KEYEXCHANGE / AT_SIGNATURE), EC keys by their blob's magic (AT_ECDHE_* / AT_ECDSA_*).
 */
export function containerKeySpecs(info: ContainerInfo): number[] {
  const specs: number[] = [];
  for (const [slot, blob] of [[AT_KEYEXCHANGE, info.pbKeyExPublicKey], [AT_SIGNATURE, info.pbSigPublicKey]] as const) {
    if (!blob || blob.length === 0) continue;
    if (blob[0] === PUBLICKEYBLOB) {
      specs.push(slot);
      continue;
    }
    const ecc = curveByMagic(Buffer.from(blob).readUInt32LE(0));
    if (!ecc) throw new CryptError('NTE_BAD_DATA', `CONTAINER_INFO: the ${slot === AT_KEYEXCHANGE ? 'key-exchange' : 'signature'} slot holds neither a PUBLICKEYBLOB nor an ECC public blob`);
    specs.push(ecc.usage === 'ECDSA' ? ecc.curve.ecdsaKeySpec : ecc.curve.ecdhKeySpec);
  }
  return specs;
}
