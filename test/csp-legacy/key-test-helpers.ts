/**
 * What the key, hash and blob suites of the CryptoAPI front end share: the Windows values they pass
 * (typed from ../shared/reference/cryptoapi-cng.md, never imported from the code under test), key pairs
 * made the way an application makes them, and blobs written by hand from the reference's layouts.
 */
import { strict as assert } from 'node:assert';
import crypto, { type KeyObject } from 'node:crypto';
import { CryptGenKey } from '../../csp-legacy/keys.js';
import type { HCRYPTKEY, HCRYPTPROV } from '../../csp-legacy/handles.js';
import { ENTRY_POINT_VERSIONS } from '../../minidriver/card-module.js';
import type { LoadedModule } from '../../pkcs11-bridge/module-registry.js';
import type { SmartCard } from '../../smartcard/card.js';
import pkcs11js from 'pkcs11js';
import { CKO, grapheneObjects, rsaPublicKey, type TokenObject } from '../pkcs11-bridge/helpers.js';
import type { CspFixture } from './fixture.js';

// §1.1
export const CRYPT_VERIFYCONTEXT = 0xf0000000;
export const CRYPT_NEWKEYSET = 0x8;
export const CRYPT_DELETEKEYSET = 0x10;
export const CRYPT_MACHINE_KEYSET = 0x20;
export const CRYPT_SILENT = 0x40;
export const CRYPT_EXPORTABLE = 0x1;
export const CRYPT_USER_PROTECTED = 0x2;
export const CRYPT_CREATE_SALT = 0x4;
export const CRYPT_IPSEC_HMAC_KEY = 0x100;
export const CRYPT_ARCHIVABLE = 0x4000;
export const CRYPT_DECRYPT_RSA_NO_PADDING_CHECK = 0x20;
export const CRYPT_OAEP = 0x40;
export const CRYPT_NOHASHOID = 0x1;
export const CRYPT_X931_FORMAT = 0x4;
export const AT_KEYEXCHANGE = 1;
export const AT_SIGNATURE = 2;
// §1.2
export const CALG_RSA_KEYX = 0xa400;
export const CALG_RSA_SIGN = 0x2400;
export const CALG_AES_128 = 0x660e;
export const CALG_AES_192 = 0x660f;
export const CALG_AES_256 = 0x6610;
export const CALG_AES = 0x6611;
export const CALG_3DES = 0x6603;
export const CALG_RC4 = 0x6801;
export const CALG_MD5 = 0x8003;
export const CALG_SHA1 = 0x8004;
export const CALG_SSL3_SHAMD5 = 0x8008;
export const CALG_HMAC = 0x8009;
export const CALG_SHA_256 = 0x800c;
export const CALG_SHA_384 = 0x800d;
export const CALG_SHA_512 = 0x800e;
// §1.4
export const KP_IV = 1;
export const KP_MODE = 4;
export const KP_PERMISSIONS = 6;
export const KP_ALGID = 7;
export const KP_BLOCKLEN = 8;
export const KP_KEYLEN = 9;
export const KP_CERTIFICATE = 26;
export const KP_PIN_ID = 43;
export const KP_PIN_INFO = 44;
export const CRYPT_EXPORT = 0x4;
// §1.5
export const HP_ALGID = 1;
export const HP_HASHVAL = 2;
export const HP_HASHSIZE = 4;
export const HP_HMAC_INFO = 5;
// §1.6
export const SIMPLEBLOB = 1;
export const PUBLICKEYBLOB = 6;
export const PRIVATEKEYBLOB = 7;
export const PLAINTEXTKEYBLOB = 8;
export const OPAQUEKEYBLOB = 9;
export const RSA1 = 0x31415352;

/** The hashes CryptoAPI signs, with node:crypto's names and their DER DigestInfo prefixes (RFC 8017 §9.2). */
export const HASHES = [
  { algId: CALG_MD5, node: 'md5', size: 16, prefix: '3020300c06082a864886f70d020505000410' },
  { algId: CALG_SHA1, node: 'sha1', size: 20, prefix: '3021300906052b0e03021a05000414' },
  { algId: CALG_SHA_256, node: 'sha256', size: 32, prefix: '3031300d060960864801650304020105000420' },
  { algId: CALG_SHA_384, node: 'sha384', size: 48, prefix: '3041300d060960864801650304020205000430' },
  { algId: CALG_SHA_512, node: 'sha512', size: 64, prefix: '3051300d060960864801650304020305000440' },
] as const;

