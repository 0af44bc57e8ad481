/**
 * CryptGenKey, CryptGetUserKey and CryptDestroyKey, and what the other key calls of the CryptoAPI front
 * end share: argument checks with CryptoAPI's codes, and the card key pair of a container slot.
 *
 * A container has two slots, AT_KEYEXCHANGE and AT_SIGNATURE (reference K1, K2). Their keys live on
 * the card: generating one is CardCreateContainer under the user PIN; getting one reads the slot's
 * public key from CONTAINER_INFO (through the data cache, no PIN). A context remembers the slot keys it
 * has seen, so a warm CryptSignHash asks the card for nothing but the signature.
 * Session keys (AES, 3DES) are made in host memory by session-key.ts.
 *
 * Codes where the reference is silent (decided here):
 *  - CryptGenKey of a card key with CRYPT_EXPORTABLE or CRYPT_ARCHIVABLE: NTE_BAD_FLAGS — a card's
 *    private key never leaves it, and a flag promising otherwise would be a lie the export then breaks;
 *  - a key length the card cannot make (upper 16 bits of dwFlags): NTE_BAD_FLAGS, as the MS software
 *    CSPs answer a length outside their range; 0 takes the card's default (CardQueryKeySizes);
 *  - CryptGenKey on a slot that already holds a key replaces it, as Windows' CSPs do (K2);
 *  - CryptGetUserKey on a context with no container (CRYPT_VERIFYCONTEXT with no name, or
 *    CRYPT_DEFAULT_CONTAINER_OPTIONAL without one): NTE_NO_KEY (A4); a slot holding an ECC key (made
 *    through CNG), which CryptoAPI cannot use: NTE_NO_KEY too.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CALG_RSA_KEYX, CALG_RSA_SIGN, CARD_CREATE_CONTAINER_KEY_GEN, PUBLICKEYBLOB,
} from '../minidriver/constants.js';
import { decodeRsaPublicKeyBlob } from '../minidriver/codecs/index.js';
import { CryptError, type ErrorContext } from '../minidriver/errors.js';
import type { ContainerInfo } from '../minidriver/structures.js';
import type { CardContainer, SmartCard } from '../smartcard/card.js';
import { boundContainer, onCard } from './card-access.js';
import {
  CRYPT_ARCHIVABLE, CRYPT_EXPORTABLE, CRYPT_FORCE_KEY_PROTECTION_HIGH, CRYPT_USER_PROTECTED,
} from './constants.js';
import { HCRYPTKEY, type HCRYPTPROV, useHandle } from './handles.js';
import type { CardKeyPair, CspKey } from './key-model.js';
import { generateSessionKey } from './session-key.js';

// --- arguments ------------------------------------------------------------------------------------

/** dwFlags: a DWORD with no bit outside `allowed`; NTE_BAD_FLAGS otherwise. */
export function checkFlags(flags: unknown, allowed: number, operation: string): number {
  const f = flags ?? 0;
  if (typeof f !== 'number' || !Number.isInteger(f) || f < 0 || f > 0xffffffff) {
    throw new CryptError('NTE_BAD_FLAGS', `dwFlags must be a DWORD (a whole number from 0 to 0xFFFFFFFF), not ${String(flags)}`, { operation });
  }
  const unknown = (f & ~allowed) >>> 0;
  if (unknown !== 0) {
    throw new CryptError('NTE_BAD_FLAGS', `dwFlags bit${unknown & (unknown - 1) ? 's' : ''} 0x${unknown.toString(16)} ${unknown & (unknown - 1) ? 'are' : 'is'} not accepted by ${operation}`, { operation });
  }
  return f;
}

/**
 * A byte-string argument as a Buffer view (no copy). A NULL pointer or something that is not bytes is
 * ERROR_INVALID_PARAMETER, advapi32's answer before the CSP sees the call.
 */
export function bytesArgument(value: unknown, name: string, operation: string): Buffer {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const what = value === null || value === undefined ? 'NULL' : typeof value;
  throw new CryptError('ERROR_INVALID_PARAMETER', `${name} must be a Uint8Array or Buffer, not ${what}`, { operation });
}

/** A DWORD argument (ALG_ID, key spec, dwParam); ERROR_INVALID_PARAMETER when it is not one. */
export function dwordArgument(value: unknown, name: string, operation: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new CryptError('ERROR_INVALID_PARAMETER', `${name} must be a DWORD (a whole number from 0 to 0xFFFFFFFF), not ${String(value)}`, { operation });
  }
  return value;
}

