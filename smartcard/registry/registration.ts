/**
 * A provider registration: one card type and what serves it — the p11-ksp counterpart of a
 * `HKLM\SOFTWARE\Microsoft\Cryptography\Calais\SmartCards\<card name>` key (ATR, ATRMask, the
 * 80000001 minidriver value), extended with PKCS#11 token identity because PKCS#11 tokens rarely
 * expose an ATR.
 *
 * Validation errors carry SCARD_E_INVALID_PARAMETER: the registry is the Smart Card service's card
 * database (what SCardIntroduceCardType / SCardSetCardTypeProviderName write), and that API answers a
 * malformed card name, ATR or mask with SCARD_E_INVALID_PARAMETER. NTE_BAD_KEYSET_PARAM is a key-set
 * (container) complaint of the CSP and would point the reader at the wrong layer.
 */
import { CryptError } from '../../minidriver/errors.js';

export type RegistrationKind = 'minidriver' | 'plugin';

/** Which cards a registration claims. Every criterion given must hold (logical AND). */
export interface MatchCriteria {
  /** The ATR to compare, hex (spaces and colons allowed on input; stored as lowercase hex). */
  atr?: string;
  /** Mask ANDed with the card's ATR before comparing; same length as `atr`. Absent = all ones. */
  atrMask?: string;
  /** Glob patterns (`*` any run, `?` one character) on the token identity (CK_TOKEN_INFO fields). */
  manufacturer?: string;
  model?: string;
  label?: string;
  serial?: string;
}

/** What a caller supplies to install; the store adds the install time and sequence. */
export interface RegistrationInput {
  /** Card type name, unique in the registry: 1..64 characters of [A-Za-z0-9 ._-]. */
  name: string;
  kind: RegistrationKind;
  /** PKCS#11 module path (kind 'minidriver'). */
  module?: string;
  /** JavaScript module path implementing the front end's provider interface (kind 'plugin'). */
  plugin?: string;
  match: MatchCriteria;
  /** Higher wins over install order (p11-kit's convention); default 0. */
  priority?: number;
}

export interface Registration extends RegistrationInput {
  /** When it was installed, ISO 8601. */
  installedAt: string;
  /**
   * Registry-wide counter, strictly increasing with every install: two installs in the same
   * millisecond (or with a clock that stepped back) are still ordered.
   */
  installSequence: number;
}

export const NAME_PATTERN = /^[A-Za-z0-9 ._-]{1,64}$/;
const IDENTITY_FIELDS = ['manufacturer', 'model', 'label', 'serial'] as const;
/** ISO 7816-3: an ATR is at most 33 bytes (the minidriver spec's cbAtr bound is 0x22 = 34). */
const MAX_ATR_BYTES = 34;

function invalid(message: string, name?: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', message, { operation: 'registry', card: name });
}

/** Lowercase hex without separators; throws when the text is not whole bytes of hex. */
export function normalizeHex(text: string, what: string, name?: string): string {
  if (typeof text !== 'string') throw invalid(`${what} must be a hex string`, name);
  const hex = text.replace(/[\s:]/g, '').toLowerCase();
  if (!/^[0-9a-f]*$/.test(hex)) throw invalid(`${what} "${text}" is not hex (expected e.g. "3b:8f:80:01")`, name);
  if (hex.length % 2 !== 0) throw invalid(`${what} "${text}" has an odd number of hex digits`, name);
  if (hex.length === 0) throw invalid(`${what} is empty`, name);
  if (hex.length / 2 > MAX_ATR_BYTES) throw invalid(`${what} is ${hex.length / 2} bytes; an ATR has at most ${MAX_ATR_BYTES}`, name);
  return hex;
}

export function validateName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw invalid(`card type name ${JSON.stringify(name)} is not valid: use 1 to 64 letters, digits, spaces, '.', '_' or '-'`);
  }
  return name;
}

/**
 * Checks an install request and returns it normalised (hex lowercase, priority defaulted).
 * Throws CryptError SCARD_E_INVALID_PARAMETER naming the problem.
 */
export function validateRegistrationInput(input: RegistrationInput): RegistrationInput & { priority: number } {
  if (input === null || typeof input !== 'object') throw invalid('a registration must be an object');
  const name = validateName(input.name);
  if (input.kind !== 'minidriver' && input.kind !== 'plugin') {
    throw invalid(`kind must be 'minidriver' or 'plugin', not ${JSON.stringify(input.kind)}`, name);
  }
  const hasModule = input.module !== undefined;
  const hasPlugin = input.plugin !== undefined;
  if (hasModule === hasPlugin) {
    throw invalid(hasModule ? 'give either a PKCS#11 module or a plug-in, not both' : 'give a PKCS#11 module (minidriver) or a JavaScript module (plug-in)', name);
  }
  if (input.kind === 'minidriver' && !hasModule) throw invalid("a 'minidriver' registration needs module (a PKCS#11 module path)", name);
  if (input.kind === 'plugin' && !hasPlugin) throw invalid("a 'plugin' registration needs plugin (a JavaScript module path)", name);
  const path = hasModule ? input.module : input.plugin;
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) throw invalid('the module path must be a non-empty string', name);

  const match = input.match ?? {};
  if (typeof match !== 'object') throw invalid('match must be an object', name);
  const out: MatchCriteria = {};
  if (match.atrMask !== undefined && match.atr === undefined) throw invalid('atrMask given without atr', name);
  if (match.atr !== undefined) {
    out.atr = normalizeHex(match.atr, 'atr', name);
    if (match.atrMask !== undefined) {
      out.atrMask = normalizeHex(match.atrMask, 'atrMask', name);
      if (out.atrMask.length !== out.atr.length) {
        throw invalid(`atr is ${out.atr.length / 2} bytes but atrMask is ${out.atrMask.length / 2}; they must be the same length`, name);
      }
    }
  }
  for (const field of IDENTITY_FIELDS) {
    const pattern = match[field];
    if (pattern === undefined) continue;
    if (typeof pattern !== 'string' || pattern.length === 0) throw invalid(`match.${field} must be a non-empty glob pattern`, name);
    out[field] = pattern;
  }
  // A plug-in has no module to confine it to its own tokens: without criteria it would claim every
  // card in every reader, so it must say which cards it serves.
  if (input.kind === 'plugin' && Object.keys(out).length === 0) {
    throw invalid('a plug-in registration must give at least one match criterion (atr or a token identity pattern)', name);
  }
  const priority = input.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isSafeInteger(priority)) throw invalid(`priority must be an integer, not ${JSON.stringify(priority)}`, name);

  const result: RegistrationInput & { priority: number } = { name, kind: input.kind, match: out, priority };
  if (hasModule) result.module = input.module;
  else result.plugin = input.plugin;
  return result;
}

/** Checks a stored registration (as read back from disk): the input rules plus the install fields. */
export function validateRegistration(reg: Registration): Registration {
  const base = validateRegistrationInput(reg);
  if (typeof reg.installedAt !== 'string' || Number.isNaN(Date.parse(reg.installedAt))) {
    throw invalid(`installedAt ${JSON.stringify(reg.installedAt)} is not an ISO date`, base.name);
  }
  if (!Number.isSafeInteger(reg.installSequence) || reg.installSequence < 1) {
    throw invalid(`installSequence ${JSON.stringify(reg.installSequence)} is not a positive integer`, base.name);
  }
  return { ...base, installedAt: new Date(reg.installedAt).toISOString(), installSequence: reg.installSequence };
}
