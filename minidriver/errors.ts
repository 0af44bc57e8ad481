import { type WindowsCodeName, WindowsCodes, windowsCodeName } from './codes.js';

/** Where a failure happened, so a message can say it (never a PIN, never key material). */
export interface ErrorContext {
  /** The entry point that failed, e.g. 'CardSignData' or 'NCryptOpenKey'. */
  operation?: string;
  /** The card (token label or reader) the operation ran on. */
  card?: string;
  /** The key container involved. */
  container?: string;
  /** For PIN failures: tries left before the PIN blocks; 0xFFFFFFFF when the card cannot tell. */
  attemptsRemaining?: number;
  /** The underlying return value (e.g. a PKCS#11 CKR_* value) when there is one. */
  nativeCode?: number;
  /** The underlying return value's name, e.g. 'CKR_PIN_INCORRECT'. */
  nativeName?: string;
  cause?: unknown;
}

/**
 * The one error class of p11-ksp. `code` is the exact unsigned Windows status (SCARD_*, NTE_*,
 * ERROR_*), `codeName` its name; the message says what failed and what to do about it.
 */
export class CryptError extends Error {
  override readonly name = 'CryptError';
  readonly code: number;
  readonly codeName: string;
  readonly operation?: string;
  readonly card?: string;
  readonly container?: string;
  readonly attemptsRemaining?: number;
  readonly nativeCode?: number;
  readonly nativeName?: string;

  constructor(code: number | WindowsCodeName, message: string, context: ErrorContext = {}) {
    const value = typeof code === 'number' ? code >>> 0 : WindowsCodes[code];
    const codeName = windowsCodeName(value);
    const where = [context.operation, context.card && `card "${context.card}"`, context.container && `container "${context.container}"`]
      .filter(Boolean)
      .join(', ');
    super(`${codeName}: ${where ? `${where}: ` : ''}${message}`, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = value;
    this.codeName = codeName;
    this.operation = context.operation;
    this.card = context.card;
    this.container = context.container;
    this.attemptsRemaining = context.attemptsRemaining;
    this.nativeCode = context.nativeCode;
    this.nativeName = context.nativeName;
  }

  /** True when `err` is a CryptError carrying `code` (by value or name). */
  static is(err: unknown, code: number | WindowsCodeName): err is CryptError {
    const value = typeof code === 'number' ? code >>> 0 : WindowsCodes[code];
    return err instanceof CryptError && err.code === value;
  }
}
