/**
 * CryptGetProvParam / CryptSetProvParam: one table of the parameters the smart card CSP answers, by
 * PP_* number, with what each gives and which may be set.
 *
 * Windows' conventions (reference §1.3, P1–P5): a parameter the provider does not have — or one asked
 * the wrong way round (reading a set-only parameter such as PP_KEYEXCHANGE_PIN, setting a read-only one
 * such as PP_NAME) — is NTE_BAD_TYPE, as rsaenh answers every dwParam its switch does not handle.
 * dwFlags other than the parameter's (CRYPT_FIRST / CRYPT_NEXT for the enumerations, else 0) are
 * NTE_BAD_FLAGS; a value of the wrong type is ERROR_INVALID_PARAMETER. The size-query convention (P1)
 * disappears: values come back whole (api.md) — DWORDs as numbers, ANSI strings as strings, structures
 * and GUIDs as Buffers, certificate stores as X509Certificate arrays.
 *
 * Card parameters answer for the context's card. A CRYPT_VERIFYCONTEXT context acquired with a null
 * name has none until a parameter needs it: then the first card present is bound, without a UI
 * (context.ts contextCard), and stays bound.
 */
import { AT_KEYEXCHANGE, AT_SIGNATURE, CALG_RSA_SIGN } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { wipe } from '../native/index.js';
import { x509 } from '../minidriver/x509.js';
import { presentPin } from '../smartcard/authentication.js';
import type { SmartCard } from '../smartcard/card.js';
import { decodeCertificateBag, encodeCertificateBag, parseCertificate, userCertificates } from '../smartcard/certificates.js';
import { qualifiedContainerName } from '../smartcard/container-spec.js';
import { setCardPromptText } from '../smartcard/ui.js';
import { CSP_ALGORITHMS, type CspAlgorithm } from './algorithms.js';
import { authenticationContext, onCard } from './card-access.js';
import {
  CRYPT_FIRST, CRYPT_IMPL_HARDWARE, CRYPT_IMPL_REMOVABLE, CRYPT_MACHINE_KEYSET, CRYPT_NEXT, PP_CONTAINER, PP_ENUMALGS, PP_ENUMALGS_EX,
  PP_ENUMCONTAINERS, PP_IMPTYPE, PP_KEYEXCHANGE_PIN, PP_KEYSET_TYPE, PP_KEYSPEC, PP_KEYX_KEYSIZE_INC, PP_NAME, PP_PIN_PROMPT_STRING,
  PP_PROVTYPE, PP_ROOT_CERTSTORE, PP_SIG_KEYSIZE_INC, PP_SIGNATURE_PIN, PP_SMARTCARD_GUID, PP_SMARTCARD_READER, PP_UI_PROMPT,
  PP_UNIQUE_CONTAINER, PP_USER_CERTSTORE, PP_VERSION,
} from './constants.js';
import { contextCard } from './context.js';
import { type HCRYPTPROV, useHandle } from './handles.js';

/** A certificate of PP_USER_CERTSTORE with the key it certifies (Windows' CRYPT_KEY_PROV_INFO role). */
export type UserCertificate = x509.X509Certificate & {
  /** The card container holding the key (open it with CryptAcquireContext). */
  readonly container: string;
  /** The key's slot: AT_KEYEXCHANGE or AT_SIGNATURE (AT_ECDSA_* / AT_ECDHE_* for EC keys made through CNG). */
  readonly keySpec: number;
};

export type ProvParamValue = Buffer | string | number | x509.X509Certificate[];
export type ProvParamInput = Uint8Array | string | number | x509.X509Certificate[];

/** PP_VERSION: 2.0. */
const CSP_VERSION = 0x00000200;
/** PROV_ENUMALGS: aiAlgid, dwBitLen, dwNameLen, szName[20] (reference §3.6). */
const PROV_ENUMALGS_SIZE = 32;
/** PROV_ENUMALGS_EX: aiAlgid, dwDefaultLen, dwMinLen, dwMaxLen, dwProtocols, dwNameLen, szName[20], dwLongNameLen, szLongName[40]. */
const PROV_ENUMALGS_EX_SIZE = 88;
const NAME_CHARS = 20;
const LONG_NAME_CHARS = 40;
/**
 * RSA lengths when the context has no card to ask (CRYPT_VERIFYCONTEXT with no name, before any card
 * parameter): the values Microsoft's CSPs report (reference §3.6 and P5).
 */
const RSA_WITHOUT_CARD = { defaultBits: 1024, minBits: 384, maxBits: 16384, incrementBits: 8 } as const;

