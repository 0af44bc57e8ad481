import { createHash } from 'node:crypto';
import type { OneShot } from './one-shot.js';
import type { Pkcs11Handle } from './pkcs11.js';
import { ckrOf, pk } from './pkcs11.js';
import type { Token } from './token.js';
import { type CurveInfo, curveBits, curveByEcParams, pointFromEcPointAttribute } from './ec-points.js';

/** Which container slot a key occupies: Windows' AT_SIGNATURE or AT_KEYEXCHANGE (ECDSA / ECDH). */
export type KeyRole = 'sig' | 'keyx';

/**
 * A key pair on the token as the containers see it: one private key and/or its public key, paired by
 * CKA_ID. What a container needs to answer CardGetContainerInfo and to sign without further lookups.
 */
export interface KeyPair {
  id: Buffer;
  label: string;
  role: KeyRole;
  kind: 'RSA' | 'EC';
  bits: number;
  /** RSA: big-endian modulus and public exponent. */
  modulus?: Buffer;
  publicExponent?: Buffer;
  /** EC: the curve and the uncompressed point 04||X||Y. */
  curve?: CurveInfo;
  point?: Buffer;
  publicHandle?: Pkcs11Handle;
  privateHandle?: Pkcs11Handle;
  /** Token.loginEpoch when privateHandle was found; stale after a logout. */
  privateEpoch?: number;
  /** This key's single-part operations (one-shot.ts), made at first use. */
  oneShots?: { sign?: OneShot; decrypt?: OneShot };
}

const A = pk;

/**
 * Every key pair the application can see on the token. Public keys are visible without login, private
 * keys only after it; keys of other tools appear too. Pairs are matched by CKA_ID and key type.
 * Role: a key that may decrypt, unwrap or derive is a key-exchange key; a sign-only key is a signature
 * key (as OpenSC's minidriver decides).
 */
export function discoverKeyPairs(token: Token, session: Pkcs11Handle): KeyPair[] {
  const pairs = new Map<string, KeyPair>();
  const keyOf = (id: Buffer, kind: string) => `${kind}:${id.toString('hex')}`;

  for (const handle of token.find(session, [{ type: A.CKA_CLASS, value: A.CKO_PUBLIC_KEY }])) {
    const pair = readKeyIfPresent(token, session, handle, false);
    if (pair) pairs.set(keyOf(pair.id, pair.kind), pair);
  }
  for (const handle of token.find(session, [{ type: A.CKA_CLASS, value: A.CKO_PRIVATE_KEY }])) {
    const priv = readKeyIfPresent(token, session, handle, true);
    if (!priv) continue;
    const existing = pairs.get(keyOf(priv.id, priv.kind));
    if (existing) {
      existing.privateHandle = handle;
      existing.privateEpoch = token.loginEpoch;
      existing.role = priv.role; // the private key's usage decides the slot
      if (!existing.label && priv.label) existing.label = priv.label;
    } else {
      pairs.set(keyOf(priv.id, priv.kind), priv);
    }
  }
  return [...pairs.values()];
}

/** A key another process deleted between the search and the read is simply not there. */
function readKeyIfPresent(token: Token, session: Pkcs11Handle, handle: Pkcs11Handle, isPrivate: boolean): KeyPair | undefined {
  try {
    return readKey(token, session, handle, isPrivate);
  } catch (err) {
    if (ckrOf(err) === A.CKR_OBJECT_HANDLE_INVALID) return undefined;
    throw err;
  }
}

/** The usage attributes of a private key, and of a public key, in one order: decrypt, unwrap, derive, sign. */
const PRIVATE_USAGE = [A.CKA_DECRYPT, A.CKA_UNWRAP, A.CKA_DERIVE, A.CKA_SIGN];
const PUBLIC_USAGE = [A.CKA_ENCRYPT, A.CKA_WRAP, A.CKA_DERIVE, A.CKA_VERIFY];

/** CK_BBOOL read as a flag: a missing or empty value is false. */
const flag = (value: Buffer | undefined): boolean => value?.[0] === 1;

/**
 * A key object as a key pair half, in two token calls: identity, type and usage together, then the
 * public numbers of its type (RSA modulus and exponent; EC parameters, and the point of a public key).
 * A token that refuses one of the usage attributes for this key (CKR_ATTRIBUTE_TYPE_INVALID fails the
 * whole template) gets them asked one by one, each refused one counting as false.
 */