export function reversed(b: Uint8Array): Buffer {
  return Buffer.from(b).reverse();
}

/** A new container with one RSA key pair generated on the card, by CryptGenKey. */
export async function newKeyPair(csp: CspFixture, keySpec: number, bits = 1024, label?: string): Promise<{ prov: HCRYPTPROV; key: HCRYPTKEY; name: string }> {
  const name = csp.uniqueName();
  const prov = await csp.newContainer(name, label);
  const key = await CryptGenKey(prov, keySpec, bits << 16);
  return { prov, key, name };
}

/** PUBLICKEYBLOB of a node:crypto RSA public key, written from §3.2 (modulus little-endian). */
export function publicKeyBlobOf(key: KeyObject, aiKeyAlg = CALG_RSA_KEYX): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const e = Buffer.from(jwk.e!, 'base64url');
  const header = Buffer.alloc(20);
  header.writeUInt8(PUBLICKEYBLOB, 0);
  header.writeUInt8(2, 1);
  header.writeUInt16LE(0, 2);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(RSA1, 8);
  header.writeUInt32LE(n.length * 8, 12);
  header.writeUInt32LE(Buffer.concat([Buffer.alloc(4 - e.length), e]).readUInt32BE(0), 16);
  return Buffer.concat([header, reversed(n)]);
}

/** SIMPLEBLOB from §3.4: BLOBHEADER (bType 1, version 2, aiKeyAlg), ALG_ID CALG_RSA_KEYX, the block little-endian. */
export function simpleBlobOf(aiKeyAlg: number, wrappedBigEndian: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt8(SIMPLEBLOB, 0);
  header.writeUInt8(2, 1);
  header.writeUInt16LE(0, 2);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(CALG_RSA_KEYX, 8);
  return Buffer.concat([header, reversed(wrappedBigEndian)]);
}

/** PLAINTEXTKEYBLOB from §3.5. */
export function plaintextKeyBlobOf(aiKeyAlg: number, key: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt8(PLAINTEXTKEYBLOB, 0);
  header.writeUInt8(2, 1);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(key.length, 8);
  return Buffer.concat([header, key]);
}

/** The raw RSA block of a little-endian RSA value under a node private key (no padding removed). */
export function rawPrivateBlock(privateKey: KeyObject, valueLE: Buffer): Buffer {
  return crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_NO_PADDING }, reversed(valueLE));
}

/** The message of a PKCS#1 v1.5 type 2 block (00 02 PS≥8 nonzero 00 M), checked byte by byte. */
export function unpadType2(block: Buffer): Buffer {
  assert.equal(block[0], 0x00, 'type 2 block starts 00');
  assert.equal(block[1], 0x02, 'type 2 block type byte');
  const end = block.indexOf(0x00, 2);
  assert.ok(end >= 10, `at least 8 nonzero padding bytes (separator at ${end})`);
  return block.subarray(end + 1);
}

/** The signature block a public key recovers from a little-endian signature (RSA_NO_PADDING). */
export function recoveredBlock(publicKey: KeyObject, signatureLE: Buffer): Buffer {
  return crypto.publicDecrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, reversed(signatureLE));
}

/** EMSA-PKCS1-v1_5 (type 1) of k bytes around a payload. */
export function pkcs1Type1(k: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - payload.length - 3, 0xff), Buffer.from([0]), payload]);
}

/** The RSA public key a CryptoAPI key handle holds, as node:crypto sees it (white-box: tests compare it with the token's). */
export function publicKeyOf(key: HCRYPTKEY): KeyObject {
  const k = key.key;
  assert.ok(k.kind !== 'session', 'an RSA key handle');
  return k.publicKey;
}

/** The RSA public keys graphene finds on the token under a container's label (independent of the code under test). */
export function tokenRsaPublicKeys(tokenLabel: string, container: string): KeyObject[] {
  return grapheneObjects(tokenLabel)
    .filter((o) => o.cls === CKO.PUBLIC_KEY && o.label === container && o.keyType === pkcs11js.CKK_RSA)
    .map((o) => rsaPublicKey(o.modulus!, o.publicExponent!));
}

/** Private key objects on the token under a container's label: sensitive, never extractable. */
export function tokenPrivateKeys(tokenLabel: string, pin: string, container: string): TokenObject[] {
  return grapheneObjects(tokenLabel, pin).filter((o) => o.cls === CKO.PRIVATE_KEY && o.label === container);
}

export { counting, type Counts, warmIo } from '../support/call-counter.js';