interface Call {
  prov: HCRYPTPROV;
  flags: number;
  operation: string;
}

/** What a setter takes, after the value was checked (ERROR_INVALID_PARAMETER otherwise). */
interface Takes {
  /** A string, or UTF-16LE bytes up to a NUL (LPCWSTR). */
  text: string;
  /** A string or bytes; a C string: it ends at the first NUL. A copy the caller wipes. */
  pin: Buffer;
  certificates: x509.X509Certificate[];
}

type Setter = { [K in keyof Takes]: { takes: K; write(call: Call, value: Takes[K]): void | Promise<void> } }[keyof Takes];

interface ParamRule {
  /** The wincrypt.h name, for messages. */
  name: string;
  get?: {
    /** dwFlags bits accepted (default none). */
    flags?: number;
    read(call: Call): ProvParamValue | Promise<ProvParamValue>;
  };
  set?: Setter;
}

const ENUM_FLAGS = CRYPT_FIRST | CRYPT_NEXT;

/** Card work of a parameter: the context's card (bound now if needed), removal reported. */
async function withCard<T>(call: Call, needsPin: boolean, work: (card: SmartCard) => Promise<T>, writeRefused?: string): Promise<T> {
  const card = await contextCard(call.prov, call.operation);
  // A write to a read-only card is refused before the PIN is asked.
  if (writeRefused !== undefined) card.assertWritable(call.operation, writeRefused);
  return onCard(call.prov, card, call.operation, needsPin, () => work(card));
}

/** The enumeration position to read: CRYPT_FIRST restarts, CRYPT_NEXT (or 0) continues (P2, P3). */
function nextPosition(current: number | undefined, flags: number): number {
  return flags & CRYPT_FIRST ? 0 : current ?? 0;
}

function noMoreItems(what: string, operation: string): never {
  throw new CryptError('ERROR_NO_MORE_ITEMS', `no more ${what}; call again with CRYPT_FIRST to start over`, { operation });
}

/** An ASCII name in a fixed CHAR array: NUL-terminated, the rest zero. */
function writeName(out: Buffer, offset: number, chars: number, name: string): void {
  if (name.length >= chars || !/^[\x20-\x7e]*$/.test(name)) throw new Error(`algorithm name "${name}" does not fit CHAR[${chars}]`);
  out.write(name, offset, 'latin1');
}

interface Lengths { defaultBits: number; minBits: number; maxBits: number }

/** RSA lengths of the context's card (CardQueryKeySizes), or Microsoft's when no card is bound. */
async function rsaLengths(call: Call, algId: number): Promise<Lengths & { incrementBits: number }> {
  const card = call.prov.context.card;
  if (!card) return RSA_WITHOUT_CARD;
  const keySpec = algId === CALG_RSA_SIGN ? AT_SIGNATURE : AT_KEYEXCHANGE;
  const sizes = await onCard(call.prov, card, call.operation, false, () => card.keySizes(keySpec));
  return { defaultBits: sizes.dwDefaultBitlen, minBits: sizes.dwMinimumBitlen, maxBits: sizes.dwMaximumBitlen, incrementBits: sizes.dwIncrementalBitlen || RSA_WITHOUT_CARD.incrementBits };
}

async function lengthsOf(call: Call, alg: CspAlgorithm): Promise<Lengths> {
  return alg.kind === 'rsa' ? rsaLengths(call, alg.algId) : alg;
}

/** PROV_ENUMALGS (32 bytes, little-endian). */
export function encodeProvEnumAlgs(algId: number, bitLen: number, name: string): Buffer {
  const out = Buffer.alloc(PROV_ENUMALGS_SIZE);
  out.writeUInt32LE(algId, 0);
  out.writeUInt32LE(bitLen, 4);
  out.writeUInt32LE(name.length + 1, 8);
  writeName(out, 12, NAME_CHARS, name);
  return out;
}

/** PROV_ENUMALGS_EX (88 bytes, little-endian). */
export function encodeProvEnumAlgsEx(algId: number, lengths: Lengths, protocols: number, name: string, longName: string): Buffer {
  const out = Buffer.alloc(PROV_ENUMALGS_EX_SIZE);
  out.writeUInt32LE(algId, 0);
  out.writeUInt32LE(lengths.defaultBits, 4);
  out.writeUInt32LE(lengths.minBits, 8);
  out.writeUInt32LE(lengths.maxBits, 12);
  out.writeUInt32LE(protocols, 16);
  out.writeUInt32LE(name.length + 1, 20);
  writeName(out, 24, NAME_CHARS, name);
  out.writeUInt32LE(longName.length + 1, 44);
  writeName(out, 48, LONG_NAME_CHARS, longName);
  return out;
}

