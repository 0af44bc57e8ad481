/**
 * A lock between processes: a file created with O_EXCL (`wx`), which is atomic on local file systems.
 * Used where two processes of the user must not interleave a read-modify-write: the provider
 * registry's install sequence, and a card's container map (the SCardBeginTransaction role — PKCS#11
 * has no cross-process transaction, and two processes adding a container at once would otherwise both
 * take the same free cmapfile position).
 *
 * A holder that died leaves its file behind: a lock older than `staleMs` whose owner pid is gone is
 * broken. It is first renamed to a unique name, so of several processes that judge it stale only one
 * removes it.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { CryptError } from '../minidriver/errors.js';

export interface FileLockOptions {
  /** How long to keep retrying before failing with SCARD_E_TIMEOUT. */
  timeoutMs: number;
  /** A lock older than this whose owner is gone is considered left behind by a crash. */
  staleMs: number;
  /** What is locked, for the timeout message ("the provider registry /x"). */
  what: string;
  operation: string;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM'; // exists, owned by someone else
  }
}

async function breakStaleLock(lockPath: string, staleMs: number): Promise<void> {
  try {
    const stat = await fs.stat(lockPath);
    if (Date.now() - stat.mtimeMs < staleMs) return;
    const pid = Number.parseInt(await fs.readFile(lockPath, 'utf8'), 10);
    if (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid)) return;
    const grave = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    await fs.rename(lockPath, grave);
    await fs.rm(grave, { force: true });
  } catch {
    // Gone already, or another process broke it first: just retry.
  }
}

/** Runs `action` holding the lock file `lockPath` (its folder must exist). */
export async function withFileLock<T>(lockPath: string, options: FileLockOptions, action: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const handle = await fs.open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    await breakStaleLock(lockPath, options.staleMs);
    if (Date.now() > deadline) {
      throw new CryptError('SCARD_E_TIMEOUT', `${options.what} stayed locked for ${options.timeoutMs} ms; if no other p11-ksp process is running, delete ${lockPath}`, { operation: options.operation });
    }
    // Jittered exponential backoff: two waiting processes do not retry in lockstep.
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
  try {
    return await action();
  } finally {
    await fs.rm(lockPath, { force: true });
  }
}
