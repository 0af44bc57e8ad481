/**
 * Card selection on several SoftHSM2 tokens at once (several readers): every branch of the Windows
 * flows — reader match for levels I/II, card match for levels III/IV over known cards then present
 * cards, stale handles tracked by serial, create with first fit, delete with a new default — and the
 * UI seam (prompts with the PP_UI_PROMPT text, cancel, silent contexts).
 */
import assert from 'node:assert/strict';
import { AT_KEYEXCHANGE, CARD_CREATE_CONTAINER_KEY_GEN, ROLE_USER } from '../../minidriver/constants.js';
import { presentPin } from '../../smartcard/authentication.js';
import type { SmartCard } from '../../smartcard/card.js';
import { parseContainerSpec } from '../../smartcard/container-spec.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { Interaction, RESCAN_READER, setCardPromptText, setUserInterface } from '../../smartcard/ui.js';
import { expectCryptError, makeToken } from '../pkcs11-bridge/helpers.js';
import { newService, type ReaderControl, readerOf, useScriptedUi } from './service-helpers.js';

const A = makeToken('sel-a');
const B = makeToken('sel-b');
const C = makeToken('sel-c');
const tokens = [A, B, C];
const silent = new Interaction(true);
const loud = new Interaction(false);

async function cardOf(service: SmartCardService, label: string): Promise<SmartCard> {
  const entry = (await service.snapshot()).find((e) => e.card?.label === label);
  if (!entry) throw new Error(`${label} is not visible`);
  return service.cardIn(entry);
}

/** Logs the card in with its PIN (cached) so containers can be written. */
async function login(service: SmartCardService, card: SmartCard): Promise<void> {
  const token = tokens.find((t) => t.label === card.identity.label)!;
  await presentPin({ card, pins: service.pins, interaction: silent, pinId: ROLE_USER, operation: 'test' }, Buffer.from(token.pin));
}

async function addContainer(service: SmartCardService, label: string, name: string, withKey = false): Promise<void> {
  const card = await cardOf(service, label);
  await login(service, card);
  const c = await card.addContainer(name);
  if (withKey) await card.createKey(c.index, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, 1024, null);
}

async function names(service: SmartCardService, label: string): Promise<string[]> {
  return (await (await cardOf(service, label)).containers(true)).map((c) => c.name);
}

async function clearCard(service: SmartCardService, label: string): Promise<void> {
  const card = await cardOf(service, label);
  await login(service, card);
  for (const c of await card.containers(true)) await card.deleteContainer(c.index);
}

describe('smartcard: container specification levels', () => {
  it('parses the four levels', () => {
    assert.deepEqual(parseContainerSpec('\\\\.\\Reader 1\\box', 't'), { level: 1, reader: 'Reader 1', container: 'box' });
    assert.deepEqual(parseContainerSpec('\\\\.\\Reader 1', 't'), { level: 2, reader: 'Reader 1' });
    assert.deepEqual(parseContainerSpec('\\\\.\\Reader 1\\', 't'), { level: 2, reader: 'Reader 1' }, 'a trailing backslash is level II');
    assert.deepEqual(parseContainerSpec('box', 't'), { level: 3, container: 'box' });
    assert.deepEqual(parseContainerSpec(null, 't'), { level: 4 });
    assert.deepEqual(parseContainerSpec('', 't'), { level: 4 });
  });

  it('refuses names a card cannot hold with NTE_BAD_KEYSET_PARAM', async () => {
    for (const bad of ['x'.repeat(40), '\\\\.\\R\\' + 'y'.repeat(40), 'a\\b', '\\\\.\\', '\\\\.\\\\box', 'nul\0here']) {
      await expectCryptError(async () => parseContainerSpec(bad, 'test'), 'NTE_BAD_KEYSET_PARAM', JSON.stringify(bad));
    }
    assert.equal(parseContainerSpec('x'.repeat(39), 't').container?.length, 39, '39 characters fit a cmapfile record');
  });
});

