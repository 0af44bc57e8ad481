/**
 * NCryptGetProperty / NCryptSetProperty: one table of the properties the smart card KSP answers, by
 * property name, with what each handle kind gives and which may be set.
 *
 * Windows' conventions (reference §1.9, N14–N18): a property a handle does not have is
 * NTE_NOT_SUPPORTED; one it could have but has no value for (a container without certificate, an
 * unset PIN prompt) is NTE_NOT_FOUND; a property that cannot be written is NTE_NOT_SUPPORTED on set.
 * Values: DWORD properties are numbers, string properties strings, the rest Buffers (api.md);
 * NCRYPT_PROVIDER_HANDLE_PROPERTY gives the provider handle object itself.
 */
import { ROLE_USER } from '../minidriver/constants.js';
import { encodePinInfo } from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import { presentPin } from '../smartcard/authentication.js';
import { assertCertifies, decodeCertificateBag, encodeCertificateBag, userCertificates } from '../smartcard/certificates.js';
import { qualifiedContainerName } from '../smartcard/container-spec.js';
import { MAX_CONTAINER_NAME_LEN } from '../minidriver/constants.js';
import {
  NCRYPT_ALGORITHM_GROUP_PROPERTY, NCRYPT_ALGORITHM_PROPERTY, NCRYPT_ALLOW_ALL_USAGES, NCRYPT_BLOCK_LENGTH_PROPERTY,
  NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_EXPORT_POLICY_PROPERTY, NCRYPT_IMPL_HARDWARE_FLAG, NCRYPT_IMPL_REMOVABLE_FLAG,
  NCRYPT_IMPL_SOFTWARE_FLAG, NCRYPT_IMPL_TYPE_PROPERTY, NCRYPT_KEY_TYPE_PROPERTY, NCRYPT_KEY_USAGE_PROPERTY, NCRYPT_LAST_MODIFIED_PROPERTY,
  NCRYPT_LENGTH_PROPERTY, NCRYPT_LENGTHS_PROPERTY, NCRYPT_MAX_NAME_LENGTH_PROPERTY, NCRYPT_MAX_PROPERTY_DATA,
  NCRYPT_MAX_PROPERTY_NAME, NCRYPT_NAME_PROPERTY, NCRYPT_PERSIST_FLAG, NCRYPT_PERSIST_ONLY_FLAG, NCRYPT_PIN_PROMPT_PROPERTY,
  NCRYPT_PIN_PROPERTY, NCRYPT_PROVIDER_HANDLE_PROPERTY, NCRYPT_PUBLIC_LENGTH_PROPERTY, NCRYPT_READER_PROPERTY,
  NCRYPT_ROOT_CERTSTORE_PROPERTY, NCRYPT_SCARD_PIN_ID, NCRYPT_SCARD_PIN_INFO, NCRYPT_SIGNATURE_LENGTH_PROPERTY,
  NCRYPT_SILENT_FLAG, NCRYPT_SMARTCARD_GUID_PROPERTY, NCRYPT_UI_POLICY_PROPERTY, NCRYPT_UNIQUE_NAME_PROPERTY,
  NCRYPT_USER_CERTSTORE_PROPERTY, NCRYPT_WINDOW_HANDLE_PROPERTY, NCRYPT_USE_CONTEXT_PROPERTY, propertyValueKind,
} from './constants.js';
import { checkFlags } from './flags.js';
import { type NCryptKeyHandle, NCryptProvHandle, type NCryptSecretHandle, useAnyHandle } from './handles.js';
import { authenticationContext, isSilent, onCard } from './key-access.js';
import { checkRequestedLength, encodeSupportedLengths } from './key-lengths.js';
import {
  type KeyState, keyUsageOf, type PendingKey, pendingBits, type PersistedKey, RSA_DEFAULT_BITS, RSA_MAX_BITS, RSA_MIN_BITS,
} from './key-model.js';

export type PropertyValue = Buffer | string | number | NCryptProvHandle;
type AnyHandle = NCryptProvHandle | NCryptKeyHandle | NCryptSecretHandle;

