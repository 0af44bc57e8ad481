/**
 * Session keys: AES-128/192/256, Triple DES and two-key Triple DES in host memory, with CryptoAPI's key
 * parameters and CryptEncrypt/CryptDecrypt block semantics (reference §1.4, K3, K4, X1–X3, X5).
 *
 * A smart card CSP does symmetric work on the host: the card only wraps and unwraps session keys with
 * its RSA key (SIMPLEBLOB). The key bytes live in locked, non-dumpable memory (native/) and are copied
 * out only for the length of one node:crypto call, then wiped.
 *
 * Chaining, as the Windows CSPs do it: one chaining register per key, starting at KP_IV. Each
 * non-final CryptEncrypt/CryptDecrypt continues from it, so a message may be passed in pieces that are
 * whole blocks; the final call pads (PKCS#5, a whole extra block when the data is already aligned) or
 * checks and strips the padding, and puts the register back to KP_IV. node:crypto runs one call at a
 * time with its own padding off, so the pieces chain exactly as one call would.
 *
 * Modes: CBC (the default), ECB and CFB with 8-bit feedback (the only feedback width Windows
 * implements). OFB can be set, as on Windows, but encrypting or decrypting with it is NTE_BAD_ALGID (X2).
 *
 * Codes where the reference is silent:
 *  - CryptGenKey with a key length (upper 16 bits of dwFlags) other than the algorithm's: NTE_BAD_FLAGS
 *    (Windows' code for Triple DES; AES has one length per ALG_ID). Triple DES accepts its stored or its
 *    effective length (192 or 168, 128 or 112), as Windows does;
 *  - an imported key whose length is not the algorithm's (AES 16/24/32, 3DES 24, 3DES_112 16 bytes):
 *    NTE_BAD_DATA, Windows' code for a PLAINTEXTKEYBLOB key of a length the algorithm cannot take;
 *  - CryptImportKey flags outside its documented set (CRYPT_EXPORTABLE, CRYPT_NO_SALT, CRYPT_OAEP,
 *    CRYPT_IPSEC_HMAC_KEY, CRYPT_USER_PROTECTED): NTE_BAD_FLAGS. Only CRYPT_EXPORTABLE changes the key;
 *    the others concern the blob or the context and are the import call's to apply. CRYPT_IPSEC_HMAC_KEY
 *    does not lift the length rule: AES and Triple DES cannot use a key of another length;
 *  - a parameter value of the wrong shape — a number where bytes are expected, bytes where a DWORD is
 *    expected (other than exactly 4 bytes, read little-endian as Windows reads *pbData), a number that is
 *    not a DWORD: ERROR_INVALID_PARAMETER, Windows' answer to a bad pbData. A well-formed value the key
 *    cannot take (an IV of the wrong length, an unknown mode, padding other than PKCS5_PADDING, feedback
 *    other than 8 bits): NTE_BAD_DATA;
 *  - KP_MODE_BITS reads 8 (the feedback width CFB uses); KP_SALT reads empty (these ciphers take no salt);
 *    setting KP_SALT or KP_SALT_EX: NTE_BAD_KEY, as Windows answers for keys without a salt; setting
 *    KP_ALGID, KP_KEYLEN, KP_BLOCKLEN or KP_EFFECTIVE_KEYLEN (RC2 only on Windows): NTE_BAD_TYPE;
 *  - KP_PERMISSIONS bits other than CRYPT_EXPORT are stored and reported as set, not enforced (Windows
 *    does not enforce them either);
 *  - decryption with a ciphertext that is not whole blocks, or an empty final one: NTE_BAD_DATA; on the
 *    final call the register is reset as after bad padding (X3), since that call ends the message;
 *  - the mode is checked before the data length, so an OFB key fails with NTE_BAD_ALGID whatever the data;
 *  - any use after destroy(): NTE_BAD_KEY.
 * Generated Triple DES keys get odd parity in every byte, as DES key generators make them; DES ignores
 * the parity bits, and imported keys are taken as they are.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CryptError } from '../minidriver/errors.js';
import { allocateSecure, isSecureMemoryAvailable, type SecureBuffer, wipe } from '../native/index.js';
import { type CipherAlgorithm, cipherByAlgId, supportedNames } from './algorithms.js';
import {
  CALG_3DES_112, CALG_AES, CRYPT_CREATE_SALT, CRYPT_DECRYPT, CRYPT_ENCRYPT, CRYPT_EXPORT, CRYPT_EXPORTABLE, CRYPT_IPSEC_HMAC_KEY,
  CRYPT_MAC, CRYPT_MODE_CBC, CRYPT_MODE_CFB, CRYPT_MODE_ECB, CRYPT_MODE_OFB, CRYPT_NO_SALT, CRYPT_OAEP, CRYPT_READ,
  CRYPT_USER_PROTECTED, CRYPT_WRITE, KP_ALGID, KP_BLOCKLEN, KP_EFFECTIVE_KEYLEN, KP_IV, KP_KEYLEN, KP_MODE, KP_MODE_BITS,
  KP_PADDING, KP_PERMISSIONS, KP_SALT, KP_SALT_EX, PKCS5_PADDING,
} from './constants.js';

export interface SessionKey {
  /** CALG_AES_128, CALG_AES_192, CALG_AES_256, CALG_3DES, CALG_3DES_112. */
  readonly algId: number;
  /** KP_KEYLEN in bits (3DES: 192, 3DES_112: 128, as Windows reports them). */
  readonly bits: number;
  /** KP_BLOCKLEN in bits (AES 128, 3DES 64). */
  readonly blockBits: number;
  /** Made or imported with CRYPT_EXPORTABLE (KP_PERMISSIONS has CRYPT_EXPORT; it can be neither added nor removed). */
  readonly exportable: boolean;
  /** destroy() was called; every other member then fails with NTE_BAD_KEY. */
  readonly destroyed: boolean;
  /** KP_ALGID, KP_KEYLEN, KP_BLOCKLEN, KP_EFFECTIVE_KEYLEN, KP_MODE, KP_MODE_BITS, KP_PADDING, KP_PERMISSIONS (numbers), KP_IV, KP_SALT (bytes); NTE_BAD_TYPE for others. */
  getParam(param: number, operation?: string): Buffer | number;
  /** KP_IV (restarts the chaining), KP_MODE, KP_MODE_BITS, KP_PADDING, KP_PERMISSIONS; see the module notes for the codes. */
  setParam(param: number, value: Uint8Array | number, operation?: string): void;
  /** CryptEncrypt (X1–X3, X5): flags must be 0; non-final data whole blocks; final data padded. */
  encrypt(data: Uint8Array, final: boolean, flags: number, operation?: string): Buffer;
  /** CryptDecrypt: flags must be 0; data whole blocks; the final call checks and strips the padding. */
  decrypt(data: Uint8Array, final: boolean, flags: number, operation?: string): Buffer;
  /** The raw key bytes (a copy the caller wipes): for SIMPLEBLOB / PLAINTEXTKEYBLOB export. */
  keyBytes(operation?: string): Buffer;
  /** Wipes the key (CryptDestroyKey, context release). Idempotent. */
  destroy(): void;
}

