/**
 * Registrations decide which cards are served. A token that no registration claims — here one the
 * module lists beside the claimed one, as OpenSC lists every card in every reader — is an unknown
 * card (Calais: no card type matches it): its reader shows it present, SCardStatus shows its identity
 * with no provider, and nothing opens it — card selection passes it by like an empty reader, a
 * reader-qualified name on its reader is SCARD_E_UNKNOWN_CARD, and the watcher sees no card there.
 * (The registration that names its card by ATR is proven on the real card: ../real-card/cng.test.ts.)
 */
import assert from 'node:assert/strict';
import { parseContainerSpec } from '../../smartcard/container-spec.js';
import type { Registration } from '../../smartcard/registry/index.js';
import { SmartCardService } from '../../smartcard/service.js';
import { Interaction, setUserInterface } from '../../smartcard/ui.js';
import { expectCryptError, makeToken, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { filteredFactory, useScriptedUi } from './service-helpers.js';

const claimed = makeToken('unclaimed-test-a');
const unknown = makeToken('unclaimed-test-b');
const silent = new Interaction(true);
const loud = new Interaction(false);

const onlyA: Registration = {
  name: 'only-a', kind: 'minidriver', module: SOFTHSM2_MODULE, match: { label: claimed.label },
  installedAt: '2024-01-01T00:00:00.000Z', installSequence: 1, priority: 0,
};

describe('smartcard: a card no registration claims is not served', () => {
  let service: SmartCardService;
  const readerOf = async (label: string) => (await service.snapshot()).find((e) => e.state.card?.label === label)!;

  before(() => {
    service = new SmartCardService({ registrations: [onlyA], driverFactory: filteredFactory('unclaimed-test-', { hidden: new Set() }), globalCache: null });
  });
  afterEach(() => setUserInterface(null));
  after(() => service.close());

  it('the reader lists it present, SCardStatus shows its identity with no provider; the claimed card has its provider', async () => {
    const a = await readerOf(claimed.label);
    const b = await readerOf(unknown.label);
    assert.equal(a.card?.label, claimed.label);
    assert.equal(a.provider, 'only-a');
    assert.equal(b.present, true);
    assert.equal(b.card, undefined, 'not a card this service serves');
    assert.equal(b.provider, undefined);
    const status = await service.SCardStatus(b.szReader);
    assert.equal(status.present, true);
    assert.equal(status.card?.label, unknown.label);
    assert.equal(status.provider, undefined);
    assert.equal(status.guid, undefined, 'nothing was opened to read a GUID');
    assert.equal((await service.SCardStatus(a.szReader)).guid?.length, 16);
  });

  it('it is never opened: cardIn says no registration serves it (SCARD_E_NO_SMARTCARD, as for an empty reader)', async () => {
    const entry = await readerOf(unknown.label);
    const err = await expectCryptError(() => service.cardIn(entry), 'SCARD_E_NO_SMARTCARD');
    assert.match(err.message, /no registration serves/);
    assert.ok(!service.knownCards().some((c) => c.identity.label === unknown.label));
  });

  it('card selection passes it by: a create without a reader goes to the claimed card, an open of the default finds the claimed card\'s or none', async () => {
    const created = await service.select({ spec: parseContainerSpec(null, 't'), operation: 'create', interaction: silent }, 'test');
    assert.equal(created.card.identity.label, claimed.label);
    await expectCryptError(() => service.select({ spec: parseContainerSpec('absent-anywhere', 't'), operation: 'open', interaction: silent }, 'test'), 'NTE_BAD_KEYSET');
    assert.ok(!service.knownCards().some((c) => c.identity.label === unknown.label), 'the unknown card was not opened to look');
  });

  it('a name qualified with its reader is SCARD_E_UNKNOWN_CARD when silent; with a UI the prompt says why', async () => {
    const reader = (await readerOf(unknown.label)).szReader;
    await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader}\\`, 't'), operation: 'open', interaction: silent }, 'test'), 'SCARD_E_UNKNOWN_CARD', 'level II');
    await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader}\\new-one`, 't'), operation: 'create', interaction: silent }, 'test'), 'SCARD_E_UNKNOWN_CARD', 'level I create');
    const ui = useScriptedUi();
    ui.onSelectCard = () => null;
    await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader}\\x`, 't'), operation: 'open', interaction: loud }, 'test'), 'SCARD_W_CANCELLED_BY_USER');
    assert.equal(ui.cardRequests.length, 1);
    assert.match(ui.cardRequests[0]!.reason, /no registration serves/);
    assert.equal(ui.cardRequests[0]!.reader, reader);
  });
});
