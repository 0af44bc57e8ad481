/**
 * The embedded token store: where p11-ksp keeps its own SoftHSM2 tokens when nothing is configured.
 *
 * Why a home of its own: with no configuration at all the CLI must still have a card to work on, and
 * it must not write into the system's SoftHSM2 store (/var/lib/softhsm, usually root's) or a user's
 * own SOFTHSM2_CONF. So it keeps a softhsm2.conf and a token directory under one per-user folder,
 * private to the user (0700): the token files hold the keys, encrypted under the PIN but still nobody
 * else's business.
 *
 * SoftHSM2 reads SOFTHSM2_CONF once, at C_Initialize, and every loader in the process shares that one
 * library instance; so the variable is set here, before anything loads the module, and setting it
 * after a load is refused rather than silently ignored.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CryptError } from './minidriver/errors.js';
import { moduleReferences } from './pkcs11-bridge/index.js';

/** Where Debian/Ubuntu's softhsm2 package puts the module. */
export const DEFAULT_SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
/** The label of the token `p11-ksp init` makes and `p11-ksp demo` uses on a terminal. */
export const DEFAULT_TOKEN_LABEL = 'p11-ksp';

export interface EmbeddedStore {
  /** The home folder (P11KSP_HOME or the per-user data folder). */
  home: string;
  /** The softhsm2.conf that SOFTHSM2_CONF points at. */
  confPath: string;
  /** SoftHSM2's directories.tokendir. */
  tokenDir: string;
  /** The SoftHSM2 module to load. */
  modulePath: string;
}

/**
 * P11KSP_HOME, else $XDG_DATA_HOME/p11-ksp, else ~/.local/share/p11-ksp. A relative XDG_DATA_HOME is
 * ignored, as the XDG base-directory specification says; a relative P11KSP_HOME is taken from the
 * current directory (SoftHSM2 needs an absolute token directory).
 */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.P11KSP_HOME) return resolve(env.P11KSP_HOME);
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'p11-ksp');
  return join(homedir(), '.local', 'share', 'p11-ksp');
}

/** The SoftHSM2 module path: P11KSP_SOFTHSM_MODULE, else the Debian location. */
export function softHsmModulePath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.P11KSP_SOFTHSM_MODULE || DEFAULT_SOFTHSM_MODULE;
  if (!existsSync(path)) {
    throw new CryptError('SCARD_E_NO_SERVICE', `the SoftHSM2 module ${path} is not there; install softhsm2 (apt-get install softhsm2) or point P11KSP_SOFTHSM_MODULE at libsofthsm2.so`, { operation: 'p11-ksp' });
  }
  return path;
}

/**
 * Writes a softhsm2.conf for `tokenDir` unless one is there already: a user's edits to it (another
 * backend, a log level) are theirs to keep. Created 0600 and only if absent ('wx'), so two first runs
 * at once cannot interleave their writes.
 */
export function writeSoftHsmConf(confPath: string, tokenDir: string): void {
  const text = [
    '# Written by p11-ksp for its own SoftHSM2 token store. Edits are kept.',
    `directories.tokendir = ${tokenDir}`,
    'objectstore.backend = file',
    'log.level = ERROR',
    '',
  ].join('\n');
  try {
    writeFileSync(confPath, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Points SoftHSM2 at `confPath` for this process and its children. Refused once the module is loaded:
 * the library would keep the store it initialised with and the new setting would be silently ignored.
 */
export function useSoftHsmConf(confPath: string, modulePath: string): void {
  if (moduleReferences(modulePath) > 0 && process.env.SOFTHSM2_CONF !== confPath) {
    throw new CryptError('SCARD_E_UNEXPECTED', `SoftHSM2 is already loaded with another configuration; ${confPath} cannot take effect in this process`, { operation: 'p11-ksp' });
  }
  process.env.SOFTHSM2_CONF = confPath;
}

/** Creates a folder private to the user (0700) if it is missing; says so when an existing one is not. */
function privateFolder(path: string, warn: (message: string) => void): void {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    mkdirSync(path, { mode: 0o700, recursive: true });
    return;
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) warn(`${path} can be read by other users (mode ${mode.toString(8)}); chmod 700 it`);
}

/**
 * The embedded store, ready to load: the home and token folders exist, softhsm2.conf is written and
 * SOFTHSM2_CONF points at it. Call before anything loads the SoftHSM2 module.
 */
export function prepareHome(env: NodeJS.ProcessEnv = process.env, warn: (message: string) => void = () => {}): EmbeddedStore {
  const home = resolveHome(env);
  const modulePath = softHsmModulePath(env);
  privateFolder(home, warn);
  const tokenDir = join(home, 'softhsm', 'tokens');
  mkdirSync(tokenDir, { mode: 0o700, recursive: true });
  const confPath = join(home, 'softhsm2.conf');
  writeSoftHsmConf(confPath, tokenDir);
  useSoftHsmConf(confPath, modulePath);
  return { home, confPath, tokenDir, modulePath };
}