/** CryptGenKey's low-word flags that mean something for a session key (salt: none to make for AES/3DES). */
const GEN_KEY_FLAGS = CRYPT_EXPORTABLE | CRYPT_NO_SALT | CRYPT_CREATE_SALT;
/** CryptImportKey's documented flags. */
const IMPORT_KEY_FLAGS = CRYPT_EXPORTABLE | CRYPT_NO_SALT | CRYPT_OAEP | CRYPT_IPSEC_HMAC_KEY | CRYPT_USER_PROTECTED;
/** KP_PERMISSIONS of every session key; CRYPT_EXPORT is added by CRYPT_EXPORTABLE (K4: 0x3B / 0x3F). */
const BASE_PERMISSIONS = CRYPT_ENCRYPT | CRYPT_DECRYPT | CRYPT_READ | CRYPT_WRITE | CRYPT_MAC;
/** CFB feedback width in bits: the only one Windows implements. */
const CFB_FEEDBACK_BITS = 8;

/** KP_MODE values: the node:crypto mode each one runs as; null: settable but not offered (OFB). */
const MODES = new Map<number, { name: string; node: 'cbc' | 'ecb' | 'cfb8' | null }>([
  [CRYPT_MODE_CBC, { name: 'CRYPT_MODE_CBC', node: 'cbc' }],
  [CRYPT_MODE_ECB, { name: 'CRYPT_MODE_ECB', node: 'ecb' }],
  [CRYPT_MODE_OFB, { name: 'CRYPT_MODE_OFB', node: null }],
  [CRYPT_MODE_CFB, { name: 'CRYPT_MODE_CFB', node: 'cfb8' }],
]);