/** What a property call acts on: the provider, a key in one of its states, or a secret. */
type Target =
  | { kind: 'provider'; provider: NCryptProvHandle }
  | { kind: 'pending'; handle: NCryptKeyHandle; key: PendingKey }
  | { kind: 'persisted'; handle: NCryptKeyHandle; key: PersistedKey }
  | { kind: 'public'; handle: NCryptKeyHandle; key: KeyState }
  | { kind: 'secret'; handle: NCryptSecretHandle };
type Kind = Target['kind'];
type KeyTarget = Extract<Target, { key: unknown }>;

interface Call { flags: number; operation: string }

interface PropertyRule {
  /** Handle kinds that have the property; others get NTE_NOT_SUPPORTED. */
  get?: { kinds: readonly Kind[]; read(target: Target, call: Call): PropertyValue | Promise<PropertyValue> };
  set?: { kinds: readonly Kind[]; write(target: Target, value: Uint8Array | string | number, call: Call): void | Promise<void> };
}

const KEYS: readonly Kind[] = ['pending', 'persisted', 'public'];
const EXPORT_POLICY_NONE = 0;

const keyOf = (t: Target): KeyState => (t as KeyTarget).key;
const persisted = (t: Target): PersistedKey => (t as Extract<Target, { kind: 'persisted' }>).key;
const providerOf = (t: Target): NCryptProvHandle => (t.kind === 'provider' ? t.provider : t.handle.provider);
const isRsa = (t: Target): boolean => keyOf(t).algorithm.curve === undefined;
const bitsOf = (t: Target): number => { const k = keyOf(t); return k.kind === 'pending' ? pendingBits(k) : k.bits; };
const byteLength = (bits: number): number => Math.ceil(bits / 8);

function notFound(what: string, operation: string): never {
  throw new CryptError('NTE_NOT_FOUND', what, { operation });
}

/** Public card work of a persisted key (no PIN): certificates, PIN info, stores. */
function readCard<T>(t: Target, call: Call, work: (key: PersistedKey) => Promise<T>): Promise<T> {
  const key = persisted(t);
  return onCard((t as KeyTarget).handle, key, call.flags, call.operation, false, () => work(key));
}

/**
 * Card writes of a persisted key: authenticated, under the card's PIN policy. A read-only card refuses
 * before the PIN is asked.
 */
function writeCard(t: Target, call: Call, work: (key: PersistedKey) => Promise<void>): Promise<void> {
  const key = persisted(t);
  key.card.assertWritable(call.operation, 'nothing can be stored on it', key.container.name);
  return onCard((t as KeyTarget).handle, key, call.flags, call.operation, true, () => work(key));
}

