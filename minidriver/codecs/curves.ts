/**
 * The three NIST curves the minidriver model knows, with every name each layer uses for them.
 *
 * Why: one curve is spelled six ways across the stack — the key spec (AT_ECDSA_P256 / AT_ECDHE_P256),
 * the BCRYPT_ECCKEY_BLOB magic, the CNG algorithm id, the PKCS#11 CKA_EC_PARAMS bytes, the X.509 OID and
 * Node's curve name — and translating between them in one table keeps them from drifting apart.
 */
import {
  AT_ECDHE_P256, AT_ECDHE_P384, AT_ECDHE_P521, AT_ECDSA_P256, AT_ECDSA_P384, AT_ECDSA_P521,
  BCRYPT_ECDH_PRIVATE_P256_MAGIC, BCRYPT_ECDH_PRIVATE_P384_MAGIC, BCRYPT_ECDH_PRIVATE_P521_MAGIC,
  BCRYPT_ECDH_PUBLIC_P256_MAGIC, BCRYPT_ECDH_PUBLIC_P384_MAGIC, BCRYPT_ECDH_PUBLIC_P521_MAGIC,
  BCRYPT_ECDSA_PRIVATE_P256_MAGIC, BCRYPT_ECDSA_PRIVATE_P384_MAGIC, BCRYPT_ECDSA_PRIVATE_P521_MAGIC,
  BCRYPT_ECDSA_PUBLIC_P256_MAGIC, BCRYPT_ECDSA_PUBLIC_P384_MAGIC, BCRYPT_ECDSA_PUBLIC_P521_MAGIC,
} from '../constants.js';

export type CurveName = 'P-256' | 'P-384' | 'P-521';
/** What a key on the curve is for: signing (sig slot) or key agreement (keyx slot). */
export type EccUsage = 'ECDSA' | 'ECDH';

export interface CurveInfo {
  name: CurveName;
  /** namedCurve object identifier, dotted. */
  oid: string;
  /** DER ECParameters (namedCurve OID) — the value of PKCS#11 CKA_EC_PARAMS. */
  ecParams: Buffer;
  /** Field size in bytes: cbKey of a BCRYPT_ECCKEY_BLOB, length of X, Y, d and of r and s. */
  byteLength: number;
  /** node:crypto curve name. */
  nodeCurve: 'prime256v1' | 'secp384r1' | 'secp521r1';
  /** Minidriver key specs. */
  ecdsaKeySpec: number;
  ecdhKeySpec: number;
  /** CNG algorithm ids. */
  cngEcdsaAlgorithm: string;
  cngEcdhAlgorithm: string;
  /** BCRYPT_ECCKEY_BLOB magics by usage and visibility. */
  magic: Record<EccUsage, { public: number; private: number }>;
}

export const CURVES: readonly CurveInfo[] = [
  {
    name: 'P-256',
    oid: '1.2.840.10045.3.1.7',
    ecParams: Buffer.from('06082a8648ce3d030107', 'hex'),
    byteLength: 32,
    nodeCurve: 'prime256v1',
    ecdsaKeySpec: AT_ECDSA_P256,
    ecdhKeySpec: AT_ECDHE_P256,
    cngEcdsaAlgorithm: 'ECDSA_P256',
    cngEcdhAlgorithm: 'ECDH_P256',
    magic: {
      ECDSA: { public: BCRYPT_ECDSA_PUBLIC_P256_MAGIC, private: BCRYPT_ECDSA_PRIVATE_P256_MAGIC },
      ECDH: { public: BCRYPT_ECDH_PUBLIC_P256_MAGIC, private: BCRYPT_ECDH_PRIVATE_P256_MAGIC },
    },
  },
  {
    name: 'P-384',
    oid: '1.3.132.0.34',
    ecParams: Buffer.from('06052b81040022', 'hex'),
    byteLength: 48,
    nodeCurve: 'secp384r1',
    ecdsaKeySpec: AT_ECDSA_P384,
    ecdhKeySpec: AT_ECDHE_P384,
    cngEcdsaAlgorithm: 'ECDSA_P384',
    cngEcdhAlgorithm: 'ECDH_P384',
    magic: {
      ECDSA: { public: BCRYPT_ECDSA_PUBLIC_P384_MAGIC, private: BCRYPT_ECDSA_PRIVATE_P384_MAGIC },
      ECDH: { public: BCRYPT_ECDH_PUBLIC_P384_MAGIC, private: BCRYPT_ECDH_PRIVATE_P384_MAGIC },
    },
  },
  {
    name: 'P-521',
    oid: '1.3.132.0.35',
    ecParams: Buffer.from('06052b81040023', 'hex'),
    byteLength: 66,
    nodeCurve: 'secp521r1',
    ecdsaKeySpec: AT_ECDSA_P521,
    ecdhKeySpec: AT_ECDHE_P521,
    cngEcdsaAlgorithm: 'ECDSA_P521',
    cngEcdhAlgorithm: 'ECDH_P521',
    magic: {
      ECDSA: { public: BCRYPT_ECDSA_PUBLIC_P521_MAGIC, private: BCRYPT_ECDSA_PRIVATE_P521_MAGIC },
      ECDH: { public: BCRYPT_ECDH_PUBLIC_P521_MAGIC, private: BCRYPT_ECDH_PRIVATE_P521_MAGIC },
    },
  },
];

/** Lookups return undefined when nothing matches, so each caller can raise the code its layer needs. */
export function curveByName(name: string): CurveInfo | undefined {
  return CURVES.find((curve) => curve.name === name);
}

/** The curve and usage of an AT_ECDSA_* / AT_ECDHE_* key spec. */
export function curveByKeySpec(keySpec: number): { curve: CurveInfo; usage: EccUsage } | undefined {
  for (const curve of CURVES) {
    if (curve.ecdsaKeySpec === keySpec) return { curve, usage: 'ECDSA' };
    if (curve.ecdhKeySpec === keySpec) return { curve, usage: 'ECDH' };
  }
  return undefined;
}

/** The curve whose DER ECParameters equal `ecParams` (e.g. a token's CKA_EC_PARAMS). */
export function curveByEcParams(ecParams: Uint8Array): CurveInfo | undefined {
  return CURVES.find((curve) => curve.ecParams.equals(ecParams));
}

/** The curve, usage and visibility a BCRYPT_ECCKEY_BLOB magic stands for. */
export function curveByMagic(magic: number): { curve: CurveInfo; usage: EccUsage; isPrivate: boolean } | undefined {
  for (const curve of CURVES) {
    for (const usage of ['ECDSA', 'ECDH'] as const) {
      if (curve.magic[usage].public === magic) return { curve, usage, isPrivate: false };
      if (curve.magic[usage].private === magic) return { curve, usage, isPrivate: true };
    }
  }
  return undefined;
}
