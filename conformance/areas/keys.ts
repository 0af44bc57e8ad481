/**
 * Which card key a case works with — the one pattern every CNG, CryptoAPI and interop case follows.
 *
 * A non-destructive case uses a key the card already holds (capabilities.existingContainers) and is not
 * applicable, with the reason "no existing key of kind X", when the card has none: it never writes.
 * Keys of the suite's own are made only by destructive cases (`requires.destructive`), in containers
 * named by ctx.ownContainer, which the runner deletes after the case whatever its outcome. Those
 * cases run the same checks (sign, decrypt, export) on the key they made, so a destructive run on an
 * empty token still exercises every operation. Why not one key per run shared by every case: the
 * runner deletes a case's own containers when the case ends, and a key outliving its case would be an
 * object on the user's card that no cleanup owns.
 */
import { AT_KEYEXCHANGE, AT_SIGNATURE } from '../../minidriver/constants.js';
import { NCRYPT_LENGTH_PROPERTY } from '../../ksp/constants.js';
import { NCryptCreatePersistedKey, NCryptFinalizeKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptSetProperty } from '../../ksp/properties.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import type { CaseContext, EcCurve, ExistingContainer, TargetCapabilities } from '../case.js';

export type KeyAlgorithm = ExistingContainer['keys'][number]['algorithm'];

/** What a case needs: an algorithm, optionally a curve, optionally a legacy slot (RSA). */
export interface KeyKind {
  algorithm: KeyAlgorithm;
  curve?: EcCurve;
  /** RSA only: AT_KEYEXCHANGE (signs and decrypts) or AT_SIGNATURE (signs only); any when absent. */
  keySpec?: number;
}

/** A key the card holds, as the cases address it. */
export interface CardKeyRef {
  container: string;
  algorithm: KeyAlgorithm;
  bits: number;
  /** What NCryptOpenKey takes: AT_KEYEXCHANGE / AT_SIGNATURE for RSA, 0 for ECC keys. */
  legacyKeySpec: number;
  /** The minidriver key spec the probe reported. */
  keySpec: number;
  hasCertificate: boolean;
}

const CURVE_BITS: Record<EcCurve, number> = { 'P-256': 256, 'P-384': 384, 'P-521': 521 };

export function curveOfBits(bits: number): EcCurve | undefined {
  return (Object.keys(CURVE_BITS) as EcCurve[]).find((c) => CURVE_BITS[c] === bits);
}

export function curveBits(curve: EcCurve): number {
  return CURVE_BITS[curve];
}

const NODE_CURVE_NAMES: Record<EcCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/** The curve's name as node:crypto's generateKeyPairSync('ec') takes it. */
export function nodeCurveName(curve: EcCurve): string {
  return NODE_CURVE_NAMES[curve];
}

/** "RSA", "RSA AT_SIGNATURE", "ECDSA P-256": the kind as reasons and notes name it. */
export function kindName(kind: KeyKind): string {
  const slot = kind.keySpec === AT_KEYEXCHANGE ? ' AT_KEYEXCHANGE' : kind.keySpec === AT_SIGNATURE ? ' AT_SIGNATURE' : '';
  return `${kind.algorithm}${kind.curve ? ` ${kind.curve}` : ''}${slot}`;
}

/** Every key of that kind on the card, in the card's order (the probe's). */
export function existingKeys(capabilities: TargetCapabilities, kind: KeyKind): CardKeyRef[] {
  const out: CardKeyRef[] = [];
  for (const container of capabilities.existingContainers) {
    for (const key of container.keys) {
      if (key.algorithm !== kind.algorithm) continue;
      if (kind.curve && curveOfBits(key.bits) !== kind.curve) continue;
      const rsa = key.algorithm === 'RSA';
      if (kind.keySpec !== undefined && rsa && key.keySpec !== kind.keySpec) continue;
      out.push({
        container: container.name, algorithm: key.algorithm, bits: key.bits, keySpec: key.keySpec,
        legacyKeySpec: rsa ? key.keySpec : 0, hasCertificate: container.hasCertificate,
      });
    }
  }
  return out;
}

