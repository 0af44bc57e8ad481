import { CryptError } from '../minidriver/errors.js';

/**
 * The smart card data cache, with the semantics of SCardWriteCache / SCardReadCache: an item is
 * stored under (card identifier, lookup name) together with the freshness counter it was read under,
 * and a read under any other freshness value is SCARD_W_CACHE_ITEM_STALE. The card's cardcf counters
 * are the freshness values, so a change made by any process (which bumps cardcf first) makes every
 * older item stale without anyone having to tell the cache. Public data only: never a PIN or a key.
 *
 * The backend is where items live: this process's memory here; the global, multi-process store plugs
 * in behind the same interface.
 */
export interface CacheItem {
  freshness: number;
  data: Buffer;
}

export interface CacheBackend {
  get(key: string): CacheItem | undefined;
  put(key: string, item: CacheItem): void;
  deletePrefix(prefix: string): void;
}

/** Items in this process's memory. */
export class MemoryCacheBackend implements CacheBackend {
  private readonly items = new Map<string, CacheItem>();
  get(key: string): CacheItem | undefined {
    return this.items.get(key);
  }
  put(key: string, item: CacheItem): void {
    this.items.set(key, item);
  }
  deletePrefix(prefix: string): void {
    for (const key of this.items.keys()) if (key.startsWith(prefix)) this.items.delete(key);
  }
}

/** Windows keeps cache items small; so do we (SCARD_W_CACHE_ITEM_TOO_BIG above this). */
export const DEFAULT_MAX_CACHE_ITEM_BYTES = 64 * 1024;
const MAX_LOOKUP_NAME = 256;

function cardKey(cardIdentifier: Uint8Array, operation: string): string {
  if (!(cardIdentifier instanceof Uint8Array) || cardIdentifier.length !== 16) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', 'the card identifier is the 16-byte cardid (card GUID)', { operation });
  }
  return Buffer.from(cardIdentifier).toString('hex');
}

function checkFreshness(freshness: number, operation: string): void {
  if (!Number.isInteger(freshness) || freshness < 0 || freshness > 0xffffffff) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `freshness counter ${freshness} is not a DWORD`, { operation });
  }
}

function checkName(name: string, operation: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_LOOKUP_NAME) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `the lookup name must be 1..${MAX_LOOKUP_NAME} characters`, { operation });
  }
}

export class DataCache {
  constructor(
    private readonly backend: CacheBackend = new MemoryCacheBackend(),
    private readonly maxItemBytes = DEFAULT_MAX_CACHE_ITEM_BYTES,
  ) {}

  SCardWriteCache(cardIdentifier: Uint8Array, freshnessCounter: number, lookupName: string, data: Uint8Array): void {
    const operation = 'SCardWriteCache';
    const card = cardKey(cardIdentifier, operation);
    checkFreshness(freshnessCounter, operation);
    checkName(lookupName, operation);
    if (!(data instanceof Uint8Array)) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'data is required', { operation });
    if (data.length > this.maxItemBytes) {
      throw new CryptError('SCARD_W_CACHE_ITEM_TOO_BIG', `cache items are at most ${this.maxItemBytes} bytes; this one is ${data.length}`, { operation });
    }
    this.backend.put(`${card}/${lookupName}`, { freshness: freshnessCounter, data: Buffer.from(data) });
  }

  SCardReadCache(cardIdentifier: Uint8Array, freshnessCounter: number, lookupName: string): Buffer {
    const operation = 'SCardReadCache';
    const card = cardKey(cardIdentifier, operation);
    checkFreshness(freshnessCounter, operation);
    checkName(lookupName, operation);
    const item = this.backend.get(`${card}/${lookupName}`);
    if (!item) throw new CryptError('SCARD_W_CACHE_ITEM_NOT_FOUND', `nothing cached as "${lookupName}" for this card`, { operation });
    if (item.freshness !== freshnessCounter) {
      throw new CryptError('SCARD_W_CACHE_ITEM_STALE', `"${lookupName}" was cached under freshness ${item.freshness}, the card is at ${freshnessCounter}; read the card again`, { operation });
    }
    return Buffer.from(item.data);
  }

  /** Forgets everything cached for a card (removal, or a card whose identity changed). */
  forgetCard(cardIdentifier: Uint8Array): void {
    this.backend.deletePrefix(`${cardKey(cardIdentifier, 'forgetCard')}/`);
  }
}