/** A key handle that may be NULL (hExpKey, hPubKey, hKey of CryptCreateHash). */
export function optionalKeyHandle(value: unknown, operation: string): HCRYPTKEY | null {
  return value === null || value === undefined ? null : useHandle(value, 'key', operation);
}

/** Error context naming a card key's card and container (never key material). */
export function where(key: CspKey | undefined, operation: string): ErrorContext {
  return key?.kind === 'card' ? { operation, card: key.card.identity.label, container: key.container.name } : { operation };
}

export function keySpecName(keySpec: number): string {
  return keySpec === AT_KEYEXCHANGE ? 'AT_KEYEXCHANGE' : keySpec === AT_SIGNATURE ? 'AT_SIGNATURE' : `key spec ${keySpec}`;
}

// --- RSA public keys -------------------------------------------------------------------------------

/** Bytes of an RSA modulus of `bits` bits. */
export function rsaModulusBytes(bits: number): number {
  return (bits + 7) >> 3;
}

const moduli = new WeakMap<KeyObject, Buffer>();

/** The modulus of an RSA public key, big-endian, without leading zeros (read once per key object). */
export function rsaModulus(publicKey: KeyObject): Buffer {
  let n = moduli.get(publicKey);
  if (!n) {
    n = Buffer.from(publicKey.export({ format: 'jwk' }).n!, 'base64url');
    let start = 0;
    while (start < n.length - 1 && n[start] === 0) start++;
    n = n.subarray(start);
    moduli.set(publicKey, n);
  }
  return n;
}

/** Whether a big-endian block of the modulus length is numerically below the modulus (a valid RSA input). */
export function belowModulus(blockBE: Buffer, publicKey: KeyObject): boolean {
  const n = rsaModulus(publicKey);
  return blockBE.length === n.length && Buffer.compare(blockBE, n) < 0;
}

/** The RSA public key of a PUBLICKEYBLOB as a container slot holds it. */
export function publicKeyFromBlob(blob: Uint8Array): { publicKey: KeyObject; bits: number; aiKeyAlg: number } {
  const rsa = decodeRsaPublicKeyBlob(blob);
  const publicKey = createPublicKey({ key: { kty: 'RSA', n: rsa.modulus.toString('base64url'), e: rsa.publicExponent.toString('base64url') }, format: 'jwk' });
  return { publicKey, bits: rsa.bitLength, aiKeyAlg: rsa.aiKeyAlg };
}

// --- card keys of a context ------------------------------------------------------------------------

/** The slot keys a context has seen, by key spec: a warm signature reads nothing from the card. */
const slotKeys = new WeakMap<HCRYPTPROV, Map<number, CardKeyPair>>();

function remember(prov: HCRYPTPROV, key: CardKeyPair): CardKeyPair {
  let slots = slotKeys.get(prov);
  if (!slots) slotKeys.set(prov, slots = new Map());
  slots.set(key.keySpec, key);
  return key;
}

/**
 * The key pair in a container slot as CONTAINER_INFO describes it, or undefined when the slot is empty
 * or holds a key CryptoAPI cannot use (ECC, made through CNG). KP_ALGID follows the slot (K2).
 */
export function cardKeyFromInfo(card: SmartCard, container: CardContainer, info: ContainerInfo, keySpec: number): CardKeyPair | undefined {
  const blob = keySpec === AT_KEYEXCHANGE ? info.pbKeyExPublicKey : keySpec === AT_SIGNATURE ? info.pbSigPublicKey : null;
  if (!blob || blob[0] !== PUBLICKEYBLOB) return undefined;
  const { publicKey, bits } = publicKeyFromBlob(blob);
  return { kind: 'card', card, container, keySpec, algId: keySpec === AT_KEYEXCHANGE ? CALG_RSA_KEYX : CALG_RSA_SIGN, bits, publicKey };
}

function noKey(keySpec: number, container: CardContainer | undefined, card: SmartCard | undefined, operation: string): CryptError {
  const context: ErrorContext = { operation, ...(card ? { card: card.identity.label } : {}), ...(container ? { container: container.name } : {}) };
  if (keySpec !== AT_KEYEXCHANGE && keySpec !== AT_SIGNATURE) {
    return new CryptError('NTE_NO_KEY', `dwKeySpec ${keySpec} names no key; a container holds an AT_KEYEXCHANGE (1) and an AT_SIGNATURE (2) key`, context);
  }
  if (!container) {
    return new CryptError('NTE_NO_KEY', 'this context has no key container (CRYPT_VERIFYCONTEXT or CRYPT_DEFAULT_CONTAINER_OPTIONAL without one), so it holds no key pair; acquire the context with a container name', context);
  }
  return new CryptError('NTE_NO_KEY', `the container holds no ${keySpecName(keySpec)} RSA key; create one with CryptGenKey(${keySpecName(keySpec)})`, context);
}

