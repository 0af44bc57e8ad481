/**
 * A card the Smart Card service has opened: one minidriver context (CardModule) on the card in one
 * reader, with the Base CSP's data cache in front of its public files.
 *
 * Reads: cmapfile, certificate files, container info and PIN info are looked up in the data cache
 * under the card GUID (cardid) and the cardcf counter of their class (containers, files, PINs); a miss
 * or a stale item reads the card and refreshes the cache. cardcf is read once per transaction
 * (`transaction`) rather than once per item, as the Base CSP reads it once at each transaction start.
 * Writes: the counter of the class is bumped on the card *before* the write, so every other process
 * sees its cached copy go stale even if this process dies between the two.
 *
 * Which cache: the card's CP_CARD_CACHE_MODE decides — GLOBAL: the per-user cache shared by every
 * process; SESSION_ONLY: this process only; NO_CACHE (cardcf cannot be trusted, e.g. a read-only card
 * whose counters never move): no cache at all. A context that asks for no cached data
 * (CRYPT_MACHINE_KEYSET) reads the card every time (`noCache`).
 */
import {
  CARD_CACHE_CONTAINERS, CARD_CACHE_FILES, CARD_CACHE_PINS, CARD_DATA_VALUE_UNKNOWN, CONTAINER_MAP_DEFAULT_CONTAINER, CONTAINER_MAP_VALID_CONTAINER,
  CP_CACHE_MODE_GLOBAL_CACHE, CP_CACHE_MODE_SESSION_ONLY, CP_CARD_CACHE_MODE, CP_CARD_FREE_SPACE, CP_CARD_GUID, CP_CARD_PIN_INFO,
  CP_CARD_READ_ONLY, MAX_CONTAINER_NAME_LEN, szROOT_STORE_FILE,
} from '../minidriver/constants.js';
import type { CardModule } from '../minidriver/card-module.js';
import {
  type CardCacheFile, type ContainerMapRecord, bumpCardCf, cardIdToGuidString, certificateFileName, compressCertificate,
  decodeCardCf, decodeCertificateFile, decodeCmapFile, defaultContainerIndex, encodeCardCf, encodeCmapFile, findContainer, firstFreeIndex,
} from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import type { CardFreeSpaceInfo, CardKeySizes, ContainerInfo, PinInfo } from '../minidriver/structures.js';
import { decodeContainerInfoItem, decodePinInfoItem, encodeContainerInfoItem, encodePinInfoItem } from './cache-items.js';
import { type CardLock, cardLock, cardLockKey } from './card-lock.js';
import type { DataCache } from './data-cache.js';
import type { CardIdentity } from './readers/reader-list.js';

/** The three freshness classes of cardcf. */
type FreshnessClass = typeof CARD_CACHE_PINS | typeof CARD_CACHE_CONTAINERS | typeof CARD_CACHE_FILES;

/** A valid container of the card's map, with its position (its identity on the card). */
export interface CardContainer {
  index: number;
  name: string;
  isDefault: boolean;
  sigKeyBits: number;
  keyExchangeKeyBits: number;
}

export interface CardCaches {
  /** The per-user cache shared between processes (GLOBAL cache mode). */
  global: DataCache | null;
  /** This process's cache (SESSION_ONLY cache mode). */
  session: DataCache;
  /** Exclusive access for read-modify-writes of the card's files; in-process only by default. */
  lock?: CardLock;
}

function freshnessOf(cf: CardCacheFile, cls: FreshnessClass): number {
  switch (cls) {
    case CARD_CACHE_PINS: return cf.bPinsFreshness;
    case CARD_CACHE_CONTAINERS: return cf.wContainersFreshness;
    case CARD_CACHE_FILES: return cf.wFilesFreshness;
  }
}

function toContainer(record: ContainerMapRecord | null, index: number): CardContainer | null {
  if (!record || !(record.bFlags & CONTAINER_MAP_VALID_CONTAINER)) return null;
  return {
    index,
    name: record.wszGuid,
    isDefault: (record.bFlags & CONTAINER_MAP_DEFAULT_CONTAINER) !== 0,
    sigKeyBits: record.wSigKeySizeBits,
    keyExchangeKeyBits: record.wKeyExchangeKeySizeBits,
  };
}

