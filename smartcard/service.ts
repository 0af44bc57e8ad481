/**
 * The Smart Card service as the front ends see it: readers and their cards, the cards this process
 * has open (the Base CSP's per-process card handle cache), card selection, the PIN cache and the data
 * caches — and removal, which drops a card's open context, driver state, PINs and session-cached
 * data together.
 *
 * A removal is noticed three ways: the reader watcher (`monitor`) sees the card leave; selection finds
 * a known card's handle dead when it verifies it; or an operation fails with SCARD_W_REMOVED_CARD and
 * the front end reports it (`cardFailed`). All three end in `cardRemoved`.
 */
import { CryptError } from '../minidriver/errors.js';
import type { CardMinidriver } from '../minidriver/card-module.js';
import { CARD_DATA_VERSION_SEVEN } from '../minidriver/constants.js';
import { pinCacheCard } from './authentication.js';
import { SmartCard, type CardCaches } from './card.js';
import { cardLock, cardLockKey } from './card-lock.js';
import { type CacheBackend, DataCache, MemoryCacheBackend } from './data-cache.js';
import { PinCache } from './pin-cache.js';
import { type CardIdentity, type DriverFactory, type ReaderEntry, ReaderService, type ReaderStatus } from './readers/reader-list.js';
import type { ReaderEvent } from './readers/events.js';
import type { Registration } from './registry/registration.js';
import { type Selection, type SelectionHost, type SelectionRequest, selectCard } from './selection.js';

export interface SmartCardServiceOptions {
  registrations: readonly Registration[];
  driverFactory: DriverFactory;
  /** The per-user cache shared between processes (LmdbCacheBackend); null = per-process only. */
  globalCache?: (CacheBackend & { close?(): Promise<void> | void }) | null;
  /** The process's PIN cache; a service of its own by default. */
  pinCache?: PinCache;
  /** Folder of the per-card lock files shared by the user's processes; null = this process only. */
  lockFolder?: string | null;
}

/** SCardStatus plus the card GUID (cardid) of a card this service could open. */
export interface CardStatus extends ReaderStatus {
  /** The 16-byte card identifier, when the card is initialised. */
  guid?: Buffer;
}

function cardKey(szReader: string, card: CardIdentity): string {
  return JSON.stringify([szReader, card.serial, card.label]);
}

export class SmartCardService implements SelectionHost, AsyncDisposable {
  readonly readers: ReaderService;
  readonly pins: PinCache;
  private readonly caches: CardCaches;
  private readonly globalBackend: SmartCardServiceOptions['globalCache'];
  /** Open cards, most recently used last (Map order); keyed by reader + identity. */
  private readonly open = new Map<string, SmartCard>();
  private readonly opening = new Map<string, Promise<SmartCard>>();
  private monitorStop: AbortController | undefined;
  private readonly ownsPins: boolean;
  private closed = false;

  constructor(options: SmartCardServiceOptions) {
    this.readers = new ReaderService(options.registrations, options.driverFactory);
    this.pins = options.pinCache ?? new PinCache();
    this.ownsPins = options.pinCache === undefined;
    this.globalBackend = options.globalCache ?? null;
    this.caches = {
      global: this.globalBackend ? new DataCache(this.globalBackend) : null,
      session: new DataCache(new MemoryCacheBackend()),
      lock: cardLock(options.lockFolder ?? null),
    };
    this.readers.onRemoved((event) => {
      if (event.card) void this.cardRemoved(event.szReader, event.card);
    });
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new CryptError('SCARD_E_NO_SERVICE', 'the smart card service was closed; create a new one', { operation });
  }

  snapshot(): Promise<ReaderEntry[]> {
    this.assertOpen('SCardListReaders');
    return this.readers.snapshot();
  }

  SCardListReaders(): Promise<string[]> {
    this.assertOpen('SCardListReaders');
    return this.readers.SCardListReaders();
  }

  /** SCardStatus with the card GUID (read from the card once, then held while the card stays). */
  async SCardStatus(szReader: string): Promise<CardStatus> {
    this.assertOpen('SCardStatus');
    const status: CardStatus = await this.readers.SCardStatus(szReader);
    if (status.card) {
      const entry = (await this.readers.snapshot()).find((e) => e.szReader === szReader);
      if (entry?.card) status.guid = Buffer.from((await this.cardIn(entry)).guid);
    }
    return status;
  }

  /** The cache SCardReadCache / SCardWriteCache address: the global one, else this process's. */
  private get publicCache(): DataCache {
    return this.caches.global ?? this.caches.session;
  }

  SCardWriteCache(cardIdentifier: Uint8Array, freshnessCounter: number, lookupName: string, data: Uint8Array): void {
    this.assertOpen('SCardWriteCache');
    this.publicCache.SCardWriteCache(cardIdentifier, freshnessCounter, lookupName, data);
  }

  SCardReadCache(cardIdentifier: Uint8Array, freshnessCounter: number, lookupName: string): Buffer {
    this.assertOpen('SCardReadCache');
    return this.publicCache.SCardReadCache(cardIdentifier, freshnessCounter, lookupName);
  }

