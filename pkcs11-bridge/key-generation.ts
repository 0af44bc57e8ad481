import { randomBytes } from 'node:crypto';
import { CryptError } from '../minidriver/errors.js';
import { curveByName, decodeEccBlob, decodeRsaPrivateKeyBlob, toUncompressedPoint } from '../minidriver/codecs/index.js';
import { CURVES, type CurveInfo } from '../minidriver/codecs/curves.js';
import { curveBits, ecPointAttribute } from './ec-points.js';
import type { KeySpecInfo } from './context-core.js';
import { pk, type Pkcs11Handle, type Template } from './pkcs11.js';
import type { Token } from './token.js';

const A = pk;

/** Attributes every key made here carries: a container key pair that other PKCS#11 tools recognise. */
function commonPublic(label: string, id: Buffer): Template {
  return [
    { type: A.CKA_CLASS, value: A.CKO_PUBLIC_KEY },
    { type: A.CKA_TOKEN, value: true },
    { type: A.CKA_PRIVATE, value: false },
    { type: A.CKA_LABEL, value: label },
    { type: A.CKA_ID, value: id },
  ];
}

/** Private keys never leave the token: sensitive, not extractable, private. */
function commonPrivate(label: string, id: Buffer): Template {
  return [
    { type: A.CKA_CLASS, value: A.CKO_PRIVATE_KEY },
    { type: A.CKA_TOKEN, value: true },
    { type: A.CKA_PRIVATE, value: true },
    { type: A.CKA_SENSITIVE, value: true },
    { type: A.CKA_EXTRACTABLE, value: false },
    { type: A.CKA_LABEL, value: label },
    { type: A.CKA_ID, value: id },
  ];
}

/** Usage by slot: key-exchange keys decrypt/unwrap (RSA) or derive (EC); every RSA key may sign. */
function usage(spec: KeySpecInfo): { pub: Template; priv: Template } {
  if (spec.kind === 'RSA') {
    const keyx = spec.role === 'keyx';
    return {
      pub: [{ type: A.CKA_VERIFY, value: true }, { type: A.CKA_ENCRYPT, value: keyx }, { type: A.CKA_WRAP, value: keyx }],
      priv: [{ type: A.CKA_SIGN, value: true }, { type: A.CKA_DECRYPT, value: keyx }, { type: A.CKA_UNWRAP, value: keyx }],
    };
  }
  const ecdh = spec.role === 'keyx';
  return {
    pub: [{ type: A.CKA_VERIFY, value: !ecdh }, { type: A.CKA_DERIVE, value: ecdh }, { type: A.CKA_ENCRYPT, value: false }, { type: A.CKA_WRAP, value: false }],
    priv: [{ type: A.CKA_SIGN, value: !ecdh }, { type: A.CKA_DERIVE, value: ecdh }, { type: A.CKA_DECRYPT, value: false }, { type: A.CKA_UNWRAP, value: false }],
  };
}

export function curveForBits(bits: number): CurveInfo {
  const curve = CURVES.find((c) => curveBits(c) === bits);
  if (!curve) throw new CryptError('SCARD_E_INVALID_PARAMETER', `no curve of ${bits} bits`, { operation: 'CardCreateContainer' });
  return curve;
}

/** A fresh CKA_ID shared by the private key, public key and certificate of one key pair. */
export function newKeyId(): Buffer {
  return randomBytes(16);
}

/**
 * Generates a key pair on the token. Slow (disk-bound on SoftHSM2, seconds on cards): always pooled.
 * Callers hold Token.exclusive: nothing else touches the token's objects meanwhile.
 */
