/**
 * Direct calls, on a PKCS#11 module that pkcs11js has already loaded in this process: one
 * C_GetAttributeValue with caller-provided buffers (design decision 4, minimum token I/O), and the
 * two calls of a single-part signature or decryption in one crossing into native code.
 *
 * pkcs11js always reads attributes in two module calls (the lengths, then the values). When the
 * lengths are known — a file object's CKA_LABEL is its path, its CKA_VALUE had that length at the
 * previous read — one call with preallocated buffers does it. The addon (native/pkcs11-direct.cc)
 * finds the module with dlopen(path, RTLD_NOW | RTLD_NOLOAD): the very instance pkcs11js loaded (same
 * C_Initialize, same sessions and object handles), never a second one. A path that is not loaded in
 * the process is "not available", and so is everything when the addon is not built: callers then use
 * pkcs11js.
 *
 * Handles are pkcs11js's (a Buffer holding a CK_ULONG in native byte order) or plain numbers.
 */
import { loadNativeAddon } from './index.js';

/** ulValueLen of an attribute the module left as CK_UNAVAILABLE_INFORMATION (e.g. its buffer was too small). */
export const CK_UNAVAILABLE_INFORMATION = -1;

/** One attribute to read: its CKA_* type and the buffer the value goes into (ulValueLen = its length). */
export interface AttributeInto {
  type: number;
  value: Uint8Array;
}

/** What the module returned: the CK_RV and, per attribute, the ulValueLen it left. */
export interface AttributeIntoResult {
  /** CKR_OK, CKR_BUFFER_TOO_SMALL, CKR_OBJECT_HANDLE_INVALID... — interpreting it is the caller's job. */
  rv: number;
  /** Per attribute: the value's length (bytes written on CKR_OK), or CK_UNAVAILABLE_INFORMATION (-1). */
  lengths: number[];
}

/**
 * null when one-call reads work on this module path (the addon is built and the module is loaded in
 * this process); otherwise why not. Never throws for a string path. The first successful probe of a
 * path asks the module for its function list once (C_GetFunctionList, no token I/O).
 */
export function directAttributeReadStatus(modulePath: string): string | null {
  let addon;
  try {
    addon = loadNativeAddon();
  } catch (err) {
    return (err as Error).message;
  }
  try {
    return addon.probePkcs11Module(modulePath);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whether {@link getAttributeValueInto} can be used for this module path. */
export function isDirectAttributeReadAvailable(modulePath: string): boolean {
  return directAttributeReadStatus(modulePath) === null;
}

/**
 * Exactly one C_GetAttributeValue(session, object, template) on the already-loaded module at
 * `modulePath`, each attribute's pValue the caller's buffer and ulValueLen its length. The value lands
 * in the buffer; the result says how long it is. Throws a TypeError/RangeError for bad arguments, an
 * Error with code ERR_PKCS11_NOT_AVAILABLE when the module is not loaded in this process, and the
 * addon's load error when it is not built — never for a non-OK CK_RV, which is returned.
 */
export function getAttributeValueInto(
  modulePath: string,
  session: Buffer | number,
  object: Buffer | number,
  templates: AttributeInto[],
): AttributeIntoResult {
  return loadNativeAddon().getAttributeValueInto(modulePath, session, object, templates);
}

/** The operations of {@link DirectSinglePart}: C_SignInit + C_Sign, or C_DecryptInit + C_Decrypt. */
export const DIRECT_SIGN = 0;
export const DIRECT_DECRYPT = 1;
export type DirectOperation = typeof DIRECT_SIGN | typeof DIRECT_DECRYPT;

/**
 * The Init and the single-part call of a signature or decryption whose mechanism takes no parameter
 * (CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_X_509), into `output` (ulOutLen = its length). Returns the output
 * length on CKR_OK, else the failing call's CK_RV negated (the single-part call is not made when the
 * Init fails). The same two token calls pkcs11js makes, without its two JavaScript wrappers per call
 * and the view it cuts of the output: on a fast key (ECDSA P-256 on SoftHSM2, ~75 µs) those are a
 * measurable share (see pkcs11-bridge/one-shot.ts).
 */
export type DirectSinglePart = (
  operation: DirectOperation,
  session: Buffer | number,
  mechanismType: number,
  key: Buffer | number,
  input: Uint8Array,
  output: Uint8Array,
) => number;

/** Direct single-part calls on the module at `modulePath`, or undefined where they are not available. */
export function directSinglePart(modulePath: string): DirectSinglePart | undefined {
  let addon;
  let index: number;
  try {
    addon = loadNativeAddon();
    index = addon.pkcs11ModuleIndex(modulePath);
  } catch {
    return undefined;
  }
  const call = addon.singlePartInto;
  return (operation, session, mechanismType, key, input, output) => call(index, operation, session, mechanismType, key, input, output);
}
