/**
 * What a key handle stands for, in its three states:
 *  - pending: made by NCryptCreatePersistedKey, properties being set, nothing on the card yet;
 *  - persisted: a key in a card container (after NCryptFinalizeKey, or opened by name);
 *  - public: a public key imported from a blob, held in host memory (verify, encrypt, agreement peer).
 *
 * And the one table mapping CNG algorithm ids to what the card knows (minidriver key specs, container
 * slots, curves).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { AT_KEYEXCHANGE, AT_SIGNATURE, PUBLICKEYBLOB } from '../minidriver/constants.js';
import { CURVES, type CurveInfo, curveByName, decodeEccBlob, decodeRsaPublicKeyBlob } from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import type { ContainerInfo } from '../minidriver/structures.js';
import type { CardContainer, SmartCard } from '../smartcard/card.js';
import {
  NCRYPT_ALLOW_ALL_USAGES, NCRYPT_ALLOW_DECRYPT_FLAG, NCRYPT_ALLOW_KEY_AGREEMENT_FLAG, NCRYPT_ALLOW_SIGNING_FLAG, NCRYPT_ECDH_ALGORITHM_GROUP,
  NCRYPT_ECDSA_ALGORITHM_GROUP, NCRYPT_RSA_ALGORITHM_GROUP,
} from './constants.js';

export type AlgorithmGroup = typeof NCRYPT_RSA_ALGORITHM_GROUP | typeof NCRYPT_ECDSA_ALGORITHM_GROUP | typeof NCRYPT_ECDH_ALGORITHM_GROUP;

export interface CngAlgorithm {
  /** BCRYPT_RSA_ALGORITHM, BCRYPT_ECDSA_P256_ALGORITHM... */
  algId: string;
  group: AlgorithmGroup;
  curve?: CurveInfo;
}

/** Every algorithm a smart card key can have here. RSA first; ECC per curve and use. */
export const CNG_ALGORITHMS: readonly CngAlgorithm[] = [
  { algId: 'RSA', group: NCRYPT_RSA_ALGORITHM_GROUP },
  ...CURVES.flatMap((curve): CngAlgorithm[] => [
    { algId: curve.cngEcdsaAlgorithm, group: NCRYPT_ECDSA_ALGORITHM_GROUP, curve },
    { algId: curve.cngEcdhAlgorithm, group: NCRYPT_ECDH_ALGORITHM_GROUP, curve },
  ]),
];

export function algorithmById(algId: string): CngAlgorithm | undefined {
  return CNG_ALGORITHMS.find((a) => a.algId === algId);
}

/** RSA key sizes a card may hold (the range; the card's CP_CARD_KEYSIZES narrows it). */
export const RSA_MIN_BITS = 1024;
export const RSA_MAX_BITS = 4096;
export const RSA_DEFAULT_BITS = 2048;

export interface PendingKey {
  kind: 'pending';
  algorithm: CngAlgorithm;
  /** Container name to create (null: a new GUID-named container). */
  name: string | null;
  /** AT_KEYEXCHANGE / AT_SIGNATURE for RSA (0 → AT_KEYEXCHANGE); 0 for ECC. */
  legacyKeySpec: number;
  length?: number;
  keyUsage?: number;
  exportPolicy: number;
  overwrite: boolean;
  silent: boolean;
  /**
   * NCryptImportKey with a name: the private key in the minidriver's CardCreateContainer key-import
   * format (a CAPI PRIVATEKEYBLOB for RSA, a BCRYPT_ECCPRIVATE_BLOB for ECC), written at finalize.
   */
  importKeyData?: Buffer;
}

export interface PersistedKey {
  kind: 'persisted';
  card: SmartCard;
  container: CardContainer;
  /** The minidriver key spec of the card calls: AT_KEYEXCHANGE / AT_SIGNATURE, or AT_ECDSA_* / AT_ECDHE_*. */
  keySpec: number;
  /** dwLegacyKeySpec as NCryptEnumKeys reports it: AT_KEYEXCHANGE, AT_SIGNATURE, or 0 for ECC. */
  legacyKeySpec: number;
  algorithm: CngAlgorithm;
  bits: number;
  publicKey: KeyObject;
  /** NCRYPT_SILENT_FLAG given when the key was opened or created. */
  silent: boolean;
}

export interface PublicOnlyKey {
  kind: 'public';
  algorithm: CngAlgorithm;
  bits: number;
  publicKey: KeyObject;
}

export type KeyState = PendingKey | PersistedKey | PublicOnlyKey;

/** A public key as the container slot holds it (CAPI PUBLICKEYBLOB for RSA, BCRYPT_ECCKEY_BLOB for ECC). */
export function publicKeyFromSlotBlob(blob: Buffer): { algorithm: CngAlgorithm; bits: number; publicKey: KeyObject; ecc: boolean } {
  if (blob[0] === PUBLICKEYBLOB) {
    const rsa = decodeRsaPublicKeyBlob(blob);
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: rsa.modulus.toString('base64url'), e: rsa.publicExponent.toString('base64url') }, format: 'jwk' });
    return { algorithm: algorithmById('RSA')!, bits: rsa.bitLength, publicKey, ecc: false };
  }
  const ecc = decodeEccBlob(blob);
  const curve = curveByName(ecc.curve)!;
  const algorithm = algorithmById(ecc.usage === 'ECDSA' ? curve.cngEcdsaAlgorithm : curve.cngEcdhAlgorithm)!;
  const publicKey = createPublicKey({ key: { kty: 'EC', crv: curve.name, x: ecc.x.toString('base64url'), y: ecc.y.toString('base64url') }, format: 'jwk' });
  return { algorithm, bits: curve.byteLength === 66 ? 521 : curve.byteLength * 8, publicKey, ecc: true };
}

