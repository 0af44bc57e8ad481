/**
 * The CLI's exit codes: the one table from failures to process exit statuses.
 *
 * Why a table: scripts and CI branch on "wrong PIN" versus "no card" versus "bug", and the Windows code a
 * CryptError carries is exact but too fine-grained (and too large) for an exit status. Every command
 * ends through exitCodeFor(), so the documented numbers below are the only ones the CLI returns.
 *
 *   0  success
 *   1  any other failure
 *   2  usage error (bad option, missing --pin-file without a terminal, unreadable PIN file…)
 *   3  PIN incorrect                 SCARD_W_WRONG_CHV
 *   4  PIN blocked                   SCARD_W_CHV_BLOCKED
 *   5  no card                       SCARD_E_NO_SMARTCARD, SCARD_W_REMOVED_CARD
 *   6  not found                     SCARD_E_FILE_NOT_FOUND, SCARD_E_NO_KEY_CONTAINER, NTE_BAD_KEYSET,
 *                                    NTE_NOT_FOUND (`provider remove` of a name not registered)
 *   7  unsupported                   SCARD_E_UNSUPPORTED_FEATURE, NTE_NOT_SUPPORTED
 *   8  exists already                NTE_EXISTS (`provider add` of a registered name without --replace)
 *   9  conformance failures          `conformance run` finished and at least one case failed
 *  10  signature invalid             `verify`: the signature does not match (NTE_BAD_SIGNATURE)
 *  130 cancelled (Ctrl+C at a prompt or during a command), the shell's 128 + SIGINT
 */
import type { WindowsCodeName } from '../minidriver/codes.js';
import { CryptError } from '../minidriver/errors.js';

export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  PIN_INCORRECT: 3,
  PIN_BLOCKED: 4,
  NO_CARD: 5,
  NOT_FOUND: 6,
  UNSUPPORTED: 7,
  EXISTS: 8,
  CONFORMANCE_FAILED: 9,
  SIGNATURE_INVALID: 10,
  CANCELLED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Windows codes with an exit status of their own; every other CryptError is FAILURE. */
const BY_CODE: ReadonlyMap<WindowsCodeName, ExitCode> = new Map<WindowsCodeName, ExitCode>([
  ['SCARD_W_WRONG_CHV', ExitCode.PIN_INCORRECT],
  ['SCARD_W_CHV_BLOCKED', ExitCode.PIN_BLOCKED],
  ['SCARD_E_NO_SMARTCARD', ExitCode.NO_CARD],
  ['SCARD_W_REMOVED_CARD', ExitCode.NO_CARD],
  ['SCARD_E_FILE_NOT_FOUND', ExitCode.NOT_FOUND],
  ['SCARD_E_NO_KEY_CONTAINER', ExitCode.NOT_FOUND],
  ['NTE_BAD_KEYSET', ExitCode.NOT_FOUND],
  ['NTE_NOT_FOUND', ExitCode.NOT_FOUND],
  ['SCARD_E_UNSUPPORTED_FEATURE', ExitCode.UNSUPPORTED],
  ['NTE_NOT_SUPPORTED', ExitCode.UNSUPPORTED],
  ['NTE_EXISTS', ExitCode.EXISTS],
  ['NTE_BAD_SIGNATURE', ExitCode.SIGNATURE_INVALID],
  ['SCARD_W_CANCELLED_BY_USER', ExitCode.CANCELLED],
]);

/**
 * A mistake in how the CLI was called. Its message says what to type instead; it never echoes an
 * option's value, because the value could be a secret typed in the wrong place.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The user stopped the command (Ctrl+C at a prompt, or SIGINT/SIGTERM while it ran). */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled') {
    super(message);
  }
}

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (err instanceof CancelledError) return ExitCode.CANCELLED;
  if (err instanceof CryptError) return BY_CODE.get(err.codeName as WindowsCodeName) ?? ExitCode.FAILURE;
  return ExitCode.FAILURE;
}
