/**
 * Initialising a SoftHSM2 token in-process: C_InitToken on the free slot with the SO PIN, then an SO
 * session that sets the user PIN (C_InitPIN).
 *
 * Why not `softhsm2-util --init-token … --pin P --so-pin S`: a child's argv is readable by every user
 * in /proc/PID/cmdline, so the PINs would leak for as long as it runs. Here they only cross into the
 * module. pkcs11js takes PINs as JavaScript strings, which cannot be wiped; they are made at the call
 * and dropped at once, and the caller's Buffers are left for the caller to wipe.
 *
 * The module is taken through the bridge's registry (acquireModule/releaseModule), so this shares the
 * one initialised SoftHSM2 instance with any driver in the process. SoftHSM2 shows an in-process
 * C_InitToken at once: the token keeps its slot, and a new free slot appears after it.
 */
import { CryptError } from '../minidriver/errors.js';
import { acquireModule, releaseModule, toCryptError } from '../pkcs11-bridge/index.js';
import { pk, type PKCS11, type Pkcs11Handle } from '../pkcs11-bridge/pkcs11.js';
import { tokenIdentity, type TokenIdentity } from '../pkcs11-bridge/token.js';

/** CK_TOKEN_INFO.label is 32 bytes, blank-padded. */
export const LABEL_BYTES = 32;

/**
 * The label as C_InitToken wants it: exactly 32 bytes, padded with blanks. pkcs11js passes the string
 * through as it is, and the module reads 32 bytes whatever its length, so a short label must be padded
 * here or the module reads past the end of it.
 */
export function paddedLabel(label: string): string {
  const bytes = Buffer.byteLength(label, 'utf8');
  if (bytes === 0 || bytes > LABEL_BYTES) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `a token label has 1 to ${LABEL_BYTES} bytes; "${label}" has ${bytes}`, { operation: 'C_InitToken' });
  }
  return label + ' '.repeat(LABEL_BYTES - bytes);
}

/** A PIN as the string pkcs11js wants, read in place (no Buffer copy that would escape wiping). */
function pinString(pin: Uint8Array): string {
  return Buffer.from(pin.buffer, pin.byteOffset, pin.byteLength).toString('utf8');
}

/** An initialised token of the module, with whether its user PIN is set. */
export interface FoundToken extends TokenIdentity {
  /** False after an init that stopped between C_InitToken and C_InitPIN. */
  userPinSet: boolean;
}

function findToken(pkcs11: PKCS11, label: string): { slot: Pkcs11Handle; token: FoundToken } | undefined {
  for (const slot of pkcs11.C_GetSlotList(true)) {
    const info = pkcs11.C_GetTokenInfo(slot);
    if (!(info.flags & pk.CKF_TOKEN_INITIALIZED)) continue;
    const identity = tokenIdentity(info);
    if (identity.label === label) return { slot, token: { ...identity, userPinSet: (info.flags & pk.CKF_USER_PIN_INITIALIZED) !== 0 } };
  }
  return undefined;
}

/** Runs `work` on the module, loaded (or shared) for the call and released after it. */
function withModule<T>(modulePath: string, operation: string, work: (pkcs11: PKCS11) => T): T {
  const module = acquireModule(modulePath);
  try {
    return work(module.pkcs11);
  } catch (err) {
    throw toCryptError(err, { operation });
  } finally {
    releaseModule(module);
  }
}

/** The initialised token labelled `label`, if the module has one. */
export function findTokenByLabel(modulePath: string, label: string): FoundToken | undefined {
  return withModule(modulePath, 'C_GetTokenInfo', (pkcs11) => findToken(pkcs11, label)?.token);
}

/**
 * Checks PIN lengths against what the token accepts before anything is written, so a refused PIN
 * cannot leave a token half set up (initialised, but without a user PIN).
 */
function checkPinLengths(pkcs11: PKCS11, slot: Pkcs11Handle, pins: { what: string; pin: Uint8Array }[]): void {
  const info = pkcs11.C_GetTokenInfo(slot);
  for (const { what, pin } of pins) {
    if (pin.length < info.minPinLen || pin.length > info.maxPinLen) {
      throw new CryptError('SCARD_E_INVALID_CHV', `the ${what} must be ${info.minPinLen} to ${info.maxPinLen} bytes for this token`, { operation: 'C_InitToken' });
    }
  }
}

/** SO login on `slot`, C_InitPIN with the user PIN, logout. */
function initUserPin(pkcs11: PKCS11, slot: Pkcs11Handle, soPin: Uint8Array, userPin: Uint8Array): void {
  const session = pkcs11.C_OpenSession(slot, pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
  try {
    pkcs11.C_Login(session, pk.CKU_SO, pinString(soPin));
    try {
      pkcs11.C_InitPIN(session, pinString(userPin));
    } finally {
      pkcs11.C_Logout(session);
    }
  } finally {
    pkcs11.C_CloseSession(session);
  }
}

function freeSlot(pkcs11: PKCS11): Pkcs11Handle {
  const slot = pkcs11.C_GetSlotList(true).find((s) => !(pkcs11.C_GetTokenInfo(s).flags & pk.CKF_TOKEN_INITIALIZED));
  if (!slot) throw new CryptError('SCARD_E_NO_SMARTCARD', 'the module has no uninitialised token to set up (SoftHSM2 always offers one; is this SoftHSM2?)', { operation: 'C_InitToken' });
  return slot;
}

/**
 * Initialises a new token labelled `label` on the module's free slot, with the SO PIN and user PIN
 * given. Fails with NTE_EXISTS if a token with that label is already there: labels are how the CLI
 * finds its token, so two with one label would make it ambiguous.
 */
export function initialiseToken(modulePath: string, label: string, soPin: Uint8Array, userPin: Uint8Array): TokenIdentity {
  const padded = paddedLabel(label);
  return withModule(modulePath, 'C_InitToken', (pkcs11) => {
    if (findToken(pkcs11, label)) throw new CryptError('NTE_EXISTS', `a token labelled "${label}" exists already`, { operation: 'C_InitToken' });
    const slot = freeSlot(pkcs11);
    checkPinLengths(pkcs11, slot, [{ what: 'SO PIN', pin: soPin }, { what: 'user PIN', pin: userPin }]);
    pkcs11.C_InitToken(slot, pinString(soPin), padded);
    initUserPin(pkcs11, slot, soPin, userPin);
    return tokenIdentity(pkcs11.C_GetTokenInfo(slot));
  });
}

/** Sets the user PIN of an initialised token that has none yet (finishes an interrupted init). */
export function completeUserPin(modulePath: string, label: string, soPin: Uint8Array, userPin: Uint8Array): TokenIdentity {
  return withModule(modulePath, 'C_InitPIN', (pkcs11) => {
    const found = findToken(pkcs11, label);
    if (!found) throw new CryptError('SCARD_E_NO_SMARTCARD', `no token labelled "${label}"`, { operation: 'C_InitPIN' });
    checkPinLengths(pkcs11, found.slot, [{ what: 'user PIN', pin: userPin }]);
    initUserPin(pkcs11, found.slot, soPin, userPin);
    return tokenIdentity(pkcs11.C_GetTokenInfo(found.slot));
  });
}
