/**
 * The reader list of the Smart Card service: the union of the slots of every registered minidriver,
 * with card presence, card identity and the provider that serves each card — the WinSCard calls that
 * applications use directly (SCardListReaders, SCardStatus).
 *
 * Drivers: one per distinct PKCS#11 module path among the 'minidriver' registrations, created lazily
 * and shared by every registration naming that path (a module is one library instance per process;
 * two drivers on it would only double the slot list). Plug-in registrations bring no reader of their
 * own: they serve cards that some driver's reader shows, so they take part in provider selection only.
 *
 * Which cards are served: only those a registration claims (Calais: a card whose ATR no card type
 * matches is an unknown card, and no provider touches it). A reader holding a card no registration
 * claims is listed, present, with its ATR, and SCardStatus shows the card's identity — but its entry
 * has no `card` and no `provider`, so selection, enumeration and the watcher pass it by as they pass an
 * empty reader. A criteria-less minidriver registration claims every token of its own module, so a
 * registry without criteria serves everything, as before; one that names its card (by ATR or token
 * identity) serves that card and no other token the same module lists.
 *
 * Reader names must be unique across drivers because `\\.\<reader>\<container>` names a reader by its
 * name alone. A driver already makes its own names unique; when two drivers list the same name
 * (two modules both with "Slot 0"), the first driver in registration order keeps the plain name and
 * each later one gets " (<driver name>)" appended, then " #2", " #3"... if that is still taken. The
 * first-comer keeps its name so that a single-module installation (the common case) sees the names
 * its PKCS#11 tools show.
 */
import type { CardMinidriver, CardReaderState } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import { selectProvider } from '../registry/matching.js';
import type { Registration } from '../registry/registration.js';
import { type ReaderEvent, type WatchOptions, watchReaders } from './events.js';

/** The identity of a card as the registry matches it (CK_TOKEN_INFO fields for PKCS#11 tokens). */
export type CardIdentity = NonNullable<CardReaderState['card']>;

/** Makes the driver for a module path. Must return a distinct object per call. */
export type DriverFactory = (modulePath: string) => CardMinidriver;

/** SCardStatus' answer (the reader state plus the provider Calais would pick for the card). */
export interface ReaderStatus {
  szReader: string;
  /**
   * A card (token) is in the reader. PKCS#11 reports a blank, uninitialised token as present: such a
   * reader is present with no `card` identity and no provider (SoftHSM2's free slot looks like this).
   */
  present: boolean;
  atr?: Buffer;
  card?: CardIdentity;
  /** Name of the registration that serves this card (selectProvider with the reader's module). */
  provider?: string;
}

/**
 * One reader with everything the service knows about it, for watchers and card selection. `card` is
 * set only for a card the service serves (a registration claims it); `state.card` is the identity of
 * whatever token the driver sees in the reader.
 */
export interface ReaderEntry extends ReaderStatus {
  /** The driver's own reader state (its szReader may differ from the unique name above). */
  state: CardReaderState;
  driver: CardMinidriver;
  /** The module path whose driver listed this reader. */
  module: string;
}

export type RemovalListener = (event: ReaderEvent) => void;

interface DriverSlot {
  module: string;
  driver: CardMinidriver;
}

/**
 * The reader lists of the drivers that answered. A driver that fails (a remote HSM gone, a module whose
 * daemon died) lists no readers, as a PC/SC reader that was unplugged: the other drivers' cards stay
 * usable, and that driver's cards are gone until it answers again. Only when every driver fails is
 * there nothing to show, and the first failure is the answer.
 */
function listedReaders(results: PromiseSettledResult<CardReaderState[]>[]): CardReaderState[][] {
  if (results.length > 0 && results.every((r) => r.status === 'rejected')) throw (results[0] as PromiseRejectedResult).reason;
  return results.map((r) => (r.status === 'fulfilled' ? r.value : []));
}

/**
 * The driver factory is given by the caller (the package entry point wires the PKCS#11 bridge in):
 * smartcard/ never imports pkcs11-bridge/, so a second kind of driver drops in unchanged.
 */
export class ReaderService {
  private readonly registrations: readonly Registration[];
  private readonly modules: string[];
  private drivers: DriverSlot[] | undefined;
  private readonly removalListeners = new Set<RemovalListener>();
  private closed = false;