/** The key-size increment of a slot: the card's, or Microsoft's 8 bits without a card (P5). */
async function sizeIncrement(call: Call, keySpec: number): Promise<number> {
  const card = call.prov.context.card;
  if (!card) return RSA_WITHOUT_CARD.incrementBits;
  const sizes = await onCard(call.prov, card, call.operation, false, () => card.keySizes(keySpec));
  return sizes.dwIncrementalBitlen || RSA_WITHOUT_CARD.incrementBits;
}

function noContainer(call: Call): never {
  throw new CryptError('NTE_BAD_KEYSET', 'this context has no key container (CRYPT_VERIFYCONTEXT or CRYPT_DEFAULT_CONTAINER_OPTIONAL without one); acquire it with a container name', { operation: call.operation });
}

/** Presents an application's PIN to the context's card now: verified, and cached under the card's policy. */
async function presentContextPin(call: Call, pin: Buffer): Promise<void> {
  try {
    if (pin.length === 0) throw new CryptError('SCARD_E_INVALID_CHV', 'the PIN is empty; pass the card PIN as a NUL-terminated ASCII string or its bytes', { operation: call.operation });
    const card = await contextCard(call.prov, call.operation);
    await onCard(call.prov, card, call.operation, false, () => presentPin(authenticationContext(call.prov, card, call.operation), pin));
  } finally {
    wipe(pin);
  }
}

/** A certificate as a UserCertificate: the container and key spec ride along, not enumerable. */
function userCertificate(der: Buffer, container: string, keySpec: number, operation: string): UserCertificate {
  const cert = parseCertificate(der, operation);
  Object.defineProperties(cert, { container: { value: container, enumerable: false }, keySpec: { value: keySpec, enumerable: false } });
  return cert as UserCertificate;
}

const PIN_SETTER: Setter = { takes: 'pin', write: (c, pin) => presentContextPin(c, pin) };

