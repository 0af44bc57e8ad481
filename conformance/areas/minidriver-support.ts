/**
 * What every minidriver case shares: a card context that is always deleted, the user PIN presented
 * through CardAuthenticatePin, the container index of an existing key (read from the card's own
 * mscp/cmapfile, so the case sees the card as the Base CSP does), and the public key a slot holds, as
 * CardGetContainerInfo reports it and as node:crypto reads it back.
 */
import type { KeyObject } from 'node:crypto';
import {
  AT_ECDHE_P256, AT_ECDHE_P384, AT_ECDHE_P521, AT_ECDSA_P256, AT_ECDSA_P384, AT_ECDSA_P521, AT_KEYEXCHANGE,
  szBASE_CSP_DIR, szCONTAINER_MAP_FILE, wszCARD_USER_USER,
} from '../../minidriver/constants.js';
import type { CardModule } from '../../minidriver/card-module.js';
import { decodeCmapFile, findContainer, firstFreeIndex } from '../../minidriver/codecs/index.js';
import type { CaseContext, EcCurve } from '../case.js';
import { readContainerInfoBlob } from './blob-readers.js';
import { check } from './expect.js';
import { type CardKeyRef, curveOfBits } from './keys.js';

/** A context from the runner (which deletes it after the case; deleting twice is harmless). */
export async function withCardModule<T>(ctx: CaseContext, use: (md: CardModule) => Promise<T>): Promise<T> {
  const md = await ctx.cardModule();
  return use(md);
}

/** CardAuthenticatePin("user") with the target's PIN; the PIN buffer is the runner's and wiped by it. */
export async function authenticateUser(ctx: CaseContext, md: CardModule): Promise<void> {
  await ctx.withPin((pin) => md.CardAuthenticatePin(wszCARD_USER_USER, pin));
}

const ECDSA_SPECS: Record<EcCurve, number> = { 'P-256': AT_ECDSA_P256, 'P-384': AT_ECDSA_P384, 'P-521': AT_ECDSA_P521 };
const ECDH_SPECS: Record<EcCurve, number> = { 'P-256': AT_ECDHE_P256, 'P-384': AT_ECDHE_P384, 'P-521': AT_ECDHE_P521 };

export function ecdsaKeySpec(curve: EcCurve): number {
  return ECDSA_SPECS[curve];
}

export function ecdhKeySpec(curve: EcCurve): number {
  return ECDH_SPECS[curve];
}

/** The minidriver key spec of a key: AT_KEYEXCHANGE / AT_SIGNATURE for RSA, AT_ECDSA_* / AT_ECDHE_* for ECC. */
export function minidriverKeySpec(key: CardKeyRef): number {
  if (key.algorithm === 'RSA') return key.keySpec;
  const curve = curveOfBits(key.bits);
  if (!curve) throw new Error(`no minidriver key spec for a ${key.bits}-bit ${key.algorithm} key`);
  return key.algorithm === 'ECDSA' ? ECDSA_SPECS[curve] : ECDH_SPECS[curve];
}

/** Whether a key spec lives in the container's key-exchange slot (else the signature slot). */
export function isKeyExchangeSpec(keySpec: number): boolean {
  return keySpec === AT_KEYEXCHANGE || (keySpec >= AT_ECDHE_P256 && keySpec <= AT_ECDHE_P521);
}

/** The index of a named container in the card's mscp/cmapfile. */
export async function containerIndex(md: CardModule, name: string): Promise<number> {
  const records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE));
  const index = findContainer(records, name);
  check(index >= 0, `mscp/cmapfile lists the container "${name}" the probe found`);
  return index;
}

/** The public key of one slot of a container, from CardGetContainerInfo, as node:crypto reads it. */
export async function slotPublicKey(md: CardModule, index: number, keySpec: number): Promise<KeyObject> {
  const info = await md.CardGetContainerInfo(index, 0);
  const blob = isKeyExchangeSpec(keySpec) ? info.pbKeyExPublicKey : info.pbSigPublicKey;
  check(blob, `CardGetContainerInfo(${index}) has a public key in the ${isKeyExchangeSpec(keySpec) ? 'key-exchange' : 'signature'} slot`);
  return readContainerInfoBlob(blob);
}

/**
 * An index no container uses and the card could hold (below dwMaxKeyContainers), for the "bad index"
 * checks: a deleted record, else the one after the last record.
 */
export async function unusedIndex(md: CardModule): Promise<number> {
  const records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE));
  const free = firstFreeIndex(records);
  const { dwMaxKeyContainers } = await md.CardQueryFreeSpace(0);
  check(free < Math.min(dwMaxKeyContainers, 256), `the container map has an unused index below ${dwMaxKeyContainers}`);
  return free;
}