describe('smartcard: card selection', function () {
  this.timeout(120_000);
  const control: ReaderControl = { hidden: new Set() };
  let service: SmartCardService;
  const reader: Record<string, string> = {};

  before(async () => {
    service = newService('sel-', control);
    for (const t of tokens) reader[t.label] = await readerOf(service, t.label);
  });

  /** The card leaves its reader, and the service hears of it as the watcher would tell it. */
  async function removeCard(t: typeof A): Promise<void> {
    control.hidden.add(t.label);
    await service.cardRemoved(reader[t.label]!, { label: t.label, serial: t.serial, manufacturer: 'SoftHSM project', model: 'SoftHSM v2' });
  }
  beforeEach(async () => {
    control.hidden.clear();
    for (const t of tokens) await clearCard(service, t.label);
  });
  afterEach(() => {
    setUserInterface(null);
    setCardPromptText(null);
  });
  after(() => service.close());

  describe('reader match (levels I and II)', () => {
    it('an unknown reader fails with SCARD_E_UNKNOWN_READER without asking anyone', async () => {
      const ui = useScriptedUi();
      await expectCryptError(() => service.select({ spec: parseContainerSpec('\\\\.\\No Such Reader\\x', 't'), operation: 'open', interaction: loud }, 't'), 'SCARD_E_UNKNOWN_READER');
      assert.equal(ui.cardRequests.length, 0);
    });

    it('an empty reader fails silently with NTE_SILENT_CONTEXT, and never calls the UI', async () => {
      await addContainer(service, A.label, 'in-a');
      const ui = useScriptedUi();
      await removeCard(A);
      await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}\\in-a`, 't'), operation: 'open', interaction: silent }, 't'), 'NTE_SILENT_CONTEXT');
      assert.equal(ui.cardRequests.length, 0, 'a silent context never calls the UI');
    });

    it('an empty reader prompts with the PP_UI_PROMPT text; inserting the card completes the selection', async () => {
      await addContainer(service, A.label, 'in-a');
      const ui = useScriptedUi();
      setCardPromptText('Insert your badge, please');
      await removeCard(A);
      ui.onSelectCard = (req) => {
        control.hidden.delete(A.label); // the person inserts the card
        return { szReader: req.reader! };
      };
      const sel = await service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}\\in-a`, 't'), operation: 'open', interaction: loud }, 't');
      assert.equal(sel.card.identity.label, A.label);
      assert.equal(sel.container?.name, 'in-a');
      assert.equal(ui.cardRequests.length, 1);
      assert.equal(ui.cardRequests[0]!.prompt, 'Insert your badge, please');
      assert.equal(ui.cardRequests[0]!.reader, reader[A.label]);
      assert.match(ui.cardRequests[0]!.reason, /no card/);
    });

    it('cancel at the card prompt is SCARD_W_CANCELLED_BY_USER', async () => {
      useScriptedUi().onSelectCard = () => null;
      await removeCard(B);
      await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader[B.label]}`, 't'), operation: 'open', interaction: loud }, 't'), 'SCARD_W_CANCELLED_BY_USER');
    });

    it('with no UI registered and no terminal the context behaves as silent', async () => {
      await removeCard(B);
      assert.equal(loud.canAsk, false, 'mocha runs without a terminal');
      await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader[B.label]}`, 't'), operation: 'open', interaction: loud }, 't'), 'NTE_SILENT_CONTEXT');
    });

    it('level II resolves the card default container', async () => {
      await addContainer(service, A.label, 'first');
      await addContainer(service, A.label, 'second');
      const sel = await service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}\\`, 't'), operation: 'open', interaction: silent }, 't');
      assert.equal(sel.container?.name, 'first', 'the first container made on a card is its default');
      assert.equal(sel.container?.isDefault, true);
    });

    it('level II on a card without containers: NTE_BAD_KEYSET, or the bare card with CRYPT_DEFAULT_CONTAINER_OPTIONAL', async () => {
      const spec = parseContainerSpec(`\\\\.\\${reader[B.label]}`, 't');
      await expectCryptError(() => service.select({ spec, operation: 'open', interaction: silent }, 't'), 'NTE_BAD_KEYSET');
      const sel = await service.select({ spec, operation: 'open', interaction: silent, defaultOptional: true }, 't');
      assert.equal(sel.card.identity.label, B.label);
      assert.equal(sel.container, undefined);
    });

    it('level I open of a container the card lacks: NTE_BAD_KEYSET silently, else a prompt for another card', async () => {
      const spec = parseContainerSpec(`\\\\.\\${reader[A.label]}\\later`, 't');
      await expectCryptError(() => service.select({ spec, operation: 'open', interaction: silent }, 't'), 'NTE_BAD_KEYSET');
      const ui = useScriptedUi();
      ui.onSelectCard = async (req) => {
        await addContainer(service, A.label, 'later'); // the person swaps in the right card
        return { szReader: req.reader! };
      };
      const sel = await service.select({ spec, operation: 'open', interaction: loud }, 't');
      assert.equal(sel.container?.name, 'later');
      assert.equal(ui.cardRequests.length, 1);
      assert.equal(ui.cardRequests[0]!.container, 'later');
      assert.match(ui.cardRequests[0]!.reason, /does not hold "later"/);
    });

    it('level I delete of a missing container is NTE_BAD_KEYSET', async () => {
      await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}\\gone`, 't'), operation: 'delete', interaction: silent }, 't'), 'NTE_BAD_KEYSET');
    });

    it('level I create of an existing name fails with NTE_EXISTS without prompting', async () => {
      await addContainer(service, A.label, 'taken');
      const ui = useScriptedUi();
      await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}\\taken`, 't'), operation: 'create', interaction: loud }, 't'), 'NTE_EXISTS');
      assert.equal(ui.cardRequests.length, 0);
      const sel = await service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}\\fresh`, 't'), operation: 'create', interaction: silent }, 't');
      assert.equal(sel.createName, 'fresh');
    });

    it('level II create names the new container with a GUID', async () => {
      const sel = await service.select({ spec: parseContainerSpec(`\\\\.\\${reader[A.label]}`, 't'), operation: 'create', interaction: silent }, 't');
      assert.match(sel.createName!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    });
  });

  describe('card match (levels III and IV)', () => {
    it('level III finds the one card holding the container', async () => {
      await addContainer(service, B.label, 'only-on-b');
      const sel = await service.select({ spec: parseContainerSpec('only-on-b', 't'), operation: 'open', interaction: silent }, 't');
      assert.equal(sel.card.identity.label, B.label);
      assert.equal(sel.container?.name, 'only-on-b');
    });

    it('level III missing everywhere: NTE_BAD_KEYSET silently; a UI is asked, with no candidates', async () => {
      await expectCryptError(() => service.select({ spec: parseContainerSpec('nowhere', 't'), operation: 'open', interaction: silent }, 't'), 'NTE_BAD_KEYSET');
      const ui = useScriptedUi();
      ui.onSelectCard = () => null;
      await expectCryptError(() => service.select({ spec: parseContainerSpec('nowhere', 't'), operation: 'open', interaction: loud }, 't'), 'SCARD_W_CANCELLED_BY_USER');
      assert.deepEqual(ui.cardRequests[0]!.candidates, []);
      assert.equal(ui.cardRequests[0]!.container, 'nowhere');
    });

    it('level IV opens a default container, preferring cards this process already uses', async () => {
      await addContainer(service, A.label, 'def-a');
      await addContainer(service, C.label, 'def-c');
      await cardOf(service, C.label); // C is now the most recently used known card
      const sel = await service.select({ spec: parseContainerSpec(null, 't'), operation: 'open', interaction: silent }, 't');
      assert.equal(sel.card.identity.label, C.label);
      assert.equal(sel.container?.name, 'def-c');
    });

    it('several matching cards: the UI chooses among them; without one the first is taken', async () => {
      await addContainer(service, A.label, 'twin');
      await addContainer(service, B.label, 'twin');
      // Make neither card "known and matching" first: verify happens, both match → the present-card pass.
      const spec = parseContainerSpec('twin', 't');
      const first = await service.select({ spec, operation: 'open', interaction: silent }, 't');
      assert.ok([A.label, B.label].includes(first.card.identity.label));
    });

    it('a GUID-named container whose card went stale is sought by serial, and found after reinsertion', async () => {
      await addContainer(service, C.label, 'roaming');
      const before = await service.select({ spec: parseContainerSpec('roaming', 't'), operation: 'open', interaction: silent }, 't');
      assert.equal(before.card.identity.label, C.label);
      control.hidden.add(C.label); // removed
      await service.cardRemoved(reader[C.label]!, before.card.identity); // as the watcher reports it
      assert.equal(before.card.isRemoved, true);
      await expectCryptError(() => before.card.containers(), 'SCARD_W_REMOVED_CARD');

      // A stale known card (handle dead but not yet reported) is what the serial search is for.
      control.hidden.delete(C.label);
      const again = await service.select({ spec: parseContainerSpec('roaming', 't'), operation: 'open', interaction: silent }, 't');
      assert.equal(again.card.identity.serial, C.serial);
      control.hidden.add(C.label);
      await again.card.module.CardDeleteContext(); // the handle dies under the service
      const ui = useScriptedUi();
      ui.onSelectCard = () => {
        control.hidden.delete(C.label); // reinserted
        return { szReader: RESCAN_READER };
      };
      const found = await service.select({ spec: parseContainerSpec('roaming', 't'), operation: 'open', interaction: loud }, 't');
      assert.equal(found.card.identity.serial, C.serial);
      assert.equal(ui.cardRequests.length, 1);
      assert.equal(ui.cardRequests[0]!.serial, C.serial, 'the prompt asks for that card, by serial');
    });

    it('create (level III) skips cards holding the name and full cards: first fit', async () => {
      await addContainer(service, A.label, 'dup');
      const known = service.knownCards().map((c) => c.identity.label);
      const sel = await service.select({ spec: parseContainerSpec('dup', 't'), operation: 'create', interaction: silent }, 't');
      assert.notEqual(sel.card.identity.label, A.label, 'the card that holds the name is skipped');
      assert.equal(sel.card.identity.label, known.find((l) => l !== A.label), 'first fit among known cards');
    });

    it('create when every card holds the name: NTE_EXISTS silently', async () => {
      for (const t of tokens) await addContainer(service, t.label, 'everywhere');
      await expectCryptError(() => service.select({ spec: parseContainerSpec('everywhere', 't'), operation: 'create', interaction: silent }, 't'), 'NTE_EXISTS');
    });

    it('delete with a null name deletes the default and another container becomes the default', async () => {
      await addContainer(service, B.label, 'b-one');
      await addContainer(service, B.label, 'b-two');
      for (const t of [A, C]) await removeCard(t);
      const sel = await service.select({ spec: parseContainerSpec(null, 't'), operation: 'delete', interaction: silent }, 't');
      assert.equal(sel.container?.name, 'b-one');
      await sel.card.deleteContainer(sel.container!.index);
      const left = await sel.card.containers(true);
      assert.deepEqual(left.map((c) => c.name), ['b-two']);
      assert.equal(left[0]!.isDefault, true, 'a new default is chosen');
      assert.deepEqual(await names(service, B.label), ['b-two']);
    });
  });
});

describe('smartcard: create on full cards', function () {
  this.timeout(120_000);
  const control: ReaderControl = { hidden: new Set(), maxContainers: 1 };
  const F1 = makeToken('full-1');
  const F2 = makeToken('full-2');
  let service: SmartCardService;

  before(() => {
    service = newService('full-', control);
  });
  after(() => service.close());

  it('a full card is skipped; when all are full the answer is NTE_TOKEN_KEYSET_STORAGE_FULL', async () => {
    for (const t of [F1, F2]) {
      const card = await cardOf(service, t.label);
      await presentPin({ card, pins: service.pins, interaction: silent, pinId: ROLE_USER, operation: 'test' }, Buffer.from(t.pin));
    }
    await (await cardOf(service, F1.label)).addContainer('fills-1');
    const sel = await service.select({ spec: parseContainerSpec('new-one', 't'), operation: 'create', interaction: silent }, 't');
    assert.equal(sel.card.identity.label, F2.label, 'the full card is skipped');
    await sel.card.addContainer('new-one');
    await expectCryptError(() => service.select({ spec: parseContainerSpec('one-more', 't'), operation: 'create', interaction: silent }, 't'), 'NTE_TOKEN_KEYSET_STORAGE_FULL');
  });
});
