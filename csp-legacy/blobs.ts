/**
 * CryptExportKey and CryptImportKey.
 *
 * Export: PUBLICKEYBLOB of a card key or imported public key (from the public key the handle holds: no
 * card call); SIMPLEBLOB of an exportable session key, wrapped with an RSA exchange public key (a card
 * key's or an imported one) by node:crypto — PKCS#1 v1.5 type 2, or OAEP SHA-1 with CRYPT_OAEP, written
 * little-endian (§3.4); PLAINTEXTKEYBLOB of an exportable session key. A card key's private half never
 * leaves the card: PRIVATEKEYBLOB is refused as Windows refuses any non-exportable key (E2).
 *
 * Import: PUBLICKEYBLOB → a public key in host memory (the container is not changed, K2); SIMPLEBLOB →
 * a session key whose bytes the card unwraps with the container's AT_KEYEXCHANGE key (CardRSADecrypt;
 * the blob's little-endian block is the minidriver's order, so it goes as it is); PLAINTEXTKEYBLOB → a
 * session key; PRIVATEKEYBLOB → onto the card, into the slot of the context's container that aiKeyAlg
 * names (CardCreateContainer with CARD_CREATE_CONTAINER_KEY_IMPORT), replacing a key there (K2).
 *
 * Codes (E2–E4, §3.1): an unknown bType → NTE_BAD_TYPE; a malformed blob → NTE_BAD_DATA; a public blob
 * of a session key → NTE_BAD_KEY; a non-exportable session key → NTE_BAD_KEY_STATE. Decided here where
 * the reference is silent:
 *  - PUBLICKEYBLOB with a non-null hExpKey: NTE_BAD_KEY (WRI); so also PLAINTEXTKEYBLOB with one, and
 *    CryptImportKey of a blob that is not encrypted (PUBLICKEYBLOB, PLAINTEXTKEYBLOB, PRIVATEKEYBLOB)
 *    with a non-null hPubKey — encrypted private blobs are not offered;
 *  - SIMPLEBLOB without a wrapping key, or wrapped by a key that is not an RSA exchange key (a session
 *    key, a CALG_RSA_SIGN key): NTE_BAD_PUBLIC_KEY (WRI, MS docs); on import the wrapping key must be a
 *    card AT_KEYEXCHANGE key (only the card can unwrap);
 *  - PRIVATEKEYBLOB of an imported public key: NTE_BAD_KEY_STATE (not exportable); PLAINTEXTKEYBLOB or
 *    SIMPLEBLOB of a key pair: NTE_BAD_KEY; OPAQUEKEYBLOB, PUBLICKEYBLOBEX, SYMMETRICWRAPKEYBLOB:
 *    NTE_BAD_TYPE (not offered);
 *  - an aiKeyAlg a blob cannot carry (a PUBLICKEYBLOB/PRIVATEKEYBLOB not CALG_RSA_KEYX/SIGN, a
 *    SIMPLEBLOB of a non-session algorithm): NTE_BAD_ALGID, before any card call;
 *  - flags: CRYPT_OAEP only for SIMPLEBLOB (export and import); CRYPT_IPSEC_HMAC_KEY only for
 *    PLAINTEXTKEYBLOB; CRYPT_EXPORTABLE on a PRIVATEKEYBLOB → NTE_BAD_FLAGS (a card key is never
 *    exportable); CRYPT_USER_PROTECTED on a silent context → NTE_SILENT_CONTEXT (A10), except for a
 *    PUBLICKEYBLOB, where the flag has nothing to protect and is ignored;
 *  - a PRIVATEKEYBLOB whose private numbers do not belong to its public key: NTE_BAD_DATA (a card key
 *    that signs wrongly cannot be repaired from the host). Unlike Windows, the blob must be complete
 *    (§3.3's short form lacks part of d, which a card import needs).
 */
