// Small pkcs11js helpers shared by the rigs and their selftests: load a module the way every part
// of this project must (CKF_OS_LOCKING_OK, tolerate another loader in the same process) and find
// tokens by label or serial (slot IDs are not stable across loaders, labels and serials are).
import pkcs11js from 'pkcs11js';

export type Pkcs11 = pkcs11js.PKCS11;
export type Handle = Buffer;

export interface LoadedModule {
  pkcs11: Pkcs11;
  /** False when C_Initialize said CKR_CRYPTOKI_ALREADY_INITIALIZED: someone else in this process
   *  owns the library's initialisation, so this loader must never C_Finalize it. */
  initializedHere: boolean;
}

/**
 * Loads and initialises a PKCS#11 module. CKF_OS_LOCKING_OK because pkcs11js runs async calls on
 * worker threads (and p11-kit-client refuses flags 0). Two loaders of one .so in one process share
 * one library instance, so the second C_Initialize gets CKR_CRYPTOKI_ALREADY_INITIALIZED: accepted.
 */
export function loadModule(modulePath: string): LoadedModule {
  const pkcs11 = new pkcs11js.PKCS11();
  pkcs11.load(modulePath);
  try {
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    return { pkcs11, initializedHere: true };
  } catch (error) {
    if (pkcs11ErrorCode(error) === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) return { pkcs11, initializedHere: false };
    pkcs11.close();
    throw error;
  }
}

/** The CKR code of a pkcs11js error, or undefined for anything else. */
export function pkcs11ErrorCode(error: unknown): number | undefined {
  return error instanceof pkcs11js.Pkcs11Error ? error.code : undefined;
}

/** For assert.throws / assert.rejects: matches a pkcs11js error with the given CKR code. */
export function isPkcs11Error(code: number): (error: unknown) => boolean {
  return (error) => {
    if (pkcs11ErrorCode(error) === code) return true;
    throw error; // let assert report the unexpected error itself, not a bare "validation failed"
  };
}

export interface SlotToken {
  slot: Handle;
  label: string;
  serial: string;
  flags: number;
}

/** Slots with a token, with the token's label and serial trimmed of their blank padding. */
export function listTokens(pkcs11: Pkcs11): SlotToken[] {
  return pkcs11.C_GetSlotList(true).map((slot) => {
    const info = pkcs11.C_GetTokenInfo(slot);
    return { slot, label: info.label.trimEnd(), serial: info.serialNumber.trimEnd(), flags: info.flags };
  });
}

export function findSlotByLabel(pkcs11: Pkcs11, label: string): Handle {
  const hit = listTokens(pkcs11).find((token) => token.label === label);
  if (!hit) throw new Error(`no token labelled "${label}" in ${pkcs11.libPath}`);
  return hit.slot;
}

export function findSlotBySerial(pkcs11: Pkcs11, serial: string): Handle {
  const hit = listTokens(pkcs11).find((token) => token.serial === serial);
  if (!hit) throw new Error(`no token with serial "${serial}" in ${pkcs11.libPath}`);
  return hit.slot;
}
