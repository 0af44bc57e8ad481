// graphene-pk11 as an independent second reader of a token: tests prove what our code wrote (or
// what pkcs11-tool wrote) by reading it back through a different PKCS#11 client library.
//
// In-process sharing: graphene loads the module through its own pkcs11js instance, but the dynamic
// loader hands it the SAME library instance our code uses. So:
//   - its C_Initialize may return CKR_CRYPTOKI_ALREADY_INITIALIZED: accepted (graphene's
//     Module.initialize swallows it; this helper re-initialises before every read, which also
//     recovers after someone else finalised and re-initialised the library);
//   - it never calls C_Finalize: that would end every session of our code in this process;
//   - login state is per token for the whole process: if our code is logged in, graphene's C_Login
//     returns CKR_USER_ALREADY_LOGGED_IN (accepted, and then graphene does not log out); if graphene
//     had to log in itself, it logs out before closing its session, leaving the state it found.
import * as graphene from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { pkcs11ErrorCode } from './pkcs11js-module.js';

const modules = new Map<string, graphene.Module>();

/** The process's graphene Module for a path, initialised (or found initialised). Never finalise it. */
export function openGrapheneModule(modulePath: string): graphene.Module {
  let module = modules.get(modulePath);
  if (!module) {
    module = graphene.Module.load(modulePath);
    modules.set(modulePath, module);
  }
  module.initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }); // tolerates ALREADY_INITIALIZED
  return module;
}

export interface GrapheneKeyQuery {
  modulePath: string;
  tokenLabel: string;
  /** User PIN; without it only public objects are visible. */
  pin?: string;
  keyLabel?: string;
  /** CKA_ID as hex. */
  id?: string;
}

export interface KeyAttributes {
  /** "CKO_PRIVATE_KEY", "CKO_PUBLIC_KEY", "CKO_SECRET_KEY". */
  class: string;
  /** "CKK_RSA", "CKK_EC", "CKK_AES", ... ("CKK_0x..." if unnamed). */
  keyType: string;
  token: boolean;
  private: boolean;
  label: string;
  /** CKA_ID in lower-case hex. */
  id: string;
  /** Private and secret keys only. */
  sensitive?: boolean;
  extractable?: boolean;
  alwaysSensitive?: boolean;
  neverExtractable?: boolean;
  alwaysAuthenticate?: boolean;
  local?: boolean;
  modifiable?: boolean;
  sign?: boolean;
  verify?: boolean;
  encrypt?: boolean;
  decrypt?: boolean;
  wrap?: boolean;
  unwrap?: boolean;
  derive?: boolean;
  /** RSA: CKA_MODULUS_BITS, or the CKA_MODULUS length for private keys that lack it. */
  modulusBits?: number;
  /** RSA, hex. */
  publicExponent?: string;
  /** EC, DER OID of the curve, hex (e.g. 06082a8648ce3d030107 = P-256). */
  ecParams?: string;
  /** EC public keys, DER OCTET STRING of the point, hex. */
  ecPoint?: string;
}

const KEY_CLASSES = new Map<number, string>([
  [pkcs11js.CKO_PUBLIC_KEY, 'CKO_PUBLIC_KEY'],
  [pkcs11js.CKO_PRIVATE_KEY, 'CKO_PRIVATE_KEY'],
  [pkcs11js.CKO_SECRET_KEY, 'CKO_SECRET_KEY'],
]);

const KEY_TYPES = new Map<number, string>([
  [pkcs11js.CKK_RSA, 'CKK_RSA'],
  [pkcs11js.CKK_EC, 'CKK_EC'],
  [pkcs11js.CKK_DSA, 'CKK_DSA'],
  [pkcs11js.CKK_DH, 'CKK_DH'],
  [pkcs11js.CKK_GENERIC_SECRET, 'CKK_GENERIC_SECRET'],
  [pkcs11js.CKK_AES, 'CKK_AES'],
  [pkcs11js.CKK_DES3, 'CKK_DES3'],
]);

/** Reads every key (public, private, secret) on the token matching keyLabel and/or id. */
export function readKeys(query: GrapheneKeyQuery): KeyAttributes[] {
  const module = openGrapheneModule(query.modulePath);
  const slot = findGrapheneSlot(module, query.tokenLabel);
  const session = slot.open(graphene.SessionFlag.SERIAL_SESSION);
  let loggedInHere = false;
  try {
    if (query.pin !== undefined) loggedInHere = loginIfNeeded(session, query.pin);
    const template: graphene.ITemplate = {};
    if (query.keyLabel !== undefined) template.label = query.keyLabel;
    if (query.id !== undefined) template.id = Buffer.from(query.id, 'hex');
    const found = session.find(template);
    const keys: KeyAttributes[] = [];
    for (let i = 0; i < found.length; i++) {
      const attributes = readKeyAttributes(found.items(i));
      if (attributes) keys.push(attributes);
    }
    return keys;
  } finally {
    if (loggedInHere) session.logout();
    session.close();
  }
}

