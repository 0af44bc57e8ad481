import {
  CARD_AUTHENTICATE_GENERATE_SESSION_PIN, CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE, CARD_AUTHENTICATE_PIN_PIN,
  CARD_AUTHENTICATE_SESSION_PIN, CARD_DATA_VALUE_UNKNOWN, CARD_PIN_SILENT_CONTEXT, PIN_CHANGE_FLAG_CHANGEPIN,
  PIN_CHANGE_FLAG_UNBLOCK, PIN_SET_ALL_ROLES, ROLE_ADMIN, ROLE_USER, wszCARD_USER_ADMIN, wszCARD_USER_USER,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { CardContextCore } from './context-core.js';
import { checkFlags } from './context-core.js';
import { toCryptError } from './errors.js';
import { ckrOf, pk } from './pkcs11.js';

/**
 * PINs. ROLE_USER is the PKCS#11 user, ROLE_ADMIN the security officer (its PIN is the PUK that
 * unblocks the user PIN). PINs travel as bytes and are handed to the module as UTF-8 text; they are
 * never logged, kept or put in an error message.
 */

function roleOfUserId(userId: string, operation: string): number {
  if (userId === wszCARD_USER_USER) return ROLE_USER;
  if (userId === wszCARD_USER_ADMIN) return ROLE_ADMIN;
  throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown user "${userId}"; use "user" or "admin"`, { operation });
}

function checkPinId(pinId: number, operation: string): number {
  if (pinId === ROLE_USER || pinId === ROLE_ADMIN) return pinId;
  throw new CryptError('SCARD_E_INVALID_PARAMETER', `PIN_ID ${pinId} does not exist on this card (it has ROLE_USER 1 and ROLE_ADMIN 2)`, { operation });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function pinText(pin: Uint8Array | null | undefined, operation: string): string {
  if (!(pin instanceof Uint8Array) || pin.length === 0) {
    throw new CryptError('SCARD_E_INVALID_CHV', 'a PIN is required', { operation });
  }
  try {
    return utf8.decode(pin);
  } catch {
    throw new CryptError('SCARD_E_INVALID_CHV', 'the PIN must be UTF-8 text for a PKCS#11 token', { operation });
  }
}

/**
 * Tries left after a failed PIN, from the token's flags: PKCS#11 has no counter, only "final try" and
 * "locked" (and "count low"). 0 when locked, 1 on the final try, CARD_DATA_VALUE_UNKNOWN otherwise —
 * the value OpenSC's minidriver reports when a card cannot tell.
 */
export function attemptsRemaining(flags: number, role: number): number {
  const locked = role === ROLE_ADMIN ? pk.CKF_SO_PIN_LOCKED : pk.CKF_USER_PIN_LOCKED;
  const finalTry = role === ROLE_ADMIN ? pk.CKF_SO_PIN_FINAL_TRY : pk.CKF_USER_PIN_FINAL_TRY;
  if (flags & locked) return 0;
  if (flags & finalTry) return 1;
  return CARD_DATA_VALUE_UNKNOWN;
}

/** C_Login for a role, mapping PIN failures to SCARD_W_WRONG_CHV / SCARD_W_CHV_BLOCKED with attempts. */
function login(ctx: CardContextCore, role: number, pin: string, operation: string): void {
  const token = ctx.token;
  const userType = role === ROLE_ADMIN ? pk.CKU_SO : pk.CKU_USER;
  const want = role === ROLE_ADMIN ? 'so' : 'user';
  // Already authenticated in this process: PKCS#11 would answer CKR_USER_ALREADY_LOGGED_IN without
  // looking at the PIN, but a card checks the PIN every time it is presented. Log out and in again so
  // a wrong PIN is reported (and counted) as the card would.
  if (token.login !== 'none') logout(ctx, operation);
  try {
    token.sync(operation, (s) => {
      try {
        token.pkcs11.C_Login(s, userType, pin);
      } catch (err) {
        // Login belongs to the application: another context of ours, or another library, did it.
        if (ckrOf(err) !== pk.CKR_USER_ALREADY_LOGGED_IN) throw err;
      }
    });
  } catch (err) {
    const mapped = err instanceof CryptError ? err : toCryptError(err, { operation, card: token.name });
    if (mapped.nativeCode === pk.CKR_PIN_INCORRECT || mapped.nativeCode === pk.CKR_PIN_LOCKED) {
      const left = attemptsRemaining(token.readInfo().flags, role);
      const blocked = mapped.nativeCode === pk.CKR_PIN_LOCKED;
      throw new CryptError(blocked ? 'SCARD_W_CHV_BLOCKED' : 'SCARD_W_WRONG_CHV',
        blocked ? 'the PIN is blocked; unblock it with the administrator PIN' : `wrong PIN${left === CARD_DATA_VALUE_UNKNOWN ? '' : `; ${left} tries left`}`,
        { operation, card: token.name, attemptsRemaining: left, nativeCode: mapped.nativeCode, nativeName: mapped.nativeName });
    }
    throw mapped;
  }
  token.login = want;
  // Private keys just became visible: let the container map see them.
  if (want === 'user') token.sync(operation, (s) => ctx.state.reconcile(s));
}

function logout(ctx: CardContextCore, operation: string): void {
  const token = ctx.token;
  token.sync(operation, (s) => {
    try {
      token.pkcs11.C_Logout(s);
    } catch (err) {
      if (ckrOf(err) !== pk.CKR_USER_NOT_LOGGED_IN) throw err;
    }
  });
  token.login = 'none';
  token.loginEpoch++; // every private-key handle is invalid after C_Logout
  ctx.state.forgetPrivateHandles();
}

export async function cardAuthenticatePin(ctx: CardContextCore, userId: string, pin: Uint8Array): Promise<void> {
  const operation = 'CardAuthenticatePin';
  ctx.assertOpen(operation);
  login(ctx, roleOfUserId(userId, operation), pinText(pin, operation), operation);
}

export async function cardAuthenticateEx(ctx: CardContextCore, pinId: number, flags: number, pin: Uint8Array | null): Promise<Buffer | null> {
  const operation = 'CardAuthenticateEx';
  ctx.assertOpen(operation);
  const f = checkFlags(flags, CARD_AUTHENTICATE_GENERATE_SESSION_PIN | CARD_AUTHENTICATE_SESSION_PIN | CARD_PIN_SILENT_CONTEXT, operation);
  const role = checkPinId(pinId, operation);
  if (f & (CARD_AUTHENTICATE_GENERATE_SESSION_PIN | CARD_AUTHENTICATE_SESSION_PIN)) {
    return Promise.reject(new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'session PINs are not offered by PKCS#11 tokens (CP_CARD_PIN_STRENGTH_VERIFY is plaintext)', { operation, card: ctx.state.name }));
  }
  login(ctx, role, pinText(pin, operation), operation);
  return null;
}

export async function cardDeauthenticate(ctx: CardContextCore, userId: string, flags?: number): Promise<void> {
  const operation = 'CardDeauthenticate';
  ctx.assertOpen(operation);
  checkFlags(flags, 0, operation);
  const role = roleOfUserId(userId, operation);
  if ((role === ROLE_USER && ctx.token.login === 'user') || (role === ROLE_ADMIN && ctx.token.login === 'so')) logout(ctx, operation);
}

export async function cardDeauthenticateEx(ctx: CardContextCore, pinSet: number, flags?: number): Promise<void> {
  const operation = 'CardDeauthenticateEx';
  ctx.assertOpen(operation);
  checkFlags(flags, 0, operation);
  if (!Number.isInteger(pinSet) || pinSet < 0 || pinSet > PIN_SET_ALL_ROLES) throw new CryptError('SCARD_E_INVALID_PARAMETER', `PIN_SET 0x${pinSet.toString(16)} is not a set of PIN ids`, { operation });
  const user = (pinSet & (1 << ROLE_USER)) !== 0;
  const admin = (pinSet & (1 << ROLE_ADMIN)) !== 0;
  if ((user && ctx.token.login === 'user') || (admin && ctx.token.login === 'so')) logout(ctx, operation);
}

/** C_SetPIN for a role: log in with the current PIN (so it is verified and counted), then set. */
function changePin(ctx: CardContextCore, role: number, current: string, next: string, operation: string): void {
  login(ctx, role, current, operation);
  ctx.token.sync(operation, (s) => ctx.token.pkcs11.C_SetPIN(s, current, next));
}

/** Unblock (reset) the user PIN with the administrator PIN: SO login, C_InitPIN, SO logout. */
function unblockUserPin(ctx: CardContextCore, adminPin: string, newPin: string, operation: string): void {
  login(ctx, ROLE_ADMIN, adminPin, operation);
  try {
    ctx.token.sync(operation, (s) => ctx.token.pkcs11.C_InitPIN(s, newPin));
  } finally {
    logout(ctx, operation);
  }
}

export async function cardChangeAuthenticator(ctx: CardContextCore, userId: string, current: Uint8Array, next: Uint8Array, retryCount: number, flags: number): Promise<void> {
  const operation = 'CardChangeAuthenticator';
  ctx.assertOpen(operation);
  if (flags === CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE) return Promise.reject(new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'challenge-response administrator keys are not offered by PKCS#11 tokens', { operation }));
  checkFlags(flags, CARD_AUTHENTICATE_PIN_PIN, operation);
  if (retryCount !== 0) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'a PKCS#11 token cannot set the PIN retry count; pass 0', { operation });
  changePin(ctx, roleOfUserId(userId, operation), pinText(current, operation), pinText(next, operation), operation);
}

export async function cardUnblockPin(ctx: CardContextCore, userId: string, authData: Uint8Array, newPin: Uint8Array, retryCount: number, flags: number): Promise<void> {
  const operation = 'CardUnblockPin';
  ctx.assertOpen(operation);
  if (flags === CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE) return Promise.reject(new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'challenge-response unblock is not offered by PKCS#11 tokens; use CARD_AUTHENTICATE_PIN_PIN with the administrator PIN', { operation }));
  if (flags !== CARD_AUTHENTICATE_PIN_PIN) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'dwFlags must be CARD_AUTHENTICATE_PIN_PIN or CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE', { operation });
  if (roleOfUserId(userId, operation) !== ROLE_USER) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'only the user PIN can be unblocked', { operation });
  if (retryCount !== 0) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'a PKCS#11 token cannot set the PIN retry count; pass 0', { operation });
  unblockUserPin(ctx, pinText(authData, operation), pinText(newPin, operation), operation);
}

export async function cardChangeAuthenticatorEx(ctx: CardContextCore, flags: number, authPinId: number, authData: Uint8Array, targetPinId: number, targetData: Uint8Array, retryCount: number): Promise<void> {
  const operation = 'CardChangeAuthenticatorEx';
  ctx.assertOpen(operation);
  if (flags !== PIN_CHANGE_FLAG_UNBLOCK && flags !== PIN_CHANGE_FLAG_CHANGEPIN) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'dwFlags must be PIN_CHANGE_FLAG_UNBLOCK or PIN_CHANGE_FLAG_CHANGEPIN', { operation });
  const auth = checkPinId(authPinId, operation);
  const target = checkPinId(targetPinId, operation);
  if (retryCount !== 0) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'a PKCS#11 token cannot set the PIN retry count; pass 0', { operation });
  if (flags === PIN_CHANGE_FLAG_CHANGEPIN) {
    if (auth !== target) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'changing a PIN needs that same PIN as the authenticator', { operation });
    changePin(ctx, auth, pinText(authData, operation), pinText(targetData, operation), operation);
  } else {
    if (auth !== ROLE_ADMIN || target !== ROLE_USER) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'unblock needs ROLE_ADMIN authenticating and ROLE_USER as target', { operation });
    unblockUserPin(ctx, pinText(authData, operation), pinText(targetData, operation), operation);
  }
}
