import { CryptError } from '../minidriver/errors.js';
import { ckrName, ckrOf, pk, type PKCS11, type Pkcs11Handle } from './pkcs11.js';

/**
 * Failures after which the card may have left its reader. A dead session alone is ambiguous (a reset
 * card kills sessions too, and is answered SCARD_W_RESET_CARD), so each is confirmed by cardGone().
 */
const REMOVAL_SIGNS = new Set<number>([
  pk.CKR_DEVICE_REMOVED, pk.CKR_TOKEN_NOT_PRESENT, pk.CKR_TOKEN_NOT_RECOGNIZED, pk.CKR_SLOT_ID_INVALID,
  pk.CKR_SESSION_HANDLE_INVALID, pk.CKR_SESSION_CLOSED,
]);

/** What a slot that lost its card answers to C_GetTokenInfo. */
const ABSENT = new Set<number>([pk.CKR_DEVICE_REMOVED, pk.CKR_TOKEN_NOT_PRESENT, pk.CKR_TOKEN_NOT_RECOGNIZED, pk.CKR_SLOT_ID_INVALID]);

export function maySignalRemoval(err: unknown): boolean {
  const rv = ckrOf(err);
  return rv !== undefined && REMOVAL_SIGNS.has(rv);
}

/**
 * Whether the card is no longer in its slot: the slot reports no token, or another card (a different
 * label or serial). Any other failure of the probe leaves the question open (false), so an unrelated
 * fault is reported as itself and not as a removal.
 */
export function cardGone(pkcs11: PKCS11, slot: Pkcs11Handle, card: { label: string; serial: string }): boolean {
  try {
    const info = pkcs11.C_GetTokenInfo(slot);
    return info.label.trimEnd() !== card.label || info.serialNumber.trimEnd() !== card.serial;
  } catch (err) {
    const rv = ckrOf(err);
    return rv !== undefined && ABSENT.has(rv);
  }
}

/** The answer of every entry point once the card is gone. */
export function removedCardError(operation: string, card: string, cause: unknown): CryptError {
  const rv = ckrOf(cause);
  const seen = rv === undefined ? '' : ` (${ckrName(rv)})`;
  return new CryptError('SCARD_W_REMOVED_CARD', `the card was removed; insert it again and open a new context${seen}`,
    { operation, card, cause, ...(rv === undefined ? {} : { nativeCode: rv, nativeName: ckrName(rv) }) });
}