/**
 * The key pair of the context's container slot, read from the card (through the data cache unless the
 * context is CRYPT_MACHINE_KEYSET). NTE_NO_KEY when the slot is empty (K1). No PIN.
 */
export async function readSlotKey(prov: HCRYPTPROV, keySpec: number, operation: string): Promise<CardKeyPair> {
  const { card, container } = prov.context;
  if (keySpec !== AT_KEYEXCHANGE && keySpec !== AT_SIGNATURE) throw noKey(keySpec, container, card, operation);
  if (!card || !container) throw noKey(keySpec, container, card, operation);
  const info = await onCard(prov, card, operation, false, () => card.transaction(() => card.containerInfo(container.index, prov.context.machine)));
  const key = cardKeyFromInfo(card, container, info, keySpec);
  if (!key) {
    slotKeys.get(prov)?.delete(keySpec);
    throw noKey(keySpec, container, card, operation);
  }
  return remember(prov, key);
}

/** The slot key the context last saw, else read from the card (readSlotKey). */
export async function slotKey(prov: HCRYPTPROV, keySpec: number, operation: string): Promise<CardKeyPair> {
  return slotKeys.get(prov)?.get(keySpec) ?? readSlotKey(prov, keySpec, operation);
}

/** Drops what the context remembers of a slot (the card disagreed with it). */
export function forgetSlotKey(prov: HCRYPTPROV, keySpec: number): void {
  slotKeys.get(prov)?.delete(keySpec);
}

/**
 * A card call that found no key where the handle said one was (deleted or moved by another context or
 * process since): NTE_NO_KEY, the code of a missing key pair (K1, S1). Other errors pass unchanged.
 */
export function keyGone(err: unknown, key: CardKeyPair, operation: string): unknown {
  if (!CryptError.is(err, 'SCARD_E_NO_KEY_CONTAINER')) return err;
  return new CryptError('NTE_NO_KEY', `the card no longer holds this ${keySpecName(key.keySpec)} key (the container or key was deleted or replaced since); get the key again with CryptGetUserKey`, { ...where(key, operation), cause: err });
}

/** Records a key the context just put in a slot (generated or imported). */
export function rememberSlotKey(prov: HCRYPTPROV, key: CardKeyPair): CardKeyPair {
  return remember(prov, key);
}

/** The slot a key-pair ALG_ID names: AT_KEYEXCHANGE / CALG_RSA_KEYX, AT_SIGNATURE / CALG_RSA_SIGN (K2). */
export function slotOfAlgId(algId: number): number | undefined {
  if (algId === AT_KEYEXCHANGE || algId === CALG_RSA_KEYX) return AT_KEYEXCHANGE;
  if (algId === AT_SIGNATURE || algId === CALG_RSA_SIGN) return AT_SIGNATURE;
  return undefined;
}

/** CRYPT_USER_PROTECTED (and the high-protection flag) promise a prompt: a silent context cannot (A10). */
export function refuseProtectionWhenSilent(prov: HCRYPTPROV, flags: number, operation: string): void {
  if (prov.context.silent && (flags & (CRYPT_USER_PROTECTED | CRYPT_FORCE_KEY_PROTECTION_HIGH))) {
    throw new CryptError('NTE_SILENT_CONTEXT', 'CRYPT_USER_PROTECTED asks for the user to be prompted, and this context was acquired with CRYPT_SILENT; leave the flag out or acquire the context without CRYPT_SILENT', { operation });
  }
}

/** CRYPT_EXPORTABLE / CRYPT_ARCHIVABLE on a card key: refused, its private half never leaves the card. */
export function refuseExportableCardKey(flags: number, operation: string): void {
  if (flags & (CRYPT_EXPORTABLE | CRYPT_ARCHIVABLE)) {
    throw new CryptError('NTE_BAD_FLAGS', 'a smart card key cannot be exportable or archivable: its private key never leaves the card; leave CRYPT_EXPORTABLE and CRYPT_ARCHIVABLE out', { operation });
  }
}

/** Key flags a card key pair accepts from CryptGenKey / CryptImportKey (low word). */
const CARD_KEY_FLAGS = CRYPT_EXPORTABLE | CRYPT_ARCHIVABLE | CRYPT_USER_PROTECTED | CRYPT_FORCE_KEY_PROTECTION_HIGH;

