/**
 * Which registration serves the card in a reader.
 *
 * Criteria (all given ones must hold):
 * - ATR: the card's ATR A matches when `A AND atrMask == atr` byte by byte and the lengths are equal
 *   (Calais' rule, minidriver reference §9). A reader without an ATR (most PKCS#11 tokens) never
 *   matches an ATR criterion: guessing would hand the card to the wrong driver.
 * - Token identity: glob patterns (`*`, `?`, whole string, case-sensitive) on the CK_TOKEN_INFO
 *   fields. PKCS#11 pads those fields with blanks, so trailing blanks are trimmed before comparing.
 * - No criteria at all: a minidriver registration then serves every token its own module lists
 *   (the p11-kit view: a module config names no tokens). When the caller says which module the
 *   reader came from (`context.module`), a criteria-less registration for another module does not
 *   match; without that information it matches every present card.
 *
 * Precedence: highest priority first (p11-kit's convention), then the most recently installed
 * (Calais: "the most recently installed wins"), installedAt then installSequence.
 */
import type { CardReaderState } from '../../minidriver/card-module.js';
import type { MatchCriteria, Registration } from './registration.js';

export interface MatchContext {
  /** The PKCS#11 module path whose slot list produced this reader, when known. */
  module?: string;
}

const IDENTITY_FIELDS = ['manufacturer', 'model', 'label', 'serial'] as const;

/** Compiles a `*`/`?` glob into an anchored RegExp; every other character is literal. */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '[\\s\\S]*';
    else if (ch === '?') source += '[\\s\\S]';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'u');
}

export function globMatch(pattern: string, value: string): boolean {
  return globToRegExp(pattern).test(value);
}

/** Calais' ATR rule. `mask` absent = compare every bit. Hex strings are normalised lowercase. */
export function atrMatches(cardAtr: Buffer, atrHex: string, maskHex?: string): boolean {
  const atr = Buffer.from(atrHex, 'hex');
  const mask = maskHex === undefined ? Buffer.alloc(atr.length, 0xff) : Buffer.from(maskHex, 'hex');
  if (cardAtr.length !== atr.length || mask.length !== atr.length) return false;
  for (let i = 0; i < atr.length; i++) {
    // The registered ATR is compared masked too: a registration with bits set under a zero mask
    // (Windows .reg files often carry them) must still match.
    if ((cardAtr[i] & mask[i]) !== (atr[i] & mask[i])) return false;
  }
  return true;
}

export function hasCriteria(match: MatchCriteria): boolean {
  return match.atr !== undefined || IDENTITY_FIELDS.some((field) => match[field] !== undefined);
}

/** Does `reg` claim the card in `reader`? An empty reader never matches. */
export function matchesReader(reg: Registration, reader: CardReaderState, context: MatchContext = {}): boolean {
  if (!reader.cardPresent) return false;
  const match = reg.match;
  if (!hasCriteria(match)) {
    if (reg.kind !== 'minidriver') return false; // validation refuses these; stay safe for hand-made objects
    return context.module === undefined || context.module === reg.module;
  }
  if (match.atr !== undefined) {
    if (!reader.atr || !atrMatches(reader.atr, match.atr, match.atrMask)) return false;
  }
  for (const field of IDENTITY_FIELDS) {
    const pattern = match[field];
    if (pattern === undefined) continue;
    if (!reader.card) return false;
    if (!globMatch(pattern, reader.card[field].replace(/ +$/, ''))) return false;
  }
  return true;
}

/** Sort order: negative when `a` wins over `b`. */
export function comparePrecedence(a: Registration, b: Registration): number {
  const byPriority = (b.priority ?? 0) - (a.priority ?? 0);
  if (byPriority !== 0) return byPriority;
  const byTime = Date.parse(b.installedAt) - Date.parse(a.installedAt);
  if (byTime !== 0) return byTime;
  return b.installSequence - a.installSequence;
}

/** Every registration claiming the card, winner first. */
export function rankProviders(registrations: readonly Registration[], reader: CardReaderState, context: MatchContext = {}): Registration[] {
  return registrations.filter((reg) => matchesReader(reg, reader, context)).sort(comparePrecedence);
}

/** The registration that serves the card in `reader`, or undefined when none claims it. */
export function selectProvider(registrations: readonly Registration[], reader: CardReaderState, context: MatchContext = {}): Registration | undefined {
  return rankProviders(registrations, reader, context)[0];
}
