/**
 * Helpers of the smart card service suites: a service over the real SoftHSM2 module that sees only
 * one suite's tokens, readers that can be emptied and refilled (card removal and insertion), and a
 * scripted UI that records what it was asked.
 *
 * The reader filter is a fault-injecting wrapper around a real Pkcs11Minidriver: slots, tokens,
 * identities and contexts are the module's own; the wrapper only hides cards (a hidden card's reader
 * shows no card, as an emptied PC/SC reader does) and hides other suites' tokens, which share the
 * process's one SoftHSM2 store and must not be opened (opening a fresh token creates its files).
 */
import type { CardMinidriver, CardReaderState } from '../../minidriver/card-module.js';
import { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import type { Registration } from '../../smartcard/registry/index.js';
import { SmartCardService, type SmartCardServiceOptions } from '../../smartcard/service.js';
import { type CardPromptAnswer, type CardPromptRequest, type PinPromptRequest, setUserInterface, type UserInterface } from '../../smartcard/ui.js';
import { newDriver, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';

export interface ReaderControl {
  /** Labels whose cards are "removed" (their readers look empty). */
  hidden: Set<string>;
  /** Driver options for the next factory call. */
  maxContainers?: number;
}

export function registration(name = 'softhsm'): Registration {
  return { name, kind: 'minidriver', module: SOFTHSM2_MODULE, match: {}, installedAt: '2024-01-01T00:00:00.000Z', installSequence: 1, priority: 0 };
}

/** A driver factory over the real module showing only tokens whose label starts with `prefix`. */
export function filteredFactory(prefix: string, control: ReaderControl): (modulePath: string) => CardMinidriver {
  return (modulePath) => {
    // A driver with a small container count lets a test fill a card; such drivers are closed by the
    // service like the tracked ones.
    const driver = control.maxContainers === undefined ? newDriver(modulePath) : new Pkcs11Minidriver({ modulePath, maxContainers: control.maxContainers });
    const view = (r: CardReaderState): CardReaderState | null => {
      if (!r.card) return null; // blank slots of the shared store are nobody's readers here
      if (!r.card.label.startsWith(prefix)) return null;
      if (control.hidden.has(r.card.label)) return { szReader: r.szReader, cardPresent: false };
      return r;
    };
    return {
      name: driver.name,
      listReaders: async () => (await driver.listReaders()).map(view).filter((r): r is CardReaderState => r !== null),
      CardAcquireContext: driver.CardAcquireContext.bind(driver),
      releaseCard: (card: { label: string; serial: string }) => driver.releaseCard?.(card) ?? Promise.resolve(),
      close: () => driver.close(),
    } as CardMinidriver & { close(): Promise<void> };
  };
}

export function newService(prefix: string, control: ReaderControl, extra: Partial<SmartCardServiceOptions> = {}): SmartCardService {
  return new SmartCardService({ registrations: [registration()], driverFactory: filteredFactory(prefix, control), globalCache: null, ...extra });
}

/** A UI that answers from scripts and records every request (never a PIN: only that it was asked). */
export class ScriptedUi implements UserInterface {
  readonly cardRequests: CardPromptRequest[] = [];
  readonly pinRequests: PinPromptRequest[] = [];
  onSelectCard: (request: CardPromptRequest) => Promise<CardPromptAnswer | null> | CardPromptAnswer | null = () => null;
  /** PINs to answer, in order; null = cancel. */
  pins: (string | null)[] = [];

  async selectCard(request: CardPromptRequest): Promise<CardPromptAnswer | null> {
    this.cardRequests.push(request);
    return this.onSelectCard(request);
  }

  async promptPin(request: PinPromptRequest): Promise<Uint8Array | null> {
    this.pinRequests.push({ ...request });
    if (this.pins.length === 0) throw new Error('the test UI was asked for a PIN it had not been given');
    const next = this.pins.shift()!;
    return next === null ? null : Buffer.from(next, 'utf8');
  }
}

/** Installs a scripted UI for one test; returns it. Call `setUserInterface(null)` in afterEach. */
export function useScriptedUi(): ScriptedUi {
  const ui = new ScriptedUi();
  setUserInterface(ui);
  return ui;
}

export async function readerOf(service: SmartCardService, label: string): Promise<string> {
  const entry = (await service.snapshot()).find((e) => e.state.card?.label === label || e.card?.label === label);
  if (!entry) throw new Error(`no reader shows ${label}`);
  return entry.szReader;
}