class HostSessionKey implements SessionKey {
  readonly algId: number;
  readonly bits: number;
  readonly blockBits: number;
  readonly exportable: boolean;
  readonly #alg: CipherAlgorithm;
  #key: SecureBuffer | null;
  #iv: Buffer;
  /** The chaining register: KP_IV at the start of every message, then the last ciphertext block. */
  #register: Buffer;
  #mode: number = CRYPT_MODE_CBC;
  #permissions: number;

  constructor(alg: CipherAlgorithm, key: SecureBuffer, exportable: boolean) {
    this.#alg = alg;
    this.#key = key;
    this.algId = alg.algId;
    this.bits = alg.keyBytes * 8;
    this.blockBits = alg.blockBytes * 8;
    this.exportable = exportable;
    this.#permissions = BASE_PERMISSIONS | (exportable ? CRYPT_EXPORT : 0);
    this.#iv = Buffer.alloc(alg.blockBytes);
    this.#register = Buffer.alloc(alg.blockBytes);
  }

  get destroyed(): boolean {
    return this.#key === null;
  }

  getParam(param: number, operation = 'CryptGetKeyParam'): Buffer | number {
    this.#live(operation);
    switch (param) {
      case KP_ALGID: return this.algId;
      case KP_KEYLEN: return this.bits;
      case KP_BLOCKLEN: return this.blockBits;
      case KP_EFFECTIVE_KEYLEN: return this.#alg.effectiveBits;
      case KP_IV: return Buffer.from(this.#iv);
      case KP_MODE: return this.#mode;
      case KP_MODE_BITS: return CFB_FEEDBACK_BITS;
      case KP_PADDING: return PKCS5_PADDING;
      case KP_PERMISSIONS: return this.#permissions;
      case KP_SALT: return Buffer.alloc(0);
      default:
        throw new CryptError('NTE_BAD_TYPE', `key parameter ${describe(param)} is not a parameter of a ${this.#alg.calgName} session key`, { operation });
    }
  }

  setParam(param: number, value: Uint8Array | number, operation = 'CryptSetKeyParam'): void {
    this.#live(operation);
    const badData = (message: string): CryptError => new CryptError('NTE_BAD_DATA', message, { operation });
    switch (param) {
      case KP_IV: {
        const iv = bytesValue(value, 'KP_IV', operation);
        if (iv.length !== this.#alg.blockBytes) throw badData(`KP_IV of a ${this.#alg.calgName} key is one block, ${this.#alg.blockBytes} bytes; got ${iv.length}`);
        this.#iv = Buffer.from(iv);
        this.#restart();
        return;
      }
      case KP_MODE: {
        const mode = dwordValue(value, 'KP_MODE', operation);
        if (!MODES.has(mode)) throw badData(`KP_MODE ${mode} is not a cipher mode; use CRYPT_MODE_CBC (1), CRYPT_MODE_ECB (2) or CRYPT_MODE_CFB (4)`);
        this.#mode = mode;
        return;
      }
      case KP_MODE_BITS: {
        const bits = dwordValue(value, 'KP_MODE_BITS', operation);
        if (bits !== CFB_FEEDBACK_BITS) throw badData(`CFB feedback of ${bits} bits is not offered; KP_MODE_BITS can only be ${CFB_FEEDBACK_BITS}`);
        return;
      }
      case KP_PADDING: {
        const padding = dwordValue(value, 'KP_PADDING', operation);
        if (padding !== PKCS5_PADDING) throw badData(`padding ${padding} is not offered; KP_PADDING can only be PKCS5_PADDING (1)`);
        return;
      }
      case KP_PERMISSIONS: {
        const permissions = dwordValue(value, 'KP_PERMISSIONS', operation);
        if ((permissions & CRYPT_EXPORT) !== 0 && !this.exportable) {
          throw badData('CRYPT_EXPORT cannot be added to a key made without CRYPT_EXPORTABLE; create or import the key with CRYPT_EXPORTABLE');
        }
        // Clearing CRYPT_EXPORT is accepted and ignored, as on Windows (K4).
        this.#permissions = (permissions | (this.exportable ? CRYPT_EXPORT : 0)) >>> 0;
        return;
      }
      case KP_SALT:
      case KP_SALT_EX:
        throw new CryptError('NTE_BAD_KEY', `a ${this.#alg.calgName} key takes no salt`, { operation });
      case KP_ALGID:
      case KP_KEYLEN:
      case KP_BLOCKLEN:
      case KP_EFFECTIVE_KEYLEN:
        throw new CryptError('NTE_BAD_TYPE', `key parameter ${describe(param)} of a ${this.#alg.calgName} key can be read, not set`, { operation });
      default:
        throw new CryptError('NTE_BAD_TYPE', `key parameter ${describe(param)} is not a parameter of a ${this.#alg.calgName} session key`, { operation });
    }
  }

  encrypt(data: Uint8Array, final: boolean, flags: number, operation = 'CryptEncrypt'): Buffer {
    this.#live(operation);
    checkCipherFlags(flags, operation);
    const input = bytesValue(data, 'pbData', operation);
    const mode = this.#cipherMode(operation);
    const block = this.#alg.blockBytes;
    if (!final) {
      if (input.length % block !== 0) {
        throw new CryptError('NTE_BAD_DATA', `data passed with Final = FALSE must be whole ${block}-byte blocks; got ${input.length} bytes (pass the rest with Final = TRUE)`, { operation });
      }
      const out = this.#run('encrypt', mode, input);
      if (out.length > 0 && mode !== 'ecb') this.#register = Buffer.from(out.subarray(out.length - block));
      return out;
    }
    const padded = pkcs5Pad(input, block);
    try {
      return this.#run('encrypt', mode, padded);
    } finally {
      padded.fill(0);
      this.#restart();
    }
  }

  decrypt(data: Uint8Array, final: boolean, flags: number, operation = 'CryptDecrypt'): Buffer {
    this.#live(operation);
    checkCipherFlags(flags, operation);
    const input = bytesValue(data, 'pbData', operation);
    const mode = this.#cipherMode(operation);
    const block = this.#alg.blockBytes;
    if (input.length % block !== 0 || (final && input.length === 0)) {
      if (final) this.#restart();
      throw new CryptError('NTE_BAD_DATA', `a ${this.#alg.calgName} ciphertext is whole ${block}-byte blocks, at least one in the final call; got ${input.length} bytes`, { operation });
    }
    if (!final) {
      const out = this.#run('decrypt', mode, input);
      if (input.length > 0 && mode !== 'ecb') this.#register = Buffer.from(input.subarray(input.length - block));
      return out;
    }
    let out: Buffer;
    try {
      out = this.#run('decrypt', mode, input);
    } finally {
      this.#restart();
    }
    const plainLength = pkcs5Unpad(out, block);
    if (plainLength < 0) {
      out.fill(0);
      throw new CryptError('NTE_BAD_DATA', 'the padding of the last block is not PKCS#5: wrong key, IV or mode, or the data is damaged or incomplete', { operation });
    }
    return out.subarray(0, plainLength);
  }

  keyBytes(operation = 'CryptExportKey'): Buffer {
    return this.#live(operation).read(0, this.#alg.keyBytes);
  }

  destroy(): void {
    this.#key?.free();
    this.#key = null;
    this.#register.fill(0);
  }

  #live(operation: string): SecureBuffer {
    if (this.#key === null) throw new CryptError('NTE_BAD_KEY', 'this session key was destroyed; generate or import a new one', { operation });
    return this.#key;
  }

  #restart(): void {
    this.#register = Buffer.from(this.#iv);
  }

  #cipherMode(operation: string): 'cbc' | 'ecb' | 'cfb8' {
    const mode = MODES.get(this.#mode)!;
    if (mode.node === null) {
      throw new CryptError('NTE_BAD_ALGID', `${mode.name} can be set but this provider does not encrypt with it; set KP_MODE to CRYPT_MODE_CBC, CRYPT_MODE_ECB or CRYPT_MODE_CFB`, { operation });
    }
    return mode.node;
  }

  /** One node:crypto pass over whole blocks from the register, padding off. The key copy is wiped after. */
  #run(direction: 'encrypt' | 'decrypt', mode: 'cbc' | 'ecb' | 'cfb8', input: Buffer): Buffer {
    if (input.length === 0) return Buffer.alloc(0);
    const key = this.#cipherKey();
    try {
      const name = `${this.#alg.nodeBase}-${mode}`;
      const iv = mode === 'ecb' ? null : this.#register;
      const cipher = direction === 'encrypt' ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
      cipher.setAutoPadding(false);
      return Buffer.concat([cipher.update(input), cipher.final()]);
    } finally {
      wipe(key);
    }
  }