  /** The open card in a reader entry: reused while the same card stays in the same reader. */
  async cardIn(entry: ReaderEntry): Promise<SmartCard> {
    this.assertOpen('CardAcquireContext');
    if (!entry.card) {
      // An unknown card (no registration claims it) is no card to this service, as an empty reader:
      // callers that pass by empty readers pass by it too.
      const message = entry.state.card
        ? `the card in "${entry.szReader}" is of a type no registration serves${entry.atr ? ` (ATR ${entry.atr.toString('hex')})` : ''}; register a provider for it (p11-ksp provider add)`
        : `no card in "${entry.szReader}"; insert one`;
      throw new CryptError('SCARD_E_NO_SMARTCARD', message, { operation: 'CardAcquireContext' });
    }
    const key = cardKey(entry.szReader, entry.card);
    const known = this.open.get(key);
    if (known && !known.isRemoved) {
      this.open.delete(key); // re-insert: most recently used last
      this.open.set(key, known);
      return known;
    }
    const pending = this.opening.get(key);
    if (pending) return pending;
    // Opening reads (and on a fresh token creates) the card's files: under the card lock.
    const opening = this.caches.lock!(cardLockKey(entry.card), async () => {
      const module = await entry.driver.CardAcquireContext({ dwVersion: CARD_DATA_VERSION_SEVEN, hScard: entry.state.hScard });
      const card = await SmartCard.open(entry.szReader, entry.card!, module, this.caches);
      this.open.set(key, card);
      return card;
    });
    this.opening.set(key, opening);
    try {
      return await opening;
    } finally {
      this.opening.delete(key);
    }
  }

  /** Known cards, most recently used first. */
  knownCards(): SmartCard[] {
    return [...this.open.values()].filter((c) => !c.isRemoved).reverse();
  }

  /**
   * Drops a card whose handle failed. A handle held from before a removal may fail after the card came
   * back and was opened again: then only that old handle goes, not the reinserted card or its PINs.
   */
  async forget(card: SmartCard): Promise<void> {
    if (this.open.get(cardKey(card.szReader, card.identity)) !== card) {
      card.markRemoved();
      return;
    }
    await this.cardRemoved(card.szReader, card.identity);
  }

  /** Selection (see selection.ts); `inside` runs within the card transaction of the final check. */
  select(request: SelectionRequest, operation: string): Promise<Selection>;
  select<T>(request: SelectionRequest, operation: string, inside: (selection: Selection) => Promise<T>): Promise<T>;
  select<T>(request: SelectionRequest, operation: string, inside?: (selection: Selection) => Promise<T>): Promise<T | Selection> {
    this.assertOpen(operation);
    return selectCard<T | Selection>(this, request, operation, inside);
  }

  /** A front end saw SCARD_W_REMOVED_CARD from a card: treat it as a removal. */
  async cardFailed(card: SmartCard, err: unknown): Promise<void> {
    if (err instanceof CryptError && (err.codeName === 'SCARD_W_REMOVED_CARD' || err.codeName === 'SCARD_E_NO_SMARTCARD')) await this.forget(card);
  }

  /**
   * Drops everything held for a card that left its reader: the open context (later calls on it give
   * SCARD_W_REMOVED_CARD), the driver's per-card state, the card's PINs and its per-process cached data.
   * The global cache keeps its items: they are keyed by card GUID and freshness, and stay correct.
   */
  async cardRemoved(szReader: string, identity: CardIdentity): Promise<void> {
    const key = cardKey(szReader, identity);
    const card = this.open.get(key);
    this.open.delete(key);
    this.pins.drop(pinCacheCard({ identity }));
    if (card) {
      card.markRemoved();
      this.caches.session.forgetCard(card.guid);
      await card.close();
    }
    const entry = (await this.readers.snapshot().catch(() => [])).find((e) => e.szReader === szReader);
    const driver: CardMinidriver | undefined = entry?.driver;
    await driver?.releaseCard?.(identity).catch(() => undefined);
  }

  /**
   * Watches the readers in the background so that a removal drops the card's PINs and state even when
   * no one is using the card. The timer does not keep the process alive. Idempotent.
   */
  monitor(intervalMs = 500): void {
    this.assertOpen('monitor');
    if (this.monitorStop) return;
    const stop = new AbortController();
    this.monitorStop = stop;
    void (async () => {
      try {
        for await (const _event of this.readers.watch({ intervalMs, signal: stop.signal, ref: false }) as AsyncIterable<ReaderEvent>) {
          // Removal listeners (cardRemoved) already ran; insertions need nothing until someone selects.
        }
      } catch {
        // A poll that failed (a module gone): monitoring stops; selection still verifies handles.
      } finally {
        if (this.monitorStop === stop) this.monitorStop = undefined;
      }
    })();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.monitorStop?.abort();
    for (const card of this.open.values()) await card.close();
    this.open.clear();
    if (this.ownsPins) this.pins.clear();
    await this.readers.close();
    await this.globalBackend?.close?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