const RULES: Readonly<Record<string, PropertyRule>> = {
  [NCRYPT_NAME_PROPERTY]: {
    get: {
      kinds: ['provider', 'pending', 'persisted'],
      read: (t, c) => {
        if (t.kind === 'provider') return t.provider.name;
        if (t.kind === 'persisted') return t.key.container.name;
        return (t as Extract<Target, { kind: 'pending' }>).key.name ?? notFound('this key gets its name (a new GUID) when it is finalized', c.operation);
      },
    },
  },
  [NCRYPT_UNIQUE_NAME_PROPERTY]: { get: { kinds: ['persisted'], read: (t) => qualifiedContainerName(persisted(t).card.szReader, persisted(t).container.name) } },
  [NCRYPT_ALGORITHM_PROPERTY]: { get: { kinds: KEYS, read: (t) => keyOf(t).algorithm.algId } },
  [NCRYPT_ALGORITHM_GROUP_PROPERTY]: { get: { kinds: KEYS, read: (t) => keyOf(t).algorithm.group } },
  [NCRYPT_LENGTH_PROPERTY]: {
    get: { kinds: KEYS, read: bitsOf },
    set: {
      kinds: ['pending'],
      write: (t, value, c) => {
        const key = keyOf(t) as PendingKey;
        const bits = value as number;
        if (key.algorithm.curve) {
          if (bits !== pendingBits(key)) throw new CryptError('NTE_INVALID_PARAMETER', `a ${key.algorithm.algId} key is ${pendingBits(key)} bits; the curve fixes its length`, { operation: c.operation });
          return;
        }
        checkRequestedLength(bits, c.operation);
        key.length = bits;
      },
    },
  },
  [NCRYPT_LENGTHS_PROPERTY]: {
    get: {
      kinds: KEYS,
      read: async (t, c) => {
        if (!isRsa(t)) { const bits = bitsOf(t); return encodeSupportedLengths({ dwVersion: 1, dwMinimumBitlen: bits, dwMaximumBitlen: bits, dwIncrementalBitlen: 0, dwDefaultBitlen: bits }); }
        if (t.kind === 'persisted') return encodeSupportedLengths(await readCard(t, c, (k) => k.card.keySizes(k.keySpec)));
        return encodeSupportedLengths({ dwVersion: 1, dwMinimumBitlen: RSA_MIN_BITS, dwMaximumBitlen: RSA_MAX_BITS, dwIncrementalBitlen: 8, dwDefaultBitlen: RSA_DEFAULT_BITS });
      },
    },
  },
  [NCRYPT_BLOCK_LENGTH_PROPERTY]: {
    get: { kinds: KEYS, read: (t, c) => (isRsa(t) ? byteLength(bitsOf(t)) : unsupported(NCRYPT_BLOCK_LENGTH_PROPERTY, 'an ECC key (it has no block)', c.operation)) },
  },
  [NCRYPT_SIGNATURE_LENGTH_PROPERTY]: { get: { kinds: KEYS, read: (t) => (isRsa(t) ? 1 : 2) * byteLength(bitsOf(t)) } },
  [NCRYPT_PUBLIC_LENGTH_PROPERTY]: { get: { kinds: KEYS, read: bitsOf } },
  [NCRYPT_KEY_USAGE_PROPERTY]: {
    get: { kinds: KEYS, read: (t) => { const k = keyOf(t); return k.kind === 'pending' ? k.keyUsage ?? NCRYPT_ALLOW_ALL_USAGES : keyUsageOf(k as PersistedKey); } },
    set: {
      kinds: ['pending'],
      write: (t, value, c) => {
        const usage = value as number;
        if (usage === 0 || (usage & ~NCRYPT_ALLOW_ALL_USAGES) !== 0) throw new CryptError('NTE_INVALID_PARAMETER', `key usage 0x${usage.toString(16)} is not a combination of NCRYPT_ALLOW_*_FLAG`, { operation: c.operation });
        (keyOf(t) as PendingKey).keyUsage = usage;
      },
    },
  },
  [NCRYPT_EXPORT_POLICY_PROPERTY]: {
    get: { kinds: KEYS, read: () => EXPORT_POLICY_NONE },
    set: {
      kinds: ['pending', 'persisted'],
      write: (_t, value, c) => {
        if (value !== EXPORT_POLICY_NONE) throw new CryptError('NTE_NOT_SUPPORTED', 'smart card keys are never exportable: the private key cannot leave the card; leave the export policy at 0', { operation: c.operation });
      },
    },
  },
  [NCRYPT_IMPL_TYPE_PROPERTY]: {
    get: {
      kinds: ['provider', ...KEYS],
      read: async (t) => {
        if (t.kind === 'public') return NCRYPT_IMPL_SOFTWARE_FLAG; // an imported public key lives in host memory
        if (t.kind !== 'persisted') return NCRYPT_IMPL_HARDWARE_FLAG;
        const entry = (await t.handle.provider.service.snapshot()).find((e) => e.szReader === t.key.card.szReader);
        return NCRYPT_IMPL_HARDWARE_FLAG | (entry?.state.removable ? NCRYPT_IMPL_REMOVABLE_FLAG : 0);
      },
    },
  },
  [NCRYPT_KEY_TYPE_PROPERTY]: { get: { kinds: KEYS, read: () => 0 } }, // card keys belong to no user or machine store
  [NCRYPT_MAX_NAME_LENGTH_PROPERTY]: { get: { kinds: ['provider'], read: () => MAX_CONTAINER_NAME_LEN } },
  [NCRYPT_PROVIDER_HANDLE_PROPERTY]: { get: { kinds: [...KEYS, 'secret'], read: (t) => providerOf(t) } },
  [NCRYPT_READER_PROPERTY]: { get: { kinds: ['persisted'], read: (t) => persisted(t).card.szReader } },
  [NCRYPT_SMARTCARD_GUID_PROPERTY]: { get: { kinds: ['persisted'], read: (t) => Buffer.from(persisted(t).card.guid) } },
  [NCRYPT_SCARD_PIN_ID]: { get: { kinds: ['persisted'], read: () => ROLE_USER } },
  [NCRYPT_SCARD_PIN_INFO]: { get: { kinds: ['persisted'], read: (t, c) => readCard(t, c, async (k) => encodePinInfo(await k.card.pinInfo(ROLE_USER))) } },
  [NCRYPT_CERTIFICATE_PROPERTY]: {
    get: {
      kinds: KEYS,
      read: async (t, c) => {
        const der = t.kind === 'persisted' ? await readCard(t, c, (k) => k.card.readCertificate(k.container.index, k.keySpec)) : undefined;
        return der ?? notFound('the key has no certificate on the card; set one with NCryptSetProperty(NCRYPT_CERTIFICATE_PROPERTY)', c.operation);
      },
    },
    set: {
      kinds: ['persisted'],
      write: (t, value, c) => {
        assertCertifies(value as Uint8Array, persisted(t).publicKey, c.operation);
        return writeCard(t, c, (k) => k.card.writeCertificate(k.container.index, k.keySpec, value as Uint8Array));
      },
    },
  },
  [NCRYPT_USER_CERTSTORE_PROPERTY]: {
    get: { kinds: ['persisted'], read: (t, c) => readCard(t, c, async (k) => encodeCertificateBag((await userCertificates(k.card)).map((cert) => cert.der))) },
  },
  [NCRYPT_ROOT_CERTSTORE_PROPERTY]: {
    get: { kinds: ['persisted'], read: (t, c) => readCard(t, c, async (k) => (await k.card.readRootStore()) ?? encodeCertificateBag([])) },
    set: {
      kinds: ['persisted'],
      write: (t, value, c) => {
        const certs = decodeCertificateBag(value as Uint8Array, c.operation);
        return writeCard(t, c, (k) => k.card.writeRootStore(encodeCertificateBag(certs)));
      },
    },
  },
  [NCRYPT_PIN_PROPERTY]: {
    set: {
      kinds: ['provider', 'pending', 'persisted'],
      write: async (t, value, c) => {
        const pin = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value as Uint8Array);
        try {
          if (pin.length === 0) throw new CryptError('NTE_INVALID_PARAMETER', 'the PIN is empty; pass the PIN as a string or its bytes', { operation: c.operation });
          if (t.kind !== 'persisted') {
            // No card yet: the provider holds it (in locked memory) for the first card its keys use.
            providerOf(t).setPin(pin);
            return;
          }
          const key = t.key;
          await onCard(t.handle, key, c.flags, c.operation, false,
            () => presentPin(authenticationContext(t.handle.provider, key.card, key.container.name, isSilent(c.flags, key.silent), c.operation), pin));
        } finally {
          pin.fill(0);
        }
      },
    },
  },
  [NCRYPT_PIN_PROMPT_PROPERTY]: {
    get: { kinds: ['provider', ...KEYS], read: (t, c) => providerOf(t).pinPrompt ?? notFound('no PIN prompt text is set; the default prompt is used', c.operation) },
    set: { kinds: ['provider', ...KEYS], write: (t, value) => { providerOf(t).pinPrompt = value as string; } },
  },
  // Windows keys have these but a card key never holds a value (N16): NTE_NOT_FOUND, as for software keys.
  [NCRYPT_UI_POLICY_PROPERTY]: { get: { kinds: KEYS, read: (_t, c) => notFound('smart card keys have no UI policy: the card PIN protects them', c.operation) } },
  [NCRYPT_WINDOW_HANDLE_PROPERTY]: { get: { kinds: [...KEYS, 'provider'], read: (_t, c) => notFound('no window handle is set (there are no windows here)', c.operation) } },
  [NCRYPT_USE_CONTEXT_PROPERTY]: { get: { kinds: KEYS, read: (_t, c) => notFound('no use context is set', c.operation) } },
  [NCRYPT_LAST_MODIFIED_PROPERTY]: { get: { kinds: KEYS, read: (_t, c) => notFound('cards do not record when a key was modified', c.operation) } },
};

