/**
 * Shared helpers of the pkcs11-bridge suite: tokens from the shared SoftHSM2 rig, drivers that are
 * tracked so the root hook (setup.test.ts) can prove every test closed them, an exact-code assertion
 * for CryptError, and the blob and byte-order conversions the tests need, written here from the
 * specification with node:crypto — never with the codecs under test.
 *
 * Tokens: SoftHSM2 lists only tokens that exist when it is C_Initialize'd, so every test file calls
 * makeToken() at module top level (mocha evaluates all files before any hook runs).
 */
import assert from 'node:assert/strict';
import crypto, { type KeyObject } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { WindowsCodeName } from '../../minidriver/codes.js';
import { CryptError } from '../../minidriver/errors.js';
import { Pkcs11Minidriver, type Pkcs11DriverOptions } from '../../pkcs11-bridge/index.js';
import {
  attributeReader, createSoftHsm, findGrapheneSlot, openGrapheneModule, pkcs11ErrorCode, SOFTHSM2_MODULE, type SoftHsmToken,
} from '../rigs/index.js';

export { SOFTHSM2_MODULE };
export const rig = createSoftHsm();

// ---------------------------------------------------------------------------------------------
// Tokens and drivers

/** A SoftHSM2 token of this test process. Call at module top level only (see the header). */
export function makeToken(label: string, pins: { pin?: string; soPin?: string } = {}): SoftHsmToken {
  return rig.addToken({ label, ...pins });
}

const drivers: Pkcs11Minidriver[] = [];

/** A bridge driver over a module (SoftHSM2 by default); tracked so the root hook can check closure. */
export function newDriver(modulePath: string = SOFTHSM2_MODULE, options: Omit<Pkcs11DriverOptions, 'modulePath'> = {}): Pkcs11Minidriver {
  const driver = new Pkcs11Minidriver({ ...options, modulePath });
  drivers.push(driver);
  return driver;
}

export function createdDrivers(): readonly Pkcs11Minidriver[] {
  return drivers;
}

export function pin(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** A card context on the token with this label. */
export async function openContext(driver: Pkcs11Minidriver, label: string, dwVersion = 7): Promise<CardModule> {
  return driver.openCard({ label }, dwVersion);
}

// ---------------------------------------------------------------------------------------------
// Assertions

/**
 * Awaits an entry point that must fail with exactly this Windows code. An entry point that throws
 * synchronously instead of returning a rejected promise fails the assertion too (the contract is
 * promise-based; a synchronous throw escapes `.catch()` handlers).
 */
/**
 * One driver and one context on a token for a whole describe block: opened in before(), deleted and
 * closed in after(). `use` receives them (the suite keeps them in its own variables).
 */
export function openContextPerSuite(label: string, use: (driver: Pkcs11Minidriver, ctx: CardModule) => void, userPin?: string): void {
  let driver: Pkcs11Minidriver | undefined;
  let ctx: CardModule | undefined;
  before(async () => {
    driver = newDriver();
    ctx = await openContext(driver, label);
    if (userPin !== undefined) await ctx.CardAuthenticatePin('user', pin(userPin));
    use(driver, ctx);
  });
  after(async () => {
    await ctx?.CardDeleteContext();
    await driver?.close();
  });
}

/**
 * The CryptError `action` rejects with, whatever its code (for tests that look at the code and the
 * message themselves); anything else it throws is rethrown, and success fails the test.
 */
export async function cryptErrorOf(action: () => Promise<unknown>): Promise<CryptError> {
  try {
    await action();
  } catch (err) {
    if (err instanceof CryptError) return err;
    throw err;
  }
  assert.fail('expected a CryptError, but the call succeeded');
}

export async function expectCryptError(action: () => Promise<unknown>, codeName: WindowsCodeName, what = ''): Promise<CryptError> {
  let promise: Promise<unknown>;
  try {
    promise = action();
  } catch (err) {
    assert.fail(`${what}: threw synchronously instead of rejecting: ${String(err)}`);
  }
  let thrown: unknown;
  let succeeded = false;
  try {
    await promise;
    succeeded = true;
  } catch (err) {
    thrown = err;
  }
  assert.ok(!succeeded, `${what}: expected ${codeName}, but the call succeeded`);
  assert.ok(thrown instanceof CryptError, `${what}: expected a CryptError ${codeName}, got ${String(thrown)}`);
  assert.equal(thrown.codeName, codeName, `${what}: wrong code; message: ${thrown.message}`);
  return thrown;
}

// ---------------------------------------------------------------------------------------------
// White-box: the bridge's session pool (SoftHSM2 reports ulSessionCount as unavailable)

export interface PoolState {
  /** Pooled sessions opened (the anchor session is not counted). */
  opened: number;
  /** Pooled sessions returned to the pool. */
  idle: number;
  /** Operations waiting for a session. */
  waiting: number;
}

export function poolState(ctx: CardModule): PoolState {
  const sessions = (ctx as unknown as { state: { token: { sessions: { opened: number; idle: unknown[]; waiting: unknown[] } } } }).state.token.sessions;
  return { opened: sessions.opened, idle: sessions.idle.length, waiting: sessions.waiting.length };
}

/** Every pooled session is back in the pool: nothing leaked by a failed or finished operation. */
export function assertNoSessionCheckedOut(ctx: CardModule, what = ''): void {
  const p = poolState(ctx);
  assert.equal(p.waiting, 0, `${what}: operations still waiting for a session`);
  assert.equal(p.idle, p.opened, `${what}: ${p.opened - p.idle} pooled session(s) not returned`);
}

// ---------------------------------------------------------------------------------------------
// Byte order and encodings

export function reversed(b: Uint8Array): Buffer {
  return Buffer.from(b).reverse();
}

function b64u(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

function stripZeros(b: Uint8Array): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i));
}

