/**
 * A suite's SoftHSM2 cards behind a real smart card service installed as the process's default (what
 * NCryptOpenStorageProvider and CryptAcquireContext use): the part of a front end's fixture that does
 * not depend on the front end. test/ksp/fixture.ts and test/csp-legacy/fixture.ts build on it.
 *
 * Call it inside the test file's top-level describe: that callback runs while mocha loads the files,
 * so the tokens exist before SoftHSM2 is first opened (see ../pkcs11-bridge/helpers.ts), and the hooks
 * it installs belong to that suite alone (at module level they would be root hooks, and the last
 * file's fixture would replace every other suite's service).
 */
import { ROLE_USER } from '../../minidriver/constants.js';
import { pinCacheCard, presentPin } from '../../smartcard/authentication.js';
import type { SmartCard } from '../../smartcard/card.js';
import { setDefaultSmartCardService } from '../../smartcard/default-service.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { Interaction, setUserInterface } from '../../smartcard/ui.js';
import { makeToken } from '../pkcs11-bridge/helpers.js';
import type { SoftHsmToken } from '../rigs/index.js';
import { newService, type ReaderControl, readerOf } from './service-helpers.js';

export interface CardFixture {
  /** The suite's tokens, labelled `<prefix>-a`, `<prefix>-b`... */
  readonly tokens: SoftHsmToken[];
  readonly control: ReaderControl;
  /** Set in the fixture's `before` hook. */
  service: SmartCardService;
  /** The open card of a token (default: the first). */
  card(label?: string): Promise<SmartCard>;
  /** Presents the token's PIN so it is cached (default: every token). */
  login(label?: string): Promise<void>;
  /** Drops every cached PIN and logs the cards out (the next private-key operation needs a PIN). */
  logout(): Promise<void>;
  readerOf(label?: string): Promise<string>;
  /** Takes a card out of its reader, as the reader watcher reports it (its PINs and state go). */
  remove(label?: string): Promise<void>;
}

export interface CardFixtureHooks {
  /** Runs after the service is installed and the cards logged in. */
  ready?: () => Promise<void>;
  /** Runs before the service is taken down. */
  done?: () => Promise<void>;
}

export function cardFixture(prefix: string, tokenCount = 1, hooks: CardFixtureHooks = {}): CardFixture {
  const tokens = Array.from({ length: tokenCount }, (_, i) => makeToken(`${prefix}-${String.fromCharCode(97 + i)}`));
  const control: ReaderControl = { hidden: new Set() };
  const removed = new Set<string>();
  const fixture: CardFixture = {
    tokens,
    control,
    service: undefined as unknown as SmartCardService,
    async card(label = tokens[0]!.label) {
      const entry = (await fixture.service.snapshot()).find((e) => e.card?.label === label);
      if (!entry) throw new Error(`${label} is not visible`);
      return fixture.service.cardIn(entry);
    },
    async login(label?: string) {
      for (const token of tokens.filter((t) => label === undefined || t.label === label)) {
        const card = await fixture.card(token.label);
        await presentPin({ card, pins: fixture.service.pins, interaction: new Interaction(true), pinId: ROLE_USER, operation: 'test' }, Buffer.from(token.pin));
      }
    },
    async logout() {
      for (const token of tokens) {
        const card = await fixture.card(token.label);
        fixture.service.pins.drop(pinCacheCard(card));
        await card.deauthenticate(ROLE_USER);
      }
    },
    readerOf(label = tokens[0]!.label) {
      return readerOf(fixture.service, label);
    },
    async remove(label = tokens[0]!.label) {
      const card = await fixture.card(label);
      control.hidden.add(label);
      removed.add(label);
      await fixture.service.cardRemoved(card.szReader, card.identity);
    },
  };

  before(async function () {
    this.timeout(120_000);
    fixture.service = newService(`${prefix}-`, control);
    await setDefaultSmartCardService(fixture.service);
    await fixture.login();
    await hooks.ready?.();
  });

  afterEach(async () => {
    setUserInterface(null);
    control.hidden.clear();
    // A removed card lost its cached PIN: log it in again for the next test.
    for (const label of removed) await fixture.login(label);
    removed.clear();
  });

  after(async () => {
    await hooks.done?.();
    await setDefaultSmartCardService(null);
  });

  return fixture;
}