  /** The key as node:crypto takes it: two-key Triple DES runs as three-key with K1 K2 K1. */
  #cipherKey(): Buffer {
    const key = this.#key!;
    if (this.algId !== CALG_3DES_112) return key.read(0, this.#alg.keyBytes);
    const k1k2 = key.read(0, 16);
    const k1k2k1 = Buffer.alloc(24);
    k1k2.copy(k1k2k1, 0);
    k1k2.copy(k1k2k1, 16, 0, 8);
    wipe(k1k2);
    return k1k2k1;
  }
}

/**
 * CryptGenKey for a session key. `flags`: key length in bits in the upper 16 bits (0: the algorithm's),
 * CRYPT_EXPORTABLE, CRYPT_NO_SALT, CRYPT_CREATE_SALT (no salt to make for these ciphers) in the lower.
 */
export function generateSessionKey(algId: number, flags: number, operation: string): SessionKey {
  const alg = sessionAlgorithm(algId, operation);
  const f = dwordFlags(flags, operation);
  const bits = f >>> 16;
  if (bits !== 0 && bits !== alg.keyBytes * 8 && bits !== alg.effectiveBits) {
    throw new CryptError('NTE_BAD_FLAGS', `${alg.calgName} keys are ${lengthNames(alg)} bits; put 0 or that length in the upper 16 bits of dwFlags, not ${bits}`, { operation });
  }
  const low = f & 0xffff;
  if ((low & ~GEN_KEY_FLAGS) !== 0) {
    throw new CryptError('NTE_BAD_FLAGS', `flags 0x${(low & ~GEN_KEY_FLAGS).toString(16)} are not valid for a session key; use CRYPT_EXPORTABLE, CRYPT_NO_SALT or CRYPT_CREATE_SALT`, { operation });
  }
  const key = randomBytes(alg.keyBytes);
  try {
    if (alg.blockBytes === 8) setOddParity(key);
    return new HostSessionKey(alg, secureCopy(key, operation), (low & CRYPT_EXPORTABLE) !== 0);
  } finally {
    wipe(key);
  }
}