  constructor(registrations: readonly Registration[], private readonly factory: DriverFactory) {
    this.registrations = [...registrations];
    // Distinct module paths in registration order (order decides who keeps a plain reader name).
    this.modules = [...new Set(this.registrations
      .filter((r) => r.kind === 'minidriver' && typeof r.module === 'string')
      .map((r) => r.module!))];
  }

  /** The drivers, created on first use so constructing the service loads no module. */
  private driverSlots(operation: string): DriverSlot[] {
    if (this.closed) throw new CryptError('SCARD_E_NO_SERVICE', 'the reader service was closed; create a new one', { operation });
    this.drivers ??= this.modules.map((module) => ({ module, driver: this.factory(module) }));
    return this.drivers;
  }

  /** Every reader of every driver, names made unique (see the header), with its card's provider. */
  async snapshot(): Promise<ReaderEntry[]> {
    const slots = this.driverSlots('SCardListReaders');
    // Drivers are independent: list them in parallel, but merge in registration order (stable names).
    const lists = listedReaders(await Promise.allSettled(slots.map((slot) => slot.driver.listReaders())));
    const taken = new Set<string>();
    const entries: ReaderEntry[] = [];
    lists.forEach((readers, i) => {
      const { module, driver } = slots[i]!;
      for (const state of readers) {
        const szReader = uniqueName(state.szReader, driver.name, taken);
        taken.add(szReader);
        const entry: ReaderEntry = { szReader, present: state.cardPresent, state, driver, module };
        if (state.atr) entry.atr = state.atr;
        const provider = selectProvider(this.registrations, state, { module });
        if (provider) {
          entry.provider = provider.name;
          if (state.card) entry.card = state.card; // served: a card no registration claims is not
        }
        entries.push(entry);
      }
    });
    return entries;
  }

  /** SCardListReaders: the names of all readers, with or without a card. */
  async SCardListReaders(): Promise<string[]> {
    return (await this.snapshot()).map((e) => e.szReader);
  }

  /** SCardStatus of a reader by name; SCARD_E_UNKNOWN_READER when no driver lists that name. */
  async SCardStatus(szReader: string): Promise<ReaderStatus> {
    const entry = (await this.snapshot()).find((e) => e.szReader === szReader);
    if (!entry) {
      throw new CryptError('SCARD_E_UNKNOWN_READER', `no reader named "${szReader}"; SCardListReaders gives the names`, { operation: 'SCardStatus' });
    }
    const status: ReaderStatus = { szReader: entry.szReader, present: entry.present };
    if (entry.atr) status.atr = entry.atr;
    if (entry.state.card) status.card = entry.state.card; // an unknown card's identity too: no provider says it is unknown
    if (entry.provider) status.provider = entry.provider;
    return status;
  }

  /**
   * Registers a listener called when a watcher sees a card leave its reader, so the holders of
   * per-card state (PIN cache, data cache, open contexts) drop it. Returns the unsubscribe function.
   */
  onRemoved(listener: RemovalListener): () => void {
    this.removalListeners.add(listener);
    return () => this.removalListeners.delete(listener);
  }

  /** Called by the watcher. A throwing listener must not keep the others from dropping their state. */
  notifyRemoved(event: ReaderEvent): void {
    for (const listener of [...this.removalListeners]) {
      try {
        listener(event);
      } catch {
        // Swallowed on purpose: one cache failing to drop its entry must not leave the others holding
        // state (PINs) for a card that is gone; the listener owns its own error reporting.
      }
    }
  }

  /** Insertion and removal events by polling (see events.ts). */
  watch(options: WatchOptions = {}): AsyncIterableIterator<ReaderEvent> {
    return watchReaders(this, options);
  }

  /** Closes every driver this service created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const slots = this.drivers ?? [];
    this.drivers = undefined;
    this.removalListeners.clear();
    for (const { driver } of slots) {
      const closable = driver as Partial<{ close(): Promise<void> | void }>;
      if (typeof closable.close === 'function') await closable.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function uniqueName(name: string, driverName: string, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  const qualified = `${name} (${driverName})`;
  if (!taken.has(qualified)) return qualified;
  for (let n = 2; ; n++) {
    const numbered = `${qualified} #${n}`;
    if (!taken.has(numbered)) return numbered;
  }
}