/** Big-endian `value` left-padded with zeros to `size` bytes. */
export function padLeft(value: Uint8Array, size: number): Buffer {
  const v = stripZeros(value);
  assert.ok(v.length <= size, `value of ${v.length} bytes does not fit in ${size}`);
  const out = Buffer.alloc(size);
  Buffer.from(v).copy(out, size - v.length);
  return out;
}

export const CURVE = {
  256: { crv: 'P-256', node: 'prime256v1', bytes: 32, hash: 'sha256', oidHex: '06082a8648ce3d030107' },
  384: { crv: 'P-384', node: 'secp384r1', bytes: 48, hash: 'sha384', oidHex: '06052b81040022' },
  521: { crv: 'P-521', node: 'secp521r1', bytes: 66, hash: 'sha512', oidHex: '06052b81040023' },
} as const;
export type CurveBits = keyof typeof CURVE;

export function curveOfBytes(bytes: number): CurveBits {
  const bits = ([256, 384, 521] as const).find((b) => CURVE[b].bytes === bytes);
  assert.ok(bits, `no curve with ${bytes}-byte coordinates`);
  return bits;
}

export function rsaPublicKey(modulusBE: Uint8Array, exponentBE: Uint8Array = Buffer.from([1, 0, 1])): KeyObject {
  return crypto.createPublicKey({ key: { kty: 'RSA', n: b64u(stripZeros(modulusBE)), e: b64u(stripZeros(exponentBE)) }, format: 'jwk' });
}

export function ecPublicKey(bits: CurveBits, x: Uint8Array, y: Uint8Array): KeyObject {
  return crypto.createPublicKey({ key: { kty: 'EC', crv: CURVE[bits].crv, x: b64u(x), y: b64u(y) }, format: 'jwk' });
}

/** 04||X||Y from a CKA_EC_POINT (DER OCTET STRING around the point). */
export function pointFromEcPointDer(der: Buffer): Buffer {
  assert.equal(der[0], 0x04, 'CKA_EC_POINT is a DER OCTET STRING');
  let offset = 2;
  let length = der[1]!;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = der.readUIntBE(2, n);
    offset = 2 + n;
  }
  assert.equal(der.length, offset + length, 'CKA_EC_POINT length');
  const point = der.subarray(offset);
  assert.equal(point[0], 0x04, 'uncompressed point');
  return Buffer.from(point);
}

// ---------------------------------------------------------------------------------------------
// CAPI / BCrypt blobs (layouts from minidriver.md §4 and cryptoapi-cng.md, little-endian headers)

export const CALG_RSA_SIGN = 0x2400;
export const CALG_RSA_KEYX = 0xa400;
export const RSA1 = 0x31415352;
export const RSA2 = 0x32415352;
export const ECC_MAGIC = {
  ECDSA: { 256: { pub: 0x31534345, priv: 0x32534345 }, 384: { pub: 0x33534345, priv: 0x34534345 }, 521: { pub: 0x35534345, priv: 0x36534345 } },
  ECDH: { 256: { pub: 0x314b4345, priv: 0x324b4345 }, 384: { pub: 0x334b4345, priv: 0x344b4345 }, 521: { pub: 0x354b4345, priv: 0x364b4345 } },
} as const;

