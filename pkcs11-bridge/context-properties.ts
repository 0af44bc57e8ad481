import {
  AdministratorPin, AlphaNumericPinType, CARD_DATA_VALUE_UNKNOWN, CARD_KEY_IMPORT_PLAIN_TEXT,
  CARD_PIN_STRENGTH_PLAINTEXT, CONTAINER_MAP_VALID_CONTAINER,
  CP_CACHE_MODE_GLOBAL_CACHE, CP_CACHE_MODE_NO_CACHE, CREATE_PIN_SET, ExternalPinType, PIN_CACHE_POLICY_CURRENT_VERSION,
  PIN_INFO_CURRENT_VERSION, PinCacheNormal, PrimaryCardPin, ROLE_ADMIN, ROLE_USER,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { CURVES } from '../minidriver/codecs/curves.js';
import type {
  CardCapabilities, CardFreeSpaceInfo, CardKeySizes, CardPropertyName, CardPropertyValues, ContainerPropertyName,
  ContainerPropertyValues, PinInfo,
} from '../minidriver/structures.js';
import { type CardContextCore, checkFlags, containerName, keySpecInfo } from './context-core.js';
import { cardGetContainerInfo } from './context-containers.js';
import { curveBits } from './ec-points.js';
import { ALGORITHM_MECHANISMS, PADDING_SCHEME_MECHANISMS } from './mechanisms.js';
import { pk } from './pkcs11.js';

/** RSA sizes Windows cards use; the token's own range narrows them. */
const RSA_MIN = 1024;
const RSA_MAX = 4096;
const RSA_STEP = 1024;
const RSA_DEFAULT = 2048;

/** A mechanism's key sizes as the token reports them (CK_MECHANISM_INFO; bits for RSA and ECC). */
interface KeyRange { min: number; max: number }

/** What the token offers, read once per token: its mechanism list and the ranges asked for so far. */
interface TokenMechanisms {
  /** null when the module cannot list its mechanisms: then every one is assumed offered. */
  list: ReadonlySet<number> | null;
  ranges: Map<number, KeyRange | null>;
}

const tokenMechanisms = new WeakMap<object, TokenMechanisms>();

function mechanismsOf(ctx: CardContextCore): TokenMechanisms {
  let known = tokenMechanisms.get(ctx.token);
  if (!known) {
    let list: ReadonlySet<number> | null;
    try {
      list = new Set(ctx.token.pkcs11.C_GetMechanismList(ctx.token.slot));
    } catch {
      list = null;
    }
    known = { list, ranges: new Map() };
    tokenMechanisms.set(ctx.token, known);
  }
  return known;
}

function offers(ctx: CardContextCore, mechanism: number): boolean {
  return mechanismsOf(ctx).list?.has(mechanism) ?? true;
}

/** The mechanism's key-size range, or null when the token does not offer it (or cannot say). */
function keyRange(ctx: CardContextCore, mechanism: number): KeyRange | null {
  const known = mechanismsOf(ctx);
  if (!known.ranges.has(mechanism)) {
    let range: KeyRange | null = null;
    try {
      const info = ctx.token.pkcs11.C_GetMechanismInfo(ctx.token.slot, mechanism);
      range = { min: info.minKeySize, max: info.maxKeySize };
    } catch {
      range = null; // not offered (a read-only card cannot generate RSA keys, say)
    }
    known.ranges.set(mechanism, range);
  }
  return known.ranges.get(mechanism)!;
}

function tokenRsaRange(ctx: CardContextCore): KeyRange | null {
  return keyRange(ctx, pk.CKM_RSA_PKCS_KEY_PAIR_GEN);
}

/** Whether the token's ECC mechanism covers a curve of this size (a range of 0 says nothing). */
function offersCurve(ctx: CardContextCore, mechanism: number, bits: number): boolean {
  if (!offers(ctx, mechanism)) return false;
  const range = keyRange(ctx, mechanism);
  return range === null || range.max === 0 || (bits >= range.min && bits <= range.max);
}

/** CP_ENUM_ALGORITHMS, asymmetric: what this token can do, by its mechanisms (mechanisms.ts). */
function asymmetricAlgorithms(ctx: CardContextCore): string[] {
  const algorithms = ALGORITHM_MECHANISMS.RSA.some((m) => offers(ctx, m)) ? ['RSA'] : [];
  for (const curve of CURVES) {
    const bits = curveBits(curve);
    if (offersCurve(ctx, ALGORITHM_MECHANISMS.ECDSA, bits)) algorithms.push(curve.cngEcdsaAlgorithm);
    if (offersCurve(ctx, ALGORITHM_MECHANISMS.ECDH, bits)) algorithms.push(curve.cngEcdhAlgorithm);
  }
  return algorithms;
}

/** CP_PADDING_SCHEMES: the CARD_PADDING_* flags of the schemes this token serves (mechanisms.ts). */
function paddingSchemes(ctx: CardContextCore): number {
  return PADDING_SCHEME_MECHANISMS.reduce((flags, { scheme, mechanisms }) => (mechanisms.some((m) => offers(ctx, m)) ? flags | scheme : flags), 0);
}

/** CARD_KEY_SIZES for a key spec: RSA 1024–4096 in steps of 1024 within the token's range; ECC fixed. */
export function keySizesFor(ctx: CardContextCore, keySpec: number): CardKeySizes {
  const spec = keySpecInfo(keySpec, 'CardQueryKeySizes');
  if (spec.kind === 'EC') {
    return { dwVersion: 1, dwMinimumBitlen: spec.curveBits!, dwDefaultBitlen: spec.curveBits!, dwMaximumBitlen: spec.curveBits!, dwIncrementalBitlen: 0 };
  }
  const range = tokenRsaRange(ctx) ?? { min: RSA_MIN, max: RSA_MAX };
  const min = Math.max(RSA_MIN, Math.ceil(range.min / RSA_STEP) * RSA_STEP);
  const max = Math.min(RSA_MAX, Math.floor(range.max / RSA_STEP) * RSA_STEP);
  return { dwVersion: 1, dwMinimumBitlen: min, dwDefaultBitlen: Math.min(Math.max(RSA_DEFAULT, min), max), dwMaximumBitlen: max, dwIncrementalBitlen: RSA_STEP };
}

export function capabilities(ctx: CardContextCore): CardCapabilities {
  // The token stores DER certificates natively, so the driver "compresses" (there is nothing to do).
  return { dwVersion: 1, fCertificateCompression: true, fKeyGen: !ctx.state.readOnly && tokenRsaRange(ctx) !== null };
}

export function freeSpace(ctx: CardContextCore): CardFreeSpaceInfo {
  // The map on the token, not this process's last view of it: another context or process may have
  // added containers since (the CSP checks free space right before it creates one).
  ctx.token.sync('CardQueryFreeSpace', (s) => ctx.state.reconcile(s));
  const used = ctx.state.records.filter((r) => r && r.bFlags & CONTAINER_MAP_VALID_CONTAINER).length;
  const info = ctx.token.readInfo();
  const known = info.freePublicMemory >= 0 && info.freePublicMemory < 0xffffffff;
  return {
    dwVersion: 1,
    dwBytesAvailable: ctx.state.readOnly ? 0 : known ? info.freePublicMemory : CARD_DATA_VALUE_UNKNOWN,
    dwKeyContainersAvailable: ctx.state.readOnly ? 0 : Math.max(0, ctx.state.maxContainers - used),
    dwMaxKeyContainers: ctx.state.maxContainers,
  };
}

function pinInfo(ctx: CardContextCore, pinId: number): PinInfo {
  const protectedPath = (ctx.token.flags & pk.CKF_PROTECTED_AUTHENTICATION_PATH) !== 0;
  const common = { dwVersion: PIN_INFO_CURRENT_VERSION, PinType: protectedPath ? ExternalPinType : AlphaNumericPinType, dwFlags: 0,
    PinCachePolicy: { dwVersion: PIN_CACHE_POLICY_CURRENT_VERSION, PinCachePolicyType: PinCacheNormal, dwPinCachePolicyInfo: 0 } };
  if (pinId === ROLE_USER) return { ...common, PinPurpose: PrimaryCardPin, dwChangePermission: CREATE_PIN_SET(ROLE_USER), dwUnblockPermission: CREATE_PIN_SET(ROLE_ADMIN) };
  if (pinId === ROLE_ADMIN) return { ...common, PinPurpose: AdministratorPin, dwChangePermission: CREATE_PIN_SET(ROLE_ADMIN), dwUnblockPermission: 0 };
  throw new CryptError('SCARD_E_INVALID_PARAMETER', `PIN_ID ${pinId} does not exist on this card`, { operation: 'CardGetProperty' });
}

function checkPinFlag(pinId: number): number {
  if (pinId !== ROLE_USER && pinId !== ROLE_ADMIN) throw new CryptError('SCARD_E_INVALID_PARAMETER', `PIN_ID ${pinId} does not exist on this card`, { operation: 'CardGetProperty' });
  return CARD_PIN_STRENGTH_PLAINTEXT;
}

/** CARD_CIPHER_OPERATION / CARD_ASYMMETRIC_OPERATION for CP_ENUM_ALGORITHMS. */
const CARD_CIPHER_OPERATION = 1;
const CARD_ASYMMETRIC_OPERATION = 2;

type Getter = (ctx: CardContextCore, flags: number) => unknown;

/** The card properties: how each is read, and which dwFlags it takes (undefined: must be 0). */
const CARD_PROPERTIES: Readonly<Record<CardPropertyName, { get?: Getter; flagsAllowed?: (f: number) => boolean; settable?: boolean }>> = {
  'Free Space': { get: (ctx) => freeSpace(ctx) },
  'Capabilities': { get: (ctx) => capabilities(ctx) },
  'Key Sizes': { get: (ctx, f) => keySizesFor(ctx, f), flagsAllowed: () => true },
  'Read Only Mode': { get: (ctx) => ctx.state.readOnly },
  'Cache Mode': { get: (ctx) => (ctx.state.readOnly ? CP_CACHE_MODE_NO_CACHE : CP_CACHE_MODE_GLOBAL_CACHE) },
  'Supports Windows x.509 Enrollment': { get: (ctx) => !ctx.state.readOnly },
  'Card Identifier': { get: (ctx) => ctx.state.cardId() },
  'Card Serial Number': { get: (ctx) => Buffer.from(ctx.token.identity.serial, 'latin1') },
  'PIN Information': { get: (ctx, f) => pinInfo(ctx, f), flagsAllowed: () => true },
  'PIN List': { get: () => CREATE_PIN_SET(ROLE_USER) | CREATE_PIN_SET(ROLE_ADMIN) },
  'Authenticated State': { get: (ctx) => (ctx.token.login === 'user' ? CREATE_PIN_SET(ROLE_USER) : ctx.token.login === 'so' ? CREATE_PIN_SET(ROLE_ADMIN) : 0) },
  'PIN Strength Verify': { get: (_ctx, f) => checkPinFlag(f), flagsAllowed: () => true },
  'PIN Strength Change': { get: (_ctx, f) => checkPinFlag(f), flagsAllowed: () => true },
  'PIN Strength Unblock': { get: (_ctx, f) => checkPinFlag(f), flagsAllowed: () => true },
  'Parent Window': { settable: true },
  'PIN Context String': { settable: true },
  'Key Import Support': { get: (ctx) => (ctx.state.readOnly ? 0 : CARD_KEY_IMPORT_PLAIN_TEXT) },
  'Algorithms': {
    get: (ctx, f) => (f === CARD_ASYMMETRIC_OPERATION ? asymmetricAlgorithms(ctx) : []),
    flagsAllowed: (f) => f === CARD_CIPHER_OPERATION || f === CARD_ASYMMETRIC_OPERATION,
  },
  'Padding Schemes': { get: (ctx) => paddingSchemes(ctx) },
  'Chaining Modes': { get: () => [] },
};

export async function cardGetProperty<K extends CardPropertyName>(ctx: CardContextCore, name: K, flags?: number): Promise<CardPropertyValues[K]> {
  const operation = 'CardGetProperty';
  ctx.assertOpen(operation);
  const entry = CARD_PROPERTIES[name];
  if (!entry) throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown card property "${String(name)}"`, { operation });
  const f = flags ?? 0;
  if (entry.flagsAllowed ? !entry.flagsAllowed(f) : f !== 0) throw new CryptError('SCARD_E_INVALID_PARAMETER', `property "${name}" does not take dwFlags 0x${f.toString(16)}`, { operation });
  if (!entry.get) throw new CryptError('SCARD_E_INVALID_PARAMETER', `property "${name}" can only be set`, { operation });
  return entry.get(ctx, f) as CardPropertyValues[K];
}

/** Values of the settable properties (CP_PARENT_WINDOW, CP_PIN_CONTEXT_STRING), per context. */
export type SettableProperties = Map<string, unknown>;

export async function cardSetProperty<K extends CardPropertyName>(ctx: CardContextCore, store: SettableProperties, name: K, value: CardPropertyValues[K], flags?: number): Promise<void> {
  const operation = 'CardSetProperty';
  ctx.assertOpen(operation);
  const entry = CARD_PROPERTIES[name];
  if (!entry) throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown card property "${String(name)}"`, { operation });
  checkFlags(flags, 0, operation);
  if (!entry.settable) throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', `property "${name}" cannot be set on this card`, { operation, card: ctx.state.name });
  if (name === 'Parent Window' && !Number.isInteger(value)) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'CP_PARENT_WINDOW takes a window handle (integer)', { operation });
  if (name === 'PIN Context String' && typeof value !== 'string') throw new CryptError('SCARD_E_INVALID_PARAMETER', 'CP_PIN_CONTEXT_STRING takes a string', { operation });
  store.set(name, value);
}

export async function cardGetContainerProperty<K extends ContainerPropertyName>(ctx: CardContextCore, index: number, name: K, flags?: number): Promise<ContainerPropertyValues[K]> {
  const operation = 'CardGetContainerProperty';
  ctx.assertOpen(operation);
  checkFlags(flags, 0, operation);
  switch (name) {
    case 'Container Info':
      return (await cardGetContainerInfo(ctx, index)) as ContainerPropertyValues[K];
    case 'PIN Identifier':
      ctx.token.sync(operation, (s) => containerName(ctx, s, index, operation));
      return ROLE_USER as ContainerPropertyValues[K]; // every key of a PKCS#11 token is behind the user PIN
    case 'Associated ECDH Key':
      throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'no container has an associated ECDH key on this card', { operation, card: ctx.state.name });
    default:
      throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown container property "${String(name)}"`, { operation });
  }
}
