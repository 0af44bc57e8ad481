/**
 * Exclusive access to one card for the work that touches its files (the SCardBeginTransaction role).
 *
 * Why: adding a container reads the map, picks a free position and writes the map back, and nothing
 * else may write the map in between. And SoftHSM2's file store (2.6) is not safe when one process
 * reads the token's objects while another creates or destroys them (reproduced here: SIGSEGV and
 * CKR_OBJECT_HANDLE_INVALID in the reader; upstream SoftHSMv2 #688), so reads of the card file system
 * take the lock too. Private-key operations do not: they touch no object files once the key is found.
 *
 * Within a process a queue per card orders the holders; between the processes of a user, a lock file
 * per card (file-lock.ts) in a folder they share does.
 *
 * Not re-entrant: a holder must not ask for the same card's lock again (it would wait for itself).
 * The card's locked sections (smartcard/card.ts) call the module directly, or *Held helpers, inside.
 * Why not AsyncLocalStorage to make it re-entrant: on Node 20 its first use turns on promise hooks for
 * the whole process, and every await of every operation then costs about three times as much — a few
 * percent of a fast token's signature (measured with the bench's ECDSA P-256 rows).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLock } from './file-lock.js';

export type CardLock = <T>(card: string, action: () => Promise<T>) => Promise<T>;

/** Key generation inside the lock can take seconds (RSA 4096 on a card): wait that long and more. */
const LOCK_TIMEOUT_MS = 120_000;
const STALE_MS = 300_000;

/** The lock key of a card: its identity (known before anything is read from it). */
export function cardLockKey(identity: { serial: string; label: string }): string {
  return createHash('sha256').update(`${identity.serial}\u0000${identity.label}`).digest('hex').slice(0, 32);
}

/** Orders holders within this process, then (with a folder) between processes. */
export function cardLock(folder: string | null): CardLock {
  const queues = new Map<string, Promise<unknown>>();
  if (folder) mkdirSync(folder, { recursive: true, mode: 0o700 });
  return async <T>(card: string, action: () => Promise<T>): Promise<T> => {
    const previous = queues.get(card) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => folder
      ? withFileLock(join(folder, `${card}.lock`), { timeoutMs: LOCK_TIMEOUT_MS, staleMs: STALE_MS, what: 'the card', operation: 'SCardBeginTransaction' }, action)
      : action());
    queues.set(card, run);
    try {
      return await run;
    } finally {
      if (queues.get(card) === run) queues.delete(card);
    }
  };
}
