/**
 * What `sign` and `verify` share: reading the data (a file or standard input), hashing it with
 * node:crypto (the card signs a hash, as NCryptSignHash takes one), and the padding a key needs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { NCryptGetProperty } from '../../ksp/index.js';
import {
  BCRYPT_SHA1_ALGORITHM, BCRYPT_SHA256_ALGORITHM, BCRYPT_SHA384_ALGORITHM, BCRYPT_SHA512_ALGORITHM, NCRYPT_ALGORITHM_GROUP_PROPERTY,
  NCRYPT_PAD_PKCS1_FLAG, NCRYPT_PAD_PSS_FLAG, NCRYPT_RSA_ALGORITHM_GROUP, NCRYPT_SILENT_FLAG,
} from '../../ksp/constants.js';
import type { NCryptKeyHandle } from '../../ksp/handles.js';
import type { SignaturePaddingInfo } from '../../ksp/signing.js';
import { UsageError } from '../exit-codes.js';

export interface HashOptions {
  hash?: string;
  padding?: string;
}

/** --hash word → node:crypto's name, CNG's pszAlgId and the digest length (PSS salt). */
const HASHES: ReadonlyMap<string, { node: string; cng: string; bytes: number }> = new Map([
  ['sha1', { node: 'sha1', cng: BCRYPT_SHA1_ALGORITHM, bytes: 20 }],
  ['sha256', { node: 'sha256', cng: BCRYPT_SHA256_ALGORITHM, bytes: 32 }],
  ['sha384', { node: 'sha384', cng: BCRYPT_SHA384_ALGORITHM, bytes: 48 }],
  ['sha512', { node: 'sha512', cng: BCRYPT_SHA512_ALGORITHM, bytes: 64 }],
]);

function hashOf(options: HashOptions): { node: string; cng: string; bytes: number } {
  const hash = HASHES.get((options.hash ?? 'sha256').toLowerCase());
  if (!hash) throw new UsageError(`--hash is one of ${[...HASHES.keys()].join(', ')}`);
  return hash;
}

/** Checks --hash and --padding before anything touches a card. */
export function checkHashOptions(options: HashOptions): void {
  hashOf(options);
  if (options.padding !== undefined && options.padding !== 'pkcs1' && options.padding !== 'pss') throw new UsageError('--padding is "pkcs1" or "pss"');
}

/** The bytes of --in: a file, or standard input for "-". */
export function readInput(path: string, option = '--in'): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    throw new UsageError(`cannot read ${option} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export function digest(data: Uint8Array, options: HashOptions): Buffer {
  return createHash(hashOf(options).node).update(data).digest();
}

/**
 * NCryptSignHash's padding arguments for this key: RSA takes PKCS#1 v1.5 (default) or PSS with a salt
 * as long as the hash (the common choice, and what OpenSSL's verifiers assume with "auto" too);
 * ECDSA takes none, and --padding on it is a usage error rather than silently ignored.
 */
export async function paddingFor(hKey: NCryptKeyHandle, options: HashOptions): Promise<{ paddingInfo: SignaturePaddingInfo | null; flags: number }> {
  const hash = hashOf(options);
  const group = await NCryptGetProperty(hKey, NCRYPT_ALGORITHM_GROUP_PROPERTY);
  if (group !== NCRYPT_RSA_ALGORITHM_GROUP) {
    if (options.padding !== undefined) throw new UsageError(`--padding is for RSA keys; this key is ${String(group)}`);
    return { paddingInfo: null, flags: NCRYPT_SILENT_FLAG };
  }
  if (options.padding === 'pss') return { paddingInfo: { pszAlgId: hash.cng, cbSalt: hash.bytes }, flags: NCRYPT_PAD_PSS_FLAG | NCRYPT_SILENT_FLAG };
  return { paddingInfo: { pszAlgId: hash.cng }, flags: NCRYPT_PAD_PKCS1_FLAG | NCRYPT_SILENT_FLAG };
}
