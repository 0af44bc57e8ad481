/**
 * A throw-away SoftHSM2 token for one run of the demo where nobody can type a PIN (CI, a pipe, the
 * README's first command): a fresh store in a temporary folder, a token with random PINs that exist
 * only in this process's memory, and the whole folder deleted at the end.
 *
 * Why random PINs and no file: nothing about this token is meant to outlive the run, and a PIN written
 * anywhere would outlive it. Deletion happens on every way out: dispose() on the normal path and after
 * failures, and a synchronous 'exit' hook as the last resort (process.exit, an uncaught error). Signals
 * are the caller's to turn into an orderly exit.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { softHsmModulePath, useSoftHsmConf, writeSoftHsmConf } from '../home.js';
import { wipe } from './pin-input.js';
import { initialiseToken } from './token-init.js';
import type { TokenIdentity } from '../pkcs11-bridge/token.js';

export const THROWAWAY_LABEL = 'p11-ksp demo';

export interface ThrowawayToken extends AsyncDisposable {
  readonly dir: string;
  readonly modulePath: string;
  readonly token: TokenIdentity;
  /** The user PIN, random; wiped by dispose(). */
  readonly pin: Buffer;
  /** Wipes the PIN and deletes the store. Idempotent. Call after the module is closed. */
  dispose(): void;
}

/** 16 random bytes as 32 hex characters: printable (PKCS#11 PINs are UTF-8 text) and 128 bits strong. */
function randomPin(): Buffer {
  const raw = randomBytes(16);
  const pin = Buffer.from(raw.toString('hex'), 'latin1');
  wipe(raw);
  return pin;
}

/**
 * Makes the store and its token. Must run before anything in the process loads SoftHSM2: it points
 * SOFTHSM2_CONF at the new store.
 */
export function createThrowawayToken(env: NodeJS.ProcessEnv = process.env): ThrowawayToken {
  const modulePath = softHsmModulePath(env);
  const dir = mkdtempSync(join(tmpdir(), 'p11-ksp-demo-'));
  let removed = false;
  const pin = randomPin();
  const remove = (): void => {
    if (removed) return;
    removed = true;
    wipe(pin);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', remove);
  try {
    const tokenDir = join(dir, 'tokens');
    mkdirSync(tokenDir, { mode: 0o700 });
    const confPath = join(dir, 'softhsm2.conf');
    writeSoftHsmConf(confPath, tokenDir);
    useSoftHsmConf(confPath, modulePath);
    // The SO PIN is needed only to set the user PIN; nobody will ever administer this token.
    const soPin = randomPin();
    let token: TokenIdentity;
    try {
      token = initialiseToken(modulePath, THROWAWAY_LABEL, soPin, pin);
    } finally {
      wipe(soPin);
    }
    const dispose = (): void => {
      process.removeListener('exit', remove);
      remove();
    };
    return { dir, modulePath, token, pin, dispose, [Symbol.asyncDispose]: async () => dispose() };
  } catch (err) {
    process.removeListener('exit', remove);
    remove();
    throw err;
  }
}