/** Like readKeys, but exactly one key of the given class, or throws. */
export function readKey(query: GrapheneKeyQuery & { class: 'CKO_PRIVATE_KEY' | 'CKO_PUBLIC_KEY' | 'CKO_SECRET_KEY' }): KeyAttributes {
  const keys = readKeys(query).filter((k) => k.class === query.class);
  if (keys.length !== 1) {
    throw new Error(`expected one ${query.class} (label ${query.keyLabel}, id ${query.id}) on "${query.tokenLabel}", found ${keys.length}`);
  }
  return keys[0];
}

export function findGrapheneSlot(module: graphene.Module, tokenLabel: string): graphene.Slot {
  const slots = module.getSlots(true);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    if (slot.getToken().label.trimEnd() === tokenLabel) return slot;
  }
  throw new Error(`graphene: no token labelled "${tokenLabel}" in ${module.libFile}`);
}

/** True if this call logged in (so the caller must log out), false if the process already was. */
function loginIfNeeded(session: graphene.Session, pin: string): boolean {
  try {
    session.login(pin, graphene.UserType.USER);
    return true;
  } catch (error) {
    if (pkcs11ErrorCode(error) === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) return false;
    throw error;
  }
}

/**
 * Raw attribute reads by CKA number, one attribute per call: a template holding an attribute the object
 * lacks fails as a whole (CKR_ATTRIBUTE_TYPE_INVALID), and graphene's by-name reads map some numbers
 * back to another name (CKA_EC_PARAMS comes back as "paramsECDSA"). Undefined where the object lacks it.
 */
export function attributeReader(object: graphene.SessionObject) {
  const raw = (type: number): Buffer | undefined => {
    try {
      return object.getAttribute(type);
    } catch {
      return undefined;
    }
  };
  const ulong = (type: number) => {
    const b = raw(type);
    return b === undefined ? undefined : b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0);
  };
  const bool = (type: number) => {
    const b = raw(type);
    return b === undefined ? undefined : b[0] !== 0;
  };
  return { raw, ulong, bool };
}

function readKeyAttributes(object: graphene.SessionObject): KeyAttributes | undefined {
  const { raw, ulong, bool } = attributeReader(object);
  const hex = (type: number) => raw(type)?.toString('hex');

  const className = KEY_CLASSES.get(ulong(pkcs11js.CKA_CLASS) ?? -1);
  if (!className) return undefined;
  const keyTypeCode = ulong(pkcs11js.CKA_KEY_TYPE) ?? -1;
  const modulus = raw(pkcs11js.CKA_MODULUS);
  return withoutUndefined<KeyAttributes>({
    class: className,
    keyType: KEY_TYPES.get(keyTypeCode) ?? `CKK_0x${keyTypeCode.toString(16)}`,
    token: bool(pkcs11js.CKA_TOKEN) ?? false,
    private: bool(pkcs11js.CKA_PRIVATE) ?? false,
    label: raw(pkcs11js.CKA_LABEL)?.toString('utf8') ?? '',
    id: hex(pkcs11js.CKA_ID) ?? '',
    sensitive: bool(pkcs11js.CKA_SENSITIVE),
    extractable: bool(pkcs11js.CKA_EXTRACTABLE),
    alwaysSensitive: bool(pkcs11js.CKA_ALWAYS_SENSITIVE),
    neverExtractable: bool(pkcs11js.CKA_NEVER_EXTRACTABLE),
    alwaysAuthenticate: bool(pkcs11js.CKA_ALWAYS_AUTHENTICATE),
    local: bool(pkcs11js.CKA_LOCAL),
    modifiable: bool(pkcs11js.CKA_MODIFIABLE),
    sign: bool(pkcs11js.CKA_SIGN),
    verify: bool(pkcs11js.CKA_VERIFY),
    encrypt: bool(pkcs11js.CKA_ENCRYPT),
    decrypt: bool(pkcs11js.CKA_DECRYPT),
    wrap: bool(pkcs11js.CKA_WRAP),
    unwrap: bool(pkcs11js.CKA_UNWRAP),
    derive: bool(pkcs11js.CKA_DERIVE),
    modulusBits: ulong(pkcs11js.CKA_MODULUS_BITS) ?? (modulus ? significantBits(modulus) : undefined),
    publicExponent: hex(pkcs11js.CKA_PUBLIC_EXPONENT),
    ecParams: hex(pkcs11js.CKA_EC_PARAMS),
    ecPoint: hex(pkcs11js.CKA_EC_POINT),
  });
}

/** Attributes the object does not have are left out, so deepEqual and logs stay readable. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function significantBits(value: Buffer): number {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  return i === value.length ? 0 : (value.length - i) * 8 - Math.clz32(value[i]) + 24;
}