// --- the calls -------------------------------------------------------------------------------------

/**
 * CryptGenKey(hProv, Algid, dwFlags). AT_KEYEXCHANGE / CALG_RSA_KEYX and AT_SIGNATURE / CALG_RSA_SIGN
 * generate an RSA key pair on the card into that slot of the context's container (replacing a key
 * already there), under the user PIN; the key length is the upper 16 bits of dwFlags (0: the card's
 * default). Session key algorithms (CALG_AES_128/192/256, CALG_3DES, CALG_3DES_112) make a key in
 * host memory; CRYPT_EXPORTABLE lets it be exported (SIMPLEBLOB, PLAINTEXTKEYBLOB).
 */
export async function CryptGenKey(hProv: HCRYPTPROV, algId: number, flags = 0): Promise<HCRYPTKEY> {
  const operation = 'CryptGenKey';
  const prov = useHandle(hProv, 'prov', operation);
  const alg = dwordArgument(algId, 'Algid', operation);
  const f = checkFlags(flags, 0xffffffff, operation);
  const slot = slotOfAlgId(alg);
  if (slot === undefined) {
    refuseProtectionWhenSilent(prov, f, operation);
    return new HCRYPTKEY(prov, { kind: 'session', session: generateSessionKey(alg, f, operation) });
  }
  const keyFlags = checkFlags(f & 0xffff, CARD_KEY_FLAGS, operation);
  refuseExportableCardKey(keyFlags, operation);
  refuseProtectionWhenSilent(prov, keyFlags, operation);
  const { card, container } = boundContainer(prov, operation);
  card.assertWritable(operation, 'no key can be generated on it', container.name);
  const sizes = await onCard(prov, card, operation, false, () => card.keySizes(slot));
  const requested = f >>> 16;
  const bits = requested === 0 ? sizes.dwDefaultBitlen : requested;
  const step = sizes.dwIncrementalBitlen || 1;
  if (bits < sizes.dwMinimumBitlen || bits > sizes.dwMaximumBitlen || (bits - sizes.dwMinimumBitlen) % step !== 0) {
    throw new CryptError('NTE_BAD_FLAGS', `this card makes RSA keys of ${sizes.dwMinimumBitlen} to ${sizes.dwMaximumBitlen} bits in steps of ${step}; ${bits} is not one (put the length in the upper 16 bits of dwFlags, or 0 for ${sizes.dwDefaultBitlen})`, { operation, card: card.identity.label, container: container.name });
  }
  const key = await onCard(prov, card, operation, true, () => card.transaction(async () => {
    await card.createKey(container.index, CARD_CREATE_CONTAINER_KEY_GEN, slot, bits, null);
    const made = cardKeyFromInfo(card, container, await card.containerInfo(container.index, true), slot);
    if (!made) throw new CryptError('NTE_FAIL', `the card reported no ${keySpecName(slot)} key after generating it; check the card`, { operation, card: card.identity.label, container: container.name });
    return made;
  }));
  return new HCRYPTKEY(prov, rememberSlotKey(prov, key));
}

/**
 * CryptGetUserKey(hProv, dwKeySpec): a new handle (destroy each with CryptDestroyKey) to the key pair
 * in that slot of the context's container. NTE_NO_KEY when the slot is empty, the key spec is neither
 * AT_KEYEXCHANGE nor AT_SIGNATURE, or the context has no container (K1, A3, A4). No PIN.
 */
export async function CryptGetUserKey(hProv: HCRYPTPROV, keySpec: number): Promise<HCRYPTKEY> {
  const operation = 'CryptGetUserKey';
  const prov = useHandle(hProv, 'prov', operation);
  const spec = dwordArgument(keySpec, 'dwKeySpec', operation);
  return new HCRYPTKEY(prov, await readSlotKey(prov, spec, operation));
}

/**
 * CryptDestroyKey(hKey): releases the handle. A session key is wiped; a card key stays on the card
 * (the handle only is gone). A released, zero or wrong-kind handle: ERROR_INVALID_PARAMETER (C1).
 */
export async function CryptDestroyKey(hKey: HCRYPTKEY): Promise<void> {
  const operation = 'CryptDestroyKey';
  const handle = useHandle(hKey, 'key', operation);
  handle.released = true;
  handle.prov.children.delete(handle);
  if (handle.key.kind === 'session') handle.key.session.destroy();
}