export class SmartCard {
  private cf: CardCacheFile | undefined;
  private depth = 0;
  private removed = false;
  /** PIN_INFO by PIN id, held for the card's time in the reader (policies do not change under us). */
  private readonly pinInfos = new Map<number, PinInfo>();
  /** CardQueryKeySizes by key spec: what the card can make does not change while it is in the reader. */
  private readonly keySizeInfos = new Map<number, CardKeySizes>();
  /** Container names seen at the last map read: a stale handle's card is then sought by serial. */
  private lastNames: ReadonlySet<string> = new Set();
  /**
   * The PINs (bit 1 << PIN_ID) this process saw the card accept or report authenticated, and has not
   * seen dropped since: authenticate and a yes from isAuthenticated set a bit; deauthenticate, a no
   * and authenticationLost clear it; a removed card knows none. The warm path of authentication.ts
   * relies on it.
   */
  private knownAuthenticated = 0;

  private constructor(
    readonly szReader: string,
    readonly identity: CardIdentity,
    readonly module: CardModule,
    /** cardid: the card GUID, key of the data cache. */
    readonly guid: Buffer,
    readonly readOnly: boolean,
    /** fCertificateCompression FALSE: the CSP compresses certificate files, not the driver. */
    private readonly compressCertificates: boolean,
    private readonly cache: DataCache | null,
    private readonly lock: CardLock,
  ) {}

  /** Opens the card: binds a minidriver context, reads the GUID and how its data may be cached. */
  static async open(szReader: string, identity: CardIdentity, module: CardModule, caches: CardCaches): Promise<SmartCard> {
    try {
      const guid = Buffer.from(await module.CardGetProperty(CP_CARD_GUID));
      const readOnly = Boolean(await module.CardGetProperty(CP_CARD_READ_ONLY));
      const mode = await module.CardGetProperty(CP_CARD_CACHE_MODE);
      const capabilities = await module.CardQueryCapabilities();
      const cache = mode === CP_CACHE_MODE_GLOBAL_CACHE ? caches.global ?? caches.session : mode === CP_CACHE_MODE_SESSION_ONLY ? caches.session : null;
      return new SmartCard(szReader, identity, module, guid, readOnly, !capabilities.fCertificateCompression, cache, caches.lock ?? cardLock(null));
    } catch (err) {
      await module.CardDeleteContext().catch(() => undefined);
      throw err;
    }
  }

  /** The card GUID as Windows prints it (PP_SMARTCARD_GUID, NCRYPT_SMARTCARD_GUID_PROPERTY text). */
  get guidString(): string {
    return cardIdToGuidString(this.guid);
  }