export function generateKeyPair(token: Token, spec: KeySpecInfo, bits: number, label: string, id: Buffer, container: string): Promise<void> {
  const u = usage(spec);
  const mechanism = { mechanism: spec.kind === 'RSA' ? A.CKM_RSA_PKCS_KEY_PAIR_GEN : A.CKM_EC_KEY_PAIR_GEN };
  const pub: Template = spec.kind === 'RSA'
    ? [...commonPublic(label, id), { type: A.CKA_KEY_TYPE, value: A.CKK_RSA }, { type: A.CKA_MODULUS_BITS, value: bits }, { type: A.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }, ...u.pub]
    : [...commonPublic(label, id), { type: A.CKA_KEY_TYPE, value: A.CKK_EC }, { type: A.CKA_EC_PARAMS, value: curveForBits(bits).ecParams }, ...u.pub];
  const priv: Template = [...commonPrivate(label, id), { type: A.CKA_KEY_TYPE, value: spec.kind === 'RSA' ? A.CKK_RSA : A.CKK_EC }, ...u.priv];
  return token.dispatcher.track(token.pooled('CardCreateContainer', async (s) => {
    await token.pkcs11.C_GenerateKeyPairAsync(s, mechanism, pub, priv);
  }, container));
}

/**
 * Imports a key pair (CARD_CREATE_CONTAINER_KEY_IMPORT): a CAPI PRIVATEKEYBLOB for RSA, a BCRYPT ECC
 * private blob for ECC. The private key is stored sensitive and non-extractable like a generated one.
 */
export function importKeyPair(token: Token, session: Pkcs11Handle, spec: KeySpecInfo, keyData: Uint8Array, label: string, id: Buffer): number {
  const op = 'CardCreateContainer';
  const u = usage(spec);
  if (spec.kind === 'RSA') {
    const k = decodeRsaPrivateKeyBlob(keyData);
    token.pkcs11.C_CreateObject(session, [...commonPrivate(label, id), { type: A.CKA_KEY_TYPE, value: A.CKK_RSA }, ...u.priv,
      { type: A.CKA_MODULUS, value: k.modulus }, { type: A.CKA_PUBLIC_EXPONENT, value: k.publicExponent },
      { type: A.CKA_PRIVATE_EXPONENT, value: k.privateExponent }, { type: A.CKA_PRIME_1, value: k.prime1 },
      { type: A.CKA_PRIME_2, value: k.prime2 }, { type: A.CKA_EXPONENT_1, value: k.exponent1 },
      { type: A.CKA_EXPONENT_2, value: k.exponent2 }, { type: A.CKA_COEFFICIENT, value: k.coefficient }]);
    token.pkcs11.C_CreateObject(session, [...commonPublic(label, id), { type: A.CKA_KEY_TYPE, value: A.CKK_RSA }, ...u.pub,
      { type: A.CKA_MODULUS, value: k.modulus }, { type: A.CKA_PUBLIC_EXPONENT, value: k.publicExponent }]);
    return k.bitLength;
  }
  const blob = decodeEccBlob(keyData);
  const curve = curveByName(blob.curve)!;
  const wantUsage = spec.role === 'keyx' ? 'ECDH' : 'ECDSA';
  if (!blob.isPrivate || !blob.d || blob.usage !== wantUsage || curveBits(curve) !== spec.curveBits) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `the key blob must be a ${wantUsage} P-${spec.curveBits} private key blob`, { operation: op });
  }
  token.pkcs11.C_CreateObject(session, [...commonPrivate(label, id), { type: A.CKA_KEY_TYPE, value: A.CKK_EC }, ...u.priv,
    { type: A.CKA_EC_PARAMS, value: curve.ecParams }, { type: A.CKA_VALUE, value: blob.d }]);
  token.pkcs11.C_CreateObject(session, [...commonPublic(label, id), { type: A.CKA_KEY_TYPE, value: A.CKK_EC }, ...u.pub,
    { type: A.CKA_EC_PARAMS, value: curve.ecParams }, { type: A.CKA_EC_POINT, value: ecPointAttribute(toUncompressedPoint(blob.x, blob.y, blob.curve)) }]);
  return spec.curveBits!;
}

/** Destroys every object of a key pair: private key, public key and certificates sharing its CKA_ID. */
export function destroyKeyPair(token: Token, session: Pkcs11Handle, id: Buffer): void {
  for (const cls of [A.CKO_PRIVATE_KEY, A.CKO_PUBLIC_KEY, A.CKO_CERTIFICATE]) {
    for (const handle of token.find(session, [{ type: A.CKA_CLASS, value: cls }, { type: A.CKA_ID, value: id }])) {
      token.pkcs11.C_DestroyObject(session, handle);
    }
  }
}