export interface ParsedRsaPublicBlob {
  bType: number;
  bVersion: number;
  reserved: number;
  aiKeyAlg: number;
  magic: number;
  bitLen: number;
  pubExp: number;
  /** Big-endian (the blob holds it little-endian). */
  modulus: Buffer;
  length: number;
  key: KeyObject;
}

/** PUBLICKEYBLOB: BLOBHEADER {bType, bVersion, WORD 0, ALG_ID} + RSAPUBKEY {magic, bitlen, pubexp} + LE modulus. */
export function parseRsaPublicBlob(blob: Buffer): ParsedRsaPublicBlob {
  assert.ok(blob.length > 20, 'PUBLICKEYBLOB longer than its 20-byte header');
  const bitLen = blob.readUInt32LE(12);
  const pubExp = blob.readUInt32LE(16);
  const modulus = reversed(blob.subarray(20, 20 + bitLen / 8));
  const e = Buffer.alloc(4);
  e.writeUInt32BE(pubExp);
  return {
    bType: blob[0]!, bVersion: blob[1]!, reserved: blob.readUInt16LE(2), aiKeyAlg: blob.readUInt32LE(4), magic: blob.readUInt32LE(8),
    bitLen, pubExp, modulus, length: blob.length, key: rsaPublicKey(modulus, e),
  };
}

export interface ParsedEccBlob {
  magic: number;
  cbKey: number;
  x: Buffer;
  y: Buffer;
  length: number;
  key: KeyObject;
}

/** BCRYPT_ECCKEY_BLOB {dwMagic, cbKey} + X + Y (big-endian, cbKey each). */
export function parseEccPublicBlob(blob: Buffer): ParsedEccBlob {
  const cbKey = blob.readUInt32LE(4);
  const x = Buffer.from(blob.subarray(8, 8 + cbKey));
  const y = Buffer.from(blob.subarray(8 + cbKey, 8 + 2 * cbKey));
  return { magic: blob.readUInt32LE(0), cbKey, x, y, length: blob.length, key: ecPublicKey(curveOfBytes(cbKey), x, y) };
}

/** BCRYPT_ECCPUBLIC_BLOB of a node:crypto key (or of raw X, Y) with the given magic. */
export function eccPublicBlob(magic: number, bits: CurveBits, x: Uint8Array, y: Uint8Array): Buffer {
  const size = CURVE[bits].bytes;
  const header = Buffer.alloc(8);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(size, 4);
  return Buffer.concat([header, padLeft(x, size), padLeft(y, size)]);
}

/** BCRYPT_RSAPUBLIC_BLOB of a node:crypto key, written from the layout (reference §3.7). */
export function rsaPublicBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const e = Buffer.from(jwk.e!, 'base64url');
  const n = Buffer.from(jwk.n!, 'base64url');
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0x31415352, 0);
  header.writeUInt32LE(key.asymmetricKeyDetails!.modulusLength!, 4);
  header.writeUInt32LE(e.length, 8);
  header.writeUInt32LE(n.length, 12);
  return Buffer.concat([header, e, n]);
}

/** X and Y of an uncompressed point 04||X||Y. */
export function splitPoint(point: Buffer, bits: CurveBits): { x: Buffer; y: Buffer } {
  const size = CURVE[bits].bytes;
  assert.equal(point.length, 1 + 2 * size);
  return { x: Buffer.from(point.subarray(1, 1 + size)), y: Buffer.from(point.subarray(1 + size)) };
}

/** BCRYPT_ECCPRIVATE_BLOB (X, Y, d) of a node:crypto EC private key. */
export function eccPrivateBlob(key: KeyObject, magic: number, bits: CurveBits): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const size = CURVE[bits].bytes;
  const header = Buffer.alloc(8);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(size, 4);
  return Buffer.concat([header, ...[jwk.x!, jwk.y!, jwk.d!].map((v) => padLeft(Buffer.from(v, 'base64url'), size))]);
}

/**
 * CAPI PRIVATEKEYBLOB of a node:crypto RSA key: BLOBHEADER {0x07, 2, 0, aiKeyAlg} + RSAPUBKEY {"RSA2",
 * bitlen, pubexp} + modulus[k] prime1 prime2 exponent1 exponent2 coefficient [k/2 each] privateExponent[k],
 * every number little-endian.
 */
