/**
 * `p11-ksp verify --key NAME --signature FILE --in FILE|- [--hash ...] [--padding pkcs1|pss]`: checks a
 * signature (as `sign` writes it) with the card key's public half (NCryptVerifySignature). No PIN.
 * Exit 0 when it matches; exit 10 and "signature does not match" on stderr when it does not.
 */
import { NCryptFreeObject, NCryptVerifySignature } from '../../ksp/index.js';
import { CryptError } from '../../minidriver/errors.js';
import { openKey, type ServiceOptions, withProvider } from '../card-service.js';
import { UsageError } from '../exit-codes.js';
import type { Output } from '../output.js';
import { checkHashOptions, digest, type HashOptions, paddingFor, readInput } from './signature-io.js';

export interface VerifyOptions extends ServiceOptions, HashOptions {
  key: string;
  signature: string;
  in: string;
  reader?: string;
}

export async function verifyCommand(options: VerifyOptions, out: Output): Promise<void> {
  checkHashOptions(options);
  if (options.signature === '-' && options.in === '-') {
    throw new UsageError('--signature and --in cannot both be standard input');
  }
  const signature = readInput(options.signature, '--signature');
  const hash = digest(readInput(options.in), options);
  await withProvider(options, out, async (hProv) => {
    const hKey = await openKey(hProv, options.key, options.reader);
    try {
      const { paddingInfo, flags } = await paddingFor(hKey, options);
      await NCryptVerifySignature(hKey, paddingInfo, hash, signature, flags);
    } catch (err) {
      // The layers' message names the call; the CLI's promise is this exact sentence (exit 10).
      if (err instanceof CryptError && err.codeName === 'NTE_BAD_SIGNATURE') {
        throw new CryptError('NTE_BAD_SIGNATURE', `signature does not match: ${options.signature} is not a signature of ${options.in === '-' ? 'standard input' : options.in} by key "${options.key}"`, { operation: 'p11-ksp verify' });
      }
      throw err;
    } finally {
      await NCryptFreeObject(hKey);
    }
  });
  out.line(`Signature OK: ${options.signature} verifies with key "${options.key}"`);
}
