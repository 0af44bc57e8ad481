import { CryptError, type ErrorContext } from '../minidriver/errors.js';
import type { WindowsCodeName } from '../minidriver/codes.js';
import { ckrName, ckrOf, pk } from './pkcs11.js';

interface Mapping {
  code: WindowsCodeName;
  /** What the user can do about it. */
  hint: string;
}

/**
 * The one table from PKCS#11 return values to Windows codes. Minidriver rules (reference §8): bad
 * arguments → SCARD_E_INVALID_PARAMETER, wrong PIN → SCARD_W_WRONG_CHV, not authenticated →
 * SCARD_W_SECURITY_VIOLATION, anything unexplained → SCARD_E_UNEXPECTED. Drivers never return NTE_*.
 */
const CKR_TO_WINDOWS = new Map<number, Mapping>([
  [pk.CKR_PIN_INCORRECT, { code: 'SCARD_W_WRONG_CHV', hint: 'the PIN is wrong; check it before trying again, the card may block it' }],
  [pk.CKR_PIN_LOCKED, { code: 'SCARD_W_CHV_BLOCKED', hint: 'the PIN is blocked; unblock it with the administrator PIN (PUK)' }],
  [pk.CKR_PIN_INVALID, { code: 'SCARD_E_INVALID_CHV', hint: 'the PIN has characters the card does not accept' }],
  [pk.CKR_PIN_LEN_RANGE, { code: 'SCARD_E_INVALID_CHV', hint: 'the PIN is too short or too long for this card' }],
  [pk.CKR_PIN_EXPIRED, { code: 'SCARD_W_WRONG_CHV', hint: 'the PIN has expired; change it' }],
  [pk.CKR_PIN_TOO_WEAK, { code: 'SCARD_E_INVALID_CHV', hint: 'the new PIN is too weak for this card' }],
  [pk.CKR_USER_NOT_LOGGED_IN, { code: 'SCARD_W_SECURITY_VIOLATION', hint: 'authenticate with the PIN first' }],
  [pk.CKR_USER_PIN_NOT_INITIALIZED, { code: 'SCARD_W_SECURITY_VIOLATION', hint: 'the token has no user PIN yet; initialise it' }],
  [pk.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, { code: 'SCARD_W_SECURITY_VIOLATION', hint: 'another role is authenticated; deauthenticate it first' }],
  [pk.CKR_USER_TYPE_INVALID, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'unknown user role' }],
  [pk.CKR_DEVICE_REMOVED, { code: 'SCARD_W_REMOVED_CARD', hint: 'the card was removed; insert it again and open a new context' }],
  // Every token call the bridge makes is for a card it saw in the reader, so "not present" means removed.
  [pk.CKR_TOKEN_NOT_PRESENT, { code: 'SCARD_W_REMOVED_CARD', hint: 'the card was removed; insert it again and open a new context' }],
  [pk.CKR_TOKEN_NOT_RECOGNIZED, { code: 'SCARD_E_UNKNOWN_CARD', hint: 'the module does not recognise this card' }],
  [pk.CKR_SLOT_ID_INVALID, { code: 'SCARD_E_UNKNOWN_READER', hint: 'the reader is gone; list readers again' }],
  [pk.CKR_TOKEN_WRITE_PROTECTED, { code: 'SCARD_E_READ_ONLY_CARD', hint: 'the card is read-only' }],
  [pk.CKR_SESSION_HANDLE_INVALID, { code: 'SCARD_W_RESET_CARD', hint: 'the card was reset or reinserted; open a new context' }],
  [pk.CKR_SESSION_CLOSED, { code: 'SCARD_W_RESET_CARD', hint: 'the card session closed; open a new context' }],
  [pk.CKR_SESSION_COUNT, { code: 'SCARD_E_SHARING_VIOLATION', hint: 'the token allows no more sessions; close other users of it' }],
  [pk.CKR_DEVICE_MEMORY, { code: 'SCARD_E_WRITE_TOO_MANY', hint: 'the card is full; delete unused containers or files' }],
  [pk.CKR_HOST_MEMORY, { code: 'SCARD_E_NO_MEMORY', hint: 'out of memory' }],
  [pk.CKR_DEVICE_ERROR, { code: 'SCARD_E_COMM_DATA_LOST', hint: 'the card or its reader failed; retry, then check the reader' }],
  [pk.CKR_FUNCTION_CANCELED, { code: 'SCARD_W_CANCELLED_BY_USER', hint: 'the operation was cancelled' }],
  [pk.CKR_FUNCTION_NOT_SUPPORTED, { code: 'SCARD_E_UNSUPPORTED_FEATURE', hint: 'the token does not offer this function' }],
  [pk.CKR_MECHANISM_INVALID, { code: 'SCARD_E_UNSUPPORTED_FEATURE', hint: 'the token does not offer this algorithm or padding' }],
  [pk.CKR_MECHANISM_PARAM_INVALID, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token refused the padding parameters' }],
  [pk.CKR_KEY_SIZE_RANGE, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token does not offer this key size' }],
  [pk.CKR_KEY_TYPE_INCONSISTENT, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the key cannot be used with this algorithm' }],
  [pk.CKR_KEY_FUNCTION_NOT_PERMITTED, { code: 'SCARD_W_SECURITY_VIOLATION', hint: 'the key is not allowed to do this (check its usage)' }],
  [pk.CKR_KEY_HANDLE_INVALID, { code: 'SCARD_E_NO_KEY_CONTAINER', hint: 'the key is gone from the card' }],
  [pk.CKR_OBJECT_HANDLE_INVALID, { code: 'SCARD_E_NO_KEY_CONTAINER', hint: 'the object is gone from the card' }],
  [pk.CKR_DATA_INVALID, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token refused the input data' }],
  [pk.CKR_DATA_LEN_RANGE, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the input has the wrong length for this key' }],
  [pk.CKR_ENCRYPTED_DATA_INVALID, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the ciphertext does not decrypt under this key and padding' }],
  [pk.CKR_ENCRYPTED_DATA_LEN_RANGE, { code: 'SCARD_E_INSUFFICIENT_BUFFER', hint: 'the ciphertext must be exactly the modulus length' }],
  [pk.CKR_ARGUMENTS_BAD, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token refused the arguments' }],
  [pk.CKR_ATTRIBUTE_VALUE_INVALID, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token refused an attribute value' }],
  [pk.CKR_TEMPLATE_INCONSISTENT, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token refused the object template' }],
  [pk.CKR_TEMPLATE_INCOMPLETE, { code: 'SCARD_E_INVALID_PARAMETER', hint: 'the token needs more object attributes' }],
  [pk.CKR_DOMAIN_PARAMS_INVALID, { code: 'SCARD_E_UNSUPPORTED_FEATURE', hint: 'the token does not offer this curve' }],
  [pk.CKR_CRYPTOKI_NOT_INITIALIZED, { code: 'SCARD_E_NO_SERVICE', hint: 'the PKCS#11 module was closed; open the driver again' }],
  [pk.CKR_CANT_LOCK, { code: 'SCARD_E_NO_SERVICE', hint: 'the module refused thread-safe initialisation' }],
  [pk.CKR_OPERATION_ACTIVE, { code: 'SCARD_E_UNEXPECTED', hint: 'a session was used for two operations at once (a bug; please report it)' }],
]);

/** Whether a CKR_* value means the session or object handle went stale (re-open and look up again). */
export function isStaleHandle(rv: number | undefined): boolean {
  return rv === pk.CKR_SESSION_HANDLE_INVALID || rv === pk.CKR_SESSION_CLOSED || rv === pk.CKR_OBJECT_HANDLE_INVALID || rv === pk.CKR_KEY_HANDLE_INVALID;
}

/**
 * Turns any failure of a token call into a CryptError with the Windows code of the table above.
 * A CryptError passes through unchanged.
 */
export function toCryptError(err: unknown, context: ErrorContext): CryptError {
  if (err instanceof CryptError) return err;
  const rv = ckrOf(err);
  if (rv === undefined) {
    return new CryptError('SCARD_E_UNEXPECTED', `unexpected failure: ${(err as Error)?.message ?? String(err)}`, { ...context, cause: err });
  }
  const mapping = CKR_TO_WINDOWS.get(rv) ?? { code: 'SCARD_E_UNEXPECTED' as const, hint: 'the token reported an unexpected failure' };
  return new CryptError(mapping.code, `${mapping.hint} (${ckrName(rv)})`, { ...context, nativeCode: rv, nativeName: ckrName(rv), cause: err });
}
