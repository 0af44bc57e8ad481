/**
 * The CNG suites' fixture: SoftHSM2 tokens of one suite behind a real smart card service installed as
 * the process's default (what NCryptOpenStorageProvider uses), a provider handle, and keys made the
 * way an application makes them (NCryptCreatePersistedKey + NCryptFinalizeKey).
 *
 * Call `kspFixture(prefix)` inside the test file's top-level describe: that callback runs while mocha
 * loads the files, so the tokens exist before SoftHSM2 is first opened (see ../pkcs11-bridge/helpers.ts),
 * and the hooks the fixture installs belong to that suite alone (at module level they would be root
 * hooks, and the last file's fixture would replace every other suite's service).
 */
import { ROLE_USER } from '../../minidriver/constants.js';
import type { SoftHsmToken } from '../rigs/index.js';
import { NCryptCreatePersistedKey, NCryptFinalizeKey } from '../../ksp/keys.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptSetProperty } from '../../ksp/properties.js';
import { NCRYPT_LENGTH_PROPERTY } from '../../ksp/constants.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import { pinCacheCard, presentPin } from '../../smartcard/authentication.js';
import { setDefaultSmartCardService } from '../../smartcard/default-service.js';
import type { SmartCard } from '../../smartcard/card.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { Interaction, setUserInterface } from '../../smartcard/ui.js';
import { makeToken } from '../pkcs11-bridge/helpers.js';
import { newService, type ReaderControl, readerOf } from '../smartcard/service-helpers.js';

export interface KspFixture {
  /** The suite's tokens, labelled `<prefix>-a`, `<prefix>-b`... */
  readonly tokens: SoftHsmToken[];
  readonly control: ReaderControl;
  /** Set in the fixture's `before` hook. */
  service: SmartCardService;
  prov: NCryptProvHandle;
  /** The open card of a token (default: the first). */
  card(label?: string): Promise<SmartCard>;
  /** Presents the token's PIN so it is cached (default: every token). */
  login(label?: string): Promise<void>;
  /** Drops every cached PIN and logs the cards out (the next private-key operation needs a PIN). */
  logout(): Promise<void>;
  readerOf(label?: string): Promise<string>;
  /** Takes a card out of its reader, as the reader watcher reports it (its PINs and state go). */
  remove(label?: string): Promise<void>;
  /** A new key on the card, created and finalized silently (the PIN must be cached; see login). */
  newKey(algId: string, options?: { name?: string; bits?: number; legacyKeySpec?: number }): Promise<NCryptKeyHandle>;
}

let suiteCounter = 0;

export function kspFixture(prefix: string, tokenCount = 1): KspFixture {
  const tokens = Array.from({ length: tokenCount }, (_, i) => makeToken(`${prefix}-${String.fromCharCode(97 + i)}`));
  const control: ReaderControl = { hidden: new Set() };
  const removed = new Set<string>();
  const fixture: KspFixture = {
    tokens,
    control,
    service: undefined as unknown as SmartCardService,
    prov: undefined as unknown as NCryptProvHandle,
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
    async newKey(algId, options = {}) {
      const key = await NCryptCreatePersistedKey(fixture.prov, algId, options.name ?? `k${++suiteCounter}-${Date.now().toString(36)}`, options.legacyKeySpec ?? 0, 0x40 /* NCRYPT_SILENT_FLAG */);
      if (options.bits !== undefined) await NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, options.bits);
      await NCryptFinalizeKey(key, 0x40);
      return key;
    },
  };

  before(async function () {
    this.timeout(120_000);
    fixture.service = newService(`${prefix}-`, control);
    await setDefaultSmartCardService(fixture.service);
    fixture.prov = await NCryptOpenStorageProvider(null);
    await fixture.login();
  });

  afterEach(async () => {
    setUserInterface(null);
    control.hidden.clear();
    // A removed card lost its cached PIN: log it in again for the next test.
    for (const label of removed) await fixture.login(label);
    removed.clear();
  });

  after(async () => {
    if (fixture.prov && !fixture.prov.freed) await NCryptFreeObject(fixture.prov);
    await setDefaultSmartCardService(null);
  });

  return fixture;
}