/**
 * The key of a container that a legacy key spec names: AT_KEYEXCHANGE or AT_SIGNATURE that slot, 0
 * the key-exchange key if there is one, else the signature key. NTE_BAD_KEYSET when absent.
 */
export function keyFromContainer(card: SmartCard, container: CardContainer, info: ContainerInfo, legacyKeySpec: number, silent: boolean, operation: string): PersistedKey {
  const wanted = legacyKeySpec === 0 ? (info.pbKeyExPublicKey ? AT_KEYEXCHANGE : AT_SIGNATURE) : legacyKeySpec;
  const blob = wanted === AT_KEYEXCHANGE ? info.pbKeyExPublicKey : info.pbSigPublicKey;
  if (!blob) {
    const which = legacyKeySpec === 0 ? 'no key' : wanted === AT_KEYEXCHANGE ? 'no key-exchange key' : 'no signature key';
    throw new CryptError('NTE_BAD_KEYSET', `the container "${container.name}" holds ${which}; create one with NCryptCreatePersistedKey`, { operation, container: container.name, card: card.identity.label });
  }
  const { algorithm, bits, publicKey, ecc } = publicKeyFromSlotBlob(blob);
  const keySpec = ecc
    ? (algorithm.group === NCRYPT_ECDSA_ALGORITHM_GROUP ? algorithm.curve!.ecdsaKeySpec : algorithm.curve!.ecdhKeySpec)
    : wanted;
  return { kind: 'persisted', card, container, keySpec, legacyKeySpec: ecc ? 0 : wanted, algorithm, bits, publicKey, silent };
}

/** NCRYPT_KEY_USAGE_PROPERTY of a card key: what its slot and algorithm allow. */
export function keyUsageOf(key: { algorithm: CngAlgorithm; keySpec?: number }): number {
  if (key.algorithm.group === NCRYPT_ECDH_ALGORITHM_GROUP) return NCRYPT_ALLOW_KEY_AGREEMENT_FLAG;
  if (key.algorithm.group === NCRYPT_ECDSA_ALGORITHM_GROUP) return NCRYPT_ALLOW_SIGNING_FLAG;
  return key.keySpec === AT_SIGNATURE ? NCRYPT_ALLOW_SIGNING_FLAG : NCRYPT_ALLOW_DECRYPT_FLAG | NCRYPT_ALLOW_SIGNING_FLAG;
}

/** dwLegacyKeySpec: 0 (let the provider choose), AT_KEYEXCHANGE or AT_SIGNATURE; else NTE_INVALID_PARAMETER. */
export function checkLegacyKeySpec(legacyKeySpec: number, operation: string): void {
  if (legacyKeySpec === 0 || legacyKeySpec === AT_KEYEXCHANGE || legacyKeySpec === AT_SIGNATURE) return;
  throw new CryptError('NTE_INVALID_PARAMETER', `dwLegacyKeySpec ${String(legacyKeySpec)} is not 0, AT_KEYEXCHANGE (1) or AT_SIGNATURE (2)`, { operation });
}

/**
 * The container slot an RSA key goes to: the one dwLegacyKeySpec names, else the signature slot when
 * NCRYPT_KEY_USAGE_PROPERTY allows signing only, else the key-exchange slot (which also signs). ECC: 0.
 */
export function cardLegacyKeySpec(key: PendingKey): number {
  if (key.algorithm.curve) return 0;
  if (key.legacyKeySpec !== 0) return key.legacyKeySpec;
  const usage = key.keyUsage;
  return usage !== undefined && usage !== NCRYPT_ALLOW_ALL_USAGES && (usage & NCRYPT_ALLOW_DECRYPT_FLAG) === 0 ? AT_SIGNATURE : AT_KEYEXCHANGE;
}

/** The minidriver key spec a pending key is created under. */
export function cardKeySpecFor(key: PendingKey): number {
  const { algorithm } = key;
  if (algorithm.curve) return algorithm.group === NCRYPT_ECDSA_ALGORITHM_GROUP ? algorithm.curve.ecdsaKeySpec : algorithm.curve.ecdhKeySpec;
  return cardLegacyKeySpec(key);
}

/** The keys a container holds, key-exchange slot first (NCryptEnumKeys lists one entry each). */
export function keysOfContainer(info: ContainerInfo): { algorithm: CngAlgorithm; legacyKeySpec: number }[] {
  const out: { algorithm: CngAlgorithm; legacyKeySpec: number }[] = [];
  for (const [slot, blob] of [[AT_KEYEXCHANGE, info.pbKeyExPublicKey], [AT_SIGNATURE, info.pbSigPublicKey]] as const) {
    if (!blob) continue;
    const { algorithm, ecc } = publicKeyFromSlotBlob(blob);
    out.push({ algorithm, legacyKeySpec: ecc ? 0 : slot });
  }
  return out;
}

/** The key's bit length for a pending key (ECC from the curve, RSA from the Length property). */
export function pendingBits(key: PendingKey): number {
  if (key.algorithm.curve) return key.algorithm.curve.byteLength === 66 ? 521 : key.algorithm.curve.byteLength * 8;
  return key.length ?? RSA_DEFAULT_BITS;
}