export function capiPrivateKeyBlob(key: KeyObject, aiKeyAlg: number): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const k = stripZeros(n).length;
  const half = Math.ceil(k / 2);
  const le = (v: string, size: number) => reversed(padLeft(Buffer.from(v, 'base64url'), size));
  const header = Buffer.alloc(20);
  header.writeUInt8(0x07, 0);
  header.writeUInt8(2, 1);
  header.writeUInt16LE(0, 2);
  header.writeUInt32LE(aiKeyAlg, 4);
  header.writeUInt32LE(RSA2, 8);
  header.writeUInt32LE(k * 8, 12);
  header.writeUInt32LE(padLeft(Buffer.from(jwk.e!, 'base64url'), 4).readUInt32BE(0), 16);
  return Buffer.concat([header, le(jwk.n!, k), le(jwk.p!, half), le(jwk.q!, half), le(jwk.dp!, half), le(jwk.dq!, half), le(jwk.qi!, half), le(jwk.d!, k)]);
}

// ---------------------------------------------------------------------------------------------
// cmapfile and cardcf (minidriver.md §4: 86-byte CONTAINER_MAP_RECORD; 6-byte CARD_CACHE_FILE_FORMAT)

export interface CmapRecord {
  name: string;
  flags: number;
  reserved: number;
  sigBits: number;
  keyxBits: number;
  raw: Buffer;
}

export function parseCmapFile(buf: Buffer): (CmapRecord | null)[] {
  assert.equal(buf.length % 86, 0, `cmapfile length ${buf.length} is a multiple of 86`);
  const records: (CmapRecord | null)[] = [];
  for (let off = 0; off < buf.length; off += 86) {
    const raw = Buffer.from(buf.subarray(off, off + 86));
    if (raw.every((b) => b === 0)) {
      records.push(null);
      continue;
    }
    let chars = 0;
    while (chars < 40 && raw.readUInt16LE(chars * 2) !== 0) chars++;
    assert.ok(chars < 40, 'container name is NUL-terminated within 40 WCHARs');
    records.push({ name: raw.toString('utf16le', 0, chars * 2), flags: raw[80]!, reserved: raw[81]!, sigBits: raw.readUInt16LE(82), keyxBits: raw.readUInt16LE(84), raw });
  }
  return records;
}

export function cmapRecordBytes(name: string, flags: number, sigBits = 0, keyxBits = 0): Buffer {
  const raw = Buffer.alloc(86);
  raw.write(name, 0, 'utf16le');
  raw[80] = flags;
  raw.writeUInt16LE(sigBits, 82);
  raw.writeUInt16LE(keyxBits, 84);
  return raw;
}

export async function readCmap(ctx: CardModule): Promise<(CmapRecord | null)[]> {
  return parseCmapFile(await ctx.CardReadFile('mscp', 'cmapfile'));
}

export function parseCardCf(buf: Buffer): { version: number; pins: number; containers: number; files: number } {
  assert.ok(buf.length >= 6, 'cardcf has at least 6 bytes');
  return { version: buf[0]!, pins: buf[1]!, containers: buf.readUInt16LE(2), files: buf.readUInt16LE(4) };
}

// ---------------------------------------------------------------------------------------------
// graphene-pk11: an independent reader (and, for stale-handle tests, an independent deleter)

export interface TokenObject {
  cls: number;
  label: string;
  id: string;
  token?: boolean;
  private?: boolean;
  keyType?: number;
  application?: string;
  /** CKA_VALUE, where readable (data objects, certificates). */
  value?: Buffer;
  modulus?: Buffer;
  publicExponent?: Buffer;
  ecParams?: Buffer;
  ecPoint?: Buffer;
  sensitive?: boolean;
  extractable?: boolean;
  sign?: boolean;
  decrypt?: boolean;
  derive?: boolean;
}

function readObject(object: graphene.SessionObject): TokenObject {
  const { raw, ulong, bool } = attributeReader(object);
  const A = pkcs11js;
  return {
    cls: ulong(A.CKA_CLASS) ?? -1,
    label: raw(A.CKA_LABEL)?.toString('utf8') ?? '',
    id: raw(A.CKA_ID)?.toString('hex') ?? '',
    token: bool(A.CKA_TOKEN),
    private: bool(A.CKA_PRIVATE),
    keyType: ulong(A.CKA_KEY_TYPE),
    application: raw(A.CKA_APPLICATION)?.toString('utf8'),
    value: raw(A.CKA_VALUE),
    modulus: raw(A.CKA_MODULUS),
    publicExponent: raw(A.CKA_PUBLIC_EXPONENT),
    ecParams: raw(A.CKA_EC_PARAMS),
    ecPoint: raw(A.CKA_EC_POINT),
    sensitive: bool(A.CKA_SENSITIVE),
    extractable: bool(A.CKA_EXTRACTABLE),
    sign: bool(A.CKA_SIGN),
    decrypt: bool(A.CKA_DECRYPT),
    derive: bool(A.CKA_DERIVE),
  };
}