import { createPublicKey } from 'node:crypto';
import {
  AT_KEYEXCHANGE, CALG_RSA_KEYX, CALG_RSA_SIGN, CARD_CREATE_CONTAINER_KEY_IMPORT, PRIVATEKEYBLOB, PUBLICKEYBLOB,
} from '../minidriver/constants.js';
import {
  type DecodedRsaPrivateKey, decodeRsaPrivateKeyBlob, decodeRsaPublicKeyBlob, encodeRsaPrivateKeyBlob, encodeRsaPublicKeyBlob,
} from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import { wipe } from '../native/index.js';
import { cipherByAlgId, supportedNames } from './algorithms.js';
import { boundContainer, onCard } from './card-access.js';
import {
  CRYPT_EXPORTABLE, CRYPT_IPSEC_HMAC_KEY, CRYPT_NO_SALT, CRYPT_OAEP, CRYPT_USER_PROTECTED, PLAINTEXTKEYBLOB, SIMPLEBLOB,
} from './constants.js';
import { cardRsaDecrypt, rsaPublicEncrypt } from './encryption.js';
import { HCRYPTKEY, type HCRYPTPROV, useHandle } from './handles.js';
import { decodePlaintextKeyBlob, decodeSimpleBlob, encodePlaintextKeyBlob, encodeSimpleBlob, readBlobHeader } from './key-blobs.js';
import type { CardKeyPair, CspKey, PublicKeyOnly, SessionKeyRef } from './key-model.js';
import {
  bytesArgument, cardKeyFromInfo, checkFlags, dwordArgument, optionalKeyHandle, refuseExportableCardKey, refuseProtectionWhenSilent,
  rememberSlotKey, rsaModulus, slotOfAlgId, where,
} from './keys.js';
import { importSessionKey } from './session-key.js';

/** sizeof(BLOBHEADER) + sizeof(RSAPUBKEY). */
const RSA_BLOB_HEADER = 20;
/** CryptImportKey's documented flags. */
const IMPORT_FLAGS = CRYPT_EXPORTABLE | CRYPT_USER_PROTECTED | CRYPT_NO_SALT | CRYPT_OAEP | CRYPT_IPSEC_HMAC_KEY;

const BLOB_NAMES: Readonly<Record<number, string>> = {
  [SIMPLEBLOB]: 'SIMPLEBLOB', [PUBLICKEYBLOB]: 'PUBLICKEYBLOB', [PRIVATEKEYBLOB]: 'PRIVATEKEYBLOB', [PLAINTEXTKEYBLOB]: 'PLAINTEXTKEYBLOB',
};

function blobName(type: number): string {
  return BLOB_NAMES[type] ?? `blob type ${type}`;
}

function rejectFlags(flags: number, bits: number, type: number, operation: string): void {
  const bad = flags & bits;
  if (bad) throw new CryptError('NTE_BAD_FLAGS', `dwFlags 0x${bad.toString(16)} do not apply to a ${blobName(type)}`, { operation });
}

function unencrypted(type: number, key: HCRYPTKEY | null, operation: string, direction: 'export' | 'import'): void {
  if (key) {
    const name = direction === 'export' ? 'hExpKey' : 'hPubKey';
    throw new CryptError('NTE_BAD_KEY', `a ${blobName(type)} is not encrypted here; pass null as ${name}`, { operation });
  }
}

// --- export ----------------------------------------------------------------------------------------

/** PUBLICKEYBLOB of an RSA key: an imported one byte for byte as it came (E5), a card key from its numbers. */
function publicKeyBlob(key: CardKeyPair | PublicKeyOnly, operation: string): Buffer {
  if (key.kind === 'public' && key.blob) return Buffer.from(key.blob);
  const jwk = key.publicKey.export({ format: 'jwk' });
  try {
    return encodeRsaPublicKeyBlob({ modulus: Buffer.from(jwk.n!, 'base64url'), publicExponent: Buffer.from(jwk.e!, 'base64url'), aiKeyAlg: key.algId });
  } catch (cause) {
    throw new CryptError('NTE_BAD_KEY', `this key has no PUBLICKEYBLOB form: ${cause instanceof Error ? cause.message : String(cause)}`, { ...where(key, operation), cause });
  }
}

