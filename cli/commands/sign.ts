/**
 * `p11-ksp sign --key NAME [--hash sha256|sha384|sha512|sha1] [--padding pkcs1|pss] --in FILE|- --out FILE|-`:
 * hashes the data with node:crypto and signs the hash on the card (NCryptSignHash). The signature is
 * written in CNG's form, which `verify` reads: RSA big-endian (what `openssl dgst -verify` checks as
 * is), ECDSA r‖s (IEEE P1363; OpenSSL wants it DER-encoded first).
 *
 * The signature goes to --out; with "-" it is the only thing on stdout, so `sign ... --out - > sig`
 * is safe. The PIN is asked after the key is found (a wrong name is exit 6 without typing anything).
 */
import { writeFileSync } from 'node:fs';
import { NCryptFreeObject, NCryptGetProperty, NCryptSignHash } from '../../ksp/index.js';
import { NCRYPT_READER_PROPERTY } from '../../ksp/constants.js';
import { givePin, openKey, type PinOptions, type ServiceOptions, withProvider } from '../card-service.js';
import { UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { checkHashOptions, digest, type HashOptions, paddingFor, readInput } from './signature-io.js';

export interface SignOptions extends ServiceOptions, PinOptions, HashOptions {
  key: string;
  in: string;
  out: string;
  reader?: string;
}

function writeOutput(path: string, bytes: Buffer): void {
  if (path === '-') {
    process.stdout.write(bytes);
    return;
  }
  try {
    writeFileSync(path, bytes);
  } catch (err) {
    throw new UsageError(`cannot write --out ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export async function signCommand(options: SignOptions, out: Output): Promise<void> {
  checkHashOptions(options);
  const hash = digest(readInput(options.in), options);
  const signature = await withProvider(options, out, async (hProv) => {
    const hKey = await openKey(hProv, options.key, options.reader);
    try {
      const { paddingInfo, flags } = await paddingFor(hKey, options);
      await givePin(hKey, options, await NCryptGetProperty(hKey, NCRYPT_READER_PROPERTY) as string, out);
      return await NCryptSignHash(hKey, paddingInfo, hash, flags);
    } finally {
      await NCryptFreeObject(hKey);
    }
  });
  writeOutput(options.out, signature);
  if (options.out !== '-') out.note(`${signature.length}-byte signature written to ${options.out}`);
}