/**
 * A session key from raw key bytes (PLAINTEXTKEYBLOB, or a SIMPLEBLOB unwrapped on the card). The bytes
 * are copied into secure memory; the caller wipes its own copy. `flags`: CryptImportKey's dwFlags.
 */
export function importSessionKey(algId: number, keyBytes: Uint8Array, flags: number, operation: string): SessionKey {
  const alg = sessionAlgorithm(algId, operation);
  const f = dwordFlags(flags, operation);
  if ((f & ~IMPORT_KEY_FLAGS) !== 0) {
    throw new CryptError('NTE_BAD_FLAGS', `flags 0x${(f & ~IMPORT_KEY_FLAGS).toString(16)} are not valid for importing a key; use CRYPT_EXPORTABLE, CRYPT_NO_SALT, CRYPT_OAEP, CRYPT_IPSEC_HMAC_KEY or CRYPT_USER_PROTECTED`, { operation });
  }
  const key = bytesValue(keyBytes, 'the key', operation);
  if (key.length !== alg.keyBytes) {
    throw new CryptError('NTE_BAD_DATA', `a ${alg.calgName} key is ${alg.keyBytes} bytes; the blob holds ${key.length}`, { operation });
  }
  return new HostSessionKey(alg, secureCopy(key, operation), (f & CRYPT_EXPORTABLE) !== 0);
}

