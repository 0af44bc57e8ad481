/**
 * The one place pkcs11js is imported. pkcs11js is CommonJS; this re-exports it with its types so the
 * rest of the bridge writes `pk.CKA_LABEL` and `Pkcs11Handle`.
 */
import pkcs11js from 'pkcs11js';

export const pk = pkcs11js;
export type PKCS11 = pkcs11js.PKCS11;
export type Pkcs11Handle = Buffer;
export type Template = pkcs11js.Template;
export type Mechanism = pkcs11js.Mechanism;
export type TokenInfo = pkcs11js.TokenInfo;

/** The CKR_* value of a pkcs11js failure, or undefined when it is not a Cryptoki return value. */
export function ckrOf(err: unknown): number | undefined {
  if (err instanceof pkcs11js.Pkcs11Error) return err.code;
  // pkcs11js 2.1.7's JavaScript wrappers of C_CreateObject, C_SetAttributeValue and a few others let
  // the native "CKR_NAME:value" Error through unconverted; its numeric value is the only code it has.
  const m = err instanceof Error ? /^(CKR_\w+):(\d+)$/.exec(err.message) : null;
  return m ? Number(m[2]) : undefined;
}

/** Name of a CKR_* value, e.g. 'CKR_PIN_INCORRECT'. */
export function ckrName(rv: number): string {
  return ckrNames.get(rv) ?? `CKR_0x${rv.toString(16).padStart(8, '0')}`;
}

const ckrNames = new Map<number, string>(
  Object.entries(pkcs11js as unknown as Record<string, unknown>)
    .filter(([k, v]) => k.startsWith('CKR_') && typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);
export type RsaPssParams = pkcs11js.RsaPSS;
export type RsaOaepParams = pkcs11js.RsaOAEP;
export type EcdhParams = pkcs11js.ECDH1;
