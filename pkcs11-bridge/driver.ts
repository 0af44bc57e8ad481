import { CARD_DATA_VERSION_FOUR, CARD_DATA_VERSION_SEVEN, CARD_SECURE_KEY_INJECTION_NO_CARD_MODE } from '../minidriver/constants.js';
import type { CardMinidriver, CardModule, CardReaderState } from '../minidriver/card-module.js';
import { CryptError } from '../minidriver/errors.js';
import { hideEntryPointsAbove, negotiateVersion } from '../minidriver/negotiation.js';
import type { CardData } from '../minidriver/structures.js';
import { CardBinding } from './card-binding.js';
import { Pkcs11CardContext } from './card-context.js';
import { acquireCardState, releaseCardState } from './card-registry.js';
import type { CardState } from './card-state.js';
import type { DispatchPolicy } from './dispatch.js';
import { toCryptError } from './errors.js';
import { acquireModule, type LoadedModule, releaseModule } from './module-registry.js';
import { pcscdSocketPath, readerForSlot, readPcscReaderStates } from './pcsc-status.js';
import type { Pkcs11Handle } from './pkcs11.js';
import { type TokenIdentity, tokenIdentity } from './token.js';

export interface Pkcs11DriverOptions {
  /** Path of the PKCS#11 module (a .so). */
  modulePath: string;
  /** Name of the driver, as a registration shows it. Defaults to the module path. */
  name?: string;
  /** Containers a card offers (cmapfile capacity; an index is a BYTE). Default 128. */
  maxContainers?: number;
  /** Inline-versus-pool thresholds; the defaults come from measurements on SoftHSM2. */
  dispatch?: DispatchPolicy;
  /**
   * Where pcscd answers, for the ATRs of removable slots that are PC/SC readers (pcsc-status.ts).
   * Default: PCSCLITE_CSOCK_NAME, else /run/pcscd/pcscd.comm, read when a card first shows up. null:
   * never ask (a module whose slots are not this machine's readers, e.g. one reached through p11-kit
   * remoting whose reader names could collide with local ones).
   */
  pcscSocket?: string | null;
}

/** What CardData.hScard carries for this driver: the card's identity, never its slot ID. */
export interface Pkcs11CardHandle {
  readonly driver: Pkcs11Minidriver;
  readonly identity: TokenIdentity;
}

/** How to pick a token: by label and/or serial (slot IDs differ between processes and remoting). */
export interface TokenSelector {
  label?: string;
  serial?: string;
}

const MIN_VERSION = CARD_DATA_VERSION_FOUR;
const MAX_VERSION = CARD_DATA_VERSION_SEVEN;

function identityKey(identity: { label: string; serial: string }): string {
  return `${identity.serial}\u0000${identity.label}`;
}

/**
 * The card minidriver over one PKCS#11 module: slots are readers, tokens are cards. Tokens are opened
 * once per driver and shared by all contexts on them (sessions, login, container map); the driver's
 * hold on each is a CardBinding, ended by close() or by releaseCard() when the card leaves its reader.
 */
export class Pkcs11Minidriver implements CardMinidriver, AsyncDisposable {
  readonly name: string;
  private module: LoadedModule | undefined;
  private readonly bindings = new Map<string, CardBinding>();
  /** ATR by slot, for the card it was read for (an ATR is read once per card, not per listing). */
  private readonly atrs = new Map<string, { card: string; atr: Buffer | undefined }>();
  private closed = false;

  constructor(private readonly options: Pkcs11DriverOptions) {
    this.name = options.name ?? options.modulePath;
  }

  get modulePath(): string {
    return this.options.modulePath;
  }

  private loaded(): LoadedModule {
    if (this.closed) throw new CryptError('SCARD_E_NO_SERVICE', 'this driver was closed; create a new one', { operation: 'CardAcquireContext' });
    this.module ??= acquireModule(this.options.modulePath);
    return this.module;
  }

  /**
   * Every slot of the module as a reader, with the identity of the token in it and, for a removable
   * slot that is a PC/SC reader (OpenSC's are), the card's ATR from pcscd — read once per card.
   */
  async listReaders(): Promise<CardReaderState[]> {
    const { pkcs11 } = this.loaded();
    const readers: CardReaderState[] = [];
    const seen = new Map<string, number>();
    /** Cards in removable slots whose ATR is not known yet: read from pcscd once, below. */
    const needAtr: { reader: CardReaderState; slotKey: string; slotDescription: string; card: string }[] = [];
    const slots = new Set<string>();
    try {
      for (const slot of pkcs11.C_GetSlotList(false)) {
        const slotInfo = pkcs11.C_GetSlotInfo(slot);
        let szReader = slotInfo.slotDescription.trimEnd() || 'PKCS#11 slot';
        const n = (seen.get(szReader) ?? 0) + 1;
        seen.set(szReader, n);
        if (n > 1) szReader = `${szReader} ${n}`;
        const present = (slotInfo.flags & 0x1) !== 0; // CKF_TOKEN_PRESENT
        const removable = (slotInfo.flags & 0x2) !== 0; // CKF_REMOVABLE_DEVICE: a card reader, not an HSM slot
        if (!present) {
          readers.push({ szReader, cardPresent: false, removable });
          continue;
        }
        const info = pkcs11.C_GetTokenInfo(slot);
        if (!(info.flags & 0x400)) { // CKF_TOKEN_INITIALIZED: a blank token is not a card yet
          readers.push({ szReader, cardPresent: true, removable });
          continue;
        }
        const identity = tokenIdentity(info);
        const hScard: Pkcs11CardHandle = { driver: this, identity };
        const reader: CardReaderState = { szReader, cardPresent: true, removable, card: identity, hScard };
        readers.push(reader);
        if (!removable || this.options.pcscSocket === null) continue;
        const slotKey = slot.toString('hex');
        slots.add(slotKey);
        const card = identityKey(identity);
        const known = this.atrs.get(slotKey);
        if (known?.card === card) {
          if (known.atr) reader.atr = Buffer.from(known.atr);
        } else {
          needAtr.push({ reader, slotKey, slotDescription: slotInfo.slotDescription, card });
        }
      }
    } catch (err) {
      throw toCryptError(err, { operation: 'SCardListReaders' });
    }
    // A slot whose card left forgets its ATR: the next card in it is asked for afresh.
    for (const slotKey of this.atrs.keys()) if (!slots.has(slotKey)) this.atrs.delete(slotKey);
    if (needAtr.length > 0) {
      const states = await readPcscReaderStates(this.options.pcscSocket ?? pcscdSocketPath());
      for (const { reader, slotKey, slotDescription, card } of needAtr) {
        const atr = states && readerForSlot(slotDescription, states)?.atr;
        this.atrs.set(slotKey, { card, atr });
        if (atr) reader.atr = Buffer.from(atr);
      }
    }
    return readers;
  }

