/**
 * Key blobs read (and, for imports, written) by hand, from the layouts in reference/cryptoapi-cng.md (§3), so that the
 * interop area checks the code under test against something it did not write. Each reader returns a
 * node:crypto KeyObject (built from JWK) and throws a plain Error naming what is wrong.
 *
 *   PUBLICKEYBLOB (CryptoAPI, "CAPIPUBLICBLOB")  BLOBHEADER{bType=6, bVersion=2, reserved, aiKeyAlg}
 *                                               RSAPUBKEY{magic "RSA1", bitlen, pubexp} modulus (LE)
 *   BCRYPT_RSAKEY_BLOB ("RSAPUBLICBLOB")         Magic "RSA1", BitLength, cbPublicExp, cbModulus,
 *                                               cbPrime1, cbPrime2, exponent (BE), modulus (BE)
 *   BCRYPT_ECCKEY_BLOB ("ECCPUBLICBLOB")         Magic, cbKey, X (BE), Y (BE)
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { EcCurve } from '../case.js';

const RSA1 = 0x31415352;
const PUBLICKEYBLOB = 0x06;

/** ECC public magics (bcrypt.h): 'ECS1/3/5' for ECDSA, 'ECK1/3/5' for ECDH. */
const ECC_PUBLIC_MAGICS: Record<number, { curve: EcCurve; use: 'ECDSA' | 'ECDH'; bytes: number }> = {
  0x31534345: { curve: 'P-256', use: 'ECDSA', bytes: 32 },
  0x33534345: { curve: 'P-384', use: 'ECDSA', bytes: 48 },
  0x35534345: { curve: 'P-521', use: 'ECDSA', bytes: 66 },
  0x314b4345: { curve: 'P-256', use: 'ECDH', bytes: 32 },
  0x334b4345: { curve: 'P-384', use: 'ECDH', bytes: 48 },
  0x354b4345: { curve: 'P-521', use: 'ECDH', bytes: 66 },
};

function rsaKey(modulusBE: Buffer, exponentBE: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'RSA', n: stripZeros(modulusBE).toString('base64url'), e: stripZeros(exponentBE).toString('base64url') }, format: 'jwk' });
}

function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

export function readCapiPublicKeyBlob(blob: Buffer): { key: KeyObject; aiKeyAlg: number; bits: number } {
  if (blob.length < 20) throw new Error(`PUBLICKEYBLOB: ${blob.length} bytes is shorter than its headers`);
  if (blob[0] !== PUBLICKEYBLOB || blob[1] !== 2) throw new Error(`PUBLICKEYBLOB: bType ${blob[0]} / bVersion ${blob[1]}, expected 6 / 2`);
  if (blob.readUInt32LE(8) !== RSA1) throw new Error('PUBLICKEYBLOB: RSAPUBKEY magic is not "RSA1"');
  const bits = blob.readUInt32LE(12);
  const modulusLength = bits / 8;
  if (blob.length !== 20 + modulusLength) throw new Error(`PUBLICKEYBLOB: ${blob.length} bytes, expected ${20 + modulusLength} for ${bits} bits`);
  const exponent = Buffer.alloc(4);
  exponent.writeUInt32BE(blob.readUInt32LE(16));
  const modulus = Buffer.from(blob.subarray(20)).reverse();
  return { key: rsaKey(modulus, exponent), aiKeyAlg: blob.readUInt32LE(4), bits };
}

export function readBcryptRsaPublicBlob(blob: Buffer): { key: KeyObject; bits: number } {
  if (blob.length < 24) throw new Error(`BCRYPT_RSAKEY_BLOB: ${blob.length} bytes is shorter than its header`);
  if (blob.readUInt32LE(0) !== RSA1) throw new Error('BCRYPT_RSAKEY_BLOB: Magic is not BCRYPT_RSAPUBLIC_MAGIC');
  const bits = blob.readUInt32LE(4);
  const cbExp = blob.readUInt32LE(8);
  const cbModulus = blob.readUInt32LE(12);
  if (blob.readUInt32LE(16) !== 0 || blob.readUInt32LE(20) !== 0) throw new Error('BCRYPT_RSAKEY_BLOB: a public blob has no primes');
  if (blob.length !== 24 + cbExp + cbModulus) throw new Error(`BCRYPT_RSAKEY_BLOB: ${blob.length} bytes, header says ${24 + cbExp + cbModulus}`);
  return { key: rsaKey(blob.subarray(24 + cbExp), blob.subarray(24, 24 + cbExp)), bits };
}

