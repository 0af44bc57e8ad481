/**
 * Helpers of the smart card service suites: a service over the real SoftHSM2 module that sees only
 * one suite's tokens, readers that can be emptied and refilled (card removal and insertion), and a
 * scripted UI that records what it was asked.
 *
 * The reader filter is a fault-injecting wrapper around a real Pkcs11Minidriver: slots, tokens,
 * identities and contexts are the module's own; the wrapper only hides cards (a hidden card's reader
 * shows no card, as an emptied PC/SC reader does) and hides other suites' tokens, which share the
 * process's one SoftHSM2 store and must not be opened (opening a fresh token creates its files).
 *
 * Transport (P11KSP_TEST_TRANSPORT): unset or "local" registers SoftHSM2 itself; "p11kit-remote"
 * registers p11-kit's client module, talking to one `p11-kit server` per test process that serves the
 * whole SoftHSM2 store on a private unix socket: the same tokens, reached as a remote HSM. The server
 * starts when a driver is first used (in a suite's before hook, after every file made its tokens) and
 * is killed by PID when the process exits. Tokens are selected by label, as everywhere here: the
 * client's slot IDs are not SoftHSM2's.
 */
import type { CardMinidriver, CardReaderState } from '../../minidriver/card-module.js';
import { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import type { Registration } from '../../smartcard/registry/index.js';
import { SmartCardService, type SmartCardServiceOptions } from '../../smartcard/service.js';
import { type CardPromptAnswer, type CardPromptRequest, type PinPromptRequest, setUserInterface, type UserInterface } from '../../smartcard/ui.js';
import { newDriver, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { P11KIT_CLIENT_MODULE, P11KitRemote } from '../rigs/p11kit-remote.js';

export type TestTransport = 'local' | 'p11kit-remote';

function transportFromEnvironment(): TestTransport {
  const value = process.env.P11KSP_TEST_TRANSPORT ?? 'local';
  if (value !== 'local' && value !== 'p11kit-remote') {
    throw new Error(`P11KSP_TEST_TRANSPORT="${value}" is not a transport; use "local" or "p11kit-remote"`);
  }
  return value;
}

/** How this process's suites reach their SoftHSM2 tokens. */
export const TEST_TRANSPORT: TestTransport = transportFromEnvironment();

/** The module a suite's service registers: SoftHSM2, or p11-kit's client in front of it. */
export const SUITE_MODULE = TEST_TRANSPORT === 'p11kit-remote' ? P11KIT_CLIENT_MODULE : SOFTHSM2_MODULE;

let storeServer: Promise<P11KitRemote> | undefined;

/**
 * The process's p11-kit server over the SoftHSM2 store, started on first call. The client reads
 * P11_KIT_SERVER_ADDRESS when it is loaded, so it is set here, before any driver can load it.
 */
export function remoteStoreServer(): Promise<P11KitRemote> {
  storeServer ??= P11KitRemote.serveStore().then((server) => {
    process.env.P11_KIT_SERVER_ADDRESS = server.address;
    return server;
  });
  return storeServer;
}

/**
 * For a test that is about SoftHSM2 loaded in this process (it wraps the module with pkcs11-spy or
 * the PIN-counter shim, or counts its calls): under the remote transport it is skipped, saying why.
 * Call first thing in the test: `localModuleOnly(this, 'counts SoftHSM2 calls with pkcs11-spy')`.
 */
export function localModuleOnly(context: Mocha.Context, reason: string): void {
  if (TEST_TRANSPORT === 'local') return;
  if (context.test) context.test.title += ` [local module only: ${reason}]`;
  context.skip();
}

export interface ReaderControl {
  /** Labels whose cards are "removed" (their readers look empty). */
  hidden: Set<string>;
  /** Driver options for the next factory call. */
  maxContainers?: number;
}

export function registration(name = 'softhsm'): Registration {
  return { name, kind: 'minidriver', module: SUITE_MODULE, match: {}, installedAt: '2024-01-01T00:00:00.000Z', installSequence: 1, priority: 0 };
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
    // The driver loads its module on first use: with the remote transport, the server is up first.
    const ready = (): Promise<unknown> => (modulePath === P11KIT_CLIENT_MODULE ? remoteStoreServer() : Promise.resolve());
    return {
      name: driver.name,
      listReaders: async () => {
        await ready();
        return (await driver.listReaders()).map(view).filter((r): r is CardReaderState => r !== null);
      },
      CardAcquireContext: async (...args: Parameters<CardMinidriver['CardAcquireContext']>) => {
        await ready();
        return driver.CardAcquireContext(...args);
      },
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