function unsupported(property: string, what: string, operation: string): never {
  throw new CryptError('NTE_NOT_SUPPORTED', `${what} has no property "${property}"`, { operation });
}

function targetOf(h: AnyHandle): Target {
  if (h instanceof NCryptProvHandle) return { kind: 'provider', provider: h };
  if (h.kind === 'secret') return { kind: 'secret', handle: h };
  const key = h.state;
  if (key.kind === 'pending') return { kind: 'pending', handle: h, key };
  if (key.kind === 'persisted') return { kind: 'persisted', handle: h, key };
  return { kind: 'public', handle: h, key };
}

const KIND_NAMES: Record<Kind, string> = {
  provider: 'a provider handle', pending: 'a key that is not finalized yet', persisted: 'a smart card key', public: 'an imported public key', secret: 'a secret handle',
};

function checkPropertyName(property: unknown, operation: string): string {
  if (typeof property !== 'string' || property.length === 0) throw new CryptError('NTE_INVALID_PARAMETER', 'pszProperty must be a property name (NCRYPT_*_PROPERTY)', { operation });
  if (property.length > NCRYPT_MAX_PROPERTY_NAME) throw new CryptError('NTE_INVALID_PARAMETER', `property names have at most ${NCRYPT_MAX_PROPERTY_NAME} characters`, { operation });
  return property;
}