function withGrapheneSession<T>(tokenLabel: string, userPin: string | undefined, rw: boolean, use: (session: graphene.Session) => T): T {
  const module = openGrapheneModule(SOFTHSM2_MODULE);
  const slot = findGrapheneSlot(module, tokenLabel);
  const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | (rw ? graphene.SessionFlag.RW_SESSION : 0));
  let loggedInHere = false;
  try {
    if (userPin !== undefined) {
      try {
        session.login(userPin, graphene.UserType.USER);
        loggedInHere = true;
      } catch (err) {
        if (pkcs11ErrorCode(err) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw err;
      }
    }
    return use(session);
  } finally {
    if (loggedInHere) session.logout();
    session.close();
  }
}

/** Every object graphene sees on the token (private ones too when a PIN is given). */
export function grapheneObjects(tokenLabel: string, userPin?: string): TokenObject[] {
  return withGrapheneSession(tokenLabel, userPin, false, (session) => {
    const found = session.find({});
    const out: TokenObject[] = [];
    for (let i = 0; i < found.length; i++) out.push(readObject(found.items(i)));
    return out;
  });
}

/** Destroys, through graphene, every object matching the predicate; returns how many. */
export function grapheneDestroy(tokenLabel: string, userPin: string, match: (o: TokenObject) => boolean): number {
  return withGrapheneSession(tokenLabel, userPin, true, (session) => {
    const found = session.find({});
    let n = 0;
    for (let i = 0; i < found.length; i++) {
      const object = found.items(i);
      if (match(readObject(object))) {
        object.destroy();
        n++;
      }
    }
    return n;
  });
}

export const CKO = { DATA: pkcs11js.CKO_DATA, CERTIFICATE: pkcs11js.CKO_CERTIFICATE, PUBLIC_KEY: pkcs11js.CKO_PUBLIC_KEY, PRIVATE_KEY: pkcs11js.CKO_PRIVATE_KEY } as const;

/** The public key of a container, read by graphene from the token's CKO_PUBLIC_KEY (independent of the bridge's blobs). */
export function graphenePublicKey(tokenLabel: string, containerName: string, kind: 'RSA' | 'EC', bits?: CurveBits): KeyObject {
  const pubs = grapheneObjects(tokenLabel).filter((o) => o.cls === CKO.PUBLIC_KEY && o.label === containerName
    && o.keyType === (kind === 'RSA' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC)
    && (bits === undefined || o.ecParams?.toString('hex') === CURVE[bits].oidHex));
  assert.equal(pubs.length, 1, `one ${kind} public key labelled "${containerName}" on ${tokenLabel}`);
  const pub = pubs[0]!;
  if (kind === 'RSA') return rsaPublicKey(pub.modulus!, pub.publicExponent!);
  const { x, y } = splitPoint(pointFromEcPointDer(pub.ecPoint!), bits!);
  return ecPublicKey(bits!, x, y);
}

// ---------------------------------------------------------------------------------------------
// Signature checks with node:crypto

export function verifyRsaPkcs1(key: KeyObject, hash: string, message: Buffer, signatureLE: Buffer): boolean {
  return crypto.verify(hash, message, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, reversed(signatureLE));
}

export function verifyEcdsa(key: KeyObject, hash: string, message: Buffer, rs: Buffer): boolean {
  return crypto.verify(hash, message, { key, dsaEncoding: 'ieee-p1363' }, rs);
}

/** RSA public operation with PKCS#1 type-1 unpadding: what a PKCS#1 v1.5 signature wraps. */
export function rsaRecover(key: KeyObject, signatureLE: Buffer, padding = crypto.constants.RSA_PKCS1_PADDING): Buffer {
  return crypto.publicDecrypt({ key, padding }, reversed(signatureLE));
}

export function digest(hash: string, data: Buffer): Buffer {
  return crypto.createHash(hash).update(data).digest();
}