const RULES: ReadonlyMap<number, ParamRule> = new Map<number, ParamRule>([
  [PP_NAME, { name: 'PP_NAME', get: { read: (c) => c.prov.context.providerName } }],
  [PP_PROVTYPE, { name: 'PP_PROVTYPE', get: { read: (c) => c.prov.context.provType } }],
  [PP_VERSION, { name: 'PP_VERSION', get: { read: () => CSP_VERSION } }],
  [PP_KEYSPEC, { name: 'PP_KEYSPEC', get: { read: () => AT_KEYEXCHANGE | AT_SIGNATURE } }],
  [PP_KEYSET_TYPE, { name: 'PP_KEYSET_TYPE', get: { read: (c) => (c.prov.context.machine ? CRYPT_MACHINE_KEYSET : 0) } }],
  [PP_SIG_KEYSIZE_INC, { name: 'PP_SIG_KEYSIZE_INC', get: { read: (c) => sizeIncrement(c, AT_SIGNATURE) } }],
  [PP_KEYX_KEYSIZE_INC, { name: 'PP_KEYX_KEYSIZE_INC', get: { read: (c) => sizeIncrement(c, AT_KEYEXCHANGE) } }],
  [PP_IMPTYPE, {
    name: 'PP_IMPTYPE',
    get: {
      read: async (c) => {
        const card = c.prov.context.card;
        // No card bound: the provider's own nature, a removable card.
        if (!card) return CRYPT_IMPL_HARDWARE | CRYPT_IMPL_REMOVABLE;
        const entry = (await c.prov.service.snapshot()).find((e) => e.szReader === card.szReader);
        return CRYPT_IMPL_HARDWARE | (entry?.state.removable ? CRYPT_IMPL_REMOVABLE : 0);
      },
    },
  }],
  [PP_CONTAINER, {
    name: 'PP_CONTAINER',
    get: {
      // P4: as acquired. A reader alone or a null name named no container: the one opened, if any.
      read: (c) => {
        const { level, containerName, container } = c.prov.context;
        if ((level === 1 || level === 3) && containerName !== null) return containerName;
        return container?.name ?? containerName ?? '';
      },
    },
  }],
  [PP_UNIQUE_CONTAINER, {
    name: 'PP_UNIQUE_CONTAINER',
    get: {
      // The reader-qualified name: CryptAcquireContext takes it back (level I) for this very container.
      read: (c) => {
        const { card, container } = c.prov.context;
        return card && container ? qualifiedContainerName(card.szReader, container.name) : noContainer(c);
      },
    },
  }],
  [PP_ENUMCONTAINERS, {
    name: 'PP_ENUMCONTAINERS',
    get: {
      flags: ENUM_FLAGS,
      read: async (c) => {
        const { context } = c.prov;
        if (c.flags & CRYPT_FIRST || !context.enumContainers) {
          // Read from the card, not the cache: containers other PKCS#11 tools made appear only that way.
          const names = await withCard(c, false, async (card) => (await card.containers(true)).map((k) => k.name));
          context.enumContainers = { names, next: 0 };
        }
        const cursor = context.enumContainers;
        if (cursor.next >= cursor.names.length) noMoreItems('containers on this card', c.operation);
        return cursor.names[cursor.next++]!;
      },
    },
  }],
  [PP_ENUMALGS, {
    name: 'PP_ENUMALGS',
    get: {
      flags: ENUM_FLAGS,
      read: async (c) => {
        const { context } = c.prov;
        const position = nextPosition(context.enumAlgs, c.flags);
        const alg = CSP_ALGORITHMS[position];
        context.enumAlgs = position;
        if (!alg) noMoreItems('algorithms', c.operation);
        const out = encodeProvEnumAlgs(alg.algId, (await lengthsOf(c, alg)).defaultBits, alg.name);
        context.enumAlgs = position + 1;
        return out;
      },
    },
  }],
  [PP_ENUMALGS_EX, {
    name: 'PP_ENUMALGS_EX',
    get: {
      flags: ENUM_FLAGS,
      read: async (c) => {
        const { context } = c.prov;
        const position = nextPosition(context.enumAlgsEx, c.flags);
        const alg = CSP_ALGORITHMS[position];
        context.enumAlgsEx = position;
        if (!alg) noMoreItems('algorithms', c.operation);
        const out = encodeProvEnumAlgsEx(alg.algId, await lengthsOf(c, alg), alg.protocols, alg.name, alg.longName);
        context.enumAlgsEx = position + 1;
        return out;
      },
    },
  }],
  [PP_SMARTCARD_READER, {
    name: 'PP_SMARTCARD_READER',
    get: { read: async (c) => (await contextCard(c.prov, c.operation)).szReader },
    set: {
      takes: 'text',
      // A context with no card yet (CRYPT_VERIFYCONTEXT, null name) takes the card in this reader.
      write: async (c, reader) => {
        const bound = c.prov.context.card;
        if (bound) {
          if (bound.szReader === reader) return;
          throw new CryptError('NTE_BAD_DATA', `this context is bound to the card in "${bound.szReader}"; acquire a new context for "${reader}" (\\\\.\\${reader}\\)`, { operation: c.operation });
        }
        if (reader.length === 0) throw new CryptError('ERROR_INVALID_PARAMETER', 'the reader name is empty', { operation: c.operation });
        await contextCard(c.prov, c.operation, reader);
      },
    },
  }],
  [PP_SMARTCARD_GUID, { name: 'PP_SMARTCARD_GUID', get: { read: async (c) => Buffer.from((await contextCard(c.prov, c.operation)).guid) } }],
  [PP_USER_CERTSTORE, {
    name: 'PP_USER_CERTSTORE',
    get: {
      read: (c) => withCard(c, false, async (card) => (await userCertificates(card, c.prov.context.machine)).map((cert) => userCertificate(cert.der, cert.container, cert.keySpec, c.operation))),
    },
  }],
  [PP_ROOT_CERTSTORE, {
    name: 'PP_ROOT_CERTSTORE',
    get: {
      read: (c) => withCard(c, false, async (card) => {
        const bag = await card.readRootStore(c.prov.context.machine);
        return bag ? decodeCertificateBag(bag, c.operation).map((der) => parseCertificate(der, c.operation)) : [];
      }),
    },
    set: {
      takes: 'certificates',
      write: async (c, certificates) => {
        const bag = encodeCertificateBag(certificates.map((cert) => Buffer.from(cert.rawData)));
        await withCard(c, true, (card) => card.writeRootStore(bag), 'no root certificates can be stored on it');
      },
    },
  }],
  [PP_KEYEXCHANGE_PIN, { name: 'PP_KEYEXCHANGE_PIN', set: PIN_SETTER }],
  [PP_SIGNATURE_PIN, { name: 'PP_SIGNATURE_PIN', set: PIN_SETTER }],
  [PP_UI_PROMPT, {
    name: 'PP_UI_PROMPT',
    // The card-insertion prompt text, for the whole process as on Windows; '' restores the default.
    set: { takes: 'text', write: (_c, text) => setCardPromptText(text) },
  }],
  [PP_PIN_PROMPT_STRING, {
    name: 'PP_PIN_PROMPT_STRING',
    set: {
      takes: 'text',
      write: (c, text) => {
        if (text.length === 0) delete c.prov.context.pinPrompt;
        else c.prov.context.pinPrompt = text;
      },
    },
  }],
]);