export async function NCryptGetProperty(hObject: AnyHandle, property: string, flags = 0): Promise<PropertyValue> {
  const operation = 'NCryptGetProperty';
  const h = useAnyHandle(hObject, operation);
  checkFlags(flags, NCRYPT_SILENT_FLAG, operation);
  const name = checkPropertyName(property, operation);
  const target = targetOf(h);
  const rule = Object.hasOwn(RULES, name) ? RULES[name]!.get : undefined;
  if (!rule) throw new CryptError('NTE_NOT_SUPPORTED', RULES[name]?.set ? `"${name}" can be set but not read` : `the smart card key storage provider has no property "${name}"`, { operation });
  if (!rule.kinds.includes(target.kind)) unsupported(name, KIND_NAMES[target.kind], operation);
  return rule.read(target, { flags, operation });
}

export async function NCryptSetProperty(hObject: AnyHandle, property: string, value: Uint8Array | string | number, flags = 0): Promise<void> {
  const operation = 'NCryptSetProperty';
  const h = useAnyHandle(hObject, operation);
  checkFlags(flags, NCRYPT_SILENT_FLAG | NCRYPT_PERSIST_FLAG | NCRYPT_PERSIST_ONLY_FLAG, operation);
  const name = checkPropertyName(property, operation);
  const target = targetOf(h);
  const rule = Object.hasOwn(RULES, name) ? RULES[name]!.set : undefined;
  if (!rule) {
    throw new CryptError('NTE_NOT_SUPPORTED', RULES[name]?.get ? `"${name}" is read-only` : `the smart card key storage provider has no property "${name}"`, { operation });
  }
  if (!rule.kinds.includes(target.kind)) {
    const hint = target.kind === 'persisted' ? ': it is fixed once the key is finalized' : target.kind === 'pending' ? ': finalize the key first' : '';
    throw new CryptError('NTE_NOT_SUPPORTED', `"${name}" cannot be set on ${KIND_NAMES[target.kind]}${hint}`, { operation });
  }
  checkValue(name, value, operation);
  await rule.write(target, value, { flags, operation });
}

/** The value's type must be the property's (DWORD → number, string → string, else bytes); PINs may be either. */
function checkValue(name: string, value: unknown, operation: string): void {
  const kind = name === NCRYPT_PIN_PROPERTY ? (typeof value === 'string' ? 'string' : 'bytes') : propertyValueKind(name);
  const ok = kind === 'dword' ? Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff
    : kind === 'string' ? typeof value === 'string'
      : value instanceof Uint8Array;
  if (!ok) throw new CryptError('NTE_INVALID_PARAMETER', `"${name}" takes ${kind === 'dword' ? 'a DWORD (a number from 0 to 0xFFFFFFFF)' : kind === 'string' ? 'a string' : 'bytes (a Uint8Array or Buffer)'}`, { operation });
  const size = typeof value === 'string' ? (value.length + 1) * 2 : value instanceof Uint8Array ? value.length : 4;
  if (size > NCRYPT_MAX_PROPERTY_DATA) throw new CryptError('NTE_INVALID_PARAMETER', `property values are at most ${NCRYPT_MAX_PROPERTY_DATA} bytes`, { operation });
}
