/**
 * The registry on disk: `<home>/providers/`, one JSON file per registration.
 *
 * Why one file per registration: an install or removal touches one file, a corrupt file costs one
 * registration instead of the whole registry, and an administrator can read or delete one with
 * ordinary tools (the shape of p11-kit's modules directory).
 *
 * Why the lock: the check "is that name free?" and the next install sequence number must be decided
 * by one process at a time, or two installers could both take the same name or the same number
 * (file-lock.ts).
 *
 * Why write-temp-fsync-rename: readers see either the old file or the new one, never half of one,
 * even if the installer crashes or the machine loses power mid-write.
 *
 * The home folder is a parameter: resolving P11KSP_HOME is the package's job (home.ts), and
 * smartcard/ must not import cli/.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { CryptError } from '../../minidriver/errors.js';
import { withFileLock } from '../file-lock.js';
import { type Registration, type RegistrationInput, validateName, validateRegistration, validateRegistrationInput } from './registration.js';

const LOCK_FILE = '.lock';
const SEQUENCE_FILE = '.sequence';
const SUFFIX = '.json';

export interface StoreOptions {
  /** The clock, injectable so tests can install several registrations "in the same millisecond". */
  now?: () => Date;
  /** How long to keep retrying for the lock before failing with SCARD_E_TIMEOUT. Default 10 s. */
  lockTimeoutMs?: number;
  /** A lock older than this whose owner is gone is considered left behind by a crash. Default 30 s. */
  staleLockMs?: number;
}

export interface AddOptions {
  /** Overwrite an existing registration of the same name (a re-install: it becomes the most recent). */
  replace?: boolean;
}

/** A file in the providers folder that could not be read as a registration. */
export interface StoreProblem {
  file: string;
  error: string;
}

export interface ListResult {
  registrations: Registration[];
  /** Corrupt or unreadable files: skipped, reported here, never fatal. */
  problems: StoreProblem[];
}

/**
 * File name for a card type name: letters, digits, '_' and '-' stay; everything else (space, '.')
 * becomes %XX. So "." and ".." cannot name a directory entry, names never start with a dot (dot
 * files are the store's own), and decoding is unambiguous.
 */
export function fileNameFor(name: string): string {
  return (
    validateName(name).replace(/[^A-Za-z0-9_-]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`) + SUFFIX
  );
}

export function nameFromFileName(file: string): string | undefined {
  if (!file.endsWith(SUFFIX) || file.startsWith('.')) return undefined;
  try {
    return decodeURIComponent(file.slice(0, -SUFFIX.length));
  } catch {
    return undefined;
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Writes `data` to `path` so that readers see the old content or the new, never a mix. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = join(path, '..');
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync(); // the data is on disk before the name points at it
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, path);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
  await syncDirectory(dir); // the rename itself survives a crash
}

async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, fsConstants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

export class RegistryStore {
  /** `<home>/providers`. */
  readonly dir: string;
  private readonly now: () => Date;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(home: string, options: StoreOptions = {}) {
    this.dir = join(home, 'providers');
    this.now = options.now ?? (() => new Date());
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.staleLockMs = options.staleLockMs ?? 30_000;
  }

  private async ensureDir(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Installs a registration; refuses an existing name with NTE_EXISTS unless `replace`. */
  async add(input: RegistrationInput, options: AddOptions = {}): Promise<Registration> {
    const valid = validateRegistrationInput(input);
    await this.ensureDir();
    return this.withLock(async () => {
      const path = join(this.dir, fileNameFor(valid.name));
      if (!options.replace && (await exists(path))) {
        throw new CryptError('NTE_EXISTS', `a provider is already registered for card type "${valid.name}"; remove it first or install with replace`, { operation: 'registry add' });
      }
      const installSequence = await this.nextSequence();
      const reg: Registration = { ...valid, installedAt: this.now().toISOString(), installSequence };
      await writeFileAtomic(path, `${JSON.stringify(reg, null, 2)}\n`);
      return reg;
    });
  }

  /** Removes a registration; NTE_NOT_FOUND when there is none of that name. */
  async remove(name: string): Promise<void> {
    const path = join(this.dir, fileNameFor(name));
    await this.ensureDir();
    await this.withLock(async () => {
      try {
        await fs.unlink(path);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') {
          throw new CryptError('NTE_NOT_FOUND', `no provider is registered for card type "${name}"`, { operation: 'registry remove' });
        }
        throw err;
      }
      await syncDirectory(this.dir);
    });
  }

  /** One registration, or undefined. A corrupt file throws (the caller asked for it by name). */
  async get(name: string): Promise<Registration | undefined> {
    const path = join(this.dir, fileNameFor(name));
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    return parseRegistration(text, name);
  }

  /** Every readable registration; unreadable ones are reported in `problems`, not thrown. */
  async list(): Promise<ListResult> {
    let files: string[];
    try {
      files = await fs.readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { registrations: [], problems: [] };
      throw err;
    }
    const registrations: Registration[] = [];
    const problems: StoreProblem[] = [];
    for (const file of files.sort()) {
      const name = nameFromFileName(file);
      if (name === undefined) continue; // lock, counter, temp files and strangers
      try {
        const text = await fs.readFile(join(this.dir, file), 'utf8');
        registrations.push(parseRegistration(text, name));
      } catch (err) {
        problems.push({ file: join(this.dir, file), error: err instanceof Error ? err.message : String(err) });
      }
    }
    return { registrations, problems };
  }

  /**
   * The next install sequence: one more than both the counter file and every stored registration,
   * so a deleted or damaged counter cannot make a new install look older than an existing one.
   * Called only under the lock.
   */
  private async nextSequence(): Promise<number> {
    const counterPath = join(this.dir, SEQUENCE_FILE);
    let last = 0;
    try {
      const value = Number.parseInt(await fs.readFile(counterPath, 'utf8'), 10);
      if (Number.isSafeInteger(value) && value > 0) last = value;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    const { registrations } = await this.list();
    for (const reg of registrations) last = Math.max(last, reg.installSequence);
    const next = last + 1;
    await writeFileAtomic(counterPath, `${next}\n`);
    return next;
  }

  private withLock<T>(action: () => Promise<T>): Promise<T> {
    return withFileLock(join(this.dir, LOCK_FILE), {
      timeoutMs: this.lockTimeoutMs, staleMs: this.staleLockMs, what: `the provider registry ${this.dir}`, operation: 'registry',
    }, action);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

function parseRegistration(text: string, expectedName: string): Registration {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `the registration file for "${expectedName}" is not valid JSON`, { operation: 'registry', cause: err });
  }
  const reg = validateRegistration(value as Registration);
  if (reg.name !== expectedName) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `the registration file for "${expectedName}" names "${reg.name}"`, { operation: 'registry' });
  }
  return reg;
}
