/**
 * Card insertion and removal as an async iterator (the SCardGetStatusChange role).
 *
 * Polling, not C_WaitForSlotEvent: many modules answer it with CKR_FUNCTION_NOT_SUPPORTED, SoftHSM2
 * 2.6.1 answers the non-blocking form with CKR_NO_EVENT whatever happens (measured: it never learns
 * of tokens other processes add or delete until C_Finalize + C_Initialize), and the blocking form
 * would hold a worker thread per module for as long as the watch runs. Every module answers
 * C_GetSlotList/C_GetTokenInfo, so a poll works everywhere; a module that does report slot events
 * could later wake the loop early instead of waiting for the next tick.
 *
 * A poll whose driver fails (SoftHSM2 answers C_GetTokenInfo with CKR_GENERAL_ERROR for a token
 * another process deleted) rejects the pending next(): the reader list of that module is unknown,
 * and guessing "removed" for all its cards would be as wrong as guessing "still there".
 *
 * The first poll is the baseline and yields nothing (cards already in readers were not "inserted"
 * while we watched). A card is identified by serial + label: the same card re-inserted between two
 * polls is invisible (PC/SC's event counter would show it; PKCS#11 has no such counter), a different
 * card in the same reader is a removal followed by an insertion.
 *
 * Removal listeners (ReaderService.onRemoved) are called when the removal is seen, before the event
 * is handed to the consumer: a slow or absent consumer must not keep a removed card's PINs cached.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CardIdentity, ReaderEntry } from './reader-list.js';

export interface ReaderEvent {
  type: 'inserted' | 'removed';
  szReader: string;
  /** The card that arrived or left (the identity it had while present). */
  card?: CardIdentity;
}

export interface WatchOptions {
  /** Time between polls. Default 500 ms. */
  intervalMs?: number;
  /** Aborting it ends the iteration (the pending next() resolves done) and clears the timer. */
  signal?: AbortSignal;
  /** false: the poll timer does not keep the process alive (background monitoring). Default true. */
  ref?: boolean;
}

/** What the watcher needs of the reader service (kept narrow so events.ts imports only types). */
export interface ReaderSource {
  snapshot(): Promise<ReaderEntry[]>;
  notifyRemoved(event: ReaderEvent): void;
}

/** The card in a reader as the watcher tracks it; undefined = no identifiable card. */
function cardKey(card: CardIdentity | undefined): string | undefined {
  return card ? `${card.serial}\u0000${card.label}` : undefined;
}

/** Events that turn `before` into `after`. Removals first, so a swapped card reads removed → inserted. */
export function diffReaders(before: ReadonlyMap<string, CardIdentity | undefined>, after: ReadonlyMap<string, CardIdentity | undefined>): ReaderEvent[] {
  const removed: ReaderEvent[] = [];
  const inserted: ReaderEvent[] = [];
  for (const [szReader, card] of before) {
    // A reader that vanished (module unloaded, p11-kit server gone) takes its card with it.
    if (card && cardKey(card) !== cardKey(after.get(szReader))) removed.push({ type: 'removed', szReader, card });
  }
  for (const [szReader, card] of after) {
    if (card && cardKey(card) !== cardKey(before.get(szReader))) inserted.push({ type: 'inserted', szReader, card });
  }
  return [...removed, ...inserted];
}

async function cardsByReader(source: ReaderSource): Promise<Map<string, CardIdentity | undefined>> {
  return new Map((await source.snapshot()).map((e) => [e.szReader, e.card]));
}

/**
 * Watches the readers of `source`. Ends when `options.signal` aborts or when the consumer calls
 * return() (a `break` out of for-await does); either way no timer is left behind.
 */
export function watchReaders(source: ReaderSource, options: WatchOptions = {}): AsyncIterableIterator<ReaderEvent> {
  const intervalMs = options.intervalMs ?? 500;
  if (!Number.isFinite(intervalMs) || intervalMs < 0) throw new RangeError(`intervalMs must be a non-negative number, not ${intervalMs}`);
  // An async generator's return() waits until the generator reaches a yield, so a generator asleep
  // between polls would keep its timer until it fires. This controller lets return() cut the sleep.
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;

  async function* poll(): AsyncGenerator<ReaderEvent> {
    if (signal.aborted) return;
    let known = await cardsByReader(source);
    while (!signal.aborted) {
      try {
        await sleep(intervalMs, undefined, { signal, ref: options.ref ?? true });
      } catch {
        return; // aborted: sleep cleared its timer
      }
      const current = await cardsByReader(source);
      if (signal.aborted) return;
      const events = diffReaders(known, current);
      known = current;
      for (const event of events) if (event.type === 'removed') source.notifyRemoved(event);
      for (const event of events) yield event;
    }
  }

  const generator = poll();
  const iterator: AsyncIterableIterator<ReaderEvent> = {
    next: () => generator.next(),
    return: async (value?: unknown) => {
      stop.abort();
      return generator.return(value as undefined);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