function readKey(token: Token, session: Pkcs11Handle, handle: Pkcs11Handle, isPrivate: boolean): KeyPair | undefined {
  const usageTypes = isPrivate ? PRIVATE_USAGE : PUBLIC_USAGE;
  let id: Buffer;
  let label: Buffer;
  let keyType: Buffer;
  let usageFlags: boolean[];
  try {
    const values = token.attributes(session, handle, [A.CKA_ID, A.CKA_LABEL, A.CKA_KEY_TYPE, ...usageTypes]);
    [id, label, keyType] = values as [Buffer, Buffer, Buffer];
    usageFlags = values.slice(3).map(flag);
  } catch (err) {
    if (!refusedAttribute(err)) throw err;
    [id, label, keyType] = token.attributes(session, handle, [A.CKA_ID, A.CKA_LABEL, A.CKA_KEY_TYPE]) as [Buffer, Buffer, Buffer];
    usageFlags = usageTypes.map((type) => {
      try {
        return flag(token.attributes(session, handle, [type])[0]);
      } catch {
        return false; // attribute not defined for this key type
      }
    });
  }
  const type = keyType.readUInt32LE(0);
  const usage = { decrypt: usageFlags[0]! || usageFlags[1]!, derive: usageFlags[2]!, sign: usageFlags[3]! };
  // RSA: a key that decrypts or unwraps is the key-exchange key. EC: a signing key is ECDSA, a key that
  // only derives is ECDH (CKA_DECRYPT means nothing for EC keys; SoftHSM2 even sets it by default).
  const role: KeyRole = type === A.CKK_EC ? (!usage.sign && usage.derive ? 'keyx' : 'sig') : usage.decrypt ? 'keyx' : 'sig';
  const base = { id: Buffer.from(id), label: label.toString('utf8'), role };
  if (type === A.CKK_RSA) {
    const [modulus, publicExponent] = token.attributes(session, handle, [A.CKA_MODULUS, A.CKA_PUBLIC_EXPONENT]);
    const m = stripLeadingZeros(modulus!);
    return {
      ...base, kind: 'RSA', bits: bitLength(m), modulus: m, publicExponent: stripLeadingZeros(publicExponent!),
      ...(isPrivate ? { privateHandle: handle, privateEpoch: token.loginEpoch } : { publicHandle: handle }),
    };
  }
  if (type === A.CKK_EC) {
    const values = token.attributes(session, handle, isPrivate ? [A.CKA_EC_PARAMS] : [A.CKA_EC_PARAMS, A.CKA_EC_POINT]);
    const curve = curveByEcParams(values[0]!);
    if (!curve) return undefined; // a curve Windows cards do not use (only P-256/384/521 are containers)
    const point = isPrivate ? undefined : pointFromEcPointAttribute(values[1]!, curve);
    return {
      ...base, kind: 'EC', bits: curveBits(curve), curve, point,
      ...(isPrivate ? { privateHandle: handle, privateEpoch: token.loginEpoch } : { publicHandle: handle }),
    };
  }
  return undefined; // DSA, GOST, EdDSA...: not a Windows container key
}

/** A template the token refused for one of its attribute types (not a failure of the object). */
function refusedAttribute(err: unknown): boolean {
  const rv = ckrOf(err);
  return rv === A.CKR_ATTRIBUTE_TYPE_INVALID || rv === A.CKR_ATTRIBUTE_SENSITIVE;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i));
}

function bitLength(be: Buffer): number {
  if (be.length === 0) return 0;
  return (be.length - 1) * 8 + (32 - Math.clz32(be[0]));
}

/**
 * A stable container name for a key pair another tool made, when its label cannot serve: SHA-1 of
 * CKA_ID ‖ token serial as a lowercase GUID string (the scheme OpenSC's minidriver uses).
 */
export function derivedContainerName(id: Buffer, serial: string): string {
  const h = createHash('sha1').update(id).update(serial).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The pair's private key handle if one is held and still valid (found since the last login). */
export function heldPrivateHandle(token: Token, pair: KeyPair): Pkcs11Handle | undefined {
  return pair.privateEpoch === token.loginEpoch ? pair.privateHandle : undefined;
}

/** The private key handle of a pair, looked up by identity when not known or stale. */
export function privateKeyHandle(token: Token, session: Pkcs11Handle, pair: KeyPair): Pkcs11Handle | undefined {
  const held = heldPrivateHandle(token, pair);
  if (held) return held;
  const found = token.find(session, [
    { type: A.CKA_CLASS, value: A.CKO_PRIVATE_KEY },
    { type: A.CKA_ID, value: pair.id },
    { type: A.CKA_KEY_TYPE, value: pair.kind === 'RSA' ? A.CKK_RSA : A.CKK_EC },
  ], 1);
  pair.privateHandle = found[0];
  pair.privateEpoch = token.loginEpoch;
  return pair.privateHandle;
}