function sessionKeyOf(key: CspKey, type: number, operation: string): SessionKeyRef {
  if (key.kind !== 'session') {
    throw new CryptError('NTE_BAD_KEY', `a ${blobName(type)} carries a session key; this is ${key.kind === 'card' ? 'a smart card key pair' : 'an RSA public key'} (export it as a PUBLICKEYBLOB)`, where(key, operation));
  }
  return key;
}

function requireExportable(key: SessionKeyRef, operation: string): void {
  if (!key.session.exportable) {
    throw new CryptError('NTE_BAD_KEY_STATE', 'the session key is not exportable; create or import it with CRYPT_EXPORTABLE to export it', { operation });
  }
}

/** The RSA exchange public key a SIMPLEBLOB is wrapped with (E3). */
function wrappingKey(exp: HCRYPTKEY | null, operation: string): CardKeyPair | PublicKeyOnly {
  if (!exp) throw new CryptError('NTE_BAD_PUBLIC_KEY', 'a SIMPLEBLOB is wrapped with an RSA key-exchange public key: pass it as hExpKey (CryptGetUserKey(AT_KEYEXCHANGE), or CryptImportKey of the recipient\'s PUBLICKEYBLOB)', { operation });
  const key = exp.key;
  if (key.kind === 'session') throw new CryptError('NTE_BAD_PUBLIC_KEY', 'hExpKey is a session key; a SIMPLEBLOB is wrapped with an RSA key-exchange public key', { operation });
  if (key.algId !== CALG_RSA_KEYX) throw new CryptError('NTE_BAD_PUBLIC_KEY', 'hExpKey is a signature key (CALG_RSA_SIGN); wrap with a key-exchange key (AT_KEYEXCHANGE, CALG_RSA_KEYX)', where(key, operation));
  return key;
}

/**
 * CryptExportKey(hKey, hExpKey, dwBlobType, dwFlags) → the blob. PUBLICKEYBLOB (hExpKey null) of a card
 * key or public key; SIMPLEBLOB (hExpKey an RSA exchange key; CRYPT_OAEP for OAEP wrapping) and
 * PLAINTEXTKEYBLOB of an exportable session key. No card call, no PIN.
 */