function sessionAlgorithm(algId: number, operation: string): CipherAlgorithm {
  const alg = typeof algId === 'number' ? cipherByAlgId(algId) : undefined;
  if (alg !== undefined) return alg;
  const what = algId === CALG_AES
    ? 'CALG_AES does not say the key length'
    : `ALG_ID ${typeof algId === 'number' ? `0x${(algId >>> 0).toString(16)}` : String(algId)} is not a session key algorithm of the smart card provider`;
  throw new CryptError('NTE_BAD_ALGID', `${what}; use one of ${supportedNames('cipher')}`, { operation });
}

function lengthNames(alg: CipherAlgorithm): string {
  return alg.effectiveBits === alg.keyBytes * 8 ? `${alg.effectiveBits}` : `${alg.keyBytes * 8} (${alg.effectiveBits} effective)`;
}

function secureCopy(key: Buffer, operation: string): SecureBuffer {
  let buffer: SecureBuffer;
  try {
    buffer = allocateSecure(key.length);
  } catch (cause) {
    if (!isSecureMemoryAvailable()) {
      throw new CryptError('NTE_PROVIDER_DLL_FAIL', 'session keys are kept in secure memory, and its native addon is not built; run `npm run build:native`', { operation, cause });
    }
    throw new CryptError('NTE_NO_MEMORY', 'no secure memory is left for another session key; destroy keys no longer used', { operation, cause });
  }
  buffer.write(0, key);
  return buffer;
}

/** CryptEncrypt/CryptDecrypt dwFlags (X5): none apply to a session key; CRYPT_OAEP is for RSA keys. */
function checkCipherFlags(flags: number, operation: string): void {
  if (flags === 0) return;
  const oaep = flags === CRYPT_OAEP ? ' (CRYPT_OAEP applies to RSA keys only)' : '';
  throw new CryptError('NTE_BAD_FLAGS', `flags ${describe(flags)} are not valid with a session key${oaep}; pass 0`, { operation });
}

function dwordFlags(flags: unknown, operation: string): number {
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    throw new CryptError('NTE_BAD_FLAGS', `dwFlags must be a 32-bit unsigned integer; got ${String(flags)}`, { operation });
  }
  return flags;
}

/** A byte-string parameter (KP_IV, pbData); a view, not a copy. */
function bytesValue(value: unknown, name: string, operation: string): Buffer {
  if (!(value instanceof Uint8Array)) throw new CryptError('ERROR_INVALID_PARAMETER', `${name} must be a Uint8Array or Buffer`, { operation });
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** A DWORD parameter: a number, or the 4 little-endian bytes *pbData points at. */
function dwordValue(value: unknown, name: string, operation: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return value;
  if (value instanceof Uint8Array && value.length === 4) return Buffer.from(value.buffer, value.byteOffset, 4).readUInt32LE(0);
  throw new CryptError('ERROR_INVALID_PARAMETER', `${name} is a DWORD: pass a number from 0 to 0xFFFFFFFF (or its 4 little-endian bytes)`, { operation });
}

/** PKCS#5: 1..block bytes, each holding the count; a whole block when the data is aligned. */
function pkcs5Pad(data: Buffer, block: number): Buffer {
  const pad = block - (data.length % block);
  const out = Buffer.alloc(data.length + pad, pad);
  data.copy(out);
  return out;
}

/** The plaintext length of a PKCS#5-padded block run, or -1 when the padding is wrong. Looks at every pad byte whatever it finds. */
function pkcs5Unpad(data: Buffer, block: number): number {
  const pad = data[data.length - 1]!;
  let bad = pad === 0 || pad > block ? 1 : 0;
  for (let i = 1; i <= block; i++) {
    const inPad = i <= pad ? 1 : 0;
    bad |= inPad & (data[data.length - i] !== pad ? 1 : 0);
  }
  return bad ? -1 : data.length - pad;
}

/** DES parity: the low bit of every byte makes its count of set bits odd. */
function setOddParity(key: Buffer): void {
  for (let i = 0; i < key.length; i++) {
    let b = key[i]! & 0xfe;
    let ones = 0;
    for (let v = b; v !== 0; v >>= 1) ones += v & 1;
    if (ones % 2 === 0) b |= 1;
    key[i] = b;
  }
}

function describe(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? `0x${(value >>> 0).toString(16)}` : String(value);
}