export function readBcryptEccPublicBlob(blob: Buffer): { key: KeyObject; curve: EcCurve; use: 'ECDSA' | 'ECDH' } {
  if (blob.length < 8) throw new Error(`BCRYPT_ECCKEY_BLOB: ${blob.length} bytes is shorter than its header`);
  const kind = ECC_PUBLIC_MAGICS[blob.readUInt32LE(0)];
  if (!kind) throw new Error(`BCRYPT_ECCKEY_BLOB: Magic 0x${blob.readUInt32LE(0).toString(16)} is no ECC public magic`);
  const cbKey = blob.readUInt32LE(4);
  if (cbKey !== kind.bytes || blob.length !== 8 + 2 * cbKey) throw new Error(`BCRYPT_ECCKEY_BLOB: cbKey ${cbKey} / ${blob.length} bytes do not fit ${kind.curve}`);
  const x = blob.subarray(8, 8 + cbKey);
  const y = blob.subarray(8 + cbKey);
  const key = createPublicKey({ key: { kty: 'EC', crv: kind.curve, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
  return { key, curve: kind.curve, use: kind.use };
}

/** The ECCPUBLICBLOB of a node:crypto EC public key, written by hand (what an application sends NCryptImportKey). */
export function writeBcryptEccPublicBlob(key: KeyObject, use: 'ECDSA' | 'ECDH'): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  const y = Buffer.from(jwk.y!, 'base64url');
  const magic = Number(Object.entries(ECC_PUBLIC_MAGICS).find(([, k]) => k.curve === jwk.crv && k.use === use)![0]);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(x.length, 4);
  return Buffer.concat([header, x, y]);
}

/** The slot blob CardGetContainerInfo gives: a PUBLICKEYBLOB for RSA, a BCRYPT_ECCKEY_BLOB for ECC. */
export function readContainerInfoBlob(blob: Buffer): KeyObject {
  return blob[0] === PUBLICKEYBLOB ? readCapiPublicKeyBlob(blob).key : readBcryptEccPublicBlob(blob).key;
}

export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.equals(b);
}

export function reversed(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes).reverse();
}

/**
 * The BCRYPT_RSAKEY_BLOB "RSAPRIVATEBLOB" (Magic "RSA2": e, n, p, q, big-endian) of a node:crypto RSA
 * private key, written by hand: what an application sends NCryptImportKey to put a key on a card.
 */
export function writeBcryptRsaPrivateBlob(privateKey: KeyObject): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const [e, n, p, q] = [jwk.e!, jwk.n!, jwk.p!, jwk.q!].map((v) => Buffer.from(v, 'base64url'));
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0x32415352, 0); // BCRYPT_RSAPRIVATE_MAGIC
  header.writeUInt32LE(n!.length * 8, 4);
  header.writeUInt32LE(e!.length, 8);
  header.writeUInt32LE(n!.length, 12);
  header.writeUInt32LE(p!.length, 16);
  header.writeUInt32LE(q!.length, 20);
  return Buffer.concat([header, e!, n!, p!, q!]);
}

/**
 * The CryptoAPI PRIVATEKEYBLOB (BLOBHEADER{bType 7, bVersion 2, aiKeyAlg} RSAPUBKEY{"RSA2", bitlen,
 * pubexp}, then modulus, prime1, prime2, exponent1, exponent2, coefficient, privateExponent, each
 * little-endian and padded to its length) of a node:crypto RSA private key, written by hand: what the
 * Base CSP hands CardCreateContainer(KEY_IMPORT).
 */
export function writeCapiPrivateKeyBlob(privateKey: KeyObject, aiKeyAlg: number): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const bytes = n.length;
  const half = bytes / 2;
  const le = (v: string, length: number): Buffer => {
    const be = stripZeros(Buffer.from(v, 'base64url'));
    const out = Buffer.alloc(length);
    reversed(be).copy(out);
    return out;
  };
  const header = Buffer.alloc(20);
  header.writeUInt8(0x07, 0); // PRIVATEKEYBLOB
  header.writeUInt8(2, 1); // CUR_BLOB_VERSION
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(0x32415352, 8); // "RSA2"
  header.writeUInt32LE(bytes * 8, 12);
  const exponent = stripZeros(Buffer.from(jwk.e!, 'base64url'));
  header.writeUInt32LE(exponent.readUIntBE(0, exponent.length), 16); // pubexp: a DWORD (65537 in practice)
  return Buffer.concat([header, le(jwk.n!, bytes), le(jwk.p!, half), le(jwk.q!, half), le(jwk.dp!, half), le(jwk.dq!, half), le(jwk.qi!, half), le(jwk.d!, bytes)]);
}

/** The BCRYPT_ECCKEY_BLOB private form (Magic "ECS2/4/6" or "ECK2/4/6", cbKey, X, Y, d) of a node:crypto EC private key. */
export function writeBcryptEccPrivateBlob(privateKey: KeyObject, use: 'ECDSA' | 'ECDH'): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = writeBcryptEccPublicBlob(createPublicKey(privateKey), use);
  pub.writeUInt32LE(pub.readUInt32LE(0) + 0x01000000, 0); // ECS1 → ECS2, ECK1 → ECK2 ... (the private magic is the public one's last byte + 1)
  return Buffer.concat([pub, Buffer.from(jwk.d!, 'base64url')]);
}