export async function CryptExportKey(hKey: HCRYPTKEY, hExpKey: HCRYPTKEY | null, blobType: number, flags = 0): Promise<Buffer> {
  const operation = 'CryptExportKey';
  const handle = useHandle(hKey, 'key', operation);
  const exp = optionalKeyHandle(hExpKey, operation);
  const type = dwordArgument(blobType, 'dwBlobType', operation);
  const f = checkFlags(flags, CRYPT_OAEP, operation);
  const key = handle.key;
  switch (type) {
    case PUBLICKEYBLOB: {
      unencrypted(type, exp, operation, 'export');
      rejectFlags(f, CRYPT_OAEP, type, operation);
      if (key.kind === 'session') throw new CryptError('NTE_BAD_KEY', 'a session key has no public key; export it as a SIMPLEBLOB (or a PLAINTEXTKEYBLOB)', { operation });
      return publicKeyBlob(key, operation);
    }
    case PRIVATEKEYBLOB: {
      if (key.kind === 'session') throw new CryptError('NTE_BAD_KEY', 'a session key has no private key blob; export it as a SIMPLEBLOB (or a PLAINTEXTKEYBLOB)', { operation });
      const why = key.kind === 'card' ? "a smart card key's private key never leaves the card" : 'this handle holds a public key only';
      throw new CryptError('NTE_BAD_KEY_STATE', `${why}, so it cannot be exported as a PRIVATEKEYBLOB; export the PUBLICKEYBLOB`, where(key, operation));
    }
    case SIMPLEBLOB: {
      const wrapper = wrappingKey(exp, operation);
      const session = sessionKeyOf(key, type, operation);
      requireExportable(session, operation);
      const keyBytes = session.session.keyBytes(operation);
      try {
        const encryptedKeyLE = rsaPublicEncrypt(wrapper, keyBytes, (f & CRYPT_OAEP) !== 0, operation);
        return encodeSimpleBlob({ aiKeyAlg: session.session.algId, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE }, operation);
      } finally {
        wipe(keyBytes);
      }
    }
    case PLAINTEXTKEYBLOB: {
      unencrypted(type, exp, operation, 'export');
      rejectFlags(f, CRYPT_OAEP, type, operation);
      const session = sessionKeyOf(key, type, operation);
      requireExportable(session, operation);
      const keyBytes = session.session.keyBytes(operation);
      try {
        return encodePlaintextKeyBlob(session.session.algId, keyBytes, operation);
      } finally {
        wipe(keyBytes);
      }
    }
    default:
      throw new CryptError('NTE_BAD_TYPE', `${blobName(type)} is not a blob type this provider exports; use PUBLICKEYBLOB, SIMPLEBLOB or PLAINTEXTKEYBLOB`, { operation });
  }
}

// --- import ----------------------------------------------------------------------------------------

function rsaAlgId(aiKeyAlg: number, type: number, operation: string): number {
  if (aiKeyAlg !== CALG_RSA_KEYX && aiKeyAlg !== CALG_RSA_SIGN) {
    throw new CryptError('NTE_BAD_ALGID', `a ${blobName(type)}'s aiKeyAlg must be CALG_RSA_KEYX (0xa400) or CALG_RSA_SIGN (0x2400), not 0x${aiKeyAlg.toString(16)}`, { operation });
  }
  return aiKeyAlg;
}

function badBlob(type: number, cause: unknown, operation: string): CryptError {
  return new CryptError('NTE_BAD_DATA', `not a valid ${blobName(type)}: ${cause instanceof Error ? cause.message : String(cause)}`, { operation, cause });
}

