/**
 * Which cases run: the user's choice of areas and skips (checked before anything is opened, so a typo
 * fails fast), then per case the target's capabilities and what the user allowed.
 */
import { CryptError } from '../minidriver/errors.js';
import { AREAS, type AreaId, type CaseOutcome, type ConformanceArea, type ConformanceCase, type TargetCapabilities } from './case.js';

/** A case id as --skip and the reports write it. */
export function caseKey(area: AreaId, id: string): string {
  return `${area}/${id}`;
}

/** Ids are kebab-case words separated by '/': what a skip entry may contain. */
const SKIP_ENTRY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9._-]*)*$/;

/** The selected areas, in AREAS order; unknown or unavailable names are NTE_INVALID_PARAMETER. */
export function selectAreas(requested: readonly AreaId[] | undefined, registered: readonly ConformanceArea[]): ConformanceArea[] {
  const operation = 'conformance';
  if (requested === undefined) return [...registered];
  if (!Array.isArray(requested) || requested.length === 0) {
    throw new CryptError('NTE_INVALID_PARAMETER', `name at least one area to run: ${AREAS.join(', ')}`, { operation });
  }
  for (const name of requested) {
    if (!(AREAS as readonly string[]).includes(name)) {
      throw new CryptError('NTE_INVALID_PARAMETER', `"${String(name)}" is not an area; the areas are ${AREAS.join(', ')}`, { operation });
    }
    if (!registered.some((a) => a.id === name)) {
      throw new CryptError('NTE_INVALID_PARAMETER', `the area "${name}" is not available in this build; available: ${registered.map((a) => a.id).join(', ')}`, { operation });
    }
  }
  return registered.filter((a) => requested.includes(a.id));
}

/**
 * Checks the skip entries: each is a case id (`area/group/name`) or a prefix of ids ending at a '/'
 * boundary (`cng`, `cng/`, `cng/provider/`), and its first part must be an area.
 */
export function validateSkips(skip: readonly string[] | undefined): string[] {
  const operation = 'conformance';
  if (skip === undefined) return [];
  if (!Array.isArray(skip)) throw new CryptError('NTE_INVALID_PARAMETER', 'skip must be a list of case ids or prefixes', { operation });
  for (const entry of skip) {
    if (typeof entry !== 'string' || !SKIP_ENTRY.test(entry)) {
      throw new CryptError('NTE_INVALID_PARAMETER', `skip entry ${JSON.stringify(entry)} is not a case id or prefix; write it as area/group/name, or a prefix such as "cng/" or "cng/provider/"`, { operation });
    }
    const area = entry.split('/')[0]!;
    if (!(AREAS as readonly string[]).includes(area)) {
      throw new CryptError('NTE_INVALID_PARAMETER', `skip entry "${entry}" does not start with an area (${AREAS.join(', ')})`, { operation });
    }
  }
  return [...skip];
}

/** The skip entry that covers a case key, if any: the whole id, or a prefix ending at a '/' boundary. */
function skippedBy(key: string, skips: readonly string[]): string | undefined {
  return skips.find((entry) => key === entry || key.startsWith(entry.endsWith('/') ? entry : `${entry}/`));
}

export interface Allowances {
  allowDestructive: boolean;
  allowPinLockout: boolean;
}

/** Why a case does not run, as its outcome; undefined when it runs. */
export function decide(area: AreaId, c: ConformanceCase, capabilities: TargetCapabilities, skips: readonly string[], allowed: Allowances): CaseOutcome | undefined {
  const by = skippedBy(caseKey(area, c.id), skips);
  if (by !== undefined) return { status: 'skipped', reason: by === caseKey(area, c.id) ? 'skipped by the user (--skip)' : `skipped by the user (--skip ${by})` };
  const requires = c.requires ?? {};
  const reason = requires.applicable?.(capabilities);
  if (reason) return { status: 'not-applicable', reason };
  if (requires.destructive && !allowed.allowDestructive) {
    return { status: 'not-applicable', reason: 'destructive: run with --allow-destructive (it creates and deletes containers of its own)' };
  }
  if (requires.pinLockout && !(allowed.allowPinLockout && allowed.allowDestructive)) {
    return { status: 'not-applicable', reason: 'blocks the user PIN: run with --allow-pin-lockout (and --allow-destructive) to include it' };
  }
  if (requires.destructive && capabilities.readOnly) {
    return { status: 'not-applicable', reason: 'the card is read-only (CP_CARD_READ_ONLY): writes are not possible' };
  }
  return undefined;
}