  /**
   * CardAcquireContext: binds a context to the card named by pCardData.hScard, at the negotiated
   * version (min(requested, 7); below 4 → ERROR_REVISION_MISMATCH).
   */
  async CardAcquireContext(pCardData: CardData, dwFlags = 0): Promise<CardModule> {
    const operation = 'CardAcquireContext';
    if (!pCardData || typeof pCardData !== 'object') throw new CryptError('SCARD_E_INVALID_PARAMETER', 'pCardData is required', { operation });
    if (dwFlags === CARD_SECURE_KEY_INJECTION_NO_CARD_MODE) throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'secure key injection without a card is not offered', { operation });
    if (dwFlags !== 0) throw new CryptError('SCARD_E_INVALID_PARAMETER', `dwFlags 0x${dwFlags.toString(16)} is not accepted`, { operation });
    const version = negotiateVersion(pCardData.dwVersion, MIN_VERSION, MAX_VERSION);
    const handle = pCardData.hScard as Pkcs11CardHandle | undefined;
    if (!handle || handle.driver !== this || !handle.identity) {
      throw new CryptError('SCARD_E_INVALID_HANDLE', 'hScard is not a card of this driver; take it from listReaders()', { operation });
    }
    const binding = this.bindingFor(handle.identity, operation);
    pCardData.dwVersion = version;
    const context = new Pkcs11CardContext(binding, version);
    return hideEntryPointsAbove(context, version);
  }

  /** Convenience: a context on the token with this label or serial, at the current version. */
  async openCard(selector: TokenSelector, dwVersion = MAX_VERSION): Promise<CardModule> {
    const readers = await this.listReaders();
    const reader = readers.find((r) => r.card && (selector.label === undefined || r.card.label === selector.label) && (selector.serial === undefined || r.card.serial === selector.serial));
    if (!reader) {
      throw new CryptError('SCARD_E_NO_SMARTCARD', `no token ${selector.label ? `labelled "${selector.label}"` : ''}${selector.serial ? ` with serial ${selector.serial}` : ''} in ${this.name}; check the label or insert the card`, { operation: 'CardAcquireContext' });
    }
    return this.CardAcquireContext({ dwVersion, hScard: reader.hScard });
  }

  /**
   * The card left its reader: every context this driver gave out for it answers SCARD_W_REMOVED_CARD
   * from now on (CardDeleteContext still succeeds), and the driver lets go of the card's shared state,
   * whose last holder closes its sessions and so its login. The next CardAcquireContext on the card,
   * once reinserted, opens fresh state. A card the driver holds nothing for is a no-op.
   */
  async releaseCard(card: { label: string; serial: string }): Promise<void> {
    const key = identityKey(card);
    const binding = this.bindings.get(key);
    if (binding) this.unbind(key, binding);
  }

  private unbind(key: string, binding: CardBinding): void {
    binding.cardReleased();
    this.bindings.delete(key);
    releaseCardState(binding.state);
  }

  private bindingFor(identity: TokenIdentity, operation: string): CardBinding {
    const key = identityKey(identity);
    const existing = this.bindings.get(key);
    if (existing && !existing.state.token.isClosed) return existing;
    // A failing call saw the card leave (Token.failure closed the token): drop the dead state.
    if (existing) this.unbind(key, existing);
    const module = this.loaded();
    const slot = this.findSlot(module, identity, operation);
    let state: CardState;
    try {
      state = acquireCardState(module, identity, slot, () => module.pkcs11.C_GetTokenInfo(slot),
        { maxContainers: this.options.maxContainers ?? 128, dispatch: this.options.dispatch }, operation);
    } catch (err) {
      throw toCryptError(err, { operation, card: identity.label });
    }
    const binding = new CardBinding(state);
    this.bindings.set(key, binding);
    return binding;
  }

  private findSlot(module: LoadedModule, identity: TokenIdentity, operation: string): Pkcs11Handle {
    try {
      for (const slot of module.pkcs11.C_GetSlotList(true)) {
        const id = tokenIdentity(module.pkcs11.C_GetTokenInfo(slot));
        if (id.serial === identity.serial && id.label === identity.label) return slot;
      }
    } catch (err) {
      throw toCryptError(err, { operation, card: identity.label });
    }
    throw new CryptError('SCARD_W_REMOVED_CARD', 'the card is no longer in any reader; insert it again', { operation, card: identity.label });
  }

  /** Closes every token's sessions and releases the module. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const binding of this.bindings.values()) {
      binding.driverClosed();
      releaseCardState(binding.state);
    }
    this.bindings.clear();
    if (this.module) releaseModule(this.module);
    this.module = undefined;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