  /** Marks the card gone (removal seen): every later call fails with SCARD_W_REMOVED_CARD. */
  markRemoved(): void {
    this.removed = true;
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  private assertPresent(operation: string): void {
    if (this.removed) throw new CryptError('SCARD_W_REMOVED_CARD', 'the card was removed; insert it again and open a new context', { operation, card: this.identity.label });
  }

  /**
   * SCARD_E_READ_ONLY_CARD on a read-only card (after SCARD_W_REMOVED_CARD on a removed one). Every
   * write checks it; the front ends also call it before asking for a PIN, so nobody types a PIN for
   * a write that cannot happen. `refused` says what cannot be done, for the message.
   */
  assertWritable(operation: string, refused = 'nothing can be written to it', container?: string): void {
    this.assertPresent(operation);
    if (this.readOnly) {
      throw new CryptError('SCARD_E_READ_ONLY_CARD', `the card in "${this.szReader}" is read-only; ${refused} (its issuer manages it)`, { operation, card: this.identity.label, ...(container !== undefined ? { container } : {}) });
    }
  }

  /** Runs `action` holding the card (card-lock.ts). */
  private locked<T>(action: () => Promise<T>): Promise<T> {
    return this.lock(cardLockKey(this.identity), action);
  }

  /**
   * Runs `fn` with one cardcf reading shared by every cached read inside it (the Base CSP's
   * transaction). Nested transactions reuse the outer reading.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    this.depth++;
    try {
      return await fn();
    } finally {
      if (--this.depth === 0) this.cf = undefined;
    }
  }

  /** The card's freshness counters (read from the card unless a transaction already did). */
  private async counters(operation: string): Promise<CardCacheFile> {
    this.assertPresent(operation);
    if (this.cf && this.depth > 0) return this.cf;
    const cf = decodeCardCf(await this.locked(() => this.module.CardReadFile(null, 'cardcf')));
    if (this.depth > 0) this.cf = cf;
    return cf;
  }

  /**
   * Verifies the handle with a real card operation (reading cardcf), as the Base CSP verifies each
   * cached SCARDHANDLE before trusting it. False when the card is gone or the context is dead.
   */
  async verify(): Promise<boolean> {
    if (this.removed) return false;
    try {
      const cf = decodeCardCf(await this.locked(() => this.module.CardReadFile(null, 'cardcf')));
      if (this.depth > 0) this.cf = cf; // the transaction's reading: the checks that follow reuse it
      return true;
    } catch {
      return false;
    }
  }

  /** Reads through the cache: `read` is the card access, `encode`/`decode` the item form. */
  private async cached<T>(cls: FreshnessClass, lookupName: string, noCache: boolean, read: () => Promise<T>, encode: (v: T) => Uint8Array, decode: (b: Buffer) => T, operation: string): Promise<T> {
    if (!this.cache || noCache) {
      this.assertPresent(operation);
      return this.locked(read);
    }
    const freshness = freshnessOf(await this.counters(operation), cls);
    try {
      return decode(this.cache.SCardReadCache(this.guid, freshness, lookupName));
    } catch (err) {
      if (!(err instanceof CryptError) || (err.codeName !== 'SCARD_W_CACHE_ITEM_NOT_FOUND' && err.codeName !== 'SCARD_W_CACHE_ITEM_STALE')) throw err;
    }
    const value = await this.locked(read);
    try {
      this.cache.SCardWriteCache(this.guid, freshness, lookupName, encode(value));
    } catch (err) {
      // An item too big for the cache is simply not cached; anything else is a real fault.
      if (!(err instanceof CryptError) || err.codeName !== 'SCARD_W_CACHE_ITEM_TOO_BIG') throw err;
    }
    return value;
  }

  /**
   * Bumps a cardcf counter on the card before a write of that class. Every write starts here, so a
   * read-only card (CP_CARD_READ_ONLY) refuses them all here, with SCARD_E_READ_ONLY_CARD — the code
   * card selection gives for a create — before anything is sent to the card.
   */
  private async bump(cls: FreshnessClass, operation: string): Promise<CardCacheFile> {
    this.assertWritable(operation);
    const next = bumpCardCf(decodeCardCf(await this.module.CardReadFile(null, 'cardcf')), cls);
    await this.module.CardWriteFile(null, 'cardcf', 0, encodeCardCf(next));
    if (this.depth > 0) this.cf = next;
    return next;
  }

  private async writeThrough(cls: FreshnessClass, dir: string | null, file: string, data: Uint8Array, operation: string): Promise<void> {
    const cf = await this.bump(cls, operation);
    await this.module.CardWriteFile(dir, file, 0, data);
    if (this.cache) this.cache.SCardWriteCache(this.guid, freshnessOf(cf, cls), `Cached_GeneralFile/${dir ? `${dir}/` : ''}${file}`, data);
  }

  /** The container map (cmapfile) records, positions kept. */
  async containerRecords(noCache = false): Promise<(ContainerMapRecord | null)[]> {
    const operation = 'ReadContainerMap';
    return this.cached(CARD_CACHE_CONTAINERS, 'Cached_GeneralFile/mscp/cmapfile', noCache,
      () => this.module.CardReadFile('mscp', 'cmapfile'), (b) => b, (b) => b, operation).then((bytes) => this.mapRecords(bytes));
  }

  /** The container map read from the card by a section that holds the card lock already (see card-lock.ts). */
  private async containerRecordsHeld(): Promise<(ContainerMapRecord | null)[]> {
    this.assertPresent('ReadContainerMap');
    return this.mapRecords(await this.module.CardReadFile('mscp', 'cmapfile'));
  }

  private mapRecords(bytes: Uint8Array): (ContainerMapRecord | null)[] {
    const records = decodeCmapFile(bytes);
    this.lastNames = new Set(records.map((r, i) => toContainer(r, i)?.name).filter((n): n is string => n !== undefined));
    return records;
  }

  /** Whether the card held this container when its map was last read (for a card that went stale). */
  heldContainer(name: string): boolean {
    return this.lastNames.has(name);
  }

  /** The valid containers of the card. */
  async containers(noCache = false): Promise<CardContainer[]> {
    const records = await this.containerRecords(noCache);
    return records.map(toContainer).filter((c): c is CardContainer => c !== null);
  }

  /**
   * The container of that name. A miss in the cached map is confirmed on the card: keys written by
   * other PKCS#11 applications (pkcs11-tool) do not bump cardcf, and only a read of the card's map
   * brings them in as containers. Hits, the common case, cost no card read.
   */
  async findContainer(name: string, noCache = false): Promise<CardContainer | undefined> {
    const found = (records: (ContainerMapRecord | null)[]): CardContainer | undefined => {
      const index = findContainer(records, name);
      return index < 0 ? undefined : toContainer(records[index]!, index) ?? undefined;
    };
    const hit = found(await this.containerRecords(noCache));
    if (hit || noCache || !this.cache) return hit;
    return found(await this.containerRecords(true));
  }

  async defaultContainer(noCache = false): Promise<CardContainer | undefined> {
    const records = await this.containerRecords(noCache);
    const index = defaultContainerIndex(records);
    return index < 0 ? undefined : toContainer(records[index]!, index) ?? undefined;
  }

  async containerInfo(index: number, noCache = false): Promise<ContainerInfo> {
    return this.cached(CARD_CACHE_CONTAINERS, `Cached_ContainerInfo_${index.toString(16).padStart(2, '0')}`, noCache,
      () => this.module.CardGetContainerInfo(index), encodeContainerInfoItem, decodeContainerInfoItem, 'CardGetContainerInfo');
  }

  /** PIN_INFO already held for this card (no card call), or undefined; undefined once removed. */
  heldPinInfo(pinId: number): PinInfo | undefined {
    return this.removed ? undefined : this.pinInfos.get(pinId);
  }

  async pinInfo(pinId: number, noCache = false): Promise<PinInfo> {
    this.assertPresent('CardGetProperty'); // held values too: a removed card's handle must say so
    const held = this.pinInfos.get(pinId);
    if (held && !noCache) return held;
    const info = await this.cached(CARD_CACHE_PINS, `Cached_CardProperty_${CP_CARD_PIN_INFO}_${pinId}`, noCache,
      () => this.module.CardGetProperty(CP_CARD_PIN_INFO, pinId), encodePinInfoItem, decodePinInfoItem, 'CardGetProperty');
    this.pinInfos.set(pinId, info);
    return info;
  }

  /** The key lengths the card supports for a key spec (AT_KEYEXCHANGE, AT_SIGNATURE, AT_ECDSA_P256...). */
  async keySizes(keySpec: number): Promise<CardKeySizes> {
    this.assertPresent('CardQueryKeySizes');
    const held = this.keySizeInfos.get(keySpec);
    if (held) return held;
    const sizes = await this.locked(() => this.module.CardQueryKeySizes(keySpec));
    this.keySizeInfos.set(keySpec, sizes);
    return sizes;
  }

  async freeSpace(): Promise<CardFreeSpaceInfo> {
    this.assertPresent('CardQueryFreeSpace');
    return this.locked(() => this.module.CardGetProperty(CP_CARD_FREE_SPACE));
  }

  /** The DER certificate of a container's key (keySpec AT_KEYEXCHANGE / AT_SIGNATURE), or undefined. */
  async readCertificate(index: number, keySpec: number, noCache = false): Promise<Buffer | undefined> {
    const bytes = await this.readMscpFile(certificateFileName(keySpec, index), noCache);
    return bytes && decodeCertificateFile(bytes);
  }

  /** Stores a container's certificate (compressed when the card leaves compression to the CSP). */
  async writeCertificate(index: number, keySpec: number, der: Uint8Array): Promise<void> {
    const data = this.compressCertificates ? compressCertificate(der) : Buffer.from(der);
    return this.locked(() => this.writeMscpFile(certificateFileName(keySpec, index), data));
  }

  /** The card's root certificate store (mscp/msroots, a PKCS#7 certificate bag), or undefined. */
  async readRootStore(noCache = false): Promise<Buffer | undefined> {
    return this.readMscpFile(szROOT_STORE_FILE, noCache);
  }

  async writeRootStore(pkcs7: Uint8Array): Promise<void> {
    return this.locked(() => this.writeMscpFile(szROOT_STORE_FILE, Buffer.from(pkcs7)));
  }

  /** A file of the mscp directory through the data cache; undefined when the card has no such file. */
  private async readMscpFile(file: string, noCache: boolean): Promise<Buffer | undefined> {
    const EMPTY = Buffer.alloc(0); // cached "no such file": absence is worth caching too
    const bytes = await this.cached(CARD_CACHE_FILES, `Cached_GeneralFile/mscp/${file}`, noCache, async () => {
      try {
        return await this.module.CardReadFile('mscp', file);
      } catch (err) {
        if (err instanceof CryptError && err.codeName === 'SCARD_E_FILE_NOT_FOUND') return EMPTY;
        throw err;
      }
    }, (b) => b, (b) => b, 'CardReadFile');
    return bytes.length === 0 ? undefined : bytes;
  }

  /** Writes an mscp file, creating it (everyone reads, the user writes) when the card lacks it. */
  private async writeMscpFile(file: string, data: Buffer): Promise<void> {
    const operation = 'CardWriteFile';
    this.assertWritable(operation);
    const files = await this.module.CardEnumFiles('mscp');
    if (!files.some((f) => f.toLowerCase() === file)) {
      await this.bump(CARD_CACHE_FILES, operation);
      await this.module.CardCreateFile('mscp', file, data.length, 1 /* EveryoneReadUserWriteAc */);
    }
    await this.writeThrough(CARD_CACHE_FILES, 'mscp', file, data, operation);
  }

  /** Writes the whole container map (the CSP, not the driver, owns cmapfile). */
  private async writeContainerMap(records: readonly (ContainerMapRecord | null)[], operation: string): Promise<void> {
    await this.writeThrough(CARD_CACHE_CONTAINERS, 'mscp', 'cmapfile', encodeCmapFile(records), operation);
  }

  /**
   * Adds an empty container named `name` (CRYPT_NEWKEYSET): a record in the first free position,
   * default when the card has no default yet. NTE_EXISTS when the name is taken; storage full when
   * the map has no free position within the card's container count.
   */
  async addContainer(name: string): Promise<CardContainer> {
    return this.locked(() => this.addContainerLocked(name));
  }

  private async addContainerLocked(name: string): Promise<CardContainer> {
    const operation = 'CreateContainer';
    if (name.length === 0 || name.length > MAX_CONTAINER_NAME_LEN || name.includes('\\')) {
      throw new CryptError('NTE_BAD_KEYSET_PARAM', `"${name}" cannot name a card container (1..${MAX_CONTAINER_NAME_LEN} characters, no backslash)`, { operation, container: name });
    }
    const records = await this.containerRecordsHeld();
    if (findContainer(records, name) >= 0) throw new CryptError('NTE_EXISTS', `the card in "${this.szReader}" already holds a container "${name}"; open it, or delete it first`, { operation, card: this.identity.label, container: name });
    this.assertWritable(operation); // a name the card holds is NTE_EXISTS first, as on any card
    const space = await this.module.CardGetProperty(CP_CARD_FREE_SPACE);
    const max = space.dwMaxKeyContainers === CARD_DATA_VALUE_UNKNOWN ? 255 : space.dwMaxKeyContainers;
    const index = firstFreeIndex(records);
    if (space.dwKeyContainersAvailable === 0 || index < 0 || index >= max) {
      throw new CryptError('NTE_TOKEN_KEYSET_STORAGE_FULL', `the card in "${this.szReader}" has no free container (${max} in use); delete one first`, { operation, card: this.identity.label, container: name });
    }
    const isDefault = defaultContainerIndex(records) < 0;
    while (records.length < index) records.push(null);
    records[index] = { wszGuid: name, bFlags: CONTAINER_MAP_VALID_CONTAINER | (isDefault ? CONTAINER_MAP_DEFAULT_CONTAINER : 0), wSigKeySizeBits: 0, wKeyExchangeKeySizeBits: 0 };
    await this.writeContainerMap(records, operation);
    return { index, name, isDefault, sigKeyBits: 0, keyExchangeKeyBits: 0 };
  }

  /** Generates or imports one key of a container (CardCreateContainer); the containers class is bumped first. */
  async createKey(index: number, flags: number, keySpec: number, bits: number, keyData: Uint8Array | null): Promise<void> {
    const operation = 'CardCreateContainer';
    await this.locked(async () => {
      await this.bump(CARD_CACHE_CONTAINERS, operation);
      await this.module.CardCreateContainer(index, flags, keySpec, bits, keyData);
    });
  }

  /**
   * Deletes a container (keys and record). When it was the default, another valid container becomes
   * the default (Windows picks one arbitrarily; the first in map order here).
   */
  async deleteContainer(index: number): Promise<void> {
    return this.locked(() => this.deleteContainerLocked(index));
  }

  private async deleteContainerLocked(index: number): Promise<void> {
    const operation = 'CardDeleteContainer';
    await this.bump(CARD_CACHE_CONTAINERS, operation);
    await this.module.CardDeleteContainer(index);
    const records = await this.containerRecordsHeld();
    if (records[index] && records[index]!.bFlags & CONTAINER_MAP_VALID_CONTAINER) {
      // A driver that leaves the record to the CSP (the spec's division of work): zero it here.
      records[index] = null;
    }
    if (defaultContainerIndex(records) < 0) {
      const next = records.findIndex((r) => r !== null && (r.bFlags & CONTAINER_MAP_VALID_CONTAINER) !== 0);
      if (next >= 0) records[next] = { ...records[next]!, bFlags: records[next]!.bFlags | CONTAINER_MAP_DEFAULT_CONTAINER };
    }
    const current = await this.containerRecordsHeld();
    if (!encodeCmapFile(current).equals(encodeCmapFile(records))) await this.writeContainerMap(records, operation);
  }

  /**
   * Presents a PIN to the card (the pins class is not bumped: verifying changes nothing cached). While
   * it runs, and after a refusal, nothing is known authenticated; after success only this PIN is (a
   * card may drop another role's authentication when one is presented: then isAuthenticated asks).
   */
  async authenticate(pinId: number, pin: Uint8Array): Promise<void> {
    this.assertPresent('CardAuthenticateEx');
    this.knownAuthenticated = 0;
    await this.module.CardAuthenticateEx(pinId, 0, pin);
    this.knownAuthenticated = 1 << pinId;
  }

  async deauthenticate(pinId: number): Promise<void> {
    this.authenticationLost(pinId);
    if (this.removed) return;
    await this.module.CardDeauthenticateEx(1 << pinId);
  }

  /** Whether the card holds this PIN's authentication now (CP_CARD_AUTHENTICATED_STATE). */
  async isAuthenticated(pinId: number): Promise<boolean> {
    this.assertPresent('CardGetProperty');
    let yes = false;
    try {
      const set = await this.module.CardGetProperty('Authenticated State');
      yes = (set & (1 << pinId)) !== 0;
    } catch {
      // a driver that cannot tell: authenticate to be sure
    }
    if (yes) this.knownAuthenticated |= 1 << pinId;
    else this.authenticationLost(pinId);
    return yes;
  }

  /**
   * Whether this process knows the card holds this PIN's authentication (see knownAuthenticated), with
   * no card call. False for a removed card.
   */
  knownAuthenticatedFor(pinId: number): boolean {
    return !this.removed && (this.knownAuthenticated & (1 << pinId)) !== 0;
  }

  /** The card refused work for want of this PIN (another library logged out, the token reset). */
  authenticationLost(pinId: number): void {
    this.knownAuthenticated &= ~(1 << pinId);
  }

  /** Ends the minidriver context. Idempotent; works on a removed card. */
  async close(): Promise<void> {
    this.removed = true;
    await this.module.CardDeleteContext().catch(() => undefined);
  }
}
