import {
  CARD_PADDING_NONE, CARD_PADDING_OAEP, CARD_PADDING_PKCS1, CARD_PADDING_PSS,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { pk, type Mechanism, type RsaOaepParams, type RsaPssParams } from './pkcs11.js';

/**
 * The one table between Windows algorithms and PKCS#11 mechanisms. Rows are looked up by the
 * CNG hash id (what CARD_SIGNING_INFO's padding info and OAEP carry).
 */
interface HashMechanisms {
  ckm: number;
  mgf: number;
  bytes: number;
}

const HASHES: Readonly<Record<string, HashMechanisms>> = {
  SHA1: { ckm: pk.CKM_SHA_1, mgf: pk.CKG_MGF1_SHA1, bytes: 20 },
  SHA256: { ckm: pk.CKM_SHA256, mgf: pk.CKG_MGF1_SHA256, bytes: 32 },
  SHA384: { ckm: pk.CKM_SHA384, mgf: pk.CKG_MGF1_SHA384, bytes: 48 },
  SHA512: { ckm: pk.CKM_SHA512, mgf: pk.CKG_MGF1_SHA512, bytes: 64 },
};

/** CKZ_DATA_SPECIFIED: the OAEP label source. */
const CKZ_DATA_SPECIFIED = 1;

function hashFor(cngId: string | null | undefined, operation: string): HashMechanisms {
  const row = cngId ? HASHES[cngId.toUpperCase()] : undefined;
  if (!row) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `hash "${cngId}" cannot be used with PSS or OAEP; use SHA1, SHA256, SHA384 or SHA512`, { operation });
  }
  return row;
}

/** RSA signature mechanisms by CARD_PADDING_* type. */
const RSA_PKCS: Mechanism = { mechanism: pk.CKM_RSA_PKCS };
const RSA_X_509: Mechanism = { mechanism: pk.CKM_RSA_X_509 };

export const RSA_SIGN = {
  [CARD_PADDING_PKCS1]: (): Mechanism => RSA_PKCS,
  [CARD_PADDING_NONE]: (): Mechanism => RSA_X_509,
  [CARD_PADDING_PSS]: (hash: string | null, saltBytes: number): Mechanism => {
    const h = hashFor(hash, 'CardSignData');
    return { mechanism: pk.CKM_RSA_PKCS_PSS, parameter: { type: pk.CK_PARAMS_RSA_PSS, hashAlg: h.ckm, mgf: h.mgf, saltLen: saltBytes } as RsaPssParams };
  },
} as const;

/** RSA decryption mechanisms by CARD_PADDING_* type. */
export const RSA_DECRYPT = {
  [CARD_PADDING_NONE]: (): Mechanism => RSA_X_509,
  [CARD_PADDING_PKCS1]: (): Mechanism => RSA_PKCS,
  [CARD_PADDING_OAEP]: (hash: string | null, label?: Uint8Array): Mechanism => {
    const h = hashFor(hash ?? 'SHA1', 'CardRSADecrypt');
    return {
      mechanism: pk.CKM_RSA_PKCS_OAEP,
      parameter: { type: pk.CK_PARAMS_RSA_OAEP, hashAlg: h.ckm, mgf: h.mgf, source: CKZ_DATA_SPECIFIED, ...(label && label.length ? { sourceData: Buffer.from(label) } : {}) } as RsaOaepParams,
    };
  },
} as const;

export const ECDSA: Mechanism = { mechanism: pk.CKM_ECDSA };

/**
 * What CP_PADDING_SCHEMES promises, by the mechanisms that serve each scheme here: a scheme is listed
 * when the token offers one of them. OAEP is served by the token's own OAEP or, unpadded on the host,
 * by raw RSA (the CSP's role; SoftHSM2 takes only SHA-1 OAEP).
 */
export const PADDING_SCHEME_MECHANISMS: readonly { scheme: number; mechanisms: readonly number[] }[] = [
  { scheme: CARD_PADDING_NONE, mechanisms: [pk.CKM_RSA_X_509] },
  { scheme: CARD_PADDING_PKCS1, mechanisms: [pk.CKM_RSA_PKCS] },
  { scheme: CARD_PADDING_PSS, mechanisms: [pk.CKM_RSA_PKCS_PSS] },
  { scheme: CARD_PADDING_OAEP, mechanisms: [pk.CKM_RSA_PKCS_OAEP, pk.CKM_RSA_X_509] },
];

/**
 * What CP_ENUM_ALGORITHMS (asymmetric) promises, by mechanism: RSA with PKCS#1 or raw RSA; an ECC
 * algorithm per curve whose size is within the mechanism's key-size range.
 */
export const ALGORITHM_MECHANISMS = {
  RSA: [pk.CKM_RSA_PKCS, pk.CKM_RSA_X_509],
  ECDSA: pk.CKM_ECDSA,
  ECDH: pk.CKM_ECDH1_DERIVE,
} as const;

/** Hash length of a CNG hash id, for PSS salt defaults and input checks. */
export function hashBytes(cngId: string): number | undefined {
  return HASHES[cngId.toUpperCase()]?.bytes;
}