function ruleOf(param: unknown, operation: string): ParamRule {
  const rule = typeof param === 'number' ? RULES.get(param) : undefined;
  if (!rule) {
    const what = typeof param === 'number' && Number.isInteger(param) ? `0x${(param >>> 0).toString(16)}` : String(param);
    throw new CryptError('NTE_BAD_TYPE', `the smart card CSP has no provider parameter ${what}`, { operation });
  }
  return rule;
}

function checkFlags(flags: unknown, allowed: number, name: string, operation: string): number {
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < -0x80000000 || flags > 0xffffffff) {
    throw new CryptError('NTE_BAD_FLAGS', `dwFlags must be a DWORD, not ${String(flags)}`, { operation });
  }
  flags >>>= 0;
  const unknown = (flags & ~allowed) >>> 0;
  if (unknown !== 0) {
    throw new CryptError('NTE_BAD_FLAGS', `${name} takes ${allowed ? 'CRYPT_FIRST or CRYPT_NEXT' : 'dwFlags 0'}; bits 0x${unknown.toString(16)} are not accepted`, { operation });
  }
  return flags;
}

export async function CryptGetProvParam(hProv: HCRYPTPROV, param: number, flags = 0): Promise<ProvParamValue> {
  const operation = 'CryptGetProvParam';
  const prov = useHandle(hProv, 'prov', operation);
  const rule = ruleOf(param, operation);
  if (!rule.get) throw new CryptError('NTE_BAD_TYPE', `${rule.name} can be set but not read`, { operation });
  const f = checkFlags(flags, rule.get.flags ?? 0, rule.name, operation);
  return rule.get.read({ prov, flags: f, operation });
}

export async function CryptSetProvParam(hProv: HCRYPTPROV, param: number, value: ProvParamInput, flags = 0): Promise<void> {
  const operation = 'CryptSetProvParam';
  const prov = useHandle(hProv, 'prov', operation);
  const rule = ruleOf(param, operation);
  if (!rule.set) throw new CryptError('NTE_BAD_TYPE', `${rule.name} is read-only (CryptGetProvParam)`, { operation });
  const f = checkFlags(flags, 0, rule.name, operation);
  const call: Call = { prov, flags: f, operation };
  const set = rule.set;
  switch (set.takes) {
    case 'text': return set.write(call, textValue(value, rule.name, operation));
    case 'pin': return set.write(call, pinValue(value, rule.name, operation));
    case 'certificates': return set.write(call, certificatesValue(value, rule.name, operation));
  }
}

function invalid(name: string, takes: string, operation: string): never {
  throw new CryptError('ERROR_INVALID_PARAMETER', `${name} takes ${takes}`, { operation });
}

/** A string, or UTF-16LE bytes (Windows' LPCWSTR) ending at the first NUL or the end. */
function textValue(value: unknown, name: string, operation: string): string {
  if (typeof value === 'string') return value.split('\0', 1)[0]!;
  if (value instanceof Uint8Array && value.length % 2 === 0) {
    const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf16le');
    return text.split('\0', 1)[0]!;
  }
  return invalid(name, 'a string (or its UTF-16LE bytes)', operation);
}

/** The PIN as a C string: a JavaScript string (UTF-8) or bytes, up to the first NUL. A copy. */
function pinValue(value: unknown, name: string, operation: string): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) bytes = Buffer.from(value);
  else return invalid(name, 'the PIN as a NUL-terminated ASCII string or its bytes', operation);
  const end = bytes.indexOf(0);
  if (end < 0) return bytes;
  const pin = Buffer.from(bytes.subarray(0, end));
  wipe(bytes);
  return pin;
}

/** X509Certificate objects (@peculiar/x509), each re-read from its DER: NTE_BAD_DATA when one is not a certificate. */
function certificatesValue(value: unknown, name: string, operation: string): x509.X509Certificate[] {
  const ok = Array.isArray(value) && value.every((c) => c instanceof x509.X509Certificate || (typeof c === 'object' && c !== null && (c as { rawData?: unknown }).rawData instanceof ArrayBuffer));
  if (!ok) invalid(name, 'an array of X509Certificate objects (@peculiar/x509)', operation);
  return (value as { rawData: ArrayBuffer }[]).map((c) => parseCertificate(new Uint8Array(c.rawData), operation));
}