export function existingKey(capabilities: TargetCapabilities, kind: KeyKind): CardKeyRef | undefined {
  return existingKeys(capabilities, kind)[0];
}

/** The key a non-destructive case uses; the case's `applicable` (needsExistingKey) made sure there is one. */
export function requireExistingKey(ctx: CaseContext, kind: KeyKind): CardKeyRef {
  const key = existingKey(ctx.capabilities, kind);
  if (!key) throw new Error(`no existing key of kind ${kindName(kind)} (the case should have been not applicable)`);
  ctx.note(`uses the existing key ${kindName(kind)} ${key.bits}-bit in container "${key.container}"`);
  return key;
}

/** `requires.applicable` of a non-destructive case that uses an existing key of that kind. */
export function needsExistingKey(kind: KeyKind, more?: (capabilities: TargetCapabilities) => string | undefined) {
  return (capabilities: TargetCapabilities): string | undefined =>
    (existingKey(capabilities, kind) ? undefined : `no existing key of kind ${kindName(kind)}`) ?? more?.(capabilities);
}

/** `requires.applicable` of a destructive case that writes to the card. */
export function needsWritableCard(more?: (capabilities: TargetCapabilities) => string | undefined) {
  return (capabilities: TargetCapabilities): string | undefined =>
    (capabilities.readOnly ? 'the card is read-only (CP_CARD_READ_ONLY): nothing can be written to it' : undefined) ?? more?.(capabilities);
}

/** A reason when the token cannot do a mechanism, else undefined. */
export function needsMechanism(...names: string[]) {
  return (capabilities: TargetCapabilities): string | undefined => {
    const missing = names.filter((n) => !capabilities.mechanisms.has(n));
    return missing.length ? `the token lists no ${missing.join(', ')} mechanism` : undefined;
  };
}

/** Combines reasons: the first one that applies wins. */
export function allOf(...checks: ((capabilities: TargetCapabilities) => string | undefined)[]) {
  return (capabilities: TargetCapabilities): string | undefined => {
    for (const check of checks) {
      const reason = check(capabilities);
      if (reason) return reason;
    }
    return undefined;
  };
}

/** The smallest RSA size the token has (cases that do not depend on size use it: generation is slow). */
export function smallestRsaSize(capabilities: TargetCapabilities): number | undefined {
  return [...capabilities.rsaKeySizes].sort((a, b) => a - b)[0];
}

export function needsRsaGeneration(capabilities: TargetCapabilities): string | undefined {
  return smallestRsaSize(capabilities) === undefined ? 'the token generates no RSA key of 1024-4096 bits' : undefined;
}

/** The reader-qualified form of a container name: `\\.\<reader>\<container>`. */
export function qualified(ctx: CaseContext, container: string): string {
  return `\\\\.\\${ctx.target.reader}\\${container}`;
}

export async function openExisting(prov: NCryptProvHandle, key: CardKeyRef, flags = 0): Promise<NCryptKeyHandle> {
  return NCryptOpenKey(prov, key.container, key.legacyKeySpec, flags);
}

/**
 * A key of the case's own, made as an application makes one (CreatePersistedKey + Length + Finalize)
 * in a container named by ctx.ownContainer, on the target's reader. Destructive cases only.
 */
export async function createOwnKey(ctx: CaseContext, prov: NCryptProvHandle, stem: string, algId: string, options: { bits?: number; legacyKeySpec?: number } = {}): Promise<{ key: NCryptKeyHandle; name: string }> {
  const name = ctx.ownContainer(stem);
  const size = options.bits ? ` ${options.bits}-bit` : '';
  ctx.progress(`generating ${algId}${size} key on the card`);
  const key = await NCryptCreatePersistedKey(prov, algId, qualified(ctx, name), options.legacyKeySpec ?? 0, 0);
  if (options.bits !== undefined) await NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, options.bits);
  await NCryptFinalizeKey(key, 0);
  ctx.note(`generated ${algId}${size} in its own container "${name}"`);
  return { key, name };
}