/** PUBLICKEYBLOB → a public key in host memory (WRI's rules: ≥ 20 + bitlen/8 bytes, magic RSA1; trailing bytes ignored). */
function importPublic(blob: Buffer, aiKeyAlg: number, operation: string): PublicKeyOnly {
  const algId = rsaAlgId(aiKeyAlg, PUBLICKEYBLOB, operation);
  let decoded;
  try {
    decoded = decodeRsaPublicKeyBlob(blob);
  } catch (cause) {
    throw badBlob(PUBLICKEYBLOB, cause, operation);
  }
  let publicKey;
  try {
    publicKey = createPublicKey({ key: { kty: 'RSA', n: decoded.modulus.toString('base64url'), e: decoded.publicExponent.toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw badBlob(PUBLICKEYBLOB, cause, operation);
  }
  return { kind: 'public', algId, bits: decoded.bitLength, publicKey, blob: Buffer.from(blob.subarray(0, RSA_BLOB_HEADER + decoded.bitLength / 8)) };
}

/** SIMPLEBLOB → a session key, its bytes unwrapped on the card by the AT_KEYEXCHANGE key given as hPubKey. */
async function importSimple(blob: Buffer, pub: HCRYPTKEY | null, flags: number, operation: string): Promise<SessionKeyRef> {
  if (!pub) throw new CryptError('NTE_BAD_PUBLIC_KEY', 'a SIMPLEBLOB is unwrapped by the card\'s key-exchange key: pass CryptGetUserKey(hProv, AT_KEYEXCHANGE) as hPubKey', { operation });
  const key = pub.key;
  if (key.kind !== 'card' || key.keySpec !== AT_KEYEXCHANGE) {
    const what = key.kind === 'session' ? 'a session key' : key.kind === 'public' ? 'a public key, which cannot decrypt' : 'the AT_SIGNATURE key, which only signs';
    throw new CryptError('NTE_BAD_PUBLIC_KEY', `hPubKey is ${what}; a SIMPLEBLOB is unwrapped by the card's AT_KEYEXCHANGE key (CryptGetUserKey(hProv, AT_KEYEXCHANGE))`, where(key, operation));
  }
  const simple = decodeSimpleBlob(blob, operation);
  if (!cipherByAlgId(simple.aiKeyAlg)) {
    throw new CryptError('NTE_BAD_ALGID', `the SIMPLEBLOB wraps ALG_ID 0x${simple.aiKeyAlg.toString(16)}, not a session key algorithm of this provider (${supportedNames('cipher')})`, { operation });
  }
  const k = rsaModulus(key.publicKey).length;
  if (simple.encryptedKeyLE.length < k) {
    throw new CryptError('NTE_BAD_DATA', `a SIMPLEBLOB wrapped by this ${k * 8}-bit key is at least ${12 + k} bytes; got ${blob.length}`, where(key, operation));
  }
  const block = Buffer.from(simple.encryptedKeyLE.buffer, simple.encryptedKeyLE.byteOffset, k); // trailing bytes ignored (§3.4)
  const keyBytes = await cardRsaDecrypt(pub.prov, key, block, (flags & CRYPT_OAEP) !== 0, operation);
  try {
    return { kind: 'session', session: importSessionKey(simple.aiKeyAlg, keyBytes, flags, operation) };
  } finally {
    wipe(keyBytes);
  }
}

/** PLAINTEXTKEYBLOB → a session key (its length must be the algorithm's; session-key.ts checks). */
function importPlaintext(blob: Buffer, flags: number, operation: string): SessionKeyRef {
  const { aiKeyAlg, keyBytes } = decodePlaintextKeyBlob(blob, operation);
  return { kind: 'session', session: importSessionKey(aiKeyAlg, keyBytes, flags, operation) };
}

const toBigInt = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));

/** The private numbers must belong to the public key: n = p·q, and the CRT values derived from d and e. */
function checkRsaPair(k: DecodedRsaPrivateKey, operation: string): void {
  const [n, e, d, p, q, dp, dq, qi] = [k.modulus, k.publicExponent, k.privateExponent, k.prime1, k.prime2, k.exponent1, k.exponent2, k.coefficient].map(toBigInt) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  const consistent = p > 1n && q > 1n && p * q === n
    && d % (p - 1n) === dp && d % (q - 1n) === dq && (qi * q) % p === 1n
    && (e * dp) % (p - 1n) === 1n && (e * dq) % (q - 1n) === 1n;
  if (!consistent) throw new CryptError('NTE_BAD_DATA', 'the private numbers of the PRIVATEKEYBLOB do not belong to its public key', { operation });
}

function wipeKey(k: DecodedRsaPrivateKey): void {
  for (const v of [k.privateExponent, k.prime1, k.prime2, k.exponent1, k.exponent2, k.coefficient]) wipe(v);
}

/** PRIVATEKEYBLOB → onto the card, into the slot aiKeyAlg names in the context's container (K2). */
async function importPrivate(prov: HCRYPTPROV, blob: Buffer, aiKeyAlg: number, flags: number, operation: string): Promise<CardKeyPair> {
  const slot = slotOfAlgId(rsaAlgId(aiKeyAlg, PRIVATEKEYBLOB, operation))!;
  refuseExportableCardKey(flags, operation);
  const { card, container } = boundContainer(prov, operation);
  let decoded: DecodedRsaPrivateKey;
  try {
    decoded = decodeRsaPrivateKeyBlob(blob);
  } catch (cause) {
    throw badBlob(PRIVATEKEYBLOB, cause, operation);
  }
  let keyData: Buffer | undefined;
  try {
    checkRsaPair(decoded, operation);
    try {
      keyData = encodeRsaPrivateKeyBlob(decoded);
    } catch (cause) {
      throw badBlob(PRIVATEKEYBLOB, cause, operation);
    }
    const expected = createPublicKey({ key: { kty: 'RSA', n: decoded.modulus.toString('base64url'), e: decoded.publicExponent.toString('base64url') }, format: 'jwk' });
    const data = keyData;
    const key = await onCard(prov, card, operation, true, () => card.transaction(async () => {
      await card.createKey(container.index, CARD_CREATE_CONTAINER_KEY_IMPORT, slot, decoded.bitLength, data);
      return cardKeyFromInfo(card, container, await card.containerInfo(container.index, true), slot);
    }));
    if (!key || !key.publicKey.equals(expected)) {
      throw new CryptError('NTE_FAIL', 'the card does not show the imported key in its slot after the import; check the card', { operation, card: card.identity.label, container: container.name });
    }
    return rememberSlotKey(prov, key);
  } finally {
    if (keyData) wipe(keyData);
    wipeKey(decoded);
  }
}

/**
 * CryptImportKey(hProv, pbData, hPubKey, dwFlags) → a key handle. PUBLICKEYBLOB (a public key, the
 * container unchanged); SIMPLEBLOB (hPubKey: the card's AT_KEYEXCHANGE key, which unwraps it on the
 * card under the PIN; CRYPT_OAEP for OAEP); PLAINTEXTKEYBLOB (CRYPT_EXPORTABLE makes the key
 * exportable); PRIVATEKEYBLOB (onto the card into the context's container, under the PIN).
 */
export async function CryptImportKey(hProv: HCRYPTPROV, data: Uint8Array, hPubKey: HCRYPTKEY | null = null, flags = 0): Promise<HCRYPTKEY> {
  const operation = 'CryptImportKey';
  const prov = useHandle(hProv, 'prov', operation);
  const blob = bytesArgument(data, 'pbData', operation);
  const pub = optionalKeyHandle(hPubKey, operation);
  const f = checkFlags(flags, IMPORT_FLAGS, operation);
  const { bType, aiKeyAlg } = readBlobHeader(blob, operation);
  // A public key is never used under protection; every other import promises a prompt the flag asks for.
  if (bType !== PUBLICKEYBLOB) refuseProtectionWhenSilent(prov, f, operation);
  switch (bType) {
    case PUBLICKEYBLOB:
      unencrypted(bType, pub, operation, 'import');
      rejectFlags(f, CRYPT_OAEP | CRYPT_IPSEC_HMAC_KEY, bType, operation);
      return new HCRYPTKEY(prov, importPublic(blob, aiKeyAlg, operation));
    case SIMPLEBLOB:
      rejectFlags(f, CRYPT_IPSEC_HMAC_KEY, bType, operation);
      return new HCRYPTKEY(prov, await importSimple(blob, pub, f, operation));
    case PLAINTEXTKEYBLOB:
      unencrypted(bType, pub, operation, 'import');
      rejectFlags(f, CRYPT_OAEP, bType, operation);
      return new HCRYPTKEY(prov, importPlaintext(blob, f, operation));
    case PRIVATEKEYBLOB:
      unencrypted(bType, pub, operation, 'import');
      rejectFlags(f, CRYPT_OAEP | CRYPT_IPSEC_HMAC_KEY, bType, operation);
      return new HCRYPTKEY(prov, await importPrivate(prov, blob, aiKeyAlg, f, operation));
    default:
      throw new CryptError('NTE_BAD_TYPE', `${blobName(bType)} is not a blob type this provider imports; use PUBLICKEYBLOB, SIMPLEBLOB, PLAINTEXTKEYBLOB or PRIVATEKEYBLOB`, { operation });
  }
}
