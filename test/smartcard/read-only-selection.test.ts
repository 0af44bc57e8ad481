/**
 * Card selection for create when the only card is read-only (CP_CARD_READ_ONLY: a token that refuses
 * data objects, as OpenSC's cards do). A read-only card is never a candidate: silent contexts get
 * SCARD_E_READ_ONLY_CARD (not "full", not NTE_SILENT_CONTEXT), a reader-qualified create too, and
 * with a UI the card prompt says why the card present will not do. No PIN is asked on the way. And
 * every write the service would make to it is SCARD_E_READ_ONLY_CARD too, before the card is touched.
 *
 * SoftHSM2 cannot make a token write-protected, so the pin-counter shim's fault injection refuses
 * every C_CreateObject with CKR_TOKEN_WRITE_PROTECTED (see ../pkcs11-bridge/read-only.test.ts); the
 * key on the card comes from pkcs11-tool on SoftHSM2 directly. The real read-only card is in
 * ../real-card/cng.test.ts.
 */
import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import { AT_KEYEXCHANGE, CARD_CREATE_CONTAINER_KEY_GEN } from '../../minidriver/constants.js';
import { parseContainerSpec } from '../../smartcard/container-spec.js';
import { SmartCardService } from '../../smartcard/service.js';
import { Interaction, setUserInterface } from '../../smartcard/ui.js';
import { expectCryptError, makeToken, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { configurePinCounterShim, generateKeyPair } from '../rigs/index.js';
import { filteredFactory, readerOf, registration, useScriptedUi } from './service-helpers.js';

const token = makeToken('rosel-card');
const silent = new Interaction(true);
const loud = new Interaction(false);

describe('smartcard: create on a read-only card', () => {
  let service: SmartCardService;

  before(async () => {
    generateKeyPair({ modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin }, { keyType: 'rsa:2048', id: 'd4', label: 'ro-held' });
    const shim = configurePinCounterShim({ failAfter: [{ after: 0, ckr: pkcs11js.CKR_TOKEN_WRITE_PROTECTED, function: 'C_CreateObject' }] });
    service = new SmartCardService({
      registrations: [{ ...registration('readonly-shim'), module: shim.modulePath }],
      driverFactory: filteredFactory(token.label, { hidden: new Set() }),
      globalCache: null,
    });
  });

  afterEach(() => setUserInterface(null));

  after(async () => {
    await service.close();
    process.env.P11KSP_SHIM_FAIL_AFTER = '';
  });

  it('the card is read-only and its key pair is a container', async () => {
    const entry = (await service.snapshot()).find((e) => e.card?.label === token.label)!;
    const card = await service.cardIn(entry);
    assert.equal(card.readOnly, true);
    assert.deepEqual((await card.containers(true)).map((c) => c.name), ['ro-held']);
  });

  it('a silent create is SCARD_E_READ_ONLY_CARD, by name or with a new name; opening still works', async () => {
    await expectCryptError(() => service.select({ spec: parseContainerSpec('ro-new', 't'), operation: 'create', interaction: silent }, 'test'), 'SCARD_E_READ_ONLY_CARD', 'level III');
    await expectCryptError(() => service.select({ spec: parseContainerSpec(null, 't'), operation: 'create', interaction: silent }, 'test'), 'SCARD_E_READ_ONLY_CARD', 'level IV');
    const open = await service.select({ spec: parseContainerSpec('ro-held', 't'), operation: 'open', interaction: silent }, 'test');
    assert.equal(open.container?.name, 'ro-held');
  });

  it('a reader-qualified create is SCARD_E_READ_ONLY_CARD without a prompt', async () => {
    const ui = useScriptedUi();
    const reader = await readerOf(service, token.label);
    await expectCryptError(() => service.select({ spec: parseContainerSpec(`\\\\.\\${reader}\\ro-new`, 't'), operation: 'create', interaction: loud }, 'test'), 'SCARD_E_READ_ONLY_CARD');
    assert.equal(ui.cardRequests.length, 0);
    assert.equal(ui.pinRequests.length, 0);
  });

  it('every write to it is SCARD_E_READ_ONLY_CARD, before the card is touched: a new container, a key, a deletion, a certificate, the root store', async () => {
    const entry = (await service.snapshot()).find((e) => e.card?.label === token.label)!;
    const card = await service.cardIn(entry);
    const held = (await card.containers(true))[0]!;
    await expectCryptError(() => card.addContainer('ro-added'), 'SCARD_E_READ_ONLY_CARD', 'addContainer');
    await expectCryptError(() => card.addContainer('ro-held'), 'NTE_EXISTS', 'a name the card holds');
    await expectCryptError(() => card.createKey(held.index, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, 2048, null), 'SCARD_E_READ_ONLY_CARD', 'createKey');
    await expectCryptError(() => card.deleteContainer(held.index), 'SCARD_E_READ_ONLY_CARD', 'deleteContainer');
    await expectCryptError(() => card.writeCertificate(held.index, AT_KEYEXCHANGE, Buffer.from('not even a certificate')), 'SCARD_E_READ_ONLY_CARD', 'writeCertificate');
    await expectCryptError(() => card.writeRootStore(Buffer.alloc(0)), 'SCARD_E_READ_ONLY_CARD', 'writeRootStore');
    assert.deepEqual((await card.containers(true)).map((c) => c.name), ['ro-held'], 'nothing changed');
  });

  it('with a UI, the card prompt says the card present is read-only (not full); cancel ends it', async () => {
    const ui = useScriptedUi();
    ui.onSelectCard = () => null;
    await expectCryptError(() => service.select({ spec: parseContainerSpec('ro-new', 't'), operation: 'create', interaction: loud }, 'test'), 'SCARD_W_CANCELLED_BY_USER');
    assert.equal(ui.cardRequests.length, 1);
    assert.equal(ui.cardRequests[0]!.operation, 'create');
    assert.match(ui.cardRequests[0]!.reason, /read-only/);
    assert.doesNotMatch(ui.cardRequests[0]!.reason, /room/);
    assert.equal(ui.pinRequests.length, 0, 'no PIN for a card that cannot take the key');
  });
});
